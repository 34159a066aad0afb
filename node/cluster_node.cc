#include "node/cluster_node.h"

#include <algorithm>
#include <deque>
#include <map>

#include "node/controller_state_machine.h"
#include "node/metrics_server.h"
#include "node/partition_driver.h"
#include "node/router.h"
#include "storage/kv_engine.h"
#include "storage/snapshot.h"

namespace keel::node {

using consensus::ClusterMetadata;
using consensus::PartitionState;
using core::Bytes;
using core::ByteView;
using core::NodeId;
using core::PartitionId;
using core::Status;

namespace {

// The node's incarnation: one more than the last start's, durable before
// the node says anything to the controller.
core::Result<uint64_t> next_incarnation(core::Disk& disk) {
  KEEL_TRY_ASSIGN(std::unique_ptr<storage::SnapshotStore> store, storage::SnapshotStore::open(disk, "node", 1));
  KEEL_TRY_ASSIGN(std::optional<storage::LoadedSnapshot> last, store->load_latest());
  const uint64_t next = last ? last->snapshot.index.value() + 1 : 1;
  KEEL_TRY(store->save(core::LogIndex(next), "incarnation", ""));
  return next;
}

class ClusterNode final : public Replicator, public ReadView, public PartitionTransport {
 public:
  ClusterNode(core::Env& env, const ClusterNodeConfig& config, storage::KvEngine& engine, uint64_t incarnation,
              PeerBus& bus, RaftNode& raft, ControllerService& service)
      : env_(env),
        config_(config),
        engine_(engine),
        incarnation_(incarnation),
        bus_(bus),
        raft_(raft),
        service_(service),
        metadata_(config.metadata),
        replies_wake_(env.fibers),
        fibers_(env) {
    table_.self = config.controller.id;
  }
  ~ClusterNode() override { fibers_.kill_all(); }

  void start() {
    bus_.on_partition([this](consensus::PartitionMessage m) {
      auto it = drivers_.find(m.partition.value());
      if (it == drivers_.end()) {
        ++refused_messages_;
        if (refused_messages_ % 1000 == 1) {
          env_.trace.warn("cluster: refused a message for partition " + m.partition.to_string() +
                          ", which this node does not replicate");
        }
        return;
      }
      it->second->receive(std::move(m));
    });
    bus_.on_control([this](NodeId from, ControlMessage m) { control(from, std::move(m)); });
    fibers_.spawn("cluster.heartbeat", [this] { heartbeat_loop(); });
    fibers_.spawn("cluster.replies", [this] {
      while (running_) {
        while (running_ && replies_.empty()) replies_wake_.wait();
        if (!running_) return;
        ControlMessage reply = std::move(replies_.front());
        replies_.pop_front();
        on_reply(reply);
      }
    });
  }

  void stop() {
    running_ = false;
    replies_wake_.notify_all();
    bus_.on_partition(nullptr);
    bus_.on_control(nullptr);
    for (auto& [p, d] : drivers_) d->stop();
  }

  // Returns the first driver failure (a storage error), or waits for one.
  Status wait_failure() {
    while (running_ && failure_.is_ok()) env_.sleep_for(core::Duration::millis(50));
    return failure_;
  }

  // --- Replicator --------------------------------------------------------------

  core::Result<Bytes> propose(ByteView key, Bytes command) override {
    PartitionDriver* d = driver_for(key);
    if (d == nullptr) return not_here(key);
    core::Result<Bytes> r = d->propose(std::move(command), config_.acks_all);
    if (!r.is_ok() && r.status().code() == core::Code::kFailedPrecondition) return not_here(key);
    return r;
  }

  Status read_barrier(ByteView key, bool stale_ok) override {
    PartitionDriver* d = driver_for(key);
    if (d == nullptr) {
      // Keyless reads (DBSIZE) count this node's applied state.
      if (key.empty()) return Status::ok();
      return not_here(key);
    }
    // READONLY: the replica's applied offset is at most its HW, and grows.
    if (stale_ok) return Status::ok();
    Status s = d->read_barrier();
    if (s.code() == core::Code::kFailedPrecondition) return not_here(key);
    return s;
  }

  ReadView& read_view() override { return *this; }

  // --- ReadView ----------------------------------------------------------------

  core::Result<std::optional<Bytes>> get(ByteView key) override {
    PartitionDriver* d = driver_for(key);
    if (d == nullptr) return std::optional<Bytes>();
    return d->kv().get(key);
  }

