// A small in-memory cluster of Raft instances for tests and the benchmark.
//
// Each SimNode owns a Raft plus what a real node would keep on disk (hard
// state, snapshot, entries after it) and a toy state machine (a running hash
// of applied commands). "Persisting" a Ready means copying its contents into
// the durable fields; a restart rebuilds the Raft from those fields only.
//
// The network is a list of in-flight messages that the test delivers, drops,
// duplicates or reorders at will; a partition blocks delivery between pairs.
//
// A Checker reads every node through Raft's const accessors after each event
// and reports the first violation of R1 (one leader per term), R3 (log
// matching), R4 (committed entries never change, commit never decreases
// within an incarnation), R5 (leader completeness) and R6 (apply-once, same
// command at each index) as a message, so tests can also show it failing.
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <functional>
#include <string>
#include <tuple>
#include <utility>
#include <vector>

#include "consensus/raft.h"
#include "core/random.h"

namespace keel::consensus::testing {

struct StateMachine {
  LogIndex applied;
  uint64_t hash = 0;
  uint64_t count = 0;

  Bytes encode() const {
    Bytes out;
    core::put_u64(out, applied.value());
    core::put_u64(out, hash);
    core::put_u64(out, count);
    return out;
  }
  static std::optional<StateMachine> decode(const Bytes& data) {
    if (data.size() != 24) return std::nullopt;
    StateMachine sm;
    sm.applied = LogIndex(core::get_u64(data.data()));
    sm.hash = core::get_u64(data.data() + 8);
    sm.count = core::get_u64(data.data() + 16);
    return sm;
  }
  void apply(const Entry& entry) {
    applied = entry.index;
    if (entry.type == EntryType::kNormal) {
      hash = core::checksum64(entry.data, hash);
      ++count;
    }
  }
};

struct SimNode {
  NodeId id;
  Config config;
  std::unique_ptr<Raft> raft;
  uint64_t incarnation = 0;

  // Durable state.
  HardState hard_state;
  SnapshotMeta snapshot_meta;
  Bytes snapshot_data;
  std::vector<Entry> entries;  // after snapshot_meta.index

  // Volatile.
  StateMachine sm;
  std::vector<ReadState> read_states;
  std::vector<Entry> applied_entries;  // kept only when Cluster::record_applied
};

class Cluster {
 public:
  // Nodes 1..n, all voters; `tweak` may adjust each node's Config.
  Cluster(size_t n, uint64_t seed, const std::function<void(Config&)>& tweak = {})
      : random_(seed), tweak_(tweak) {
    ConfigState initial;
    for (uint32_t i = 1; i <= n; ++i) initial.voters.insert(NodeId(i));
    for (uint32_t i = 1; i <= n; ++i) add_node(NodeId(i), initial);
  }

  // Adds a node that boots with `boot_config` (empty for a node joining an
  // existing cluster).
  void add_node(NodeId id, const ConfigState& boot_config) {
    SimNode node;
    node.id = id;
    node.config.id = id;
    if (tweak_) tweak_(node.config);
    node.snapshot_meta.config = boot_config;
    node.snapshot_data = StateMachine{}.encode();
    nodes_[id] = std::move(node);
    start(nodes_[id]);
  }

  SimNode& node(NodeId id) { return nodes_.at(id); }
  Raft& raft(uint32_t id) { return *nodes_.at(NodeId(id)).raft; }
  std::map<NodeId, SimNode>& nodes() { return nodes_; }
  std::vector<Message>& network() { return network_; }
  core::Random& random() { return random_; }

  // Drains every Ready of the node: persist, send, apply, advance.
  void process(NodeId id) {
    SimNode& n = nodes_.at(id);
    while (n.raft->has_ready()) {
      Ready rd = n.raft->ready();
      if (rd.snapshot.has_value()) {
        n.snapshot_meta = rd.snapshot->meta;
        n.snapshot_data = rd.snapshot->data;
        n.entries.clear();
      }
      if (!rd.entries.empty()) {
        LogIndex first = rd.entries.front().index;
        while (!n.entries.empty() && n.entries.back().index >= first) n.entries.pop_back();
        for (Entry& entry : rd.entries) n.entries.push_back(std::move(entry));
      }
      if (rd.hard_state.has_value()) n.hard_state = *rd.hard_state;
      for (Message& msg : rd.messages) {
        if (msg.type == MessageType::kSnapshot) {
          msg.snapshot = Snapshot{n.snapshot_meta, n.snapshot_data};
        }
        ++messages_sent;
        network_.push_back(std::move(msg));
      }
      if (rd.snapshot.has_value()) {
        std::optional<StateMachine> sm = StateMachine::decode(rd.snapshot->data);
        note(sm.has_value() && sm->applied == rd.snapshot->meta.index, "snapshot data does not match its meta");
        if (sm.has_value()) n.sm = *sm;
      }
      for (const Entry& entry : rd.committed_entries) {
        note(entry.index == n.sm.applied.next(), "entries applied out of order or twice");
        auto [it, fresh] = applied_.emplace(entry.index.value(), std::make_pair(entry.term, entry.data));
        note(fresh || (it->second.first == entry.term && it->second.second == entry.data),
             "R6: two nodes applied different commands at index " + entry.index.to_string());
        n.sm.apply(entry);
        if (record_applied) n.applied_entries.push_back(entry);
      }
      for (ReadState& rs : rd.read_states) n.read_states.push_back(std::move(rs));
      n.raft->advance();
    }
    if (checks) check();
  }

