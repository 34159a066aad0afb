// The ISR protocol workloads: partitions replicated by the pure
// consensus::PartitionReplica under the pure controller model
// (consensus/controller.h), driven on the world's event queue with a model
// of each node's disk, network, clock and process, and checked online
// against INVARIANTS.md P1-P9 and at the end for linearizability, durability
// and convergence.
//
//   isr-register   acks=all register workload over many keys
//   isr-acks1      the control: acks=1, where a crash can lose acknowledged
//                  writes; its durability check is expected to fail on some
//                  seeds (proof that the checker sees loss)
//
// The model keeps what the protocol depends on and nothing else:
//   - Disk: a Ready's truncation, snapshot and records become durable
//     together when its (random) write latency has passed; a crash before
//     that loses them. Applying a record updates the key-value state and the
//     applied offset atomically (as one engine batch does).
//   - Network: per message a random delay (sometimes long) and a small loss
//     rate; a cut link drops everything; a message to or from a process that
//     has since restarted is dropped (its connection was reset).
//   - Process: crash (power loss: memory gone, disk keeps what was durable),
//     pause (nothing runs; deliveries wait), restart (a new incarnation).
//   - Clock: each node's clock runs at its own rate; leases are measured on it.
//   - Controller: one metadata state machine whose commands commit after a
//     random delay, a session tracker, and failovers (unavailable for a
//     while, then sessions reset) - the Raft group's behaviour as the
//     partitions see it.
#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <set>

#include "consensus/controller.h"
#include "consensus/partition.h"
#include "core/assert.h"
#include "core/fiber_group.h"
#include "core/sync.h"
#include "net/resp/command.h"
#include "node/controller_state_machine.h"
#include "node/raft_node.h"
#include "sim/raft_invariants.h"
#include "sim/run.h"
#include "sim/scenarios.h"
#include "workloads/durability.h"
#include "workloads/history.h"
#include "workloads/linearizability.h"

namespace keel::sim {
namespace {

using consensus::ClusterMetadata;
using consensus::CommandType;
using consensus::Epoch;
using consensus::IsrRequest;
using consensus::MetadataCommand;
using consensus::Offset;
using consensus::PartitionConfig;
using consensus::PartitionMessage;
using consensus::PartitionPersisted;
using consensus::PartitionReady;
using consensus::PartitionReplica;
using consensus::PartitionRole;
using consensus::PartitionState;
using consensus::Record;
using consensus::SessionTracker;
using core::Duration;
using core::Instant;
using core::NodeId;
using core::PartitionId;

constexpr Duration kTick = Duration::millis(10);
constexpr Duration kHeartbeatInterval = Duration::millis(100);
constexpr Duration kRequestTimeout = Duration::millis(800);
constexpr uint32_t kControllerEndpoint = 0;
constexpr uint32_t kClientEndpointBase = 1000;

using Kv = std::map<std::string, std::string>;

core::Bytes encode_kv(const Kv& kv) {
  core::Bytes out;
  for (const auto& [k, v] : kv) {
    core::put_u32(out, static_cast<uint32_t>(k.size()));
    out += k;
    core::put_u32(out, static_cast<uint32_t>(v.size()));
    out += v;
  }
  return out;
}

std::optional<Kv> decode_kv(core::ByteView data) {
  Kv kv;
  while (!data.empty()) {
    std::string parts[2];
    for (std::string& s : parts) {
      if (data.size() < 4) return std::nullopt;
      uint32_t n = core::get_u32(data.data());
      data.remove_prefix(4);
      if (data.size() < n) return std::nullopt;
      s.assign(data.substr(0, n));
      data.remove_prefix(n);
    }
    kv[parts[0]] = parts[1];
  }
  return kv;
}

// A record's data: an operation ('S' set, 'I' increment, 'A' append), the
// key, a zero byte, the argument (value, decimal delta, element).
core::Bytes encode_op(char op, const std::string& key, const std::string& arg) {
  return std::string(1, op) + key + '\0' + arg;
}

// Applies a record to a partition's state; returns what its writer is told
// (nothing for a set, the new value for an increment, the new length for
// an append). Deterministic: every replica computes the same.
std::string apply_record(Kv& kv, const core::Bytes& data) {
  const size_t z = data.find('\0');
  KEEL_ASSERT(z != std::string::npos && z >= 1);
  const char op = data[0];
  const std::string key = data.substr(1, z - 1);
  const std::string arg = data.substr(z + 1);
  std::string& value = kv[key];
  switch (op) {
    case 'S':
      value = arg;
      return "";
    case 'I': {
      const int64_t current = value.empty() ? 0 : core::parse_i64(value).value_or(0);
      int64_t next = 0;
      if (__builtin_add_overflow(current, core::parse_i64(arg).value_or(0), &next)) return "ERR overflow";
      value = std::to_string(next);
      return value;
    }
    case 'A':
      value += arg + ",";
      return std::to_string(value.size());
    default:
      KEEL_UNREACHABLE();
  }
}

// What one node holds durably for one partition.
struct DiskPartition {
  Offset log_start;
  Epoch snapshot_epoch;
  std::vector<Record> records;  // from log_start
  Offset applied;
  Kv kv;  // the state at `applied`

  Offset end() const { return Offset(log_start.value() + records.size()); }
};

struct PendingWrite {
  Offset offset;
  Epoch epoch;
  // ok: `text` is the operation's result; otherwise why it failed.
  std::function<void(bool ok, bool indeterminate, std::string text)> reply;
};

struct PendingRead {
  Offset read_point;
  std::string key;
  std::function<void(bool ok, std::optional<std::string> value, std::string why)> reply;
};

struct Replica {
  explicit Replica(PartitionReplica c) : core(std::move(c)) {}
  PartitionReplica core;
  bool persisting = false;
  std::vector<PendingWrite> writes;
  // Results of applied records that a pending write waits for, by offset.
  std::map<uint64_t, std::string> results;
  std::vector<PendingRead> reads;
};

enum class NodeState : uint8_t { kUp, kDown, kPaused };

struct Node {
  NodeId id;
  NodeState state = NodeState::kDown;
  uint64_t incarnation = 0;
  int64_t drift_ppm = 0;
  std::map<uint32_t, DiskPartition> disk;
  // This incarnation's memory.
  std::map<uint32_t, std::unique_ptr<Replica>> replicas;
  int64_t lease_until_local_ns = 0;
  std::vector<std::function<void()>> deferred;  // events held while paused
};

struct ClientState {
  workloads::ClientId id;
  uint32_t endpoint = 0;
  uint64_t counter = 0;
  std::map<uint32_t, NodeId> leader_hint;  // partition -> node
  bool busy = false;
  uint64_t request_seq = 0;  // replies to older requests are ignored
  // READONLY session: per partition, the lowest applied offset a follower
  // must have to serve this connection (monotonic reads, read-your-writes).
  std::map<uint32_t, uint64_t> session_offset;
};

// A READONLY read served by any replica at its applied offset (C4).
struct FollowerRead {
  workloads::ClientId client;
  std::string key;
  std::optional<std::string> value;
  uint64_t served_at;  // the replica's applied offset
};

// An acknowledged write's position, for read-your-writes.
struct AckedWrite {
  workloads::ClientId client;
  std::string key;
  uint64_t offset;
  core::Instant at;
};

// One member of the controller's Raft group, while its process runs.
struct CtlMember {
  HostId host;
  node::RaftNode* raft = nullptr;
  node::ControllerStateMachine* machine = nullptr;
  std::deque<MetadataCommand>* queue = nullptr;
  core::WaitList* wake = nullptr;
};

enum class IsrWorkload : uint8_t { kRegister, kCounter, kUniqueWrites };

class IsrScenario : public Scenario {
 public:
  IsrScenario(IsrWorkload workload, bool acks_all) : workload_(workload), acks_all_(acks_all) {}

