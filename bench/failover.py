#!/usr/bin/env python3
"""Failover time of a partitioned keel cluster, from real processes.

Starts three keeld nodes on loopback, then KILLS times: SIGKILL the node that
leads the most partitions, and measure the time from the kill until a SET on
a key of a partition it led is acknowledged again (a client that retries
every 5 ms on the survivors and follows -MOVED); restart the node and wait
until every node serves every slot before the next kill. Prints each time
and the median, p90 and p99.

  bench/failover.py [--kills 20] [--build build] [--lease-ms 1500] [-- keeld args...]
"""
import argparse
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time


def crc16(data: bytes) -> int:
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xFFFF
    return crc


def key_slot(key: bytes) -> int:
    s = key.find(b"{")
    if s >= 0:
        e = key.find(b"}", s + 1)
        if e > s + 1:
            key = key[s + 1:e]
    return crc16(key) % 16384


class Conn:
    def __init__(self, port, timeout=1.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def call(self, *args):
        out = b"*%d\r\n" % len(args)
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out += b"$%d\r\n%s\r\n" % (len(a), a)
        self.sock.sendall(out)
        return self.read()

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def read(self):
        line = self.line()
        kind, rest = line[:1], line[1:]
        if kind in (b"+", b"-", b":"):
            return line
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self.buf) < n + 2:
                chunk = self.sock.recv(65536)
                if not chunk:
                    raise ConnectionError("closed")
                self.buf += chunk
            data, self.buf = self.buf[:n], self.buf[n + 2:]
            return data
        if kind == b"*":
            return [self.read() for _ in range(int(rest))]
        raise ValueError(line)

    def close(self):
        self.sock.close()


def call(port, *args, timeout=1.0):
    c = Conn(port, timeout)
    try:
        return c.call(*args)
    finally:
        c.close()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--kills", type=int, default=20)
    ap.add_argument("--build", default="build")
    ap.add_argument("--base", type=int, default=18300)
    ap.add_argument("keeld_args", nargs="*")
    o = ap.parse_args()
    keeld = os.path.join(o.build, "cmd", "keeld")
    work = tempfile.mkdtemp(prefix="keel-failover-")
    ports = {i: o.base + i for i in (1, 2, 3)}
    peers = ",".join("%d=127.0.0.1:%d" % (i, o.base + 10 + i) for i in (1, 2, 3))
    procs = {}

    def start(i):
        log = open(os.path.join(work, "n%d.log" % i), "ab")
        procs[i] = subprocess.Popen(
            [keeld, "--id", str(i), "--listen", "127.0.0.1:%d" % ports[i], "--peers", peers, "--data-dir",
             os.path.join(work, "n%d" % i), "--log-level", "warn"] + o.keeld_args,
            stdout=log, stderr=log)

    def ready():
        try:
            for i in procs:
                if procs[i] is None:
                    continue
                info = call(ports[i], "CLUSTER", "INFO").decode()
                if "cluster_state:ok" not in info:
                    return False
                nodes = call(ports[i], "CLUSTER", "NODES").decode()
                if ",fail" in nodes:
                    return False
            return True
        except (OSError, ConnectionError, ValueError):
            return False

    def wait_ready(limit=30.0):
        deadline = time.monotonic() + limit
        while time.monotonic() < deadline:
            if ready():
                return
            time.sleep(0.05)
        sys.exit("the cluster did not become ready; logs in " + work)

    def leaders(port):
        """client port -> slot ranges it leads, from CLUSTER SLOTS."""
        out = {}
        for r in call(port, "CLUSTER", "SLOTS"):
            first, last, master = int(r[0][1:]), int(r[1][1:]), r[2]
            out.setdefault(int(master[1][1:]), []).append((first, last))
        return out

    times = []
    try:
        for i in (1, 2, 3):
            start(i)
        wait_ready()
        for k in range(o.kills):
            some = next(i for i in procs if procs[i] is not None)
            led = leaders(ports[some])
            victim_port = max(led, key=lambda p: len(led[p]))
            victim = next(i for i in ports if ports[i] == victim_port)
            first, last = led[victim_port][0]
            n = 0
            while not first <= key_slot(b"failover:%d" % n) <= last:
                n += 1
            key = b"failover:%d" % n
            survivors = [ports[i] for i in ports if i != victim]
            assert call(victim_port, "SET", key, "before").startswith(b"+OK")
            procs[victim].send_signal(signal.SIGKILL)
            procs[victim].wait()
            t0 = time.monotonic()
            target = survivors[0]
            while True:
                try:
                    r = call(target, "SET", key, "after-%d" % k, timeout=3.0)
                except (OSError, ConnectionError):
                    r = b"-ERR connection"
                if r.startswith(b"+OK"):
                    break
                if r.startswith(b"-MOVED"):
                    p = int(r.split()[2].split(b":")[1])
                    if p in survivors:
                        target = p
                        continue
                time.sleep(0.005)
            t = time.monotonic() - t0
            times.append(t)
            print("kill %2d: node %d led %2d slot ranges; first acknowledged write after %.0f ms" %
                  (k + 1, victim, len(led[victim_port]), t * 1000), flush=True)
            start(victim)
            wait_ready()
    finally:
        for p in procs.values():
            if p is not None and p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs.values():
            if p is not None:
                try:
                    p.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    p.kill()
        shutil.rmtree(work, ignore_errors=True)
    times.sort()
    ms = [t * 1000 for t in times]

    def pct(q):
        return ms[min(len(ms) - 1, int(round(q * (len(ms) - 1))))]

    print("failover over %d kills: median %.0f ms, p90 %.0f ms, p99 %.0f ms, max %.0f ms" %
          (len(ms), statistics.median(ms), pct(0.9), pct(0.99), ms[-1]))


if __name__ == "__main__":
    main()