  void process_all() {
    for (auto& [id, n] : nodes_) process(id);
  }

  void tick(NodeId id) {
    nodes_.at(id).raft->tick();
    process(id);
  }
  void tick_all() {
    for (auto& [id, n] : nodes_) tick(id);
  }

  bool blocked(const Message& msg) const {
    return down_.count(msg.to) > 0 || down_.count(msg.from) > 0 || cut_.count({msg.from, msg.to}) > 0 ||
           nodes_.count(msg.to) == 0;
  }

  // Delivers network()[i] (removing it).
  void deliver(size_t i) {
    Message msg = std::move(network_[i]);
    network_.erase(network_.begin() + static_cast<std::ptrdiff_t>(i));
    if (blocked(msg)) return;
    if (filter && !filter(msg)) return;
    ++messages_delivered;
    note(nodes_.at(msg.to).raft->step(msg).is_ok(), "step rejected a message Raft itself produced");
    process(msg.to);
  }

  // Delivers in FIFO order until the network is empty (or `max` deliveries).
  void stabilize(size_t max = 100000) {
    process_all();
    for (size_t k = 0; k < max && !network_.empty(); ++k) deliver(0);
  }

  // Ticks every node and stabilizes, `rounds` times.
  void run(size_t rounds) {
    for (size_t r = 0; r < rounds; ++r) {
      tick_all();
      stabilize();
    }
  }

  // Ticks node `id` until it starts an election, then stabilizes.
  void elect(uint32_t id) {
    raft(id).campaign();
    process(NodeId(id));
    stabilize();
  }

  std::optional<NodeId> leader() const {
    std::optional<NodeId> found;
    Term best;
    for (const auto& [id, n] : nodes_) {
      if (down_.count(id) > 0) continue;
      if (n.raft->role() == Role::kLeader && (!found || n.raft->term() > best)) {
        found = id;
        best = n.raft->term();
      }
    }
    return found;
  }

  // Partitions.
  void cut(NodeId a, NodeId b) {
    cut_.insert({a, b});
    cut_.insert({b, a});
  }
  void isolate(NodeId a) {
    for (auto& [id, n] : nodes_) {
      if (id != a) cut(a, id);
    }
  }
  void heal() {
    cut_.clear();
    down_.clear();
  }
  void set_down(NodeId id, bool down) {
    if (down) {
      down_.insert(id);
    } else {
      down_.erase(id);
    }
  }

  // Crash and restart: everything not persisted is lost.
  void restart(NodeId id) {
    SimNode& n = nodes_.at(id);
    start(n);
    check();
  }

  // The application snapshots its state machine at its applied index.
  void compact(NodeId id) {
    SimNode& n = nodes_.at(id);
    LogIndex index = n.raft->applied_index();
    if (index <= n.snapshot_meta.index) return;
    SnapshotMeta meta{index, *n.raft->term_at(index), n.raft->config_state()};
    note(n.sm.applied == index, "state machine behind applied index");
    note(n.raft->compact(meta).is_ok(), "compact failed");
    n.snapshot_meta = meta;
    n.snapshot_data = n.sm.encode();
    std::erase_if(n.entries, [&](const Entry& e) { return e.index <= index; });
  }

  // Proposes on the current leader; returns the index or nullopt.
  std::optional<LogIndex> propose(Bytes data) {
    std::optional<NodeId> l = leader();
    if (!l) return std::nullopt;
    core::Result<LogIndex> r = nodes_.at(*l).raft->propose(std::move(data));
    process(*l);
    if (!r.is_ok()) return std::nullopt;
    return *r;
  }

  // --- Checker ---------------------------------------------------------

  // First violation seen, if any.
  const std::optional<std::string>& violation() const { return violation_; }

