// Real processes: bad input on a keeld's client (RESP) and peer ports, over
// real sockets. tests/node/resp_server_test.cc covers the same ground in
// simulation; here the POSIX network layer, the event loop and keeld's own
// configuration are part of what is tested.
//
// Every case checks three things: the bad input gets a clear error reply or
// a closed connection; the node keeps serving (a SET and GET afterwards
// work); and no data changed (a key written before keeps its value, DBSIZE
// is the same).
#include <sys/resource.h>

#include <catch2/catch.hpp>
#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/capnp_codec.h"
#include "net/frame.h"
#include "net/raft.capnp.h"
#include "tests/cmd/local_cluster.h"

using keel::testing::encode_command;
using keel::testing::info_field;
using keel::testing::LocalCluster;
using keel::testing::LocalClusterOptions;
using keel::testing::LocalNode;
using keel::testing::now_ms;
using keel::testing::RespConnection;

using namespace std::string_literals;

namespace {

std::string bulk(const std::string& s) { return "$" + std::to_string(s.size()) + "\r\n" + s + "\r\n"; }

// Data written before the bad input, and the checks that it is untouched
// and that the node still serves.
class Baseline {
 public:
  // Writes the baseline through the node at `port` (which must lead).
  explicit Baseline(uint16_t port) : port_(port) {
    RespConnection c(port_);
    REQUIRE(c.connected());
    REQUIRE(c.call({"SET", "keel:seed", "before"}).raw == "+OK\r\n");
    REQUIRE(c.call({"SET", "keel:probe", "0"}).raw == "+OK\r\n");
    auto n = c.call({"DBSIZE"});
    REQUIRE(n.ok());
    dbsize_ = n.value.integer;
  }

  // The node at `port` (default: the one written through) answers promptly,
  // still holds the baseline, and takes a new write.
  void check_serving_and_unchanged(uint16_t port = 0) {
    RespConnection c(port != 0 ? port : port_);
    REQUIRE(c.connected());
    CHECK(c.call({"GET", "keel:seed"}, 3000).raw == bulk("before"));
    CHECK(c.call({"DBSIZE"}, 3000).raw == ":" + std::to_string(dbsize_) + "\r\n");
    const std::string v = "probe-" + std::to_string(++probes_);
    CHECK(c.call({"SET", "keel:probe", v}, 3000).raw == "+OK\r\n");
    CHECK(c.call({"GET", "keel:probe"}, 3000).raw == bulk(v));
  }

 private:
  uint16_t port_;
  int64_t dbsize_ = 0;
  int probes_ = 0;
};

// What a server did with some input followed by a PING: every reply byte,
// and whether it closed the connection.
struct Transcript {
  std::string replies;
  bool closed = false;
  bool operator==(const Transcript& o) const { return replies == o.replies && closed == o.closed; }
};

std::ostream& operator<<(std::ostream& os, const Transcript& t) {
  return os << '"' << t.replies << '"' << (t.closed ? " then closed" : " (open)");
}

Transcript exchange(uint16_t port, const std::string& input, bool then_ping) {
  RespConnection c(port);
  REQUIRE(c.connected());
  // A server that gives up early may close while this is still sending.
  (void)c.send_raw(then_ping ? input + encode_command({"PING"}) : input);
  Transcript t;
  for (;;) {
    auto r = c.read_reply(5000);
    if (r.kind == RespConnection::Reply::Kind::kClosed) {
      t.closed = true;
      return t;
    }
    if (!r.ok()) {
      t.replies += r.describe();
      return t;
    }
    t.replies += r.raw;
    if (then_ping && r.raw == "+PONG\r\n") return t;
  }
}

// A single-node keeld that has elected itself.
struct SingleNode {
  explicit SingleNode(LocalClusterOptions options = {}) : cluster(1, std::move(options)) {
    REQUIRE(cluster.wait_for_leader() == 0);
  }
  LocalNode& node() { return cluster.nodes()[0]; }
  uint16_t port() { return node().client_port; }
  LocalCluster cluster;
};

struct MalformedCase {
  std::string input;
  // keel's transcript (input, then a PING unless the input is cut short).
  std::string replies;
  bool closed;
  bool then_ping = true;
  // False where keel is knowingly stricter than redis-server.
  bool same_as_redis = true;
};

}  // namespace

