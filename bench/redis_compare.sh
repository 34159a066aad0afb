#!/usr/bin/env bash
# Side-by-side in one run: redis-benchmark -t set,get against
#   (a) a 3-node keel cluster on loopback (SET acknowledged after a quorum
#       fsynced it; GET linearizable through ReadIndex), at its leader;
#   (b) redis-server with appendfsync always;
#   (c) redis-server with appendfsync everysec.
# Usage: bench/redis_compare.sh [requests=200000] [clients=50]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
C=${2:-50}
BUILD=${KEEL_BUILD_DIR:-build}
WORK=$(mktemp -d /tmp/keel-compare-XXXXXX)
PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

PEERS=1=127.0.0.1:17379,2=127.0.0.1:17380,3=127.0.0.1:17381
for i in 1 2 3; do
  "$BUILD/cmd/keeld" --id "$i" --listen "127.0.0.1:$((16378 + i))" --peer-listen "127.0.0.1:$((17378 + i))" \
    --peers "$PEERS" --data-dir "$WORK/n$i" --log-level warn 2>>"$WORK/n$i.log" &
  PIDS+=($!)
done
redis-server --port 16400 --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
  --dir "$WORK" --appendfilename always.aof --logfile "$WORK/always.log" &
PIDS+=($!)
redis-server --port 16401 --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
  --dir "$WORK" --appendfilename everysec.aof --logfile "$WORK/everysec.log" &
PIDS+=($!)

leader=""
for _ in $(seq 1 100); do
  for port in 16379 16380 16381; do
    if redis-cli -p "$port" info replication 2>/dev/null | grep -q "^raft_role:leader"; then leader=$port; break 2; fi
  done
  sleep 0.1
done
[ -n "$leader" ] || { echo "keel: no leader" >&2; exit 1; }
for port in 16400 16401; do
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

run() {
  redis-benchmark -p "$1" -t set,get -c "$C" -n "$N" -q 2>/dev/null | tr '\r' '\n' |
    grep -E "^(SET|GET): [0-9.]+ requests per second" | sed -E 's/^(SET|GET): ([0-9.]+) requests per second.*/\1 \2/'
}
printf '%-40s %12s %12s\n' "target (redis-benchmark -c $C -n $N)" "SET/s" "GET/s"
for spec in "keel 3 nodes (quorum fsync, ReadIndex):$leader" "redis-server appendfsync always:16400" \
            "redis-server appendfsync everysec:16401"; do
  name=${spec%:*}
  port=${spec##*:}
  result=$(run "$port")
  set_rps=$(echo "$result" | awk '$1=="SET"{print $2}')
  get_rps=$(echo "$result" | awk '$1=="GET"{print $2}')
  printf '%-40s %12s %12s\n' "$name" "${set_rps:-?}" "${get_rps:-?}"
done