  core::Result<uint64_t> size() override {
    // The keys of the partitions this node leads (DBSIZE on a Redis Cluster
    // master counts its own slots).
    uint64_t n = 0;
    for (auto& [p, d] : drivers_) {
      const consensus::PartitionReplica* r = d->replica();
      if (r == nullptr || r->role() != consensus::PartitionRole::kLeader) continue;
      KEEL_TRY_ASSIGN(std::vector<storage::KvEntry> image, d->kv().image());
      n += image.size();
    }
    return n;
  }

  // --- PartitionTransport --------------------------------------------------------

  void send(const consensus::PartitionMessage& message) override {
    bus_.send(message.to, encode_partition_message(message));
  }

  void send_isr_request(const consensus::IsrRequest& request) override {
    consensus::MetadataCommand c;
    c.type = consensus::CommandType::kAlterIsr;
    c.isr = request;
    const Bytes encoded = consensus::encode_command(c);
    const NodeId leader = controller_leader();
    if (leader == config_.controller.id) {
      service_.alter_isr(leader, encoded);
      return;
    }
    if (leader.value() == 0) return;  // the replica asks again
    ControlMessage m;
    m.kind = ControlKind::kAlterIsr;
    m.incarnation = incarnation_;
    m.payload = encoded;
    bus_.send(leader, encode_control_message(m));
  }

  // --- The front end's views -------------------------------------------------------

  std::optional<std::string> route_check(const net::resp::CommandSpec& spec, const net::resp::Argv& argv,
                                         bool readonly) {
    const Route r = route(table_, spec, argv);
    switch (r.kind) {
      case Route::Kind::kLocal:
      case Route::Kind::kNoKeys: return std::nullopt;
      case Route::Kind::kMoved:
        // A READONLY connection reads from a local follower.
        if (readonly && !spec.has_flag(net::resp::kCommandWrite) && drivers_.count(r.partition.value()) > 0) {
          return std::nullopt;
        }
        return render_route_error(r);
      case Route::Kind::kCrossSlot:
      case Route::Kind::kDown: return render_route_error(r);
    }
    return std::nullopt;
  }

  ClusterTopology topology() const {
    ClusterTopology t;
    std::map<NodeId, size_t> index;
    for (const auto& [id, addr] : table_.client_addresses) {
      ClusterMember m;
      m.id = cluster_node_id(id);
      m.address = addr;
      m.self = id == table_.self;
      const consensus::NodeRecord* rec = metadata_.node(id);
      m.failed = rec != nullptr && rec->fenced;
      index[id] = t.members.size();
      t.members.push_back(std::move(m));
    }
    for (const SlotRangeOwners& o : slot_owners(table_)) {
      auto master = index.find(o.leader);
      if (master == index.end()) continue;
      ClusterSlotRange r{o.first, o.last, master->second, {}};
      for (NodeId n : o.replicas) {
        if (auto it = index.find(n); it != index.end()) r.replicas.push_back(it->second);
      }
      t.members[master->second].leader = true;
      t.ranges.push_back(std::move(r));
    }
    // Ready once every partition this node is named leader of has its
    // replica leading here.
    for (size_t p = 0; p < table_.partitions.size(); ++p) {
      if (table_.partitions[p].leader != table_.self) continue;
      auto d = drivers_.find(static_cast<uint32_t>(p));
      const consensus::PartitionReplica* r = d == drivers_.end() ? nullptr : d->second->replica();
      if (r == nullptr || r->role() != consensus::PartitionRole::kLeader) t.ready = false;
    }
    if (table_.partitions.empty()) t.ready = false;
    // Redis's epochs grow with each failover: the sum of the leader epochs.
    for (const PartitionState& p : table_.partitions) t.epoch += p.leader_epoch.value();
    return t;
  }

