// The "demo" workload: the replicated counter of node/counter.h on three
// nodes, driven by client hosts that retry each increment until its outcome
// is known, then checked for durability, exactly-once and convergence.
#include <algorithm>
#include <map>
#include <set>

#include "core/assert.h"
#include "node/counter.h"
#include "sim/run.h"
#include "sim/scenarios.h"

namespace keel::sim {
namespace {

using core::Duration;
using core::Instant;

constexpr uint16_t kClientPort = 6000;
constexpr uint16_t kPeerPort = 7000;
constexpr Duration kCallTimeout = Duration::millis(800);
constexpr Duration kThinkTimeMax = Duration::millis(20);

class DemoScenario : public Scenario {
 public:
  void setup(World& world, const RunOptions& options) override {
    KEEL_ASSERT(options.nodes >= 1);
    for (int i = 1; i <= options.nodes; ++i) {
      config_.peer_addresses.push_back(core::Address{"n" + std::to_string(i), kPeerPort});
      config_.client_addresses.push_back(core::Address{"n" + std::to_string(i), kClientPort});
    }
    if (!options.bug.empty() && options.bug != "skip-sync") {
      violations_.push_back("unknown --bug '" + options.bug + "' for the demo (known: skip-sync)");
    }
    for (int i = 0; i < options.nodes; ++i) {
      node::CounterConfig mine = config_;
      mine.test_bug_skip_sync = options.bug == "skip-sync";
      mine.self = static_cast<size_t>(i);
      nodes_.push_back(world.add_host("n" + std::to_string(i + 1),
                                      [mine](core::Env& env) { node::run_counter_node(env, mine); }));
    }
    hosts_ = nodes_;
    for (int c = 1; c <= options.clients; ++c) {
      hosts_.push_back(world.add_host("c" + std::to_string(c), [this, c](core::Env& env) { client(env, c); }));
    }
    clients_running_ = options.clients;
    checker_ = world.add_host("checker", [this](core::Env& env) { check(env); });
    hosts_.push_back(checker_);
  }

  std::vector<HostId> nodes() const override { return nodes_; }
  std::vector<HostId> hosts() const override { return hosts_; }

  std::vector<FaultKind> allowed_faults() const override {
    // No bit flips: the demo's log format does not tell a flipped synced
    // record from an unsynced torn one (storage/ does).
    return fault_kinds_without_bit_flips();
  }

  void on_healed(World&) override { healed_ = true; }

  bool finished() const override { return checked_; }

  void report(World&, RunResult& result) override {
    result.ops_ok = acked_.size();
    result.ops_failed = failed_;
    result.ops_indeterminate = unresolved_;
    for (auto& v : violations_) result.violation(v);
  }

 private:
  // Each client increments with unique ids; an unknown outcome is retried
  // with the same id until it is known, so after the heal every operation
  // must resolve.
  void client(core::Env& env, int c) {
    uint64_t seq = 0;
    while (!healed_) {
      const uint64_t op = (static_cast<uint64_t>(c) << 32) | ++seq;
      invoked_.insert(op);
      bool resolved = false;
      while (!resolved) {
        auto r = node::counter_increment(env, config_.client_addresses[0], op, kCallTimeout);
        if (r.is_ok()) {
          acked_[op] = *r;
          resolved = true;
        } else if (r.status().code() == core::Code::kFailedPrecondition) {
          ++failed_;
          resolved = true;
        } else {
          env.sleep_for(Duration::millis(static_cast<int64_t>(env.random.uniform(10, 100))));
        }
      }
      env.sleep_for(env.random.uniform_duration(Duration::zero(), kThinkTimeMax));
    }
    // Counted once per client: a finished client stays idle rather than
    // exiting, since the harness restarts an exited program and a second
    // count would let the final check start while another client still
    // has an operation in flight.
    --clients_running_;
    for (;;) env.sleep_for(Duration::seconds(3600));
  }

  void check(core::Env& env) {
    while (!healed_ || clients_running_ > 0) env.sleep_for(Duration::millis(50));
    std::vector<std::vector<uint64_t>> logs;
    for (const auto& address : config_.client_addresses) {
      for (;;) {
        auto log = node::counter_read_log(env, address, kCallTimeout);
        if (log.is_ok()) {
          logs.push_back(std::move(*log));
          break;
        }
        env.sleep_for(Duration::millis(100));
      }
    }
    // Backups catch up asynchronously: wait until they match the primary.
    for (size_t i = 1; i < logs.size(); ++i) {
      for (int attempt = 0; attempt < 100 && logs[i] != logs[0]; ++attempt) {
        env.sleep_for(Duration::millis(50));
        auto log = node::counter_read_log(env, config_.client_addresses[i], kCallTimeout);
        if (log.is_ok()) logs[i] = std::move(*log);
      }
    }
    const std::vector<uint64_t>& primary = logs[0];
    std::set<uint64_t> seen;
    for (size_t i = 0; i < primary.size(); ++i) {
      const uint64_t op = primary[i];
      if (!seen.insert(op).second) violations_.push_back("exactly-once: op " + std::to_string(op) + " logged twice");
      if (invoked_.count(op) == 0) violations_.push_back("integrity: op " + std::to_string(op) + " never invoked");
    }
    for (auto& [op, value] : acked_) {
      if (value == 0 || value > primary.size() || primary[value - 1] != op) {
        violations_.push_back("durability: op " + std::to_string(op) + " acknowledged at position " +
                              std::to_string(value) + " is not there in the primary's log");
      }
    }
    for (size_t i = 1; i < logs.size(); ++i) {
      if (logs[i] == primary) continue;
      const std::vector<uint64_t>& backup = logs[i];
      const std::string name = "n" + std::to_string(i + 1);
      const size_t common = std::min(backup.size(), primary.size());
      size_t at = 0;
      while (at < common && backup[at] == primary[at]) ++at;
      std::string what = "convergence: " + name + " holds " + std::to_string(backup.size()) + " entries, the primary " +
                         std::to_string(primary.size());
      if (at < common) {
        what += "; they differ first at position " + std::to_string(at + 1) + " (" + name + " has op " +
                std::to_string(backup[at]) + ", the primary op " + std::to_string(primary[at]) + ")";
      } else {
        what += "; the shorter is a prefix of the longer";
      }
      violations_.push_back(what);
    }
    checked_ = true;
  }

  node::CounterConfig config_;
  std::vector<HostId> nodes_;
  std::vector<HostId> hosts_;
  HostId checker_;
  bool healed_ = false;
  bool checked_ = false;
  int clients_running_ = 0;
  std::set<uint64_t> invoked_;
  std::map<uint64_t, uint64_t> acked_;
  uint64_t failed_ = 0;
  uint64_t unresolved_ = 0;
  std::vector<std::string> violations_;
};

}  // namespace

std::unique_ptr<Scenario> make_demo_scenario() { return std::make_unique<DemoScenario>(); }

}  // namespace keel::sim