  void setup(World& world, const RunOptions& options) override {
    world_ = &world;
    options_ = options;
    debug_ = std::getenv("KEEL_ISR_DEBUG") != nullptr;
    random_ = world.random().fork("isr");
    cover_ = &world.trace_log().coverage();
    const int n = std::max(options.nodes, 1);
    partitions_ = static_cast<uint32_t>(random_.uniform(1, 8));
    rf_ = static_cast<uint32_t>(std::min(n, 3));
    min_isr_ = rf_ >= 3 ? 2 : 1;
    keys_ = static_cast<int>(random_.uniform(partitions_, partitions_ * 3));
    clients_n_ = static_cast<int>(random_.uniform(2, 6));
    compact_every_ = random_.uniform(20, 200);
    replica_lag_ticks_ = random_.uniform(10, 40);

    consensus::MetadataConfig mc;
    mc.coverage = cover_;
    if (options.bug == "elect-outside-isr") {
      mc.test_bug_elect_outside_isr = true;
    } else if (options.bug == "hw-over-all-replicas") {
      bug_hw_all_ = true;
    } else if (options.bug == "truncate-to-hw") {
      bug_truncate_hw_ = true;
    } else if (options.bug == "isr-add-before-epoch-start") {
      bug_isr_early_ = true;
    } else if (options.bug == "elect-before-lease-expiry") {
      bug_early_fence_ = true;
    } else if (options.bug == "controller-commit-without-quorum") {
      ctl_options_.raft.test_bug_commit_without_quorum = true;
    } else if (!options.bug.empty()) {
      violation("unknown --bug '" + options.bug + "'");
    }
    meta_ = ClusterMetadata(mc);
    metadata_config_ = mc;
    SessionTracker::Options so;
    so.lease = Duration::millis(1000);
    so.drift_bound = Duration::millis(200);
    so.test_bug_expire_early = bug_early_fence_;
    sessions_ = std::make_unique<SessionTracker>(so);

    // The controller: a Raft group whose members run beside the partition
    // replicas (member i shares node i's fate: crashes, pauses, restarts).
    // Its state machine is the cluster metadata; the scenario plays its
    // leader's part (sessions, heartbeats, ISR requests) against whatever
    // the current Raft leader has applied.
    for (int i = 1; i <= n; ++i) {
      ctl_options_.members[NodeId(static_cast<uint32_t>(i))] = {
          core::Address{"n" + std::to_string(i), 7000}, core::Address{"n" + std::to_string(i), 6379}};
    }
    ctl_options_.tick_interval = Duration::millis(10);
    ctl_options_.raft.election_timeout_ticks = 10;
    ctl_options_.snapshot_entries = 50;
    ctl_.resize(static_cast<size_t>(n));
    for (int i = 0; i < n; ++i) {
      ctl_[static_cast<size_t>(i)].host =
          world.add_host("n" + std::to_string(i + 1), [this, i](core::Env& env) { controller_member(env, i); });
    }

    for (int i = 1; i <= n; ++i) {
      Node node;
      node.id = NodeId(static_cast<uint32_t>(i));
      node.drift_ppm = random_.uniform_i64(-100, 100);
      nodes_.push_back(std::move(node));
    }
    for (int c = 0; c < clients_n_; ++c) {
      ClientState cl;
      cl.id = workloads::ClientId(static_cast<uint32_t>(c + 1));
      cl.endpoint = kClientEndpointBase + static_cast<uint32_t>(c);
      clients_.push_back(cl);
    }
    fault_end_ = Instant() + options.fault_window;
    world.tracer().event("isr.setup", {{"partitions", partitions_},
                                       {"replication", rf_},
                                       {"keys", static_cast<uint64_t>(keys_)},
                                       {"clients", static_cast<uint64_t>(clients_n_)}});
    for (Node& node : nodes_) start_node(node);
    world.after(kTick, [this] { controller_tick(); });
    for (size_t c = 0; c < clients_.size(); ++c) {
      world.after(Duration::millis(static_cast<int64_t>(random_.uniform(200, 400))), [this, c] { client_next(c); });
    }
    if (options.faults) schedule_faults();
  }

  std::vector<HostId> nodes() const override { return {}; }
  // The controller members are hosts too, but they start and stop with
  // their partition node (start_node, crash_node), not with the run.
  std::vector<HostId> hosts() const override { return {}; }
  std::vector<FaultKind> allowed_faults() const override { return {}; }

  void on_healed(World& world) override {
    healed_ = true;
    cut_.clear();
    for (CtlMember& m : ctl_) {
      if (world.host_state(m.host) == HostState::kPaused) world.resume(m.host);
      if (world.host_state(m.host) == HostState::kDown) world.start(m.host);
    }
    for (Node& node : nodes_) {
      if (node.state == NodeState::kPaused) resume_node(node);
      if (node.state == NodeState::kDown) start_node(node);
    }
    world.after(Duration::millis(100), [this] { await_quiet(); });
  }

  bool finished() const override { return final_done_; }
  bool failed() const override { return failed_; }
  const workloads::History* history() const override { return &history_; }

  void report(World& world, RunResult& result) override {
    (void)world;
    for (const std::string& v : violations_) result.violation(v);
    for (const std::string& v : raft_invariants_.violations()) result.violation("controller group: " + v);
    if (!detail_.empty()) result.detail += detail_;
    for (const workloads::Operation& op : history_.ops()) {
      if (op.outcome == workloads::Outcome::kOk) ++result.ops_ok;
      else if (op.outcome == workloads::Outcome::kFail) ++result.ops_failed;
      else ++result.ops_indeterminate;
    }
    result.swarm = "partitions=" + std::to_string(partitions_) + " rf=" + std::to_string(rf_) +
                   " min_isr=" + std::to_string(min_isr_) + " keys=" + std::to_string(keys_) +
                   " clients=" + std::to_string(clients_n_) + " compact=" + std::to_string(compact_every_) +
                   " lag=" + std::to_string(replica_lag_ticks_) + (acks_all_ ? " acks=all" : " acks=1");
    for (const auto& [k, v] : fault_counts_) result.faults[k] = v;
  }

 private:
  // --- Plumbing ------------------------------------------------------------

  static std::string cache_str(const PartitionReplica& r) {
    std::string out;
    for (const auto& e : r.epochs().entries()) out += e.epoch.to_string() + "@" + e.start.to_string() + ",";
    out += " ls=" + r.log_start().to_string() + " le=" + r.log_end().to_string();
    return out;
  }

  void dbg(const char* fmt, ...) __attribute__((format(printf, 2, 3))) {
    if (!debug_) return;
    std::fprintf(stderr, "%10.3f ", static_cast<double>(world_->now().ns()) / 1e6);
    va_list ap;
    va_start(ap, fmt);
    std::vfprintf(stderr, fmt, ap);
    va_end(ap);
    std::fputc('\n', stderr);
  }

  void violation(std::string what) {
    if (std::find(violations_.begin(), violations_.end(), what) != violations_.end()) return;
    if (violations_.size() >= 5) return;
    world_->tracer().event("isr.violation", {{"what", what}});
    violations_.push_back(std::move(what));
  }
  // A protocol invariant broke: stop the run here.
  void protocol_violation(std::string what) {
    violation(std::move(what));
    failed_ = true;
  }

  Node& node(NodeId id) { return nodes_[id.value() - 1]; }

  int64_t local_ns(const Node& n) const {
    const int64_t t = world_->now().ns();
    return t + static_cast<int64_t>(static_cast<__int128>(t) * n.drift_ppm / 1000000);
  }
  // World time until `local` local nanoseconds have passed on n's clock.
  Duration local_to_world(const Node& n, Duration local) const {
    return Duration::nanos(static_cast<int64_t>(static_cast<__int128>(local.ns()) * 1000000 /
                                                (1000000 + n.drift_ppm)));
  }

  // Runs `fn` after `d` on node `n`'s current incarnation: dropped if the
  // node crashed meanwhile, held while it is paused.
  void on_node(Node& n, Duration d, std::function<void()> fn) {
    const NodeId id = n.id;
    const uint64_t inc = n.incarnation;
    world_->after(d, [this, id, inc, fn = std::move(fn)]() mutable {
      Node& nd = node(id);
      if (nd.incarnation != inc || nd.state == NodeState::kDown) return;
      if (nd.state == NodeState::kPaused) {
        nd.deferred.push_back(std::move(fn));
        return;
      }
      fn();
    });
  }

  bool linked(uint32_t a, uint32_t b) const {
    if (a > b) std::swap(a, b);
    return cut_.count({a, b}) == 0;
  }
  uint64_t endpoint_incarnation(uint32_t e) {
    if (e == kControllerEndpoint || e >= kClientEndpointBase) return 0;
    Node& n = nodes_[e - 1];
    return n.state == NodeState::kDown ? UINT64_MAX : n.incarnation;
  }

  // Sends from endpoint a to endpoint b; `deliver` runs at b.
  void send(uint32_t a, uint32_t b, std::function<void()> deliver) {
    if (!linked(a, b)) return;
    if (random_.one_in(200)) return;  // lost (a reset connection)
    Duration d = random_.one_in(20) ? random_.uniform_duration(Duration::millis(10), Duration::millis(80))
                                    : random_.uniform_duration(Duration::micros(200), Duration::millis(3));
    const uint64_t a_inc = endpoint_incarnation(a);
    const uint64_t b_inc = endpoint_incarnation(b);
    world_->after(d, [this, a, b, a_inc, b_inc, deliver = std::move(deliver)]() mutable {
      if (!linked(a, b)) return;
      if (endpoint_incarnation(a) != a_inc || endpoint_incarnation(b) != b_inc) return;
      if (a == kControllerEndpoint || b == kControllerEndpoint) {
        if (controller_leader() == nullptr) return;
      }
      if (b != kControllerEndpoint && b < kClientEndpointBase) {
        Node& nd = nodes_[b - 1];
        if (nd.state == NodeState::kDown) return;
        if (nd.state == NodeState::kPaused) {
          nd.deferred.push_back(std::move(deliver));
          return;
        }
      }
      deliver();
    });
  }

  // --- Nodes -----------------------------------------------------------------

  void start_node(Node& n) {
    const HostId h = ctl_[n.id.value() - 1].host;
    if (world_->host_state(h) == HostState::kDown) world_->start(h);
    n.state = NodeState::kUp;
    ++n.incarnation;
    n.replicas.clear();
    n.deferred.clear();
    n.lease_until_local_ns = 0;
    dbg("n%u start inc %llu", n.id.value(), (unsigned long long)n.incarnation);
    world_->tracer().event("isr.start", {{"node", n.id.value()}, {"incarnation", n.incarnation}});
    heartbeat(n);
    tick(n);
  }

  void crash_node(Node& n) {
    if (n.state == NodeState::kDown) return;
    world_->crash(ctl_[n.id.value() - 1].host);
    n.state = NodeState::kDown;
    n.replicas.clear();  // in-flight writes are lost with the process
    n.deferred.clear();
    dbg("n%u crash", n.id.value());
    world_->tracer().event("isr.crash", {{"node", n.id.value()}});
  }

