// The key-value workloads on keel nodes, through RESP clients: register,
// counter and unique-writes on one Raft group (run_kv_node), and
// cluster-register, cluster-counter and cluster-unique-writes on the
// partitioned node keeld runs (run_cluster_node: the peer bus, the
// controller group and its service, the session agent, the partition
// drivers and the routing front end, all on the simulated hosts). Each run
// checks the Raft invariants online (sim/raft_invariants.h; for a
// partitioned cluster, those of its controller group) and, at the end,
// linearizability of the client history, durability of acknowledged
// writes, that every node serves again, and (one group) convergence of the
// replicas' state digests or (partitioned) that every node then agrees on
// metadata in which every partition is led with at least its minimum ISR.
#include <algorithm>
#include <map>
#include <memory>

#include "core/assert.h"
#include "node/cluster_node.h"
#include "node/kv_node.h"
#include "net/resp/value.h"
#include "sim/raft_invariants.h"
#include "sim/run.h"
#include "sim/scenarios.h"
#include "storage/mem_kv_engine.h"
#include "workloads/convergence.h"
#include "workloads/durability.h"
#include "workloads/kv_workloads.h"
#include "workloads/linearizability.h"

namespace keel::sim {
namespace {

using core::Duration;
using core::Instant;
using core::NodeId;

constexpr uint16_t kClientPort = 6379;
constexpr uint16_t kPeerPort = 7000;
constexpr Duration kFinalReadBudget = Duration::seconds(20);
constexpr Duration kSettleBudget = Duration::seconds(10);

// A node's engine: in memory, persisted as snapshots on the simulated disk.
core::Result<std::unique_ptr<storage::KvEngine>> open_mem_engine(core::Env& env) {
  KEEL_TRY_ASSIGN(auto engine, storage::MemKvEngine::open(env.disk, "kv", storage::MemKvOptions{.fibers = &env.fibers}));
  return std::unique_ptr<storage::KvEngine>(std::move(engine));
}

class KvScenario : public Scenario {
 public:
  KvScenario(workloads::KvWorkload workload, bool partitioned) : workload_(workload), partitioned_(partitioned) {}

  void setup(World& world, const RunOptions& options) override {
    world_ = &world;
    node::RaftNodeOptions raft;
    for (int i = 1; i <= options.nodes; ++i) {
      const std::string host = "n" + std::to_string(i);
      raft.members[NodeId(i)] = {core::Address{host, kPeerPort}, core::Address{host, kClientPort}};
      client_addresses_.push_back(core::Address{host, kClientPort});
    }
    // Simulated time is cheap: keep timeouts short so that faults bite.
    raft.tick_interval = Duration::millis(10);
    raft.raft.election_timeout_ticks = 10;
    raft.snapshot_entries = 500;
    knobs_ = "default";
    if (options.knob_swarm) draw_knobs(world, raft);
    if (options.bug == "commit-without-quorum") raft.raft.test_bug_commit_without_quorum = true;
    else if (options.bug == "vote-without-log-check") raft.raft.test_bug_vote_without_log_check = true;
    else if (options.bug == "commit-previous-term") raft.raft.test_bug_commit_previous_term = true;
    else if (options.bug == "send-before-persist") raft.test_bug_send_before_persist = true;
    else if (options.bug == "node-never-restarts") plant_unrestartable_ = true;
    else if (!options.bug.empty()) violations_.push_back("unknown --bug '" + options.bug + "'");

    if (partitioned_ && options.bug == "node-never-restarts") {
      violations_.push_back("--bug node-never-restarts is planted in the one-group workloads only");
    }
    if (partitioned_) {
      add_cluster_nodes(world, options, raft);
    } else {
      add_group_nodes(world, options, raft);
    }
    hosts_ = nodes_;
    client_config_.workload = workload_;
    client_config_.keys = workload_ == workloads::KvWorkload::kUniqueWrites ? 5 : 3;
    client_config_.ops_max = options.ops_max;
    clients_ = options.clients;
    if (options.shape) {
      use_shape(*options.shape);
    } else if (options.shape_swarm) {
      draw_shape(world, options);
    }
    client_config_.clients_stride = static_cast<uint32_t>(clients_);
    for (int c = 1; c <= clients_; ++c) {
      hosts_.push_back(world.add_host("c" + std::to_string(c), [this, c](core::Env& env) { client(env, c); }));
    }
    clients_running_ = clients_;
    shape_ = "clients=" + std::to_string(clients_) + ",keys=" + std::to_string(client_config_.keys) +
             ",think=" + client_config_.think_time_max.to_string() +
             ",wander=" + std::to_string(client_config_.wander_percent) + "%";
    if (workload_ != workloads::KvWorkload::kUniqueWrites) {
      shape_ += ",reads=" + std::to_string(client_config_.read_percent < 0 ? -1 : client_config_.read_percent) + "%";
    }
    if (workload_ == workloads::KvWorkload::kRegister) shape_ += ",cas=" + std::to_string(client_config_.cas_percent) + "%";
    hosts_.push_back(world.add_host("checker", [this](core::Env& env) { final_reads(env); }));
  }

