#include "sim/world.h"

#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <string>
#include <vector>

using keel::core::Duration;
using keel::core::Env;
using keel::core::Instant;
using keel::sim::HostId;
using keel::sim::HostState;
using keel::sim::World;

TEST_CASE("world: events run in time order, ties in insertion order", "[sim][unit]") {
  World w(1);
  std::vector<int> order;
  w.at(Instant::from_nanos(30), [&] { order.push_back(3); });
  w.at(Instant::from_nanos(10), [&] { order.push_back(1); });
  w.at(Instant::from_nanos(10), [&] { order.push_back(2); });
  const uint64_t cancelled = w.at(Instant::from_nanos(20), [&] { order.push_back(99); });
  w.cancel(cancelled);
  w.run_until(Instant::from_nanos(100));
  REQUIRE(order == std::vector<int>{1, 2, 3});
  REQUIRE(w.now() == Instant::from_nanos(100));
}

TEST_CASE("world: a host's sleep follows its drifting clock", "[sim][unit]") {
  World w(2);
  Instant woke_world;
  Duration slept_local;
  HostId h = w.add_host(
      "n1",
      [&](Env& env) {
        const Instant t0 = env.now();
        env.sleep_for(Duration::seconds(1));
        slept_local = env.now() - t0;
        woke_world = w.now();
      },
      /*drift_ppm=*/1000);
  w.start(h);
  w.run_for(Duration::seconds(5));
  REQUIRE(slept_local >= Duration::seconds(1));
  REQUIRE(slept_local < Duration::seconds(1) + Duration::micros(5));
  // A clock running 0.1% fast reaches one local second in less world time.
  REQUIRE(woke_world.ns() < 1'000'000'000);
  REQUIRE(woke_world.ns() > 998'000'000);
}

TEST_CASE("world: crash unwinds the host's fibers and drops its timers", "[sim][unit]") {
  World w(3);
  int started = 0;
  int finished = 0;
  int unwound = 0;
  struct Guard {
    int& n;
    ~Guard() { ++n; }
  };
  HostId h = w.add_host("n1", [&](Env& env) {
    ++started;
    Guard g{unwound};
    env.spawn("sleeper", [&env, &unwound] {
      Guard inner{unwound};
      env.sleep_for(Duration::seconds(100));
    });
    env.sleep_for(Duration::seconds(10));
    ++finished;
  });
  w.start(h);
  w.run_for(Duration::seconds(1));
  REQUIRE(started == 1);
  w.crash(h);
  REQUIRE(unwound == 2);
  REQUIRE(w.host_state(h) == HostState::kDown);
  w.run_for(Duration::seconds(200));
  REQUIRE(finished == 0);
  w.start(h);
  w.run_for(Duration::seconds(20));
  REQUIRE(started == 2);
  REQUIRE(finished == 1);
}

TEST_CASE("world: a paused host holds its timers until resumed", "[sim][unit]") {
  World w(4);
  Instant woke;
  HostId h = w.add_host("n1", [&](Env& env) {
    env.sleep_for(Duration::millis(100));
    woke = w.now();
  }, 0);
  w.start(h);
  w.run_for(Duration::millis(50));
  w.pause(h);
  w.run_for(Duration::seconds(1));
  REQUIRE(woke == Instant());
  w.resume(h);
  w.run_for(Duration::millis(1));
  REQUIRE(woke.ns() >= Duration::millis(1050).ns());
}

TEST_CASE("world: same seed gives the same digest, different seeds differ", "[sim][prop]") {
  auto run = [](uint64_t seed) {
    World w(seed);
    for (int i = 1; i <= 3; ++i) {
      HostId h = w.add_host("n" + std::to_string(i), [](Env& env) {
        for (int k = 0; k < 20; ++k) {
          env.sleep_for(Duration::micros(static_cast<int64_t>(env.random.uniform(1, 1000))));
          env.trace.event("tick", {{"k", k}});
        }
      });
      w.start(h);
    }
    w.run_for(Duration::seconds(1));
    return w.trace_log().digest();
  };
  rc::prop("digest is a function of the seed", [&](uint64_t seed) {
    RC_ASSERT(run(seed) == run(seed));
    RC_ASSERT(run(seed) != run(seed + 1));
  });
}

TEST_CASE("world: a timer held by a pause can still be cancelled after resume", "[sim][unit]") {
  World w(6);
  bool fired = false;
  HostId h = w.add_host("n1", [](Env& env) { env.sleep_for(Duration::seconds(1000)); }, 0);
  w.start(h);
  w.run_for(Duration::millis(1));
  const auto id = w.clock(h).schedule(w.clock(h).now() + Duration::millis(10), [&] { fired = true; });
  w.pause(h);
  w.run_for(Duration::millis(50));
  w.resume(h);
  w.clock(h).cancel(id);
  w.run_for(Duration::millis(50));
  REQUIRE_FALSE(fired);
}
