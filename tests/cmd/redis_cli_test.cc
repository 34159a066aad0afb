// Real processes: redis-cli in cluster mode (-c) against three keeld nodes,
// partitioned (the default) and as one Raft group. A node that does not
// lead a key's partition answers "-MOVED <slot> <leader>"; redis-cli must
// follow it to the leader and print the leader's answer.
#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <string>

#include "tests/cmd/local_cluster.h"

using keel::testing::LocalCluster;
using keel::testing::LocalNode;

namespace {

// False, with a warning, when redis-cli is missing (ci/install-deps.sh
// installs redis-tools): the test is then skipped.
bool have_redis_cli() {
  if (std::system("command -v redis-cli >/dev/null 2>&1") == 0) return true;
  WARN("redis-cli is not installed (ci/install-deps.sh installs redis-tools): skipped");
  return false;
}

// redis-cli's output (stdout and stderr) for `args` against a local port.
std::string cli(uint16_t port, const std::string& args) {
  const std::string command =
      "timeout 10 redis-cli -h 127.0.0.1 -p " + std::to_string(port) + " " + args + " 2>&1 </dev/null";
  FILE* p = ::popen(command.c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[256];
  while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
  ::pclose(p);
  return out;
}

// A running node other than the one at `leader`.
LocalNode& a_follower(LocalCluster& cluster, int leader) {
  for (size_t i = 0; i < cluster.nodes().size(); ++i) {
    if (static_cast<int>(i) != leader && cluster.nodes()[i].pid > 0) return cluster.nodes()[i];
  }
  FAIL("no running follower");
  return cluster.nodes()[0];
}

keel::testing::LocalClusterOptions one_group() {
  keel::testing::LocalClusterOptions o;
  o.extra_args = {"--partitions", "0"};
  return o;
}

// CLUSTER SLOTS of the node on `port`, as (first, last, client ports of the
// master then its replicas).
struct SlotRange {
  int64_t first = 0;
  int64_t last = 0;
  std::vector<int64_t> ports;
};
std::vector<SlotRange> cluster_slots(uint16_t port) {
  keel::testing::RespConnection c(port);
  REQUIRE(c.connected());
  auto r = c.call({"CLUSTER", "SLOTS"}, 5000);
  REQUIRE(r.ok());
  std::vector<SlotRange> out;
  for (const keel::net::resp::Value& range : r.value.elements) {
    SlotRange s;
    REQUIRE(range.elements.size() >= 3);
    s.first = range.elements[0].integer;
    s.last = range.elements[1].integer;
    for (size_t i = 2; i < range.elements.size(); ++i) s.ports.push_back(range.elements[i].elements.at(1).integer);
    out.push_back(std::move(s));
  }
  return out;
}

}  // namespace

TEST_CASE("redis-cli: a partitioned cluster - three masters, every slot covered, -c reaches every key", "[cmd][slow]") {
  if (!have_redis_cli()) return;
  LocalCluster cluster(3);
  REQUIRE(cluster.wait_for_leader() >= 0);
  const uint16_t p1 = cluster.nodes()[0].client_port;
  const std::string info = cli(p1, "cluster info");
  CHECK(info.find("cluster_state:ok") != std::string::npos);
  CHECK(info.find("cluster_size:3") != std::string::npos);
  // 64 partitions of 3 replicas, their leaders spread over the three nodes.
  const std::vector<SlotRange> slots = cluster_slots(p1);
  REQUIRE(slots.size() == 64);
  int64_t covered = 0;
  int64_t next = 0;
  std::map<int64_t, int> leads;
  for (const SlotRange& s : slots) {
    CHECK(s.first == next);
    next = s.last + 1;
    covered += s.last - s.first + 1;
    CHECK(s.ports.size() == 3);
    ++leads[s.ports.front()];
  }
  CHECK(covered == 16384);
  REQUIRE(leads.size() == 3);
  for (const auto& [port, n] : leads) CHECK((n == 21 || n == 22));
  const std::string nodes = cli(p1, "cluster nodes");
  INFO(nodes);
  size_t masters = 0;
  for (size_t at = nodes.find(" master "); at != std::string::npos; at = nodes.find(" master ", at + 1)) ++masters;
  for (size_t at = nodes.find(",master "); at != std::string::npos; at = nodes.find(",master ", at + 1)) ++masters;
  CHECK(masters == 3);

  // Every key is reachable from every node with -c; without it, keys led
  // elsewhere are redirected.
  int moved = 0;
  for (int i = 0; i < 30; ++i) {
    const std::string k = "key" + std::to_string(i);
    const LocalNode& via = cluster.nodes()[static_cast<size_t>(i % 3)];
    REQUIRE(cli(via.client_port, "-c set " + k + " v" + std::to_string(i)) == "OK\n");
    if (cli(via.client_port, "get " + k).rfind("MOVED ", 0) == 0) ++moved;
  }
  CHECK(moved > 0);
  for (int i = 0; i < 30; ++i) {
    CHECK(cli(cluster.nodes()[2].client_port, "-c get key" + std::to_string(i)) == "v" + std::to_string(i) + "\n");
  }
  // Multi-key commands need one slot, as on a Redis Cluster.
  CHECK(cli(p1, "-c mset a 1 b 2").rfind("CROSSSLOT", 0) == 0);
  CHECK(cli(p1, "-c mset {t}a 1 {t}b 2") == "OK\n");
  CHECK(cli(p1, "-c mget {t}a {t}b") == "1\n2\n");
}

TEST_CASE("redis-cli: a partitioned cluster - after SIGKILL of a node its partitions get leaders and keep every write",
          "[cmd][slow]") {
  if (!have_redis_cli()) return;
  LocalCluster cluster(3);
  REQUIRE(cluster.wait_for_leader() >= 0);
  const uint16_t p1 = cluster.nodes()[0].client_port;
  for (int i = 0; i < 40; ++i) {
    REQUIRE(cli(p1, "-c set key" + std::to_string(i) + " v" + std::to_string(i)) == "OK\n");
  }
  cluster.stop(cluster.nodes()[1], SIGKILL);
  // The survivors take over its partitions once its session expires.
  REQUIRE(cluster.wait_for_leader() >= 0);
  for (const SlotRange& s : cluster_slots(p1)) CHECK(s.ports.front() != cluster.nodes()[1].client_port);
  for (int i = 0; i < 40; ++i) {
    const std::string k = "key" + std::to_string(i);
    CHECK(cli(p1, "-c get " + k) == "v" + std::to_string(i) + "\n");
    CHECK(cli(cluster.nodes()[2].client_port, "-c set " + k + " w") == "OK\n");
  }
  const std::string nodes = cli(p1, "cluster nodes");
  INFO(nodes);
  CHECK(nodes.find(":" + std::to_string(cluster.nodes()[1].client_port) + "@") != std::string::npos);
  CHECK(nodes.find(",fail ") != std::string::npos);
  // It comes back as a follower of everything and catches up.
  cluster.start(cluster.nodes()[1]);
  REQUIRE(cluster.wait_for_leader() >= 0);
  CHECK(cli(cluster.nodes()[1].client_port, "-c get key7") == "w\n");
}

TEST_CASE("redis-cli: -c follows MOVED from a follower to the leader (one Raft group)", "[cmd][slow]") {
  if (!have_redis_cli()) return;
  LocalCluster cluster(3, one_group());
  const int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  const LocalNode& follower = a_follower(cluster, leader);
  const std::string leader_address = "127.0.0.1:" + std::to_string(cluster.nodes()[leader].client_port);

  // Without -c the redirect itself is the answer (CLUSTER KEYSLOT k is 7629).
  CHECK(cli(follower.client_port, "set k v").rfind("MOVED 7629 " + leader_address + "\n", 0) == 0);
  // With -c redis-cli follows it and prints the leader's reply.
  CHECK(cli(follower.client_port, "-c set k v") == "OK\n");
  CHECK(cli(follower.client_port, "-c get k") == "v\n");
  CHECK(cli(follower.client_port, "-c incr counter") == "1\n");
  CHECK(cli(follower.client_port, "-c get missing") == "\n");
  // The write reached the leader, and through it every node.
  CHECK(cli(cluster.nodes()[leader].client_port, "get k") == "v\n");

  // After the leader dies the redirect names the new one.
  cluster.stop(cluster.nodes()[leader], SIGKILL);
  const int next = cluster.wait_for_leader();
  REQUIRE(next >= 0);
  REQUIRE(next != leader);
  const LocalNode& survivor = a_follower(cluster, next);
  CHECK(cli(survivor.client_port, "-c get k") == "v\n");
  CHECK(cli(survivor.client_port, "-c set k w") == "OK\n");
  CHECK(cli(cluster.nodes()[next].client_port, "get k") == "w\n");
}

TEST_CASE("redis-cli: CLUSTER NODES and SLOTS on any node name every member's client address (one Raft group)",
          "[cmd][slow]") {
  if (!have_redis_cli()) return;
  LocalCluster cluster(3, one_group());
  const int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  // Every node learns the others' client addresses from their handshakes.
  for (const LocalNode& node : cluster.nodes()) {
    std::string nodes;
    for (int i = 0; i < 200; ++i) {
      nodes = cli(node.client_port, "cluster nodes");
      bool all = true;
      for (const LocalNode& other : cluster.nodes()) {
        all = all && nodes.find(" 127.0.0.1:" + std::to_string(other.client_port) + "@") != std::string::npos;
      }
      if (all) break;
      keel::testing::sleep_ms(25);
    }
    INFO("node on port " << node.client_port << ":\n" << nodes);
    for (const LocalNode& other : cluster.nodes()) {
      CHECK(nodes.find(" 127.0.0.1:" + std::to_string(other.client_port) + "@") != std::string::npos);
    }
    CHECK(nodes.find(":0@") == std::string::npos);
    CHECK(nodes.find(" 127.0.0.1:" + std::to_string(cluster.nodes()[leader].client_port) + "@") <
          nodes.find(" master "));
    const std::string slots = cli(node.client_port, "cluster slots");
    INFO(slots);
    // The slot range's first address is the leader's.
    CHECK(slots.find("0\n16383\n127.0.0.1\n" + std::to_string(cluster.nodes()[leader].client_port) + "\n") !=
          std::string::npos);
  }
}