TEST_CASE("keeld bad input: malformed RESP gets a protocol error and a close as from redis-server", "[cmd][slow]") {
  SingleNode keel;
  Baseline baseline(keel.port());
  const std::string expected_dollar = "-ERR Protocol error: expected '$', got ':'\r\n";
  const std::string bad_bulk = "-ERR Protocol error: invalid bulk length\r\n";
  const std::string bad_multibulk = "-ERR Protocol error: invalid multibulk length\r\n";
  const std::vector<MalformedCase> cases = {
      {"*2\r\n$3\r\nGET\r\n:x\r\n", expected_dollar, true},
      {"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n:1\r\n", expected_dollar, true},
      {"*1\r\n*1\r\n$4\r\nPING\r\n", "-ERR Protocol error: expected '$', got '*'\r\n", true},
      // A negative count is an empty request, skipped as redis-server does.
      {"*-5\r\n", "+PONG\r\n", false},
      {"*-5x\r\n", bad_multibulk, true},
      {"*5-\r\n", bad_multibulk, true},
      {"*-99999999999999999999\r\n", bad_multibulk, true},
      // Redis 6 capped the count at 1M, as keel does; Redis 7 allows up to
      // INT_MAX and so reads the PING that follows as a bulk header.
      {"*2000000\r\n", bad_multibulk, true, true, false},
      {"*1\r\n$-5\r\n", bad_bulk, true},
      {"*1\r\n$abc\r\n", bad_bulk, true},
      {"*2\r\n$3\r\nGET\r\n$4294967296\r\n", bad_bulk, true},
      {"*2\r\n$3\r\nGET\r\n$18446744073709551616\r\n", bad_bulk, true},
      // Not a multibulk request: an inline command named "$abc".
      {"$abc\r\n", "-ERR unknown command '$abc', with args beginning with: \r\n+PONG\r\n", false},
      {"SET k \"unbalanced\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n", true},
      {std::string(65 * 1024, 'a'), "-ERR Protocol error: too big inline request\r\n", true, false},
      // CR and LF of a command name are blanked in the error text.
      {"*1\r\n$4\r\nA\r\nB\r\n", "-ERR unknown command 'A  B', with args beginning with: \r\n+PONG\r\n", false},
      // A NUL is quoted as it came; redis-server's C string stops at it.
      {"*1\r\n$3\r\nA\0B\r\n"s, "-ERR unknown command 'A\0B', with args beginning with: \r\n+PONG\r\n"s, false, true,
       false},
      // redis-server skips the two bytes after a bulk string unchecked.
      {"*1\r\n$4\r\nPINGxx", "-ERR Protocol error: expected CRLF after bulk data\r\n", true, true, false},
  };
  const int64_t rss_before = keel::testing::process_memory_kib(keel.node().pid, "VmRSS");
  for (const MalformedCase& c : cases) {
    INFO("input: " << c.input.substr(0, 64));
    const Transcript got = exchange(keel.port(), c.input, c.then_ping);
    CHECK(got == Transcript{c.replies, c.closed});
  }
  // Declared sizes reserve nothing: the node's memory did not follow them.
  const int64_t rss_after = keel::testing::process_memory_kib(keel.node().pid, "VmRSS");
  INFO("VmRSS before " << rss_before << " KiB, after " << rss_after << " KiB");
  CHECK(rss_after - rss_before < 64 * 1024);
  baseline.check_serving_and_unchanged();
  {
    RespConnection c(keel.port());
    auto info = c.call({"INFO", "stats"});
    REQUIRE(info.ok());
    const auto expected_errors = std::count_if(cases.begin(), cases.end(), [](const MalformedCase& c) { return c.closed; });
    CHECK(info_field(info.value.str, "protocol_errors") == std::to_string(expected_errors));
  }

  // The same inputs against redis-server, where keel means to match it.
  keel::testing::RedisServer redis(static_cast<uint16_t>(keel.port() + 100));
  if (!redis.started()) {
    WARN("redis-server is not installed: keel's replies were checked, not compared with Redis");
    return;
  }
  for (const MalformedCase& c : cases) {
    if (!c.same_as_redis) continue;
    INFO("input: " << c.input.substr(0, 64));
    CHECK(exchange(redis.port(), c.input, c.then_ping) == Transcript{c.replies, c.closed});
  }
}

