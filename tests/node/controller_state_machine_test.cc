// The controller's metadata as a Raft state machine: commands applied in
// order, refused ones as no-ops with an error reply, the image persisted and
// reopened after a power loss, snapshots restored.
#include "node/controller_state_machine.h"

#include <catch2/catch.hpp>

#include <map>

#include "node/raft_node.h"
#include "sim/disk/sim_disk.h"
#include "sim/raft_invariants.h"
#include "sim/world.h"
#include "tests/simdisk/manual_clock.h"

namespace {

using keel::core::Bytes;
using keel::core::LogIndex;
using keel::core::NodeId;
using keel::consensus::CommandType;
using keel::consensus::MetadataCommand;
using keel::consensus::encode_command;
using keel::node::ControllerStateMachine;
using keel::testing::FiberHarness;

Bytes create(uint32_t partitions) {
  MetadataCommand c;
  c.type = CommandType::kCreateCluster;
  c.partitions = partitions;
  c.replication_factor = 3;
  c.nodes = {NodeId(1), NodeId(2), NodeId(3)};
  return encode_command(c);
}

Bytes node_cmd(CommandType type, uint32_t node, uint64_t inc) {
  MetadataCommand c;
  c.type = type;
  c.node = NodeId(node);
  c.incarnation = inc;
  return encode_command(c);
}

}  // namespace

TEST_CASE("controller machine: commands apply in order, refused ones reply ERR and change nothing",
          "[node][unit]") {
  FiberHarness h;
  keel::sim::SimDisk disk(h.clock(), keel::core::Random(3));
  auto m = h.run([&] { return ControllerStateMachine::open(disk, "ctl", {}); }).value();
  CHECK(*h.run([&] { return m->apply(LogIndex(1), create(8)); }) == "OK");
  CHECK(*h.run([&] { return m->apply(LogIndex(2), node_cmd(CommandType::kRegisterNode, 1, 1)); }) == "OK");
  const uint64_t before = m->digest();
  // Refused by the model (old incarnation), and malformed bytes: both no-ops.
  auto stale = h.run([&] { return m->apply(LogIndex(3), node_cmd(CommandType::kRegisterNode, 1, 1)); });
  REQUIRE(stale.is_ok());
  CHECK(stale->rfind("ERR ", 0) == 0);
  auto garbage = h.run([&] { return m->apply(LogIndex(4), Bytes("not a command")); });
  REQUIRE(garbage.is_ok());
  CHECK(garbage->rfind("ERR ", 0) == 0);
  CHECK(m->digest() == before);
  CHECK(m->refused() == 2);
  CHECK(m->applied_index() == LogIndex(4));
  CHECK(h.run([&] { return m->skip(LogIndex(5)); }).is_ok());
  CHECK(m->metadata().partition_count() == 8);
}

TEST_CASE("controller machine: a power loss keeps the last persisted image", "[node][unit]") {
  FiberHarness h;
  keel::sim::SimDisk disk(h.clock(), keel::core::Random(5));
  {
    auto m = h.run([&] { return ControllerStateMachine::open(disk, "ctl", {}); }).value();
    REQUIRE(h.run([&] { return m->apply(LogIndex(1), create(4)); }).is_ok());
    REQUIRE(h.run([&] { return m->apply(LogIndex(2), node_cmd(CommandType::kRegisterNode, 2, 1)); }).is_ok());
    REQUIRE(h.run([&] { return m->persist(); }).is_ok());
    CHECK(m->durable_index() == LogIndex(2));
    REQUIRE(h.run([&] { return m->apply(LogIndex(3), node_cmd(CommandType::kUnfenceNode, 2, 1)); }).is_ok());
  }
  disk.crash();
  auto m = h.run([&] { return ControllerStateMachine::open(disk, "ctl", {}); }).value();
  CHECK(m->applied_index() == LogIndex(2));
  REQUIRE(m->metadata().node(NodeId(2)) != nullptr);
  CHECK(m->metadata().node(NodeId(2))->incarnation == 1);
  CHECK(m->metadata().node(NodeId(2))->fenced);  // the unfence was not persisted; Raft replays it
}

TEST_CASE("controller machine: a snapshot restores another replica's state exactly", "[node][unit]") {
  FiberHarness h;
  keel::sim::SimDisk disk_a(h.clock(), keel::core::Random(7));
  keel::sim::SimDisk disk_b(h.clock(), keel::core::Random(8));
  auto a = h.run([&] { return ControllerStateMachine::open(disk_a, "ctl", {}); }).value();
  auto b = h.run([&] { return ControllerStateMachine::open(disk_b, "ctl", {}); }).value();
  REQUIRE(h.run([&] { return a->apply(LogIndex(1), create(16)); }).is_ok());
  REQUIRE(h.run([&] { return a->apply(LogIndex(2), node_cmd(CommandType::kRegisterNode, 3, 4)); }).is_ok());
  const Bytes image = *h.run([&] { return a->snapshot(); });
  REQUIRE(h.run([&] { return b->restore(LogIndex(2), image); }).is_ok());
  CHECK(b->digest() == a->digest());
  CHECK(b->durable_index() == LogIndex(2));
  // A damaged image is refused and changes nothing.
  CHECK(h.run([&] { return b->restore(LogIndex(3), image.substr(0, image.size() - 2)); }).code() ==
        keel::core::Code::kCorruption);
  CHECK(b->applied_index() == LogIndex(2));
}

