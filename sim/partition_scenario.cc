// isr-driver: partitions served by the real partition data path - one
// PartitionDriver per replica, with PartitionStorage and PartitionKv on a
// MemKvEngine, all on the simulated disk - on simulated hosts that the
// nemesis crashes (power loss, at any disk call), kills, pauses, and whose
// disks fail and slow down. The scenario plays the controller: it elects a
// partition's leader from its ISR once the old leader's host has been down
// or stopped for a session timeout, accepts ISR changes based on the current
// partition epoch, and hands every node the records. Clients increment and
// set keys over every partition through the leaders' drivers.
//
// Reads go through the leader's read barrier, under the lease each
// controller tick grants a running node (shorter than the session timeout
// after which another replica is elected).
//
// Checked at the end: linearizability of the counter history (every
// INCRBY's reply is the value the log gave it, every read a value some
// linearization allows), durability of every
// acknowledged write, equal partitions on every replica (digests at equal
// applied offsets), and that every partition has a leader and its whole ISR
// back after the heal.
#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "consensus/controller.h"
#include "core/assert.h"
#include "net/resp/command.h"
#include "node/commands.h"
#include "node/partition_driver.h"
#include "sim/run.h"
#include "sim/scenarios.h"
#include "storage/mem_kv_engine.h"
#include "workloads/durability.h"
#include "workloads/history.h"
#include "workloads/linearizability.h"

namespace keel::sim {
namespace {

using consensus::ClusterMetadata;
using consensus::IsrRequest;
using consensus::PartitionMessage;
using consensus::PartitionState;
using core::Duration;
using core::Epoch;
using core::Instant;
using core::NodeId;
using core::PartitionId;

constexpr Duration kControllerTick = Duration::millis(20);
// A host down or stopped this long has lost its session.
constexpr Duration kSessionTimeout = Duration::millis(400);
// The lease each controller tick grants a running node, on its own clock:
// shorter than the session timeout by more than clock drift can eat.
constexpr Duration kLease = Duration::millis(300);

class DriverScenario;

class Wire : public node::PartitionTransport {
 public:
  explicit Wire(DriverScenario& s) : s_(s) {}
  void send(const PartitionMessage& m) override;
  void send_isr_request(const IsrRequest& r) override;

 private:
  DriverScenario& s_;
};

class DriverScenario : public Scenario {
 public:
  void setup(World& world, const RunOptions& options) override {
    world_ = &world;
    random_ = world.random().fork("isr-driver");
    // The final checks must run inside the liveness window.
    liveness_deadline_ = Instant() + options.fault_window + options.liveness_window - Duration::seconds(2);
    nodes_n_ = std::max(options.nodes, 1);
    partitions_ = static_cast<uint32_t>(random_.uniform(1, 6));
    const size_t rf = std::min<size_t>(static_cast<size_t>(nodes_n_), 3);
    min_isr_ = rf >= 3 ? 2 : 1;
    keys_ = static_cast<int>(random_.uniform(partitions_, partitions_ * 3));
    compact_every_ = random_.uniform(20, 200);
    if (options.bug == "driver-apply-before-commit") {
      bug_apply_early_ = true;
    } else if (!options.bug.empty()) {
      violations_.push_back("unknown --bug '" + options.bug + "'");
    }
    for (uint32_t p = 0; p < partitions_; ++p) {
      PartitionState st;
      for (size_t k = 0; k < rf; ++k) st.replicas.push_back(NodeId(static_cast<uint32_t>((p + k) % nodes_n_ + 1)));
      st.isr = std::set<NodeId>(st.replicas.begin(), st.replicas.end());
      st.leader = st.replicas.front();
      st.leader_epoch = Epoch(1);
      st.partition_epoch = 1;
      state_.push_back(st);
    }
    for (int i = 1; i <= nodes_n_; ++i) {
      node_hosts_.push_back(
          world.add_host("n" + std::to_string(i), [this, i](core::Env& env) { node_program(env, i); }));
    }
    const int clients = std::max(options.clients, 1);
    for (int c = 1; c <= clients; ++c) {
      client_hosts_.push_back(world.add_host("c" + std::to_string(c), [this, c](core::Env& env) { client(env, c); }));
    }
    world.after(kControllerTick, [this] { controller_tick(); });
  }

