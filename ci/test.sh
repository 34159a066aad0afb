#!/usr/bin/env bash
# Builds keel and runs every test: the determinism lint, the unit, property
# and simulation tests (ctest), the same tests under AddressSanitizer and
# UndefinedBehaviorSanitizer, a sweep of simulation seeds and the
# determinism self-check. Exits non-zero on the first failure.
#
#   ci/test.sh            everything
#   KEEL_JOBS=N           parallel build and test jobs (default: cores)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
JOBS=${KEEL_JOBS:-$(nproc)}
SEEDS=${KEEL_SIM_SEEDS:-200}

bash ci/install-deps.sh
# Paths are hashed relative to the checkout, so a fresh clone elsewhere
# reuses what earlier builds compiled.
export CCACHE_BASEDIR=$ROOT
export CCACHE_NOHASHDIR=1
export CCACHE_MAXSIZE=${CCACHE_MAXSIZE:-5G}

step() { printf '\n==> %s\n' "$*"; }

step "determinism lint"
python3 ci/lint_determinism.py

step "build (RelWithDebInfo)"
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$JOBS"

step "tests"
(cd build && ctest -j "$JOBS" --output-on-failure --timeout 900)

step "mutants: every patch in tests/mutants/ still applies and compiles"
bash ci/mutants.sh --check --jobs "$JOBS" --work "$ROOT/build-mutants"

step "simulation: $SEEDS seeds of each workload, and the determinism check"
# A control workload is expected to fail some seeds, for one reason only
# (ci/check_control.py).
is_control() { [ "$1" = isr-acks1 ]; }
sweep() {  # keel-sim workload seeds [options...]
  local bin=$1 w=$2 seeds=$3
  shift 3
  if is_control "$w"; then
    { "$bin" --workload "$w" --seeds "$seeds" --jobs "$JOBS" "$@" || true; } | python3 ci/check_control.py
  else
    "$bin" --workload "$w" --seeds "$seeds" --jobs "$JOBS" "$@"
  fi
}
for w in $(build/cmd/keel-sim --list-workloads); do
  sweep build/cmd/keel-sim "$w" "1..$SEEDS" --seed-timeout 120 --require-cover
  if is_control "$w"; then
    { build/cmd/keel-sim --workload "$w" --seeds 1..10 --check-determinism || true; } | grep -q "seeds, 0 differ"
  else
    build/cmd/keel-sim --workload "$w" --seeds 1..5 --check-determinism >/dev/null
  fi
done
# The ISR workload on five nodes too.
build/cmd/keel-sim --workload isr-register --nodes 5 --seeds "1..$SEEDS" --jobs "$JOBS" --seed-timeout 120

step "build with AddressSanitizer + UndefinedBehaviorSanitizer"
cmake -S . -B build-asan -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKEEL_SANITIZE=ON >/dev/null
cmake --build build-asan -j "$JOBS"

step "tests under the sanitizers"
export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
(cd build-asan && ctest -j "$JOBS" --output-on-failure --timeout 900)

step "simulation seeds under the sanitizers, and the same digests as the optimized build"
for w in $(build-asan/cmd/keel-sim --list-workloads); do
  # The control needs enough seeds that some lose an acknowledged write.
  if is_control "$w"; then asan_seeds=1..40; else asan_seeds=1..10; fi
  sweep build-asan/cmd/keel-sim "$w" "$asan_seeds" --seed-timeout 300
  bash ci/compare_digests.sh build/cmd/keel-sim build-asan/cmd/keel-sim --workload "$w" --seeds 1..10 --jobs "$JOBS"
done

echo
echo "all tests passed"