TEST_CASE("controller group: three Raft nodes replicate the metadata through a leader crash", "[node][sim]") {
  using keel::core::Address;
  using keel::core::Duration;
  using keel::core::Env;
  using keel::node::RaftNode;
  using keel::node::RaftNodeOptions;
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    INFO("seed " << seed);
    keel::sim::RaftInvariants invariants;
    std::map<int, RaftNode*> nodes;
    std::map<int, ControllerStateMachine*> machines;
    std::map<int, uint64_t> incarnations;
    RaftNodeOptions options;
    for (int i = 1; i <= 3; ++i) {
      options.members[NodeId(i)] = {Address{"n" + std::to_string(i), 7000}, Address{"n" + std::to_string(i), 6379}};
    }
    keel::sim::World world(seed);
    std::vector<keel::sim::HostId> hosts;
    for (int i = 1; i <= 3; ++i) {
      hosts.push_back(world.add_host("n" + std::to_string(i), [&, i](Env& env) {
        auto opened = ControllerStateMachine::open(env.disk, "controller", {});
        REQUIRE(opened.is_ok());
        ControllerStateMachine& machine = **opened;
        RaftNodeOptions o = options;
        o.id = NodeId(i);
        o.snapshot_entries = 5;  // compact often: followers restore images
        keel::node::PeerBusOptions b;
        b.id = o.id;
        b.members = o.members;
        keel::node::PeerBus bus(env, b);
        RaftNode node(env, o, bus, machine);
        keel::sim::RaftInvariants::NodeObserver observer(invariants, NodeId(i), ++incarnations[i]);
        node.set_observer(&observer);
        REQUIRE(node.start().is_ok());
        REQUIRE(bus.start().is_ok());
        nodes[i] = &node;
        machines[i] = &machine;
        struct Clear {
          std::map<int, RaftNode*>& n;
          std::map<int, ControllerStateMachine*>& m;
          int i;
          ~Clear() {
            n.erase(i);
            m.erase(i);
          }
        } clear{nodes, machines, i};
        (void)node.wait();
      }));
    }
    for (auto h : hosts) world.start(h);
    // The commands a controller leader would propose as nodes join.
    std::vector<Bytes> commands = {create(16)};
    for (uint32_t n = 1; n <= 3; ++n) commands.push_back(node_cmd(CommandType::kRegisterNode, n, 1));
    for (uint32_t n = 1; n <= 3; ++n) commands.push_back(node_cmd(CommandType::kUnfenceNode, n, 1));
    commands.push_back(node_cmd(CommandType::kFenceNode, 1, 1));
    commands.push_back(node_cmd(CommandType::kRegisterNode, 1, 2));
    commands.push_back(node_cmd(CommandType::kUnfenceNode, 1, 2));
    size_t done = 0;
    auto client = world.add_host("c1", [&](Env& env) {
      while (done < commands.size()) {
        RaftNode* leader = nullptr;
        for (auto& [i, n] : nodes) {
          if (n->is_leader()) leader = n;
        }
        if (leader == nullptr) {
          env.sleep_for(Duration::millis(50));
          continue;
        }
        // An ERR reply is a refused command (as a retry after an unknown
        // outcome can be): the metadata is unchanged, so move on.
        if (leader->propose(commands[done]).is_ok()) ++done;
        if (done == 4) {
          // Power loss on the leader mid-sequence.
          for (size_t h = 0; h < hosts.size(); ++h) {
            if (nodes.count(static_cast<int>(h + 1)) && nodes[static_cast<int>(h + 1)] == leader) {
              world.crash(hosts[h]);
              world.after(Duration::millis(300), [&world, host = hosts[h]] { world.start(host); });
              break;
            }
          }
        }
      }
    });
    world.start(client);
    world.run_for(Duration::seconds(20));
    REQUIRE(done == commands.size());
    for (auto& v : invariants.violations()) FAIL(v);
    REQUIRE(machines.size() == 3);
    const uint64_t digest = machines.begin()->second->digest();
    for (auto& [i, m] : machines) {
      INFO("n" << i);
      CHECK(m->digest() == digest);
      const keel::consensus::ClusterMetadata& md = m->metadata();
      REQUIRE(md.partition_count() == 16);
      CHECK(md.node(NodeId(1))->incarnation == 2);
      CHECK_FALSE(md.node(NodeId(1))->fenced);
      for (const auto& p : md.partitions()) CHECK(p.leader.value() != 0);
    }
  }
}
