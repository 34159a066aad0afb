// RespServer in the simulator, single node, with a test-only Replicator
// that applies each command at once (KvStateMachine over MemKvEngine).
// Clients speak raw RESP bytes (exact replies as redis-server sends them)
// or go through workloads::RespClient.
//
// Assertions inside simulated fibers use CHECK (which does not throw: an
// exception escaping a fiber aborts); REQUIRE is used outside the world.
#include "node/resp_server.h"

#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/resp/reply_parser.h"
#include "tests/node/sim_client.h"
#include "node/kv_state_machine.h"
#include "sim/world.h"
#include "storage/mem_kv_engine.h"
#include "tests/node/kv_model.h"
#include "workloads/resp_client.h"

using keel::core::Address;
using keel::core::Bytes;
using keel::core::Duration;
using keel::core::Env;
using keel::core::Status;
using keel::net::resp::Value;
using keel::node::ClusterMember;
using keel::node::ClusterTopology;
using keel::node::InfoSection;
using keel::node::KvStateMachine;
using keel::node::ReadView;
using keel::node::Replicator;
using keel::node::RespServer;
using keel::node::RespServerOptions;
using keel::sim::HostId;
using keel::sim::World;

namespace {

const Address kServer{"n1", 6379};

// Applies every proposal immediately; `fail` makes propose() and
// read_barrier() return an outcome of the Replicator contract instead, as a
// follower or a node without quorum would (stale reads still succeed).
class InstantReplicator final : public Replicator {
 public:
  explicit InstantReplicator(KvStateMachine& machine) : machine_(machine) {}

  keel::core::Result<Bytes> propose(keel::core::ByteView key, Bytes command) override {
    last_key = Bytes(key);
    if (!fail.is_ok()) return fail;
    ++proposals;
    return machine_.apply(machine_.applied_index().next(), command);
  }
  Status read_barrier(keel::core::ByteView key, bool stale_ok) override {
    last_key = Bytes(key);
    if (stale_ok) {
      ++stale_reads;
      return Status::ok();
    }
    return fail;
  }
  ReadView& read_view() override { return machine_.read_view(); }

  Status fail;
  Bytes last_key;
  uint64_t proposals = 0;
  uint64_t stale_reads = 0;

 private:
  KvStateMachine& machine_;
};

// A connection speaking raw bytes, collecting the raw reply bytes.
class RawConn {
 public:
  explicit RawConn(Env& env) {
    auto s = env.net.connect(kServer, Duration::seconds(1));
    CHECK(s.is_ok());
    if (s.is_ok()) stream_ = std::move(*s);
  }
  bool ok() const { return stream_ != nullptr; }

  // Sends `request` and reads until `replies` whole replies arrived (or the
  // stream ended); returns the raw bytes of those replies.
  std::string exchange(std::string_view request, size_t replies = 1) {
    if (!stream_) return "<no connection>";
    if (!request.empty() && !stream_->write(request).is_ok()) return "<write failed>";
    return read_replies(replies);
  }
  std::string read_replies(size_t replies) {
    std::string raw;
    size_t got = 0;
    char buf[4096];
    while (got < replies) {
      auto n = stream_->read(buf, sizeof buf);
      if (!n.is_ok() || *n == 0) {
        raw += "<eof>";
        break;
      }
      raw.append(buf, *n);
      parser_.feed(std::string_view(buf, *n));
      for (;;) {
        auto v = parser_.next();
        if (!v.is_ok() || !v->has_value()) break;
        ++got;
      }
    }
    return raw;
  }
  // True when the server closed the connection (after any pending bytes).
  bool closed_by_server() {
    char buf[256];
    for (;;) {
      auto n = stream_->read(buf, sizeof buf);
      if (!n.is_ok() || *n == 0) return true;
    }
  }
  void close() { stream_.reset(); }

 private:
  std::unique_ptr<keel::core::Stream> stream_;
  keel::net::resp::ReplyParser parser_;
};

// One simulated node running the RESP server, and client hosts that run
// test code against it.
class Cluster {
 public:
  explicit Cluster(RespServerOptions options = {}, uint64_t seed = 1) : world_(seed), options_(std::move(options)) {
    options_.address = kServer;
    node_ = world_.add_host("n1", [this](Env& env) {
      auto engine = keel::storage::MemKvEngine::open(env.disk, "kv");
      KEEL_ASSERT(engine.is_ok());
      auto machine = KvStateMachine::open(env.fibers, **engine);
      KEEL_ASSERT(machine.is_ok());
      InstantReplicator replicator(**machine);
      RespServer server(env, replicator, options_);
      KEEL_ASSERT(server.start().is_ok());
      replicator_ = &replicator;
      server_ = &server;
      env.sleep_for(Duration::seconds(1000000));
    });
    world_.start(node_);
    // Opening the engine syncs its directory, which takes simulated time.
    for (int i = 0; i < 1000 && server_ == nullptr; ++i) world_.run_for(Duration::millis(1));
    KEEL_ASSERT(server_ != nullptr);
  }

