#include "core/sync.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/fiber_group.h"
#include "sim/world.h"

using keel::core::Channel;
using keel::core::Code;
using keel::core::Duration;
using keel::core::Env;
using keel::core::Instant;
using keel::core::Mutex;
using keel::core::Promise;
using keel::sim::World;

TEST_CASE("sync: channel delivers in order, pushes back when full, drains after close", "[core][unit]") {
  World w(1);
  std::vector<int> got;
  Code full_code = Code::kOk;
  Code after_close = Code::kOk;
  auto h = w.add_host("n1", [&](Env& env) {
    Channel<int> ch(env.fibers, 2);
    REQUIRE(ch.try_send(1).is_ok());
    REQUIRE(ch.try_send(2).is_ok());
    full_code = ch.try_send(3).code();
    env.spawn("consumer", [&] {
      for (;;) {
        auto v = ch.recv();
        if (!v.is_ok()) {
          after_close = v.status().code();
          return;
        }
        got.push_back(*v);
      }
    });
    for (int i = 3; i <= 6; ++i) REQUIRE(ch.send(i).is_ok());
    env.sleep_for(Duration::millis(1));
    ch.close();
    env.sleep_for(Duration::millis(1));
  });
  w.start(h);
  w.run_for(Duration::seconds(1));
  REQUIRE(full_code == Code::kUnavailable);
  REQUIRE(got == std::vector<int>{1, 2, 3, 4, 5, 6});
  REQUIRE(after_close == Code::kCancelled);
}

TEST_CASE("sync: recv_until and get_until time out on the host clock", "[core][unit]") {
  World w(2);
  Code channel_code = Code::kOk;
  Code future_code = Code::kOk;
  Duration waited;
  int value = 0;
  auto h = w.add_host("n1", [&](Env& env) {
    Channel<int> ch(env.fibers, 1);
    const Instant t0 = env.now();
    channel_code = ch.recv_until(env.clock, t0 + Duration::millis(30)).status().code();
    waited = env.now() - t0;
    Promise<int> late(env.fibers);
    auto f = late.future();
    future_code = f.get_until(env.clock, env.now() + Duration::millis(5)).status().code();
    Promise<int> soon(env.fibers);
    auto g = soon.future();
    env.spawn("setter", [&] {
      env.sleep_for(Duration::millis(2));
      soon.set(42);
    });
    value = *g.get_until(env.clock, env.now() + Duration::seconds(1));
  });
  w.start(h);
  w.run_for(Duration::seconds(2));
  REQUIRE(channel_code == Code::kDeadlineExceeded);
  REQUIRE(waited >= Duration::millis(30));
  REQUIRE(future_code == Code::kDeadlineExceeded);
  REQUIRE(value == 42);
}

TEST_CASE("sync: a dropped promise breaks its future", "[core][unit]") {
  World w(3);
  Code code = Code::kOk;
  auto h = w.add_host("n1", [&](Env& env) {
    keel::core::Future<int> f;
    {
      Promise<int> p(env.fibers);
      f = p.future();
    }
    code = f.get().status().code();
  });
  w.start(h);
  w.run_for(Duration::seconds(1));
  REQUIRE(code == Code::kCancelled);
}

TEST_CASE("sync: mutex serialises critical sections that suspend", "[core][unit]") {
  World w(4);
  std::vector<std::string> log;
  auto h = w.add_host("n1", [&](Env& env) {
    Mutex m(env.fibers);
    keel::core::FiberGroup group(env);
    for (int i = 0; i < 3; ++i) {
      group.spawn("worker", [&, i] {
        keel::core::LockGuard guard(m);
        log.push_back("in" + std::to_string(i));
        env.sleep_for(Duration::millis(1));
        log.push_back("out" + std::to_string(i));
      });
    }
    env.sleep_for(Duration::millis(10));
  });
  w.start(h);
  w.run_for(Duration::seconds(1));
  REQUIRE(log == std::vector<std::string>{"in0", "out0", "in1", "out1", "in2", "out2"});
}

TEST_CASE("sync: a fiber group kills its fibers before its owner's members go", "[core][unit]") {
  World w(5);
  int unwound = 0;
  auto h = w.add_host("n1", [&](Env& env) {
    struct Owner {
      explicit Owner(Env& e) : waiters(e.fibers), group(e) {}
      keel::core::WaitList waiters;
      keel::core::FiberGroup group;  // last: destroyed first
    };
    struct Count {
      int& n;
      ~Count() { ++n; }
    };
    {
      Owner owner(env);
      for (int i = 0; i < 3; ++i) {
        owner.group.spawn("waiter", [&owner, &unwound] {
          Count c{unwound};
          owner.waiters.wait();
        });
      }
      env.sleep_for(Duration::millis(1));
    }
    env.sleep_for(Duration::millis(1));
  });
  w.start(h);
  w.run_for(Duration::seconds(1));
  REQUIRE(unwound == 3);
  REQUIRE(w.scheduler().fiber_count() == 0);
}
