#!/usr/bin/env python3
"""keel's determinism lint.

Outside sim/, net/posix/, storage/rocksdb/ and cmd/ (and tests/, bench/),
node code must reach threads, clocks, randomness, sockets, files and the
environment only through core::Env. This script finds the banned APIs and
names the replacement. It also bans `catch (...)` blocks that do not
rethrow: they would swallow Boost.Context's forced-unwind exception.

It also checks the include direction (doc/ARCHITECTURE.md section 1): a
folder includes only the folders below it, and only the composition roots
(sim/, cmd/) name the concrete Env implementations (net/posix/) or RocksDB
(storage/rocksdb/).

Usage: lint_determinism.py [--root DIR]   exit 0 clean, 1 violations
"""
import argparse
import os
import re
import sys

EXEMPT = ("sim/", "net/posix/", "storage/rocksdb/", "cmd/", "tests/", "bench/", "build", ".git/", "ci/")
SOURCE_SUFFIXES = (".h", ".cc", ".cpp", ".hpp")
# Never scanned at all (the include check covers the exempt folders above).
NOT_SCANNED = ("tests/", "bench/", "build", ".git/", "ci/")

# (pattern, what it is, what to use instead)
BANNED = [
    (r"\bstd::(thread|jthread|async)\b|\bpthread_\w+|#include\s*<thread>", "threads", "fibers: env.spawn()"),
    (r"\b(steady_clock|system_clock|high_resolution_clock)\b|\bclock_gettime\b|\bgettimeofday\b|\btime\s*\(\s*(nullptr|NULL|0)?\s*\)",
     "a real clock", "env.clock.now()"),
    (r"\b(std::)?s?rand\s*\(|\brandom_device\b|\bgetrandom\b|#include\s*<random>", "OS or libc randomness", "env.random"),
    (r"#include\s*<(sys/socket\.h|netinet/[\w.]+|arpa/inet\.h|netdb\.h|sys/epoll\.h)>|(?<![\w>])::\s*(socket|accept4?|bind|listen|connect)\s*\(",
     "sockets", "env.net"),
    (r"#include\s*<(fstream|filesystem|fcntl\.h|sys/stat\.h|dirent\.h)>|\bstd::(i|o)?fstream\b|\bstd::filesystem\b|\b(fopen|freopen|opendir|fdopen)\s*\(|(?<![\w>])::\s*(open|openat|read|write|pread|pwrite|fsync|fdatasync|unlink|rename|mkdir)\s*\(",
     "file I/O", "env.disk"),
    (r"\b(secure_)?getenv\s*\(", "the process environment", "configuration passed in explicitly"),
    (r"\bthread_local\b", "thread-local state", "state owned by an object passed in"),
    (r"\bunordered_(map|set)\s*<\s*[\w:]+\s*\*", "unordered containers keyed by pointers", "std::map or an id key"),
]

# Layer -> the project folders its files may include (its own included).
# The longest matching prefix of a file's path picks its layer; tests/ and
# bench/ may include anything.
LAYERS = {
    "core/": ("core/",),
    "consensus/": ("core/", "consensus/"),
    "storage/": ("core/", "storage/"),
    "storage/rocksdb/": ("core/", "storage/"),
    "net/": ("core/", "net/"),
    "net/posix/": ("core/", "net/"),
    "workloads/": ("core/", "net/", "workloads/"),
    "node/": ("core/", "consensus/", "storage/", "net/", "node/"),
    "sim/disk/": ("core/", "sim/disk/"),
    "sim/": ("core/", "consensus/", "storage/", "net/", "node/", "workloads/", "sim/"),
    "cmd/": ("core/", "consensus/", "storage/", "net/", "node/", "workloads/", "sim/", "cmd/"),
}
# Concrete implementations only composition roots (and their own folders) name.
CONCRETE = ("net/posix/", "storage/rocksdb/")
COMPOSITION_ROOTS = ("sim/", "cmd/")
INCLUDE = re.compile(r'^\s*#\s*include\s*"([a-z_]+/[^"]+)"', re.M)


def layer_of(rel):
    best = None
    for layer in LAYERS:
        if rel.startswith(layer) and (best is None or len(layer) > len(best)):
            best = layer
    return best


def include_problems(rel, text):
    layer = layer_of(rel)
    if layer is None:
        return []
    problems = []
    for m in INCLUDE.finditer(text):
        target = m.group(1)
        lineno = text.count("\n", 0, m.start()) + 1
        if not target.startswith(LAYERS[layer]):
            problems.append(f"{rel}:{lineno}: {layer} includes {target}: includes point down only "
                            f"({layer} may include {', '.join(LAYERS[layer])})")
        elif target.startswith(CONCRETE) and not rel.startswith(COMPOSITION_ROOTS) and \
                not rel.startswith(target[:target.index("/", target.index("/") + 1) + 1]):
            problems.append(f"{rel}:{lineno}: {target} is a concrete implementation; only sim/ and cmd/ name it")
    return problems


CATCH_ALL = re.compile(r"catch\s*\(\s*\.\.\.\s*\)")


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", lambda m: "\n" * m.group(0).count("\n"), text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def catch_all_without_rethrow(text):
    """Line numbers of `catch (...)` blocks whose body has no bare `throw;`."""
    bad = []
    for m in CATCH_ALL.finditer(text):
        start = text.find("{", m.end())
        if start < 0:
            continue
        depth, i = 0, start
        while i < len(text):
            if text[i] == "{":
                depth += 1
            elif text[i] == "}":
                depth -= 1
                if depth == 0:
                    break
            i += 1
        body = text[start:i]
        if not re.search(r"\bthrow\s*;", body):
            bad.append(text.count("\n", 0, m.start()) + 1)
    return bad


def lint(root):
    problems = []
    for dirpath, dirnames, filenames in os.walk(root):
        rel_dir = os.path.relpath(dirpath, root).replace(os.sep, "/")
        rel_dir = "" if rel_dir == "." else rel_dir + "/"
        dirnames[:] = sorted(d for d in dirnames if not (rel_dir + d + "/").startswith(NOT_SCANNED))
        for name in sorted(filenames):
            if not name.endswith(SOURCE_SUFFIXES):
                continue
            rel = rel_dir + name
            if rel.startswith(NOT_SCANNED):
                continue
            with open(os.path.join(dirpath, name), encoding="utf-8", errors="replace") as f:
                text = strip_comments(f.read())
            problems.extend(include_problems(rel, text))
            if rel.startswith(EXEMPT):
                continue
            for lineno, line in enumerate(text.split("\n"), 1):
                for pattern, what, instead in BANNED:
                    if re.search(pattern, line):
                        problems.append(f"{rel}:{lineno}: {what} outside the Env ({line.strip()}); use {instead}")
            for lineno in catch_all_without_rethrow(text):
                problems.append(f"{rel}:{lineno}: catch (...) without `throw;` would swallow the fibers' forced unwind")
    return problems


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", default=os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
    args = parser.parse_args()
    problems = lint(args.root)
    for p in problems:
        print(p)
    if problems:
        print(f"determinism lint: {len(problems)} violation(s)")
        return 1
    print("determinism lint: clean")
    return 0


if __name__ == "__main__":
    sys.exit(main())
