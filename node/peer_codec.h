// The peer bus's frames on the wire (net/raft.capnp): the handshake, the
// controller group's Raft messages (consensus::Message), partition
// replication (consensus::PartitionMessage) and the node <-> controller
// session (ControlMessage).
//
// Decoding validates everything the pure state machines would otherwise
// trust: message, entry and error types, and that the payload is a
// well-formed message. Bytes from the network are never asserted on.
#pragma once

#include <string>

#include "consensus/partition.h"
#include "consensus/types.h"
#include "core/bytes.h"
#include "core/status.h"

namespace keel::node {

struct PeerHelloInfo {
  core::NodeId from;
  core::NodeId to;
  uint64_t cluster_proof = 0;
  uint64_t nonce = 0;
  std::string client_address;
};

// The node <-> controller session (node/cluster_node.h).
enum class ControlKind : uint8_t {
  // node -> controller leader: "I am alive" with its incarnation, addresses,
  // its clock at sending and the metadata version it holds.
  kHeartbeat = 1,
  // controller leader -> node: whether the heartbeat earned a lease, and the
  // metadata image when it is newer than what the node holds.
  kHeartbeatReply,
  // partition leader -> controller leader: an encoded kAlterIsr command.
  kAlterIsr,
};

struct ControlMessage {
  ControlKind kind = ControlKind::kHeartbeat;
  uint64_t incarnation = 0;
  int64_t sent_local = 0;  // nanoseconds on the heartbeating node's clock
  uint64_t metadata_version = 0;
  bool granted = false;
  std::string peer_address;
  std::string client_address;
  core::Bytes payload;
};

core::Bytes encode_raft_message(const consensus::Message& msg);
core::Bytes encode_partition_message(const consensus::PartitionMessage& msg);
core::Bytes encode_control_message(const ControlMessage& msg);
core::Bytes encode_peer_hello(const PeerHelloInfo& hello);

// A decoded peer frame: exactly one member is set.
struct PeerFrameContents {
  std::optional<PeerHelloInfo> hello;
  std::optional<consensus::Message> raft;
  std::optional<consensus::PartitionMessage> partition;
  std::optional<ControlMessage> control;
};

// Errors: InvalidArgument for malformed bytes or out-of-range fields.
core::Result<PeerFrameContents> decode_peer_frame(core::ByteView bytes);

// The proof a connecting node presents: a keyed XXH3 of the shared cluster
// secret, both node ids and a nonce. Stops stray or misconfigured
// connections from injecting consensus messages; it is not encryption.
uint64_t cluster_proof(std::string_view secret, core::NodeId from, core::NodeId to, uint64_t nonce);

}  // namespace keel::node
