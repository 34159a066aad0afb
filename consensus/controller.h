// The cluster metadata model: what the controller (the Raft group) holds as
// its state machine, and the session tracker its leader keeps beside it.
// Pure and deterministic; doc/INVARIANTS.md P1, P5, P9 and P10.
//
// ClusterMetadata is changed only by commands applied in log order (every
// replica of the controller applies the same commands to the same state).
// A command carries every input it needs - including, for a fence, the
// decision already taken by the leader's session tracker - and never reads a
// clock. Every change to a partition's record bumps its partition epoch; a
// change of leader also bumps its leader epoch, so epochs strictly increase
// and name at most one leader each (P1).
//
// Elections: a partition's leader is the first replica in assignment order
// that is in the ISR and not fenced (P5). When none is, the partition is
// offline (leader 0) and keeps its ISR, so the last in-sync replica can lead
// again when its node returns - unless unclean election is enabled, which
// then picks any live replica, makes it the whole ISR, and counts it.
//
// Sessions: a node heartbeats the controller leader; each answered
// heartbeat grants the node a lease of `lease` on the node's own clock,
// measured from when it SENT the heartbeat. The leader fences a node only
// once `lease + drift_bound` has passed on its own clock since it last heard
// from the node, so a partition leader cut off from the controller stops
// serving linearizable reads before another replica is elected (P9). A new
// controller leader treats every node as just heard from.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "consensus/partition.h"
#include "core/bytes.h"
#include "core/cover.h"
#include "core/ids.h"
#include "core/status.h"
#include "core/time.h"

namespace keel::consensus {

struct NodeRecord {
  NodeId id;
  // Bumped by every start of the node's process; a request from an older
  // incarnation is refused (P10, KIP-903).
  uint64_t incarnation = 0;
  std::string peer_address;
  std::string client_address;
  bool fenced = true;  // until its first heartbeat after registering

  bool operator==(const NodeRecord&) const = default;
};

struct MetadataConfig {
  // Allow electing a replica outside the ISR when no ISR member is alive.
  bool unclean_election = false;
  core::Coverage* coverage = nullptr;
  // TEST ONLY: elections ignore the ISR (any live replica may lead).
  bool test_bug_elect_outside_isr = false;
};

enum class CommandType : uint8_t {
  kCreateCluster = 1,  // partitions, replication factor, the initial nodes
  kRegisterNode,       // a node (re)started: id, incarnation, addresses
  kUnfenceNode,        // a registered node's first heartbeat
  kFenceNode,          // a node's session expired (decided by the leader)
  kAlterIsr,           // a partition leader's ISR change
};

struct MetadataCommand {
  CommandType type = CommandType::kRegisterNode;
  // kCreateCluster.
  uint32_t partitions = 0;
  uint32_t replication_factor = 0;
  std::vector<NodeId> nodes;
  // kCreateCluster: members already alive (id, incarnation, addresses),
  // registered and unfenced by the creation itself, so every partition
  // whose preferred replica is among them starts led by it (an even spread
  // of leaders) instead of by whichever node unfences first.
  std::vector<NodeRecord> live;
  // kRegisterNode / kUnfenceNode / kFenceNode.
  NodeId node;
  uint64_t incarnation = 0;
  std::string peer_address;
  std::string client_address;
  // kAlterIsr.
  IsrRequest isr;
};

core::Bytes encode_command(const MetadataCommand& command);
core::Result<MetadataCommand> decode_command(core::ByteView data);

class ClusterMetadata {
 public:
  explicit ClusterMetadata(MetadataConfig config = {}) : config_(config) {}

  // Applies one command. A refused command (InvalidArgument for a malformed
  // one, FailedPrecondition for a stale or no longer applicable one) changes
  // nothing - except an ISR change refused for its content although made by
  // the current leader on the current record: that bumps the partition
  // epoch (the leader's answer; last_changed() names it). The controller
  // logs the reason. Deterministic.
  core::Status apply(const MetadataCommand& command);

