#include "node/kv_node.h"

#include <optional>

#include "node/kv_state_machine.h"
#include "node/metrics_server.h"
#include "node/resp_server.h"
#include "storage/kv_engine.h"

namespace keel::node {

std::string render_node_metrics(const KvNodeConfig& config, const RaftNode& raft, KvStateMachine& machine,
                                const RespServer& server) {
  MetricsWriter w;
  w.gauge("keel_up", "1 while the node is serving.", 1);
  w.gauge("keel_node_id", "This node's Raft id.", config.raft.id.value());
  if (const consensus::Raft* r = raft.raft(); r != nullptr) {
    w.gauge("keel_raft_term", "The current Raft term.", r->term().value());
    w.gauge("keel_raft_is_leader", "1 if this node is the Raft leader, else 0.", raft.is_leader() ? 1 : 0);
    w.gauge("keel_raft_leader_id", "The leader this node knows of; 0 when none.", r->leader_id().value());
    w.gauge("keel_raft_commit_index", "Highest log index known to be committed.", r->commit_index().value());
    w.gauge("keel_raft_applied_index", "Highest log index applied to the state machine.",
            machine.applied_index().value());
    w.gauge("keel_raft_last_index", "Index of the last entry in this node's log.", r->last_index().value());
    w.gauge("keel_raft_snapshot_index", "Index covered by the latest snapshot (log compacted up to it).",
            r->snapshot_meta().index.value());
    // Leader only: Raft tracks followers' progress while it leads.
    const auto& progress = r->progress();
    const uint64_t last = r->last_index().value();
    for (const auto& [peer, p] : progress) {
      w.gauge("keel_raft_peer_match_index", "Highest log index known to be replicated on the peer (leader only).",
              p.match().value(), {{"peer", peer.to_string()}});
    }
    for (const auto& [peer, p] : progress) {
      const uint64_t match = p.match().value();
      w.gauge("keel_raft_peer_lag_entries", "Entries the peer's log is behind the leader's (leader only).",
              last > match ? last - match : 0, {{"peer", peer.to_string()}});
    }
  }
  w.counter("keel_raft_applied_entries_total", "Log entries applied since the node started.",
            raft.applied_entries());
  w.gauge("keel_clients_connected", "RESP client connections open now.", server.stats().connected_clients);
  w.counter("keel_commands_processed_total", "RESP commands processed since the node started.",
            server.stats().total_commands_processed);
  // The family is left out when the engine cannot count its keys; a
  // missing series is easier to alert on than a wrong value.
  if (core::Result<uint64_t> keys = machine.read_view().size(); keys.is_ok()) {
    w.gauge("keel_keys", "Keys in the applied state (as INFO keyspace).", *keys);
  }
  w.gauge("keel_durable_applied_index", "Highest applied log index made durable by the state machine.",
          machine.durable_index().value());
  return w.take();
}

core::Status run_kv_node(core::Env& env, const KvNodeConfig& config) {
  KEEL_ASSERT(config.open_engine != nullptr);
  KEEL_TRY_ASSIGN(std::unique_ptr<storage::KvEngine> engine, config.open_engine(env));
  KEEL_TRY_ASSIGN(std::unique_ptr<KvStateMachine> machine, KvStateMachine::open(env.fibers, *engine));
  PeerBusOptions peers = config.peers;
  peers.id = config.raft.id;
  peers.members = config.raft.members;
  PeerBus bus(env, std::move(peers));
  RaftNode raft(env, config.raft, bus, *machine, &machine->read_view());
  raft.set_observer(config.observer);
  KEEL_TRY(raft.start());
  KEEL_TRY(bus.start());

  RespServerOptions options;
  options.address = config.client_address;
  options.requirepass = config.requirepass;
  options.limits = config.client_limits;
  options.info = [&raft, &machine] {
    std::vector<InfoSection> sections;
    sections.push_back(InfoSection{"Replication", raft.info_replication()});
    std::string persistence = "durable_applied_index:" + machine->durable_index().to_string() + "\r\n";
    sections.push_back(InfoSection{"Persistence", persistence});
    return sections;
  };
  const RaftNodeOptions& raft_options = config.raft;
  options.topology = [&raft, &raft_options] {
    ClusterTopology t;
    const core::NodeId leader = raft.raft() != nullptr ? raft.raft()->leader_id() : core::NodeId();
    for (auto& [id, member] : raft_options.members) {
      // A member is shown once its client address is known (configured, or
      // learned when it connects); clients cannot use one without it.
      auto address = raft.client_address(id);
      if (!address) continue;
      ClusterMember m;
      m.id = cluster_node_id(id);
      m.address = *address;
      m.leader = id == leader;
      m.self = id == raft_options.id;
      t.members.push_back(std::move(m));
    }
    t.epoch = raft.raft() != nullptr ? raft.raft()->term().value() : 0;
    // One group: its leader masters every slot, the others replicate.
    for (size_t i = 0; i < t.members.size(); ++i) {
      if (!t.members[i].leader) continue;
      ClusterSlotRange all{0, static_cast<uint16_t>(net::resp::kSlotCount - 1), i, {}};
      for (size_t j = 0; j < t.members.size(); ++j) {
        if (j != i) all.replicas.push_back(j);
      }
      t.ranges.push_back(std::move(all));
      break;
    }
    return t;
  };
  RespServer server(env, raft, std::move(options));
  KEEL_TRY(server.start());
  std::optional<MetricsServer> metrics;
  KEEL_TRY(start_metrics_endpoint(
      env, config.metrics_address,
      [&config, &raft, &machine, &server] { return render_node_metrics(config, raft, *machine, server); }, metrics));
  if (config.on_running) config.on_running(&raft, machine.get());
  struct Detach {
    const KvNodeConfig& config;
    ~Detach() {
      if (config.on_running) config.on_running(nullptr, nullptr);
    }
  } detach{config};
  env.trace.info("keel node " + config.raft.id.to_string() + " serving RESP on " +
                 config.client_address.to_string() +
                 (config.metrics_address ? ", metrics on " + config.metrics_address->to_string() : ""));
  core::Status stopped = raft.wait();
  if (metrics) metrics->stop();
  server.stop();
  bus.stop();
  // Make what was applied durable before the process goes, if the disk
  // still works; recovery would replay the log anyway.
  (void)machine->persist();
  return stopped;
}

}  // namespace keel::node
