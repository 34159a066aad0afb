// Convergence checker (invariant C3): replicas at quiescence agree.
//
// Input: for each replica of one replication group (the whole keyspace in
// v0.1, one partition in v0.2), its applied index and a digest of its state
// machine at that index, taken after the cluster healed and went quiet.
// Replicas that applied the same prefix of the same log must hold the same
// state, so equal applied indexes with different digests are a divergence.
// Optionally (require_equal_applied) every replica must also have caught up
// to the same applied index, which is what quiescence promises once every
// node is up and connected.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "core/ids.h"
#include "workloads/verdict.h"

namespace keel::workloads {

struct ReplicaDigest {
  std::string replica;        // a name for reports, e.g. "n2" or "p7/n2"
  core::LogIndex applied;     // the last log index applied to the state machine
  uint64_t digest = 0;        // state-machine digest at `applied`
};

struct ConvergenceOptions {
  bool require_equal_applied = true;
};

struct ConvergenceResult {
  Verdict verdict = Verdict::kPass;
  // Empty on kPass; otherwise names the replicas that differ, e.g.
  // "group p3: at applied index 42 replicas disagree: {n1, n3} digest 0x1f..,
  //  {n2} digest 0x77..".
  std::string report;
};

// `group` names the replication group in the report. An empty replica list
// passes (nothing to compare). Replica names should be distinct.
ConvergenceResult check_convergence(const std::string& group,
                                    const std::vector<ReplicaDigest>& replicas,
                                    const ConvergenceOptions& options = {});

}  // namespace keel::workloads