TEST_CASE("keeld bad input: a declared 4 GiB or 32 MiB bulk string costs no memory until bytes arrive", "[cmd][slow]") {
  SingleNode keel;
  Baseline baseline(keel.port());
  const pid_t pid = keel.node().pid;
  const int64_t rss_before = keel::testing::process_memory_kib(pid, "VmRSS");
  const int64_t size_before = keel::testing::process_memory_kib(pid, "VmSize");
  {
    RespConnection c(keel.port());
    REQUIRE(c.send_raw("*2\r\n$3\r\nGET\r\n$4294967296\r\n"));
    auto r = c.read_reply();
    CHECK(r.raw == "-ERR Protocol error: invalid bulk length\r\n");
    CHECK(c.wait_closed());
  }
  // Within the value limit: accepted, and buffered only as it arrives. A
  // hundred clients stall after 1 MiB of a 32 MiB value each.
  std::vector<RespConnection> stalled;
  const std::string head = "*3\r\n$3\r\nSET\r\n$9\r\nkeel:seed\r\n$" + std::to_string(32 * 1024 * 1024) + "\r\n";
  const std::string mib(1024 * 1024, 'x');
  for (int i = 0; i < 100; ++i) {
    stalled.emplace_back(keel.port());
    REQUIRE(stalled.back().connected());
    REQUIRE(stalled.back().send_raw(head));
    REQUIRE(stalled.back().send_raw(mib));
  }
  // Let the node read what was sent, then check it still serves.
  RespConnection probe(keel.port());
  CHECK(probe.call({"PING"}).raw == "+PONG\r\n");
  keel::testing::sleep_ms(200);
  CHECK(probe.call({"GET", "keel:seed"}).raw == bulk("before"));
  const int64_t rss_during = keel::testing::process_memory_kib(pid, "VmRSS");
  const int64_t size_during = keel::testing::process_memory_kib(pid, "VmSize");
  INFO("VmRSS " << rss_before << " -> " << rss_during << " KiB; VmSize " << size_before << " -> " << size_during
                << " KiB");
  // 100 MiB arrived; 3.2 GiB was declared.
  CHECK(rss_during - rss_before < 400 * 1024);
  CHECK(size_during - size_before < 1024 * 1024);
  // Cut off mid-value: nothing is written.
  stalled.clear();
  baseline.check_serving_and_unchanged();
}