  const workloads::History* history() const override { return &history_; }
  std::string client_host(workloads::ClientId client, const RunOptions&) const override {
    const uint32_t clients = static_cast<uint32_t>(clients_);
    return "c" + std::to_string((client.value() + clients - 1) % clients + 1);
  }
  void set_leader_listener(LeaderListener listener) override { invariants_.set_leader_listener(std::move(listener)); }

  std::vector<HostId> nodes() const override { return nodes_; }
  std::vector<HostId> hosts() const override { return hosts_; }

  std::vector<FaultKind> allowed_faults() const override {
    // Bit flips are reported as Corruption and stop a node for good; the
    // simulated cluster has no repair path for them yet.
    return fault_kinds_without_bit_flips();
  }

  void on_healed(World&) override { healed_ = true; }
  bool finished() const override { return checked_; }
  bool failed() const override { return !invariants_.violations().empty(); }

  void report(World& world, RunResult& result) override {
    (void)world;
    result.swarm += " shape:" + shape_ + " knobs:" + knobs_;
    result.shape = shape();
    for (auto& v : violations_) result.violation(v);
    for (auto& v : invariants_.violations()) result.violation(v);
    for (const auto& op : history_.ops()) {
      switch (op.outcome) {
        case workloads::Outcome::kOk: ++result.ops_ok; break;
        case workloads::Outcome::kFail: ++result.ops_failed; break;
        default: ++result.ops_indeterminate; break;
      }
    }
    if (!checked_) return;
    const auto lin = workloads::check_linearizability(history_);
    if (lin.verdict == workloads::Verdict::kFail) {
      result.violation("C1 linearizability: " + lin.summary());
      result.detail += lin.summary();
    } else if (lin.verdict == workloads::Verdict::kUnknown) {
      result.detail += "linearizability not decided: " + lin.summary() + "\n";
    }
    const auto dur = workloads::check_durability(history_, final_state_);
    if (dur.verdict == workloads::Verdict::kFail) result.violation("C2 durability: " + dur.summary());
    for (auto& v : convergence_violations_) result.violation(v);
    if (result.ops_ok == 0) result.violation("liveness: no operation succeeded in the whole run");
  }

 private:
  void add_group_nodes(World& world, const RunOptions& options, const node::RaftNodeOptions& raft) {
    for (int i = 1; i <= options.nodes; ++i) {
      node::KvNodeConfig config;
      config.raft = raft;
      config.raft.id = NodeId(i);
      config.client_address = raft.members.at(NodeId(i)).client;
      config.open_engine = open_mem_engine;
      nodes_.push_back(world.add_host("n" + std::to_string(i), [this, config, i](core::Env& env) mutable {
        RaftInvariants::NodeObserver observer(invariants_, NodeId(i), ++incarnations_[i]);
        config.observer = &observer;
        config.on_running = [this, i](node::RaftNode* raft_node, node::StateMachine* machine) {
          if (raft_node == nullptr) {
            running_.erase(i);
          } else {
            running_[i] = {raft_node, machine};
            last_error_.erase(i);
          }
        };
        // Planted: n1 cannot start again once it has stopped, as if its
        // disk held something its own recovery refuses.
        const core::Status s = plant_unrestartable_ && i == 1 && incarnations_[i] > 1
                                   ? core::corruption("planted: n1 refuses its own disk")
                                   : node::run_kv_node(env, config);
        if (!s.is_ok()) {
          env.trace.error("node stopped: " + s.to_string());
          last_error_[i] = s.to_string();
        }
      }));
    }
  }

