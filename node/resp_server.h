// RespServer: the Redis-protocol front end of a keel node, on core::Env.
//
// It listens on one address and serves each client connection in its own
// fiber: bytes -> net::resp::RequestParser -> command -> ReplyWriter ->
// bytes. Commands of one connection run strictly one after another, so
// pipelined requests are answered in the order they were sent, and a read
// that follows a write on the same connection sees it.
//
// The server knows nothing of Raft: writes become node/commands.h commands
// proposed through Replicator::propose(); reads (GET, MGET, EXISTS, STRLEN,
// DBSIZE) call Replicator::read_barrier() (skipped for stale reads after
// READONLY) and then read Replicator::read_view(). The Replicator's outcome
// contract becomes replies as follows:
//   FailedPrecondition "host:port" -> "-MOVED <slot> <host:port>", slot of
//                                     the command's first key (0 if none)
//   FailedPrecondition ""           -> "-CLUSTERDOWN no leader"
//   Unavailable                     -> "-TRYAGAIN <reason>"   (not applied)
//   Aborted                         -> "-UNCERTAIN <reason>"  (maybe applied)
//   any other error                 -> "-ERR <code>: <reason>"
//
// Bad input never takes the node down and never changes data: unknown
// commands, wrong arity, bad options and non-integers get Redis' error
// reply and the connection goes on; a RESP protocol error (malformed
// framing, a bulk length over the limit) gets "-ERR Protocol error: ..."
// and the connection is closed, as redis-server does.
//
// Limits (RespServerLimits): connections (beyond clients_max a new client
// gets "-ERR max number of clients reached" and is closed), request size
// (the parser's Limits), replies batched per write, and one reply's size.
// Memory per connection is bounded: the server reads more bytes only after
// it has answered every complete command already buffered, so a deep
// pipeline waits in the client's socket, not in the server.
//
// Lifetime: the server's fibers live in a core::FiberGroup owned by the
// server; destroying the server kills them (unwinding their stacks) before
// the members they use go away.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/env.h"
#include "core/fiber_group.h"
#include "net/resp/command.h"
#include "net/resp/reply_writer.h"
#include "net/resp/value.h"
#include "node/commands.h"
#include "node/replicator.h"

namespace keel::node {

// One INFO section. `body` holds "field:value" lines separated by "\r\n".
struct InfoSection {
  std::string name;  // as displayed, e.g. "Replication"
  std::string body;
};
// Called for every INFO command; returns sections beyond the server's own
// (Server, Clients, Stats, Keyspace), e.g. Replication or Raft.
using InfoProvider = std::function<std::vector<InfoSection>()>;

// One node of the cluster as CLUSTER commands show it.
struct ClusterMember {
  std::string id;          // 40 lowercase hex characters: see cluster_node_id()
  core::Address address;   // its client (RESP) address
  bool leader = false;     // leads at least one slot range
  bool self = false;       // the node serving this connection
  bool failed = false;     // the cluster deems it down (fenced)
};
// A slot range with a leader: its master and its other replicas, as
// indexes into ClusterTopology::members.
struct ClusterSlotRange {
  uint16_t first = 0;
  uint16_t last = 0;
  size_t master = 0;
  std::vector<size_t> replicas;
};
struct ClusterTopology {
  std::vector<ClusterMember> members;
  // Every slot range that has a leader, in slot order.
  std::vector<ClusterSlotRange> ranges;
  uint64_t epoch = 0;  // the configuration epoch (e.g. the Raft term)
  // False while this node cannot yet serve every range it is named master
  // of (starting): CLUSTER INFO then says cluster_state:fail.
  bool ready = true;
};
// Says whether this node serves a keyed command here: nullopt when it does,
// else the error reply ("MOVED 3999 10.0.0.2:6379", "CROSSSLOT ...",
// "CLUSTERDOWN ..."). `readonly`: the connection asked for READONLY.
using RouteCheck =
    std::function<std::optional<std::string>(const net::resp::CommandSpec&, const net::resp::Argv&, bool readonly)>;
// Called for every CLUSTER command. Without a provider the server answers
// CLUSTER with "-ERR This instance has cluster support disabled".
using TopologyProvider = std::function<ClusterTopology()>;

// A stable 40-hex-character cluster node id derived from a NodeId.
std::string cluster_node_id(core::NodeId id);

struct RespServerLimits {
  // Connections served at once; one more is refused with an error.
  size_t clients_max = 10000;
  // Bytes read from a client at a time.
  size_t read_chunk_bytes = 16 * 1024;
  // Replies buffered before they are written out, when a client pipelines.
  size_t pipeline_replies_max = 1024;
  // Reply bytes buffered before they are written out.
  size_t output_flush_bytes = 64 * 1024;
  // The largest single reply (MGET of many large values); beyond it the
  // command gets an error reply instead.
  size_t reply_bytes_max = 256 * 1024 * 1024;
  // Request limits. A bulk string longer than a value may be is a protocol
  // error; a whole request is bounded well below the log's frame limit.
  net::resp::Limits request = default_request_limits();

