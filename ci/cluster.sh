#!/usr/bin/env bash
# A local three-node keel cluster on loopback: builds keeld if needed,
# starts three nodes (data under ./keel-cluster), waits for a leader, runs a
# short demo workload with redis-cli, prints how to connect, and stops the
# nodes on Ctrl-C.
#
#   ci/cluster.sh              ports 6379-6381 (clients), 7379-7381 (peers),
#                              9379-9381 (Prometheus metrics)
#   KEEL_CLUSTER_DIR=dir ci/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target keeld >/dev/null

DIR=${KEEL_CLUSTER_DIR:-keel-cluster}
mkdir -p "$DIR"
PEERS=1=127.0.0.1:7379,2=127.0.0.1:7380,3=127.0.0.1:7381
PIDS=()
stop() {
  echo
  echo "stopping the cluster"
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop EXIT
trap 'exit 0' INT TERM

for i in 1 2 3; do
  build/cmd/keeld --id "$i" --listen "127.0.0.1:$((6378 + i))" --peer-listen "127.0.0.1:$((7378 + i))" \
    --metrics-listen "127.0.0.1:$((9378 + i))" --peers "$PEERS" --data-dir "$DIR/n$i" 2>>"$DIR/n$i.log" &
  PIDS+=($!)
done

leader=""
for _ in $(seq 1 100); do
  for port in 6379 6380 6381; do
    if redis-cli -p "$port" info replication 2>/dev/null | grep -q "^raft_role:leader"; then leader=$port; break 2; fi
  done
  sleep 0.1
done
if [ -z "$leader" ]; then
  echo "no leader elected within 10 s; see $DIR/n*.log" >&2
  exit 1
fi
echo "cluster up: nodes on 127.0.0.1:6379, :6380, :6381; leader on :$leader"
echo
echo "demo workload against the leader:"
redis-cli -p "$leader" set greeting "hello from keel" >/dev/null
redis-cli -p "$leader" get greeting
redis-cli -p "$leader" del counter >/dev/null
for _ in $(seq 1 100); do redis-cli -p "$leader" incr counter >/dev/null; done
echo "counter after 100 INCRs: $(redis-cli -p "$leader" get counter)"
redis-benchmark -p "$leader" -t set,get -c 20 -n 5000 -q 2>/dev/null | tr '\r' '\n' | grep -E "^(SET|GET):" | grep "requests per second"
follower=6379; [ "$leader" = 6379 ] && follower=6380
echo
echo "a follower redirects writes: redis-cli -p $follower set k v  ->  $(redis-cli -p "$follower" set k v)"
echo "and redis-cli -c follows:    redis-cli -c -p $follower set k v  ->  $(redis-cli -c -p "$follower" set k v)"
echo
echo "connect with:  redis-cli -c -p 6379      (-c follows redirects to the leader; INFO replication shows the Raft state)"
echo "metrics:       curl -s 127.0.0.1:9379/metrics   (Prometheus text; :9380, :9381 for the others)"
echo "logs in $DIR/n*.log; Ctrl-C stops the cluster"
wait