  void pause_node(Node& n) {
    if (n.state != NodeState::kUp) return;
    world_->pause(ctl_[n.id.value() - 1].host);
    n.state = NodeState::kPaused;
  }

  void resume_node(Node& n) {
    const HostId h = ctl_[n.id.value() - 1].host;
    if (world_->host_state(h) == HostState::kPaused) world_->resume(h);
    if (n.state != NodeState::kPaused) return;
    n.state = NodeState::kUp;
    std::vector<std::function<void()>> held;
    held.swap(n.deferred);
    for (auto& fn : held) {
      if (n.state != NodeState::kUp) break;
      fn();
    }
  }

  void tick(Node& n) {
    for (auto& [p, r] : n.replicas) {
      r->core.tick();
      pump(n, p);
    }
    // Drop stale reads whose lease ran out (the client times out).
    on_node(n, local_to_world(n, kTick), [this, id = n.id] { tick(node(id)); });
  }

  void heartbeat(Node& n) {
    const int64_t sent_local = local_ns(n);
    const uint64_t inc = n.incarnation;
    const NodeId id = n.id;
    send(id.value(), kControllerEndpoint, [this, id, inc, sent_local] { controller_heartbeat(id, inc, sent_local); });
    on_node(n, local_to_world(n, kHeartbeatInterval), [this, id] { heartbeat(node(id)); });
  }

  void heartbeat_reply(Node& n, int64_t sent_local, bool granted, const std::vector<PartitionState>& parts) {
    apply_metadata(n, parts);
    if (granted) {
      n.lease_until_local_ns =
          std::max(n.lease_until_local_ns, sent_local + sessions_->options().lease.ns());
    }
  }

  bool lease_valid(const Node& n) const { return local_ns(n) < n.lease_until_local_ns; }

  void apply_metadata(Node& n, const std::vector<PartitionState>& parts) {
    for (uint32_t p = 0; p < parts.size(); ++p) {
      const PartitionState& st = parts[p];
      if (std::find(st.replicas.begin(), st.replicas.end(), n.id) == st.replicas.end()) continue;
      Replica* r = replica(n, p);
      if (r == nullptr) continue;
      const PartitionRole before = r->core.role();
      const Epoch epoch_before = r->core.epoch();
      core::Status s = r->core.set_state(st);
      if (!s.is_ok()) continue;  // stale: refused, nothing changed
      if (r->core.role() == PartitionRole::kLeader &&
          (before != PartitionRole::kLeader || r->core.epoch() != epoch_before)) {
        on_became_leader(n, p, *r);
      }
      if (r->core.role() == PartitionRole::kLeader) check_leader(n, p, *r);
      if (r->core.role() != PartitionRole::kLeader || r->core.epoch() != epoch_before) fail_waiters(*r, true);
      pump(n, p);
    }
  }

  // The replica of partition p on node n, created from its disk on first use.
  Replica* replica(Node& n, uint32_t p) {
    auto it = n.replicas.find(p);
    if (it != n.replicas.end()) return it->second.get();
    DiskPartition& d = n.disk[p];
    PartitionConfig c;
    c.partition = PartitionId(p);
    c.id = n.id;
    c.min_insync_replicas = min_isr_;
    c.replica_lag_max_ticks = replica_lag_ticks_;
    c.coverage = cover_;
    c.test_bug_hw_over_all_replicas = bug_hw_all_;
    c.test_bug_truncate_to_hw = bug_truncate_hw_;
    c.test_bug_isr_add_before_epoch_start = bug_isr_early_;
    PartitionPersisted persisted{d.log_start, d.snapshot_epoch, d.records, d.applied};
    auto created = PartitionReplica::create(c, std::move(persisted));
    if (!created.is_ok()) {
      protocol_violation("n" + n.id.to_string() + " cannot restart partition " + std::to_string(p) + ": " +
                         created.status().to_string());
      return nullptr;
    }
    auto r = std::make_unique<Replica>(std::move(created).value());
    r->core.set_incarnation(n.incarnation);
    Replica* raw = r.get();
    n.replicas[p] = std::move(r);
    return raw;
  }

  void fail_waiters(Replica& r, bool deposed) {
    std::vector<PendingWrite> writes;
    writes.swap(r.writes);
    for (auto& w : writes) w.reply(false, true, deposed ? "deposed" : "truncated");
    std::vector<PendingRead> reads;
    reads.swap(r.reads);
    for (auto& rd : reads) rd.reply(false, std::nullopt, "deposed");
  }

  // Handles the replica's Ready, if any and none is in flight: the disk
  // write takes a random time, then messages leave and records apply.
  void pump(Node& n, uint32_t p) {
    Replica* r = n.replicas.count(p) ? n.replicas[p].get() : nullptr;
    if (r == nullptr || r->persisting || !r->core.has_ready()) return;
    PartitionReady rd = r->core.ready();
    r->persisting = true;
    const bool touches_disk = rd.truncate_from || rd.snapshot || !rd.records.empty();
    Duration latency = touches_disk ? (random_.one_in(30) ? random_.uniform_duration(Duration::millis(5), Duration::millis(40))
                                                          : random_.uniform_duration(Duration::micros(50), Duration::millis(2)))
                                    : Duration::zero();
    on_node(n, latency, [this, id = n.id, p, rd = std::move(rd)]() mutable { persisted(node(id), p, std::move(rd)); });
  }

  void persisted(Node& n, uint32_t p, PartitionReady rd) {
    auto it = n.replicas.find(p);
    if (it == n.replicas.end()) return;
    Replica& r = *it->second;
    DiskPartition& d = n.disk[p];
    // 1. Durable.
    dbg("n%u p%u persisted trunc=%lld snap=%lld recs=%zu [%llu..] commit=%llu role=%s e%llu", n.id.value(), p,
        rd.truncate_from ? (long long)rd.truncate_from->value() : -1LL,
        rd.snapshot ? (long long)rd.snapshot->offset.value() : -1LL, rd.records.size(),
        rd.records.empty() ? 0ULL : (unsigned long long)rd.records.front().offset.value(),
        (unsigned long long)rd.committed_end.value(), std::string(consensus::partition_role_name(r.core.role())).c_str(),
        (unsigned long long)r.core.epoch().value());
    if (rd.truncate_from) {
      const Offset end = *rd.truncate_from;
      for (Offset o = std::max(end, d.log_start); o < d.end(); o = o.next()) check_not_committed_removed(n, p, d, o);
      if (end < d.end()) d.records.resize(end.value() - d.log_start.value());
      Offset& checked = checked_hw_[{n.id.value(), p}];
      if (checked > end) checked = end;
      if (d.applied > end) {
        protocol_violation("P3: n" + n.id.to_string() + " partition " + std::to_string(p) + " truncated to " +
                           end.to_string() + " below its applied offset " + d.applied.to_string());
        return;
      }
    }
    if (rd.snapshot) {
      install_snapshot(n, p, d, *rd.snapshot);
      if (failed_) return;
    }
    for (const Record& rec : rd.records) {
      KEEL_ASSERT(rec.offset == d.end());
      d.records.push_back(rec);
      check_record(n, p, rec);
    }
    // 2. Send.
    for (PartitionMessage& m : rd.messages) {
      if (m.type == consensus::PartitionMessageType::kFetchResponse &&
          m.error == consensus::FetchError::kSnapshotNeeded) {
        attach_snapshot(d, m);
        // Bad input: now and then a snapshot arrives damaged (a bit flip
        // past the transport's own checks); the follower must refuse it.
        if (!m.snapshot_data.empty() && random_.one_in(10)) {
          m.snapshot_data[random_.uniform(0, m.snapshot_data.size() - 1)] ^= 0x10;
        }
      }
      const uint32_t to = m.to.value();
      send(n.id.value(), to, [this, to, m = std::move(m)] { deliver(node(NodeId(to)), m); });
    }
    if (rd.isr_request) {
      IsrRequest req = *rd.isr_request;
      send(n.id.value(), kControllerEndpoint, [this, req] { controller_alter_isr(req); });
    }
    // 3. Apply what is committed and durable.
    const Offset until = std::min(rd.committed_end, d.end());
    while (d.applied < until) {
      const Record& rec = d.records[d.applied.value() - d.log_start.value()];
      std::string result = apply_record(d.kv, rec.data);
      for (const PendingWrite& w : r.writes) {
        if (w.offset == d.applied) r.results[d.applied.value()] = result;
      }
      d.applied = d.applied.next();
    }
    r.core.advance(d.end(), d.applied);
    r.persisting = false;
    if (r.core.role() == PartitionRole::kLeader) check_leader(n, p, r);
    if (failed_) return;
    check_committed_prefix(n, p, r, d);
    maybe_compact(n, p, r, d);
    settle_waiters(n, p, r, d);
    pump(n, p);
  }

  void maybe_compact(Node& n, uint32_t p, Replica& r, DiskPartition& d) {
    (void)n;
    (void)p;
    if (d.applied.value() < d.log_start.value() + compact_every_) return;
    if (!r.core.compact(d.applied).is_ok()) return;
    const uint64_t drop = d.applied.value() - d.log_start.value();
    d.snapshot_epoch = d.records[drop - 1].epoch;
    d.records.erase(d.records.begin(), d.records.begin() + static_cast<std::ptrdiff_t>(drop));
    d.log_start = d.applied;
  }

