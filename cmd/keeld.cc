// keeld: a keel node. Clients speak the Redis protocol; the keyspace is
// split over --partitions partitions, each replicated over its in-sync
// replicas under a Raft metadata controller (--partitions 0: one Raft group
// replicates everything, as keel 0.1 did); state lives in RocksDB under
// --data-dir.
//
//   keeld                                   a single-node store on 127.0.0.1:6379
//   keeld --id 2 --listen 127.0.0.1:6380 --peer-listen 127.0.0.1:7380
//         --peers 1=127.0.0.1:7379,2=127.0.0.1:7380,3=127.0.0.1:7381 --data-dir n2
//   keeld --metrics-listen 127.0.0.1:9121    also serve Prometheus metrics at
//                                           http://127.0.0.1:9121/metrics
#include <sys/resource.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <cstdio>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <toml++/toml.h>

#include "net/posix/posix_env.h"
#include "node/cluster_node.h"
#include "node/kv_node.h"
#include "storage/rocksdb/rocks_kv_engine.h"

namespace {

constexpr const char* kVersion = "keeld 0.2.0";

using keel::core::Address;
using keel::core::NodeId;

struct Flags {
  uint32_t id = 1;
  std::string listen = "127.0.0.1:6379";
  std::string peer_listen = "127.0.0.1:7379";
  std::string peers;
  std::string data_dir = "keel-data";
  std::string log_level = "info";
  std::string requirepass;
  std::string cluster_secret = "keel";
  // Empty: no metrics endpoint.
  std::string metrics_listen;
  uint64_t tick_ms = 100;
  // Redis' maxclients, and its default.
  uint64_t maxclients = 10000;
  // Partitions of a new cluster (fixed once created); 0: one Raft group.
  uint64_t partitions = 64;
  uint64_t replication_factor = 3;
  uint64_t min_insync_replicas = 2;
  std::string acks = "all";
  uint64_t lease_ms = 1500;
};

// Descriptors a node needs besides one per client: RocksDB's tables and
// logs, the Raft log, the listeners, the event loop's own, the metrics
// endpoint's connections. Two more per peer (one link each way) and per
// partition are added.
constexpr uint64_t kFilesReserved = 64;

struct ClientLimit {
  uint64_t clients = 0;      // clients to serve; 0: not even the reserve fits
  uint64_t open_files = 0;   // the RLIMIT_NOFILE soft limit now in force
};

// Fits the client limit to the open-file limit, as redis-server does. The
// soft RLIMIT_NOFILE is raised (up to the hard limit) to make room for
// `clients` clients plus `reserved`; where it cannot go that high the
// client limit is lowered instead, so that a client past it is told "max
// number of clients reached" rather than left waiting in the accept queue
// of a process that has run out of descriptors.
ClientLimit fit_clients_to_open_files(uint64_t clients, uint64_t reserved) {
  rlimit rl{};
  if (::getrlimit(RLIMIT_NOFILE, &rl) != 0) return {clients, 0};
  const rlim_t wanted = static_cast<rlim_t>(clients + reserved);
  if (rl.rlim_cur != RLIM_INFINITY && rl.rlim_cur < wanted) {
    rlimit raised = rl;
    raised.rlim_cur = rl.rlim_max == RLIM_INFINITY ? wanted : std::min(wanted, rl.rlim_max);
    if (::setrlimit(RLIMIT_NOFILE, &raised) == 0) rl = raised;
  }
  if (rl.rlim_cur == RLIM_INFINITY || rl.rlim_cur >= wanted) return {clients, static_cast<uint64_t>(rl.rlim_cur)};
  const uint64_t open_files = static_cast<uint64_t>(rl.rlim_cur);
  return {open_files > reserved ? open_files - reserved : 0, open_files};
}

// Parses "1=host:port,2=host:port".
keel::core::Result<std::map<NodeId, Address>> parse_peers(const std::string& text) {
  std::map<NodeId, Address> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find(',', start);
    if (end == std::string::npos) end = text.size();
    const std::string item = text.substr(start, end - start);
    const size_t eq = item.find('=');
    if (eq == std::string::npos) return keel::core::invalid_argument("--peers entry '" + item + "' is not ID=HOST:PORT");
    char* tail = nullptr;
    const unsigned long id = std::strtoul(item.c_str(), &tail, 10);
    if (tail != item.c_str() + eq || id == 0 || id > UINT32_MAX) {
      return keel::core::invalid_argument("--peers entry '" + item + "' has no valid node id");
    }
    KEEL_TRY_ASSIGN(Address a, Address::parse(item.substr(eq + 1)));
    if (!out.emplace(NodeId(static_cast<uint32_t>(id)), a).second) {
      return keel::core::invalid_argument("--peers names node " + std::to_string(id) + " twice");
    }
    start = end + 1;
  }
  return out;
}

