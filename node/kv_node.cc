#include "node/kv_node.h"

#include "node/kv_state_machine.h"
#include "node/resp_server.h"
#include "storage/kv_engine.h"

namespace keel::node {

core::Status run_kv_node(core::Env& env, const KvNodeConfig& config) {
  KEEL_ASSERT(config.open_engine != nullptr);
  KEEL_TRY_ASSIGN(std::unique_ptr<storage::KvEngine> engine, config.open_engine(env));
  KEEL_TRY_ASSIGN(std::unique_ptr<KvStateMachine> machine, KvStateMachine::open(env.fibers, *engine));
  RaftNode raft(env, config.raft, *machine);
  raft.set_observer(config.observer);
  KEEL_TRY(raft.start());

  RespServerOptions options;
  options.address = config.client_address;
  options.requirepass = config.requirepass;
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
    for (auto& [id, addresses] : raft_options.members) {
      ClusterMember m;
      m.id = cluster_node_id(id);
      m.address = addresses.client;
      m.leader = id == leader;
      m.self = id == raft_options.id;
      t.members.push_back(std::move(m));
    }
    t.epoch = raft.raft() != nullptr ? raft.raft()->term().value() : 0;
    return t;
  };
  RespServer server(env, raft, std::move(options));
  KEEL_TRY(server.start());
  if (config.on_running) config.on_running(&raft, machine.get());
  struct Detach {
    const KvNodeConfig& config;
    ~Detach() {
      if (config.on_running) config.on_running(nullptr, nullptr);
    }
  } detach{config};
  env.trace.info("keel node " + config.raft.id.to_string() + " serving RESP on " +
                 config.client_address.to_string());
  core::Status stopped = raft.wait();
  server.stop();
  // Make what was applied durable before the process goes, if the disk
  // still works; recovery would replay the log anyway.
  (void)machine->persist();
  return stopped;
}

}  // namespace keel::node
