#!/usr/bin/env bash
# The main job: builds keel and runs seeded simulations of a three-node
# cluster under faults — one seed in detail, then a sweep.
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" --target keel-sim
echo "==> one seeded run of the demo replicated counter under faults"
build/cmd/keel-sim --seed 42 --check-determinism
echo
echo "==> one seeded run of the Raft-replicated register workload under faults"
build/cmd/keel-sim --seed 42 --workload register --check-determinism
echo
echo "==> a sweep of 100 seeds of the register workload"
build/cmd/keel-sim --workload register --seeds 1..100 --jobs "$(nproc)"