  // See keel::testing::run_sim_client.
  bool client(const std::function<void(Env&)>& fn) {
    return keel::testing::run_sim_client(world_, clients_, fn);
  }
  void run_for(Duration d) { world_.run_for(d); }

  InstantReplicator& replicator() { return *replicator_; }
  RespServer& server() { return *server_; }
  World& world() { return world_; }

 private:
  World world_;
  RespServerOptions options_;
  HostId node_;
  InstantReplicator* replicator_ = nullptr;
  RespServer* server_ = nullptr;
  int clients_ = 0;
};

std::string req(std::initializer_list<std::string_view> argv) {
  Bytes out;
  keel::net::resp::append_request(out, std::span<const std::string_view>(argv.begin(), argv.size()));
  return out;
}

}  // namespace

TEST_CASE("resp server: replies are byte-exact as redis-server sends them", "[node][sim]") {
  Cluster cluster;
  REQUIRE(cluster.client([](Env& env) {
    RawConn c(env);
    CHECK(c.exchange(req({"PING"})) == "+PONG\r\n");
    CHECK(c.exchange("PING\r\n") == "+PONG\r\n");
    CHECK(c.exchange(req({"ping", "hi"})) == "$2\r\nhi\r\n");
    CHECK(c.exchange(req({"ECHO", "x y"})) == "$3\r\nx y\r\n");
    CHECK(c.exchange(req({"GET", "k"})) == "$-1\r\n");
    CHECK(c.exchange(req({"SET", "k", "v"})) == "+OK\r\n");
    CHECK(c.exchange(req({"GET", "k"})) == "$1\r\nv\r\n");
    CHECK(c.exchange(req({"SET", "k", "w", "NX"})) == "$-1\r\n");
    CHECK(c.exchange(req({"SET", "k", "w", "xx", "GET"})) == "$1\r\nv\r\n");
    CHECK(c.exchange(req({"SET", "k", "z", "IFEQ", "nope"})) == "$-1\r\n");
    CHECK(c.exchange(req({"SET", "k", "z", "IFEQ", "w"})) == "+OK\r\n");
    CHECK(c.exchange(req({"APPEND", "k", "12"})) == ":3\r\n");
    CHECK(c.exchange(req({"STRLEN", "k"})) == ":3\r\n");
    CHECK(c.exchange(req({"INCR", "n"})) == ":1\r\n");
    CHECK(c.exchange(req({"INCRBY", "n", "41"})) == ":42\r\n");
    CHECK(c.exchange(req({"DECR", "n"})) == ":41\r\n");
    CHECK(c.exchange(req({"DECRBY", "n", "-9"})) == ":50\r\n");
    CHECK(c.exchange(req({"MSET", "a", "1", "b", "2"})) == "+OK\r\n");
    CHECK(c.exchange(req({"MGET", "a", "missing", "b"})) == "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n2\r\n");
    CHECK(c.exchange(req({"EXISTS", "a", "a", "missing"})) == ":2\r\n");
    CHECK(c.exchange(req({"DBSIZE"})) == ":4\r\n");
    CHECK(c.exchange(req({"DEL", "a", "b", "missing"})) == ":2\r\n");
    CHECK(c.exchange(req({"SELECT", "0"})) == "+OK\r\n");
    CHECK(c.exchange(req({"CLIENT", "GETNAME"})) == "$-1\r\n");
    CHECK(c.exchange(req({"CLIENT", "SETNAME", "me"})) == "+OK\r\n");
    CHECK(c.exchange(req({"CLIENT", "GETNAME"})) == "$2\r\nme\r\n");
    CHECK(c.exchange(req({"COMMAND", "DOCS"})) == "*0\r\n");
    // RESP3 after HELLO 3: nulls and maps change shape.
    const std::string hello = c.exchange(req({"HELLO", "3"}));
    CHECK(hello.rfind("%7\r\n$6\r\nserver\r\n$5\r\nredis\r\n", 0) == 0);
    CHECK(hello.find("$5\r\nproto\r\n:3\r\n") != std::string::npos);
    CHECK(c.exchange(req({"GET", "missing"})) == "_\r\n");
    CHECK(c.exchange(req({"COMMAND", "DOCS"})) == "%0\r\n");
    CHECK(c.exchange(req({"QUIT"})) == "+OK\r\n");
    CHECK(c.closed_by_server());
  }));
}

