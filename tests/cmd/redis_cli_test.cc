// Real processes: redis-cli in cluster mode (-c) against three keeld nodes.
// A follower answers a keyed command with "-MOVED <slot> <leader>"; redis-cli
// must follow it to the leader and print the leader's answer.
#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
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

}  // namespace

TEST_CASE("redis-cli: -c follows MOVED from a follower to the leader", "[cmd][slow]") {
  if (!have_redis_cli()) return;
  LocalCluster cluster(3);
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

TEST_CASE("redis-cli: CLUSTER NODES and SLOTS on any node name every member's client address", "[cmd][slow]") {
  if (!have_redis_cli()) return;
  LocalCluster cluster(3);
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
