// run_cluster_node: one keel v0.2 node - the keyspace split over
// ISR-replicated partitions under the Raft metadata controller
// (doc/ARCHITECTURE.md section 9), composed on an Env:
//
//   PeerBus            one transport per node pair (node/peer_bus.h)
//   controller member  a RaftNode over the ControllerStateMachine, and the
//                      ControllerService that acts while it leads
//   session agent      heartbeats the controller leader every
//                      `heartbeat_interval`; each answer brings the
//                      metadata when it changed (handed to the partition
//                      drivers as their records) and, when granted, a lease
//                      from the heartbeat's send time (the drivers' read
//                      lease)
//   PartitionDrivers   one per partition this node replicates, on one
//                      shared KvEngine, their fetches on the bus
//   RespServer         routes each keyed command: served by the local
//                      partition leader, or -MOVED / -CROSSSLOT /
//                      -CLUSTERDOWN; CLUSTER SLOTS/SHARDS/NODES/INFO from
//                      the metadata; READONLY connections read at a local
//                      follower's applied offset
//
// The node's incarnation (bumped by every start, durable) names its process
// to the controller: a restarted node registers anew and its partitions get
// new leader epochs.
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "consensus/controller.h"
#include "consensus/partition.h"
#include "core/env.h"
#include "node/controller_service.h"
#include "node/peer_bus.h"
#include "node/raft_node.h"
#include "node/resp_server.h"

namespace keel::storage {
class KvEngine;
}

namespace keel::node {

struct ClusterNodeConfig {
  // The controller member: id, every member's addresses, Raft settings; its
  // dir defaults to "controller/raft".
  RaftNodeOptions controller;
  // The peer bus's settings; its id and members are the controller's.
  PeerBusOptions peers;
  // Partitions, replication factor, sessions (lease, drift bound); the
  // node list defaults to every member in id order.
  ControllerServiceOptions service;
  consensus::MetadataConfig metadata;
  // Every partition replica's settings (min ISR, lag, fetch sizes); the
  // partition and node ids are filled in.
  consensus::PartitionConfig partition;
  core::Duration partition_tick = core::Duration::millis(10);
  uint64_t compact_every = 10000;
  // acks=all: a write is acknowledged once committed (HW passed it);
  // acks=1: once durable on the leader.
  bool acks_all = true;
  core::Duration heartbeat_interval = core::Duration::millis(100);
  core::Address client_address;
  std::function<core::Result<std::unique_ptr<storage::KvEngine>>(core::Env&)> open_engine;
  std::string requirepass;
  RespServerLimits client_limits;
  std::optional<core::Address> metrics_address;
  // Test and simulation hooks; null in production. `observer` watches the
  // controller member; `on_running` is called with true once the node
  // serves and with false before it stops.
  RaftObserver* observer = nullptr;
  std::function<void(bool)> on_running;
};

// Runs until the node fails (a storage error) or its process dies. Returns
// why it stopped. May suspend.
core::Status run_cluster_node(core::Env& env, const ClusterNodeConfig& config);

}  // namespace keel::node
