// Scheduler: cooperative fibers on one OS thread, built on Boost.Context.
//
// Every keel process (keeld, or each simulated node and client inside
// keel-sim) runs its code as fibers. A fiber runs until it parks (waiting for
// I/O, a timer, a Future, a Channel) or yields; then the scheduler runs the
// next ready fiber in FIFO order. With one thread and FIFO order, a run is a
// pure function of the order in which events unpark fibers, which is what
// makes a simulated run reproducible from its seed.
//
// Fibers belong to a group (a ProcessId). kill_group() destroys every fiber
// of a group by unwinding its stack: Boost.Context throws its forced-unwind
// exception at the fiber's suspension point, so destructors run. Code must
// never swallow that exception (`catch (...)` must rethrow) and must not
// suspend from a destructor.
//
// Wake-ups are permits: unpark() of a fiber that is not parked makes its next
// park() return at once. So a waiter always re-checks its condition in a loop:
//     while (!ready) sched.park();
//
// Invariants: at most one fiber runs at a time; a parked fiber is never in
// the ready queue; a paused group's fibers stay queued but are not run.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "core/ids.h"

namespace keel::core {

class StackPool;

class Scheduler {
 public:
  // Stacks are mapped with a guard page below them, so an overflow faults
  // instead of corrupting a neighbour.
  static constexpr size_t kStackBytesDefault = 256 * 1024;
  // Stacks kept for reuse when fibers finish; beyond this they are unmapped.
  static constexpr size_t kStackPoolMax = 256;

  explicit Scheduler(size_t stack_bytes = kStackBytesDefault);
  // Kills every remaining fiber (unwinding their stacks).
  ~Scheduler();
  Scheduler(const Scheduler&) = delete;
  Scheduler& operator=(const Scheduler&) = delete;

  // Creates a ready fiber in `group` that runs `fn`. Callable from anywhere.
  // An exception other than the forced unwind escaping `fn` is a programmer
  // error and aborts the process.
  FiberId spawn(ProcessId group, std::string name, std::function<void()> fn);

  // True while a fiber (not the scheduler's loop) is running.
  bool in_fiber() const { return current_ != nullptr; }
  // Precondition: in_fiber().
  FiberId current() const;
  ProcessId current_group() const;
  const std::string& current_name() const;

  // Puts the running fiber at the back of the ready queue. May suspend.
  void yield();
  // Suspends the running fiber until unpark() (returns at once if a permit is
  // pending). Precondition: in_fiber(), and the fiber is not being unwound.
  void park();
  // Makes a parked fiber ready, or leaves a permit for a running/ready one.
  // A no-op for a fiber that no longer exists, so stale wake-ups are harmless.
  void unpark(FiberId id);

  // Destroys one fiber, unwinding its stack. A no-op for a fiber that is
  // gone. Precondition: `id` is not the running fiber.
  void kill(FiberId id);
  bool exists(FiberId id) const { return fibers_.count(id) != 0; }

  // Destroys every fiber of `group`, unwinding their stacks, youngest first
  // (children borrow from their parents' stacks, so they must go first).
  // Precondition: not called from a fiber of `group`.
  void kill_group(ProcessId group);
  // While paused, a group's ready fibers are not run (a SIGSTOPped process).
  void set_paused(ProcessId group, bool paused);
  bool paused(ProcessId group) const { return paused_.count(group) != 0; }

  // Runs ready fibers in FIFO order until none is runnable or `max_runs`
  // fibers have been resumed. Returns how many were resumed.
  // Precondition: !in_fiber().
  size_t run_ready(size_t max_runs = SIZE_MAX);
  bool has_runnable() const;

  size_t fiber_count() const { return fibers_.size(); }
  size_t fiber_count(ProcessId group) const;
  uint64_t switches() const { return switches_; }
  // Names of the live fibers of a group, for diagnostics (deadlock reports).
  std::vector<std::string> fiber_names(ProcessId group) const;

 private:
  struct Fiber;

  void resume(Fiber* f);
  // Called on the fiber's own stack to switch back to the loop.
  void switch_out(Fiber* f);
  void destroy(Fiber* f);

  std::unique_ptr<StackPool> stacks_;
  std::map<FiberId, std::unique_ptr<Fiber>> fibers_;
  std::deque<Fiber*> ready_;
  std::set<ProcessId> paused_;
  Fiber* current_ = nullptr;
  uint64_t next_fiber_id_ = 1;
  uint64_t switches_ = 0;
};

}  // namespace keel::core
