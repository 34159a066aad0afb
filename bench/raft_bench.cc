// raft_bench: entries committed per second by a 3-node Raft group over the
// in-memory test harness (no faults, no disk, no checker), 100-byte entries,
// batching and pipelining on. It measures the protocol core's CPU cost: every
// Ready is "persisted" by copying, messages are delivered in FIFO order.
//
// Usage: raft_bench [entries=200000] [proposals_per_round=256]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/consensus/raft_harness.h"

using keel::consensus::Config;
using keel::consensus::NodeId;
using keel::consensus::testing::Cluster;

int main(int argc, char** argv) {
  const uint64_t entries = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 200000;
  const uint64_t per_round = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 256;
  Cluster c(3, 42, [](Config& cfg) {
    cfg.append_entries_max = 256;
    cfg.inflight_max = 64;
  });
  c.checks = false;
  for (int i = 0; i < 100 && !c.leader(); ++i) c.run(1);
  if (!c.leader()) {
    std::fprintf(stderr, "no leader elected\n");
    return 1;
  }
  NodeId leader = *c.leader();
  keel::consensus::Raft& raft = *c.node(leader).raft;
  const std::string payload(100, 'x');
  const uint64_t start_commit = raft.commit_index().value();
  uint64_t proposed = 0;
  uint64_t rejected = 0;
  auto t0 = std::chrono::steady_clock::now();
  while (raft.commit_index().value() - start_commit < entries) {
    for (uint64_t k = 0; k < per_round && proposed < entries; ++k) {
      if (raft.propose(payload).is_ok()) {
        ++proposed;
      } else {
        ++rejected;
        break;
      }
    }
    c.process(leader);
    c.stabilize();
    if (proposed >= entries) c.run(1);
  }
  auto t1 = std::chrono::steady_clock::now();
  double secs = std::chrono::duration<double>(t1 - t0).count();
  uint64_t committed = raft.commit_index().value() - start_commit;
  std::printf("raft_bench: 3 nodes, 100-byte entries, batch<=256 entries, inflight<=64\n");
  std::printf("committed %llu entries in %.3f s: %.0f entries/s (%.1f MB/s payload), %llu messages, %llu pushbacks\n",
              static_cast<unsigned long long>(committed), secs, committed / secs, committed * 100.0 / secs / 1e6,
              static_cast<unsigned long long>(c.messages_delivered), static_cast<unsigned long long>(rejected));
  return 0;
}
