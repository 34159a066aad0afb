// The coverage marks (core/cover.h) a sweep of each workload must reach.
//
// A mark listed here names a situation the checkers need the simulator to
// produce for a sweep to mean anything: if a sweep never reaches it, the
// bugs that live there go unseen however many seeds pass. `keel-sim --seeds
// A..B --require-cover` fails when one of them is never hit. Marks not
// listed are reported but not required (rare by nature, or not yet reached
// by any workload: the report shows which).
#pragma once

#include <string>
#include <vector>

namespace keel::sim {

// The marks required of a sweep of `workload` (empty for unknown names).
std::vector<std::string> required_cover_marks(const std::string& workload);

}  // namespace keel::sim
