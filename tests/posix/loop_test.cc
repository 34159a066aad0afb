#include "net/posix/event_loop.h"

#include <signal.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <thread>
#include <vector>

#include "core/sync.h"
#include "tests/posix/test_util.h"

using keel::core::Duration;
using keel::core::Instant;
using keel::core::ProcessId;
using keel::posix::testing::Rig;
using keel::posix::testing::run_fiber;

TEST_CASE("posix loop: timers fire in deadline order, ties in scheduling order", "[posix][unit]") {
  Rig rig;
  auto& clock = rig.loop.clock();
  std::vector<int> fired;
  const Instant base = clock.now() + Duration::millis(5);
  clock.schedule(base + Duration::millis(6), [&] { fired.push_back(3); });
  clock.schedule(base + Duration::millis(2), [&] { fired.push_back(1); });
  clock.schedule(base + Duration::millis(4), [&] { fired.push_back(2); });
  const auto cancelled = clock.schedule(base + Duration::millis(3), [&] { fired.push_back(99); });
  // Same deadline: the one scheduled first fires first.
  clock.schedule(base + Duration::millis(8), [&] { fired.push_back(4); });
  clock.schedule(base + Duration::millis(8), [&] { fired.push_back(5); });
  clock.schedule(base - Duration::millis(100), [&] { fired.push_back(0); });
  clock.cancel(cancelled);
  clock.cancel(cancelled);  // a second cancel is a no-op
  REQUIRE(rig.loop.run_until([&] { return fired.size() == 6; }, Duration::seconds(5)));
  REQUIRE(fired == std::vector<int>{0, 1, 2, 3, 4, 5});
  REQUIRE(clock.now() >= base + Duration::millis(8));
  REQUIRE(rig.loop.timer_count() == 0);
}

TEST_CASE("posix loop: sleep_for takes about the requested time", "[posix][unit]") {
  Rig rig;
  auto& clock = rig.loop.clock();
  for (Duration d : {Duration::millis(1), Duration::millis(20), Duration::millis(50)}) {
    Duration took;
    run_fiber(rig.loop, [&] {
      const Instant start = clock.now();
      clock.sleep_for(d);
      took = clock.now() - start;
    });
    INFO("asked " << d.to_string() << ", took " << took.to_string());
    REQUIRE(took >= d);
    // Generous: the machine running the tests may be heavily loaded.
    REQUIRE(took < d + Duration::millis(50));
  }
}

TEST_CASE("posix loop: many sleeping fibers wake in deadline order", "[posix][unit]") {
  Rig rig;
  auto& clock = rig.loop.clock();
  std::vector<int> order;
  for (int i = 9; i >= 0; --i) {
    rig.fibers.spawn(ProcessId(0), "sleeper", [&, i] {
      clock.sleep_for(Duration::millis(2 * i + 1));
      order.push_back(i);
    });
  }
  REQUIRE(rig.loop.run_until([&] { return order.size() == 10; }, Duration::seconds(5)));
  REQUIRE(order == std::vector<int>{0, 1, 2, 3, 4, 5, 6, 7, 8, 9});
}

TEST_CASE("posix loop: wait_until times out on the loop's clock", "[posix][unit]") {
  Rig rig;
  run_fiber(rig.loop, [&] {
    keel::core::WaitList list(rig.fibers);
    const Instant start = rig.loop.now();
    REQUIRE_FALSE(list.wait_until(rig.loop.clock(), start + Duration::millis(10)));
    REQUIRE(rig.loop.now() - start >= Duration::millis(10));
  });
  REQUIRE(rig.loop.timer_count() == 0);
}

TEST_CASE("posix loop: post and stop from another thread wake the loop", "[posix][unit]") {
  Rig rig;
  std::atomic<int> ran{0};
  std::atomic<int> refused{0};
  // Catch2's assertions are not thread-safe: count refusals, check below.
  std::thread other([&] {
    for (int i = 0; i < 100; ++i) refused += rig.loop.post([&] { ran.fetch_add(1); }).is_ok() ? 0 : 1;
    refused += rig.loop.post([&] { rig.loop.stop(); }).is_ok() ? 0 : 1;
  });
  // With no timers and no fibers, only the eventfd can end this wait.
  rig.loop.run();
  other.join();
  REQUIRE(refused.load() == 0);
  REQUIRE(ran.load() == 100);
  std::thread stopper([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    rig.loop.stop();
  });
  const Instant start = rig.loop.now();
  rig.loop.run();
  stopper.join();
  REQUIRE(rig.loop.now() - start >= Duration::millis(15));
}

TEST_CASE("posix loop: a yielding fiber does not starve timers", "[posix][unit]") {
  Rig rig;
  bool fired = false;
  rig.loop.clock().schedule(rig.loop.now() + Duration::millis(5), [&] { fired = true; });
  run_fiber(rig.loop, [&] {
    while (!fired) rig.fibers.yield();
  });
  REQUIRE(fired);
}

TEST_CASE("posix loop: on_signal delivers a signal to its handler on the loop", "[posix][unit]") {
  Rig rig;
  int got = 0;
  REQUIRE(rig.loop.on_signal(SIGUSR1, [&](int signo) {
    got = signo;
    rig.loop.stop();
  }).is_ok());
  REQUIRE(rig.loop.on_signal(SIGTERM, [&](int) { FAIL("wrong handler"); }).is_ok());
  REQUIRE(::kill(::getpid(), SIGUSR1) == 0);
  rig.loop.run();
  REQUIRE(got == SIGUSR1);
}