  // The leader's snapshot: its state at its applied offset (>= its log
  // start, and committed), checksummed.
  void attach_snapshot(const DiskPartition& d, PartitionMessage& m) {
    if (d.applied <= d.log_start && d.log_start.value() > 0) {
      m.snapshot_offset = d.log_start;
      m.snapshot_epoch = d.snapshot_epoch;
    } else {
      m.snapshot_offset = d.applied;
      m.snapshot_epoch = d.applied == d.log_start ? d.snapshot_epoch
                                                  : d.records[d.applied.value() - d.log_start.value() - 1].epoch;
    }
    core::Bytes image = encode_kv(d.kv);
    core::Bytes data;
    core::put_u64(data, core::checksum64(image));
    data += image;
    m.snapshot_data = std::move(data);
  }

  void install_snapshot(Node& n, uint32_t p, DiskPartition& d, const consensus::PartitionSnapshot& s) {
    const std::string& data = s.data;
    std::optional<Kv> kv;
    if (data.size() >= 8 && core::get_u64(data.data()) == core::checksum64(core::ByteView(data).substr(8))) {
      kv = decode_kv(core::ByteView(data).substr(8));
    }
    if (!kv) {
      protocol_violation("P8: n" + n.id.to_string() + " partition " + std::to_string(p) +
                         " got a snapshot whose checksum fails");
      return;
    }
    // P8: the image is the committed state at its offset.
    if (encode_kv(*kv) != encode_kv(committed_state(p, s.offset))) {
      protocol_violation("P8: n" + n.id.to_string() + " partition " + std::to_string(p) + " installed a snapshot at " +
                         s.offset.to_string() + " that differs from the committed state there");
      return;
    }
    d.records.clear();
    d.log_start = s.offset;
    d.snapshot_epoch = s.epoch;
    d.kv = std::move(*kv);
    d.applied = s.offset;
  }

  void deliver(Node& n, const PartitionMessage& m) {
    Replica* r = replica(n, m.partition.value());
    if (r == nullptr) return;
    if (m.type == consensus::PartitionMessageType::kFetchResponse &&
        m.error == consensus::FetchError::kSnapshotNeeded && !m.snapshot_data.empty()) {
      // Bad input: a snapshot whose checksum fails is refused here.
      const std::string& data = m.snapshot_data;
      if (data.size() < 8 || core::get_u64(data.data()) != core::checksum64(core::ByteView(data).substr(8))) {
        KEEL_COVER(cover_, "isr sim: snapshot with a bad checksum refused");
        world_->tracer().warn("n" + n.id.to_string() + " partition " + m.partition.to_string() +
                              ": refused a snapshot whose checksum fails");
        return;
      }
    }
    core::Status st = r->core.step(m);
    dbg("n%u p%u step %s from n%u e%llu off=%llu last=%llu div=%llu/%llu err=%s recs=%zu hw=%llu -> %s cache=%s", n.id.value(), m.partition.value(),
        m.type == consensus::PartitionMessageType::kFetch ? "fetch" : "resp", m.from.value(),
        (unsigned long long)m.epoch.value(), (unsigned long long)m.fetch_offset.value(),
        (unsigned long long)m.last_epoch.value(), (unsigned long long)m.diverging_epoch.value(),
        (unsigned long long)m.diverging_end.value(),
        std::string(consensus::fetch_error_name(m.error)).c_str(), m.records.size(),
        (unsigned long long)m.high_watermark.value(), st.to_string().c_str(), cache_str(r->core).c_str());
    if (r->core.role() == PartitionRole::kLeader) check_leader(n, m.partition.value(), *r);
    pump(n, m.partition.value());
  }

  void settle_waiters(Node& n, uint32_t p, Replica& r, DiskPartition& d) {
    (void)p;
    std::vector<PendingWrite> keep;
    for (PendingWrite& w : r.writes) {
      const Record* rec = r.core.record_at(w.offset);
      const bool present = (rec != nullptr && rec->epoch == w.epoch) || w.offset < r.core.log_start();
      if (!present) {
        w.reply(false, true, "truncated");
        continue;
      }
      // acks=all: committed, and applied here so that its result is known.
      const bool done = acks_all_ ? r.core.high_watermark() > w.offset && d.applied > w.offset : d.end() > w.offset;
      if (done) {
        auto res = r.results.find(w.offset.value());
        // The result, then '|' and the record's offset.
        w.reply(true, false,
                (res == r.results.end() ? std::string() : res->second) + "|" + w.offset.to_string());
        if (res != r.results.end()) r.results.erase(res);
      } else {
        keep.push_back(std::move(w));
      }
    }
    r.writes.swap(keep);
    std::vector<PendingRead> reads;
    for (PendingRead& rd : r.reads) {
      if (d.applied < rd.read_point) {
        reads.push_back(std::move(rd));
        continue;
      }
      if (r.core.role() != PartitionRole::kLeader || !lease_valid(n)) {
        rd.reply(false, std::nullopt, "lease");
        continue;
      }
      auto it = d.kv.find(rd.key);
      rd.reply(true, it == d.kv.end() ? std::nullopt : std::optional<std::string>(it->second), "");
    }
    r.reads.swap(reads);
  }

  // --- Client requests at a node ---------------------------------------------

  // Returns the leader hint when this node does not lead the partition.
  void handle_write(Node& n, uint32_t p, char kind, std::string key, std::string value,
                    std::function<void(bool, bool, std::string, NodeId)> reply) {
    Replica* r = replica(n, p);
    if (r == nullptr || r->core.role() != PartitionRole::kLeader) {
      reply(false, false, "MOVED", r == nullptr ? NodeId() : r->core.leader());
      return;
    }
    auto offset = r->core.propose(encode_op(kind, key, value), acks_all_);
    if (!offset.is_ok()) {
      reply(false, false, offset.status().message(), NodeId());
      return;
    }
    r->writes.push_back(PendingWrite{*offset, r->core.epoch(),
                                     [reply](bool ok, bool indet, std::string why) { reply(ok, indet, why, NodeId()); }});
    pump(n, p);
  }

  void handle_read(Node& n, uint32_t p, std::string key,
                   std::function<void(bool, std::optional<std::string>, std::string, NodeId)> reply) {
    Replica* r = replica(n, p);
    if (r == nullptr || r->core.role() != PartitionRole::kLeader) {
      reply(false, std::nullopt, "MOVED", r == nullptr ? NodeId() : r->core.leader());
      return;
    }
    // A linearizable read needs the lease, and a HW that has reached the
    // start of this leader's epoch (everything earlier leaders committed).
    auto start = r->core.epochs().start_of(r->core.epoch());
    if (!lease_valid(n) || !start || r->core.high_watermark() < *start) {
      reply(false, std::nullopt, "TRYAGAIN", NodeId());
      return;
    }
    r->reads.push_back(PendingRead{r->core.high_watermark(), std::move(key),
                                   [reply](bool ok, std::optional<std::string> v, std::string why) {
                                     reply(ok, std::move(v), why, NodeId());
                                   }});
    settle_waiters(n, p, *r, n.disk[p]);
  }

  // --- Clients -------------------------------------------------------------------

  uint32_t partition_of_key(const std::string& key) const {
    return ClusterMetadata::partition_of_slot(net::resp::key_slot(key), partitions_).value();
  }

  void client_next(size_t c) {
    ClientState& cl = clients_[c];
    if (world_->now() >= fault_end_) {
      cl.busy = false;
      return;
    }
    const std::string key = "k" + std::to_string(random_.uniform(0, static_cast<uint64_t>(keys_ - 1)));
    const uint32_t p = partition_of_key(key);
    const uint64_t seq = ++cl.request_seq;
    cl.busy = true;
    std::string value;
    workloads::OpId op = 0;
    char kind = 'R';
    switch (workload_) {
      case IsrWorkload::kRegister:
        if (random_.chance(0.6)) {
          kind = 'S';
        } else if (acks_all_ && random_.chance(0.25)) {
          kind = 'F';  // a READONLY read from any replica
        }
        break;
      case IsrWorkload::kCounter:
        if (random_.chance(0.6)) kind = 'I';
        break;
      case IsrWorkload::kUniqueWrites:
        if (random_.chance(0.85)) kind = 'A';
        break;
    }
    switch (kind) {
      case 'S':
        value = "c" + cl.id.to_string() + "-" + std::to_string(++cl.counter);
        op = history_.invoke_write(cl.id, key, value, world_->now());
        break;
      case 'I': {
        const int64_t delta = static_cast<int64_t>(random_.uniform(1, 5));
        value = std::to_string(delta);
        op = history_.invoke_incr(cl.id, key, delta, world_->now());
        break;
      }
      case 'A':
        value = "c" + cl.id.to_string() + "-" + std::to_string(++cl.counter);
        op = history_.invoke_append(cl.id, key, value, world_->now());
        break;
      case 'F':
        break;  // stale by design: checked by C4, not by linearizability
      default:
        op = history_.invoke_read(cl.id, key, world_->now());
        break;
    }
    attempt(c, seq, op, p, key, value, kind, 0);
    // The client gives up on this request after the timeout.
    world_->after(kRequestTimeout, [this, c, seq, op, kind] {
      ClientState& cl2 = clients_[c];
      if (cl2.request_seq != seq || !cl2.busy) return;
      if (kind != 'F') history_.indeterminate(op, world_->now());
      retire_client(c);
    });
  }

