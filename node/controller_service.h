// ControllerService: what a controller member does while it leads the
// controller's Raft group (doc/ARCHITECTURE.md section 9).
//
// Every node runs one beside its controller member; only the one whose
// member leads, and has applied everything committed, acts:
//   - answers nodes' heartbeats: tracks their sessions (SessionTracker),
//     grants leases, and sends the metadata image when the node's is older;
//   - proposes what the cluster needs: CreateCluster once the configured
//     nodes have been heard from (or after `create_grace`, with those that
//     were), RegisterNode for a new incarnation, UnfenceNode for a
//     registered node's heartbeat, FenceNode when a session expires, and
//     partition leaders' ISR changes;
//   - on becoming leader, counts every node as just heard from (an older
//     leader may have granted leases a moment ago).
// The metadata itself changes only by applying committed commands
// (ControllerStateMachine); this service decides what to propose.
#pragma once

#include <deque>
#include <map>
#include <optional>
#include <set>
#include <tuple>
#include <vector>

#include "consensus/controller.h"
#include "core/env.h"
#include "core/fiber_group.h"
#include "core/sync.h"
#include "node/controller_state_machine.h"
#include "node/peer_codec.h"
#include "node/raft_node.h"

namespace keel::node {

struct ControllerServiceOptions {
  uint32_t partitions = 64;
  uint32_t replication_factor = 3;
  // The cluster's nodes, in the order placement uses.
  std::vector<core::NodeId> nodes;
  consensus::SessionTracker::Options sessions;
  core::Duration tick_interval = core::Duration::millis(10);
  // How long a new controller leader waits for every node's heartbeat
  // before it creates the cluster with the nodes it heard from.
  core::Duration create_grace = core::Duration::seconds(3);  // This process's node and incarnation: the leader never lets its own
  // session expire (it is running), however late its heartbeat fiber runs
  // on a starved machine.
  core::NodeId self;
  uint64_t self_incarnation = 0;
};

class ControllerService {
 public:
  ControllerService(core::Env& env, ControllerServiceOptions options, RaftNode& raft,
                    ControllerStateMachine& machine);
  ~ControllerService();
  ControllerService(const ControllerService&) = delete;
  ControllerService& operator=(const ControllerService&) = delete;

  void start();
  void stop();

  // Whether this member leads and has applied every committed command.
  bool serving() const;
  // A heartbeat from node `from`. The reply when serving; nullopt otherwise
  // (the node tries the leader it learns of next).
  std::optional<ControlMessage> heartbeat(core::NodeId from, const ControlMessage& beat);
  // A partition leader's ISR change (an encoded kAlterIsr command). Refused
  // (logged) when malformed or not from the partition's leader.
  void alter_isr(core::NodeId from, core::ByteView command);

  const consensus::ClusterMetadata& metadata() const { return machine_.metadata(); }
  uint64_t fences_proposed() const { return fences_proposed_; }

 private:
  void tick();
  void propose(consensus::MetadataCommand command);
  // Proposes a node command unless the same one is in flight.
  bool propose_once(consensus::CommandType type, core::NodeId node, uint64_t incarnation,
                    const ControlMessage* beat = nullptr);
  void proposer();

  core::Env& env_;
  ControllerServiceOptions options_;
  RaftNode& raft_;
  ControllerStateMachine& machine_;
  consensus::SessionTracker sessions_;
  std::deque<consensus::MetadataCommand> queue_;
  core::WaitList wake_;
  std::set<std::tuple<uint32_t, uint64_t, uint8_t>> pending_;
  // Heartbeats heard since this member started leading, for CreateCluster.
  std::map<core::NodeId, consensus::NodeRecord> heard_;
  std::pair<uint64_t, core::Instant> term_;  // the term led, and since when
  uint64_t fences_proposed_ = 0;
  bool running_ = false;
  // Last: destroyed first.
  core::FiberGroup fibers_;
};

}  // namespace keel::node