  static net::resp::Limits default_request_limits() {
    net::resp::Limits l;
    l.bulk_bytes_max = kUserValueBytesMax;
    l.command_bytes_max = size_t{128} * 1024 * 1024;
    return l;
  }
};

struct RespServerOptions {
  core::Address address;
  // When not empty, clients must AUTH (or HELLO ... AUTH) first: every other
  // command gets "-NOAUTH Authentication required.".
  std::string requirepass;
  RespServerLimits limits;
  InfoProvider info;          // may be empty
  TopologyProvider topology;  // may be empty (standalone mode)
  // May be empty: every command is served here, and the replicator's
  // refusals become redirects (a single Raft group).
  RouteCheck route;
  // Reported as redis_version (INFO) and version (HELLO): clients gate
  // features on it.
  std::string redis_version = "7.2.0";
};

// Counters for INFO (clients and stats sections).
struct RespServerStats {
  uint64_t connected_clients = 0;
  uint64_t total_connections_received = 0;
  uint64_t rejected_connections = 0;
  uint64_t total_commands_processed = 0;
  uint64_t total_error_replies = 0;
  uint64_t protocol_errors = 0;
  uint64_t total_net_input_bytes = 0;
  uint64_t total_net_output_bytes = 0;
};

class RespServer {
 public:
  // Borrows `env` and `replicator`; both must outlive the server.
  RespServer(core::Env& env, Replicator& replicator, RespServerOptions options);
  ~RespServer();
  RespServer(const RespServer&) = delete;
  RespServer& operator=(const RespServer&) = delete;

  // Starts listening and accepting. Errors from Network::listen
  // (AlreadyExists, InvalidArgument). Precondition: not started.
  core::Status start();
  // Stops accepting and closes every client connection; their fibers end on
  // their own (a fiber waiting in propose() finishes that call first).
  // Idempotent; never suspends.
  void stop();

  const core::Address& address() const { return options_.address; }
  const RespServerStats& stats() const { return stats_; }

 private:
  struct Client;
  enum class After : uint8_t { kContinue, kClose };

  void accept_loop();
  void serve(std::unique_ptr<core::Stream> stream);
  // Writes out what the client's writer holds. False if the stream broke.
  bool flush(Client& c);
  After execute(Client& c, const net::resp::Argv& argv);

  // Command handlers: each writes exactly one reply into c.out.
  void cmd_get(Client& c, const net::resp::Argv& argv);
  void cmd_mget(Client& c, const net::resp::Argv& argv);
  void cmd_exists(Client& c, const net::resp::Argv& argv);
  void cmd_strlen(Client& c, const net::resp::Argv& argv);
  void cmd_dbsize(Client& c, const net::resp::Argv& argv);
  void cmd_set(Client& c, const net::resp::Argv& argv);
  void cmd_incr(Client& c, const net::resp::Argv& argv, int64_t sign, bool by);
  void cmd_hello(Client& c, const net::resp::Argv& argv);
  void cmd_auth(Client& c, const net::resp::Argv& argv);
  void cmd_client(Client& c, const net::resp::Argv& argv);
  void cmd_command(Client& c, const net::resp::Argv& argv);
  void cmd_info(Client& c, const net::resp::Argv& argv);
  void cmd_cluster(Client& c, const net::resp::Argv& argv);

  // Proposes `command` and writes its reply. May suspend.
  void propose(Client& c, const Command& command, core::ByteView first_key);
  // Runs the read barrier; on failure writes the error reply and returns
  // false. May suspend.
  bool barrier(Client& c, core::ByteView first_key);
  // Reads one user key through the read view; on failure writes the error
  // reply and returns an error. May suspend.
  core::Result<std::optional<core::Bytes>> read_key(Client& c, core::ByteView key);
  void reply_error(Client& c, std::string_view message);
  void reply_replication_error(Client& c, const core::Status& s, core::ByteView first_key);
  // A long text reply: bulk in RESP2, verbatim "txt" in RESP3.
  void reply_text(Client& c, std::string_view text);
  std::string info_text(const std::vector<std::string>& wanted);

  core::Env& env_;
  Replicator& replicator_;
  RespServerOptions options_;
  RespServerStats stats_;
  std::unique_ptr<core::Listener> listener_;
  // Connected clients by id, for stop() and INFO; entries are removed by
  // the fiber that serves them as it ends.
  std::map<uint64_t, Client*> clients_;
  uint64_t next_client_id_ = 1;
  core::Instant started_at_;
  bool stopped_ = false;
  // Last: destroyed first, killing the fibers that use the members above.
  core::FiberGroup fibers_;
};

}  // namespace keel::node
