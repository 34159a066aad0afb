#include "net/posix/posix_env.h"

#include <signal.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

#include "tests/posix/test_util.h"

using keel::core::Code;
using keel::core::Duration;
using keel::core::OpenMode;
using keel::posix::PosixEnv;
using keel::posix::PosixEnvOptions;
using keel::posix::testing::TempDir;

TEST_CASE("posix env: a composed Env runs fibers over the network, disk and clock", "[posix][unit]") {
  TempDir dir;
  FILE* log = std::tmpfile();
  REQUIRE(log != nullptr);
  PosixEnvOptions options;
  options.data_dir = dir.path() + "/node1";
  options.trace_source = "n1";
  options.log_file = log;
  auto created = PosixEnv::create(options);
  REQUIRE(created.is_ok());
  PosixEnv& posix = *created.value();
  keel::core::Env& env = posix.env();
  std::string received;
  bool done = false;
  env.spawn("main", [&] {
    auto listener = env.net.listen({"127.0.0.1", 0});
    REQUIRE(listener.is_ok());
    env.spawn("server", [&] {
      auto conn = listener.value()->accept();
      REQUIRE(conn.is_ok());
      char buf[64];
      auto n = conn.value()->read(buf, sizeof buf);
      REQUIRE(n.is_ok());
      received.assign(buf, n.value());
    });
    auto client = env.net.connect(listener.value()->address(), Duration::seconds(2));
    REQUIRE(client.is_ok());
    REQUIRE(client.value()->write("hello").is_ok());
    auto file = env.disk.open("state", OpenMode::kCreate);
    REQUIRE(file.is_ok());
    REQUIRE(file.value()->append("persisted").is_ok());
    REQUIRE(file.value()->sync().is_ok());
    const auto before = env.now();
    env.sleep_for(Duration::millis(5));
    REQUIRE(env.now() - before >= Duration::millis(5));
    env.trace.info("env test says hi");
    while (received.empty()) env.sleep_for(Duration::millis(1));
    done = true;
    posix.stop();
  });
  posix.run();
  REQUIRE(done);
  REQUIRE(received == "hello");
  // Two Envs from the OS seed differ (with overwhelming probability).
  REQUIRE(keel::posix::os_random_seed().value() != keel::posix::os_random_seed().value());
  created.value().reset();
  std::fflush(log);
  std::rewind(log);
  char line[4096] = {};
  std::string all;
  while (std::fgets(line, sizeof line, log) != nullptr) all += line;
  std::fclose(log);
  INFO(all);
  REQUIRE(all.find("env test says hi") != std::string::npos);
  REQUIRE(all.find("n1") != std::string::npos);
}

TEST_CASE("posix env: SIGTERM stops run() when signals are enabled", "[posix][unit]") {
  TempDir dir;
  PosixEnvOptions options;
  options.data_dir = dir.path();
  options.log_file = nullptr;
  options.stop_on_signals = true;
  options.seed = 7;
  auto created = PosixEnv::create(options);
  REQUIRE(created.is_ok());
  PosixEnv& posix = *created.value();
  REQUIRE(posix.random().seed() == 7);
  bool left_running = false;
  posix.env().spawn("signaller", [&] {
    posix.env().sleep_for(Duration::millis(5));
    REQUIRE(::kill(::getpid(), SIGTERM) == 0);
    // The loop must stop even though this fiber keeps sleeping.
    posix.env().sleep_for(Duration::seconds(30));
    left_running = true;
  });
  posix.run();
  REQUIRE_FALSE(left_running);
  REQUIRE(posix.fibers().fiber_count() == 1);
}

TEST_CASE("posix env: a bad data directory is reported", "[posix][unit]") {
  TempDir dir;
  {
    std::FILE* f = std::fopen((dir.path() + "/file").c_str(), "w");
    REQUIRE(f != nullptr);
    std::fclose(f);
  }
  PosixEnvOptions options;
  options.data_dir = dir.path() + "/file/sub";
  options.log_file = nullptr;
  auto created = PosixEnv::create(options);
  REQUIRE_FALSE(created.is_ok());
  REQUIRE(created.status().code() == Code::kNotFound);
}