  bool created() const { return !partitions_.empty(); }
  uint32_t partition_count() const { return static_cast<uint32_t>(partitions_.size()); }
  const PartitionState& partition(PartitionId p) const { return partitions_.at(p.value()); }
  const std::vector<PartitionState>& partitions() const { return partitions_; }
  const std::map<NodeId, NodeRecord>& nodes() const { return nodes_; }
  const NodeRecord* node(NodeId id) const;
  // How many commands changed the metadata (its version).
  uint64_t version() const { return version_; }
  uint64_t unclean_elections() const { return unclean_elections_; }
  // The partitions whose record changed in the last applied command.
  const std::vector<PartitionId>& last_changed() const { return last_changed_; }

  // The slot -> partition map: slot s belongs to partition s * P / 16384, so
  // each partition owns one contiguous slot range.
  static PartitionId partition_of_slot(uint16_t slot, uint32_t partitions);
  // [first, last] slots of partition p.
  static std::pair<uint16_t, uint16_t> slot_range(PartitionId p, uint32_t partitions);

  // Binary image for the controller's snapshots.
  core::Bytes encode() const;
  static core::Result<ClusterMetadata> decode(core::ByteView data, MetadataConfig config);

 private:
  core::Status create_cluster(const MetadataCommand& c);
  core::Status register_node(const MetadataCommand& c);
  core::Status unfence_node(const MetadataCommand& c);
  core::Status fence_node(const MetadataCommand& c);
  core::Status alter_isr(const IsrRequest& r);
  // Re-runs the election of partition p after `gone` (or nobody) became
  // ineligible; bumps epochs when the leader changes.
  void elect(PartitionState& p, NodeId gone);
  bool eligible(NodeId n) const;
  void changed(PartitionState& p, size_t index);

  MetadataConfig config_;
  std::vector<PartitionState> partitions_;
  std::map<NodeId, NodeRecord> nodes_;
  uint64_t version_ = 0;
  uint64_t unclean_elections_ = 0;
  std::vector<PartitionId> last_changed_;
};

// The controller leader's view of node liveness; not replicated.
class SessionTracker {
 public:
  struct Options {
    // A node's lease, measured on its own clock from the send of the
    // heartbeat that earned it.
    core::Duration lease = core::Duration::millis(1500);
    // The bound on clock drift over one lease the cluster is run with.
    core::Duration drift_bound = core::Duration::millis(200);
    // TEST ONLY: expire sessions at half the lease (a new partition leader
    // can then be elected while the old one still serves reads).
    bool test_bug_expire_early = false;
  };
  explicit SessionTracker(Options options) : options_(options) {}

  // This node just became controller leader and has applied every command
  // of earlier terms: every registered node counts as heard from now (an
  // older leader may have granted leases just before).
  void reset(core::Instant now, const ClusterMetadata& metadata);
  void heard_from(NodeId node, uint64_t incarnation, core::Instant now, const ClusterMetadata& metadata);
  // The leader proposed fencing (node, incarnation): until the fence is
  // applied, heartbeats from it earn no lease (else a lease granted while
  // the fence travels through the log would outlive the election after it).
  void fencing(NodeId node, uint64_t incarnation) { fencing_.insert({node, incarnation}); }
  // Whether a heartbeat from this incarnation earns a lease now: it is the
  // registered, unfenced incarnation and no fence of it is in flight.
  bool grants_lease(NodeId node, uint64_t incarnation, const ClusterMetadata& metadata) const;
  // Nodes not fenced in `metadata` whose session expired at `now`, with the
  // incarnation to fence.
  std::vector<std::pair<NodeId, uint64_t>> expired(core::Instant now, const ClusterMetadata& metadata) const;
  const Options& options() const { return options_; }

 private:
  Options options_;
  std::map<NodeId, std::pair<uint64_t, core::Instant>> last_heard_;
  std::set<std::pair<NodeId, uint64_t>> fencing_;
};

}  // namespace keel::consensus