TEST_CASE("keeld bad input: binary keys and values with NUL and CRLF inside round-trip exactly", "[cmd][slow]") {
  SingleNode keel;
  Baseline baseline(keel.port());
  RespConnection c(keel.port());
  REQUIRE(c.connected());
  std::string every_byte;
  for (int b = 0; b < 256; ++b) every_byte.push_back(static_cast<char>(b));
  const std::vector<std::pair<std::string, std::string>> pairs = {
      {std::string("k\0\r\n{x}", 7), std::string("\0\0v\r\n\xff", 6)},
      {std::string("\r\n{x}", 5), std::string("*1\r\n$4\r\nPING\r\n")},
      {std::string("\0{x}", 4), std::string("\0", 1)},
      {"bytes:{x}" + every_byte, every_byte + every_byte},
      {"big:{x}" + every_byte, std::string(1024 * 1024, '\n') + every_byte},
      {"empty{x}", ""},
  };
  // Every key carries the hash tag {x}: multi-key commands below need one
  // slot on a partitioned node, as on a Redis Cluster.
  for (const auto& [key, value] : pairs) {
    INFO("key of " << key.size() << " bytes");
    CHECK(c.call({"SET", key, value}).raw == "+OK\r\n");
    auto got = c.call({"GET", key});
    CHECK(got.raw == bulk(value));
    CHECK(c.call({"STRLEN", key}).raw == ":" + std::to_string(value.size()) + "\r\n");
  }
  // MSET / MGET carry the same bytes, and a missing key in between stays nil.
  std::vector<std::string> mset = {"MSET"};
  std::vector<std::string> mget = {"MGET"};
  std::string expected = "*" + std::to_string(pairs.size() + 1) + "\r\n";
  for (const auto& [key, value] : pairs) {
    mset.push_back("m" + key);
    mset.push_back(value + "!");
    mget.push_back("m" + key);
    expected += bulk(value + "!");
  }
  mget.push_back(std::string("m\0missing{x}", 12));
  expected += "$-1\r\n";
  CHECK(c.call(mset).raw == "+OK\r\n");
  CHECK(c.call(mget).raw == expected);
  // A key differing only after a NUL is a different key.
  CHECK(c.call({"EXISTS", std::string("k\0{x}", 5), std::string("k\0\r\n{x}", 7)}).raw == ":1\r\n");
  CHECK(c.call({"DBSIZE"}).raw == ":" + std::to_string(2 + 2 * pairs.size()) + "\r\n");
  // Leave the keyspace as the baseline knows it.
  std::vector<std::string> del = {"DEL"};
  for (const auto& [key, value] : pairs) {
    del.push_back(key);
    del.push_back("m" + key);
  }
  CHECK(c.call(del).raw == ":" + std::to_string(2 * pairs.size()) + "\r\n");
  baseline.check_serving_and_unchanged();
}

TEST_CASE("keeld bad input: a client that disconnects mid-request writes nothing", "[cmd][slow]") {
  SingleNode keel;
  Baseline baseline(keel.port());
  const std::string full = encode_command({"SET", "keel:seed", "half-written"});
  const std::string mset = encode_command({"MSET", "keel:seed", "x", "keel:new", "y"});
  std::vector<std::string> cuts;
  for (size_t cut : {size_t{1}, size_t{4}, size_t{9}, size_t{14}, full.size() / 2, full.size() - 2, full.size() - 1}) {
    cuts.push_back(full.substr(0, cut));
  }
  cuts.push_back(mset.substr(0, mset.size() - 1));
  // A complete command pipelined before the cut one is served; the cut one
  // is not.
  cuts.push_back(encode_command({"SET", "keel:whole", "1"}) + full.substr(0, full.size() - 3));
  for (const std::string& partial : cuts) {
    RespConnection c(keel.port());
    REQUIRE(c.connected());
    REQUIRE(c.send_raw(partial));
    c.close();
  }
  // The complete SET lands; wait for it so that anything the cut commands
  // might have done would be visible too.
  RespConnection check(keel.port());
  const int64_t deadline = now_ms() + 5000;
  std::string whole;
  while (now_ms() < deadline && (whole = check.call({"GET", "keel:whole"}).raw) != bulk("1")) {
    keel::testing::sleep_ms(20);
  }
  CHECK(whole == bulk("1"));
  CHECK(check.call({"EXISTS", "keel:new"}).raw == ":0\r\n");
  CHECK(check.call({"DEL", "keel:whole"}).raw == ":1\r\n");
  check.close();
  baseline.check_serving_and_unchanged();
  // Every cut connection is gone from the server.
  const int64_t gone_by = now_ms() + 5000;
  std::string clients;
  while (now_ms() < gone_by) {
    clients = info_field(LocalCluster::info(keel.node(), "clients"), "connected_clients");
    if (clients == "1") break;
    keel::testing::sleep_ms(20);
  }
  CHECK(clients == "1");
}

