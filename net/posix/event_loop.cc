#include "net/posix/event_loop.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/signalfd.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <string>

#include "core/assert.h"

namespace keel::posix {

core::Instant monotonic_now() {
  struct timespec ts;
  KEEL_ASSERT(::clock_gettime(CLOCK_MONOTONIC, &ts) == 0);
  return core::Instant::from_nanos(static_cast<int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec);
}

std::string errno_text(int err) {
  char buf[256];
  // The GNU strerror_r returns a pointer that may or may not be `buf`.
  const char* text = ::strerror_r(err, buf, sizeof buf);
  return std::string(text);
}

PosixClock::PosixClock(EventLoop& loop) : core::Clock(loop.fibers()), loop_(loop) {}

core::TimerId PosixClock::schedule(core::Instant at, std::function<void()> fn) {
  return loop_.add_timer(at, std::move(fn));
}

void PosixClock::cancel(core::TimerId id) { loop_.cancel_timer(id); }

EventLoop::EventLoop(core::Scheduler& fibers) : fibers_(fibers), clock_(*this) {
  sigemptyset(&signal_mask_);
  epoll_fd_ = ::epoll_create1(EPOLL_CLOEXEC);
  KEEL_ASSERT_MSG(epoll_fd_ >= 0, "epoll_create1 failed");
  wake_fd_ = ::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  KEEL_ASSERT_MSG(wake_fd_ >= 0, "eventfd failed");
  struct epoll_event ev {};
  // Level-triggered: the loop reads the eventfd each time it is readable.
  ev.events = EPOLLIN;
  ev.data.fd = wake_fd_;
  KEEL_ASSERT(::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, wake_fd_, &ev) == 0);
}

EventLoop::~EventLoop() {
  KEEL_ASSERT_MSG(watches_.empty(), "an fd is still registered with a destroyed EventLoop");
  if (signal_fd_ >= 0) {
    ::close(signal_fd_);
    // Give the signals back to their previous dispositions.
    ::pthread_sigmask(SIG_UNBLOCK, &signal_mask_, nullptr);
  }
  ::close(wake_fd_);
  ::close(epoll_fd_);
}

void EventLoop::stop() {
  stop_requested_.store(true, std::memory_order_release);
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    const uint64_t one = 1;
    // A full eventfd counter (EAGAIN) is already readable, so ignoring the
    // result loses nothing.
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
}

core::Status EventLoop::post(std::function<void()> fn) {
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    if (posted_.size() >= kPostedMax) return core::unavailable("event loop post queue full");
    posted_.push_back(std::move(fn));
  }
  if (!wake_pending_.exchange(true, std::memory_order_acq_rel)) {
    const uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_fd_, &one, sizeof one);
  }
  return core::Status::ok();
}

core::TimerId EventLoop::add_timer(core::Instant at, std::function<void()> fn) {
  const uint64_t seq = next_timer_seq_++;
  timer_fns_.emplace(seq, std::move(fn));
  timer_heap_.push_back(TimerEntry{at.ns(), seq});
  std::push_heap(timer_heap_.begin(), timer_heap_.end());
  return core::TimerId(seq);
}

void EventLoop::cancel_timer(core::TimerId id) {
  if (timer_fns_.erase(id.value()) != 0) prune_timers();
}

void EventLoop::prune_timers() {
  while (!timer_heap_.empty() && timer_fns_.count(timer_heap_.front().seq) == 0) {
    std::pop_heap(timer_heap_.begin(), timer_heap_.end());
    timer_heap_.pop_back();
  }
  // Cancelled deadlines far in the future would otherwise pile up (every
  // wait_until that succeeds cancels its timer): rebuild when they dominate.
  if (timer_heap_.size() > 1024 && timer_heap_.size() > 2 * timer_fns_.size()) {
    std::erase_if(timer_heap_, [this](const TimerEntry& e) { return timer_fns_.count(e.seq) == 0; });
    std::make_heap(timer_heap_.begin(), timer_heap_.end());
  }
}

int64_t EventLoop::next_timer_ns() {
  prune_timers();
  return timer_heap_.empty() ? INT64_MAX : timer_heap_.front().at_ns;
}

void EventLoop::fire_timers() {
  const int64_t now_ns = now().ns();
  // Timers scheduled by a firing callback wait for the next pass, so a
  // callback that reschedules itself "now" cannot spin this loop forever.
  const uint64_t seq_limit = next_timer_seq_;
  while (!timer_heap_.empty()) {
    const TimerEntry top = timer_heap_.front();
    if (top.at_ns > now_ns || top.seq >= seq_limit) break;
    std::pop_heap(timer_heap_.begin(), timer_heap_.end());
    timer_heap_.pop_back();
    auto it = timer_fns_.find(top.seq);
    if (it == timer_fns_.end()) continue;  // cancelled
    std::function<void()> fn = std::move(it->second);
    timer_fns_.erase(it);
    fn();
  }
}

core::Status EventLoop::add_fd(int fd, IoWatch* watch) {
  KEEL_ASSERT(watch != nullptr);
  struct epoll_event ev {};
  ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
  ev.data.fd = fd;
  if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, fd, &ev) != 0) {
    return core::io_error("epoll_ctl add fd " + std::to_string(fd) + ": " + errno_text(errno));
  }
  watches_[fd] = watch;
  return core::Status::ok();
}

void EventLoop::remove_fd(int fd) {
  if (watches_.erase(fd) == 0) return;
  // Closing the fd would deregister it too, but only once every duplicate
  // of it is closed; deleting explicitly keeps the registry exact.
  ::epoll_ctl(epoll_fd_, EPOLL_CTL_DEL, fd, nullptr);
}