  std::vector<InfoSection> info() const {
    uint64_t leading = 0, following = 0, under_min = 0, offline = 0;
    for (const auto& [p, d] : drivers_) {
      const consensus::PartitionReplica* r = d->replica();
      if (r == nullptr) continue;
      if (r->role() == consensus::PartitionRole::kLeader) {
        ++leading;
      } else {
        ++following;
      }
    }
    for (const PartitionState& p : table_.partitions) {
      if (p.leader.value() == 0) ++offline;
      if (p.isr.size() < config_.partition.min_insync_replicas) ++under_min;
    }
    std::string repl = std::string("role:") + (leading > 0 ? "master" : "slave") + "\r\n";
    repl += "partitions_led:" + std::to_string(leading) + "\r\n";
    repl += "partitions_followed:" + std::to_string(following) + "\r\n";
    repl += "acks:" + std::string(config_.acks_all ? "all" : "1") + "\r\n";
    repl += "min_insync_replicas:" + std::to_string(config_.partition.min_insync_replicas) + "\r\n";
    std::string cluster = "incarnation:" + std::to_string(incarnation_) + "\r\n";
    cluster += "metadata_version:" + std::to_string(metadata_.version()) + "\r\n";
    cluster += "controller_leader_id:" + controller_leader().to_string() + "\r\n";
    cluster += "partitions:" + std::to_string(table_.partitions.size()) + "\r\n";
    cluster += "offline_partitions:" + std::to_string(offline) + "\r\n";
    cluster += "under_min_isr_partitions:" + std::to_string(under_min) + "\r\n";
    cluster += "lease_valid:" + std::string(env_.now() < lease_until_ ? "1" : "0") + "\r\n";
    return {InfoSection{"Replication", repl}, InfoSection{"Partitions", cluster}};
  }

  std::string metrics(const RespServer& server) const {
    MetricsWriter w;
    w.gauge("keel_up", "1 while the node is serving.", 1);
    w.gauge("keel_node_id", "This node's id.", config_.controller.id.value());
    w.gauge("keel_node_incarnation", "This process's incarnation.", incarnation_);
    w.gauge("keel_controller_leader_id", "The controller leader this node knows of; 0 when none.",
            controller_leader().value());
    w.gauge("keel_metadata_version", "The controller metadata version this node holds.", metadata_.version());
    for (const auto& [p, d] : drivers_) {
      const consensus::PartitionReplica* r = d->replica();
      if (r == nullptr) continue;
      w.gauge("keel_partition_is_leader", "1 if this node leads the partition.",
              r->role() == consensus::PartitionRole::kLeader ? 1 : 0, {{"partition", std::to_string(p)}});
    }
    for (const auto& [p, d] : drivers_) {
      const consensus::PartitionReplica* r = d->replica();
      if (r == nullptr) continue;
      w.gauge("keel_partition_high_watermark", "The partition's high watermark on this replica.",
              r->high_watermark().value(), {{"partition", std::to_string(p)}});
    }
    for (const auto& [p, d] : drivers_) {
      const consensus::PartitionReplica* r = d->replica();
      if (r == nullptr) continue;
      w.gauge("keel_partition_log_end_offset", "The partition's log end offset on this replica.",
              r->log_end().value(), {{"partition", std::to_string(p)}});
    }
    for (size_t p = 0; p < table_.partitions.size(); ++p) {
      w.gauge("keel_partition_isr_size", "In-sync replicas of the partition (controller metadata).",
              table_.partitions[p].isr.size(), {{"partition", std::to_string(p)}});
    }
    w.gauge("keel_clients_connected", "RESP client connections open now.", server.stats().connected_clients);
    w.counter("keel_commands_processed_total", "RESP commands processed since the node started.",
              server.stats().total_commands_processed);
    w.counter("keel_peer_frames_dropped_total", "Peer frames dropped (unreachable peer or budget spent).",
              bus_.dropped_frames());
    return w.take();
  }

 private:
  NodeId controller_leader() const {
    return raft_.raft() != nullptr ? raft_.raft()->leader_id() : NodeId();
  }

  PartitionDriver* driver_for(ByteView key) {
    if (key.empty() || table_.partitions.empty()) return nullptr;
    const PartitionId p = ClusterMetadata::partition_of_slot(net::resp::key_slot(key),
                                                             static_cast<uint32_t>(table_.partitions.size()));
    auto it = drivers_.find(p.value());
    return it == drivers_.end() ? nullptr : it->second.get();
  }

  // The Replicator's "not the leader": the leader's client address, when
  // known, becomes -MOVED.
  Status not_here(ByteView key) const {
    if (table_.partitions.empty()) return core::unavailable("no cluster metadata yet");
    const PartitionId p = ClusterMetadata::partition_of_slot(net::resp::key_slot(key),
                                                             static_cast<uint32_t>(table_.partitions.size()));
    const NodeId leader = table_.partitions[p.value()].leader;
    auto addr = table_.client_addresses.find(leader);
    if (leader.value() == 0 || addr == table_.client_addresses.end()) return core::failed_precondition("");
    if (leader == table_.self) return core::unavailable("the partition's leader is starting");
    return core::failed_precondition(addr->second.to_string());
  }