TEST_CASE("keeld bad input: a thousand idle connections do not slow others and all go away", "[cmd][slow]") {
  const rlim_t open_files = keel::testing::raise_open_files_limit();
  if (open_files < 1200) {
    WARN("RLIMIT_NOFILE hard limit is " << open_files << ": not enough for 1,000 connections; skipped");
    return;
  }
  SingleNode keel;
  Baseline baseline(keel.port());
  const int fds_before = keel::testing::open_fd_count(keel.node().pid);
  std::vector<RespConnection> idle;
  idle.reserve(1000);
  for (int i = 0; i < 1000; ++i) {
    idle.emplace_back(keel.port());
    REQUIRE(idle.back().connected());
    // Every third stalls in the middle of a request.
    if (i % 3 == 0) REQUIRE(idle.back().send_raw("*2\r\n$3\r\nGET\r\n$9\r\nkeel:"));
  }
  RespConnection busy(keel.port());
  REQUIRE(busy.connected());
  // Prompt answers: each round trip well under a second.
  for (int i = 0; i < 20; ++i) {
    const int64_t start = now_ms();
    CHECK(busy.call({"SET", "keel:busy", std::to_string(i)}, 1000).raw == "+OK\r\n");
    CHECK(busy.call({"GET", "keel:busy"}, 1000).raw == bulk(std::to_string(i)));
    CHECK(now_ms() - start < 1000);
  }
  auto info = busy.call({"INFO", "clients"});
  REQUIRE(info.ok());
  CHECK(info_field(info.value.str, "connected_clients") == "1001");
  CHECK(busy.call({"DEL", "keel:busy"}).raw == ":1\r\n");
  idle.clear();
  busy.close();
  // The node lets go of every connection (no descriptor leaks).
  const int64_t deadline = now_ms() + 5000;
  std::string clients;
  int fds_after = -1;
  while (now_ms() < deadline) {
    clients = info_field(LocalCluster::info(keel.node(), "clients"), "connected_clients");
    fds_after = keel::testing::open_fd_count(keel.node().pid);
    if (clients == "1" && fds_after <= fds_before) break;
    keel::testing::sleep_ms(50);
  }
  CHECK(clients == "1");
  CHECK(fds_after <= fds_before);
  baseline.check_serving_and_unchanged();
}

TEST_CASE("keeld bad input: past --maxclients a client gets an error and a close and no hang", "[cmd][slow]") {
  keel::testing::raise_open_files_limit();
  LocalClusterOptions options;
  options.extra_args = {"--maxclients", "50"};
  SingleNode keel(options);
  Baseline baseline(keel.port());
  std::vector<RespConnection> held;
  for (int i = 0; i < 50; ++i) {
    held.emplace_back(keel.port());
    REQUIRE(held.back().connected());
    REQUIRE(held.back().call({"PING"}).raw == "+PONG\r\n");
  }
  for (int i = 0; i < 5; ++i) {
    RespConnection extra(keel.port());
    REQUIRE(extra.connected());
    CHECK(extra.read_reply(2000).raw == "-ERR max number of clients reached\r\n");
    CHECK(extra.wait_closed(2000));
  }
  CHECK(held.front().call({"GET", "keel:seed"}).raw == bulk("before"));
  auto info = held.front().call({"INFO"});
  REQUIRE(info.ok());
  CHECK(info_field(info.value.str, "maxclients") == "50");
  CHECK(info_field(info.value.str, "rejected_connections") == "5");
  held.clear();
  const int64_t deadline = now_ms() + 5000;
  while (now_ms() < deadline &&
         info_field(LocalCluster::info(keel.node(), "clients"), "connected_clients") != "1") {
    keel::testing::sleep_ms(20);
  }
  baseline.check_serving_and_unchanged();
}

