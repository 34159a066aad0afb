// Replay files: a simulated run written down exactly, so that `keel-sim
// --replay FILE` runs it again, event for event, on any machine and build.
//
// A replay holds the run's options (seed, workload, cluster size, windows,
// the workload's shape) and its fault plan, which replaces the seed's own
// draw: a shrunk run is a seed with fewer faults, fewer clients or fewer
// operations than the seed would draw. It also holds the digest and the
// violation class the run produced when it was written, so a replay can
// tell whether it reproduced the run.
//
// Format (text, one item a line, checksummed):
//   keel-replay 1
//   seed 42
//   workload register
//   ... (key value lines, see write_replay)
//   fault <FaultEvent::to_text()>          one per planned fault
//   end <XXH3 of everything above, hex>
#pragma once

#include <cstdint>
#include <string>

#include "core/status.h"
#include "sim/run.h"

namespace keel::sim {

struct Replay {
  RunOptions options;  // options.fault_plan and options.shape are set
  uint64_t digest = 0;
  std::string violation_class;  // empty when the run passed
};

// The class of a violation message: the text before its first ':' ("C1
// linearizability", "R3 log matching", "C5 liveness"...).
std::string violation_class(const std::string& violation);

std::string write_replay(const Replay& replay);
// Errors: InvalidArgument naming the line for anything that is not a
// complete, undamaged replay file of this version.
core::Result<Replay> parse_replay(const std::string& text);

core::Status save_replay(const std::string& path, const Replay& replay);
core::Result<Replay> load_replay(const std::string& path);

}  // namespace keel::sim
