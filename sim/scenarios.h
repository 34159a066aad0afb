// Factories of the workloads keel-sim runs (see sim/run.h).
#pragma once

#include <memory>

#include "sim/run.h"

namespace keel::sim {

std::unique_ptr<Scenario> make_demo_scenario();
// register, counter or unique-writes on a Raft-replicated cluster, or
// cluster-register, cluster-counter or cluster-unique-writes on the
// partitioned node keeld runs; nullptr for another name.
std::unique_ptr<Scenario> make_kv_scenario(const std::string& workload);
// isr-register, isr-counter, isr-unique-writes or isr-acks1: partitions
// replicated by the ISR protocol under
// the controller model (sim/isr_scenario.cc); nullptr for another name.
std::unique_ptr<Scenario> make_isr_scenario(const std::string& workload);
// isr-driver: the partition data path itself (PartitionDriver, storage and
// engine on simulated disks) under crashes, pauses and disk faults.
std::unique_ptr<Scenario> make_driver_scenario();

}  // namespace keel::sim
