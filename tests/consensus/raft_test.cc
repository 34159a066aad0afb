// Scenario tests for consensus/raft.h over the in-memory harness. Each test
// names the section of the Raft paper (or Ongaro's thesis) it exercises.
#include <catch2/catch.hpp>

#include "tests/consensus/raft_harness.h"

namespace keel::consensus {
namespace {

using testing::Cluster;

Bytes cmd(int i) { return "cmd-" + std::to_string(i); }

void no_prevote_no_checkquorum(Config& c) {
  c.pre_vote = false;
  c.check_quorum = false;
}

// §5.2: a lone voter elects itself and commits through its own log.
TEST_CASE("raft: single node elects itself and commits", "[consensus][unit]") {
  Cluster c(1, 1);
  c.run(25);
  REQUIRE(c.raft(1).role() == Role::kLeader);
  REQUIRE(c.propose(cmd(1)).has_value());
  c.stabilize();
  CHECK(c.raft(1).commit_index() == c.raft(1).last_index());
  CHECK(c.node(NodeId(1)).sm.count == 1);
  CHECK(!c.violation());
}

// §5.2 and §5.3: three nodes converge on one leader whose entries reach and
// are applied by everyone; the new leader's no-op commits first.
TEST_CASE("raft: three nodes elect one leader and replicate", "[consensus][unit]") {
  Cluster c(3, 2);
  c.run(40);
  auto leader = c.leader();
  REQUIRE(leader.has_value());
  for (int i = 0; i < 10; ++i) REQUIRE(c.propose(cmd(i)).has_value());
  c.stabilize();
  c.run(2);
  for (auto& [id, n] : c.nodes()) {
    CHECK(n.raft->leader_id() == *leader);
    CHECK(n.raft->commit_index() == c.raft(leader->value()).last_index());
    CHECK(n.sm.count == 10);
    CHECK(n.sm.hash == c.node(*leader).sm.hash);
  }
  CHECK(!c.violation());
}

// §5.4.1: a candidate whose log lacks committed entries cannot win; with the
// test-only bug switch it can, and the checker reports lost commitments.
TEST_CASE("raft: election restriction keeps stale candidates out", "[consensus][unit]") {
  for (bool bug : {false, true}) {
    Cluster c(3, 3, [&](Config& cfg) {
      no_prevote_no_checkquorum(cfg);
      cfg.test_bug_vote_without_log_check = bug;
    });
    c.elect(1);
    REQUIRE(c.raft(1).role() == Role::kLeader);
    c.isolate(NodeId(3));
    for (int i = 0; i < 5; ++i) REQUIRE(c.propose(cmd(i)).has_value());
    c.stabilize();
    REQUIRE(c.raft(2).commit_index() == c.raft(1).last_index());
    c.heal();
    c.set_down(NodeId(1), true);
    c.elect(3);
    if (!bug) {
      CHECK(c.raft(3).role() != Role::kLeader);
      CHECK(!c.violation());
    } else {
      CHECK(c.raft(3).role() == Role::kLeader);
      REQUIRE(c.violation().has_value());
      CAPTURE(*c.violation());
      CHECK((c.violation()->find("R5") != std::string::npos || c.violation()->find("R4") != std::string::npos));
    }
  }
}

// §5.4.2, Figure 8: an entry of an earlier term stored on a majority must not
// be committed by counting, because a later leader may still overwrite it.
TEST_CASE("raft: figure 8, earlier-term entries are not committed by counting", "[consensus][unit]") {
  for (bool bug : {false, true}) {
    Cluster c(5, 4, [&](Config& cfg) {
      no_prevote_no_checkquorum(cfg);
      cfg.append_entries_max = 1;
      cfg.test_bug_commit_previous_term = bug;
    });
    const NodeId s1(1), s5(5);
    // (a) S1 leads and stores X at index 2 on S1 and S2 only.
    c.elect(1);
    REQUIRE(c.raft(1).commit_index() == LogIndex(1));
    for (uint32_t i = 3; i <= 5; ++i) c.cut(s1, NodeId(i));
    REQUIRE(c.propose("X") == LogIndex(2));
    c.stabilize();
    REQUIRE(c.raft(2).term_at(LogIndex(2)) == c.raft(1).term());
    // (b) S1 crashes; S5 wins with S3, S4 and appends its no-op at index 2
    // without replicating it.
    c.heal();
    c.set_down(s1, true);
    c.filter = [&](Message& m) { return !(m.from == s5 && m.type == MessageType::kAppend); };
    c.elect(5);
    REQUIRE(c.raft(5).role() == Role::kLeader);
    REQUIRE(c.raft(5).term_at(LogIndex(2)) == c.raft(5).term());
    // (c) S5 crashes; S1 restarts and wins, then copies X (index 2) to S3
    // but not its own no-op (index 3).
    c.set_down(s5, true);
    c.set_down(s1, false);
    c.restart(s1);
    c.filter = [&](Message& m) {
      if (m.type == MessageType::kAppend) {
        std::erase_if(m.entries, [](const Entry& e) { return e.index >= LogIndex(3); });
      }
      return true;
    };
    for (int attempt = 0; attempt < 5 && c.raft(1).role() != Role::kLeader; ++attempt) c.elect(1);
    REQUIRE(c.raft(1).role() == Role::kLeader);
    c.run(3);
    REQUIRE(c.raft(3).term_at(LogIndex(2)) == c.raft(2).term_at(LogIndex(2)));
    if (!bug) CHECK(c.raft(1).commit_index() == LogIndex(1));
    // (d) S1 crashes; S5 wins again and overwrites index 2 everywhere.
    c.set_down(s1, true);
    c.set_down(s5, false);
    c.restart(s5);
    c.filter = nullptr;
    for (int attempt = 0; attempt < 5 && c.raft(5).role() != Role::kLeader; ++attempt) c.elect(5);
    REQUIRE(c.raft(5).role() == Role::kLeader);
    c.stabilize();
    if (!bug) {
      CHECK(!c.violation());
      CHECK(c.raft(2).term_at(LogIndex(2)) == c.raft(5).term_at(LogIndex(2)));
    } else {
      REQUIRE(c.violation().has_value());
      CAPTURE(*c.violation());
      // Caught as a lost commitment (R4) or a leader lacking it (R5).
      CHECK((c.violation()->find("R4") != std::string::npos || c.violation()->find("R5") != std::string::npos));
    }
  }
}

// §5.3: a follower with a long conflicting suffix is repaired in a few
// round trips thanks to the reject hint (one per term, not one per entry).
TEST_CASE("raft: conflicting follower log is repaired with fast back-off", "[consensus][unit]") {
  Cluster c(3, 5, no_prevote_no_checkquorum);
  c.elect(1);
  c.isolate(NodeId(1));
  for (int i = 0; i < 50; ++i) c.raft(1).propose(cmd(i)).value();
  c.process(NodeId(1));
  c.stabilize();
  c.heal();
  c.isolate(NodeId(1));
  c.elect(2);
  REQUIRE(c.raft(2).role() == Role::kLeader);
  for (int i = 0; i < 60; ++i) REQUIRE(c.propose(cmd(100 + i)).has_value());
  c.stabilize();
  c.heal();
  int rejections = 0;
  c.filter = [&](Message& m) {
    if (m.type == MessageType::kAppendResponse && m.reject && m.from == NodeId(1)) ++rejections;
    return true;
  };
  c.run(3);
  CHECK(c.raft(1).role() == Role::kFollower);
  CHECK(c.raft(1).last_index() == c.raft(2).last_index());
  CHECK(c.node(NodeId(1)).sm.hash == c.node(NodeId(2)).sm.hash);
  CHECK(rejections <= 3);
  CHECK(c.violation().value_or("") == "");
}

// Thesis §9.6: with PreVote a partitioned follower does not inflate its term,
// so on return it does not depose the healthy leader; without PreVote it does.
TEST_CASE("raft: prevote keeps a partitioned node from disrupting the leader", "[consensus][unit]") {
  for (bool pre_vote : {true, false}) {
    Cluster c(3, 6, [&](Config& cfg) {
      cfg.pre_vote = pre_vote;
      cfg.check_quorum = false;
    });
    c.elect(1);
    Term term = c.raft(1).term();
    c.isolate(NodeId(3));
    c.run(60);
    if (pre_vote) {
      CHECK(c.raft(3).term() == term);
    } else {
      CHECK(c.raft(3).term() > term);
    }
    c.heal();
    c.run(30);
    if (pre_vote) {
      CHECK(c.raft(1).role() == Role::kLeader);
      CHECK(c.raft(1).term() == term);
    } else {
      CHECK(c.raft(1).term() > term);
    }
    CHECK(!c.violation());
  }
}

// Thesis §9.6: CheckQuorum makes an isolated leader step down within about
// an election timeout, and the majority side elects a new leader.
TEST_CASE("raft: leader steps down without quorum", "[consensus][unit]") {
  Cluster c(3, 7);
  c.run(40);
  auto old = c.leader();
  REQUIRE(old.has_value());
  c.isolate(*old);
  for (int i = 0; i < 25; ++i) c.run(1);
  CHECK(c.raft(old->value()).role() == Role::kFollower);
  auto now = c.leader();
  REQUIRE(now.has_value());
  CHECK(*now != *old);
  CHECK(!c.violation());
}

// §7: after the leader compacts its log, a follower that missed the
// compacted entries is caught up by a snapshot plus the entries after it.
TEST_CASE("raft: lagging follower is caught up by snapshot", "[consensus][unit]") {
  Cluster c(3, 8, no_prevote_no_checkquorum);
  c.elect(1);
  c.isolate(NodeId(3));
  for (int i = 0; i < 20; ++i) REQUIRE(c.propose(cmd(i)).has_value());
  c.stabilize();
  c.compact(NodeId(1));
  c.compact(NodeId(2));
  LogIndex snap = c.node(NodeId(1)).snapshot_meta.index;
  REQUIRE(snap > LogIndex(20));
  REQUIRE(c.raft(1).first_index() == snap.next());
  c.heal();
  for (int i = 20; i < 25; ++i) REQUIRE(c.propose(cmd(i)).has_value());
  c.run(5);
  CHECK(c.node(NodeId(3)).snapshot_meta.index == snap);
  CHECK(c.raft(3).first_index() == snap.next());
  CHECK(c.raft(3).applied_index() == c.raft(1).last_index());
  CHECK(c.node(NodeId(3)).sm.hash == c.node(NodeId(1)).sm.hash);
  CHECK(c.node(NodeId(3)).sm.count == 25);
  // Restarting from snapshot plus log works too.
  c.restart(NodeId(3));
  c.run(5);
  CHECK(c.node(NodeId(3)).sm.hash == c.node(NodeId(1)).sm.hash);
  CHECK(!c.violation());
}

// A node rebuilt from its persisted state keeps its term, vote and log
// (§5.2 "persistent state"), so it cannot vote twice in one term.
TEST_CASE("raft: restart from persisted state keeps term, vote and log", "[consensus][unit]") {
  Cluster c(3, 9, no_prevote_no_checkquorum);
  c.elect(1);
  for (int i = 0; i < 5; ++i) REQUIRE(c.propose(cmd(i)).has_value());
  c.stabilize();
  Term term = c.raft(2).term();
  LogIndex last = c.raft(2).last_index();
  c.restart(NodeId(2));
  CHECK(c.raft(2).term() == term);
  CHECK(c.raft(2).vote() == NodeId(1));
  CHECK(c.raft(2).last_index() == last);
  // A second candidate in the same term is refused by the restarted voter.
  Message vote;
  vote.type = MessageType::kVote;
  vote.from = NodeId(3);
  vote.to = NodeId(2);
  vote.term = term;
  vote.index = last;
  vote.log_term = term;
  REQUIRE(c.raft(2).step(vote).is_ok());
  Ready rd = c.raft(2).ready();
  REQUIRE(rd.messages.size() == 1);
  CHECK(rd.messages[0].reject);
  c.raft(2).advance();
  // The whole cluster restarted re-applies the same history.
  uint64_t hash = c.node(NodeId(1)).sm.hash;
  for (uint32_t i = 1; i <= 3; ++i) c.restart(NodeId(i));
  c.run(40);
  for (uint32_t i = 1; i <= 3; ++i) CHECK(c.node(NodeId(i)).sm.hash == hash);
  CHECK(!c.violation());
}

// §6 / thesis §4: a learner receives the log without voting, is promoted by a
// one-voter change; a two-voter change goes through a joint configuration
// that the leader leaves on its own; a removed leader steps down.
TEST_CASE("raft: membership changes, learners and joint consensus", "[consensus][unit]") {
  Cluster c(3, 10);
  c.run(40);
  auto leader = c.leader();
  REQUIRE(leader.has_value());
  Raft& l = c.raft(leader->value());
  for (int i = 0; i < 5; ++i) REQUIRE(c.propose(cmd(i)).has_value());
  c.stabilize();

  c.add_node(NodeId(4), ConfigState{});
  REQUIRE(l.propose_config(ConfigState{{NodeId(1), NodeId(2), NodeId(3)}, {}, {NodeId(4)}}).is_ok());
  // Only one change in flight.
  CHECK(l.propose_config(ConfigState{{NodeId(1), NodeId(2)}, {}, {}}).status().code() == core::Code::kUnavailable);
  c.run(3);
  CHECK(c.raft(4).config_state().is_learner(NodeId(4)));
  CHECK(c.node(NodeId(4)).sm.count == 5);
  CHECK(l.progress().at(NodeId(4)).is_learner());

  REQUIRE(l.propose_config(ConfigState{{NodeId(1), NodeId(2), NodeId(3), NodeId(4)}, {}, {}}).is_ok());
  c.run(3);
  for (auto& [id, n] : c.nodes()) CHECK(n.raft->config_state().voters.size() == 4);

  // Replace two voters at once: joint configuration first.
  c.add_node(NodeId(5), ConfigState{});
  c.add_node(NodeId(6), ConfigState{});
  std::set<NodeId> keep = {*leader, NodeId(5), NodeId(6)};
  for (uint32_t i = 1; i <= 4 && keep.size() < 4; ++i) keep.insert(NodeId(i));
  ConfigState target{keep, {}, {}};
  bool saw_joint = false;
  c.filter = [&](Message& m) {
    for (const Entry& e : m.entries) {
      if (e.type == EntryType::kConfigChange) saw_joint = saw_joint || decode_config(e.data)->joint();
    }
    return true;
  };
  REQUIRE(l.propose_config(target).is_ok());
  c.run(10);
  c.filter = nullptr;
  CHECK(saw_joint);
  for (NodeId id : keep) CHECK(c.node(id).raft->config_state() == target);
  REQUIRE(c.propose(cmd(99)).has_value());
  c.run(3);
  for (NodeId id : keep) CHECK(c.node(id).sm.count == 6);

  // Remove the leader: it steps down once the change applies, the rest elect.
  std::set<NodeId> rest = keep;
  rest.erase(*leader);
  REQUIRE(l.propose_config(ConfigState{rest, {}, {}}).is_ok());
  c.run(40);
  CHECK(l.role() == Role::kFollower);
  auto next = c.leader();
  REQUIRE(next.has_value());
  CHECK(rest.count(*next) == 1);
  CHECK(!c.violation());
}

// Thesis §3.10: leadership transfer hands over to a caught-up follower.
TEST_CASE("raft: leadership transfer with timeout-now", "[consensus][unit]") {
  Cluster c(3, 11);
  c.run(40);
  auto old = c.leader();
  REQUIRE(old.has_value());
  NodeId target = *old == NodeId(2) ? NodeId(3) : NodeId(2);
  Term term = c.raft(old->value()).term();
  REQUIRE(c.raft(old->value()).transfer_leadership(target).is_ok());
  CHECK(c.raft(old->value()).propose(cmd(1)).status().code() == core::Code::kUnavailable);
  c.stabilize();
  CHECK(c.raft(target.value()).role() == Role::kLeader);
  CHECK(c.raft(target.value()).term() > term);
  CHECK(c.raft(old->value()).role() == Role::kFollower);
  CHECK(!c.violation());
}

// §8 / thesis §6.4: ReadIndex needs a heartbeat round acknowledged by a
// quorum; an isolated leader cannot serve; followers forward to the leader.
TEST_CASE("raft: read index confirms leadership before serving", "[consensus][unit]") {
  Cluster c(3, 12);
  c.run(40);
  auto leader = c.leader();
  REQUIRE(leader.has_value());
  NodeId follower = *leader == NodeId(1) ? NodeId(2) : NodeId(1);
  for (int i = 0; i < 3; ++i) REQUIRE(c.propose(cmd(i)).has_value());
  c.stabilize();
  {
    auto& ln = c.node(*leader);
    REQUIRE(ln.raft->read_index("r1").is_ok());
    c.process(*leader);
    CHECK(ln.read_states.empty());  // not before a quorum answers
    c.stabilize();
    REQUIRE(ln.read_states.size() == 1);
    CHECK(ln.read_states[0].context == "r1");
    CHECK(ln.read_states[0].index == ln.raft->commit_index());
  }
  auto& fn = c.node(follower);
  REQUIRE(fn.raft->read_index("r2").is_ok());
  c.stabilize();
  REQUIRE(fn.read_states.size() == 1);
  CHECK(fn.read_states[0].index == c.raft(leader->value()).commit_index());

  c.isolate(*leader);
  auto& ln = c.node(*leader);
  ln.read_states.clear();
  REQUIRE(ln.raft->read_index("r3").is_ok());
  c.stabilize();
  CHECK(ln.read_states.empty());
  CHECK(!c.violation());
}

// Thesis §6.4.1: with lease reads a leader serves at once while a quorum
// recently acknowledged its heartbeats, and stops before followers may elect
// someone else (election timeout minus the drift margin).
TEST_CASE("raft: lease reads are served only within the lease", "[consensus][unit]") {
  Cluster c(3, 13, [](Config& cfg) { cfg.lease_reads = true; });
  c.run(60);
  auto leader = c.leader();
  REQUIRE(leader.has_value());
  auto& ln = c.node(*leader);
  c.run(2);
  REQUIRE(ln.raft->lease_valid());
  REQUIRE(ln.raft->read_index("fast").is_ok());
  c.process(*leader);
  REQUIRE(ln.read_states.size() == 1);  // served without a round trip
  c.isolate(*leader);
  uint64_t ticks = 0;
  while (ln.raft->lease_valid()) {
    // The other nodes cannot elect a leader while the lease holds.
    for (auto& [id, n] : c.nodes()) CHECK((id == *leader || n.raft->role() != Role::kLeader));
    c.tick_all();
    c.stabilize();
    ++ticks;
  }
  const Config& cfg = ln.raft->config();
  CHECK(ticks <= cfg.election_timeout_ticks - cfg.lease_margin_ticks);
  CHECK(!c.violation());
}

// Named maximums push back: uncommitted entries and non-leaders.
TEST_CASE("raft: propose pushes back when over the uncommitted limit", "[consensus][unit]") {
  Cluster c(3, 14, [](Config& cfg) {
    no_prevote_no_checkquorum(cfg);
    cfg.uncommitted_entries_max = 5;
  });
  c.elect(1);
  CHECK(c.raft(2).propose(cmd(0)).status().code() == core::Code::kFailedPrecondition);
  c.isolate(NodeId(1));
  for (int i = 0; i < 5; ++i) REQUIRE(c.raft(1).propose(cmd(i)).is_ok());
  CHECK(c.raft(1).propose(cmd(5)).status().code() == core::Code::kUnavailable);
  c.heal();
  c.run(2);
  CHECK(c.raft(1).propose(cmd(5)).is_ok());
}

// §5.3 pipelining: a follower in replicate state has at most inflight_max
// unacknowledged appends, each with at most append_entries_max entries.
TEST_CASE("raft: replication pipeline respects the in-flight window", "[consensus][unit]") {
  Cluster c(3, 15, [](Config& cfg) {
    no_prevote_no_checkquorum(cfg);
    cfg.inflight_max = 4;
    cfg.append_entries_max = 2;
  });
  c.elect(1);
  for (int i = 0; i < 40; ++i) REQUIRE(c.raft(1).propose(cmd(i)).is_ok());
  c.process(NodeId(1));
  size_t to_two = 0;
  for (const Message& m : c.network()) {
    if (m.to == NodeId(2) && m.type == MessageType::kAppend) {
      ++to_two;
      CHECK(m.entries.size() <= 2);
    }
  }
  CHECK(to_two == 4);
  CHECK(c.raft(1).progress().at(NodeId(2)).state() == ProgressState::kReplicate);
  CHECK(c.raft(1).progress().at(NodeId(2)).inflight_count() == 4);
  c.stabilize();
  CHECK(c.raft(2).last_index() == c.raft(1).last_index());
  CHECK(!c.violation());
}

// Bytes from the network are validated, not asserted on.
TEST_CASE("raft: malformed messages are rejected", "[consensus][unit]") {
  Cluster c(3, 16);
  Message m;
  m.type = MessageType::kAppend;
  m.from = NodeId(2);
  m.to = NodeId(3);
  m.term = Term(1);
  CHECK(c.raft(1).step(m).code() == core::Code::kInvalidArgument);  // wrong recipient
  m.to = NodeId(1);
  m.entries.push_back(Entry{Term(1), LogIndex(5), EntryType::kNormal, "x"});
  CHECK(c.raft(1).step(m).code() == core::Code::kInvalidArgument);  // gap
  m.entries[0].index = LogIndex(1);
  m.entries[0].term = Term(2);
  CHECK(c.raft(1).step(m).code() == core::Code::kInvalidArgument);  // entry term above message term
  Message s;
  s.type = MessageType::kSnapshot;
  s.from = NodeId(2);
  s.to = NodeId(1);
  s.term = Term(1);
  CHECK(c.raft(1).step(s).code() == core::Code::kInvalidArgument);  // no snapshot
  CHECK(!decode_config("garbage").is_ok());
  ConfigState cs{{NodeId(1), NodeId(2)}, {NodeId(3)}, {NodeId(4)}};
  auto decoded = decode_config(encode_config(cs));
  REQUIRE(decoded.is_ok());
  CHECK(*decoded == cs);
}

// The commit-without-quorum bug switch is caught by the checker.
TEST_CASE("raft: checker catches commit without quorum", "[consensus][unit]") {
  Cluster c(3, 17, [](Config& cfg) {
    no_prevote_no_checkquorum(cfg);
    cfg.test_bug_commit_without_quorum = true;
  });
  c.elect(1);
  c.isolate(NodeId(1));
  for (int i = 0; i < 3; ++i) c.raft(1).propose(cmd(i)).value();
  c.stabilize();
  c.heal();
  c.isolate(NodeId(1));
  c.elect(2);
  REQUIRE(c.raft(2).role() == Role::kLeader);
  REQUIRE(c.propose(cmd(10)).has_value());
  c.stabilize();
  c.heal();
  c.run(3);
  REQUIRE(c.violation().has_value());
  CAPTURE(*c.violation());
  CHECK((c.violation()->find("R4") != std::string::npos || c.violation()->find("R6") != std::string::npos));
}

// §5.3 with R7: a follower acknowledges an append at step() time, but the
// acknowledgement leaves only with the next Ready. If a newer leader's
// append replaces those entries first, the old acknowledgement must not
// leave: the entries it vouches for are never persisted.
TEST_CASE("raft: an acknowledgement for entries replaced before the Ready is dropped", "[consensus][unit]") {
  Config cfg;
  cfg.id = NodeId(1);
  PersistedState ps;
  ps.snapshot.config.voters = {NodeId(1), NodeId(2), NodeId(3)};
  auto created = Raft::create(cfg, ps, core::Random(7));
  REQUIRE(created.is_ok());
  Raft& r = **created;
  auto entry = [](uint64_t term, uint64_t index) { return Entry{Term(term), LogIndex(index), EntryType::kNormal, "x"}; };
  Message a;
  a.type = MessageType::kAppend;
  a.from = NodeId(2);
  a.to = NodeId(1);
  a.term = Term(2);
  a.index = LogIndex(0);
  a.log_term = Term(0);
  a.entries = {entry(2, 1), entry(2, 2), entry(2, 3)};
  REQUIRE(r.step(a).is_ok());
  // Node 3 won term 3 holding only index 1 of term 2, and overwrites 2..3.
  Message b;
  b.type = MessageType::kAppend;
  b.from = NodeId(3);
  b.to = NodeId(1);
  b.term = Term(3);
  b.index = LogIndex(1);
  b.log_term = Term(2);
  b.entries = {entry(3, 2)};
  REQUIRE(r.step(b).is_ok());
  Ready rd = r.ready();
  REQUIRE(!rd.entries.empty());
  CHECK(rd.entries.back().index == LogIndex(2));
  bool acked_new_leader = false;
  for (const Message& m : rd.messages) {
    if (m.type != MessageType::kAppendResponse || m.reject) continue;
    CAPTURE(m.to.value(), m.index.value());
    CHECK(m.index <= LogIndex(2));
    CHECK(m.to == NodeId(3));
    acked_new_leader = acked_new_leader || m.to == NodeId(3);
  }
  CHECK(acked_new_leader);
}

}  // namespace
}  // namespace keel::consensus