  // The partitioned node keeld runs, with 8 partitions of 3 replicas (the
  // workload's few keys land on several), sessions short enough that
  // failovers happen within a run.
  void add_cluster_nodes(World& world, const RunOptions& options, const node::RaftNodeOptions& raft) {
    for (int i = 1; i <= options.nodes; ++i) {
      node::ClusterNodeConfig config;
      config.controller = raft;
      config.controller.id = NodeId(i);
      config.service.partitions = 8;
      config.service.replication_factor = 3;
      config.service.sessions.lease = Duration::millis(600);
      config.service.sessions.drift_bound = Duration::millis(100);
      config.service.create_grace = Duration::seconds(1);
      config.partition.min_insync_replicas = 2;
      config.partition.replica_lag_max_ticks = 30;
      config.compact_every = 200;
      config.client_address = raft.members.at(NodeId(i)).client;
      config.open_engine = open_mem_engine;
      nodes_.push_back(world.add_host("n" + std::to_string(i), [this, config, i](core::Env& env) mutable {
        RaftInvariants::NodeObserver observer(invariants_, NodeId(i), ++incarnations_[i]);
        config.observer = &observer;
        config.on_running = [this, i](bool running) {
          if (running) {
            running_[i] = {nullptr, nullptr};
            last_error_.erase(i);
          } else {
            running_.erase(i);
          }
        };
        const core::Status s = node::run_cluster_node(env, config);
        if (!s.is_ok()) {
          env.trace.error("node stopped: " + s.to_string());
          last_error_[i] = s.to_string();
        }
      }));
    }
  }

  // Swarm testing of the workload: some seeds hammer one key with many
  // clients and no pause, others spread few writers over many keys, or
  // read mostly. Drawn from its own stream, so the fault schedule and the
  // hosts' randomness do not move with it.
  void draw_shape(World& world, const RunOptions& options) {
    core::Random random = world.random().fork("shape");
    WorkloadShape shape;
    shape.clients = static_cast<int>(random.uniform(1, static_cast<uint64_t>(std::max(2, 2 * options.clients))));
    constexpr int kKeyCounts[] = {1, 2, 3, 5, 8};
    shape.keys = kKeyCounts[random.uniform(0, 4)];
    shape.read_percent = static_cast<int>(random.uniform(0, 90));
    shape.cas_percent = static_cast<int>(random.uniform(0, 80));
    constexpr int64_t kThinkMs[] = {1, 5, 10, 50};
    shape.think_us = kThinkMs[random.uniform(0, 3)] * 1000;
    constexpr int kWander[] = {0, 30, 100};
    shape.wander_percent = kWander[random.uniform(0, 2)];
    use_shape(shape);
  }

  // Swarm testing of the protocol's knobs (FoundationDB's randomized
  // knobs): one-entry appends and a one-message pipeline make divergent
  // tails outlive more leader changes; short and long timeouts change who
  // notices what first; frequent snapshots send more installs; a third of
  // the seeds serve reads under the leader lease.
  void draw_knobs(World& world, node::RaftNodeOptions& raft) {
    core::Random random = world.random().fork("knobs");
    constexpr size_t kAppendEntries[] = {1, 4, 64, 256};
    constexpr size_t kInflight[] = {1, 4, 64};
    constexpr uint64_t kElectionTicks[] = {6, 10, 20};
    constexpr uint64_t kSnapshotEntries[] = {50, 200, 500, 5000};
    raft.raft.append_entries_max = kAppendEntries[random.uniform(0, 3)];
    raft.raft.inflight_max = kInflight[random.uniform(0, 2)];
    raft.raft.election_timeout_ticks = kElectionTicks[random.uniform(0, 2)];
    raft.raft.heartbeat_interval_ticks = random.uniform(1, 2);
    raft.snapshot_entries = kSnapshotEntries[random.uniform(0, 3)];
    raft.raft.lease_reads = random.chance(1.0 / 3);
    knobs_ = "append=" + std::to_string(raft.raft.append_entries_max) +
             ",inflight=" + std::to_string(raft.raft.inflight_max) +
             ",election=" + std::to_string(raft.raft.election_timeout_ticks) +
             ",heartbeat=" + std::to_string(raft.raft.heartbeat_interval_ticks) +
             ",snapshot=" + std::to_string(raft.snapshot_entries) + (raft.raft.lease_reads ? ",lease" : "");
  }

