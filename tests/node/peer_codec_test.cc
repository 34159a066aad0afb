#include "node/peer_codec.h"

#include <catch2/catch.hpp>

using keel::consensus::Entry;
using keel::consensus::EntryType;
using keel::consensus::Message;
using keel::consensus::MessageType;
using keel::core::LogIndex;
using keel::core::NodeId;
using keel::core::Term;

TEST_CASE("peer codec: raft messages round-trip, malformed bytes are rejected", "[node][unit]") {
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

TEST_CASE("peer codec: partition messages round-trip, unknown types and errors are rejected", "[node][unit]") {
  keel::consensus::PartitionMessage m;
  m.type = keel::consensus::PartitionMessageType::kFetchResponse;
  m.partition = keel::core::PartitionId(17);
  m.from = NodeId(2);
  m.to = NodeId(3);
  m.epoch = keel::core::Epoch(9);
  m.fetch_id = 44;
  m.fetch_offset = keel::core::Offset(100);
  m.last_epoch = keel::core::Epoch(8);
  m.incarnation = 5;
  m.error = keel::consensus::FetchError::kDiverging;
  m.records.push_back({keel::core::Epoch(9), keel::core::Offset(100), std::string("x\0y", 3)});
  m.records.push_back({keel::core::Epoch(9), keel::core::Offset(101), "z"});
  m.high_watermark = keel::core::Offset(99);
  m.diverging_epoch = keel::core::Epoch(7);
  m.diverging_end = keel::core::Offset(90);
  m.snapshot_offset = keel::core::Offset(50);
  m.snapshot_epoch = keel::core::Epoch(6);
  m.snapshot_data = "image";
  auto decoded = keel::node::decode_peer_frame(keel::node::encode_partition_message(m));
  REQUIRE(decoded.is_ok());
  REQUIRE(decoded->partition.has_value());
  const auto& d = *decoded->partition;
  REQUIRE(d.type == m.type);
  REQUIRE(d.partition == m.partition);
  REQUIRE(d.from == m.from);
  REQUIRE(d.to == m.to);
  REQUIRE(d.epoch == m.epoch);
  REQUIRE(d.fetch_id == m.fetch_id);
  REQUIRE(d.fetch_offset == m.fetch_offset);
  REQUIRE(d.last_epoch == m.last_epoch);
  REQUIRE(d.incarnation == m.incarnation);
  REQUIRE(d.error == m.error);
  REQUIRE(d.records == m.records);
  REQUIRE(d.high_watermark == m.high_watermark);
  REQUIRE(d.diverging_epoch == m.diverging_epoch);
  REQUIRE(d.diverging_end == m.diverging_end);
  REQUIRE(d.snapshot_offset == m.snapshot_offset);
  REQUIRE(d.snapshot_epoch == m.snapshot_epoch);
  REQUIRE(d.snapshot_data == m.snapshot_data);

  // An error code from a newer or broken sender is refused, not trusted.
  m.error = static_cast<keel::consensus::FetchError>(200);
  REQUIRE(keel::node::decode_peer_frame(keel::node::encode_partition_message(m)).status().code() ==
          keel::core::Code::kInvalidArgument);
}

TEST_CASE("peer codec: control messages round-trip, unknown kinds are rejected", "[node][unit]") {
  keel::node::ControlMessage m;
  m.kind = keel::node::ControlKind::kHeartbeatReply;
  m.incarnation = 3;
  m.sent_local = -12345;
  m.metadata_version = 77;
  m.granted = true;
  m.peer_address = "10.0.0.1:7000";
  m.client_address = "10.0.0.1:6379";
  m.payload = std::string("img\0", 4);
  auto decoded = keel::node::decode_peer_frame(keel::node::encode_control_message(m));
  REQUIRE(decoded.is_ok());
  REQUIRE(decoded->control.has_value());
  const auto& d = *decoded->control;
  REQUIRE(d.kind == m.kind);
  REQUIRE(d.incarnation == m.incarnation);
  REQUIRE(d.sent_local == m.sent_local);
  REQUIRE(d.metadata_version == m.metadata_version);
  REQUIRE(d.granted);
  REQUIRE(d.peer_address == m.peer_address);
  REQUIRE(d.client_address == m.client_address);
  REQUIRE(d.payload == m.payload);
  m.kind = static_cast<keel::node::ControlKind>(0);
  REQUIRE(keel::node::decode_peer_frame(keel::node::encode_control_message(m)).status().code() ==
          keel::core::Code::kInvalidArgument);
}
