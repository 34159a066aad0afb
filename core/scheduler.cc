#include "core/scheduler.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <boost/context/detail/exception.hpp>
#include <boost/context/fiber.hpp>
#include <boost/context/stack_context.hpp>
#include <cstdio>
#include <exception>
#include <typeinfo>

#include "core/assert.h"

namespace ctx = boost::context;

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#define KEEL_ASAN_FIBERS 1
#endif

namespace keel::core {

namespace {

// AddressSanitizer must be told of every switch between stacks, or it
// mistakes one fiber's frames for another's. Each switch is announced by
// the side that leaves (start) and confirmed by the side that arrives
// (finish); a fiber that ends announces with no fake stack to keep.
struct StackBounds {
  const void* bottom = nullptr;
  size_t size = 0;
};

#if KEEL_ASAN_FIBERS
void asan_start_switch(void** fake_stack_save, StackBounds to) {
  __sanitizer_start_switch_fiber(fake_stack_save, to.bottom, to.size);
}
void asan_finish_switch(void* fake_stack_save, StackBounds* from) {
  const void* bottom = nullptr;
  size_t size = 0;
  __sanitizer_finish_switch_fiber(fake_stack_save, &bottom, &size);
  if (from != nullptr) *from = StackBounds{bottom, size};
}
#else
void asan_start_switch(void**, StackBounds) {}
void asan_finish_switch(void*, StackBounds*) {}
#endif

}  // namespace

// Mapped stacks with a guard page, recycled through a free list because
// mapping and unmapping cost two system calls per fiber.
class StackPool {
 public:
  explicit StackPool(size_t bytes) {
    const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
    bytes_ = (bytes + page - 1) / page * page;
    page_ = page;
  }
  ~StackPool() {
    for (auto& sc : free_) unmap(sc);
  }

  ctx::stack_context get() {
    last_ = take();
#if KEEL_ASAN_FIBERS
    // A fiber destroyed while suspended leaves its frames' scope poison on
    // its stack, and a new mapping may land where an old pool's stacks were:
    // every fiber starts on a clean stack.
    const StackBounds usable = bounds(last_);
    __asan_unpoison_memory_region(usable.bottom, usable.size);
#endif
    return last_;
  }
  void put(ctx::stack_context& sc) {
    if (free_.size() < Scheduler::kStackPoolMax) {
      free_.push_back(sc);
    } else {
      unmap(sc);
    }
  }
  // The stack most recently handed out.
  const ctx::stack_context& last() const { return last_; }
  // The usable range of a stack handed out by get() (without the guard).
  StackBounds bounds(const ctx::stack_context& sc) const {
    return StackBounds{static_cast<char*>(sc.sp) - sc.size + page_, sc.size - page_};
  }

 private:
  ctx::stack_context take() {
    if (!free_.empty()) {
      ctx::stack_context sc = free_.back();
      free_.pop_back();
      return sc;
    }
    const size_t total = bytes_ + page_;
    void* base = ::mmap(nullptr, total, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    KEEL_ASSERT_MSG(base != MAP_FAILED, "fiber stack mmap failed");
    // The lowest page is the guard: stacks grow down into it on overflow.
    KEEL_ASSERT(::mprotect(base, page_, PROT_NONE) == 0);
    ctx::stack_context sc;
    sc.size = total;
    sc.sp = static_cast<char*>(base) + total;
    return sc;
  }
  static void unmap(ctx::stack_context& sc) {
    void* base = static_cast<char*>(sc.sp) - sc.size;
    ::munmap(base, sc.size);
  }

  size_t bytes_ = 0;
  size_t page_ = 0;
  std::vector<ctx::stack_context> free_;
  ctx::stack_context last_;
};

namespace {

// The allocator Boost.Context copies into each fiber: a handle to the pool.
struct PooledStack {
  StackPool* pool;
  ctx::stack_context allocate() { return pool->get(); }
  void deallocate(ctx::stack_context& sc) noexcept { pool->put(sc); }
};

}  // namespace

struct Scheduler::Fiber {
  enum class State { kReady, kRunning, kParked, kDone };