  void use_shape(const WorkloadShape& shape) {
    clients_ = std::max(1, shape.clients);
    client_config_.keys = std::max(1, shape.keys);
    client_config_.read_percent = shape.read_percent;
    client_config_.cas_percent = shape.cas_percent;
    client_config_.think_time_max = Duration::micros(shape.think_us);
    client_config_.wander_percent = shape.wander_percent;
  }

  WorkloadShape shape() const {
    WorkloadShape shape;
    shape.clients = clients_;
    shape.keys = client_config_.keys;
    shape.read_percent = client_config_.read_percent;
    shape.cas_percent = client_config_.cas_percent;
    shape.think_us = client_config_.think_time_max.ns() / 1000;
    shape.wander_percent = client_config_.wander_percent;
    return shape;
  }

  void client(core::Env& env, int c) {
    // Each client starts at its own home node, so that clients sit on both
    // sides of a partition.
    std::vector<core::Address> addresses = client_addresses_;
    std::rotate(addresses.begin(), addresses.begin() + (c - 1) % static_cast<int>(addresses.size()), addresses.end());
    workloads::RespClient client(env, addresses);
    workloads::KvClientConfig config = client_config_;
    config.first_client_id = static_cast<uint32_t>(c);
    workloads::run_kv_client(env, client, history_, config, [this] { return world_->now(); },
                             [this] { return healed_; });
    // Counted once per client: a finished client stays idle rather than
    // exiting, since the harness restarts an exited program and a second
    // count would let the final check start while another client still
    // has an operation in flight.
    --clients_running_;
    for (;;) env.sleep_for(Duration::seconds(3600));
  }

  void final_reads(core::Env& env) {
    while (!healed_ || clients_running_ > 0) env.sleep_for(Duration::millis(50));
    workloads::RespClient client(env, client_addresses_);
    const Instant give_up = env.now() + kFinalReadBudget;
    auto state = workloads::read_final_state(env, client, client_config_, [&] { return env.now() >= give_up; });
    if (!state.is_ok()) {
      violations_.push_back("liveness: final reads failed: " + state.status().to_string());
      check_nodes_serving();
      checked_ = true;
      return;
    }
    final_state_ = std::move(*state);
    if (partitioned_) {
      // A node restarted just before the heal gets the time a one-group
      // node gets while its digests are compared.
      for (int attempt = 0; attempt < 200 && running_.size() < nodes_.size(); ++attempt) {
        env.sleep_for(Duration::millis(50));
      }
      check_nodes_serving();
      check_settled(env);
    } else {
      check_convergence(env);
    }
    checked_ = true;
  }

