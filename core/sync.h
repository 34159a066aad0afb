// Fiber synchronisation: WaitList, Promise/Future, Channel, Mutex.
//
// All of these park only the calling fiber. None is thread-safe: they are
// used by fibers of one Scheduler on one OS thread. Waiters wake in FIFO
// order, so a simulated run stays deterministic.
#pragma once

#include <cstddef>
#include <deque>
#include <memory>
#include <optional>
#include <utility>
#include <vector>

#include "core/assert.h"
#include "core/env.h"
#include "core/scheduler.h"
#include "core/status.h"

namespace keel::core {

// A FIFO list of parked fibers. The owner re-checks its condition after each
// wake-up (wakes are permits, see Scheduler).
class WaitList {
 public:
  explicit WaitList(Scheduler& sched) : sched_(sched) {}
  ~WaitList() { notify_all(); }
  WaitList(const WaitList&) = delete;
  WaitList& operator=(const WaitList&) = delete;

  // Parks the calling fiber until notified. May suspend.
  void wait();
  // Parks until notified or `deadline`; returns false on timeout.
  // May suspend.
  bool wait_until(Clock& clock, Instant deadline);
  void notify_one();
  void notify_all();
  bool empty() const { return waiters_.empty(); }
  Scheduler& scheduler() const { return sched_; }

 private:
  void remove(FiberId id);

  Scheduler& sched_;
  // FIFO; a vector because lists are short and a deque allocates even when
  // empty.
  std::vector<FiberId> waiters_;
};

// A single-assignment value handed from a producer to one consumer fiber.
// The shared state is reference-counted, so either side may be destroyed
// first (a Promise dropped unset breaks its Future: get() returns Cancelled).
template <typename T>
class Future;

template <typename T>
class Promise {
 public:
  explicit Promise(Scheduler& sched) : state_(std::make_shared<State>(sched)) {}
  Promise(Promise&&) noexcept = default;
  Promise& operator=(Promise&&) noexcept = default;
  ~Promise() {
    if (state_ && !state_->value) state_->set(Result<T>(cancelled("promise dropped")));
  }

  Future<T> future() { return Future<T>(state_); }
  bool is_set() const { return state_->value.has_value(); }
  // Precondition: not yet set.
  void set(Result<T> value) { state_->set(std::move(value)); }

 private:
  friend class Future<T>;
  struct State {
    explicit State(Scheduler& s) : waiters(s) {}
    void set(Result<T> v) {
      KEEL_ASSERT(!value.has_value());
      value.emplace(std::move(v));
      waiters.notify_all();
    }
    WaitList waiters;
    std::optional<Result<T>> value;
  };
  std::shared_ptr<State> state_;
};

template <typename T>
class Future {
 public:
  Future() = default;
  bool valid() const { return state_ != nullptr; }
  bool ready() const { return state_->value.has_value(); }
  // Waits for the value. May suspend.
  Result<T> get() {
    while (!state_->value) state_->waiters.wait();
    return *state_->value;
  }
  // Waits until the value is set or `deadline`; DeadlineExceeded on
  // timeout. May suspend.
  Result<T> get_until(Clock& clock, Instant deadline) {
    while (!state_->value) {
      if (!state_->waiters.wait_until(clock, deadline) && !state_->value) {
        return deadline_exceeded("future not ready by deadline");
      }
    }
    return *state_->value;
  }

 private:
  friend class Promise<T>;
  using State = typename Promise<T>::State;
  explicit Future(std::shared_ptr<State> s) : state_(std::move(s)) {}
  std::shared_ptr<State> state_;
};

// A bounded FIFO channel between fibers. send() waits for room; try_send()
// refuses with Unavailable when full (push back rather than grow). After
// close(), sends fail with Cancelled and receives drain what is queued, then
// return Cancelled.
template <typename T>
class Channel {
 public:
  Channel(Scheduler& sched, size_t capacity) : capacity_(capacity), readers_(sched), writers_(sched) {
    KEEL_ASSERT(capacity > 0);
  }

  // May suspend.
  Status send(T value) {
    while (!closed_ && items_.size() >= capacity_) writers_.wait();
    if (closed_) return cancelled("channel closed");
    items_.push_back(std::move(value));
    readers_.notify_one();
    return Status::ok();
  }
  Status try_send(T value) {
    if (closed_) return cancelled("channel closed");
    if (items_.size() >= capacity_) return unavailable("channel full");
    items_.push_back(std::move(value));
    readers_.notify_one();
    return Status::ok();
  }
  // May suspend.
  Result<T> recv() {
    while (items_.empty() && !closed_) readers_.wait();
    return take();
  }
  // DeadlineExceeded when nothing arrives by `deadline`. May suspend.
  Result<T> recv_until(Clock& clock, Instant deadline) {
    while (items_.empty() && !closed_) {
      if (!readers_.wait_until(clock, deadline) && items_.empty() && !closed_) {
        return deadline_exceeded("channel empty at deadline");
      }
    }
    return take();
  }
  std::optional<T> try_recv() {
    if (items_.empty()) return std::nullopt;
    auto r = take();
    return std::move(r).value();
  }
  void close() {
    closed_ = true;
    readers_.notify_all();
    writers_.notify_all();
  }
  bool closed() const { return closed_; }
  size_t size() const { return items_.size(); }
  size_t capacity() const { return capacity_; }

 private:
  Result<T> take() {
    if (items_.empty()) return cancelled("channel closed");
    T v = std::move(items_.front());
    items_.pop_front();
    writers_.notify_one();
    // Another reader may be waiting for the next item.
    if (!items_.empty()) readers_.notify_one();
    return v;
  }

  size_t capacity_;
  bool closed_ = false;
  std::deque<T> items_;
  WaitList readers_;
  WaitList writers_;
};

// A fiber mutex: serialises critical sections that suspend (for example a
// write of several frames to one Stream). Not reentrant.
class Mutex {
 public:
  explicit Mutex(Scheduler& sched) : waiters_(sched) {}
  // May suspend.
  void lock() {
    while (locked_) waiters_.wait();
    locked_ = true;
  }
  void unlock() {
    KEEL_ASSERT(locked_);
    locked_ = false;
    waiters_.notify_one();
  }
  bool locked() const { return locked_; }

 private:
  bool locked_ = false;
  WaitList waiters_;
};

class LockGuard {
 public:
  explicit LockGuard(Mutex& m) : m_(m) { m_.lock(); }
  ~LockGuard() { m_.unlock(); }
  LockGuard(const LockGuard&) = delete;
  LockGuard& operator=(const LockGuard&) = delete;

 private:
  Mutex& m_;
};

}  // namespace keel::core