TEST_CASE("keeld bad input: with few file descriptors the clients past the limit get an error and no hang",
          "[cmd][slow]") {
  keel::testing::raise_open_files_limit();
  // Far below the default of 10,000 clients: keeld must fit its client
  // limit to the descriptors it has.
  LocalClusterOptions options;
  options.open_files_max = 256;
  SingleNode keel(options);
  Baseline baseline(keel.port());
  std::vector<RespConnection> held;
  int refused = 0;
  int hung = 0;
  for (int i = 0; i < 300 && refused == 0 && hung == 0; ++i) {
    RespConnection c(keel.port());
    REQUIRE(c.connected());
    auto r = c.call({"PING"}, 2000);
    if (r.raw == "+PONG\r\n") {
      held.push_back(std::move(c));
    } else if (r.raw == "-ERR max number of clients reached\r\n") {
      ++refused;
      CHECK(c.wait_closed(2000));
    } else {
      INFO("client " << i << ": " << r.describe());
      ++hung;
    }
  }
  INFO("served " << held.size() << " clients");
  CHECK(hung == 0);
  CHECK(refused == 1);
  auto info = held.at(0).call({"INFO", "clients"});
  REQUIRE(info.ok());
  CHECK(info_field(info.value.str, "maxclients") == std::to_string(held.size()));
  // keeld said at start why it serves fewer than 10,000.
  CHECK(keel.cluster.log_text(keel.node()).find("keeld: serving at most " + std::to_string(held.size()) +
                                                " clients, not 10000: the open file limit (ulimit -n) is 256") !=
        std::string::npos);
  held.clear();
  const int64_t deadline = now_ms() + 5000;
  while (now_ms() < deadline &&
         info_field(LocalCluster::info(keel.node(), "clients"), "connected_clients") != "1") {
    keel::testing::sleep_ms(20);
  }
  baseline.check_serving_and_unchanged();
}

namespace {

// A frame carrying a PeerHello whose proof does not match the cluster
// secret.
std::string hello_with_wrong_proof(uint32_t from, uint32_t to) {
  capnp::MallocMessageBuilder builder;
  auto hello = builder.initRoot<PeerFrame>().initHello();
  hello.setFrom(from);
  hello.setTo(to);
  hello.setNonce(42);
  hello.setClusterProof(0x0123456789abcdefULL);
  hello.setClientAddress("127.0.0.1:1");
  keel::core::Bytes frame;
  keel::net::append_frame(frame, keel::net::encode_message(builder));
  return frame;
}

std::string frame_header(uint32_t magic, uint32_t length, uint64_t check) {
  keel::core::Bytes out;
  keel::core::put_u32(out, magic);
  keel::core::put_u32(out, length);
  keel::core::put_u64(out, check);
  return out;
}

}  // namespace