  // C3: once every replica has applied the same index, digests agree. C5:
  // after the heal every node serves again; a node that cannot restart from
  // its own disk is a failure even when a quorum answered the final reads.
  void check_convergence(core::Env& env) {
    std::vector<workloads::ReplicaDigest> digests;
    for (int attempt = 0; attempt < 200; ++attempt) {
      // Nothing below suspends (a busy machine is retried later rather than
      // waited on), so running_ cannot change under the loop and no node
      // can crash while its machine is being read.
      digests.clear();
      uint64_t max_applied = 0;
      bool equal = running_.size() == nodes_.size();
      for (auto& [i, r] : running_) {
        max_applied = std::max(max_applied, r.machine->applied_index().value());
        equal = equal && !r.machine->busy();
      }
      if (!equal && attempt + 1 < 200) {
        env.sleep_for(Duration::millis(50));
        continue;
      }
      for (auto& [i, r] : running_) {
        if (r.machine->busy()) continue;
        equal = equal && r.machine->applied_index().value() == max_applied;
        digests.push_back(
            workloads::ReplicaDigest{"n" + std::to_string(i), r.machine->applied_index(), r.machine->digest()});
      }
      if (equal) break;
      env.sleep_for(Duration::millis(50));
    }
    const auto result = workloads::check_convergence("raft", digests);
    if (result.verdict == workloads::Verdict::kFail) convergence_violations_.push_back("C3 convergence: " + result.report);
    check_nodes_serving();
  }

  // Liveness after the heal: every node holds the same metadata, in which
  // every partition has a leader and at least its minimum ISR.
  void check_settled(core::Env& env) {
    std::string last;
    for (const Instant settle_by = env.now() + kSettleBudget;; env.sleep_for(Duration::millis(50))) {
      bool settled = true;
      std::string version;
      for (const core::Address& a : client_addresses_) {
        workloads::RespClient one(env, {a});
        auto r = one.call({"INFO", "partitions"});
        const std::string text = r.is_ok() ? std::string(r->str) : r.status().to_string();
        const size_t v = text.find("metadata_version:");
        const std::string mine = v == std::string::npos ? "" : text.substr(v, text.find('\r', v) - v);
        settled = settled && r.is_ok() && text.find("\r\noffline_partitions:0\r\n") != std::string::npos &&
                  text.find("\r\nunder_min_isr_partitions:0\r\n") != std::string::npos &&
                  (version.empty() || mine == version);
        if (version.empty()) version = mine;
        if (!settled) {
          last = a.to_string() + ": " + text;
          break;
        }
      }
      if (settled) break;
      if (env.now() >= settle_by) {
        convergence_violations_.push_back("liveness: the cluster did not settle within " +
                                          kSettleBudget.to_string() + " after the heal: " + last);
        return;
      }
    }
  }

  // C5: every node serves again after the heal; a node that cannot restart
  // from its own disk names its error.
  void check_nodes_serving() {
    for (size_t i = 1; i <= nodes_.size(); ++i) {
      if (running_.count(static_cast<int>(i)) != 0) continue;
      auto error = last_error_.find(static_cast<int>(i));
      convergence_violations_.push_back("C5 liveness: n" + std::to_string(i) + " is not serving after the heal" +
                                        (error == last_error_.end() ? std::string(" (it never finished starting)")
                                                                    : ": " + error->second));
    }
  }

  struct Running {
    node::RaftNode* raft;
    node::StateMachine* machine;
  };

  workloads::KvWorkload workload_;
  bool partitioned_ = false;
  World* world_ = nullptr;
  std::vector<HostId> nodes_;
  std::vector<HostId> hosts_;
  std::vector<core::Address> client_addresses_;
  workloads::KvClientConfig client_config_;
  RaftInvariants invariants_;
  std::map<int, uint64_t> incarnations_;
  std::map<int, Running> running_;
  // Why each node's last run ended, until it serves again.
  std::map<int, std::string> last_error_;
  workloads::History history_;
  workloads::FinalState final_state_;
  std::vector<std::string> violations_;
  std::vector<std::string> convergence_violations_;
  int clients_ = 0;
  std::string shape_;
  std::string knobs_;
  int clients_running_ = 0;
  bool plant_unrestartable_ = false;
  bool healed_ = false;
  bool checked_ = false;
};

}  // namespace

std::unique_ptr<Scenario> make_kv_scenario(const std::string& workload) {
  const bool partitioned = workload.rfind("cluster-", 0) == 0;
  auto w = workloads::parse_kv_workload(partitioned ? workload.substr(8) : workload);
  if (!w) return nullptr;
  return std::make_unique<KvScenario>(*w, partitioned);
}

}  // namespace keel::sim
