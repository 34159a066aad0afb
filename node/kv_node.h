// run_kv_node: one keel v0.1 node — a KV engine, the KV state machine, a
// Raft group driver and the RESP front end — composed on an Env.
//
// The same function is keeld's node (POSIX Env, RocksDB) and a simulated
// node (sim Env, in-memory engine persisted through snapshots on SimDisk).
#pragma once

#include <functional>
#include <memory>
#include <string>

#include "core/env.h"
#include "node/raft_node.h"

namespace keel::storage {
class KvEngine;
}

namespace keel::node {

struct KvNodeConfig {
  RaftNodeOptions raft;
  // Where this node serves RESP clients (members[raft.id].client normally).
  core::Address client_address;
  // Opens this node's engine. Called once per start.
  std::function<core::Result<std::unique_ptr<storage::KvEngine>>(core::Env&)> open_engine;
  // AUTH password required from clients; empty: none.
  std::string requirepass;
  // Test and simulation hook; null in production.
  RaftObserver* observer = nullptr;
  // Test and simulation hook: called with the running node and state
  // machine once started, and with nulls before they are destroyed.
  std::function<void(RaftNode*, StateMachine*)> on_running;
};

// Runs until the node fails (a storage error) or its process dies. Returns
// why it stopped. May suspend.
core::Status run_kv_node(core::Env& env, const KvNodeConfig& config);

}  // namespace keel::node
