#include "node/raft_codec.h"

#include <catch2/catch.hpp>

using keel::consensus::Entry;
using keel::consensus::EntryType;
using keel::consensus::Message;
using keel::consensus::MessageType;
using keel::core::LogIndex;
using keel::core::NodeId;
using keel::core::Term;

TEST_CASE("raft codec: messages round-trip, malformed bytes are rejected", "[node][unit]") {
  Message m;
  m.type = MessageType::kSnapshot;
  m.from = NodeId(1);
  m.to = NodeId(3);
  m.term = Term(7);
  m.index = LogIndex(41);
  m.log_term = Term(6);
  m.entries.push_back(Entry{Term(7), LogIndex(42), EntryType::kNormal, std::string("a\0b", 3)});
  m.commit = LogIndex(40);
  m.reject = true;
  m.reject_hint = LogIndex(12);
  m.round = 99;
  m.context = "ctx";
  keel::consensus::Snapshot snap;
  snap.meta.index = LogIndex(30);
  snap.meta.term = Term(5);
  snap.meta.config.voters = {NodeId(1), NodeId(2), NodeId(3)};
  snap.data = "state";
  m.snapshot = snap;
  auto decoded = keel::node::decode_peer_frame(keel::node::encode_raft_message(m));
  REQUIRE(decoded.is_ok());
  REQUIRE(decoded->raft.has_value());
  const Message& d = *decoded->raft;
  REQUIRE(d.type == m.type);
  REQUIRE(d.entries == m.entries);
  REQUIRE(d.commit == m.commit);
  REQUIRE(d.reject_hint == m.reject_hint);
  REQUIRE(d.context == m.context);
  REQUIRE(d.snapshot->meta == snap.meta);
  REQUIRE(d.snapshot->data == snap.data);

  REQUIRE(keel::node::decode_peer_frame("garbage!").status().code() == keel::core::Code::kInvalidArgument);
  REQUIRE_FALSE(keel::node::decode_peer_frame("").is_ok());
}
