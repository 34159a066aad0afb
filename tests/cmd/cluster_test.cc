// Real processes: three keeld nodes on loopback, driven by keel's own RESP
// workload clients, with nodes killed (SIGKILL), paused (SIGSTOP) and
// restarted; the simulator's checkers judge the history.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "net/posix/posix_env.h"
#include "tests/cmd/local_cluster.h"
#include "workloads/durability.h"
#include "workloads/kv_workloads.h"
#include "workloads/linearizability.h"

using keel::core::Duration;
using keel::testing::LocalCluster;

TEST_CASE("cluster: three keeld processes stay linearizable and durable under SIGKILL and SIGSTOP", "[cmd][slow]") {
  LocalCluster cluster(3);
  char dir[] = "/tmp/keel-client-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  keel::posix::PosixEnvOptions o;
  o.data_dir = dir;
  o.log_file = nullptr;
  auto posix = keel::posix::PosixEnv::create(o);
  REQUIRE(posix.is_ok());
  keel::core::Env& env = (*posix)->env();

  for (auto workload : {keel::workloads::KvWorkload::kRegister, keel::workloads::KvWorkload::kUniqueWrites}) {
    keel::workloads::History history;
    keel::workloads::FinalState final_state;
    bool stop_clients = false;
    int running = 0;
    bool done = false;
    keel::core::Status final_status;
    keel::workloads::KvClientConfig config;
    config.workload = workload;
    config.clients_stride = 4;
    const auto origin = env.now();
    auto now = [&env, origin] { return keel::core::Instant() + (env.now() - origin); };
    for (uint32_t c = 1; c <= 4; ++c) {
      ++running;
      env.spawn("client", [&, c] {
        keel::workloads::RespClient client(env, cluster.addresses());
        keel::workloads::KvClientConfig mine = config;
        mine.first_client_id = c;
        keel::workloads::run_kv_client(env, client, history, mine, now, [&] { return stop_clients; });
        --running;
      });
    }
    env.spawn("nemesis", [&] {
      env.sleep_for(Duration::seconds(2));
      auto& nodes = cluster.nodes();
      cluster.stop(nodes[0], SIGKILL);
      env.sleep_for(Duration::seconds(1));
      cluster.start(nodes[0]);
      ::kill(nodes[1].pid, SIGSTOP);
      env.sleep_for(Duration::seconds(1));
      ::kill(nodes[1].pid, SIGCONT);
      env.sleep_for(Duration::seconds(1));
      cluster.stop(nodes[2], SIGKILL);
      cluster.start(nodes[2]);
      env.sleep_for(Duration::seconds(2));
      stop_clients = true;
      while (running > 0) env.sleep_for(Duration::millis(20));
      keel::workloads::RespClient reader(env, cluster.addresses());
      const auto give_up = env.now() + Duration::seconds(20);
      auto state = keel::workloads::read_final_state(env, reader, config, [&] { return env.now() >= give_up; });
      if (state.is_ok()) {
        final_state = std::move(*state);
      } else {
        final_status = state.status();
      }
      done = true;
      (*posix)->stop();
    });
    (*posix)->run();
    REQUIRE(done);
    REQUIRE(final_status.is_ok());
    size_t ok = 0;
    for (auto& op : history.ops()) ok += op.outcome == keel::workloads::Outcome::kOk ? 1 : 0;
    INFO("ops ok " << ok << " of " << history.size());
    REQUIRE(ok > 50);
    const auto lin = keel::workloads::check_linearizability(history);
    INFO(lin.summary());
    REQUIRE(lin.verdict != keel::workloads::Verdict::kFail);
    const auto dur = keel::workloads::check_durability(history, final_state);
    INFO(dur.summary());
    REQUIRE(dur.verdict == keel::workloads::Verdict::kPass);
  }
  std::system((std::string("rm -rf ") + dir).c_str());
}

TEST_CASE("cluster: redis-cli prints for keel what it prints for redis-server", "[cmd][slow]") {
  // One Raft group: a standalone redis-server serves multi-key commands
  // across slots, which a partitioned keel (as a Redis Cluster) refuses.
  keel::testing::LocalClusterOptions one_group;
  one_group.extra_args = {"--partitions", "0"};
  LocalCluster cluster(1, one_group);
  const uint16_t redis_port = static_cast<uint16_t>(cluster.nodes()[0].client_port + 100);
  keel::testing::RedisServer redis(redis_port);
  REQUIRE(redis.started());
  auto cli = [](uint16_t port, const std::string& args) {
    std::string out;
    FILE* p = ::popen(("redis-cli -p " + std::to_string(port) + " " + args + " 2>&1").c_str(), "r");
    REQUIRE(p != nullptr);
    char buf[256];
    while (std::fgets(buf, sizeof buf, p) != nullptr) out += buf;
    ::pclose(p);
    return out;
  };
  const uint16_t keel_port = cluster.nodes()[0].client_port;
  for (int i = 0; i < 100 && cli(keel_port, "set warmup 1") != "OK\n"; ++i) ::usleep(100 * 1000);
  for (int i = 0; i < 100 && cli(redis_port, "ping") != "PONG\n"; ++i) ::usleep(100 * 1000);
  REQUIRE(cli(redis_port, "set warmup 1") == "OK\n");
  for (const char* command : {"ping", "echo hello", "set k v", "get k", "get missing", "set k w nx", "set k w xx get",
                              "incr n", "incrby n 41", "decr n", "incr k", "append k x", "strlen k", "mget k n missing",
                              "mset a 1 b 2", "exists a b c", "del a b c", "dbsize", "nosuchcommand arg",
                              "get", "set k v nx xx", "select 0"}) {
    INFO(command);
    REQUIRE(cli(keel_port, command) == cli(redis_port, command));
  }
}
