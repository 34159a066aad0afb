// Raft messages on the wire: consensus::Message <-> Cap'n Proto bytes
// (net/raft.capnp), and the peer handshake.
//
// Decoding validates everything Raft would otherwise trust: the message
// type, entry types, and that the payload is a well-formed message. Bytes
// from the network are never asserted on.
#pragma once

#include <string>

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

core::Bytes encode_raft_message(const consensus::Message& msg);
core::Bytes encode_peer_hello(const PeerHelloInfo& hello);

// A decoded peer frame: exactly one of the two is set.
struct PeerFrameContents {
  std::optional<PeerHelloInfo> hello;
  std::optional<consensus::Message> raft;
};

// Errors: InvalidArgument for malformed bytes or out-of-range fields.
core::Result<PeerFrameContents> decode_peer_frame(core::ByteView bytes);

// The proof a connecting node presents: a keyed XXH3 of the shared cluster
// secret, both node ids and a nonce. Stops stray or misconfigured
// connections from injecting consensus messages; it is not encryption.
uint64_t cluster_proof(std::string_view secret, core::NodeId from, core::NodeId to, uint64_t nonce);

}  // namespace keel::node