core::Status EventLoop::on_signal(int signo, std::function<void(int)> fn) {
  sigaddset(&signal_mask_, signo);
  if (::pthread_sigmask(SIG_BLOCK, &signal_mask_, nullptr) != 0) {
    return core::io_error("pthread_sigmask: " + errno_text(errno));
  }
  const bool fresh = signal_fd_ < 0;
  const int fd = ::signalfd(signal_fd_, &signal_mask_, SFD_NONBLOCK | SFD_CLOEXEC);
  if (fd < 0) return core::io_error("signalfd: " + errno_text(errno));
  signal_fd_ = fd;
  if (fresh) {
    struct epoll_event ev {};
    ev.events = EPOLLIN;
    ev.data.fd = signal_fd_;
    if (::epoll_ctl(epoll_fd_, EPOLL_CTL_ADD, signal_fd_, &ev) != 0) {
      return core::io_error("epoll_ctl add signalfd: " + errno_text(errno));
    }
  }
  signal_handlers_[signo] = std::move(fn);
  return core::Status::ok();
}

void EventLoop::drain_signals() {
  struct signalfd_siginfo info;
  while (::read(signal_fd_, &info, sizeof info) == static_cast<ssize_t>(sizeof info)) {
    auto it = signal_handlers_.find(static_cast<int>(info.ssi_signo));
    if (it != signal_handlers_.end()) it->second(static_cast<int>(info.ssi_signo));
  }
}

void EventLoop::drain_wakeups() {
  uint64_t count = 0;
  [[maybe_unused]] ssize_t n = ::read(wake_fd_, &count, sizeof count);
  // Clear the flag before taking the queue: a post() racing with the drain
  // either lands in this batch or sees the flag clear and writes again.
  wake_pending_.store(false, std::memory_order_release);
  std::vector<std::function<void()>> batch;
  {
    std::lock_guard<std::mutex> lock(posted_mutex_);
    batch.swap(posted_);
  }
  for (auto& fn : batch) fn();
}

void EventLoop::wait_and_dispatch(int64_t timeout_ns) {
  struct epoll_event events[kEpollEventsMax];
  int n;
  if (pwait2_supported_) {
    struct timespec ts;
    struct timespec* tsp = nullptr;
    if (timeout_ns != INT64_MAX) {
      ts.tv_sec = timeout_ns / 1000000000;
      ts.tv_nsec = timeout_ns % 1000000000;
      tsp = &ts;
    }
    n = ::epoll_pwait2(epoll_fd_, events, static_cast<int>(kEpollEventsMax), tsp, nullptr);
    if (n < 0 && errno == ENOSYS) {
      pwait2_supported_ = false;
      return;  // the next turn uses epoll_wait
    }
  } else {
    int timeout_ms = -1;
    if (timeout_ns != INT64_MAX) {
      // Round up so a timer is never polled for before it is due.
      timeout_ms = static_cast<int>(std::min<int64_t>((timeout_ns + 999999) / 1000000, INT32_MAX));
    }
    n = ::epoll_wait(epoll_fd_, events, static_cast<int>(kEpollEventsMax), timeout_ms);
  }
  if (n < 0) {
    KEEL_ASSERT_MSG(errno == EINTR, "epoll wait failed");
    return;
  }
  for (int i = 0; i < n; ++i) {
    const int fd = events[i].data.fd;
    const uint32_t mask = events[i].events;
    if (fd == wake_fd_) {
      drain_wakeups();
      continue;
    }
    if (fd == signal_fd_) {
      drain_signals();
      continue;
    }
    auto it = watches_.find(fd);
    if (it == watches_.end()) continue;  // deregistered earlier in this batch
    IoWatch* watch = it->second;
    // Errors and hang-ups wake both sides: each retries its system call and
    // learns the error from it.
    if (mask & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) watch->readers().notify_all();
    if (mask & (EPOLLOUT | EPOLLHUP | EPOLLERR)) watch->writers().notify_all();
  }
}

void EventLoop::turn(core::Duration max_wait, const std::function<bool()>* done) {
  ++turns_;
  fibers_.run_ready(kFiberRunsPerTurnMax);
  if (done != nullptr && (*done)()) return;
  int64_t timeout_ns = 0;
  if (!fibers_.has_runnable() && !stop_requested()) {
    const int64_t next = next_timer_ns();
    const int64_t now_ns = now().ns();
    const int64_t cap_ns = max_wait.ns();
    if (next == INT64_MAX) {
      timeout_ns = cap_ns >= core::Duration::max().ns() ? INT64_MAX : cap_ns;
    } else {
      timeout_ns = std::clamp<int64_t>(next - now_ns, 0, cap_ns);
    }
  }
  wait_and_dispatch(timeout_ns);
  fire_timers();
}

void EventLoop::run() {
  KEEL_ASSERT(!fibers_.in_fiber());
  while (!stop_requested()) turn(core::Duration::max());
  stop_requested_.store(false, std::memory_order_release);
}

bool EventLoop::run_until(const std::function<bool()>& done, core::Duration timeout) {
  KEEL_ASSERT(!fibers_.in_fiber());
  const core::Instant deadline =
      timeout >= core::Duration::max() ? core::Instant::from_nanos(INT64_MAX) : now() + timeout;
  while (!done()) {
    const core::Instant t = now();
    if (t >= deadline) return done();
    turn(deadline - t, &done);
  }
  return true;
}

void EventLoop::run_for(core::Duration d) {
  const core::Instant deadline = now() + d;
  // Pass `d` as the timeout too, so each turn sleeps no later than the end.
  run_until([this, deadline] { return now() >= deadline; }, d);
}

}  // namespace keel::posix