  FiberId id;
  ProcessId group;
  std::string name;
  std::function<void()> fn;
  ctx::fiber context;  // the fiber's own suspended context
  ctx::fiber caller;   // on the fiber's stack: whoever resumed it
  State state = State::kReady;
  bool permit = false;
  bool unwinding = false;
  bool started = false;     // its entry function has begun
  StackBounds stack;        // this fiber's stack
  StackBounds from;         // the stack that last switched to this fiber
  void* fake_stack = nullptr;
};

Scheduler::Scheduler(size_t stack_bytes) : stacks_(std::make_unique<StackPool>(stack_bytes)) {}

Scheduler::~Scheduler() {
  KEEL_ASSERT(!in_fiber());
  // Youngest first, as in kill_group.
  while (!fibers_.empty()) destroy(std::prev(fibers_.end())->second.get());
}

FiberId Scheduler::spawn(ProcessId group, std::string name, std::function<void()> fn) {
  auto owned = std::make_unique<Fiber>();
  Fiber* f = owned.get();
  f->id = FiberId(next_fiber_id_++);
  f->group = group;
  f->name = std::move(name);
  f->fn = std::move(fn);
  f->context = ctx::fiber(std::allocator_arg, PooledStack{stacks_.get()}, [f](ctx::fiber&& caller) {
    asan_finish_switch(nullptr, &f->from);
    f->started = true;
    f->caller = std::move(caller);
    // A fiber killed before it ever ran is entered once, only to end here.
    if (!f->unwinding) {
      try {
        f->fn();
      } catch (const ctx::detail::forced_unwind&) {
        // Killed: the unwind ends in Boost.Context's entry frame, which
        // jumps back to whoever destroyed this fiber. Announce that last
        // switch and let the unwind go on.
        asan_start_switch(nullptr, f->from);
        throw;
      } catch (const std::exception& e) {
        std::fprintf(stderr, "fiber '%s' died of an exception: %s\n", f->name.c_str(), e.what());
        KEEL_UNREACHABLE();
      }
    }
    f->state = Fiber::State::kDone;
    f->fn = nullptr;  // release captures while still on this stack
    asan_start_switch(nullptr, f->from);
    return std::move(f->caller);
  });
  f->stack = stacks_->bounds(stacks_->last());
  fibers_.emplace(f->id, std::move(owned));
  ready_.push_back(f);
  return f->id;
}

FiberId Scheduler::current() const {
  KEEL_ASSERT(in_fiber());
  return current_->id;
}

ProcessId Scheduler::current_group() const {
  KEEL_ASSERT(in_fiber());
  return current_->group;
}

const std::string& Scheduler::current_name() const {
  KEEL_ASSERT(in_fiber());
  return current_->name;
}

void Scheduler::switch_out(Fiber* f) {
  KEEL_ASSERT(current_ == f);
  asan_start_switch(&f->fake_stack, f->from);
  try {
    f->caller = std::move(f->caller).resume();
  } catch (const ctx::detail::forced_unwind&) {
    // Resumed only to be unwound: confirm the switch, then unwind.
    asan_finish_switch(f->fake_stack, &f->from);
    throw;
  }
  asan_finish_switch(f->fake_stack, &f->from);
  // Back on this fiber: the loop set current_ before resuming us.
  KEEL_ASSERT(current_ == f);
}

void Scheduler::yield() {
  KEEL_ASSERT(in_fiber());
  Fiber* f = current_;
  f->state = Fiber::State::kReady;
  ready_.push_back(f);
  switch_out(f);
}

void Scheduler::park() {
  KEEL_ASSERT(in_fiber());
  Fiber* f = current_;
  KEEL_ASSERT_MSG(!f->unwinding, "a fiber must not suspend while its stack is being unwound");
  if (f->permit) {
    f->permit = false;
    return;
  }
  f->state = Fiber::State::kParked;
  switch_out(f);
  f->permit = false;
}

void Scheduler::unpark(FiberId id) {
  auto it = fibers_.find(id);
  if (it == fibers_.end()) return;
  Fiber* f = it->second.get();
  if (f->state == Fiber::State::kParked) {
    f->state = Fiber::State::kReady;
    ready_.push_back(f);
  } else if (f->state != Fiber::State::kDone) {
    f->permit = true;
  }
}

void Scheduler::resume(Fiber* f) {
  KEEL_ASSERT(f->state == Fiber::State::kReady);
  Fiber* saved = current_;
  current_ = f;
  f->state = Fiber::State::kRunning;
  ++switches_;
  void* fake_stack = nullptr;
  asan_start_switch(&fake_stack, f->stack);
  f->context = std::move(f->context).resume();
  asan_finish_switch(fake_stack, nullptr);
  current_ = saved;
  if (f->state == Fiber::State::kDone) {
    KEEL_ASSERT(!f->context);
    fibers_.erase(f->id);
  } else {
    KEEL_ASSERT(f->state != Fiber::State::kRunning);
  }
}

void Scheduler::destroy(Fiber* f) {
  // Remove from the ready queue first so nothing resumes it mid-unwind.
  for (auto it = ready_.begin(); it != ready_.end(); ++it) {
    if (*it == f) {
      ready_.erase(it);
      break;
    }
  }
  if (f->context) {
    // Destroying a suspended Boost.Context fiber throws forced_unwind at its
    // suspension point and runs it to the end of its entry frame.
    Fiber* saved = current_;
    current_ = f;
    f->unwinding = true;
    f->state = Fiber::State::kRunning;
    void* fake_stack = nullptr;
    asan_start_switch(&fake_stack, f->stack);
    if (f->started) {
      { ctx::fiber doomed = std::move(f->context); }
    } else {
      // Never ran: destroying it would run Boost.Context's unwind before
      // the fiber's own code could confirm the switch, and AddressSanitizer
      // would go on believing this thread lives on that (soon recycled)
      // stack. Entered normally instead, it ends at once (see spawn()).
      f->context = std::move(f->context).resume();
      KEEL_ASSERT(!f->context);
    }
    asan_finish_switch(fake_stack, nullptr);
    current_ = saved;
  }
  fibers_.erase(f->id);
}

void Scheduler::kill(FiberId id) {
  KEEL_ASSERT_MSG(!in_fiber() || current_->id != id, "a fiber cannot kill itself");
  auto it = fibers_.find(id);
  if (it != fibers_.end()) destroy(it->second.get());
}

void Scheduler::kill_group(ProcessId group) {
  KEEL_ASSERT_MSG(!in_fiber() || current_->group != group, "a process cannot kill its own fibers");
  // Collect first: unwinding destructors may spawn or unpark.
  std::vector<FiberId> doomed;
  for (auto& [id, f] : fibers_) {
    if (f->group == group) doomed.push_back(id);
  }
  // Youngest first: a fiber usually borrows objects from the stack of the
  // fiber that spawned it, so children must unwind before their parents.
  std::reverse(doomed.begin(), doomed.end());
  for (FiberId id : doomed) {
    auto it = fibers_.find(id);
    if (it != fibers_.end()) destroy(it->second.get());
  }
  // Fibers spawned by unwinding destructors die too.
  bool again = false;
  for (auto& [id, f] : fibers_) again = again || f->group == group;
  if (again) kill_group(group);
  paused_.erase(group);
}

void Scheduler::set_paused(ProcessId group, bool paused) {
  if (paused) {
    paused_.insert(group);
  } else {
    paused_.erase(group);
  }
}

bool Scheduler::has_runnable() const {
  if (paused_.empty()) return !ready_.empty();
  for (Fiber* f : ready_) {
    if (paused_.count(f->group) == 0) return true;
  }
  return false;
}

size_t Scheduler::run_ready(size_t max_runs) {
  KEEL_ASSERT(!in_fiber());
  size_t runs = 0;
  if (paused_.empty()) {
    while (!ready_.empty() && runs < max_runs) {
      Fiber* f = ready_.front();
      ready_.pop_front();
      resume(f);
      ++runs;
    }
    return runs;
  }
  // Slow path: skip paused groups but keep their fibers' queue order.
  std::deque<Fiber*> skipped;
  while (!ready_.empty() && runs < max_runs) {
    Fiber* f = ready_.front();
    ready_.pop_front();
    if (paused_.count(f->group) != 0) {
      skipped.push_back(f);
      continue;
    }
    resume(f);
    ++runs;
  }
  for (auto it = skipped.rbegin(); it != skipped.rend(); ++it) ready_.push_front(*it);
  return runs;
}

size_t Scheduler::fiber_count(ProcessId group) const {
  size_t n = 0;
  for (auto& [id, f] : fibers_) n += f->group == group ? 1 : 0;
  return n;
}

std::vector<std::string> Scheduler::fiber_names(ProcessId group) const {
  std::vector<std::string> names;
  for (auto& [id, f] : fibers_) {
    if (f->group == group) names.push_back(f->name);
  }
  return names;
}

}  // namespace keel::core