  ControlMessage beat() const {
    ControlMessage m;
    m.kind = ControlKind::kHeartbeat;
    m.incarnation = incarnation_;
    m.sent_local = env_.now().ns();
    m.metadata_version = metadata_.version();
    m.peer_address = config_.controller.members.at(config_.controller.id).peer.to_string();
    m.client_address = config_.client_address.to_string();
    return m;
  }

  void heartbeat_loop() {
    while (running_) {
      const ControlMessage m = beat();
      const NodeId leader = controller_leader();
      if (leader == config_.controller.id) {
        if (std::optional<ControlMessage> reply = service_.heartbeat(leader, m)) queue_reply(std::move(*reply));
      } else if (leader.value() != 0) {
        bus_.send(leader, encode_control_message(m));
      }
      for (auto& [p, d] : drivers_) {
        if (!d->running() && failure_.is_ok()) {
          failure_ = d->wait();
          if (failure_.is_ok()) failure_ = core::io_error("partition " + std::to_string(p) + " stopped");
        }
      }
      env_.sleep_for(config_.heartbeat_interval);
    }
  }

  void control(NodeId from, ControlMessage m) {
    switch (m.kind) {
      case ControlKind::kHeartbeat: {
        if (std::optional<ControlMessage> reply = service_.heartbeat(from, m)) {
          bus_.send(from, encode_control_message(*reply));
        }
        return;
      }
      case ControlKind::kAlterIsr: service_.alter_isr(from, m.payload); return;
      case ControlKind::kHeartbeatReply: queue_reply(std::move(m)); return;
    }
  }

  // Replies are handled in order by one fiber: starting a partition's
  // driver suspends, and a lease must follow the records it came with.
  void queue_reply(ControlMessage reply) {
    if (replies_.size() >= kRepliesMax) return;  // the next heartbeat asks again
    replies_.push_back(std::move(reply));
    replies_wake_.notify_one();
  }

  void on_reply(const ControlMessage& reply) {
    if (reply.incarnation != incarnation_) return;  // for an earlier process
    if (!reply.payload.empty() && reply.metadata_version > metadata_.version()) {
      auto decoded = ClusterMetadata::decode(reply.payload, config_.metadata);
      if (!decoded.is_ok()) {
        env_.trace.warn("cluster: refused a metadata image: " + decoded.status().to_string());
        return;
      }
      adopt(std::move(*decoded));
    }
    if (reply.granted) {
      // Measured from when this node sent the heartbeat, on its own clock.
      lease_until_ = std::max(lease_until_, core::Instant::from_nanos(reply.sent_local) +
                                                config_.service.sessions.lease);
      for (auto& [p, d] : drivers_) d->set_lease(lease_until_);
    }
  }

  void adopt(ClusterMetadata metadata) {
    metadata_ = std::move(metadata);
    std::map<NodeId, core::Address> addresses;
    for (const auto& [id, m] : config_.controller.members) {
      if (auto a = bus_.client_address(id)) addresses[id] = *a;
    }
    addresses[config_.controller.id] = config_.client_address;
    table_ = RouteTable::from(metadata_, config_.controller.id, addresses);
    const uint32_t partitions = metadata_.partition_count();
    for (uint32_t p = 0; p < partitions && running_; ++p) {
      const PartitionState& st = metadata_.partition(PartitionId(p));
      const bool replica = std::find(st.replicas.begin(), st.replicas.end(), config_.controller.id) != st.replicas.end();
      auto it = drivers_.find(p);
      if (it == drivers_.end()) {
        if (!replica) continue;
        PartitionDriverOptions o;
        o.replica = config_.partition;
        o.replica.partition = PartitionId(p);
        o.replica.id = config_.controller.id;
        o.replica.coverage = env_.trace.coverage();
        o.partitions = partitions;
        o.incarnation = incarnation_;
        o.dir = "partitions/" + std::to_string(p);
        o.tick_interval = config_.partition_tick;
        o.compact_every = config_.compact_every;
        auto d = std::make_unique<PartitionDriver>(env_, o, engine_, *this);
        const Status started = d->start();
        if (!started.is_ok()) {
          env_.trace.error("cluster: partition " + std::to_string(p) + " cannot start: " + started.to_string());
          if (failure_.is_ok()) failure_ = started;
          running_ = false;
          return;
        }
        it = drivers_.emplace(p, std::move(d)).first;
      }
      it->second->set_state(st);
    }
    if (!announced_ && partitions > 0) {
      announced_ = true;
      uint64_t leads = 0;
      for (const PartitionState& st : metadata_.partitions()) leads += st.leader == config_.controller.id ? 1 : 0;
      env_.trace.info("cluster: " + std::to_string(partitions) + " partitions, this node replicates " +
                      std::to_string(drivers_.size()) + " and leads " + std::to_string(leads));
    }
  }

