// The ISR workloads (sim/isr_scenario.cc): green under faults and
// deterministic; every planted ISR bug caught within 100 seeds; the acks=1
// control shows the durability checker seeing loss.
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "sim/run.h"

using keel::core::Duration;
using keel::sim::RunOptions;
using keel::sim::RunResult;

namespace {

RunResult run(const std::string& workload, uint64_t seed, const std::string& bug = "", int nodes = 3) {
  RunOptions o;
  o.seed = seed;
  o.workload = workload;
  o.nodes = nodes;
  o.bug = bug;
  return keel::sim::run_simulation(o);
}

std::string violations(const RunResult& r) {
  std::string out;
  for (const std::string& v : r.violations) out += "\n  " + v.substr(0, 300);
  return out;
}

}  // namespace

TEST_CASE("sim isr: register, counter and unique-writes pass under faults on 3 and 5 nodes, deterministically",
          "[sim][sim]") {
  for (const char* workload : {"isr-register", "isr-counter", "isr-unique-writes"}) {
    for (int nodes : {3, 5}) {
      for (uint64_t seed = 1; seed <= 15; ++seed) {
        const RunResult a = run(workload, seed, "", nodes);
        INFO("keel-sim --seed " << seed << " --workload " << workload << " --nodes " << nodes << violations(a));
        REQUIRE(a.pass);
        REQUIRE(a.ops_ok > 0);
        if (seed <= 3) {
          const RunResult b = run(workload, seed, "", nodes);
          REQUIRE(a.digest == b.digest);
          REQUIRE(a.events == b.events);
        }
      }
    }
  }
}

TEST_CASE("sim isr: each planted ISR bug is caught within 100 seeds", "[sim][sim]") {
  // The five bugs the partitions issue names, and the invariants that see
  // them first (which one depends on the run: a HW over the wrong replicas
  // shows as a HW beyond an ISR member's log (P6) or as a leader elected
  // without a committed record (P5); a leader from outside the ISR as that
  // election (P5), as the committed records its followers then truncate
  // (P3), or as a partition that never settles: the leader's ISR requests
  // leave itself out, each is refused (the controller answers with a new
  // partition epoch) and asked again (C5)).
  const std::pair<const char*, std::vector<std::string>> bugs[] = {
      {"hw-over-all-replicas", {"P5", "P6"}},
      {"elect-outside-isr", {"P5", "P3", "C5 liveness"}},
      {"truncate-to-hw", {"P3"}},
      {"isr-add-before-epoch-start", {"P7", "P5"}},
      {"elect-before-lease-expiry", {"P9", "C1"}},
  };
  for (const auto& [bug, invariants] : bugs) {
    uint64_t caught_at = 0;
    std::string seen;
    for (uint64_t seed = 1; seed <= 100 && caught_at == 0; ++seed) {
      const RunResult r = run("isr-register", seed, bug);
      if (r.pass) continue;
      caught_at = seed;
      seen = violations(r);
    }
    INFO("bug " << bug << " caught at seed " << caught_at << seen);
    REQUIRE(caught_at != 0);
    bool named = false;
    for (const std::string& inv : invariants) named = named || seen.find("  " + inv + ":") != std::string::npos;
    CHECK(named);
  }
}

TEST_CASE("sim isr: the acks=1 control loses acknowledged writes and the durability checker says so", "[sim][sim]") {
  // acks=1 acknowledges after the leader's own fsync: a failover to a
  // follower that never fetched the write loses it. If no seed showed that,
  // the durability checker (or the nemesis) would be proving nothing.
  uint64_t lost_at = 0;
  for (uint64_t seed = 1; seed <= 60 && lost_at == 0; ++seed) {
    const RunResult r = run("isr-acks1", seed);
    for (const std::string& v : r.violations) {
      if (v.find("C2 durability") != std::string::npos && v.find("acknowledged write lost") != std::string::npos) {
        lost_at = seed;
      }
    }
  }
  INFO("first seed with a lost acknowledged write: " << lost_at);
  REQUIRE(lost_at != 0);
}

TEST_CASE("sim isr: an unknown --bug is refused", "[sim][unit]") {
  const RunResult r = run("isr-register", 1, "no-such-bug");
  REQUIRE_FALSE(r.pass);
  REQUIRE(violations(r).find("unknown --bug") != std::string::npos);
}

TEST_CASE("sim isr: seeds that once found ISR bugs stay green", "[sim][sim]") {
  // A restarted replica following a stale controller record (16), an epoch
  // without records kept in the cache (148), compaction dropping the
  // snapshot's epoch (81, 312), a divergence answer instead of a snapshot
  // (400), a lease granted while a fence was in flight (838, 919).
  for (uint64_t seed : {16, 81, 148, 312, 400, 838, 919}) {
    const RunResult r = run("isr-register", seed);
    INFO("keel-sim --seed " << seed << " --workload isr-register" << violations(r));
    REQUIRE(r.pass);
  }
}

TEST_CASE("sim isr: the controller is a Raft group whose invariants are checked online", "[sim][sim]") {
  // The controller's metadata is replicated by RaftNodes running
  // ControllerStateMachine beside the partition replicas; R1-R8 are checked
  // after every Ready. A Raft bug planted in that group is reported.
  const RunResult r = run("isr-register", 1, "controller-commit-without-quorum");
  INFO(violations(r));
  REQUIRE_FALSE(r.pass);
  REQUIRE(violations(r).find("controller group: R") != std::string::npos);
}

TEST_CASE("sim isr-driver: the partition data path passes crashes, pauses and disk faults, deterministically",
          "[sim][sim]") {
  for (uint64_t seed = 1; seed <= 20; ++seed) {
    const RunResult a = run("isr-driver", seed);
    INFO("keel-sim --seed " << seed << " --workload isr-driver" << violations(a));
    REQUIRE(a.pass);
    REQUIRE(a.ops_ok > 0);
    if (seed <= 3) {
      const RunResult b = run("isr-driver", seed);
      REQUIRE(a.digest == b.digest);
    }
  }
  // Seeds that found driver bugs: a snapshot labelled with epoch 0 when the
  // leader's log started at its applied offset (335, 526, 541, 551), and a
  // MemKvEngine that replaced its only snapshot in place (316).
  for (uint64_t seed : {316, 335, 526, 541, 551}) {
    const RunResult r = run("isr-driver", seed);
    INFO("keel-sim --seed " << seed << " --workload isr-driver" << violations(r));
    REQUIRE(r.pass);
  }
}

TEST_CASE("sim isr-driver: applying records before they are committed is caught", "[sim][sim]") {
  uint64_t caught_at = 0;
  for (uint64_t seed = 1; seed <= 30 && caught_at == 0; ++seed) {
    if (!run("isr-driver", seed, "driver-apply-before-commit").pass) caught_at = seed;
  }
  REQUIRE(caught_at != 0);
}
