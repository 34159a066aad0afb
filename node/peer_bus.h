// PeerBus: a node's one transport to each other node (doc/ARCHITECTURE.md
// section 9). The controller group's Raft messages, every partition's
// fetches and the node <-> controller session share it, so a node pair has
// one outgoing connection each way and one back-pressure budget.
//
// Fibers:
//   bus.accept / bus.peer-in   incoming connections: a peer must open with a
//                              hello proving the cluster secret (a keyed
//                              hash, node/peer_codec.h) within the
//                              handshake timeout; then each frame is decoded
//                              and handed to the handler of its kind
//   bus.peer-out               one per peer: connects, says hello, writes
//                              queued frames, coalesced
//
// A peer speaks only for itself: a Raft or partition message whose `from`
// is not the authenticated peer is dropped. Frames for an unreachable peer
// are dropped (every protocol on the bus retransmits), and so are frames
// beyond the link's byte budget; `done` callbacks learn which.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include "consensus/partition.h"
#include "consensus/types.h"
#include "core/env.h"
#include "core/fiber_group.h"
#include "core/sync.h"
#include "node/peer_codec.h"

namespace keel::node {

struct MemberAddresses {
  core::Address peer;    // the peer bus
  core::Address client;  // RESP, for -MOVED and CLUSTER SLOTS
};

struct PeerBusOptions {
  core::NodeId id;
  // Every node of the cluster, this one included.
  std::map<core::NodeId, MemberAddresses> members;
  // Peers prove knowledge of this secret when they connect.
  std::string cluster_secret = "keel";
  core::Duration connect_timeout = core::Duration::millis(500);
  // An incoming connection must complete its handshake within this.
  core::Duration handshake_timeout = core::Duration::seconds(5);
  // Encoded bytes queued for one peer; beyond it frames are dropped.
  size_t peer_queue_bytes_max = 64 * 1024 * 1024;
  size_t frame_bytes_max = 256 * 1024 * 1024;
};

class PeerBus {
 public:
  // Handlers run on the receiving fiber; they must not suspend for long
  // (queue the message and wake the consumer).
  using RaftHandler = std::function<void(consensus::Message)>;
  using PartitionHandler = std::function<void(consensus::PartitionMessage)>;
  using ControlHandler = std::function<void(core::NodeId from, ControlMessage)>;
  using UnreachableHandler = std::function<void(core::NodeId)>;
  // Called once per frame: failed = true when it was dropped or its write
  // failed, false once written to the connection.
  using Done = std::function<void(bool failed)>;

  PeerBus(core::Env& env, PeerBusOptions options);
  ~PeerBus();
  PeerBus(const PeerBus&) = delete;
  PeerBus& operator=(const PeerBus&) = delete;

  // Set before start().
  void on_raft(RaftHandler h) { raft_handler_ = std::move(h); }
  void on_partition(PartitionHandler h) { partition_handler_ = std::move(h); }
  void on_control(ControlHandler h) { control_handler_ = std::move(h); }
  void on_unreachable(UnreachableHandler h) { unreachable_handler_ = std::move(h); }

  // Listens on this node's peer address and starts the fibers. Errors from
  // Network::listen. May suspend.
  core::Status start();
  void stop();

  // Queues an encoded frame (node/peer_codec.h) for `to`. False (and `done`
  // called with failed = true) when `to` is not a member or the link's
  // budget is spent.
  bool send(core::NodeId to, core::Bytes payload, Done done = {});

  core::NodeId id() const { return options_.id; }
  const PeerBusOptions& options() const { return options_; }
  // A member's client (RESP) address: configured, or learned from its
  // handshake; nullopt while unknown.
  std::optional<core::Address> client_address(core::NodeId id) const;
  uint64_t dropped_frames() const { return dropped_frames_; }
  uint64_t refused_frames() const { return refused_frames_; }

 private:
  struct Link;

  void accept_loop();
  void serve(std::shared_ptr<core::Stream> stream);
  void peer_out(Link& link);
  void drop_queue(Link& link);

  core::Env& env_;
  PeerBusOptions options_;
  RaftHandler raft_handler_;
  PartitionHandler partition_handler_;
  ControlHandler control_handler_;
  UnreachableHandler unreachable_handler_;
  std::unique_ptr<core::Listener> listener_;
  std::map<core::NodeId, std::unique_ptr<Link>> links_;
  std::map<core::NodeId, core::Address> learned_client_addresses_;
  uint64_t dropped_frames_ = 0;
  uint64_t refused_frames_ = 0;
  bool running_ = false;
  // Last: destroyed first, killing the fibers that use the members above.
  core::FiberGroup fibers_;
};

}  // namespace keel::node