  // A READONLY read at a replica of p chosen at random, which serves it only
  // once it has applied what this session already saw or wrote.
  void follower_read(size_t c, uint64_t seq, uint32_t p, const std::string& key, int tries) {
    ClientState& cl = clients_[c];
    const NodeId target = meta_.created()
                              ? meta_.partition(PartitionId(p)).replicas[random_.uniform(
                                    0, meta_.partition(PartitionId(p)).replicas.size() - 1)]
                              : NodeId(static_cast<uint32_t>(random_.uniform(1, nodes_.size())));
    const uint64_t min_offset = cl.session_offset[p];
    const uint32_t from = cl.endpoint;
    send(from, target.value(), [this, c, seq, p, key, tries, target, from, min_offset] {
      Node& n = node(target);
      Replica* r = replica(n, p);
      const DiskPartition& d = n.disk[p];
      std::optional<std::string> value;
      bool ok = r != nullptr && d.applied.value() >= min_offset;
      if (ok) {
        auto it = d.kv.find(key);
        if (it != d.kv.end()) value = it->second;
      }
      const uint64_t served_at = d.applied.value();
      send(target.value(), from, [this, c, seq, p, key, tries, ok, value, served_at] {
        ClientState& cl2 = clients_[c];
        if (cl2.request_seq != seq) return;
        if (!ok) {
          KEEL_COVER(cover_, "isr sim: follower read waited for the session's offset");
          world_->after(Duration::millis(static_cast<int64_t>(random_.uniform(5, 50))),
                        [this, c, seq, p, key, tries] { attempt(c, seq, 0, p, key, "", 'F', tries + 1); });
          return;
        }
        follower_reads_.push_back(FollowerRead{cl2.id, key, value, served_at});
        follower_read_at_.push_back(world_->now());
        cl2.session_offset[p] = std::max(cl2.session_offset[p], served_at);
        finish_op(c, seq);
      });
    });
  }

  void complete(workloads::OpId op, char kind, const std::string& text) {
    // text: the result, '|', the record's offset.
    const size_t bar = text.rfind('|');
    KEEL_ASSERT(bar != std::string::npos);
    const std::string result = text.substr(0, bar);
    const uint64_t offset = core::parse_u64(text.substr(bar + 1)).value_or(0);
    const workloads::Operation& o = history_.ops()[op];
    const uint32_t p = partition_of_key(o.key);
    for (ClientState& cl : clients_) {
      if (cl.id == o.client) cl.session_offset[p] = std::max(cl.session_offset[p], offset + 1);
    }
    if (kind == 'S') acked_writes_.push_back(AckedWrite{o.client, o.key, offset, world_->now()});
    switch (kind) {
      case 'S':
        history_.complete_write(op, world_->now());
        return;
      case 'I':
        if (auto v = core::parse_i64(result)) {
          history_.complete_incr(op, world_->now(), *v);
        } else {
          history_.fail(op, world_->now());  // overflow: refused, no effect
        }
        return;
      case 'A':
        history_.complete_append(op, world_->now(), core::parse_i64(result));
        return;
      default:
        KEEL_UNREACHABLE();
    }
  }

  // A client that saw an indeterminate outcome continues as a new client id.
  void retire_client(size_t c) {
    ClientState& cl = clients_[c];
    ++cl.request_seq;
    cl.busy = false;
    cl.id = workloads::ClientId(next_client_id_++);
    cl.session_offset.clear();  // a new connection, a new session
    world_->after(Duration::millis(static_cast<int64_t>(random_.uniform(1, 20))), [this, c] { client_next(c); });
  }

  void finish_op(size_t c, uint64_t seq) {
    ClientState& cl = clients_[c];
    if (cl.request_seq != seq) return;
    cl.busy = false;
    world_->after(Duration::micros(static_cast<int64_t>(random_.uniform(0, 20000))), [this, c] { client_next(c); });
  }

  void attempt(size_t c, uint64_t seq, workloads::OpId op, uint32_t p, std::string key, std::string value,
               char kind, int tries) {
    ClientState& cl = clients_[c];
    if (cl.request_seq != seq) return;
    if (tries >= 6) {
      // Never proposed anywhere we know of: a definite failure.
      if (kind != 'F') history_.fail(op, world_->now());
      finish_op(c, seq);
      return;
    }
    if (kind == 'F') {
      follower_read(c, seq, p, key, tries);
      return;
    }
    NodeId target = cl.leader_hint.count(p) ? cl.leader_hint[p] : NodeId();
    if (target.value() == 0) target = NodeId(static_cast<uint32_t>(random_.uniform(1, nodes_.size())));
    const uint32_t from = cl.endpoint;
    auto retry = [this, c, seq, op, p, key, value, kind, tries](NodeId hint) {
      ClientState& cl2 = clients_[c];
      if (cl2.request_seq != seq) return;
      if (hint.value() != 0) cl2.leader_hint[p] = hint;
      else cl2.leader_hint.erase(p);
      world_->after(Duration::millis(static_cast<int64_t>(random_.uniform(5, 50))),
                    [this, c, seq, op, p, key, value, kind, tries] { attempt(c, seq, op, p, key, value, kind, tries + 1); });
    };
    if (kind != 'R') {
      send(from, target.value(), [this, c, seq, op, p, kind, key, value, target, from, retry] {
        handle_write(node(target), p, kind, key, value,
                     [this, c, seq, op, kind, target, from, retry](bool ok, bool indet, std::string text, NodeId hint) {
                       send(target.value(), from, [this, c, seq, op, kind, ok, indet, text, hint, retry] {
                         if (clients_[c].request_seq != seq) return;
                         if (ok) {
                           complete(op, kind, text);
                           finish_op(c, seq);
                         } else if (indet) {
                           history_.indeterminate(op, world_->now());
                           retire_client(c);
                         } else {
                           retry(hint);
                         }
                       });
                     });
      });
    } else {
      send(from, target.value(), [this, c, seq, op, p, key, target, from, retry] {
        handle_read(node(target), p, key,
                    [this, c, seq, op, target, from, retry](bool ok, std::optional<std::string> v, std::string why,
                                                           NodeId hint) {
                      (void)why;
                      send(target.value(), from, [this, c, seq, op, ok, v, hint, retry] {
                        if (clients_[c].request_seq != seq) return;
                        if (ok) {
                          history_.complete_read(op, world_->now(), v);
                          finish_op(c, seq);
                        } else {
                          retry(hint);
                        }
                      });
                    });
      });
    }
  }

  // --- The controller -----------------------------------------------------------

  // --- The controller group ---------------------------------------------------

  // One member's program: its metadata machine, its Raft node, and a fiber
  // that proposes what the scenario queues while this member leads.
  void controller_member(core::Env& env, int i) {
    CtlMember& m = ctl_[static_cast<size_t>(i)];
    auto opened = node::ControllerStateMachine::open(env.disk, "controller", metadata_config_);
    if (!opened.is_ok()) {
      protocol_violation("controller member n" + std::to_string(i + 1) + " cannot open its metadata: " +
                         opened.status().to_string());
      return;
    }
    node::ControllerStateMachine& machine = **opened;
    node::RaftNodeOptions o = ctl_options_;
    o.id = NodeId(static_cast<uint32_t>(i + 1));
    node::PeerBusOptions b;
    b.id = o.id;
    b.members = o.members;
    node::PeerBus bus(env, b);
    node::RaftNode raft(env, o, bus, machine);
    RaftInvariants::NodeObserver observer(raft_invariants_, o.id, ++ctl_incarnations_[i]);
    raft.set_observer(&observer);
    core::Status started = raft.start();
    if (started.is_ok()) started = bus.start();
    if (!started.is_ok()) {
      protocol_violation("controller member n" + std::to_string(i + 1) + " cannot start: " + started.to_string());
      return;
    }
    std::deque<MetadataCommand> queue;
    core::WaitList wake(env.fibers);
    struct Clear {
      CtlMember& m;
      ~Clear() {
        m.raft = nullptr;
        m.machine = nullptr;
        m.queue = nullptr;
        m.wake = nullptr;
      }
    } clear{m};
    m.raft = &raft;
    m.machine = &machine;
    m.queue = &queue;
    m.wake = &wake;
    core::FiberGroup fibers(env);  // destroyed first: the proposer dies before what it uses
    fibers.spawn("ctl.proposer", [this, &queue, &wake, &raft] {
      for (;;) {
        while (queue.empty()) wake.wait();
        MetadataCommand cmd = std::move(queue.front());
        queue.pop_front();
        const auto reply = raft.propose(consensus::encode_command(cmd));
        dbg("controller cmd %d node %u inc %llu: %s", static_cast<int>(cmd.type), cmd.node.value(),
            (unsigned long long)cmd.incarnation, reply.is_ok() ? reply->c_str() : reply.status().to_string().c_str());
        proposal_done(cmd);
      }
    });
    (void)raft.wait();
  }

  // The member that leads the controller group and has applied everything
  // committed before its term (so its metadata is the cluster's), or null.
  CtlMember* controller_leader() {
    for (CtlMember& m : ctl_) {
      if (m.raft == nullptr || !m.raft->is_leader() || m.raft->raft() == nullptr) continue;
      if (world_->host_state(m.host) != HostState::kUp) continue;
      const consensus::Raft& r = *m.raft->raft();
      if (r.applied_index() < r.commit_index()) continue;
      return &m;
    }
    return nullptr;
  }

