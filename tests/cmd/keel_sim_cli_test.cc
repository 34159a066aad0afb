// keel-sim's command line: sweeps, coverage marks, and what bad input gets.
#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

namespace {

struct Ran {
  int exit_code = -1;
  std::string output;
};

// Runs `args` after the keel-sim binary through the shell, stdout and
// stderr together.
Ran keel_sim(const std::string& args) {
  const std::string cmd = std::string(KEEL_BUILD_DIR) + "/cmd/keel-sim " + args + " 2>&1";
  Ran out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.output.append(buf, n);
  const int status = ::pclose(p);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace

TEST_CASE("keel-sim: a sweep reports its coverage marks", "[cmd][unit]") {
  const Ran r = keel_sim("--workload register --seeds 1..4 --jobs 2 --fault-seconds 8");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("coverage marks") != std::string::npos);
  CHECK(r.output.find("raft: vote refused") != std::string::npos);
}

TEST_CASE("keel-sim: --require-cover fails a sweep that never reaches a required mark", "[cmd][unit]") {
  // Without faults nothing is ever truncated, installed or stepped down.
  const Ran r = keel_sim("--workload register --seeds 1..2 --jobs 2 --no-faults --require-cover");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("REQUIRED, NEVER HIT") != std::string::npos);
  CHECK(r.output.find("required mark(s) never hit") != std::string::npos);
}
