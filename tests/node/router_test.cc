// The partitioned front end's router: key -> slot -> partition -> local,
// typed MOVED, CROSSSLOT or CLUSTERDOWN; and CLUSTER SLOTS owners.
#include "node/router.h"

#include <catch2/catch.hpp>

using keel::core::Address;
using keel::core::NodeId;
using keel::consensus::ClusterMetadata;
using keel::consensus::CommandType;
using keel::consensus::MetadataCommand;
using keel::net::resp::Argv;
using keel::net::resp::find_command;
using keel::net::resp::key_slot;
using keel::node::Route;
using keel::node::RouteTable;

namespace {

// 3 nodes, 3 partitions, node n leading partition n-1: the metadata from
// real commands (n1 unfences first and takes every partition), then the
// leaders of partitions 1 and 2 set as later elections would set them.
RouteTable table_for(uint32_t self) {
  ClusterMetadata m;
  MetadataCommand create;
  create.type = CommandType::kCreateCluster;
  create.partitions = 3;
  create.replication_factor = 3;
  create.nodes = {NodeId(1), NodeId(2), NodeId(3)};
  REQUIRE(m.apply(create).is_ok());
  for (uint32_t n = 1; n <= 3; ++n) {
    MetadataCommand reg;
    reg.type = CommandType::kRegisterNode;
    reg.node = NodeId(n);
    reg.incarnation = 1;
    reg.client_address = "10.0.0." + std::to_string(n) + ":6379";
    REQUIRE(m.apply(reg).is_ok());
  }
  MetadataCommand unfence;
  unfence.type = CommandType::kUnfenceNode;
  unfence.node = NodeId(1);
  unfence.incarnation = 1;
  REQUIRE(m.apply(unfence).is_ok());  // n1 leads every partition
  RouteTable t = RouteTable::from(m, NodeId(self));
  // Hand partitions 1 and 2 to n2 and n3, as later elections would.
  t.partitions[1].leader = NodeId(2);
  t.partitions[2].leader = NodeId(3);
  return t;
}

Route route_of(const RouteTable& t, Argv argv) {
  const auto* spec = find_command(argv[0]);
  REQUIRE(spec != nullptr);
  return keel::node::route(t, *spec, argv);
}

// A key whose slot falls in partition p of 3.
std::string key_in(uint32_t p) {
  for (int i = 0;; ++i) {
    std::string k = "key" + std::to_string(i);
    if (ClusterMetadata::partition_of_slot(key_slot(k), 3).value() == p) return k;
  }
}

}  // namespace

TEST_CASE("router: a key is served where its partition's leader is, else MOVED to it", "[node][unit]") {
  const RouteTable t = table_for(1);
  const std::string k0 = key_in(0), k2 = key_in(2);
  Route local = route_of(t, {"GET", k0});
  CHECK(local.kind == Route::Kind::kLocal);
  CHECK(local.partition.value() == 0);
  Route moved = route_of(t, {"SET", k2, "v"});
  REQUIRE(moved.kind == Route::Kind::kMoved);
  CHECK(moved.slot == key_slot(k2));
  CHECK(moved.address == Address{"10.0.0.3", 6379});
  CHECK(keel::node::render_route_error(moved) == "MOVED " + std::to_string(key_slot(k2)) + " 10.0.0.3:6379");
  // Hash tags keep keys together.
  CHECK(route_of(t, {"MSET", "{user1}.a", "1", "{user1}.b", "2"}).kind != Route::Kind::kCrossSlot);
}

TEST_CASE("router: keys in different slots are CROSSSLOT, keyless commands go anywhere", "[node][unit]") {
  const RouteTable t = table_for(2);
  Route cross = route_of(t, {"MSET", key_in(0), "1", key_in(1), "2"});
  CHECK(cross.kind == Route::Kind::kCrossSlot);
  CHECK(keel::node::render_route_error(cross) == "CROSSSLOT Keys in request don't hash to the same slot");
  CHECK(route_of(t, {"PING"}).kind == Route::Kind::kNoKeys);
  CHECK(keel::node::render_route_error(route_of(t, {"PING"})).empty());
}

TEST_CASE("router: a partition without a leader is CLUSTERDOWN", "[node][unit]") {
  RouteTable t = table_for(1);
  t.partitions[2].leader = NodeId(0);
  Route down = route_of(t, {"GET", key_in(2)});
  CHECK(down.kind == Route::Kind::kDown);
  CHECK(keel::node::render_route_error(down).rfind("CLUSTERDOWN", 0) == 0);
  // No metadata at all yet.
  RouteTable empty;
  CHECK(route_of(empty, {"GET", "k"}).kind == Route::Kind::kDown);
}

TEST_CASE("router: CLUSTER SLOTS owners are the partitions' ranges with leader and followers", "[node][unit]") {
  RouteTable t = table_for(1);
  auto owners = keel::node::slot_owners(t);
  REQUIRE(owners.size() == 3);
  CHECK(owners[0].first == 0);
  CHECK(owners[2].last == 16383);
  for (size_t i = 0; i + 1 < owners.size(); ++i) CHECK(owners[i].last + 1 == owners[i + 1].first);
  CHECK(owners[1].leader == NodeId(2));
  CHECK(owners[1].replicas.size() == 2);
  t.partitions[1].leader = NodeId(0);
  CHECK(keel::node::slot_owners(t).size() == 2);  // an offline partition serves no slots
}
