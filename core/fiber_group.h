// FiberGroup: structured lifetimes for fibers that borrow from an object.
//
// A fiber spawned through a group may use the group owner's members freely:
// destroying the group (as its owner is destroyed) first kills every fiber
// of the group still alive, youngest first, unwinding their stacks. Declare
// the group as the owner's LAST member so that it is destroyed first, while
// the members its fibers use still exist.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/env.h"

namespace keel::core {

class FiberGroup {
 public:
  explicit FiberGroup(Env& env) : env_(env) {}
  ~FiberGroup() { kill_all(); }
  FiberGroup(const FiberGroup&) = delete;
  FiberGroup& operator=(const FiberGroup&) = delete;

  FiberId spawn(std::string name, std::function<void()> fn) {
    // Forget fibers that finished, so a long-lived group stays small.
    std::erase_if(fibers_, [this](FiberId id) { return !env_.fibers.exists(id); });
    const FiberId id = env_.spawn(std::move(name), std::move(fn));
    fibers_.push_back(id);
    return id;
  }

  // Kills the group's live fibers except the calling one, youngest first.
  void kill_all() {
    const bool inside = env_.fibers.in_fiber();
    const FiberId self = inside ? env_.fibers.current() : FiberId();
    for (auto it = fibers_.rbegin(); it != fibers_.rend(); ++it) {
      if (!inside || *it != self) env_.fibers.kill(*it);
    }
    fibers_.clear();
  }

 private:
  Env& env_;
  std::vector<FiberId> fibers_;
};

}  // namespace keel::core
