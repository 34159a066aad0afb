#include "net/posix/worker_pool.h"

#include <pthread.h>
#include <signal.h>

#include "core/assert.h"

namespace keel::posix {

struct WorkerPool::Job {
  enum State : int { kQueued, kRunning, kFinished, kCancelled };

  // Points at the submitter's function; valid while the submitter waits.
  const std::function<void()>* work = nullptr;
  std::atomic<int> state{kQueued};
  core::FiberId fiber;
  // Loop-thread flags.
  bool completed = false;
  bool abandoned = false;
};

WorkerPool::WorkerPool(EventLoop& loop, size_t threads) : loop_(loop), slot_waiters_(loop.fibers()) {
  KEEL_ASSERT(threads >= 1);
  KEEL_ASSERT(threads <= kThreadsMax);
  // Threads inherit the creator's signal mask: block everything while
  // creating them so no signal is ever delivered to a worker.
  sigset_t all;
  sigset_t saved;
  sigfillset(&all);
  KEEL_ASSERT(::pthread_sigmask(SIG_BLOCK, &all, &saved) == 0);
  threads_.reserve(threads);
  for (size_t i = 0; i < threads; ++i) threads_.emplace_back([this] { worker_main(); });
  KEEL_ASSERT(::pthread_sigmask(SIG_SETMASK, &saved, nullptr) == 0);
}

WorkerPool::~WorkerPool() {
  KEEL_ASSERT_MSG(slot_waiters_.empty(), "WorkerPool destroyed while fibers wait for it");
  *alive_ = false;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    shutting_down_ = true;
  }
  work_ready_.notify_all();
  for (auto& t : threads_) t.join();
}

void WorkerPool::worker_main() {
  for (;;) {
    std::shared_ptr<Job> job;
    {
      std::unique_lock<std::mutex> lock(mutex_);
      work_ready_.wait(lock, [this] { return shutting_down_ || !queue_.empty(); });
      if (shutting_down_) return;
      job = std::move(queue_.front());
      queue_.pop_front();
      int expected = Job::kQueued;
      // The submitter's fiber may have been killed and cancelled the job.
      if (!job->state.compare_exchange_strong(expected, Job::kRunning)) continue;
    }
    (*job->work)();
    {
      // Under the mutex so abandon() cannot miss the notification.
      std::lock_guard<std::mutex> lock(mutex_);
      job->state.store(Job::kFinished, std::memory_order_release);
    }
    job_finished_.notify_all();
    const core::Status posted = loop_.post([this, alive = alive_, job] {
      if (*alive) deliver(job);
    });
    KEEL_ASSERT_MSG(posted.is_ok(), "loop post queue overflow despite the in-flight bound");
  }
}

void WorkerPool::deliver(const std::shared_ptr<Job>& job) {
  job->completed = true;
  --in_flight_;
  ++jobs_completed_;
  slot_waiters_.notify_one();
  if (!job->abandoned) loop_.fibers().unpark(job->fiber);
}

void WorkerPool::abandon(const std::shared_ptr<Job>& job) {
  job->abandoned = true;
  std::unique_lock<std::mutex> lock(mutex_);
  int expected = Job::kQueued;
  if (job->state.compare_exchange_strong(expected, Job::kCancelled)) {
    // Never started, so no completion will arrive to release the slot.
    --in_flight_;
    slot_waiters_.notify_one();
    return;
  }
  // Running (or finished and not yet delivered): the work may still touch
  // the dying fiber's stack, so wait for it. See the header.
  job_finished_.wait(lock, [&] { return job->state.load(std::memory_order_acquire) == Job::kFinished; });
}

void WorkerPool::run(const std::function<void()>& work) {
  core::Scheduler& fibers = loop_.fibers();
  while (in_flight_ >= kJobsInFlightMax) slot_waiters_.wait();
  auto job = std::make_shared<Job>();
  job->work = &work;
  job->fiber = fibers.current();
  ++in_flight_;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    queue_.push_back(job);
  }
  work_ready_.notify_one();
  struct AbandonOnUnwind {
    WorkerPool& pool;
    const std::shared_ptr<Job>& job;
    ~AbandonOnUnwind() {
      if (!job->completed) pool.abandon(job);
    }
  } guard{*this, job};
  while (!job->completed) fibers.park();
}

}  // namespace keel::posix
