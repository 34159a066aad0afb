#!/usr/bin/env bash
# Soak: N seeds of every workload (default 10,000), with a summary of the
# faults injected, the coverage marks reached and every failure with its
# repro line. Builds keel-sim first. Exits non-zero if any seed failed.
#
#   ci/soak.sh [N] [first-seed]      KEEL_JOBS=J sets the parallel seeds
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-10000}
FIRST=${2:-1}
LAST=$((FIRST + N - 1))
JOBS=${KEEL_JOBS:-$(nproc)}
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$JOBS" --target keel-sim >/dev/null
out=$(mktemp -d)
status=0
for w in $(build/cmd/keel-sim --list-workloads); do
  echo "==> $w: seeds $FIRST..$LAST"
  start=$(date +%s)
  if ! build/cmd/keel-sim --workload "$w" --seeds "$FIRST..$LAST" --jobs "$JOBS" --json >"$out/$w.jsonl"; then
    status=1
  fi
  end=$(date +%s)
  python3 - "$out/$w.jsonl" "$w" "$((end - start))" <<'PY'
import json, sys
path, workload, wall = sys.argv[1], sys.argv[2], int(sys.argv[3])
runs, failed, faults, cover, events = 0, [], {}, {}, 0
for line in open(path):
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    runs += 1
    events += r.get("events", 0)
    if r.get("result") != "pass":
        failed.append(r)
    for k, v in r.get("faults", {}).items():
        faults[k] = faults.get(k, 0) + v
    for k in r.get("cover", {}):
        cover[k] = cover.get(k, 0) + 1
print(f"{workload}: {runs} seeds, {len(failed)} failed, {events} events, {wall} wall s"
      f" ({runs * 60 / max(wall, 1):.0f} seeds/min)")
print("  faults injected: " + ", ".join(f"{k}={v}" for k, v in sorted(faults.items())))
print(f"  coverage marks ({len(cover)} reached, seeds that hit each):")
for k, v in sorted(cover.items(), key=lambda kv: -kv[1]):
    print(f"    {v:7d}  {k}")
for r in failed:
    seed = r["seed"]
    print(f"  FAIL seed {seed}: {'; '.join(r.get('violations', []))[:300]}")
    print(f"    repro: keel-sim --seed {seed} --workload {workload}")
PY
done
rm -rf "$out"
exit $status
