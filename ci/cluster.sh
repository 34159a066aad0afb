#!/usr/bin/env bash
# A local three-node keel cluster on loopback: builds keeld if needed,
# starts three nodes (data under ./keel-cluster; 64 partitions replicated
# three ways under the Raft metadata controller), waits until every slot is
# served, prints the partition map, runs a short demo with redis-cli -c and
# redis-benchmark --cluster, prints how to connect, and stops the nodes on
# Ctrl-C.
#
#   ci/cluster.sh              ports 6379-6381 (clients), 7379-7381 (peers),
#                              9379-9381 (Prometheus metrics)
#   KEEL_CLUSTER_DIR=dir ci/cluster.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bash ci/install-deps.sh
export CCACHE_BASEDIR=$PWD CCACHE_NOHASHDIR=1
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
echo "building keeld (the first build takes a few minutes)..."
cmake --build build -j "$(nproc)" --target keeld | grep -E "^\[[0-9]+/[0-9]+\]" | awk 'NR % 20 == 1' || true

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

ready=""
for _ in $(seq 1 150); do
  ready=yes
  for port in 6379 6380 6381; do
    redis-cli -p "$port" cluster info 2>/dev/null | grep -q "^cluster_state:ok" || ready=""
  done
  [ -n "$ready" ] && break
  sleep 0.1
done
if [ -z "$ready" ]; then
  echo "the cluster did not become ready within 15 s; see $DIR/n*.log" >&2
  exit 1
fi
echo "cluster up: nodes on 127.0.0.1:6379, :6380, :6381"
echo
echo "partition map (64 partitions of 3 replicas; CLUSTER NODES lists each master's slot ranges):"
redis-cli -p 6379 cluster nodes | awk '{ n = NF - 8; printf "  %s %-22s leads %2d slot ranges\n", $2, $3, n }'
echo
echo "demo workload through redis-cli -c (it follows -MOVED to each key's partition leader):"
redis-cli -c -p 6379 set greeting "hello from keel" >/dev/null
redis-cli -c -p 6380 get greeting
redis-cli -c -p 6379 del counter >/dev/null
for _ in $(seq 1 100); do redis-cli -c -p 6381 incr counter >/dev/null; done
echo "counter after 100 INCRs: $(redis-cli -c -p 6379 get counter)"
echo "without -c a node redirects keys it does not lead: $(for k in a b c d e f; do redis-cli -p 6379 set $k v; done | grep -m1 MOVED)"
echo "multi-key commands need one slot: redis-cli -c mset a 1 b 2  ->  $(redis-cli -c -p 6379 mset a 1 b 2)"
echo
echo "redis-benchmark --cluster (acks=all):"
redis-benchmark --cluster -p 6379 -t set,get -c 20 -n 5000 -q 2>/dev/null | tr '\r' '\n' | grep -E "^(SET|GET):" |
  grep "requests per second" | sed 's/^/  /'
echo
echo "connect with:  redis-cli -c -p 6379      (INFO partitions and CLUSTER NODES show the partition map)"
echo "metrics:       curl -s 127.0.0.1:9379/metrics   (Prometheus text; :9380, :9381 for the others)"
echo "logs in $DIR/n*.log; Ctrl-C stops the cluster"
wait