TEST_CASE("keeld bad input: garbage on the peer port is dropped and the cluster keeps its leader and data",
          "[cmd][slow]") {
  // One Raft group: the test watches its term. The peer bus under it is the
  // one a partitioned node uses.
  LocalClusterOptions one_group;
  one_group.extra_args = {"--partitions", "0"};
  LocalCluster cluster(3, one_group);
  const int leader = cluster.wait_for_leader();
  REQUIRE(leader >= 0);
  LocalNode& leader_node = cluster.nodes()[leader];
  Baseline baseline(leader_node.client_port);
  const std::string info_before = LocalCluster::info(leader_node);
  const std::string term = info_field(info_before, "raft_term");
  REQUIRE(!term.empty());

  std::string random_bytes;
  uint64_t x = 0x9e3779b97f4a7c15ULL;
  for (int i = 0; i < 4096; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    random_bytes.push_back(static_cast<char>(x));
  }
  std::string bad_checksum = hello_with_wrong_proof(2, 1);
  bad_checksum[12] = static_cast<char>(bad_checksum[12] ^ 1);
  const std::string capnp_garbage = [] {
    keel::core::Bytes f;
    keel::net::append_frame(f, std::string(64, '\xee'));
    return f;
  }();
  struct Garbage {
    std::string name;
    std::function<std::string(const LocalNode&)> bytes;
  };
  const std::vector<Garbage> garbage = {
      {"random bytes", [&](const LocalNode&) { return random_bytes; }},
      {"an HTTP request",
       [](const LocalNode&) { return std::string("GET / HTTP/1.1\r\nHost: keel\r\nConnection: close\r\n\r\n"); }},
      {"a RESP command", [](const LocalNode&) { return encode_command({"SET", "keel:seed", "peer"}); }},
      {"a hello with a wrong cluster proof",
       [](const LocalNode& n) { return hello_with_wrong_proof(n.id == 1 ? 2 : 1, static_cast<uint32_t>(n.id)); }},
      {"a hello from a node outside the cluster",
       [](const LocalNode& n) { return hello_with_wrong_proof(9, static_cast<uint32_t>(n.id)); }},
      {"a hello with a bad checksum", [&](const LocalNode&) { return bad_checksum; }},
      {"a frame that is not Cap'n Proto", [&](const LocalNode&) { return capnp_garbage; }},
      {"a frame over the size limit",
       [](const LocalNode&) { return frame_header(keel::net::kFrameMagic, 0xffffffffu, 0); }},
  };
  for (const Garbage& g : garbage) {
    for (LocalNode& node : cluster.nodes()) {
      INFO(g.name << " to node " << node.id);
      RespConnection c(node.peer_port);
      REQUIRE(c.connected());
      (void)c.send_raw(g.bytes(node));
      auto r = c.read_reply(3000);
      CHECK(r.kind == RespConnection::Reply::Kind::kClosed);
    }
  }
  // Frame headers that claim the largest frame and send nothing more: the
  // node reserves nothing for a claim (before the fix, each of these made
  // it allocate 256 MiB, and under an address-space limit it died of
  // std::bad_alloc).
  {
    const pid_t pid = leader_node.pid;
    const int64_t size_before = keel::testing::process_memory_kib(pid, "VmSize");
    std::vector<RespConnection> claims;
    for (int i = 0; i < 50; ++i) {
      claims.emplace_back(leader_node.peer_port);
      REQUIRE(claims.back().connected());
      REQUIRE(claims.back().send_raw(frame_header(keel::net::kFrameMagic, 256u * 1024 * 1024, 0)));
    }
    keel::testing::sleep_ms(300);
    const int64_t size_during = keel::testing::process_memory_kib(pid, "VmSize");
    INFO("VmSize " << size_before << " -> " << size_during << " KiB");
    // 50 claims of 256 MiB would be 12.5 GiB.
    CHECK(size_during - size_before < 1024 * 1024);
    CHECK(cluster.alive(leader_node));
  }
  // The leader and its term survived, and so did the data.
  const std::string info_after = LocalCluster::info(leader_node);
  INFO(info_after);
  CHECK(info_field(info_after, "raft_role") == "leader");
  CHECK(info_field(info_after, "raft_term") == term);
  baseline.check_serving_and_unchanged();
  for (LocalNode& node : cluster.nodes()) {
    CHECK(cluster.alive(node));
    // Followers have the committed data too (stale reads show it locally).
    RespConnection c(node.client_port);
    REQUIRE(c.call({"READONLY"}).raw == "+OK\r\n");
    const int64_t deadline = now_ms() + 3000;
    std::string seed;
    while (now_ms() < deadline && (seed = c.call({"GET", "keel:seed"}).raw) != bulk("before")) {
      keel::testing::sleep_ms(20);
    }
    CHECK(seed == bulk("before"));
  }
}