TEST_CASE("resp server: pipelined requests are answered in order", "[node][sim]") {
  Cluster cluster;
  REQUIRE(cluster.client([](Env& env) {
    RawConn c(env);
    std::string batch;
    std::string expected;
    const int n = 3000;
    for (int i = 1; i <= n; ++i) {
      batch += req({"INCR", "counter"});
      expected += ":" + std::to_string(i) + "\r\n";
      if (i % 1000 == 0) {
        batch += req({"GET", "counter"});
        expected += "$" + std::to_string(std::to_string(i).size()) + "\r\n" + std::to_string(i) + "\r\n";
      }
    }
    CHECK(c.exchange(batch, n + 3) == expected);
  }));
  REQUIRE(cluster.replicator().proposals == 3000);
}

TEST_CASE("resp server: bad commands get Redis' errors, connection, node and data survive", "[node][sim]") {
  Cluster cluster;
  REQUIRE(cluster.client([](Env& env) {
    RawConn c(env);
    CHECK(c.exchange(req({"SET", "k", "v"})) == "+OK\r\n");
    CHECK(c.exchange(req({"SET", "n", "10"})) == "+OK\r\n");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {req({"FOO", "a", "b"}), "-ERR unknown command 'FOO', with args beginning with: 'a' 'b' \r\n"},
        {req({"GET"}), "-ERR wrong number of arguments for 'get' command\r\n"},
        {req({"get", "k", "extra"}), "-ERR wrong number of arguments for 'get' command\r\n"},
        {req({"INCR", "k"}), "-ERR value is not an integer or out of range\r\n"},
        {req({"INCRBY", "n", "1x"}), "-ERR value is not an integer or out of range\r\n"},
        {req({"INCRBY", "n", "9223372036854775807"}), "-ERR increment or decrement would overflow\r\n"},
        {req({"DECRBY", "n", "-9223372036854775808"}), "-ERR decrement would overflow\r\n"},
        {req({"SET", "k", "x", "EX", "10"}),
         "-ERR EX, PX, EXAT, PXAT, KEEPTTL and PERSIST are not supported: keel keys do not expire\r\n"},
        {req({"SET", "k", "x", "NX", "XX"}), "-ERR syntax error\r\n"},
        {req({"SET", "k", "x", "IFEQ"}), "-ERR syntax error\r\n"},
        {req({"SET", "k", "x", "BOGUS"}), "-ERR syntax error\r\n"},
        {req({"SELECT", "1"}), "-ERR DB index is out of range\r\n"},
        {req({"SELECT", "x"}), "-ERR value is not an integer or out of range\r\n"},
        {req({"MSET", "a"}), "-ERR wrong number of arguments for 'mset' command\r\n"},
        {req({"MSET", "a", "1", "b"}), "-ERR wrong number of arguments for 'mset' command\r\n"},
        {req({"CLIENT", "SETNAME", "a b"}), "-ERR Client names cannot contain spaces, newlines or special characters.\r\n"},
        {req({"CLIENT", "NOPE"}), "-ERR unknown subcommand 'NOPE'. Try CLIENT HELP.\r\n"},
        {req({"HELLO", "4"}), "-NOPROTO unsupported protocol version\r\n"},
        {req({"AUTH", "pw"}),
         "-ERR AUTH <password> called without any password configured for the default user. Are you sure your "
         "configuration is correct?\r\n"},
        {req({"CLUSTER", "SLOTS"}), "-ERR This instance has cluster support disabled\r\n"},
        {req({"SET", std::string(keel::node::kUserKeyBytesMax + 1, 'k'), "v"}),
         "-ERR key of 65536 bytes is over the maximum of 65535\r\n"},
    };
    for (const auto& [request, reply] : cases) {
      INFO(request);
      CHECK(c.exchange(request) == reply);
      // The connection still serves and nothing changed.
      CHECK(c.exchange(req({"MGET", "k", "n"})) == "*2\r\n$1\r\nv\r\n$2\r\n10\r\n");
    }
    CHECK(c.exchange(req({"DBSIZE"})) == ":2\r\n");
  }));
  REQUIRE(cluster.server().stats().protocol_errors == 0);
  REQUIRE(cluster.server().stats().total_error_replies == 21);
}