// Values from a TOML file, for every key the command line did not set. A
// key keeld does not know, or a value of the wrong type or range, is an
// error: a misspelt setting must not be silently ignored.
bool apply_config_file(const std::string& path, CLI::App& app, Flags& f) {
  toml::table t;
  try {
    t = toml::parse_file(path);
  } catch (const toml::parse_error& e) {
    std::fprintf(stderr, "keeld: %s: %s\n", path.c_str(), std::string(e.description()).c_str());
    return false;
  }
  struct StringKey {
    const char* key;
    std::string* into;
  };
  struct IntegerKey {
    const char* key;
    int64_t min;
    int64_t max;
    std::function<void(int64_t)> set;
  };
  const StringKey strings[] = {
      {"listen", &f.listen},           {"peer_listen", &f.peer_listen},       {"peers", &f.peers},
      {"data_dir", &f.data_dir},       {"log_level", &f.log_level},           {"requirepass", &f.requirepass},
      {"cluster_secret", &f.cluster_secret}, {"metrics_listen", &f.metrics_listen},
      {"acks", &f.acks},
  };
  const IntegerKey integers[] = {
      {"id", 1, 1000000, [&f](int64_t v) { f.id = static_cast<uint32_t>(v); }},
      {"maxclients", 1, 1000000, [&f](int64_t v) { f.maxclients = static_cast<uint64_t>(v); }},
      {"tick_ms", 1, 10000, [&f](int64_t v) { f.tick_ms = static_cast<uint64_t>(v); }},
      {"partitions", 0, 16384, [&f](int64_t v) { f.partitions = static_cast<uint64_t>(v); }},
      {"replication_factor", 1, 16, [&f](int64_t v) { f.replication_factor = static_cast<uint64_t>(v); }},
      {"min_insync_replicas", 1, 16, [&f](int64_t v) { f.min_insync_replicas = static_cast<uint64_t>(v); }},
      {"lease_ms", 100, 60000, [&f](int64_t v) { f.lease_ms = static_cast<uint64_t>(v); }},
  };
  // The command-line flag of a key: "data_dir" -> "--data-dir".
  auto flag_of = [](std::string key) {
    for (char& c : key) c = c == '_' ? '-' : c;
    return "--" + key;
  };
  bool ok = true;
  for (const auto& [key, value] : t) {
    const std::string name(key.str());
    bool known = false;
    for (const StringKey& k : strings) {
      if (name != k.key) continue;
      known = true;
      if (!value.is_string()) {
        std::fprintf(stderr, "keeld: %s: %s must be a string\n", path.c_str(), k.key);
        ok = false;
      } else if (app.count(flag_of(name)) == 0) {
        *k.into = *value.value<std::string>();
      }
    }
    for (const IntegerKey& k : integers) {
      if (name != k.key) continue;
      known = true;
      const auto v = value.value<int64_t>();
      if (!value.is_integer() || !v || *v < k.min || *v > k.max) {
        std::fprintf(stderr, "keeld: %s: %s must be an integer in [%lld, %lld]\n", path.c_str(), k.key,
                     static_cast<long long>(k.min), static_cast<long long>(k.max));
        ok = false;
      } else if (app.count(flag_of(name)) == 0) {
        k.set(*v);
      }
    }
    if (!known) {
      std::fprintf(stderr, "keeld: %s: unknown setting '%s'\n", path.c_str(), name.c_str());
      ok = false;
    }
  }
  return ok;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"keeld: a keel node (Redis protocol, Raft replication, RocksDB)"};
  Flags f;
  std::string config_path;
  app.set_version_flag("--version", kVersion);
  app.add_option("--id", f.id, "this node's id (1..)")->check(CLI::Range(1u, 1000000u));
  app.add_option("--listen", f.listen, "client (RESP) address HOST:PORT");
  app.add_option("--peer-listen", f.peer_listen, "address for other nodes HOST:PORT");
  app.add_option("--peers", f.peers, "every member's peer address, this node included: 1=HOST:PORT,2=...");
  app.add_option("--data-dir", f.data_dir, "directory for the Raft log and the RocksDB state");
  app.add_option("--config", config_path, "TOML file with the same keys (id, listen, peer_listen, peers, data_dir, ...)");
  app.add_option("--log-level", f.log_level, "debug|info|warn|error|off");
  app.add_option("--requirepass", f.requirepass, "password clients must AUTH with");
  app.add_option("--cluster-secret", f.cluster_secret, "secret shared by the nodes of one cluster");
  app.add_option("--metrics-listen", f.metrics_listen,
                 "serve Prometheus metrics over HTTP at HOST:PORT/metrics (default: off)");
  app.add_option("--maxclients", f.maxclients,
                 "clients served at once; one more is refused with an error (lowered to fit ulimit -n)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{1000000}));
  app.add_option("--tick-ms", f.tick_ms, "Raft tick; elections time out after 10-20 ticks")->check(CLI::Range(1, 10000));
  app.add_option("--partitions", f.partitions,
                 "partitions of a new cluster, fixed once created (0: one Raft group replicates everything)")
      ->check(CLI::Range(uint64_t{0}, uint64_t{16384}));
  app.add_option("--replication-factor", f.replication_factor, "replicas of each partition (capped by the node count)")
      ->check(CLI::Range(uint64_t{1}, uint64_t{16}));
  app.add_option("--min-insync-replicas", f.min_insync_replicas,
                 "in-sync replicas an acks=all write needs; fewer: -NOREPLICAS")
      ->check(CLI::Range(uint64_t{1}, uint64_t{16}));
  app.add_option("--acks", f.acks, "all: acknowledge once committed by the ISR; 1: once durable on the leader");
  app.add_option("--lease-ms", f.lease_ms,
                 "controller session lease: a node silent this long (plus 200 ms drift) loses its partitions")
      ->check(CLI::Range(uint64_t{100}, uint64_t{60000}));
  CLI11_PARSE(app, argc, argv);
  if (!config_path.empty() && !apply_config_file(config_path, app, f)) return 2;
  if (f.acks != "all" && f.acks != "1") {
    std::fprintf(stderr, "keeld: acks must be all or 1, not '%s'\n", f.acks.c_str());
    return 2;
  }
  if (f.min_insync_replicas > f.replication_factor) {
    std::fprintf(stderr, "keeld: --min-insync-replicas %llu is more than --replication-factor %llu\n",
                 static_cast<unsigned long long>(f.min_insync_replicas),
                 static_cast<unsigned long long>(f.replication_factor));
    return 2;
  }

  keel::core::LogLevel level;
  if (!keel::core::parse_log_level(f.log_level, &level)) {
    std::fprintf(stderr, "keeld: --log-level must be debug, info, warn, error or off\n");
    return 2;
  }
  auto listen = Address::parse(f.listen);
  auto peer_listen = Address::parse(f.peer_listen);
  if (!listen.is_ok() || !peer_listen.is_ok()) {
    std::fprintf(stderr, "keeld: %s\n", (!listen.is_ok() ? listen.status() : peer_listen.status()).to_string().c_str());
    return 2;
  }
  std::optional<Address> metrics_listen;
  if (!f.metrics_listen.empty()) {
    auto parsed = Address::parse(f.metrics_listen);
    if (!parsed.is_ok()) {
      std::fprintf(stderr, "keeld: --metrics-listen wants HOST:PORT (port 1..65535): %s\n",
                   parsed.status().message().c_str());
      return 2;
    }
    if (*parsed == *listen || *parsed == *peer_listen) {
      std::fprintf(stderr, "keeld: --metrics-listen %s is already the %s address\n", parsed->to_string().c_str(),
                   *parsed == *listen ? "--listen" : "--peer-listen");
      return 2;
    }
    metrics_listen = *parsed;
  }
  std::map<NodeId, Address> peers;
  if (f.peers.empty()) {
    peers[NodeId(f.id)] = *peer_listen;
  } else {
    auto parsed = parse_peers(f.peers);
    if (!parsed.is_ok()) {
      std::fprintf(stderr, "keeld: %s\n", parsed.status().to_string().c_str());
      return 2;
    }
    peers = std::move(*parsed);
    if (peers.count(NodeId(f.id)) == 0) {
      std::fprintf(stderr, "keeld: --peers must include this node (--id %u)\n", f.id);
      return 2;
    }
  }

  // A partitioned node also holds each partition's log open, and one more
  // while it compacts or installs a snapshot.
  const uint64_t reserved = kFilesReserved + 2 * (peers.size() - 1) + 2 * f.partitions;
  const ClientLimit client_limit = fit_clients_to_open_files(f.maxclients, reserved);
  if (client_limit.clients == 0) {
    std::fprintf(stderr, "keeld: the open file limit (ulimit -n) of %llu is too low: keeld needs at least %llu\n",
                 static_cast<unsigned long long>(client_limit.open_files),
                 static_cast<unsigned long long>(reserved + 1));
    return 1;
  }
  if (client_limit.clients < f.maxclients) {
    std::fprintf(stderr, "keeld: serving at most %llu clients, not %llu: the open file limit (ulimit -n) is %llu\n",
                 static_cast<unsigned long long>(client_limit.clients),
                 static_cast<unsigned long long>(f.maxclients),
                 static_cast<unsigned long long>(client_limit.open_files));
  }

  keel::posix::PosixEnvOptions env_options;
  env_options.data_dir = f.data_dir;
  env_options.node = NodeId(f.id);
  env_options.trace_source = "n" + std::to_string(f.id);
  env_options.log_level = level;
  env_options.stop_on_signals = true;
  auto posix = keel::posix::PosixEnv::create(env_options);
  if (!posix.is_ok()) {
    std::fprintf(stderr, "keeld: cannot open data directory %s: %s\n", f.data_dir.c_str(),
                 posix.status().to_string().c_str());
    return 1;
  }
  keel::core::Env& env = (*posix)->env();

  std::map<NodeId, keel::node::MemberAddresses> members;
  for (auto& [id, peer] : peers) {
    keel::node::MemberAddresses m;
    m.peer = peer;
    // Other nodes' client addresses arrive in their handshakes.
    if (id == NodeId(f.id)) m.client = *listen;
    members[id] = m;
  }
  const std::string engine_path = f.data_dir + "/kv";
  keel::core::Clock* clock = &env.clock;
  auto open_engine = [engine_path, clock](keel::core::Env&)
      -> keel::core::Result<std::unique_ptr<keel::storage::KvEngine>> {
    keel::storage::RocksKvOptions o;
    o.clock = clock;
    KEEL_TRY_ASSIGN(auto engine, keel::storage::RocksKvEngine::open(engine_path, o));
    return std::unique_ptr<keel::storage::KvEngine>(std::move(engine));
  };

  keel::node::KvNodeConfig config;
  config.raft.id = NodeId(f.id);
  config.raft.members = members;
  config.peers.cluster_secret = f.cluster_secret;
  config.raft.tick_interval = keel::core::Duration::millis(static_cast<int64_t>(f.tick_ms));
  config.client_address = *listen;
  config.requirepass = f.requirepass;
  config.client_limits.clients_max = static_cast<size_t>(client_limit.clients);
  config.metrics_address = metrics_listen;
  config.open_engine = open_engine;

  keel::node::ClusterNodeConfig cluster;
  cluster.controller = config.raft;
  cluster.peers = config.peers;
  cluster.service.partitions = static_cast<uint32_t>(f.partitions);
  const uint64_t rf = std::min<uint64_t>(f.replication_factor, peers.size());
  cluster.service.replication_factor = static_cast<uint32_t>(rf);
  cluster.service.sessions.lease = keel::core::Duration::millis(static_cast<int64_t>(f.lease_ms));
  // A replica set smaller than asked (fewer nodes) cannot need more
  // in-sync replicas than it has.
  cluster.partition.min_insync_replicas = static_cast<size_t>(std::min<uint64_t>(f.min_insync_replicas, rf));
  cluster.acks_all = f.acks == "all";
  cluster.client_address = *listen;
  cluster.requirepass = f.requirepass;
  cluster.client_limits.clients_max = static_cast<size_t>(client_limit.clients);
  cluster.metrics_address = metrics_listen;
  cluster.open_engine = open_engine;
  if (cluster.partition.min_insync_replicas < f.min_insync_replicas && f.partitions > 0) {
    std::fprintf(stderr, "keeld: %zu node(s): replication factor %llu, min in-sync replicas %zu\n", peers.size(),
                 static_cast<unsigned long long>(rf), cluster.partition.min_insync_replicas);
  }

  int exit_code = 0;
  keel::posix::PosixEnv* owner = posix->get();
  const bool partitioned = f.partitions > 0;
  env.spawn("keeld.main", [&env, &config, &cluster, partitioned, &exit_code, owner] {
    const keel::core::Status s =
        partitioned ? keel::node::run_cluster_node(env, cluster) : keel::node::run_kv_node(env, config);
    if (!s.is_ok()) {
      std::fprintf(stderr, "keeld: node stopped: %s\n", s.to_string().c_str());
      exit_code = 1;
    }
    owner->stop();
  });
  const std::string metrics_note = metrics_listen ? ", metrics on http://" + metrics_listen->to_string() + "/metrics" : "";
  const std::string layout = partitioned ? std::to_string(f.partitions) + " partitions, acks=" + f.acks
                                         : std::string("one Raft group");
  std::fprintf(stderr, "%s: node %u serving RESP on %s, peers on %s%s, %s, data in %s\n", kVersion, f.id,
               listen->to_string().c_str(), peer_listen->to_string().c_str(), metrics_note.c_str(), layout.c_str(),
               f.data_dir.c_str());
  (*posix)->run();
  return exit_code;
}
