// Nemesis: the seeded fault schedule of one simulated run.
//
// Swarm testing: each seed enables a random subset of the allowed fault
// kinds, each at a random intensity, so that some seeds hammer one fault and
// others mix several. Faults start within the fault window; each undoes
// itself after a drawn duration. At the window's end heal() repairs
// everything: the network heals, clogs clear, disk faults stop, paused hosts
// resume and down hosts restart — from then on the system must make progress.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/random.h"
#include "core/time.h"
#include "sim/world.h"

namespace keel::sim {

enum class FaultKind : uint8_t {
  kPartition,   // a random split of the nodes, each client on either side
  kIsolate,     // one node cut off from every host
  kOneWay,      // one direction of one link blocked
  kClog,        // latency spike on a link
  kReset,       // an established connection broken
  kCrash,       // power loss (unsynced writes kept/dropped/torn), then restart
  kKill,        // SIGKILL (page cache survives), then restart
  kPause,       // SIGSTOP, then SIGCONT
  kDiskErrors,  // EIO on reads/writes/syncs of one node for a while
  kSlowDisk,    // slow syncs on one node for a while
  kClockDrift,  // a node's clock rate changes (within the world's bound)
  kBitFlip,     // a bit of durable data flips
  // Power loss at the N-th disk call of a node from now (N drawn, 1..200):
  // crashes land between any two writes or syncs, not only at random times.
  kCrashAtDiskCall,
};

const char* fault_name(FaultKind kind);
// Every kind, in declaration order.
std::vector<FaultKind> all_fault_kinds();
// Every kind but bit flips: for services that detect a flipped bit (and so
// stop the node) but cannot yet repair it from their peers.
std::vector<FaultKind> fault_kinds_without_bit_flips();

// One planned fault: what, when, for how long, on whom. A run's faults are
// drawn as a plan before it starts (Nemesis::plan), so that a plan can be
// written to a replay file, edited (keel-sim --shrink drops events from it)
// and run again exactly (Nemesis::schedule).
struct FaultEvent {
  core::Instant at;
  FaultKind kind = FaultKind::kPartition;
  // How long until the fault undoes itself (or the host restarts).
  core::Duration hold;
  // Targets by host name: a partition's side; the two ends of a one-way
  // block or a clog; else the one node.
  std::vector<std::string> hosts;
  // By kind: a clog's extra latency and a slow disk's latency (ms), a clock
  // drift (ppm), the disk call a crash lands on.
  int64_t value = 0;
  // By kind: disk error odds (read, write, sync); slow I/O odds.
  std::vector<double> odds;

  // One line: "<at_ns> <kind> <hold_ns> <value> <hosts|-> <odds|->".
  std::string to_text() const;
  // The inverse of to_text(). InvalidArgument for anything else.
  static core::Result<FaultEvent> parse(std::string_view text);
  bool operator==(const FaultEvent&) const = default;
};

// The kind named `name` (fault_name's inverse).
std::optional<FaultKind> parse_fault_kind(std::string_view name);

struct SwarmConfig {
  // Kinds this seed uses, each with its mean interval between injections.
  std::map<FaultKind, core::Duration> mean_interval;

  // Draws a non-empty subset of `allowed` with random intensities.
  static SwarmConfig draw(core::Random& random, const std::vector<FaultKind>& allowed);
  std::string describe() const;
};

class Nemesis {
 public:
  // `nodes` are the hosts that faults target; `everyone` are all hosts (for
  // isolating a node from clients too).
  Nemesis(World& world, std::vector<HostId> nodes, std::vector<HostId> everyone, SwarmConfig swarm,
          core::Random random);

  // Draws this seed's faults in [start, end) from the swarm configuration.
  std::vector<FaultEvent> plan(core::Instant start, core::Instant end);
  // Schedules `events` (those before `end`) and heal() at `end`. Every host
  // an event names must be one of this nemesis's hosts (see valid()).
  void schedule(std::vector<FaultEvent> events, core::Instant end);
  // True if every host `event` names is known here.
  bool valid(const FaultEvent& event) const;
  // Repairs every fault now.
  void heal();
  // Injections so far, by fault name.
  const std::map<std::string, uint64_t>& counts() const { return counts_; }
  const SwarmConfig& swarm() const { return swarm_; }

 private:
  FaultEvent draw(FaultKind kind, core::Instant at);
  void inject(const FaultEvent& event);
  HostId pick_node();
  HostId host(const std::string& name) const;
  std::vector<std::string> names(const std::vector<HostId>& hosts) const;

  World& world_;
  std::vector<HostId> nodes_;
  std::vector<HostId> everyone_;
  SwarmConfig swarm_;
  core::Random random_;
  std::map<std::string, uint64_t> counts_;
  bool healed_ = false;
  // Disk fault settings to restore per host.
  std::map<HostId, DiskFaults> normal_disk_;
  std::map<std::string, HostId> by_name_;
};

}  // namespace keel::sim
