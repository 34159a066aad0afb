// keeld's life as a process: --version, a graceful stop on SIGTERM, and a
// restart from the same data directory that keeps every acknowledged write.
#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "tests/cmd/local_cluster.h"

namespace {

using keel::testing::Keeld;
using keel::testing::RespConnection;
using keel::testing::TempDir;

std::vector<std::string> single_node_args(uint16_t base, const std::string& data_dir) {
  return {"--listen",   "127.0.0.1:" + std::to_string(base + 1), "--peer-listen", "127.0.0.1:" + std::to_string(base + 2),
          "--data-dir", data_dir,                                "--tick-ms",     "20"};
}

RespConnection connect_when_up(uint16_t port) {
  RespConnection c;
  for (int i = 0; i < 500 && !c.connect(port); ++i) keel::testing::sleep_ms(10);
  REQUIRE(c.connected());
  return c;
}

// Sends `argv` until the node answers something other than a "no leader
// yet" error (a fresh node elects itself within a few ticks).
std::string call_when_leader(RespConnection& c, const std::vector<std::string>& argv) {
  std::string reply;
  for (int i = 0; i < 500; ++i) {
    reply = c.call(argv).describe();
    if (reply.rfind("-CLUSTERDOWN", 0) != 0 && reply.rfind("-TRYAGAIN", 0) != 0) break;
    keel::testing::sleep_ms(10);
  }
  return reply;
}

// Waits until the node says it serves every slot (CLUSTER INFO).
bool wait_ready(RespConnection& c) {
  for (int i = 0; i < 1000; ++i) {
    if (c.call({"CLUSTER", "INFO"}).describe().find("cluster_state:ok") != std::string::npos) return true;
    keel::testing::sleep_ms(10);
  }
  return false;
}

}  // namespace

TEST_CASE("keeld lifecycle: --version prints the version and exits 0", "[cmd][slow]") {
  FILE* p = ::popen((keel::testing::keeld_path() + " --version").c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[128] = {};
  const bool got = std::fgets(buf, sizeof buf, p) != nullptr;
  const int status = ::pclose(p);
  REQUIRE(got);
  CHECK(std::string(buf).rfind("keeld ", 0) == 0);
  CHECK(WIFEXITED(status));
  CHECK(WEXITSTATUS(status) == 0);
}

TEST_CASE("keeld lifecycle: SIGTERM stops the node with exit 0 and a restart keeps every write", "[cmd][slow]") {
  TempDir dir;
  const uint16_t base = keel::testing::pick_port_base();
  const std::string data = dir.path() + "/n1";
  constexpr int kKeys = 300;
  {
    Keeld keeld(single_node_args(base, data), dir.path() + "/log1");
    RespConnection c = connect_when_up(static_cast<uint16_t>(base + 1));
    REQUIRE(wait_ready(c));
    REQUIRE(call_when_leader(c, {"SET", "k0", "v0"}) == "+OK\r\n");
    for (int i = 1; i < kKeys; ++i) {
      REQUIRE(c.call({"SET", "k" + std::to_string(i), "v" + std::to_string(i)}).describe() == "+OK\r\n");
    }
    const int64_t start = keel::testing::now_ms();
    CHECK(keeld.terminate() == 0);
    CHECK(keel::testing::now_ms() - start < 5000);
  }
  Keeld again(single_node_args(base, data), dir.path() + "/log2");
  RespConnection c = connect_when_up(static_cast<uint16_t>(base + 1));
  REQUIRE(wait_ready(c));
  CHECK(call_when_leader(c, {"DBSIZE"}) == ":" + std::to_string(kKeys) + "\r\n");
  for (int i = 0; i < kKeys; i += 37) {
    const std::string v = "v" + std::to_string(i);
    CHECK(c.call({"GET", "k" + std::to_string(i)}).describe() == "$" + std::to_string(v.size()) + "\r\n" + v + "\r\n");
  }
}
