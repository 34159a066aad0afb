// The online Raft checker's send-time rule (R7, durable before counted),
// fed planted messages directly: each bad send is reported, each good one
// is not.
#include <catch2/catch.hpp>

#include "sim/raft_invariants.h"

#include <memory>
#include <string>

namespace {

using keel::consensus::HardState;
using keel::consensus::Message;
using keel::consensus::MessageType;
using keel::core::LogIndex;
using keel::core::NodeId;
using keel::core::Term;
using keel::sim::RaftInvariants;

Message message(MessageType type, uint64_t term, uint64_t index, bool reject = false) {
  Message m;
  m.type = type;
  m.from = NodeId(1);
  m.to = NodeId(2);
  m.term = Term(term);
  m.index = LogIndex(index);
  m.reject = reject;
  return m;
}

HardState durable(uint64_t term, uint32_t vote) {
  HardState hs;
  hs.term = Term(term);
  hs.vote = NodeId(vote);
  return hs;
}

}  // namespace

TEST_CASE("raft invariants: R7 flags sends that outrun what is durable", "[sim][unit]") {
  struct Case {
    const char* what;
    Message msg;
    uint64_t synced;
    HardState on_disk;
    bool violation;
  };
  const Case cases[] = {
      {"ack within the synced log", message(MessageType::kAppendResponse, 3, 10), 10, durable(3, 0), false},
      {"ack beyond the synced log", message(MessageType::kAppendResponse, 3, 11), 10, durable(3, 0), true},
      {"rejection beyond the synced log", message(MessageType::kAppendResponse, 3, 11, true), 10, durable(3, 0),
       false},
      {"vote on disk", message(MessageType::kVoteResponse, 3, 0), 10, durable(3, 2), false},
      {"vote not on disk", message(MessageType::kVoteResponse, 3, 0), 10, durable(3, 0), true},
      {"vote in a term not on disk", message(MessageType::kVoteResponse, 4, 0), 10, durable(3, 2), true},
      {"append ahead of the leader's own sync", message(MessageType::kAppend, 3, 50), 10, durable(3, 1), false},
      {"append in a term not on disk", message(MessageType::kAppend, 4, 10), 10, durable(3, 1), true},
      {"heartbeat in a term not on disk", message(MessageType::kHeartbeat, 4, 0), 10, durable(3, 1), true},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    RaftInvariants checker;
    RaftInvariants::NodeObserver observer(checker, NodeId(1), 1);
    observer.on_send(c.msg, LogIndex(c.synced), c.on_disk);
    CHECK(checker.violations().empty() == !c.violation);
    if (c.violation) {
      REQUIRE(!checker.violations().empty());
      CHECK(checker.violations().front().find("R7") != std::string::npos);
    }
  }
}

namespace {

// A Raft node holding entries 1..`last` of term 1, with `commit` committed,
// in a group of voters 1, 2 and 3.
std::unique_ptr<keel::consensus::Raft> raft_with_log(uint32_t id, uint64_t last, uint64_t commit) {
  keel::consensus::PersistedState p;
  p.hard_state.term = Term(1);
  p.hard_state.commit = LogIndex(commit);
  p.snapshot.config.voters = {NodeId(1), NodeId(2), NodeId(3)};
  for (uint64_t i = 1; i <= last; ++i) {
    p.entries.push_back(keel::consensus::Entry{Term(1), LogIndex(i), {}, "e" + std::to_string(i)});
  }
  keel::consensus::Config config;
  config.id = NodeId(id);
  auto raft = keel::consensus::Raft::create(config, std::move(p), keel::core::Random(id));
  KEEL_ASSERT(raft.is_ok());
  return std::move(*raft);
}

}  // namespace

TEST_CASE("raft invariants: R7 flags an entry committed before a quorum holds it durably", "[sim][unit]") {
  SECTION("two of three voters synced it: no violation") {
    RaftInvariants checker;
    RaftInvariants::NodeObserver n1(checker, NodeId(1), 1);
    RaftInvariants::NodeObserver n2(checker, NodeId(2), 1);
    auto follower = raft_with_log(2, 5, 0);
    n2.on_persisted(*follower, LogIndex(5));
    auto leader = raft_with_log(1, 5, 5);
    REQUIRE(leader->commit_index() == LogIndex(5));
    n1.on_ready_handled(*leader, LogIndex(5));
    CHECK(checker.violations().empty());
  }
  SECTION("the leader counted its own unsynced entries") {
    RaftInvariants checker;
    RaftInvariants::NodeObserver n1(checker, NodeId(1), 1);
    RaftInvariants::NodeObserver n2(checker, NodeId(2), 1);
    auto follower = raft_with_log(2, 5, 0);
    n2.on_persisted(*follower, LogIndex(5));
    auto leader = raft_with_log(1, 5, 5);
    n1.on_ready_handled(*leader, LogIndex(3));
    // Index 5 is durable on node 2 alone.
    REQUIRE_FALSE(checker.violations().empty());
    CHECK(checker.violations().front().find("R7 durable before counted") != std::string::npos);
    CHECK(checker.violations().front().find("only {2} of 3 voters") != std::string::npos);
  }
  SECTION("a follower's durable entries were replaced after it acknowledged them") {
    RaftInvariants checker;
    RaftInvariants::NodeObserver n1(checker, NodeId(1), 1);
    RaftInvariants::NodeObserver n2(checker, NodeId(2), 1);
    n2.on_persisted(*raft_with_log(2, 5, 0), LogIndex(5));
    // Node 2 later holds only 1..3 (a newer leader's append truncated it).
    n2.on_persisted(*raft_with_log(2, 3, 0), LogIndex(3));
    n1.on_ready_handled(*raft_with_log(1, 5, 5), LogIndex(5));
    REQUIRE_FALSE(checker.violations().empty());
    CHECK(checker.violations().front().find("index 4") != std::string::npos);
  }
}