  std::vector<HostId> nodes() const override { return node_hosts_; }
  std::vector<HostId> hosts() const override {
    std::vector<HostId> all = node_hosts_;
    all.insert(all.end(), client_hosts_.begin(), client_hosts_.end());
    return all;
  }
  std::vector<FaultKind> allowed_faults() const override {
    // The partition traffic does not use the simulated sockets, so network
    // faults would change nothing; bit flips have no repair path yet. (Disk
    // errors were once left out: seed 145 restarted a node whose engine was
    // older than its partition log's start - two drivers persisting the
    // shared engine at once wrote one snapshot file, fixed in MemKvEngine.)
    return {FaultKind::kCrash,    FaultKind::kKill,       FaultKind::kPause,
            FaultKind::kSlowDisk, FaultKind::kClockDrift, FaultKind::kCrashAtDiskCall, FaultKind::kDiskErrors};
  }
  void on_healed(World& world) override {
    (void)world;
    healed_ = true;
    world_->after(Duration::millis(100), [this] { await_quiet(); });
  }
  bool finished() const override { return final_done_; }
  const workloads::History* history() const override { return &history_; }

  void report(World& world, RunResult& result) override {
    (void)world;
    for (const std::string& v : violations_) result.violation(v);
    for (const workloads::Operation& op : history_.ops()) {
      if (op.outcome == workloads::Outcome::kOk) ++result.ops_ok;
      else if (op.outcome == workloads::Outcome::kFail) ++result.ops_failed;
      else ++result.ops_indeterminate;
    }
    result.swarm = "partitions=" + std::to_string(partitions_) + " keys=" + std::to_string(keys_) +
                   " compact=" + std::to_string(compact_every_) + " elections=" + std::to_string(elections_) +
                   " isr_changes=" + std::to_string(isr_changes_);
  }

  // --- Wiring ----------------------------------------------------------------

  void deliver(const PartitionMessage& m) {
    // A message is lost now and then (a reset connection), else delayed.
    if (random_.one_in(100)) return;
    const Duration d = random_.one_in(20) ? random_.uniform_duration(Duration::millis(5), Duration::millis(60))
                                          : random_.uniform_duration(Duration::micros(200), Duration::millis(2));
    world_->after(d, [this, m] {
      node::PartitionDriver* d2 = driver(m.to, m.partition);
      if (d2 != nullptr) d2->receive(m);
    });
  }

  void isr_request(const IsrRequest& r) {
    world_->after(random_.uniform_duration(Duration::millis(1), Duration::millis(5)), [this, r] {
      PartitionState& st = state_[r.partition.value()];
      if (r.leader != st.leader || r.leader_epoch != st.leader_epoch || r.partition_epoch != st.partition_epoch ||
          r.isr.count(r.leader) == 0) {
        return;  // stale or malformed: refused, as the controller does
      }
      // Added members must be running (the controller's incarnation check).
      for (NodeId n : r.isr) {
        if (st.isr.count(n) == 0 && !up(n)) return;
      }
      st.isr = r.isr;
      ++st.partition_epoch;
      ++isr_changes_;
      hand_out(r.partition.value());
    });
  }

 private:
  node::PartitionDriver* driver(NodeId n, PartitionId p) {
    auto it = drivers_.find({n.value(), p.value()});
    return it == drivers_.end() ? nullptr : it->second;
  }
  bool up(NodeId n) const { return world_->host_state(node_hosts_[n.value() - 1]) == HostState::kUp; }

  // --- A node ------------------------------------------------------------------

