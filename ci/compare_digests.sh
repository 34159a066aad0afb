#!/usr/bin/env bash
# Runs the same seeds with two keel-sim binaries (say the optimized and the
# sanitizer build) and fails if any seed's digest or event count differs:
# a run must be a function of its seed alone, not of the compiler's flags.
#
#   ci/compare_digests.sh A/keel-sim B/keel-sim [keel-sim sweep options...]
set -euo pipefail
a=$1
b=$2
shift 2
digests() {
  # Pass or fail does not matter here (the sweeps check it): the digests do.
  { "$1" "${@:2}" --json || true; } | python3 -c '
import json, sys
for line in sys.stdin:
    line = line.strip()
    if not line.startswith("{"):
        continue
    r = json.loads(line)
    print(r["seed"], r.get("digest", "none"), r.get("events", "none"))
' | sort -n
}
da=$(digests "$a" "$@")
db=$(digests "$b" "$@")
if [ -z "$da" ]; then
  echo "compare_digests: $a printed no results" >&2
  exit 1
fi
if [ "$da" != "$db" ]; then
  echo "compare_digests: digests differ between $a and $b ($*):" >&2
  diff <(echo "$da") <(echo "$db") >&2 || true
  exit 1
fi
echo "compare_digests: $(echo "$da" | wc -l) seeds, same digests in both builds ($*)"
