#!/usr/bin/env bash
# Side-by-side in one run: redis-benchmark -t set,get against
#   (a) a 3-node partitioned keel cluster on loopback (64 partitions,
#       redis-benchmark --cluster), acks=all (SET acknowledged once the ISR
#       holds it durably; GET under the leader's lease);
#   (b) the same with acks=1 (SET acknowledged once durable on the leader);
#   (c) a 3-node keel cluster as one Raft group (--partitions 0: SET after a
#       quorum fsynced it, GET through ReadIndex), at its leader;
#   (d) redis-server with appendfsync always;
#   (e) redis-server with appendfsync everysec;
#   (f) optionally, a second keel build (KEEL_BASELINE_BUILD=dir), e.g. the
#       previous commit's, to measure a change (partitioned, acks=all).
# The targets take turns, REPS rounds of each; the table shows each one's
# median and its ratio to redis-server appendfsync always.
# Usage: bench/redis_compare.sh [requests=200000] [clients=50] [reps=3]
set -euo pipefail
cd "$(dirname "$0")/.."
N=${1:-200000}
C=${2:-50}
REPS=${3:-3}
BUILD=${KEEL_BUILD_DIR:-build}
BASELINE=${KEEL_BASELINE_BUILD:-}
WORK=$(mktemp -d /tmp/keel-compare-XXXXXX)
PIDS=()
cleanup() {
  # SIGTERM: keeld and redis-server both stop cleanly on it.
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

# start_keel BUILD BASE ARGS...: three nodes on clients BASE+1..3, peers
# BASE+11..13, with ARGS; sets TARGET to "<port>:<cluster|leader>" - the
# leader of one Raft group, or node 1 of a partitioned cluster once every
# node serves every slot.
start_keel() {
  local build=$1 base=$2 peers="" i port ready
  shift 2
  peers="1=127.0.0.1:$((base + 11)),2=127.0.0.1:$((base + 12)),3=127.0.0.1:$((base + 13))"
  for i in 1 2 3; do
    "$build/cmd/keeld" --id "$i" --listen "127.0.0.1:$((base + i))" --peer-listen "127.0.0.1:$((base + 10 + i))" \
      --peers "$peers" --data-dir "$WORK/k$base-n$i" --log-level warn "$@" >>"$WORK/k$base-n$i.log" 2>&1 &
    PIDS+=($!)
  done
  for _ in $(seq 1 150); do
    if [[ " $* " == *" --partitions 0 "* ]]; then
      for port in $((base + 1)) $((base + 2)) $((base + 3)); do
        if redis-cli -p "$port" info replication 2>/dev/null | grep -q "^raft_role:leader"; then
          TARGET=$port:leader
          return
        fi
      done
    else
      ready=yes
      for port in $((base + 1)) $((base + 2)) $((base + 3)); do
        redis-cli -p "$port" cluster info 2>/dev/null | grep -q "^cluster_state:ok" || ready=""
      done
      if [ -n "$ready" ]; then
        TARGET=$((base + 1)):cluster
        return
      fi
    fi
    sleep 0.1
  done
  echo "keel ($build $*): not ready" >&2
  exit 1
}

start_keel "$BUILD" 16370 --acks all
targets=("keel 3 nodes, 64 partitions, acks=all:$TARGET")
start_keel "$BUILD" 16570 --acks 1
targets+=("keel 3 nodes, 64 partitions, acks=1:$TARGET")
start_keel "$BUILD" 16670 --partitions 0
targets+=("keel 3 nodes, one Raft group:$TARGET")
if [ -n "$BASELINE" ]; then
  start_keel "$BASELINE" 16470
  targets+=("baseline keel ($BASELINE):$TARGET")
fi
redis-server --port 16400 --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
  --dir "$WORK" --appendfilename always.aof --logfile "$WORK/always.log" &
PIDS+=($!)
redis-server --port 16401 --bind 127.0.0.1 --save "" --appendonly yes --appendfsync everysec \
  --dir "$WORK" --appendfilename everysec.aof --logfile "$WORK/everysec.log" &
PIDS+=($!)
targets+=("redis-server appendfsync always:16400:single" "redis-server appendfsync everysec:16401:single")
for port in 16400 16401; do
  for _ in $(seq 1 50); do redis-cli -p "$port" ping >/dev/null 2>&1 && break; sleep 0.1; done
done

# run PORT KIND: redis-benchmark in cluster mode against a partitioned keel.
run() {
  local mode=()
  [ "$2" = cluster ] && mode=(--cluster)
  redis-benchmark "${mode[@]}" -p "$1" -t set,get -c "$C" -n "$N" -q 2>/dev/null | tr '\r' '\n' |
    grep -E "^(SET|GET): [0-9.]+ requests per second" | sed -E 's/^(SET|GET): ([0-9.]+) requests per second.*/\1 \2/'
}

# One line per measurement: "<target index> <SET|GET> <requests per second>".
for rep in $(seq 1 "$REPS"); do
  for t in "${!targets[@]}"; do
    spec=${targets[$t]#*:}
    run "${spec%%:*}" "${spec##*:}" | while read -r op rps; do echo "$t $op $rps"; done >>"$WORK/results"
  done
  echo "round $rep of $REPS done" >&2
done

median() { sort -n | awk '{v[NR]=$1} END {if (NR == 0) print "?"; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2]+v[NR/2+1])/2}'; }
always=0
for t in "${!targets[@]}"; do
  [[ ${targets[$t]} == "redis-server appendfsync always:"* ]] && always=$t
done
ref_set=$(awk -v t="$always" '$1==t && $2=="SET"{print $3}' "$WORK/results" | median)
ref_get=$(awk -v t="$always" '$1==t && $2=="GET"{print $3}' "$WORK/results" | median)
echo "redis-benchmark -t set,get -c $C -n $N (--cluster for partitioned keel); median of $REPS rounds, targets taking turns"
printf '%-44s %10s %10s %14s %14s\n' "target" "SET/s" "GET/s" "SET vs always" "GET vs always"
for t in "${!targets[@]}"; do
  set_rps=$(awk -v t="$t" '$1==t && $2=="SET"{print $3}' "$WORK/results" | median)
  get_rps=$(awk -v t="$t" '$1==t && $2=="GET"{print $3}' "$WORK/results" | median)
  printf '%-44s %10s %10s %14s %14s\n' "${targets[$t]%%:*}" "$set_rps" "$get_rps" \
    "$(awk -v a="$set_rps" -v b="$ref_set" 'BEGIN{printf "%.2f", a/b}')" \
    "$(awk -v a="$get_rps" -v b="$ref_get" 'BEGIN{printf "%.2f", a/b}')"
done