  void node_program(core::Env& env, int i) {
    auto opened = storage::MemKvEngine::open(env.disk, "kv", storage::MemKvOptions{.fibers = &env.fibers});
    if (!opened.is_ok()) {
      last_error_[i] = "engine: " + opened.status().to_string();
      return;  // the supervisor restarts the process
    }
    std::unique_ptr<storage::MemKvEngine> engine = std::move(*opened);
    Wire wire(*this);
    std::vector<std::unique_ptr<node::PartitionDriver>> drivers;
    struct Clear {
      DriverScenario& s;
      int i;
      ~Clear() {
        for (auto it = s.drivers_.begin(); it != s.drivers_.end();) {
          it = it->first.first == static_cast<uint32_t>(i) ? s.drivers_.erase(it) : std::next(it);
        }
      }
    } clear{*this, i};
    const uint64_t incarnation = ++incarnations_[i];
    for (uint32_t p = 0; p < partitions_; ++p) {
      const auto& reps = state_[p].replicas;
      if (std::find(reps.begin(), reps.end(), NodeId(static_cast<uint32_t>(i))) == reps.end()) continue;
      node::PartitionDriverOptions o;
      o.replica.partition = PartitionId(p);
      o.replica.id = NodeId(static_cast<uint32_t>(i));
      o.replica.min_insync_replicas = min_isr_;
      o.replica.coverage = &world_->trace_log().coverage();
      o.partitions = partitions_;
      o.incarnation = incarnation;
      o.dir = "p" + std::to_string(p);
      o.compact_every = compact_every_;
      o.test_bug_apply_before_commit = bug_apply_early_;
      auto d = std::make_unique<node::PartitionDriver>(env, o, *engine, wire);
      const core::Status started = d->start();
      if (!started.is_ok()) {
        last_error_[i] = "partition " + std::to_string(p) + ": " + started.to_string();
        return;
      }
      drivers_[{static_cast<uint32_t>(i), p}] = d.get();
      d->set_state(state_[p]);
      drivers.push_back(std::move(d));
    }
    last_error_.erase(i);
    // Until a driver stops (a storage failure): the process then exits and
    // its supervisor restarts it.
    for (;;) {
      env.sleep_for(Duration::millis(50));
      bool any_failed = false;
      for (const auto& d : drivers) any_failed = any_failed || !d->running();
      if (any_failed) return;
    }
  }

  // --- The controller ------------------------------------------------------------

  void hand_out(uint32_t p) {
    for (const NodeId n : state_[p].replicas) {
      if (node::PartitionDriver* d = driver(n, PartitionId(p))) d->set_state(state_[p]);
    }
  }

  void controller_tick() {
    const Instant now = world_->now();
    for (int i = 1; i <= nodes_n_; ++i) {
      if (up(NodeId(static_cast<uint32_t>(i)))) {
        away_since_.erase(i);
      } else if (!away_since_.count(i)) {
        away_since_[i] = now;
      }
    }
    auto expired = [&](NodeId n) {
      auto it = away_since_.find(static_cast<int>(n.value()));
      return it != away_since_.end() && now - it->second >= kSessionTimeout;
    };
    for (uint32_t p = 0; p < partitions_; ++p) {
      PartitionState& st = state_[p];
      bool changed = false;
      // A fenced node leaves every ISR where others remain.
      for (NodeId n : std::set<NodeId>(st.isr)) {
        if (expired(n) && st.isr.size() > 1 && n != st.leader) {
          st.isr.erase(n);
          changed = true;
        }
      }
      if (st.leader.value() != 0 && expired(st.leader)) {
        // The leader is fenced: the next live ISR member leads, or, when
        // none is live, the partition is offline until one returns (the
        // last member keeps its place in the ISR).
        const NodeId old = st.leader;
        NodeId next;
        for (NodeId n : st.replicas) {
          if (n != old && st.isr.count(n) && up(n)) {
            next = n;
            break;
          }
        }
        if (st.isr.size() > 1) st.isr.erase(old);
        st.leader = next;
        st.leader_epoch = st.leader_epoch.next();
        changed = true;
        ++elections_;
      } else if (st.leader.value() == 0) {
        for (NodeId n : st.replicas) {
          if (st.isr.count(n) && up(n)) {
            st.leader = n;
            st.leader_epoch = st.leader_epoch.next();
            changed = true;
            ++elections_;
            break;
          }
        }
      }
      if (changed) ++st.partition_epoch;
      hand_out(p);  // every tick: a restarted node learns the record
    }
    // Leases come after the records they go with (PartitionDriver::set_lease).
    for (const auto& [key, d] : drivers_) {
      const HostId h = node_hosts_[key.first - 1];
      if (world_->host_state(h) == HostState::kUp) d->set_lease(world_->clock(h).now() + kLease);
    }
    world_->after(kControllerTick, [this] { controller_tick(); });
  }