  void propose(MetadataCommand cmd) {
    CtlMember* leader = controller_leader();
    if (leader == nullptr) {
      proposal_done(cmd);  // lost: whoever needs it asks again
      return;
    }
    leader->queue->push_back(std::move(cmd));
    leader->wake->notify_one();
  }

  void proposal_done(const MetadataCommand& cmd) {
    if (cmd.type != CommandType::kAlterIsr) {
      pending_.erase({cmd.node.value(), cmd.incarnation, static_cast<uint8_t>(cmd.type)});
    }
    observe_metadata();
  }

  // Proposes a node command unless the same one is already in flight.
  bool propose_once(CommandType type, NodeId node, uint64_t incarnation) {
    if (!pending_.insert({node.value(), incarnation, static_cast<uint8_t>(type)}).second) return false;
    MetadataCommand c;
    c.type = type;
    c.node = node;
    c.incarnation = incarnation;
    propose(c);
    return true;
  }

  // Takes the controller leader's metadata when it moved past what was seen,
  // and checks every partition record that changed: P1 and P10 (epochs
  // strictly increase), P5 and P9 at each election, P7 at each ISR growth.
  void observe_metadata() {
    CtlMember* leader = controller_leader();
    if (leader == nullptr) return;
    const ClusterMetadata& lm = leader->machine->metadata();
    if (lm.version() <= seen_version_) return;
    seen_version_ = lm.version();
    const std::vector<PartitionState> before = meta_.partitions();
    meta_ = lm;
    bool changed = false;
    for (uint32_t p = 0; p < meta_.partition_count(); ++p) {
      const PartitionState& now = meta_.partition(PartitionId(p));
      if (p >= before.size()) {
        changed = true;
        continue;
      }
      const PartitionState& old = before[p];
      if (now == old) continue;
      changed = true;
      if (now.partition_epoch <= old.partition_epoch) {
        protocol_violation("P10: partition " + std::to_string(p) + " changed without a new partition epoch");
      }
      if (now.leader != old.leader) {
        if (now.leader_epoch <= old.leader_epoch) {
          protocol_violation("P1: partition " + std::to_string(p) + " changed leader without a new leader epoch");
        }
        if (now.leader.value() != 0) on_elected(p, old, now);
      }
      if (now.leader == old.leader && now.leader_epoch == old.leader_epoch) check_isr_add(p, old, now);
      dbg("  p%u leader n%u e%llu pe%llu isr=%zu", p, now.leader.value(),
          (unsigned long long)now.leader_epoch.value(), (unsigned long long)now.partition_epoch, now.isr.size());
      world_->tracer().event("isr.metadata", {{"partition", p},
                                              {"leader", now.leader.value()},
                                              {"epoch", now.leader_epoch.value()},
                                              {"isr", static_cast<uint64_t>(now.isr.size())}});
    }
    if (changed) push_metadata();
  }

  void push_metadata() {
    const std::vector<PartitionState> parts = meta_.partitions();
    for (Node& n : nodes_) {
      const NodeId id = n.id;
      send(kControllerEndpoint, id.value(), [this, id, parts] { apply_metadata(node(id), parts); });
    }
  }

  void controller_heartbeat(NodeId id, uint64_t inc, int64_t sent_local) {
    const consensus::NodeRecord* rec = meta_.node(id);
    if (rec == nullptr) return;
    bool granted = false;
    if (inc >= rec->incarnation) sessions_->heard_from(id, inc, world_->now(), meta_);
    if (inc > rec->incarnation) {
      propose_once(CommandType::kRegisterNode, id, inc);
    } else if (inc == rec->incarnation && rec->fenced) {
      propose_once(CommandType::kUnfenceNode, id, inc);
    } else if (inc == rec->incarnation) {
      granted = sessions_->grants_lease(id, inc, meta_);
      if (!granted) KEEL_COVER(cover_, "isr sim: lease refused, fence in flight");
    }
    const std::vector<PartitionState> parts = meta_.partitions();
    send(kControllerEndpoint, id.value(), [this, id, sent_local, granted, parts] {
      heartbeat_reply(node(id), sent_local, granted, parts);
    });
  }

  void controller_alter_isr(const IsrRequest& req) {
    MetadataCommand c;
    c.type = CommandType::kAlterIsr;
    c.isr = req;
    propose(c);
  }

  void controller_tick() {
    if (!raft_invariants_.violations().empty()) {
      protocol_violation("controller group: " + raft_invariants_.violations().front());
    }
    CtlMember* leader = controller_leader();
    if (leader != nullptr) {
      // A new controller leader counts every node as just heard from: an
      // older leader may have granted leases a moment ago.
      const std::pair<uint32_t, uint64_t> term{leader->raft->raft()->id().value(),
                                               leader->raft->raft()->term().value()};
      observe_metadata();
      if (term != ctl_term_) {
        if (ctl_term_.first != 0) KEEL_COVER(cover_, "isr sim: controller failed over");
        ctl_term_ = term;
        sessions_->reset(world_->now(), meta_);
        // Whatever an earlier leader had queued or in flight may be lost
        // with it: let every request be made again.
        pending_.clear();
      }
      if (!meta_.created()) {
        if (pending_.insert({0, 0, static_cast<uint8_t>(CommandType::kCreateCluster)}).second) {
          MetadataCommand create;
          create.type = CommandType::kCreateCluster;
          create.partitions = partitions_;
          create.replication_factor = rf_;
          for (const Node& n : nodes_) create.nodes.push_back(n.id);
          propose(create);
        }
      } else {
        for (const auto& [id, inc] : sessions_->expired(world_->now(), meta_)) {
          if (propose_once(CommandType::kFenceNode, id, inc)) sessions_->fencing(id, inc);
        }
      }
    }
    world_->after(kTick, [this] { controller_tick(); });
  }

  // The controller leader's process crashes; it restarts after `down`.
  void controller_failover(Duration down) {
    CtlMember* leader = controller_leader();
    if (leader == nullptr) return;
    const HostId h = leader->host;
    world_->crash(h);
    world_->after(down, [this, h] {
      if (world_->host_state(h) == HostState::kDown) world_->start(h);
    });
  }

  // --- Checkers ---------------------------------------------------------------------

  struct CommittedLog {
    std::vector<Record> records;  // from 0: every offset below the highest HW seen
  };

  // The state the committed records build up to `offset`.
  Kv committed_state(uint32_t p, Offset offset) {
    Kv kv;
    const CommittedLog& c = committed_[p];
    KEEL_ASSERT(offset.value() <= c.records.size());
    for (uint64_t o = 0; o < offset.value(); ++o) (void)apply_record(kv, c.records[o].data);
    return kv;
  }

  // P2: equal (epoch, offset) means equal records. P3: a committed offset
  // holds the committed record on every replica.
  void check_record(Node& n, uint32_t p, const Record& rec) {
    auto key = std::make_tuple(p, rec.offset.value(), rec.epoch.value());
    auto it = seen_.find(key);
    if (it == seen_.end()) {
      seen_[key] = core::checksum64(rec.data);
    } else if (it->second != core::checksum64(rec.data)) {
      protocol_violation("P2: partition " + std::to_string(p) + " has two records at offset " + rec.offset.to_string() +
                         " in epoch " + rec.epoch.to_string() + " (n" + n.id.to_string() + ")");
    }
  }

  // P3: below a replica's own HW its log is the committed log. (A deposed
  // leader may still append at offsets a newer leader committed; it must
  // never count them as committed.)
  void check_committed_prefix(Node& n, uint32_t p, Replica& r, const DiskPartition& d) {
    const Offset hw = std::min(r.core.high_watermark(), d.end());
    Offset& checked = checked_hw_[{n.id.value(), p}];
    if (checked < d.log_start) checked = d.log_start;
    const CommittedLog& c = committed_[p];
    for (; checked < hw && checked.value() < c.records.size(); checked = checked.next()) {
      const Record& rec = d.records[checked.value() - d.log_start.value()];
      if (!(rec == c.records[checked.value()])) {
        protocol_violation("P3: n" + n.id.to_string() + " partition " + std::to_string(p) + " holds offset " +
                           checked.to_string() + " of epoch " + rec.epoch.to_string() +
                           " below its HW, where epoch " + c.records[checked.value()].epoch.to_string() +
                           " was committed");
        return;
      }
    }
  }

  void check_not_committed_removed(Node& n, uint32_t p, const DiskPartition& d, Offset o) {
    const CommittedLog& c = committed_[p];
    if (o.value() >= c.records.size()) return;
    const Record& rec = d.records[o.value() - d.log_start.value()];
    if (rec == c.records[o.value()]) {
      protocol_violation("P3: n" + n.id.to_string() + " partition " + std::to_string(p) +
                         " truncated committed offset " + o.to_string());
    }
  }

