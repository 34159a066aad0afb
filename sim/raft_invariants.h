// RaftInvariants: the online checker of INVARIANTS.md R1–R6 over every node
// of one simulated Raft group.
//
// Nodes report after each handled Ready and each applied entry (through
// node::RaftObserver). The checker keeps what the group has committed and
// applied so far, and compares each report against it:
//   R1 election safety   at most one leader per term
//   R2 leader append-only   a leader's log never loses entries within its
//                        term (last index does not drop, terms do not change)
//   R3 log matching      one (index, term) pair names one entry: same data
//   R4 committed never changes   an index seen committed keeps its term in
//                        every node's committed prefix (a lagging node may
//                        hold a stale entry above its own commit index until
//                        the leader overwrites it); a node's commit index
//                        does not decrease within one incarnation
//   R5 leader completeness   a new leader of term T holds every entry
//                        committed in a term before T
//   R6 state-machine safety   every node applies the same entry at an index,
//                        and each index at most once per incarnation
//   R7 durable before counted   a granted vote leaves only once that term
//                        and vote are on disk; a successful append response
//                        only for entries the log has synced; and an entry
//                        is committed only once a quorum of voters hold it
//                        durably (synced, or inside an installed snapshot):
//                        this one watches the counting itself, so it also
//                        catches a leader that counts stale or unsynced
//                        acknowledgements, its own included
// R8 is vacuous while the simulated cluster's membership is fixed (the
// consensus/ property tests check it under membership changes).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "consensus/raft.h"
#include "node/raft_node.h"

namespace keel::sim {

class RaftInvariants {
 public:
  // Entries compared per report at the tail of each log.
  static constexpr uint64_t kTailCheckedMax = 64;
  // Violations kept (the first ones matter).
  static constexpr size_t kViolationsMax = 20;

  // The observer for one node incarnation. `incarnation` distinguishes
  // restarts (commit may drop to the persisted value after one).
  class NodeObserver : public node::RaftObserver {
   public:
    NodeObserver(RaftInvariants& checker, core::NodeId node, uint64_t incarnation)
        : checker_(checker), node_(node), incarnation_(incarnation) {}
    void on_ready_handled(const consensus::Raft& raft, core::LogIndex synced) override {
      checker_.check(node_, incarnation_, raft, synced);
    }
    void on_persisted(const consensus::Raft& raft, core::LogIndex synced) override {
      checker_.persisted(node_, incarnation_, raft, synced);
    }
    void on_applied(core::NodeId node, const consensus::Entry& entry, core::Term term) override {
      checker_.applied(node, incarnation_, entry, term);
    }
    void on_send(const consensus::Message& msg, core::LogIndex synced, const consensus::HardState& durable) override {
      checker_.sent(msg, synced, durable);
    }

   private:
    RaftInvariants& checker_;
    core::NodeId node_;
    uint64_t incarnation_;
  };

  // Called when a node becomes leader (`leads`) of `term`, and when a node
  // that led stops leading without a restart (a crash ends its incarnation
  // silently). For the timeline page; must not change the run (no random
  // draws, no events).
  using LeaderListener = std::function<void(core::NodeId node, core::Term term, bool leads)>;
  void set_leader_listener(LeaderListener listener) { leader_listener_ = std::move(listener); }

  const std::vector<std::string>& violations() const { return violations_; }
  uint64_t checks() const { return checks_; }
  uint64_t max_commit() const { return committed_.empty() ? 0 : committed_.rbegin()->first; }

 private:
  struct NodeState {
    uint64_t incarnation = 0;
    uint64_t commit = 0;
    uint64_t last_applied = 0;
    bool was_leader = false;
    uint64_t leader_term = 0;
    uint64_t leader_last = 0;
    // The log's last index (and its term) at the previous report.
    uint64_t checked_last = 0;
    uint64_t checked_last_term = 0;
    // What the node holds durably, at its last report: everything up to
    // `durable_base` (compacted or installed from a snapshot), and the terms
    // of the synced entries after it, up to `synced`.
    uint64_t durable_base = 0;
    uint64_t synced = 0;
    std::map<uint64_t, uint64_t> synced_terms;
  };
  // Synced entries whose terms are kept per node: commits are checked
  // against the tail of each durable log.
  static constexpr uint64_t kDurableTermsKept = 4096;

  void note_durable(NodeState& st, const consensus::Raft& raft, uint64_t synced);
  // R7: a quorum of voters holds entry `index` of `term` durably.
  void check_durable_quorum(core::NodeId node, const consensus::Raft& raft, uint64_t index, uint64_t term);

  void check(core::NodeId node, uint64_t incarnation, const consensus::Raft& raft, core::LogIndex synced);
  void applied(core::NodeId node, uint64_t incarnation, const consensus::Entry& entry, core::Term term);
  void persisted(core::NodeId node, uint64_t incarnation, const consensus::Raft& raft, core::LogIndex synced);
  NodeState& state_of(core::NodeId node, uint64_t incarnation);
  void sent(const consensus::Message& msg, core::LogIndex synced, const consensus::HardState& durable);
  void violation(std::string what);

  std::map<uint64_t, core::NodeId> leaders_;               // term -> leader
  std::map<uint64_t, uint64_t> committed_;                 // index -> term
  // index -> the term of the node that first reported it committed: at or
  // after the term in which it was committed.
  std::map<uint64_t, uint64_t> committed_in_;
  std::map<std::pair<uint64_t, uint64_t>, uint64_t> entry_digest_;  // (index, term) -> data digest
  std::map<uint64_t, uint64_t> applied_digest_;            // index -> digest of the applied entry
  std::map<core::NodeId, NodeState> nodes_;
  std::vector<std::string> violations_;
  uint64_t checks_ = 0;
  LeaderListener leader_listener_;
};

}  // namespace keel::sim
