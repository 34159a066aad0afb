#include "sim/scenarios.h"

namespace keel::sim {

std::vector<std::string> workload_names() { return {"demo", "register", "counter", "unique-writes"}; }

std::unique_ptr<Scenario> make_scenario(const std::string& workload) {
  if (workload == "demo") return make_demo_scenario();
  return make_kv_scenario(workload);
}

}  // namespace keel::sim
