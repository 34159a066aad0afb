#include "core/scheduler.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

using keel::core::FiberId;
using keel::core::ProcessId;
using keel::core::Scheduler;

TEST_CASE("scheduler: runs fibers in spawn order and yields round-robin", "[core][unit]") {
  Scheduler s;
  std::vector<std::string> log;
  for (int i = 0; i < 3; ++i) {
    s.spawn(ProcessId(1), "f" + std::to_string(i), [&, i] {
      log.push_back("a" + std::to_string(i));
      s.yield();
      log.push_back("b" + std::to_string(i));
    });
  }
  s.run_ready();
  REQUIRE(log == std::vector<std::string>{"a0", "a1", "a2", "b0", "b1", "b2"});
  REQUIRE(s.fiber_count() == 0);
}

TEST_CASE("scheduler: park waits for unpark and permits are not lost", "[core][unit]") {
  Scheduler s;
  int stage = 0;
  FiberId waiter = s.spawn(ProcessId(1), "waiter", [&] {
    stage = 1;
    s.park();
    stage = 2;
  });
  s.run_ready();
  REQUIRE(stage == 1);
  REQUIRE_FALSE(s.has_runnable());
  s.unpark(waiter);
  s.run_ready();
  REQUIRE(stage == 2);

  // An unpark that arrives before park leaves a permit.
  bool done = false;
  FiberId early = s.spawn(ProcessId(1), "early", [&] {
    s.yield();
    s.park();
    done = true;
  });
  s.run_ready(1);
  s.unpark(early);
  s.run_ready();
  REQUIRE(done);
  // Unparking a fiber that no longer exists is harmless.
  s.unpark(early);
  s.unpark(FiberId(9999));
}

namespace {
struct Sentinel {
  int& counter;
  ~Sentinel() { ++counter; }
};
}  // namespace

TEST_CASE("scheduler: kill_group unwinds the stacks of that group only", "[core][unit]") {
  Scheduler s;
  int destroyed = 0;
  bool survivor_done = false;
  bool victim_resumed = false;
  for (int i = 0; i < 3; ++i) {
    s.spawn(ProcessId(7), "victim", [&] {
      Sentinel guard{destroyed};
      s.park();
      victim_resumed = true;
    });
  }
  FiberId survivor = s.spawn(ProcessId(8), "survivor", [&] {
    s.park();
    survivor_done = true;
  });
  s.run_ready();
  REQUIRE(s.fiber_count(ProcessId(7)) == 3);
  s.kill_group(ProcessId(7));
  REQUIRE(destroyed == 3);
  REQUIRE_FALSE(victim_resumed);
  REQUIRE(s.fiber_count(ProcessId(7)) == 0);
  s.unpark(survivor);
  s.run_ready();
  REQUIRE(survivor_done);
}

TEST_CASE("scheduler: a killed fiber that never ran is destroyed cleanly", "[core][unit]") {
  Scheduler s;
  int destroyed = 0;
  auto guard = std::shared_ptr<int>(new int(0), [&](int* p) {
    ++destroyed;
    delete p;
  });
  s.spawn(ProcessId(2), "never", [guard] { (void)guard; });
  guard.reset();
  s.kill_group(ProcessId(2));
  REQUIRE(destroyed == 1);
  REQUIRE(s.fiber_count() == 0);
}

TEST_CASE("scheduler: paused groups keep their place but do not run", "[core][unit]") {
  Scheduler s;
  std::vector<int> order;
  s.spawn(ProcessId(1), "a", [&] { order.push_back(1); });
  s.spawn(ProcessId(2), "b", [&] { order.push_back(2); });
  s.spawn(ProcessId(1), "c", [&] { order.push_back(3); });
  s.set_paused(ProcessId(1), true);
  s.run_ready();
  REQUIRE(order == std::vector<int>{2});
  REQUIRE_FALSE(s.has_runnable());
  s.set_paused(ProcessId(1), false);
  s.run_ready();
  REQUIRE(order == std::vector<int>{2, 1, 3});
}

TEST_CASE("scheduler: destroying the scheduler unwinds parked fibers", "[core][unit]") {
  int destroyed = 0;
  {
    Scheduler s;
    s.spawn(ProcessId(1), "parked", [&] {
      Sentinel guard{destroyed};
      s.park();
    });
    s.run_ready();
  }
  REQUIRE(destroyed == 1);
}

TEST_CASE("scheduler: deep recursion on a fiber stack works", "[core][unit]") {
  Scheduler s;
  std::function<int(int)> depth = [&](int n) -> int {
    volatile char pad[256];
    pad[0] = static_cast<char>(n);
    return n == 0 ? pad[0] : 1 + depth(n - 1);
  };
  int result = 0;
  s.spawn(ProcessId(1), "deep", [&] { result = depth(200); });
  s.run_ready();
  REQUIRE(result == 200);
}