TEST_CASE("resp server: protocol errors are answered and the connection closed, the node serves on", "[node][sim]") {
  Cluster cluster;
  REQUIRE(cluster.client([](Env& env) {
    RawConn setup(env);
    CHECK(setup.exchange(req({"SET", "k", "v"})) == "+OK\r\n");
    const std::vector<std::pair<std::string, std::string>> cases = {
        {"*1\r\n$4294967296\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
        {"*1\r\n$-5\r\n", "-ERR Protocol error: invalid bulk length\r\n"},
        {"*1\r\nfoo\r\n", "-ERR Protocol error: expected '$', got 'f'\r\n"},
        {"*x\r\n", "-ERR Protocol error: invalid multibulk length\r\n"},
        {"SET k \"unbalanced\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"},
        // A pipelined good command before the bad bytes is still answered.
        {req({"PING"}) + "*1\r\n$99999999999\r\n", "+PONG\r\n-ERR Protocol error: invalid bulk length\r\n"},
    };
    for (const auto& [request, reply] : cases) {
      INFO(request);
      RawConn c(env);
      const size_t replies = std::count(reply.begin(), reply.end(), '\n');
      CHECK(c.exchange(request, replies) == reply);
      CHECK(c.closed_by_server());
      RawConn after(env);
      CHECK(after.exchange(req({"GET", "k"})) == "$1\r\nv\r\n");
    }
  }));
  REQUIRE(cluster.server().stats().protocol_errors == 6);
}

TEST_CASE("resp server: replicator outcomes map to MOVED, CLUSTERDOWN, TRYAGAIN and UNCERTAIN", "[node][sim]") {
  Cluster cluster;
  InstantReplicator& r = cluster.replicator();
  const std::vector<std::pair<Status, std::string>> outcomes = {
      // CLUSTER KEYSLOT foo is 12182 in Redis.
      {keel::core::failed_precondition("n2:6379"), "-MOVED 12182 n2:6379\r\n"},
      {keel::core::failed_precondition(""), "-CLUSTERDOWN no leader\r\n"},
      {keel::core::unavailable("proposal queue full"), "-TRYAGAIN proposal queue full\r\n"},
      {keel::core::aborted("leadership lost"), "-UNCERTAIN leadership lost\r\n"},
      {keel::core::io_error("disk"), "-ERR IoError: disk\r\n"},
  };
  for (const auto& [status, reply] : outcomes) {
    INFO(status.to_string());
    r.fail = status;
    std::string set_reply, get_reply, mget_reply, stale_reply;
    REQUIRE(cluster.client([&](Env& env) {
      RawConn c(env);
      set_reply = c.exchange(req({"SET", "foo", "bar"}));
      get_reply = c.exchange(req({"GET", "foo"}));
      mget_reply = c.exchange(req({"MGET", "foo", "other"}));
      // READONLY: stale reads skip the barrier and are served locally.
      c.exchange(req({"READONLY"}));
      stale_reply = c.exchange(req({"GET", "foo"}));
    }));
    REQUIRE(set_reply == reply);
    if (status.code() == keel::core::Code::kIoError) {
      REQUIRE(get_reply.rfind("-ERR", 0) == 0);
    } else {
      REQUIRE(get_reply == reply);
      REQUIRE(mget_reply == reply);
    }
    REQUIRE(stale_reply == "$-1\r\n");
  }
  REQUIRE(r.proposals == 0);
  REQUIRE(r.stale_reads == outcomes.size());
}

TEST_CASE("resp server: requirepass gates every command but AUTH, HELLO and QUIT", "[node][sim]") {
  RespServerOptions options;
  options.requirepass = "s3cret";
  Cluster cluster(options);
  REQUIRE(cluster.client([](Env& env) {
    RawConn c(env);
    CHECK(c.exchange(req({"GET", "k"})) == "-NOAUTH Authentication required.\r\n");
    CHECK(c.exchange(req({"SET", "k", "v"})) == "-NOAUTH Authentication required.\r\n");
    // Existence and arity are checked before authentication, as in Redis.
    CHECK(c.exchange(req({"NOPE"})) == "-ERR unknown command 'NOPE', with args beginning with: \r\n");
    CHECK(c.exchange(req({"HELLO", "3"})).rfind("-NOAUTH HELLO must be called with the client already authenticated", 0) == 0);
    CHECK(c.exchange(req({"AUTH", "wrong"})) == "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    CHECK(c.exchange(req({"AUTH", "bob", "s3cret"})) == "-WRONGPASS invalid username-password pair or user is disabled.\r\n");
    CHECK(c.exchange(req({"AUTH", "s3cret"})) == "+OK\r\n");
    CHECK(c.exchange(req({"SET", "k", "v"})) == "+OK\r\n");
    RawConn h(env);
    CHECK(h.exchange(req({"HELLO", "2", "AUTH", "default", "s3cret", "SETNAME", "cli"})).rfind("*14\r\n", 0) == 0);
    CHECK(h.exchange(req({"GET", "k"})) == "$1\r\nv\r\n");
    CHECK(h.exchange(req({"CLIENT", "GETNAME"})) == "$3\r\ncli\r\n");
    RawConn q(env);
    CHECK(q.exchange(req({"QUIT"})) == "+OK\r\n");
    CHECK(q.closed_by_server());
  }));
  REQUIRE(cluster.replicator().proposals == 1);
}

TEST_CASE("resp server: beyond max clients a connection is refused with an error", "[node][sim]") {
  RespServerOptions options;
  options.limits.clients_max = 3;
  Cluster cluster(options);
  REQUIRE(cluster.client([&](Env& env) {
    std::vector<std::unique_ptr<RawConn>> conns;
    for (int i = 0; i < 3; ++i) {
      conns.push_back(std::make_unique<RawConn>(env));
      CHECK(conns.back()->exchange(req({"PING"})) == "+PONG\r\n");
    }
    RawConn extra(env);
    CHECK(extra.read_replies(1) == "-ERR max number of clients reached\r\n");
    CHECK(extra.closed_by_server());
    CHECK(conns[0]->exchange(req({"PING"})) == "+PONG\r\n");
    conns.pop_back();
    env.sleep_for(Duration::millis(50));
    RawConn again(env);
    CHECK(again.exchange(req({"PING"})) == "+PONG\r\n");
  }));
  cluster.run_for(Duration::seconds(1));
  REQUIRE(cluster.server().stats().rejected_connections == 1);
  REQUIRE(cluster.server().stats().connected_clients == 0);
}

TEST_CASE("resp server: a thousand idle connections do not stop service", "[node][sim]") {
  Cluster cluster;
  std::string info;
  REQUIRE(cluster.client([&](Env& env) {
    std::vector<std::unique_ptr<keel::core::Stream>> idle;
    for (int i = 0; i < 1000; ++i) {
      auto s = env.net.connect(kServer, Duration::seconds(1));
      CHECK(s.is_ok());
      if (s.is_ok()) idle.push_back(std::move(*s));
    }
    // Half of them start a request and stall in the middle of it.
    for (size_t i = 0; i < idle.size(); i += 2) CHECK(idle[i]->write("*2\r\n$3\r\nGET\r\n").is_ok());
    env.sleep_for(Duration::millis(100));
    RawConn c(env);
    CHECK(c.exchange(req({"SET", "k", "v"})) == "+OK\r\n");
    CHECK(c.exchange(req({"GET", "k"})) == "$1\r\nv\r\n");
    info = c.exchange(req({"INFO", "clients"}));
  }));
  REQUIRE(info.find("connected_clients:1001\r\n") != std::string::npos);
  cluster.run_for(Duration::seconds(1));
  REQUIRE(cluster.server().stats().connected_clients == 0);
  REQUIRE(cluster.server().stats().total_connections_received == 1001);
}

TEST_CASE("resp server: a client that disconnects mid-request changes nothing", "[node][sim]") {
  Cluster cluster;
  REQUIRE(cluster.client([](Env& env) {
    RawConn c(env);
    CHECK(c.exchange(req({"SET", "k", "old"})) == "+OK\r\n");
    const std::string full = req({"SET", "k", "new-value"});
    for (size_t cut : {size_t{1}, size_t{5}, full.size() / 2, full.size() - 1}) {
      RawConn partial(env);
      CHECK(partial.exchange(std::string_view(full).substr(0, cut), 0).empty());
      partial.close();
    }
    env.sleep_for(Duration::millis(50));
    CHECK(c.exchange(req({"GET", "k"})) == "$3\r\nold\r\n");
  }));
  cluster.run_for(Duration::seconds(1));
  REQUIRE(cluster.replicator().proposals == 1);
  REQUIRE(cluster.server().stats().connected_clients == 0);
}

TEST_CASE("resp server: binary keys and values with NUL, CR and LF round-trip", "[node][sim]") {
  Cluster cluster;
  const Bytes key("k\0\r\n{x}", 7);
  const Bytes value("\0\0v\r\n\xff", 6);
  std::vector<Value> replies;
  REQUIRE(cluster.client([&](Env& env) {
    keel::workloads::RespClient client(env, {kServer});
    for (const std::vector<std::string>& argv :
         std::vector<std::vector<std::string>>{{"SET", key, value},
                                               {"GET", key},
                                               {"APPEND", key, Bytes("\0", 1)},
                                               {"STRLEN", key},
                                               {"MGET", key, Bytes("k", 1)},
                                               {"EXISTS", Bytes("k\0", 2)},
                                               {"DEL", key}}) {
      auto r = client.call(argv);
      CHECK(r.is_ok());
      replies.push_back(r.is_ok() ? *r : Value::error("call failed"));
    }
  }));
  REQUIRE(replies.size() == 7);
  REQUIRE(replies[0] == Value::simple_string("OK"));
  REQUIRE(replies[1] == Value::bulk(value));
  REQUIRE(replies[2] == Value::integer_value(7));
  REQUIRE(replies[3] == Value::integer_value(7));
  REQUIRE(replies[4] == Value::array({Value::bulk(value + Bytes("\0", 1)), Value::null()}));
  REQUIRE(replies[5] == Value::integer_value(0));
  REQUIRE(replies[6] == Value::integer_value(1));
}

TEST_CASE("resp server: INFO and CLUSTER come from the node's providers", "[node][sim]") {
  RespServerOptions options;
  options.info = [] { return std::vector<InfoSection>{{"Replication", "role:master\r\nraft_term:7"}}; };
  options.topology = [] {
    ClusterTopology t;
    t.epoch = 7;
    t.members.push_back({keel::node::cluster_node_id(keel::core::NodeId(1)), Address{"n1", 6379}, true, true});
    t.members.push_back({keel::node::cluster_node_id(keel::core::NodeId(2)), Address{"n2", 6379}, false, false});
    t.ranges.push_back({0, 16383, 0, {1}});
    return t;
  };
  Cluster cluster(options);
  const std::string id1 = keel::node::cluster_node_id(keel::core::NodeId(1));
  const std::string id2 = keel::node::cluster_node_id(keel::core::NodeId(2));
  REQUIRE(id1.size() == 40);
  REQUIRE(id1 != id2);
  std::vector<Value> replies;
  REQUIRE(cluster.client([&](Env& env) {
    keel::workloads::RespClient client(env, {kServer});
    for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{{"SET", "a", "1"},
                                                                                       {"INFO"},
                                                                                       {"INFO", "replication"},
                                                                                       {"CLUSTER", "SLOTS"},
                                                                                       {"CLUSTER", "MYID"},
                                                                                       {"CLUSTER", "INFO"},
                                                                                       {"CLUSTER", "NODES"},
                                                                                       {"CLUSTER", "SHARDS"},
                                                                                       {"COMMAND", "COUNT"},
                                                                                       {"CLIENT", "ID"}}) {
      auto r = client.call(argv);
      CHECK(r.is_ok());
      replies.push_back(r.is_ok() ? *r : Value::error("call failed"));
    }
  }));
  const std::string& info = replies[1].str;
  REQUIRE(info.rfind("# Server\r\nredis_version:7.2.0\r\n", 0) == 0);
  REQUIRE(info.find("\r\n\r\n# Replication\r\nrole:master\r\nraft_term:7\r\n") != std::string::npos);
  REQUIRE(info.find("# Clients\r\nconnected_clients:1\r\n") != std::string::npos);
  REQUIRE(info.find("# Keyspace\r\ndb0:keys=1,expires=0,avg_ttl=0\r\n") != std::string::npos);
  REQUIRE(info.find("cluster_enabled:1") != std::string::npos);
  REQUIRE(replies[2].str == "# Replication\r\nrole:master\r\nraft_term:7\r\n");
  const Value node1 = Value::array({Value::bulk("n1"), Value::integer_value(6379), Value::bulk(id1)});
  const Value node2 = Value::array({Value::bulk("n2"), Value::integer_value(6379), Value::bulk(id2)});
  REQUIRE(replies[3] == Value::array({Value::array({Value::integer_value(0), Value::integer_value(16383), node1, node2})}));
  REQUIRE(replies[4] == Value::bulk(id1));
  REQUIRE(replies[5].str.rfind("cluster_state:ok\r\ncluster_slots_assigned:16384\r\n", 0) == 0);
  REQUIRE(replies[6].str == id1 + " n1:6379@16379 myself,master - 0 0 7 connected 0-16383\n" + id2 +
                                " n2:6379@16379 slave " + id1 + " 0 0 7 connected\n");
  REQUIRE(replies[7].type == keel::net::resp::Type::kArray);
  REQUIRE(replies[7].elements.size() == 1);
  REQUIRE(replies[8].type == keel::net::resp::Type::kInteger);
  REQUIRE(replies[8].integer >= 20);
  REQUIRE(replies[9].type == keel::net::resp::Type::kInteger);
}

TEST_CASE("resp server: partitioned CLUSTER replies - ranges per master, a failed node, and the route check",
          "[node][sim]") {
  RespServerOptions options;
  options.topology = [] {
    ClusterTopology t;
    t.epoch = 9;
    t.members.push_back({keel::node::cluster_node_id(keel::core::NodeId(1)), Address{"n1", 6379}, true, true});
    t.members.push_back({keel::node::cluster_node_id(keel::core::NodeId(2)), Address{"n2", 6379}, true, false});
    t.members.push_back({keel::node::cluster_node_id(keel::core::NodeId(3)), Address{"n3", 6379}, false, false, true});
    t.ranges.push_back({0, 8191, 0, {1, 2}});
    t.ranges.push_back({8192, 16383, 1, {2, 0}});
    return t;
  };
  // Keys in slots 8192.. are another node's; multi-key commands need one slot.
  options.route = [](const keel::net::resp::CommandSpec& spec, const keel::net::resp::Argv& argv,
                     bool readonly) -> std::optional<std::string> {
    uint16_t slot = keel::net::resp::key_slot(argv[static_cast<size_t>(spec.first_key)]);
    const int last = spec.last_key < 0 ? static_cast<int>(argv.size()) + spec.last_key : spec.last_key;
    for (int i = spec.first_key; i <= last; i += std::max(1, spec.key_step)) {
      if (keel::net::resp::key_slot(argv[static_cast<size_t>(i)]) != slot) {
        return std::string("CROSSSLOT Keys in request don't hash to the same slot");
      }
    }
    if (slot >= 8192 && !(readonly && !spec.has_flag(keel::net::resp::kCommandWrite))) {
      return "MOVED " + std::to_string(slot) + " n2:6379";
    }
    return std::nullopt;
  };
  Cluster cluster(options);
  std::string routed;
  const std::string id1 = keel::node::cluster_node_id(keel::core::NodeId(1));
  const std::string id2 = keel::node::cluster_node_id(keel::core::NodeId(2));
  const std::string id3 = keel::node::cluster_node_id(keel::core::NodeId(3));
  std::vector<Value> replies;
  REQUIRE(cluster.client([&](Env& env) {
    keel::workloads::RespClient client(env, {kServer});
    // CLUSTER KEYSLOT: "a" 15495, "b" 3300, "{b}x" 3300.
    for (const std::vector<std::string>& argv : std::vector<std::vector<std::string>>{{"CLUSTER", "SLOTS"},
                                                                                       {"CLUSTER", "NODES"},
                                                                                       {"CLUSTER", "INFO"},
                                                                                       {"CLUSTER", "SHARDS"},
                                                                                       }) {
      auto r = client.call(argv);
      CHECK(r.is_ok());
      replies.push_back(r.is_ok() ? *r : Value::error("call failed"));
    }
    // Redirects as they come (RespClient would follow them).
    RawConn c(env);
    routed = c.exchange(req({"SET", "a", "1"}) + req({"SET", "b", "1"}) + req({"MSET", "b", "1", "a", "2"}) +
                            req({"MSET", "b", "1", "{b}x", "2"}) + req({"READONLY"}) + req({"GET", "a"}) +
                            req({"SET", "a", "1"}),
                        7);
  }));
  const Value node1 = Value::array({Value::bulk("n1"), Value::integer_value(6379), Value::bulk(id1)});
  const Value node2 = Value::array({Value::bulk("n2"), Value::integer_value(6379), Value::bulk(id2)});
  const Value node3 = Value::array({Value::bulk("n3"), Value::integer_value(6379), Value::bulk(id3)});
  REQUIRE(replies[0] == Value::array({Value::array({Value::integer_value(0), Value::integer_value(8191), node1, node2, node3}),
                                      Value::array({Value::integer_value(8192), Value::integer_value(16383), node2, node3, node1})}));
  REQUIRE(replies[1].str == id1 + " n1:6379@16379 myself,master - 0 0 9 connected 0-8191\n" + id2 +
                                " n2:6379@16379 master - 0 0 9 connected 8192-16383\n" + id3 + " n3:6379@16379 slave,fail " +
                                id1 + " 0 0 9 disconnected\n");
  REQUIRE(replies[2].str.find("cluster_state:ok\r\n") == 0);
  REQUIRE(replies[2].str.find("cluster_size:2\r\n") != std::string::npos);
  REQUIRE(replies[3].elements.size() == 2);
  // READONLY: a read of another node's slot is served here (nil), a write
  // still redirected.
  REQUIRE(routed == "-MOVED 15495 n2:6379\r\n+OK\r\n-CROSSSLOT Keys in request don't hash to the same slot\r\n"
                    "+OK\r\n+OK\r\n$-1\r\n-MOVED 15495 n2:6379\r\n");
}

namespace {

std::vector<std::string> to_argv(const keel::node::Command& command) {
  using namespace keel::node;
  std::vector<std::string> argv;
  if (const auto* c = std::get_if<SetCommand>(&command)) {
    argv = {"SET", c->key, c->value};
    if (c->condition == SetCondition::kNx) argv.push_back("NX");
    if (c->condition == SetCondition::kXx) argv.push_back("xx");
    if (c->condition == SetCondition::kIfEq) argv.insert(argv.end(), {"IFEQ", c->expected});
    if (c->get) argv.push_back("GET");
  } else if (const auto* c = std::get_if<DelCommand>(&command)) {
    argv = {"DEL"};
    argv.insert(argv.end(), c->keys.begin(), c->keys.end());
  } else if (const auto* c = std::get_if<IncrByCommand>(&command)) {
    if (c->delta == 1) {
      argv = {"INCR", c->key};
    } else if (c->delta == -1) {
      argv = {"DECR", c->key};
    } else if (c->delta < 0 && c->delta != INT64_MIN) {
      argv = {"DECRBY", c->key, std::to_string(-c->delta)};
    } else {
      argv = {"INCRBY", c->key, std::to_string(c->delta)};
    }
  } else if (const auto* c = std::get_if<MSetCommand>(&command)) {
    argv = {"MSET"};
    for (const auto& [k, v] : c->pairs) argv.insert(argv.end(), {k, v});
  } else {
    const auto& a = std::get<AppendCommand>(command);
    argv = {"APPEND", a.key, a.value};
  }
  return argv;
}

Value to_value(const keel::node::CommandReply& r) {
  using Kind = keel::node::CommandReply::Kind;
  switch (r.kind) {
    case Kind::kOk: return Value::simple_string("OK");
    case Kind::kNil: return Value::null();
    case Kind::kInteger: return Value::integer_value(r.integer);
    case Kind::kBulk: return Value::bulk(r.text);
    case Kind::kError: return Value::error(r.text);
  }
  return Value::null();
}

}  // namespace

TEST_CASE("resp server: random command sequences get the reference model's replies", "[node][prop]") {
  rc::prop("replies and MGET after every command agree with the model", [] {
    const auto commands = *rc::gen::container<std::vector<keel::node::Command>>(keel::testing::gen_command());
    keel::testing::KvModel model;
    std::vector<std::vector<std::string>> calls;
    std::vector<Value> expected;
    std::vector<std::string> mget = {"MGET"};
    for (const Bytes& k : keel::testing::model_keys()) mget.push_back(k);
    for (const auto& command : commands) {
      calls.push_back(to_argv(command));
      expected.push_back(to_value(model.apply(command)));
      calls.push_back(mget);
      std::vector<Value> values;
      for (const Bytes& k : keel::testing::model_keys()) {
        auto it = model.data.find(k);
        values.push_back(it == model.data.end() ? Value::null() : Value::bulk(it->second));
      }
      expected.push_back(Value::array(std::move(values)));
    }
    calls.push_back({"DBSIZE"});
    expected.push_back(Value::integer_value(static_cast<int64_t>(model.data.size())));

    Cluster cluster;
    std::vector<Value> got;
    RC_ASSERT(cluster.client([&](Env& env) {
      keel::workloads::RespClient client(env, {kServer});
      for (const auto& argv : calls) {
        auto r = client.call(argv);
        got.push_back(r.is_ok() ? *r : Value::error("call failed: " + r.status().to_string()));
      }
    }));
    RC_ASSERT(got == expected);
  });
}
