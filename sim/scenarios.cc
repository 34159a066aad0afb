#include "sim/scenarios.h"

namespace keel::sim {

std::vector<std::string> workload_names() { return {"demo", "register", "counter", "unique-writes", "isr-register", "isr-counter", "isr-unique-writes", "isr-acks1", "isr-driver", "cluster-register", "cluster-counter", "cluster-unique-writes"}; }

std::unique_ptr<Scenario> make_scenario(const std::string& workload) {
  if (workload == "demo") return make_demo_scenario();
  if (workload == "isr-driver") return make_driver_scenario();
  if (auto isr = make_isr_scenario(workload)) return isr;
  return make_kv_scenario(workload);
}

}  // namespace keel::sim