  // After each Ready on a leader: P6 and the committed log.
  void check_leader(Node& n, uint32_t p, Replica& r) {
    const PartitionReplica& core = r.core;
    const Offset hw = core.high_watermark();
    auto& last = leader_hw_[{n.id.value(), n.incarnation, p}];
    if (hw < last.second && last.first == core.epoch()) {
      protocol_violation("P6: leader n" + n.id.to_string() + " of partition " + std::to_string(p) + " lowered its HW");
    }
    if (hw > last.second || last.first != core.epoch()) {
      // A new leader starts from the HW it learned as a follower.
      if (last.first == core.epoch() && hw > last.second && core.isr().size() < min_isr_) {
        protocol_violation("P6: partition " + std::to_string(p) + " HW advanced with ISR below min.insync.replicas");
      }
      // P6 against the replicas themselves (not the leader's view of them):
      // every ISR member, and every replica whose addition is pending,
      // durably holds what the new HW exposes.
      if (hw > last.second && last.first == core.epoch()) {
        for (NodeId m : core.isr()) {
          if (m == n.id) continue;
          const DiskPartition& md = node(m).disk[p];
          if (md.end() < hw) {
            protocol_violation("P6: partition " + std::to_string(p) + " HW " + hw.to_string() + " on n" +
                               n.id.to_string() + " beyond ISR member n" + m.to_string() + "'s durable log end " +
                               md.end().to_string());
          }
        }
      }
      last = {core.epoch(), hw};
    }
    if (hw > core.durable_end()) protocol_violation("P6: a HW beyond the leader's durable log");
    if (!bug_hw_all_) {
      for (NodeId m : core.isr()) {
        if (m == n.id) continue;
        auto it = core.follower_ends().find(m);
        if (it != core.follower_ends().end() && hw > it->second) {
          // HW may exceed an ISR member's end only if it was computed before
          // that member's newer, shorter fetch; the protocol never lets a
          // member's fetch offset shrink within an epoch.
          protocol_violation("P6: partition " + std::to_string(p) + " HW " + hw.to_string() + " beyond ISR member n" +
                             m.to_string() + "'s log end " + it->second.to_string());
        }
      }
    }
    // Extend the committed log from this leader's records.
    CommittedLog& c = committed_[p];
    for (uint64_t o = c.records.size(); o < hw.value(); ++o) {
      const Record* rec = core.record_at(Offset(o));
      if (rec == nullptr) {
        // Compacted on the leader before we looked: take it from its disk image
        // is impossible; the committed log must have been extended earlier.
        protocol_violation("checker: committed offset " + std::to_string(o) + " of partition " + std::to_string(p) +
                           " is no longer on its leader");
        return;
      }
      c.records.push_back(*rec);
      KEEL_COVER(cover_, "isr sim: a record committed");
    }
    world_->tracer().event("isr.hw", {{"partition", p}, {"node", n.id.value()}, {"hw", hw.value()}});
  }

  void on_became_leader(Node& n, uint32_t p, Replica& r) {
    // P1: one leader per epoch.
    auto key = std::make_pair(p, r.core.epoch().value());
    auto it = epoch_leader_.find(key);
    if (it != epoch_leader_.end() && it->second != n.id) {
      protocol_violation("P1: partition " + std::to_string(p) + " epoch " + r.core.epoch().to_string() +
                         " has two leaders, n" + it->second.to_string() + " and n" + n.id.to_string());
    }
    epoch_leader_[key] = n.id;
    world_->tracer().event("isr.leader", {{"partition", p}, {"node", n.id.value()}, {"epoch", r.core.epoch().value()}});
  }

  // P5: at the moment the controller elects it, the new leader holds every
  // committed record durably (or has them in its snapshot).
  void on_elected(uint32_t p, const PartitionState& old, const PartitionState& now) {
    KEEL_COVER(cover_, "isr sim: controller elected a new leader");
    // P9: the deposed leader's lease has run out on its own clock.
    if (old.leader.value() != 0 && old.leader != now.leader) {
      Node& prev = node(old.leader);
      auto it = prev.replicas.find(p);
      if (prev.state != NodeState::kDown && it != prev.replicas.end() &&
          it->second->core.role() == PartitionRole::kLeader && it->second->core.epoch() == old.leader_epoch &&
          lease_valid(prev)) {
        protocol_violation("P9: partition " + std::to_string(p) + " got leader n" + now.leader.to_string() +
                           " in epoch " + now.leader_epoch.to_string() + " while n" + old.leader.to_string() +
                           " still holds a lease as its leader");
        return;
      }
    }
    const DiskPartition& d = node(now.leader).disk[p];
    const CommittedLog& c = committed_[p];
    for (uint64_t o = d.log_start.value(); o < c.records.size(); ++o) {
      if (o >= d.end().value() || !(d.records[o - d.log_start.value()] == c.records[o])) {
        protocol_violation("P5: n" + now.leader.to_string() + " was elected leader of partition " + std::to_string(p) +
                           " in epoch " + now.leader_epoch.to_string() + " without committed offset " +
                           std::to_string(o));
        return;
      }
    }
  }

  // P7: a replica joins the ISR only once its log reaches the start of the
  // leader's epoch (checked against the joiner's real durable log).
  void check_isr_add(uint32_t p, const PartitionState& old, const PartitionState& now) {
    Node& leader = node(now.leader);
    auto lit = leader.replicas.find(p);
    if (lit == leader.replicas.end()) return;
    auto start = lit->second->core.epochs().start_of(now.leader_epoch);
    if (!start) return;
    for (NodeId m : now.isr) {
      if (old.isr.count(m) > 0) continue;
      const DiskPartition& d = node(m).disk[p];
      if (d.end() < *start) {
        protocol_violation("P7: n" + m.to_string() + " joined the ISR of partition " + std::to_string(p) +
                           " at log end " + d.end().to_string() + ", before epoch " +
                           now.leader_epoch.to_string() + "'s start " + start->to_string());
      }
      KEEL_COVER(cover_, "isr sim: a replica rejoined the ISR");
    }
  }

  // C4 for READONLY reads: a follower read returns a committed value (or
  // nil), never goes back in time within its connection, and sees the
  // connection's own acknowledged writes (values are unique per write, so
  // each maps to the offset that committed it).
  void check_follower_reads() {
    std::map<std::pair<std::string, std::string>, uint64_t> committed_at;  // (key, value) -> offset
    for (const auto& [p, log] : committed_) {
      for (const Record& rec : log.records) {
        const size_t z = rec.data.find('\0');
        committed_at[{rec.data.substr(1, z - 1), rec.data.substr(z + 1)}] = rec.offset.value();
      }
    }
    std::map<std::pair<uint32_t, std::string>, uint64_t> seen;  // (client, key) -> offset of the last value seen
    std::map<std::pair<uint32_t, std::string>, uint64_t> own;   // (client, key) -> offset of its last acked write
    size_t w = 0;
    // Follower reads and acknowledged writes were recorded in completion
    // order; replay them in that order per client.
    std::vector<std::pair<core::Instant, size_t>> order;
    for (size_t i = 0; i < follower_reads_.size(); ++i) order.push_back({follower_read_at_[i], i});
    std::sort(order.begin(), order.end());
    for (const auto& [at, i] : order) {
      for (; w < acked_writes_.size() && acked_writes_[w].at <= at; ++w) {
        const AckedWrite& aw = acked_writes_[w];
        uint64_t& o = own[{aw.client.value(), aw.key}];
        o = std::max(o, aw.offset);
      }
      const FollowerRead& fr = follower_reads_[i];
      uint64_t offset = 0;
      if (fr.value) {
        auto it = committed_at.find({fr.key, *fr.value});
        if (it == committed_at.end()) {
          violation("C4: a follower read of " + fr.key + " returned \"" + *fr.value + "\", which was never committed");
          return;
        }
        offset = it->second + 1;
      }
      uint64_t& last = seen[{fr.client.value(), fr.key}];
      if (offset < last) {
        violation("C4: client " + fr.client.to_string() + "'s follower reads of " + fr.key + " went back in time");
        return;
      }
      last = offset;
      auto mine = own.find({fr.client.value(), fr.key});
      if (mine != own.end() && offset <= mine->second) {
        violation("C4: client " + fr.client.to_string() + " did not read its own acknowledged write of " + fr.key +
                  " from a follower");
        return;
      }
    }
    KEEL_COVER(cover_, "isr sim: follower reads checked");
  }

  // --- Faults ----------------------------------------------------------------------

  void schedule_faults() {
    core::Random fr = random_.fork("faults");
    const Duration mean = Duration::millis(static_cast<int64_t>(fr.uniform(300, 2000)));
    for (Instant t = Instant() + Duration::millis(500) + fr.exponential(mean); t < fault_end_;
         t = t + fr.exponential(mean)) {
      const uint64_t kind = fr.uniform(0, 6);
      const uint64_t pick = fr.uniform(0, 1 << 20);
      const Duration len = fr.uniform_duration(Duration::millis(50), Duration::millis(3000));
      world_->at(t, [this, kind, pick, len] { inject(kind, pick, len); });
    }
  }

  NodeId pick_node(uint64_t pick) const { return NodeId(static_cast<uint32_t>(pick % nodes_.size() + 1)); }
  // The current leader of some partition (by the controller's record).
  NodeId pick_leader(uint64_t pick) const {
    if (!meta_.created()) return pick_node(pick);
    const PartitionState& st = meta_.partition(PartitionId(static_cast<uint32_t>(pick % partitions_)));
    return st.leader.value() != 0 ? st.leader : pick_node(pick);
  }