  core::Env& env_;
  const ClusterNodeConfig& config_;
  storage::KvEngine& engine_;
  uint64_t incarnation_;
  PeerBus& bus_;
  RaftNode& raft_;
  ControllerService& service_;
  ClusterMetadata metadata_;
  RouteTable table_;
  std::map<uint32_t, std::unique_ptr<PartitionDriver>> drivers_;
  core::Instant lease_until_;
  static constexpr size_t kRepliesMax = 64;
  std::deque<ControlMessage> replies_;
  core::WaitList replies_wake_;
  uint64_t refused_messages_ = 0;
  bool announced_ = false;
  bool running_ = true;
  Status failure_;
  // Last: destroyed first.
  core::FiberGroup fibers_;
};

}  // namespace

Status run_cluster_node(core::Env& env, const ClusterNodeConfig& config) {
  KEEL_ASSERT(config.open_engine != nullptr);
  KEEL_TRY_ASSIGN(const uint64_t incarnation, next_incarnation(env.disk));
  KEEL_TRY_ASSIGN(std::unique_ptr<storage::KvEngine> engine, config.open_engine(env));
  KEEL_TRY_ASSIGN(std::unique_ptr<ControllerStateMachine> machine,
                  ControllerStateMachine::open(env.disk, "controller/metadata", config.metadata));
  PeerBusOptions peers = config.peers;
  peers.id = config.controller.id;
  peers.members = config.controller.members;
  PeerBus bus(env, std::move(peers));
  RaftNodeOptions raft_options = config.controller;
  if (raft_options.dir == RaftNodeOptions().dir) raft_options.dir = "controller/raft";
  RaftNode raft(env, raft_options, bus, *machine);
  raft.set_observer(config.observer);
  ControllerServiceOptions service_options = config.service;
  service_options.self = config.controller.id;
  service_options.self_incarnation = incarnation;
  if (service_options.nodes.empty()) {
    for (const auto& [id, m] : config.controller.members) service_options.nodes.push_back(id);
  }
  ControllerService service(env, service_options, raft, *machine);
  ClusterNode node(env, config, *engine, incarnation, bus, raft, service);
  KEEL_TRY(raft.start());
  service.start();
  node.start();
  KEEL_TRY(bus.start());

  RespServerOptions options;
  options.address = config.client_address;
  options.requirepass = config.requirepass;
  options.limits = config.client_limits;
  options.info = [&node] { return node.info(); };
  options.topology = [&node] { return node.topology(); };
  options.route = [&node](const net::resp::CommandSpec& spec, const net::resp::Argv& argv, bool readonly) {
    return node.route_check(spec, argv, readonly);
  };
  RespServer server(env, node, std::move(options));
  KEEL_TRY(server.start());
  std::optional<MetricsServer> metrics;
  KEEL_TRY(start_metrics_endpoint(env, config.metrics_address, [&node, &server] { return node.metrics(server); },
                                  metrics));
  env.trace.info("keel node " + config.controller.id.to_string() + " (incarnation " + std::to_string(incarnation) +
                 ") serving RESP on " + config.client_address.to_string() +
                 (config.metrics_address ? ", metrics on " + config.metrics_address->to_string() : ""));
  if (config.on_running) config.on_running(true);
  struct Detach {
    const ClusterNodeConfig& config;
    ~Detach() {
      if (config.on_running) config.on_running(false);
    }
  } detach{config};
  // Either the controller member or a partition stops the node.
  core::FiberGroup watch(env);
  Status stopped;
  bool done = false;
  core::WaitList finished(env.fibers);
  watch.spawn("cluster.watch-raft", [&] {
    Status s = raft.wait();
    if (!done) {
      stopped = s;
      done = true;
      finished.notify_all();
    }
  });
  watch.spawn("cluster.watch-partitions", [&] {
    Status s = node.wait_failure();
    if (!done) {
      stopped = s;
      done = true;
      finished.notify_all();
    }
  });
  while (!done) finished.wait();
  watch.kill_all();
  if (metrics) metrics->stop();
  server.stop();
  service.stop();
  node.stop();
  raft.stop();
  bus.stop();
  (void)machine->persist();
  (void)engine->persist();
  return stopped;
}

}  // namespace keel::node
