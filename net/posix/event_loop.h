// EventLoop: drives one core::Scheduler on one OS thread in production.
//
// The loop owns an epoll instance, a timer heap, an eventfd and (once asked)
// a signalfd. One turn of the loop:
//   1. runs ready fibers (at most kFiberRunsPerTurnMax, so a fiber that keeps
//      yielding cannot starve I/O and timers);
//   2. computes how long it may sleep: zero if fibers are still runnable or a
//      stop was requested, else until the earliest timer;
//   3. waits in epoll_pwait2 (nanosecond timeout);
//   4. dispatches readiness: wakes the fibers waiting on a ready fd, drains
//      work posted from other threads, runs signal handlers;
//   5. fires expired timers in (deadline, sequence) order.
//
// Sockets are registered edge-triggered for input and output at once. A
// fiber always tries its system call first and waits on the fd's IoWatch only
// after EAGAIN; since edges are only dispatched between fiber runs on this
// one thread, an edge can never fall between the EAGAIN and the wait (no lost
// wake-ups), and a spurious wake-up only costs one more EAGAIN.
//
// Thread-safety: everything here must be called on the loop's thread except
// post() and stop(), which other threads (the disk worker pool, a signal
// forwarder) use to hand work to the loop; they wake it through the eventfd.
//
// Invariants: timers fire on the loop's thread, never inside a fiber, in
// (deadline, scheduling sequence) order; a cancelled timer never fires; a
// callback posted from another thread runs exactly once on the loop's thread
// unless the loop is destroyed first.
#pragma once

#include <sys/types.h>

#include <atomic>
#include <csignal>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <unordered_map>
#include <vector>

#include "core/env.h"
#include "core/scheduler.h"
#include "core/status.h"
#include "core/sync.h"
#include "core/time.h"

namespace keel::posix {

class EventLoop;

// CLOCK_MONOTONIC as a core::Instant (nanoseconds since boot).
core::Instant monotonic_now();

// Renders errno `err` as text; thread-safe.
std::string errno_text(int err);

// The production Clock: CLOCK_MONOTONIC and the loop's timer heap.
class PosixClock final : public core::Clock {
 public:
  explicit PosixClock(EventLoop& loop);

  core::Instant now() const override { return monotonic_now(); }
  // Loop thread only. `fn` runs on the loop's thread, outside any fiber.
  core::TimerId schedule(core::Instant at, std::function<void()> fn) override;
  void cancel(core::TimerId id) override;

 private:
  EventLoop& loop_;
};

// The readiness of one registered fd: the fibers waiting to read and to
// write it. Owned by the object that owns the fd (a Stream, a Listener).
class IoWatch {
 public:
  explicit IoWatch(core::Scheduler& fibers) : readers_(fibers), writers_(fibers) {}
  core::WaitList& readers() { return readers_; }
  core::WaitList& writers() { return writers_; }

 private:
  core::WaitList readers_;
  core::WaitList writers_;
};

class EventLoop {
 public:
  // Fibers resumed per turn before the loop polls for I/O and timers again.
  static constexpr size_t kFiberRunsPerTurnMax = 4096;
  // epoll events taken per epoll_pwait2 call; more wait for the next turn.
  static constexpr size_t kEpollEventsMax = 256;
  // Callbacks queued by post() and not yet run; post() refuses beyond this.
  static constexpr size_t kPostedMax = 65536;

  explicit EventLoop(core::Scheduler& fibers);
  // Undelivered posted callbacks and pending timers are dropped unrun.
  ~EventLoop();
  EventLoop(const EventLoop&) = delete;
  EventLoop& operator=(const EventLoop&) = delete;

  core::Scheduler& fibers() const { return fibers_; }
  PosixClock& clock() { return clock_; }
  core::Instant now() const { return monotonic_now(); }

  // Runs until stop() is requested; clears the request on return.
  // Precondition: not called from a fiber.
  void run();
  // Runs until `done()` is true (checked after every turn) or `timeout`
  // elapses; returns done(). For tests and tools.
  bool run_until(const std::function<bool()>& done, core::Duration timeout = core::Duration::max());
  // Runs for `d` of wall time (monotonic), then returns.
  void run_for(core::Duration d);
  // One turn; sleeps at most `max_wait` when nothing is runnable. When
  // `done` is given and holds once the ready fibers have run, the turn
  // returns without waiting for I/O.
  void turn(core::Duration max_wait, const std::function<bool()>* done = nullptr);

  // Asks run() to return after the current turn. Thread-safe and
  // async-signal-unsafe (use on_signal for signals).
  void stop();
  bool stop_requested() const { return stop_requested_.load(std::memory_order_acquire); }

  // Timer heap (see PosixClock). Loop thread only.
  core::TimerId add_timer(core::Instant at, std::function<void()> fn);
  void cancel_timer(core::TimerId id);
  size_t timer_count() const { return timer_fns_.size(); }

  // Runs `fn` on the loop's thread during a coming turn. Thread-safe.
  // Unavailable when kPostedMax callbacks are already waiting.
  core::Status post(std::function<void()> fn);

  // Registers `fd` (nonblocking) edge-triggered for input and output; its
  // readiness wakes the waiters of `watch`, which must outlive the
  // registration. Errors: IoError.
  core::Status add_fd(int fd, IoWatch* watch);
  // Deregisters `fd`; call before closing it. Never fails visibly.
  void remove_fd(int fd);

  // Calls `fn(signo)` on the loop's thread whenever `signo` arrives. Blocks
  // `signo` in the calling thread (which must be the loop's thread) and reads
  // it through a signalfd; call it before starting other threads so they
  // inherit the blocked mask (the disk workers block every signal anyway).
  // Errors: IoError.
  core::Status on_signal(int signo, std::function<void(int)> fn);

  uint64_t turns() const { return turns_; }

 private:
  struct TimerEntry {
    int64_t at_ns;
    uint64_t seq;
    // std::push_heap builds a max-heap; invert so the earliest is on top.
    bool operator<(const TimerEntry& o) const {
      if (at_ns != o.at_ns) return at_ns > o.at_ns;
      return seq > o.seq;
    }
  };

  void wait_and_dispatch(int64_t timeout_ns);
  void drain_wakeups();
  void drain_signals();
  void fire_timers();
  // Drops heap entries of cancelled timers from the top, or all of them when
  // garbage dominates the heap.
  void prune_timers();
  int64_t next_timer_ns();

  core::Scheduler& fibers_;
  PosixClock clock_;
  int epoll_fd_ = -1;
  int wake_fd_ = -1;
  int signal_fd_ = -1;
  sigset_t signal_mask_;
  std::map<int, std::function<void(int)>> signal_handlers_;

  // fd -> watch; looked up per event, never iterated.
  std::unordered_map<int, IoWatch*> watches_;

  std::vector<TimerEntry> timer_heap_;
  // Live timers by sequence; a heap entry without one here was cancelled.
  std::unordered_map<uint64_t, std::function<void()>> timer_fns_;
  uint64_t next_timer_seq_ = 1;

  std::mutex posted_mutex_;
  std::vector<std::function<void()>> posted_;
  // Set by the first post() after a drain, so one eventfd write covers a
  // burst of posts.
  std::atomic<bool> wake_pending_{false};
  std::atomic<bool> stop_requested_{false};
  bool pwait2_supported_ = true;
  uint64_t turns_ = 0;
};

}  // namespace keel::posix
