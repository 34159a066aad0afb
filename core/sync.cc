#include "core/sync.h"

#include <algorithm>

namespace keel::core {

void WaitList::wait() {
  const FiberId self = sched_.current();
  waiters_.push_back(self);
  // If this fiber is unwound while parked, it must leave the list.
  struct Leave {
    WaitList& list;
    FiberId id;
    ~Leave() { list.remove(id); }
  } leave{*this, self};
  sched_.park();
}

bool WaitList::wait_until(Clock& clock, Instant deadline) {
  if (clock.now() >= deadline) return false;
  const FiberId self = sched_.current();
  bool timed_out = false;
  bool timer_done = false;
  const TimerId timer = clock.schedule(deadline, [this, self, &timed_out, &timer_done] {
    timed_out = true;
    timer_done = true;
    sched_.unpark(self);
  });
  waiters_.push_back(self);
  struct Leave {
    WaitList& list;
    Clock& clock;
    TimerId timer;
    FiberId id;
    bool& timer_done;
    ~Leave() {
      list.remove(id);
      if (!timer_done) clock.cancel(timer);
    }
  } leave{*this, clock, timer, self, timer_done};
  sched_.park();
  return !timed_out;
}

void WaitList::remove(FiberId id) {
  auto it = std::find(waiters_.begin(), waiters_.end(), id);
  if (it != waiters_.end()) waiters_.erase(it);
}

void WaitList::notify_one() {
  if (waiters_.empty()) return;
  const FiberId id = waiters_.front();
  waiters_.erase(waiters_.begin());
  sched_.unpark(id);
}

void WaitList::notify_all() {
  if (waiters_.empty()) return;
  if (waiters_.size() == 1) {
    const FiberId id = waiters_.front();
    waiters_.clear();
    sched_.unpark(id);
    return;
  }
  std::vector<FiberId> all;
  all.swap(waiters_);
  for (FiberId id : all) sched_.unpark(id);
}

}  // namespace keel::core
