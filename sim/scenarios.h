// Factories of the workloads keel-sim runs (see sim/run.h).
#pragma once

#include <memory>

#include "sim/run.h"

namespace keel::sim {

std::unique_ptr<Scenario> make_demo_scenario();

}  // namespace keel::sim
