#include "sim/coverage.h"

namespace keel::sim {

std::vector<std::string> required_cover_marks(const std::string& workload) {
  if (workload == "demo") return {};
  // The ISR workloads: failovers, fencing, divergence, snapshots and ISR
  // changes must all happen in a sweep, or the checkers watched nothing.
  if (workload == "isr-register" || workload == "isr-counter" || workload == "isr-unique-writes" ||
      workload == "isr-acks1") {
    return {
        "controller: node fenced",
        "controller: partition went offline",
        "controller: stale ISR change refused",
        "controller: ISR add from an old incarnation refused",
        "isr sim: controller failed over",
        "isr sim: a replica rejoined the ISR",
        "partition: HW held, ISR below min.insync.replicas",
        "partition: fetch from an older epoch refused",
        "partition: follower installed a snapshot",
        "partition: follower log diverges",
        "partition: follower truncated a diverging suffix",
        "partition: leader asked to shrink the ISR",
        "partition: leader deposed",
    };
  }
  // The Raft-replicated KV workloads share their cluster, so they share
  // their marks.
  if (workload != "register" && workload != "counter" && workload != "unique-writes") return {};
  return {
      "raft: elected with uncommitted entries of earlier terms",
      "raft: pre-vote lost",
      "raft: leader stepped down, no quorum heard (CheckQuorum)",
      "raft: snapshot sent to a lagging follower",
      "raft: snapshot installed",
      "raft: a stale leader's append answered with the newer term",
      "raft: vote refused, already voted or following a leader",
      "raft: vote refused, candidate's log is stale",
      "raft: conflicting suffix truncated",
      "raft: follower commit held to its last verified entry",
      "raft: append rejected, follower log too short",
      "raft: append rejected, terms differ at the probe",
      "raft: leader skipped back by the follower's conflict term",
      "raft node: committed entries applied before the sync",
      "raft node: proposal lost to a leader change",
      "raft node: snapshot restored into the state machine",
      "raft node: log compacted",
      "raft node: stopped after a storage failure",
      "log: recovery truncated a torn tail",
      "raft node: restart finished an interrupted snapshot install",
  };
}

}  // namespace keel::sim
