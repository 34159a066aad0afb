// Tests of consensus/controller.h: the metadata commands, elections from the
// ISR, fencing by epochs and incarnations, sessions and leases, the codec.
#include <catch2/catch.hpp>

#include "consensus/controller.h"

namespace keel::consensus {
namespace {

using core::Duration;
using core::Instant;

MetadataCommand create(uint32_t partitions, uint32_t rf, int nodes) {
  MetadataCommand c;
  c.type = CommandType::kCreateCluster;
  c.partitions = partitions;
  c.replication_factor = rf;
  for (int i = 1; i <= nodes; ++i) c.nodes.push_back(NodeId(i));
  return c;
}

MetadataCommand node_cmd(CommandType type, int node, uint64_t inc) {
  MetadataCommand c;
  c.type = type;
  c.node = NodeId(node);
  c.incarnation = inc;
  c.peer_address = "n" + std::to_string(node) + ":7000";
  c.client_address = "n" + std::to_string(node) + ":6379";
  return c;
}

// A 3-node cluster of `partitions` partitions, every node registered and
// unfenced in order 1, 2, 3.
ClusterMetadata started(uint32_t partitions, MetadataConfig config = {}) {
  ClusterMetadata m(config);
  REQUIRE(m.apply(create(partitions, 3, 3)).is_ok());
  for (int n = 1; n <= 3; ++n) {
    REQUIRE(m.apply(node_cmd(CommandType::kRegisterNode, n, 1)).is_ok());
    REQUIRE(m.apply(node_cmd(CommandType::kUnfenceNode, n, 1)).is_ok());
  }
  return m;
}

TEST_CASE("controller: 3 nodes, 64 partitions: preferred leaders spread evenly, offline until a node unfences", "[consensus][unit]") {
  ClusterMetadata m(MetadataConfig{});
  REQUIRE(m.apply(create(64, 3, 3)).is_ok());
  // Until a node unfences, nothing has a leader.
  for (const PartitionState& p : m.partitions()) CHECK(p.leader == NodeId(0));
  for (int n = 1; n <= 3; ++n) {
    REQUIRE(m.apply(node_cmd(CommandType::kRegisterNode, n, 1)).is_ok());
    REQUIRE(m.apply(node_cmd(CommandType::kUnfenceNode, n, 1)).is_ok());
  }
  std::map<NodeId, int> leads;
  for (const PartitionState& p : m.partitions()) {
    CHECK(p.replicas.size() == 3);
    CHECK(p.isr.size() == 3);
    ++leads[p.leader];
  }
  // The first node to unfence takes every partition; preferred leaders are
  // spread, which is what the rebalance aims at. Here: all three lead some.
  CHECK(leads.size() >= 1);
  // Preferred (first) replicas are spread evenly: 22/21/21.
  std::map<NodeId, int> preferred;
  for (const PartitionState& p : m.partitions()) ++preferred[p.replicas.front()];
  CHECK(preferred[NodeId(1)] == 22);
  CHECK(preferred[NodeId(2)] == 21);
  CHECK(preferred[NodeId(3)] == 21);
}

TEST_CASE("controller: a cluster created with its nodes alive starts with leaders spread evenly", "[consensus][unit]") {
  ClusterMetadata m(MetadataConfig{});
  MetadataCommand c = create(64, 3, 3);
  for (int n = 1; n <= 2; ++n) {
    NodeRecord r;
    r.id = NodeId(n);
    r.incarnation = 4;
    r.peer_address = "n" + std::to_string(n) + ":7000";
    r.client_address = "n" + std::to_string(n) + ":6379";
    c.live.push_back(r);
  }
  auto decoded = keel::consensus::decode_command(keel::consensus::encode_command(c));
  REQUIRE(decoded.is_ok());
  REQUIRE(decoded->live.size() == 2);
  REQUIRE(m.apply(*decoded).is_ok());
  REQUIRE(m.node(NodeId(1))->incarnation == 4);
  REQUIRE_FALSE(m.node(NodeId(2))->fenced);
  REQUIRE(m.node(NodeId(3))->fenced);
  // Node 3 is not alive yet: its preferred partitions go to their next
  // replica; the others are led by their preferred replica.
  std::map<NodeId, int> leads;
  for (const PartitionState& p : m.partitions()) {
    REQUIRE(p.leader.value() != 0);
    REQUIRE(p.leader_epoch.value() == 1);
    if (p.replicas.front() != NodeId(3)) REQUIRE(p.leader == p.replicas.front());
    ++leads[p.leader];
  }
  // n3's preferred partitions (p mod 3 == 2) go to their next replica, n1.
  CHECK(leads[NodeId(1)] == 43);
  CHECK(leads[NodeId(2)] == 21);

  // A live node outside the membership is refused, and nothing changes.
  ClusterMetadata bad(MetadataConfig{});
  MetadataCommand c2 = create(8, 3, 3);
  NodeRecord stranger;
  stranger.id = NodeId(9);
  stranger.incarnation = 1;
  c2.live.push_back(stranger);
  REQUIRE(bad.apply(c2).code() == keel::core::Code::kInvalidArgument);
  REQUIRE_FALSE(bad.created());
}

TEST_CASE("controller: the slot map covers 16384 slots in contiguous ranges", "[consensus][unit]") {
  for (uint32_t parts : {1u, 3u, 64u, 1000u, 16384u}) {
    uint16_t next = 0;
    for (uint32_t p = 0; p < parts; ++p) {
      auto [first, last] = ClusterMetadata::slot_range(PartitionId(p), parts);
      INFO("partitions " << parts << " partition " << p);
      REQUIRE(first == next);
      REQUIRE(first <= last);
      CHECK(ClusterMetadata::partition_of_slot(first, parts) == PartitionId(p));
      CHECK(ClusterMetadata::partition_of_slot(last, parts) == PartitionId(p));
      next = static_cast<uint16_t>(last + 1);
    }
    CHECK(ClusterMetadata::slot_range(PartitionId(parts - 1), parts).second == 16383);
  }
}

TEST_CASE("controller: a fenced leader is replaced from the ISR with a new epoch", "[consensus][unit]") {
  ClusterMetadata m = started(3);
  const PartitionState before = m.partition(PartitionId(0));
  REQUIRE(before.leader == NodeId(1));
  REQUIRE(m.apply(node_cmd(CommandType::kFenceNode, 1, 1)).is_ok());
  const PartitionState& after = m.partition(PartitionId(0));
  CHECK(after.leader == NodeId(2));
  CHECK(after.leader_epoch > before.leader_epoch);
  CHECK(after.partition_epoch > before.partition_epoch);
  CHECK(after.isr.count(NodeId(1)) == 0);
  // A fence of an old or already fenced incarnation changes nothing.
  const uint64_t version = m.version();
  CHECK(m.apply(node_cmd(CommandType::kFenceNode, 1, 1)).code() == core::Code::kFailedPrecondition);
  CHECK(m.version() == version);
}

TEST_CASE("controller: the last ISR member keeps the partition, and no unclean election unless enabled",
          "[consensus][unit]") {
  for (bool unclean : {false, true}) {
    MetadataConfig config;
    config.unclean_election = unclean;
    ClusterMetadata m = started(1, config);
    // Shrink partition 0's ISR to its leader n1.
    IsrRequest r;
    r.partition = PartitionId(0);
    r.leader = NodeId(1);
    r.leader_epoch = m.partition(PartitionId(0)).leader_epoch;
    r.partition_epoch = m.partition(PartitionId(0)).partition_epoch;
    r.isr = {NodeId(1)};
    MetadataCommand alter;
    alter.type = CommandType::kAlterIsr;
    alter.isr = r;
    REQUIRE(m.apply(alter).is_ok());
    REQUIRE(m.apply(node_cmd(CommandType::kFenceNode, 1, 1)).is_ok());
    const PartitionState& p = m.partition(PartitionId(0));
    INFO("unclean " << unclean);
    if (!unclean) {
      CHECK(p.leader == NodeId(0));  // offline: nobody else has everything
      CHECK(p.isr == std::set<NodeId>{NodeId(1)});
      CHECK(m.unclean_elections() == 0);
      // n1 returns (same incarnation): it leads again.
      REQUIRE(m.apply(node_cmd(CommandType::kUnfenceNode, 1, 1)).is_ok());
      CHECK(m.partition(PartitionId(0)).leader == NodeId(1));
    } else {
      CHECK(p.leader == NodeId(2));
      CHECK(p.isr == std::set<NodeId>{NodeId(2)});
      CHECK(m.unclean_elections() == 1);
    }
  }
}

TEST_CASE("controller: ISR changes on a stale partition epoch or from an old incarnation are refused",
          "[consensus][unit]") {
  ClusterMetadata m = started(1);
  const PartitionState p = m.partition(PartitionId(0));
  IsrRequest r;
  r.partition = PartitionId(0);
  r.leader = p.leader;
  r.leader_epoch = p.leader_epoch;
  r.partition_epoch = p.partition_epoch;
  r.isr = {NodeId(1), NodeId(2)};
  MetadataCommand alter;
  alter.type = CommandType::kAlterIsr;
  alter.isr = r;
  REQUIRE(m.apply(alter).is_ok());
  // The same request again is now based on a stale partition epoch.
  CHECK(m.apply(alter).code() == core::Code::kFailedPrecondition);
  // Adding n3 back needs n3's current incarnation.
  alter.isr.partition_epoch = m.partition(PartitionId(0)).partition_epoch;
  alter.isr.isr = {NodeId(1), NodeId(2), NodeId(3)};
  alter.isr.incarnations = {{NodeId(3), 0}};
  const uint64_t version = m.version();
  CHECK(m.apply(alter).code() == core::Code::kFailedPrecondition);
  // The leader's request was refused for its content: the partition epoch
  // moves on (the answer), the ISR does not, and the same request cannot
  // be applied later.
  CHECK(m.partition(PartitionId(0)).partition_epoch == alter.isr.partition_epoch + 1);
  CHECK(m.partition(PartitionId(0)).isr == std::set<NodeId>{NodeId(1), NodeId(2)});
  CHECK(m.version() == version + 1);
  alter.isr.incarnations = {{NodeId(3), 1}};
  CHECK(m.apply(alter).code() == core::Code::kFailedPrecondition);
  alter.isr.partition_epoch = m.partition(PartitionId(0)).partition_epoch;
  CHECK(m.apply(alter).is_ok());
  // A request from someone who is not the leader, or that drops the leader.
  alter.isr.partition_epoch = m.partition(PartitionId(0)).partition_epoch;
  alter.isr.leader = NodeId(2);
  CHECK(m.apply(alter).code() == core::Code::kFailedPrecondition);
  alter.isr.leader = NodeId(1);
  alter.isr.isr = {NodeId(2), NodeId(3)};
  CHECK(m.apply(alter).code() == core::Code::kInvalidArgument);
  alter.isr.partition_epoch = m.partition(PartitionId(0)).partition_epoch;
  alter.isr.isr = {NodeId(1), NodeId(9)};
  CHECK(m.apply(alter).code() == core::Code::kInvalidArgument);
  // A partition that does not exist.
  alter.isr.partition = PartitionId(5);
  CHECK(m.apply(alter).code() == core::Code::kInvalidArgument);
}

TEST_CASE("controller: a restarted node's partitions get a new epoch", "[consensus][unit]") {
  ClusterMetadata m = started(3);
  const PartitionState before = m.partition(PartitionId(0));
  REQUIRE(before.leader == NodeId(1));
  CHECK(m.apply(node_cmd(CommandType::kRegisterNode, 1, 1)).code() == core::Code::kFailedPrecondition);
  REQUIRE(m.apply(node_cmd(CommandType::kRegisterNode, 1, 2)).is_ok());
  const PartitionState& after = m.partition(PartitionId(0));
  CHECK(after.leader != NodeId(1));
  CHECK(after.leader_epoch > before.leader_epoch);
  CHECK(m.node(NodeId(1))->fenced);
  CHECK(m.apply(node_cmd(CommandType::kUnfenceNode, 1, 1)).code() == core::Code::kFailedPrecondition);
  CHECK(m.apply(node_cmd(CommandType::kUnfenceNode, 1, 2)).is_ok());
}

TEST_CASE("controller: bad create-cluster commands are refused", "[consensus][unit]") {
  ClusterMetadata m(MetadataConfig{});
  CHECK(m.apply(create(0, 3, 3)).code() == core::Code::kInvalidArgument);
  CHECK(m.apply(create(16385, 3, 3)).code() == core::Code::kInvalidArgument);
  CHECK(m.apply(create(4, 0, 3)).code() == core::Code::kInvalidArgument);
  MetadataCommand dup = create(4, 3, 3);
  dup.nodes.push_back(NodeId(2));
  CHECK(m.apply(dup).code() == core::Code::kInvalidArgument);
  REQUIRE(m.apply(create(4, 5, 3)).is_ok());  // RF capped by the node count
  CHECK(m.partition(PartitionId(0)).replicas.size() == 3);
  CHECK(m.apply(create(4, 3, 3)).code() == core::Code::kFailedPrecondition);
  CHECK(m.apply(node_cmd(CommandType::kRegisterNode, 7, 1)).code() == core::Code::kInvalidArgument);
}

TEST_CASE("controller: commands and the metadata image round-trip, malformed bytes are Corruption",
          "[consensus][unit]") {
  MetadataCommand alter;
  alter.type = CommandType::kAlterIsr;
  alter.isr.partition = PartitionId(3);
  alter.isr.leader = NodeId(2);
  alter.isr.leader_epoch = Epoch(9);
  alter.isr.partition_epoch = 12;
  alter.isr.isr = {NodeId(1), NodeId(2)};
  alter.isr.incarnations = {{NodeId(1), 4}};
  for (const MetadataCommand& c : {create(64, 3, 3), node_cmd(CommandType::kRegisterNode, 2, 7),
                                   node_cmd(CommandType::kFenceNode, 3, 1), alter}) {
    const core::Bytes bytes = encode_command(c);
    auto back = decode_command(bytes);
    REQUIRE(back.is_ok());
    CHECK(encode_command(*back) == bytes);
    for (size_t cut = 0; cut < bytes.size(); ++cut) {
      CHECK(decode_command(bytes.substr(0, cut)).status().code() == core::Code::kCorruption);
    }
    CHECK(decode_command(bytes + "x").status().code() == core::Code::kCorruption);
  }
  ClusterMetadata m = started(8);
  const core::Bytes image = m.encode();
  auto back = ClusterMetadata::decode(image, MetadataConfig{});
  REQUIRE(back.is_ok());
  CHECK(back->encode() == image);
  CHECK(back->partitions() == m.partitions());
  CHECK(ClusterMetadata::decode(image.substr(0, image.size() - 1), MetadataConfig{}).status().code() ==
        core::Code::kCorruption);
}

TEST_CASE("sessions: a node is fenced only after lease plus drift, no lease while its fence is in flight",
          "[consensus][unit]") {
  ClusterMetadata m = started(3);
  SessionTracker::Options o;
  o.lease = Duration::millis(1000);
  o.drift_bound = Duration::millis(200);
  SessionTracker s(o);
  const Instant t0 = Instant() + Duration::seconds(10);
  s.reset(t0, m);
  CHECK(s.expired(t0 + Duration::millis(1200), m).empty());
  s.heard_from(NodeId(2), 1, t0 + Duration::millis(500), m);
  s.heard_from(NodeId(3), 1, t0 + Duration::millis(500), m);
  auto gone = s.expired(t0 + Duration::millis(1201), m);
  REQUIRE(gone.size() == 1);
  CHECK(gone[0] == std::pair<NodeId, uint64_t>{NodeId(1), 1});
  CHECK(s.grants_lease(NodeId(1), 1, m));
  s.fencing(NodeId(1), 1);
  CHECK_FALSE(s.grants_lease(NodeId(1), 1, m));
  CHECK(s.grants_lease(NodeId(2), 1, m));
  CHECK_FALSE(s.grants_lease(NodeId(2), 0, m));  // an old incarnation
  REQUIRE(m.apply(node_cmd(CommandType::kFenceNode, 1, 1)).is_ok());
  s.heard_from(NodeId(1), 1, t0 + Duration::millis(1300), m);
  CHECK_FALSE(s.grants_lease(NodeId(1), 1, m));  // fenced
  REQUIRE(m.apply(node_cmd(CommandType::kUnfenceNode, 1, 1)).is_ok());
  CHECK(s.grants_lease(NodeId(1), 1, m));  // the fence is done; the node is back

  SessionTracker::Options early = o;
  early.test_bug_expire_early = true;
  SessionTracker bad(early);
  bad.reset(t0, m);
  CHECK_FALSE(bad.expired(t0 + Duration::millis(600), m).empty());
}

}  // namespace
}  // namespace keel::consensus
