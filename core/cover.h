// Coverage marks: named places in the code where a rare situation that
// matters was reached (a vote refused for a stale log, a conflicting suffix
// truncated, a snapshot installed...). They prove that the simulator drives
// the system into those situations: a sweep reports how often each mark was
// hit, and CI fails when a mark it requires is never hit (sim/coverage.h).
//
// A mark costs one null check when nothing records, and one ordered-map
// lookup when something does. Marks never touch the trace digest, so adding
// one changes no run. The Coverage of a process is its TraceLog's (one per
// simulated run; one per keeld process); pure code that has no Env (Raft)
// takes a Coverage* in its config.
//
//   KEEL_COVER(coverage_ptr, "raft: vote refused, candidate's log is stale");
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <string_view>

namespace keel::core {

class Coverage {
 public:
  using Hits = std::map<std::string, uint64_t, std::less<>>;

  void hit(std::string_view mark) {
    auto it = hits_.find(mark);
    if (it == hits_.end()) it = hits_.emplace(std::string(mark), 0).first;
    ++it->second;
  }
  const Hits& hits() const { return hits_; }
  uint64_t count(std::string_view mark) const {
    auto it = hits_.find(mark);
    return it == hits_.end() ? 0 : it->second;
  }

 private:
  Hits hits_;
};

}  // namespace keel::core

#define KEEL_COVER(coverage, mark)                             \
  do {                                                         \
    if (::keel::core::Coverage* keel_cover_ = (coverage)) {    \
      keel_cover_->hit(mark);                                  \
    }                                                          \
  } while (0)
