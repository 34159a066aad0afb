#include "sim/raft_invariants.h"

namespace keel::sim {

namespace {

uint64_t entry_hash(const consensus::Entry& e) {
  return core::checksum64(e.data, e.term.value() * 0x9e3779b97f4a7c15ULL + static_cast<uint64_t>(e.type));
}

std::string at(core::NodeId node, uint64_t index) {
  return "node " + node.to_string() + " index " + std::to_string(index);
}

}  // namespace

void RaftInvariants::violation(std::string what) {
  if (violations_.size() < kViolationsMax) violations_.push_back(std::move(what));
}

RaftInvariants::NodeState& RaftInvariants::state_of(core::NodeId node, uint64_t incarnation) {
  NodeState& st = nodes_[node];
  if (st.incarnation != incarnation) {
    st = NodeState();
    st.incarnation = incarnation;
  }
  return st;
}

void RaftInvariants::note_durable(NodeState& st, const consensus::Raft& raft, uint64_t synced) {
  const uint64_t base = raft.first_index().value() - 1;
  synced = std::min(synced, raft.last_index().value());
  st.durable_base = base;
  // Find where the durable log still agrees with what was noted (log
  // matching: agreement at an index means agreement below it), drop what
  // follows, and note the synced entries after it.
  uint64_t j = std::min(st.synced, synced);
  while (j > base) {
    auto noted = st.synced_terms.find(j);
    auto t = raft.term_at(core::LogIndex(j));
    if (noted == st.synced_terms.end() || (t && t->value() == noted->second)) break;
    --j;
  }
  st.synced_terms.erase(st.synced_terms.upper_bound(j), st.synced_terms.end());
  for (uint64_t i = std::max(j, base) + 1; i <= synced; ++i) {
    if (auto t = raft.term_at(core::LogIndex(i))) st.synced_terms[i] = t->value();
  }
  while (st.synced_terms.size() > kDurableTermsKept) st.synced_terms.erase(st.synced_terms.begin());
  st.synced = synced;
}

void RaftInvariants::persisted(core::NodeId node, uint64_t incarnation, const consensus::Raft& raft,
                               core::LogIndex synced) {
  note_durable(state_of(node, incarnation), raft, synced.value());
}

void RaftInvariants::check_durable_quorum(core::NodeId node, const consensus::Raft& raft, uint64_t index,
                                          uint64_t term) {
  const std::set<core::NodeId> voters = raft.config_state().voters;
  if (voters.empty()) return;
  size_t holders = 0;
  std::string who;
  for (core::NodeId v : voters) {
    auto it = nodes_.find(v);
    if (it == nodes_.end()) continue;
    const NodeState& st = it->second;
    bool holds = index <= st.durable_base;
    if (!holds && index <= st.synced) {
      auto t = st.synced_terms.find(index);
      // Below the kept window the entry is older than anything in doubt.
      holds = t == st.synced_terms.end() || t->second == term;
    }
    if (holds) {
      ++holders;
      who += (who.empty() ? "" : ",") + v.to_string();
    }
  }
  if (holders < voters.size() / 2 + 1) {
    violation("R7 durable before counted: " + at(node, index) + " committed term " + std::to_string(term) +
              " while only {" + who + "} of " + std::to_string(voters.size()) + " voters hold it durably");
  }
}

void RaftInvariants::check(core::NodeId node, uint64_t incarnation, const consensus::Raft& raft,
                           core::LogIndex synced) {
  ++checks_;
  NodeState& st = state_of(node, incarnation);
  note_durable(st, raft, synced.value());
  const uint64_t term = raft.term().value();
  const uint64_t commit = raft.commit_index().value();
  const uint64_t first = raft.first_index().value();
  const uint64_t last = raft.last_index().value();

  // R1: one leader per term.
  const bool leader = raft.role() == consensus::Role::kLeader;
  if (leader) {
    auto [it, fresh] = leaders_.emplace(term, node);
    if (!fresh && it->second != node) {
      violation("R1 election safety: nodes " + it->second.to_string() + " and " + node.to_string() +
                " both lead term " + std::to_string(term));
    }
    // R5: a node that just became leader holds every committed entry.
    if (!st.was_leader || st.leader_term != term) {
      for (auto c = committed_.lower_bound(first); c != committed_.end(); ++c) {
        if (committed_in_.at(c->first) >= term) continue;
        auto t = raft.term_at(core::LogIndex(c->first));
        if (!t || t->value() != c->second) {
          violation("R5 leader completeness: " + at(node, c->first) + " leads term " + std::to_string(term) +
                    " without committed entry of term " + std::to_string(c->second));
          break;
        }
      }
      st.leader_term = term;
      st.leader_last = last;
      if (leader_listener_) leader_listener_(node, raft.term(), true);
    } else if (last < st.leader_last) {
      // R2: within its term a leader only appends.
      violation("R2 leader append-only: node " + node.to_string() + " dropped entries in term " +
                std::to_string(term) + " (last " + std::to_string(st.leader_last) + " -> " + std::to_string(last) + ")");
    }
    st.leader_last = last;
  }
  if (st.was_leader && !leader && leader_listener_) leader_listener_(node, core::Term(st.leader_term), false);
  st.was_leader = leader;

  // R4: commit is monotone within an incarnation.
  if (commit < st.commit) {
    violation("R4 commit index of node " + node.to_string() + " went back from " + std::to_string(st.commit) +
              " to " + std::to_string(commit));
  }
  // Newly committed indexes: agree with what the group committed before.
  for (uint64_t i = std::max(st.commit + 1, first); i <= commit && i <= last; ++i) {
    auto t = raft.term_at(core::LogIndex(i));
    if (!t) continue;
    auto [it, fresh] = committed_.emplace(i, t->value());
    if (fresh) {
      committed_in_.emplace(i, term);
      check_durable_quorum(node, raft, i, t->value());
    }
    if (!fresh && it->second != t->value()) {
      violation("R4 committed entry changed: " + at(node, i) + " committed with term " + std::to_string(t->value()) +
                ", earlier committed with term " + std::to_string(it->second));
    }
  }
  st.commit = std::max(st.commit, commit);

  // R3 and R4 on the tail of the log: the entries appended since the last
  // report, or the whole tail if the entry at the old end was replaced.
  uint64_t from = last > kTailCheckedMax ? std::max(first, last - kTailCheckedMax + 1) : first;
  if (st.checked_last != 0 && st.checked_last <= last) {
    auto t = raft.term_at(core::LogIndex(st.checked_last));
    if (t && t->value() == st.checked_last_term) from = std::max(from, st.checked_last + 1);
  }
  st.checked_last = last;
  if (auto t = raft.term_at(core::LogIndex(last))) st.checked_last_term = t->value();
  for (uint64_t i = from; i <= last; ++i) {
    const consensus::Entry* e = raft.entry_at(core::LogIndex(i));
    if (e == nullptr) continue;
    const uint64_t h = entry_hash(*e);
    auto [it, fresh] = entry_digest_.emplace(std::make_pair(i, e->term.value()), h);
    if (!fresh && it->second != h) {
      violation("R3 log matching: " + at(node, i) + " term " + std::to_string(e->term.value()) +
                " holds different data than another node's entry with the same index and term");
    }
    // A lagging node may still hold a stale entry where the group has since
    // committed another; only its own committed prefix must agree.
    auto c = committed_.find(i);
    if (i <= commit && c != committed_.end() && c->second != e->term.value()) {
      violation("R4 committed entry overwritten: " + at(node, i) + " holds term " + std::to_string(e->term.value()) +
                " where term " + std::to_string(c->second) + " was committed");
    }
  }
}

void RaftInvariants::sent(const consensus::Message& msg, core::LogIndex synced, const consensus::HardState& durable) {
  using consensus::MessageType;
  if (msg.type == MessageType::kVoteResponse && !msg.reject) {
    // A durable later term also binds: the node can never vote in msg.term
    // again after a crash.
    if (durable.term < msg.term || (durable.term == msg.term && durable.vote != msg.to)) {
      violation("R7 durable before counted: node " + msg.from.to_string() + " granted its vote to " +
                msg.to.to_string() + " in term " + msg.term.to_string() + " before the vote was on disk");
    }
  }
  // A leader may send appends before its own entries are synced, but never
  // in a term it could forget.
  if ((msg.type == MessageType::kAppend || msg.type == MessageType::kHeartbeat) && durable.term < msg.term) {
    violation("R7 durable before counted: node " + msg.from.to_string() + " sent an append in term " +
              msg.term.to_string() + " with only term " + durable.term.to_string() + " on disk");
  }
  if (msg.type == MessageType::kAppendResponse && !msg.reject && msg.index > synced) {
    violation("R7 durable before counted: node " + msg.from.to_string() + " acknowledged index " +
              msg.index.to_string() + " with only " + synced.to_string() + " synced");
  }
}

void RaftInvariants::applied(core::NodeId node, uint64_t incarnation, const consensus::Entry& entry,
                             core::Term term) {
  NodeState& st = state_of(node, incarnation);
  const uint64_t i = entry.index.value();
  // R6: apply once, in increasing order, within an incarnation (a gap is a
  // snapshot install).
  if (st.last_applied != 0 && i <= st.last_applied) {
    violation("R6 apply order: " + at(node, i) + " applied after " + std::to_string(st.last_applied));
  }
  st.last_applied = i;
  const uint64_t h = entry_hash(entry);
  auto [it, fresh] = applied_digest_.emplace(i, h);
  if (!fresh && it->second != h) {
    violation("R6 state-machine safety: " + at(node, i) + " applied an entry that differs from another node's");
  }
  auto c = committed_.find(i);
  if (c == committed_.end()) {
    // Committed in the applying node's current term or earlier. (Not the
    // entry's own term: a leader of a later term may have committed it, and
    // a leader elected in between with stale votes need not hold it.)
    committed_.emplace(i, entry.term.value());
    committed_in_.emplace(i, term.value());
  } else if (c->second != entry.term.value()) {
    violation("R6 applied an uncommitted entry: " + at(node, i) + " term " + std::to_string(entry.term.value()));
  }
}

}  // namespace keel::sim
