// The online Raft checker's send-time rule (R7, durable before counted),
// fed planted messages directly: each bad send is reported, each good one
// is not.
#include <catch2/catch.hpp>

#include "sim/raft_invariants.h"

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
