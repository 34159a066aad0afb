// run_kv_node: one keel v0.1 node — a KV engine, the KV state machine, a
// Raft group driver, the RESP front end and, if configured, a Prometheus
// metrics endpoint — composed on an Env.
//
// The same function is keeld's node (POSIX Env, RocksDB) and a simulated
// node (sim Env, in-memory engine persisted through snapshots on SimDisk).
#pragma once

#include <functional>
#include <memory>
#include <optional>
#include <string>

#include "core/env.h"
#include "node/kv_state_machine.h"
#include "node/raft_node.h"
#include "node/resp_server.h"

namespace keel::storage {
class KvEngine;
}

namespace keel::node {

struct KvNodeConfig {
  RaftNodeOptions raft;
  // The peer bus's settings; its id and members are the Raft group's.
  PeerBusOptions peers;
  // Where this node serves RESP clients (members[raft.id].client normally).
  core::Address client_address;
  // Opens this node's engine. Called once per start.
  std::function<core::Result<std::unique_ptr<storage::KvEngine>>(core::Env&)> open_engine;
  // AUTH password required from clients; empty: none.
  std::string requirepass;
  // Limits of the RESP front end (clients_max: what INFO calls maxclients).
  RespServerLimits client_limits;
  // Where this node serves Prometheus metrics over HTTP (GET /metrics);
  // unset: no metrics endpoint.
  std::optional<core::Address> metrics_address;
  // Test and simulation hook; null in production.
  RaftObserver* observer = nullptr;
  // Test and simulation hook: called with the running node and state
  // machine once started, and with nulls before they are destroyed.
  std::function<void(RaftNode*, StateMachine*)> on_running;
};

// The node's metrics in Prometheus text format (see node/metrics_server.h),
// from the node's public state: Raft position and role, per-peer
// replication progress (leader only), applied entries, RESP clients and
// commands, key count and the durable applied index. May suspend (counting
// keys reads the engine).
std::string render_node_metrics(const KvNodeConfig& config, const RaftNode& raft, KvStateMachine& machine,
                                const RespServer& server);

// Runs until the node fails (a storage error) or its process dies. Returns
// why it stopped. May suspend.
core::Status run_kv_node(core::Env& env, const KvNodeConfig& config);

}  // namespace keel::node
