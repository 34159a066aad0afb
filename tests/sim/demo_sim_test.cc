#include <catch2/catch.hpp>
#include <string>

#include "sim/run.h"

using keel::sim::RunOptions;
using keel::sim::RunResult;

// 2706: a primary that exited on a failed fsync restarted, read its unsynced
// records back from the page cache and replicated them; a crash then lost
// one that a backup had acknowledged. 3078: the same after a kill during a
// sync; the backups kept a record the primary lost and never caught up.
TEST_CASE("sim demo: seeds that once found bugs stay green", "[sim][sim]") {
  for (const uint64_t seed : {2706u, 3078u}) {
    RunOptions o;
    o.seed = seed;
    o.workload = "demo";
    const RunResult r = keel::sim::run_simulation(o);
    std::string violations;
    for (auto& v : r.violations) violations += "\n  " + v;
    INFO("keel-sim --seed " << seed << " --workload demo" << violations);
    CHECK(r.pass);
  }
}