  void inject(uint64_t kind, uint64_t pick, Duration len) {
    if (healed_) return;
    switch (kind) {
      case 0: {  // power loss of a partition leader, restarted later
        Node& n = node(pick_leader(pick));
        if (n.state == NodeState::kDown) return;
        ++fault_counts_["crash"];
        crash_node(n);
        world_->after(len, [this, id = n.id] {
          if (!healed_ && node(id).state == NodeState::kDown) start_node(node(id));
        });
        return;
      }
      case 1: {  // pause (a long GC, SIGSTOP): leases run out meanwhile
        Node& n = node(pick_node(pick));
        if (n.state != NodeState::kUp) return;
        ++fault_counts_["pause"];
        pause_node(n);
        world_->after(len, [this, id = n.id] { resume_node(node(id)); });
        return;
      }
      case 2: {  // a partition leader loses the controller but not its peers
        NodeId id = pick_leader(pick);
        ++fault_counts_["isolate-from-controller"];
        cut(id.value(), kControllerEndpoint, len);
        return;
      }
      case 3: {  // a node isolated from every other node and the controller
        NodeId id = pick_node(pick);
        ++fault_counts_["isolate"];
        for (Node& other : nodes_) {
          if (other.id != id) cut(id.value(), other.id.value(), len);
        }
        cut(id.value(), kControllerEndpoint, len);
        return;
      }
      case 4: {  // the controller's leader fails over
        ++fault_counts_["controller-failover"];
        controller_failover(Duration::millis(200) + len / 4);
        return;
      }
      case 5: {  // one link between two nodes
        NodeId a = pick_node(pick), b = pick_node(pick / 7 + 1);
        if (a == b) return;
        ++fault_counts_["link"];
        cut(a.value(), b.value(), len);
        return;
      }
      default: {  // power loss of any node
        Node& n = node(pick_node(pick));
        if (n.state == NodeState::kDown) return;
        ++fault_counts_["crash"];
        crash_node(n);
        world_->after(len / 3, [this, id = n.id] {
          if (!healed_ && node(id).state == NodeState::kDown) start_node(node(id));
        });
        return;
      }
    }
  }

  void cut(uint32_t a, uint32_t b, Duration len) {
    if (a > b) std::swap(a, b);
    cut_.insert({a, b});
    world_->after(len, [this, a, b] { cut_.erase({a, b}); });
  }

  // --- The end ------------------------------------------------------------------------

  // Waits until the cluster is quiet: every partition led, its ISR whole,
  // every replica caught up and everything committed; and the clients done.
  void await_quiet() {
    if (failed_) return;
    bool quiet = true;
    std::string why;
    for (const ClientState& cl : clients_) {
      if (cl.busy) {
        quiet = false;
        why = "a client is busy";
      }
    }
    if (!meta_.created()) {
      quiet = false;
      why = "the controller never created the cluster";
    }
    for (uint32_t p = 0; p < partitions_ && quiet; ++p) {
      const PartitionState& st = meta_.partition(PartitionId(p));
      if (st.leader.value() == 0 || st.isr.size() != st.replicas.size()) {
        quiet = false;
        why = "partition " + std::to_string(p) + " has no leader or a partial ISR";
        break;
      }
      Node& ln = node(st.leader);
      auto lit = ln.replicas.find(p);
      if (lit == ln.replicas.end() || lit->second->core.role() != PartitionRole::kLeader ||
          lit->second->core.epoch() != st.leader_epoch) {
        quiet = false;
        why = "partition " + std::to_string(p) + "'s leader does not know it leads";
        break;
      }
      const PartitionReplica& lc = lit->second->core;
      if (lc.high_watermark() != lc.log_end()) {
        quiet = false;
        why = "partition " + std::to_string(p) + " has uncommitted records";
        break;
      }
      for (NodeId m : st.replicas) {
        const DiskPartition& d = node(m).disk[p];
        if (d.end() != lc.log_end() || d.applied != lc.log_end()) {
          quiet = false;
          why = "partition " + std::to_string(p) + " replica n" + m.to_string() + " is behind";
          break;
        }
      }
    }
    if (!quiet) {
      if (world_->now() > fault_end_ + options_.liveness_window - Duration::millis(200)) {
        violation("C5 liveness: the cluster never settled after the heal: " + why);
        final_done_ = true;
        return;
      }
      world_->after(Duration::millis(50), [this] { await_quiet(); });
      return;
    }
    final_checks();
  }

  void final_checks() {
    // Convergence: every replica of a partition holds the same log and the
    // same state as its leader.
    workloads::FinalState final_state;
    for (int k = 0; k < keys_; ++k) {
      if (workload_ == IsrWorkload::kUniqueWrites) {
        final_state.elements["k" + std::to_string(k)] = {};
      } else {
        final_state.values["k" + std::to_string(k)] = std::nullopt;
      }
    }
    for (uint32_t p = 0; p < partitions_; ++p) {
      const PartitionState& st = meta_.partition(PartitionId(p));
      const DiskPartition& ld = node(st.leader).disk[p];
      for (NodeId m : st.replicas) {
        const DiskPartition& d = node(m).disk[p];
        if (encode_kv(d.kv) != encode_kv(ld.kv)) {
          violation("C3: partition " + std::to_string(p) + " n" + m.to_string() + "'s state differs from leader n" +
                    st.leader.to_string() + "'s at offset " + d.applied.to_string());
        }
        const uint64_t from = std::max(d.log_start.value(), ld.log_start.value());
        for (uint64_t o = from; o < d.end().value(); ++o) {
          if (!(d.records[o - d.log_start.value()] == ld.records[o - ld.log_start.value()])) {
            violation("C3: partition " + std::to_string(p) + " n" + m.to_string() + "'s log differs at offset " +
                      std::to_string(o));
            break;
          }
        }
      }
      for (const auto& [k, v] : ld.kv) {
        if (workload_ == IsrWorkload::kUniqueWrites) {
          final_state.elements[k] = workloads::split_elements(v, ',');
        } else {
          final_state.values[k] = v;
        }
      }
    }
    // acks=1 acknowledges before commit, so reads at the HW legitimately
    // miss acknowledged writes there: that control checks durability only.
    auto lin = acks_all_ ? workloads::check_linearizability(history_) : workloads::LinearizabilityResult{};
    if (lin.verdict == workloads::Verdict::kFail) {
      violation("C1 linearizability: " + lin.summary().substr(0, 400));
      detail_ += lin.summary();
    }
    auto dur = workloads::check_durability(history_, final_state);
    if (dur.verdict == workloads::Verdict::kFail) {
      violation("C2 durability: " + dur.summary().substr(0, 400));
      detail_ += dur.summary();
    }
    check_follower_reads();
    world_->tracer().event("isr.final", {{"ops", static_cast<uint64_t>(history_.ops().size())}});
    final_done_ = true;
  }

  IsrWorkload workload_;
  bool acks_all_;
  bool debug_ = false;
  World* world_ = nullptr;
  RunOptions options_;
  core::Random random_{0};
  core::Coverage* cover_ = nullptr;
  uint32_t partitions_ = 1;
  uint32_t rf_ = 1;
  size_t min_isr_ = 1;
  int keys_ = 1;
  int clients_n_ = 1;
  uint64_t compact_every_ = 100;
  uint64_t replica_lag_ticks_ = 25;
  bool bug_hw_all_ = false;
  bool bug_truncate_hw_ = false;
  bool bug_isr_early_ = false;
  bool bug_early_fence_ = false;

  ClusterMetadata meta_;
  std::unique_ptr<SessionTracker> sessions_;
  consensus::MetadataConfig metadata_config_;
  node::RaftNodeOptions ctl_options_;
  std::vector<CtlMember> ctl_;
  std::map<int, uint64_t> ctl_incarnations_;
  RaftInvariants raft_invariants_;
  std::pair<uint32_t, uint64_t> ctl_term_{0, 0};
  uint64_t seen_version_ = 0;
  // Node commands in flight: (node, incarnation, command type).
  std::set<std::tuple<uint32_t, uint64_t, uint8_t>> pending_;

  std::vector<Node> nodes_;
  std::vector<ClientState> clients_;
  uint32_t next_client_id_ = 100;
  std::set<std::pair<uint32_t, uint32_t>> cut_;
  Instant fault_end_;
  bool healed_ = false;
  bool final_done_ = false;
  bool failed_ = false;
  std::string detail_;
  std::vector<std::string> violations_;
  std::map<std::string, uint64_t> fault_counts_;
  workloads::History history_;
  std::vector<FollowerRead> follower_reads_;
  std::vector<core::Instant> follower_read_at_;
  std::vector<AckedWrite> acked_writes_;

  std::map<uint32_t, CommittedLog> committed_;
  std::map<std::tuple<uint32_t, uint64_t, uint64_t>, uint64_t> seen_;
  std::map<std::tuple<uint32_t, uint64_t, uint32_t>, std::pair<Epoch, Offset>> leader_hw_;
  std::map<std::pair<uint32_t, uint64_t>, NodeId> epoch_leader_;
  std::map<std::pair<uint32_t, uint32_t>, Offset> checked_hw_;
};

}  // namespace

std::unique_ptr<Scenario> make_isr_scenario(const std::string& workload) {
  if (workload == "isr-register") return std::make_unique<IsrScenario>(IsrWorkload::kRegister, true);
  if (workload == "isr-counter") return std::make_unique<IsrScenario>(IsrWorkload::kCounter, true);
  if (workload == "isr-unique-writes") return std::make_unique<IsrScenario>(IsrWorkload::kUniqueWrites, true);
  if (workload == "isr-acks1") return std::make_unique<IsrScenario>(IsrWorkload::kRegister, false);
  return nullptr;
}

}  // namespace keel::sim