  void check() {
    std::map<uint64_t, NodeId> leaders;
    for (auto& [id, n] : nodes_) {
      const Raft& r = *n.raft;
      // R1.
      if (r.role() == Role::kLeader) {
        auto [it, fresh] = leaders_by_term_.emplace(r.term().value(), id);
        note(fresh || it->second == id, "R1: two leaders in term " + r.term().to_string());
      }
      // R3 (log matching, kept across time): an (index, term) pair names one
      // entry forever, with one predecessor term.
      for (uint64_t i = r.first_index().value(); i <= r.last_index().value(); ++i) {
        const Entry* e = r.entry_at(LogIndex(i));
        std::optional<Term> prev = r.term_at(LogIndex(i - 1));
        auto key = std::make_pair(i, e->term.value());
        auto [it, fresh] = entries_seen_.emplace(key, std::make_tuple(prev, e->type, core::checksum64(e->data)));
        if (!fresh) {
          auto& [seen_prev, seen_type, seen_hash] = it->second;
          note(seen_type == e->type && seen_hash == core::checksum64(e->data),
               "R3: two different entries at index " + std::to_string(i) + " term " + e->term.to_string());
          if (prev.has_value() && seen_prev.has_value()) {
            note(*prev == *seen_prev, "R3: logs agree at " + std::to_string(i) + " but not before it");
          }
          if (!seen_prev.has_value() && prev.has_value()) seen_prev = prev;
        }
      }
      // R4: commit never decreases within an incarnation; committed entries
      // never change.
      auto& last_commit = commit_seen_[{id.value(), n.incarnation}];
      note(r.commit_index() >= last_commit, "R4: commit index decreased on node " + id.to_string());
      last_commit = r.commit_index();
      for (uint64_t i = r.first_index().value(); i <= r.last_index().value(); ++i) {
        Term t = r.entry_at(LogIndex(i))->term;
        auto it = committed_.find(i);
        if (i <= r.commit_index().value()) {
          if (it == committed_.end()) {
            committed_.emplace(i, std::make_pair(t, r.term()));
          } else {
            note(it->second.first == t, "R4: committed entry " + std::to_string(i) + " changed");
          }
        }
      }
    }
    // R8: a leader has at most one configuration change not yet applied.
    for (auto& [id, n] : nodes_) {
      const Raft& r = *n.raft;
      if (r.role() != Role::kLeader) continue;
      int unapplied = 0;
      for (uint64_t i = std::max(r.applied_index().value() + 1, r.first_index().value()); i <= r.last_index().value();
           ++i) {
        unapplied += r.entry_at(LogIndex(i))->type == EntryType::kConfigChange ? 1 : 0;
      }
      note(unapplied <= 1, "R8: leader " + id.to_string() + " has " + std::to_string(unapplied) +
                               " configuration changes in flight");
    }
    // R5: a leader holds every entry committed before its term began.
    for (auto& [id, n] : nodes_) {
      const Raft& r = *n.raft;
      if (r.role() != Role::kLeader) continue;
      for (const auto& [i, info] : committed_) {
        if (info.second >= r.term()) continue;
        if (i < r.first_index().value()) continue;
        std::optional<Term> t = r.term_at(LogIndex(i));
        note(t.has_value() && *t == info.first,
             "R5: leader " + id.to_string() + " lacks committed entry " + std::to_string(i));
      }
    }
  }

  void note(bool ok, const std::string& what) {
    if (!ok && !violation_.has_value()) violation_ = what;
  }

  bool record_applied = false;
  bool checks = true;  // the benchmark turns the (quadratic) checker off
  std::function<bool(Message&)> filter;  // may edit the message; return false to drop
  uint64_t messages_sent = 0;
  uint64_t messages_delivered = 0;

 private:
  void start(SimNode& n) {
    ++n.incarnation;
    PersistedState ps;
    ps.hard_state = n.hard_state;
    ps.snapshot = n.snapshot_meta;
    ps.entries = n.entries;
    ps.applied = n.snapshot_meta.index;
    auto r = Raft::create(n.config, std::move(ps), random_.fork("raft", n.id.value() * 1000 + n.incarnation));
    KEEL_ASSERT(r.is_ok());
    n.raft = std::move(r).value();
    std::optional<StateMachine> sm = StateMachine::decode(n.snapshot_data);
    KEEL_ASSERT(sm.has_value());
    n.sm = *sm;
    n.read_states.clear();
    n.applied_entries.clear();
  }

  core::Random random_;
  std::function<void(Config&)> tweak_;
  std::map<NodeId, SimNode> nodes_;
  std::vector<Message> network_;
  std::set<std::pair<NodeId, NodeId>> cut_;
  std::set<NodeId> down_;

  std::optional<std::string> violation_;
  std::map<uint64_t, NodeId> leaders_by_term_;
  std::map<std::pair<uint64_t, uint64_t>, std::tuple<std::optional<Term>, EntryType, uint64_t>> entries_seen_;
  std::map<std::pair<uint32_t, uint64_t>, LogIndex> commit_seen_;
  std::map<uint64_t, std::pair<Term, Term>> committed_;  // index -> (entry term, observer's term)
  std::map<uint64_t, std::pair<Term, Bytes>> applied_;
};

}  // namespace keel::consensus::testing
