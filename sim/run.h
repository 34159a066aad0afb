// One seeded simulation run: a scenario (cluster + workload + checkers),
// the nemesis, the liveness phase, and the result keel-sim prints.
//
// Phases, all in virtual time:
//   [0, fault_window)         clients issue operations; the nemesis injects
//                             faults (unless faults are off)
//   fault_window              everything heals; clients stop starting new
//                             operations but finish the ones in flight
//   [.., + liveness_window)   every pending operation must complete and the
//                             scenario's final checks must run, else FAIL
#pragma once

#include <algorithm>
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <memory>
#include <string>
#include <vector>

#include "core/ids.h"
#include "core/time.h"
#include "sim/nemesis.h"
#include "sim/world.h"
#include "workloads/history.h"

namespace keel::sim {

// The shape of a KV workload: how many clients, over how many keys, with
// what mix and pace. Drawn per seed (swarm testing) unless given.
struct WorkloadShape {
  int clients = 3;
  int keys = 3;
  int read_percent = -1;  // -1: the workload's default
  int cas_percent = 45;
  int64_t think_us = 10000;
  int wander_percent = 0;
  bool operator==(const WorkloadShape&) const = default;
};

struct RunOptions {
  uint64_t seed = 1;
  std::string workload = "demo";
  int nodes = 3;
  int clients = 3;
  core::Duration fault_window = core::Duration::seconds(20);
  core::Duration liveness_window = core::Duration::seconds(30);
  bool faults = true;
  // Write every trace event and log line as JSON to this file.
  std::string trace_path;
  // Write the timeline page (sim/timeline.h) to this file at the end. The
  // run's behaviour and digest do not change.
  std::string timeline_path;
  // Test-only: a protocol bug for the checkers to catch (scenario-defined).
  std::string bug;
  // Swarm testing of the workload's shape: each seed draws its client count
  // (1 to 2 x clients), key count, read/write mix and request rate. Off:
  // exactly `clients` clients with the workload's default shape.
  bool shape_swarm = true;
  // The shape to use instead of drawing one or taking the defaults (a replay
  // file, a step of --shrink). Its client count overrides `clients`.
  std::optional<WorkloadShape> shape;
  // Swarm testing of protocol knobs (batch sizes, pipeline depth, timeouts,
  // snapshot cadence, lease reads), drawn per seed.
  bool knob_swarm = true;
  // Each client stops after this many operations (0: no limit).
  uint64_t ops_max = 0;
  // The faults to inject instead of the seed's own draw (a replay file, or
  // a step of --shrink). With faults off nothing is injected either way.
  std::optional<std::vector<FaultEvent>> fault_plan;
};

struct RunResult {
  uint64_t seed = 0;
  std::string workload;
  bool pass = true;
  uint64_t digest = 0;
  uint64_t events = 0;
  double sim_seconds = 0;
  double wall_seconds = 0;
  std::string swarm;
  std::map<std::string, uint64_t> faults;
  // The workload's shape in this run, for scenarios that have one.
  std::optional<WorkloadShape> shape;
  // The faults planned for this run (injected unless the host was down).
  std::vector<FaultEvent> fault_plan;
  std::vector<std::string> violations;
  uint64_t ops_ok = 0;
  uint64_t ops_failed = 0;
  uint64_t ops_indeterminate = 0;
  // Coverage marks hit in this run (core/cover.h), by name.
  std::map<std::string, uint64_t> coverage;
  // Extra human-readable detail for a failure (history slices).
  std::string detail;

  void violation(std::string what) {
    pass = false;
    violations.push_back(std::move(what));
  }
  std::string to_json() const;
  // A one-line command that reproduces this run.
  std::string repro(const RunOptions& options) const;
};

// A workload on a cluster, with its checkers.
class Scenario {
 public:
  virtual ~Scenario() = default;
  // Adds the node and client hosts to `world` (not started).
  virtual void setup(World& world, const RunOptions& options) = 0;
  virtual std::vector<HostId> nodes() const = 0;
  virtual std::vector<HostId> hosts() const = 0;
  virtual std::vector<FaultKind> allowed_faults() const = 0;
  // Called once the fault window has closed and everything is healed.
  virtual void on_healed(World& world) = 0;
  // True once the clients have finished and the final checks have run.
  virtual bool finished() const = 0;
  // True once an online checker has found a violation: the run stops there
  // (what follows a broken invariant only buries it).
  virtual bool failed() const { return false; }

  // --- For the timeline page (RunOptions::timeline_path); optional --------
  // The client history, read at the end of the run; null if the scenario
  // keeps none.
  virtual const workloads::History* history() const { return nullptr; }
  // The host a history client ran on. The default is the KV workloads'
  // convention (workloads::run_kv_client with first_client_id = c and
  // clients_stride = options.clients): host "cK" runs the clients K,
  // K + clients, K + 2 * clients, ...
  virtual std::string client_host(workloads::ClientId client, const RunOptions& options) const {
    const uint32_t clients = static_cast<uint32_t>(std::max(options.clients, 1));
    return "c" + std::to_string((client.value() + clients - 1) % clients + 1);
  }
  // Node `node` became leader of `term` (`leads`), or stopped leading.
  using LeaderListener = std::function<void(core::NodeId node, core::Term term, bool leads)>;
  // Called before setup() when a timeline is recorded. A scenario with a
  // Raft group passes `listener` to its RaftInvariants
  // (RaftInvariants::set_leader_listener); NodeId i must be the i-th host of
  // nodes(). The default ignores it: no leader marks.
  virtual void set_leader_listener(LeaderListener listener) { (void)listener; }
  // Fills in violations and counters. Called at the end of the run.
  virtual void report(World& world, RunResult& result) = 0;
};

// Names accepted by make_scenario, for --help and errors.
std::vector<std::string> workload_names();
// nullptr for an unknown workload name.
std::unique_ptr<Scenario> make_scenario(const std::string& workload);

RunResult run_simulation(const RunOptions& options);

}  // namespace keel::sim