  // --- Clients -------------------------------------------------------------------

  // History times are the world's (one clock for every client), not the
  // client host's own drifting clock.
  void client(core::Env& env, int c) {
    workloads::ClientId id(static_cast<uint32_t>(c));
    uint64_t counter = 0;
    env.sleep_for(Duration::millis(200));
    while (!healed_) {
      env.sleep_for(Duration::micros(static_cast<int64_t>(random_.uniform(0, 20000))));
      const std::string key = "k" + std::to_string(random_.uniform(0, static_cast<uint64_t>(keys_ - 1)));
      const uint32_t p = ClusterMetadata::partition_of_slot(net::resp::key_slot(key), partitions_).value();
      node::PartitionDriver* d = driver(state_[p].leader, PartitionId(p));
      if (d == nullptr) {
        env.sleep_for(Duration::millis(20));
        continue;
      }
      if (random_.chance(0.3)) {
        // A linearizable read at the leader, under its lease.
        const workloads::OpId op = history_.invoke_read(id, key, world_->now());
        const core::Status barrier = d->read_barrier();
        if (!barrier.is_ok()) {
          history_.fail(op, world_->now());  // a refused read has no effect
          env.sleep_for(Duration::millis(10));
          continue;
        }
        // Still in the same fiber step as the barrier: `d` is alive.
        auto value = d->kv().get(key);
        if (value.is_ok()) {
          history_.complete_read(op, world_->now(), *value);
        } else {
          history_.fail(op, world_->now());
        }
        continue;
      }
      const bool incr = true;  // the counter model: increments and reads
      workloads::OpId op;
      core::Bytes command;
      if (incr) {
        const int64_t delta = static_cast<int64_t>(random_.uniform(1, 5));
        op = history_.invoke_incr(id, key, delta, world_->now());
        command = node::encode_command(node::IncrByCommand{core::Bytes(key), delta});
      } else {
        // A reset of the counter to a unique multiple of 1000.
        const std::string value = std::to_string((static_cast<uint64_t>(c) * 1000000 + ++counter) * 1000);
        op = history_.invoke_write(id, key, value, world_->now());
        node::SetCommand set;
        set.key = key;
        set.value = value;
        command = node::encode_command(set);
      }
      auto reply = d->propose(std::move(command), true);  // touches nothing of d after
      if (reply.is_ok()) {
        auto decoded = node::decode_reply(*reply);
        if (!decoded.is_ok() || decoded->kind == node::CommandReply::Kind::kError) {
          history_.fail(op, world_->now());
        } else if (incr) {
          history_.complete_incr(op, world_->now(), decoded->integer);
        } else {
          history_.complete_write(op, world_->now());
        }
        continue;
      }
      const core::Code code = reply.status().code();
      if (code == core::Code::kFailedPrecondition || code == core::Code::kUnavailable) {
        history_.fail(op, world_->now());  // never proposed
        env.sleep_for(Duration::millis(10));
      } else {
        history_.indeterminate(op, world_->now());
        id = workloads::ClientId(next_client_id_++);
      }
    }
  }

  // --- The end ---------------------------------------------------------------------

