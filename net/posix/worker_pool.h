// WorkerPool: a few OS threads that run blocking system calls (file I/O,
// fsync) for fibers, so the event loop's thread never blocks on the disk.
//
// A fiber hands a job to run(); a worker runs it; the completion comes back
// to the loop's thread through EventLoop::post() (an eventfd wake-up), which
// unparks the fiber. Jobs start in submission order; with more than one
// worker they may finish in any order.
//
// Back-pressure: at most kJobsInFlightMax jobs are queued or running; a
// fiber submitting beyond that waits (parks) for a slot, like Channel::send.
//
// Killing a fiber that waits in run(): its job may reference the fiber's
// stack, so the unwind cancels the job if no worker has started it, and
// otherwise blocks the loop's thread until the worker finishes it. This is
// the only place the loop thread waits for a worker, it happens only when a
// fiber is destroyed mid-call (process shutdown), and it lasts one system
// call.
//
// Invariants: every started job finishes before run() returns or its
// fiber's stack is gone; workers block every signal, so process signals are
// delivered to the loop thread (see EventLoop::on_signal).
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstddef>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <utility>
#include <vector>

#include "core/sync.h"
#include "net/posix/event_loop.h"

namespace keel::posix {

class WorkerPool {
 public:
  static constexpr size_t kThreadsDefault = 4;
  static constexpr size_t kThreadsMax = 64;
  // Jobs queued or running at once; further submitters wait for a slot.
  static constexpr size_t kJobsInFlightMax = 1024;
  static_assert(kJobsInFlightMax < EventLoop::kPostedMax,
                "every finished job must find room in the loop's post queue");

  // Starts `threads` workers (1..kThreadsMax).
  WorkerPool(EventLoop& loop, size_t threads = kThreadsDefault);
  // Stops and joins the workers. Precondition: no fiber is waiting in run().
  ~WorkerPool();
  WorkerPool(const WorkerPool&) = delete;
  WorkerPool& operator=(const WorkerPool&) = delete;

  // Runs `work` on a worker thread and parks the calling fiber until it has
  // finished. `work` must not touch fibers, the loop or anything else owned
  // by the loop's thread. Precondition: called from a fiber of the loop's
  // Scheduler. May suspend.
  void run(const std::function<void()>& work);

  // Runs `fn` on a worker and returns its result. May suspend.
  template <typename Fn>
  auto call(Fn&& fn) -> decltype(fn()) {
    std::optional<decltype(fn())> out;
    run([&] { out.emplace(fn()); });
    return std::move(*out);
  }

  size_t threads() const { return threads_.size(); }
  size_t in_flight() const { return in_flight_; }
  uint64_t jobs_completed() const { return jobs_completed_; }

 private:
  struct Job;

  void worker_main();
  void deliver(const std::shared_ptr<Job>& job);
  // Called while unwinding a killed fiber whose job has not completed.
  void abandon(const std::shared_ptr<Job>& job);

  EventLoop& loop_;
  std::vector<std::thread> threads_;

  std::mutex mutex_;
  std::condition_variable work_ready_;
  std::condition_variable job_finished_;
  std::deque<std::shared_ptr<Job>> queue_;
  bool shutting_down_ = false;

  // Loop-thread state. `alive_` lets a completion posted just before the
  // pool's destruction notice, when the loop runs it later, that the pool
  // is gone.
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  size_t in_flight_ = 0;
  uint64_t jobs_completed_ = 0;
  core::WaitList slot_waiters_;
};

}  // namespace keel::posix
