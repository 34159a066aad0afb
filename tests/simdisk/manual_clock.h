// A test-only Clock and fiber harness, for unit tests that need fibers and
// timers without the whole simulator.
//
// FiberHarness::run(fn) runs `fn` in a fiber and drives the scheduler,
// jumping virtual time to the next timer whenever no fiber is ready, until
// `fn` returns; it then returns fn's value. Test assertions (which throw)
// must be made outside `fn`: an exception escaping a fiber aborts.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <type_traits>
#include <utility>

#include "core/assert.h"
#include "core/env.h"
#include "core/scheduler.h"

namespace keel::testing {

class ManualClock : public core::Clock {
 public:
  explicit ManualClock(core::Scheduler& fibers) : core::Clock(fibers) {}

  core::Instant now() const override { return now_; }
  core::TimerId schedule(core::Instant at, std::function<void()> fn) override {
    const core::TimerId id(next_id_++);
    timers_.emplace(std::make_pair(at, id), std::move(fn));
    return id;
  }
  void cancel(core::TimerId id) override {
    for (auto it = timers_.begin(); it != timers_.end(); ++it) {
      if (it->first.second == id) {
        timers_.erase(it);
        return;
      }
    }
  }
  // Fires the earliest timer, moving time forward to it. False if none.
  bool fire_next() {
    if (timers_.empty()) return false;
    auto it = timers_.begin();
    if (it->first.first > now_) now_ = it->first.first;
    std::function<void()> fn = std::move(it->second);
    timers_.erase(it);
    fn();
    return true;
  }

 private:
  core::Instant now_;
  uint64_t next_id_ = 1;
  std::map<std::pair<core::Instant, core::TimerId>, std::function<void()>> timers_;
};

class FiberHarness {
 public:
  FiberHarness() : clock_(fibers_) {}

  core::Scheduler& fibers() { return fibers_; }
  ManualClock& clock() { return clock_; }

  // Runs `fn` in a fiber, but only until `timer_fires_max` timers have
  // fired (each sync of a SimDisk sleeps on one): then the fiber is killed,
  // as a crash would kill it, at that suspension point. Returns whether
  // `fn` finished.
  bool run_until_crash(const std::function<void()>& fn, size_t timer_fires_max) {
    bool done = false;
    const core::ProcessId group(2);
    fibers_.spawn(group, "test-crashable", [&] {
      fn();
      done = true;
    });
    size_t fires = 0;
    while (!done) {
      fibers_.run_ready();
      if (done) break;
      if (fires == timer_fires_max) {
        fibers_.kill_group(group);
        return false;
      }
      KEEL_ASSERT_MSG(clock_.fire_next(), "test fiber is blocked with no timer pending");
      ++fires;
    }
    return true;
  }

  template <typename F>
  auto run(F fn) -> decltype(fn()) {
    using R = decltype(fn());
    if constexpr (std::is_void_v<R>) {
      run_void([&] { fn(); });
    } else {
      std::optional<R> out;
      run_void([&] { out.emplace(fn()); });
      return std::move(*out);
    }
  }

 private:
  void run_void(const std::function<void()>& fn) {
    bool done = false;
    fibers_.spawn(core::ProcessId(1), "test", [&] {
      fn();
      done = true;
    });
    while (!done) {
      fibers_.run_ready();
      if (done) break;
      KEEL_ASSERT_MSG(clock_.fire_next(), "test fiber is blocked with no timer pending");
    }
  }

  core::Scheduler fibers_;
  ManualClock clock_;
};

}  // namespace keel::testing