  void await_quiet() {
    std::string why;
    for (uint32_t p = 0; p < partitions_ && why.empty(); ++p) {
      const PartitionState& st = state_[p];
      node::PartitionDriver* leader = driver(st.leader, PartitionId(p));
      if (leader == nullptr || st.isr.size() != st.replicas.size()) {
        why = "partition " + std::to_string(p) + " has no running leader or a partial ISR (leader n" +
              st.leader.to_string() + " epoch " + st.leader_epoch.to_string() + ", isr";
        for (NodeId n : st.isr) why += " n" + n.to_string();
        why += ";";
        for (NodeId n : st.replicas) {
          node::PartitionDriver* d = driver(n, PartitionId(p));
          why += " n" + n.to_string() + "=" +
                 (d == nullptr ? std::string("down")
                               : std::string(consensus::partition_role_name(d->replica()->role())) + "/e" +
                                     d->replica()->epoch().to_string() + "/end" +
                                     d->replica()->log_end().to_string() + "/hw" +
                                     d->replica()->high_watermark().to_string());
        }
        why += ")";
        break;
      }
      const core::Offset end = leader->replica()->log_end();
      if (leader->replica()->high_watermark() != end) {
        why = "partition " + std::to_string(p) + " has uncommitted records";
        break;
      }
      for (NodeId n : st.replicas) {
        node::PartitionDriver* d = driver(n, PartitionId(p));
        if (d == nullptr || d->kv().applied() != end) {
          why = "partition " + std::to_string(p) + " replica n" + n.to_string() + " is behind";
          break;
        }
      }
    }
    if (!why.empty()) {
      if (world_->now() > liveness_deadline_) {
        std::string errors;
        for (const auto& [i, e] : last_error_) errors += " n" + std::to_string(i) + ": " + e;
        violations_.push_back("C5 liveness: the cluster never settled after the heal: " + why + errors);
        final_done_ = true;
        return;
      }
      world_->after(Duration::millis(50), [this] { await_quiet(); });
      return;
    }
    final_checks();
  }

  void final_checks() {
    workloads::FinalState final_state;
    for (int k = 0; k < keys_; ++k) {
      const std::string key = "k" + std::to_string(k);
      const uint32_t p = ClusterMetadata::partition_of_slot(net::resp::key_slot(key), partitions_).value();
      auto v = driver(state_[p].leader, PartitionId(p))->kv().get(key);
      if (!v.is_ok()) {
        violations_.push_back("final read of " + key + ": " + v.status().to_string());
        continue;
      }
      final_state.values[key] = *v;
    }
    for (uint32_t p = 0; p < partitions_; ++p) {
      std::optional<uint64_t> digest;
      for (NodeId n : state_[p].replicas) {
        auto dg = driver(n, PartitionId(p))->kv().digest();
        if (!dg.is_ok()) continue;
        if (digest && *digest != *dg) {
          violations_.push_back("C3: partition " + std::to_string(p) + " differs on n" + n.to_string());
        }
        digest = *dg;
      }
    }
    auto lin = workloads::check_linearizability(history_);
    if (lin.verdict == workloads::Verdict::kFail) violations_.push_back("C1 linearizability: " + lin.summary().substr(0, 400));
    auto dur = workloads::check_durability(history_, final_state);
    if (dur.verdict == workloads::Verdict::kFail) violations_.push_back("C2 durability: " + dur.summary().substr(0, 400));
    final_done_ = true;
  }

  friend class Wire;

  World* world_ = nullptr;
  core::Random random_{0};
  Instant liveness_deadline_;
  int nodes_n_ = 3;
  uint32_t partitions_ = 1;
  size_t min_isr_ = 1;
  int keys_ = 1;
  uint64_t compact_every_ = 100;
  bool bug_apply_early_ = false;
  std::vector<PartitionState> state_;
  std::vector<HostId> node_hosts_;
  std::vector<HostId> client_hosts_;
  std::map<std::pair<uint32_t, uint32_t>, node::PartitionDriver*> drivers_;
  std::map<int, uint64_t> incarnations_;
  std::map<int, Instant> away_since_;
  std::map<int, std::string> last_error_;
  uint32_t next_client_id_ = 1000;
  uint64_t elections_ = 0;
  uint64_t isr_changes_ = 0;
  bool healed_ = false;
  bool final_done_ = false;
  std::vector<std::string> violations_;
  workloads::History history_;
};

void Wire::send(const PartitionMessage& m) { s_.deliver(m); }
void Wire::send_isr_request(const IsrRequest& r) { s_.isr_request(r); }

}  // namespace

std::unique_ptr<Scenario> make_driver_scenario() { return std::make_unique<DriverScenario>(); }

}  // namespace keel::sim
