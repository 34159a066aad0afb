#include <catch2/catch.hpp>
#include <set>

#include "sim/run.h"

using keel::core::Duration;
using keel::sim::RunOptions;
using keel::sim::RunResult;

TEST_CASE("sim: 50 seeds of the demo under faults pass and are deterministic", "[sim][sim]") {
  std::set<uint64_t> digests;
  for (uint64_t seed = 1; seed <= 50; ++seed) {
    RunOptions o;
    o.seed = seed;
    o.workload = "demo";
    o.fault_window = Duration::seconds(5);
    const RunResult a = keel::sim::run_simulation(o);
    const RunResult b = keel::sim::run_simulation(o);
    INFO("seed " << seed << ": keel-sim --seed " << seed << " --fault-seconds 5");
    std::string violations;
    for (auto& v : a.violations) violations += "\n  " + v;
    INFO("violations:" << violations);
    REQUIRE(a.pass);
    REQUIRE(a.digest == b.digest);
    REQUIRE(a.events == b.events);
    REQUIRE(a.ops_ok > 0);
    digests.insert(a.digest);
  }
  // Different seeds, different runs.
  REQUIRE(digests.size() == 50);
}

TEST_CASE("sim: the demo's checkers catch a planted skipped fsync", "[sim][sim]") {
  int caught = 0;
  uint64_t first = 0;
  for (uint64_t seed = 1; seed <= 200 && caught == 0; ++seed) {
    RunOptions o;
    o.seed = seed;
    o.workload = "demo";
    o.fault_window = Duration::seconds(10);
    o.bug = "skip-sync";
    const RunResult r = keel::sim::run_simulation(o);
    if (!r.pass) {
      ++caught;
      first = seed;
      bool durability = false;
      for (auto& v : r.violations) durability = durability || v.rfind("durability", 0) == 0;
      REQUIRE(durability);
    }
  }
  INFO("first failing seed " << first);
  REQUIRE(caught == 1);
}
