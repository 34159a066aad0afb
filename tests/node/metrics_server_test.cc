// MetricsServer and the node's metrics, in the simulator.
//
// The server tests run it on host "n1" with a render callback of their own;
// client hosts speak raw HTTP to it. The node tests run whole keel nodes
// (run_kv_node) with a metrics address and scrape them.
//
// Assertions inside simulated fibers use CHECK (which does not throw: an
// exception escaping a fiber aborts); REQUIRE is used outside the world.
#include "node/metrics_server.h"

#include <catch2/catch.hpp>

#include <functional>
#include <map>
#include <memory>
#include <regex>
#include <set>
#include <string>
#include <vector>

#include "node/kv_node.h"
#include "tests/node/sim_client.h"
#include "sim/world.h"
#include "storage/mem_kv_engine.h"
#include "workloads/resp_client.h"

using keel::core::Address;
using keel::core::Duration;
using keel::core::Env;
using keel::core::NodeId;
using keel::node::HttpRequestHead;
using keel::node::MetricsServer;
using keel::node::MetricsServerOptions;
using keel::node::MetricsWriter;
using keel::sim::HostId;
using keel::sim::World;

namespace {

const Address kMetrics{"n1", 9100};

// A response as the client saw it: everything until the server closed.
struct HttpReply {
  std::string raw;
  std::string status_line;
  std::map<std::string, std::string> headers;  // names lowercased
  std::string body;
  bool has_head = false;  // a complete head arrived

  int status() const {
    if (status_line.size() < 12) return 0;
    return std::atoi(status_line.substr(9, 3).c_str());
  }
  std::string header(const std::string& name) const {
    auto it = headers.find(name);
    return it == headers.end() ? std::string() : it->second;
  }
};

HttpReply parse_reply(std::string raw) {
  HttpReply r;
  r.raw = std::move(raw);
  const size_t end = r.raw.find("\r\n\r\n");
  if (end == std::string::npos) return r;
  r.has_head = true;
  r.body = r.raw.substr(end + 4);
  std::string_view head(r.raw.data(), end);
  size_t line_end = head.find("\r\n");
  r.status_line = std::string(head.substr(0, line_end));
  while (line_end != std::string_view::npos) {
    head.remove_prefix(line_end + 2);
    line_end = head.find("\r\n");
    const std::string_view line = head.substr(0, line_end);
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) continue;
    std::string name(line.substr(0, colon));
    for (char& ch : name) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
    std::string_view value = line.substr(colon + 1);
    while (!value.empty() && value.front() == ' ') value.remove_prefix(1);
    r.headers[name] = std::string(value);
  }
  return r;
}

// Connects to `to`, sends `request` (in pieces of `piece_bytes` with a
// pause between them, when not 0), and reads until the server closes.
// May suspend.
HttpReply http(Env& env, const Address& to, std::string_view request, size_t piece_bytes = 0) {
  auto s = env.net.connect(to, Duration::seconds(1));
  if (!s.is_ok()) return parse_reply("<connect failed: " + s.status().to_string() + ">");
  std::unique_ptr<keel::core::Stream> stream = std::move(*s);
  if (piece_bytes == 0) piece_bytes = request.size();
  while (!request.empty()) {
    const std::string_view piece = request.substr(0, piece_bytes);
    if (!stream->write(piece).is_ok()) break;
    request.remove_prefix(piece.size());
    if (!request.empty()) env.sleep_for(Duration::millis(10));
  }
  std::string raw;
  char buf[4096];
  for (;;) {
    auto n = stream->read(buf, sizeof buf);
    if (!n.is_ok() || *n == 0) break;
    raw.append(buf, *n);
  }
  return parse_reply(std::move(raw));
}

HttpReply scrape(Env& env, const Address& to) {
  return http(env, to, "GET /metrics HTTP/1.1\r\nHost: " + to.to_string() + "\r\nAccept: text/plain\r\n\r\n");
}

// The exposition text checked against the format: every line is a HELP,
// a TYPE or a sample "name{labels} value"; each family has exactly one
// HELP and one TYPE, before its samples, and its samples are contiguous.
struct Exposition {
  std::vector<std::string> problems;
  // "name" or "name{labels}" -> value text.
  std::map<std::string, std::string> samples;
  std::map<std::string, std::string> types;

  bool has(const std::string& series) const { return samples.count(series) != 0; }
  std::string value(const std::string& series) const {
    auto it = samples.find(series);
    return it == samples.end() ? std::string("<absent>") : it->second;
  }
  uint64_t number(const std::string& series) const { return std::stoull(value(series)); }
  size_t count_prefix(const std::string& prefix) const {
    size_t n = 0;
    for (const auto& [series, v] : samples) n += series.rfind(prefix, 0) == 0 ? 1 : 0;
    return n;
  }
};

Exposition parse_exposition(const std::string& text) {
  static const std::regex kHelp(R"(# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) (.*))");
  static const std::regex kType(R"(# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped))");
  // name{label="value",...} value; a label value escapes \\, \" and \n.
  static const std::string kLabel = R"([a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\\n]|\\[\\"n])*")";
  static const std::regex kSample(R"(([a-zA-Z_:][a-zA-Z0-9_:]*)(\{)" + kLabel + "(?:," + kLabel +
                                  R"()*\})? (-?[0-9]+(?:\.[0-9]+)?(?:e[+-]?[0-9]+)?|NaN|\+Inf|-Inf))");
  Exposition e;
  std::map<std::string, int> helps;
  std::set<std::string> finished;  // families whose samples ended
  std::string current;
  if (text.empty() || text.back() != '\n') e.problems.push_back("text does not end with a newline");
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    const std::string line = text.substr(start, end - start);
    start = end + 1;
    std::smatch m;
    std::string family;
    if (std::regex_match(line, m, kHelp)) {
      family = m[1];
      if (++helps[family] > 1) e.problems.push_back("second HELP for " + family);
      if (e.types.count(family) != 0) e.problems.push_back("HELP after TYPE for " + family);
    } else if (std::regex_match(line, m, kType)) {
      family = m[1];
      if (e.types.count(family) != 0) e.problems.push_back("second TYPE for " + family);
      e.types[family] = m[2];
    } else if (std::regex_match(line, m, kSample)) {
      family = m[1];
      if (e.types.count(family) == 0) e.problems.push_back("sample before TYPE: " + line);
      if (helps.count(family) == 0) e.problems.push_back("sample before HELP: " + line);
      const std::string series = std::string(m[1]) + std::string(m[2]);
      if (!e.samples.emplace(series, m[3]).second) e.problems.push_back("duplicate series " + series);
    } else {
      e.problems.push_back("unparsable line: '" + line + "'");
      continue;
    }
    if (family != current) {
      if (finished.count(family) != 0) e.problems.push_back("family " + family + " is split");
      if (!current.empty()) finished.insert(current);
      current = family;
    }
  }
  return e;
}

// The metrics server on n1 with a render callback, and client hosts.
class Harness {
 public:
  explicit Harness(keel::node::MetricsServerLimits limits = {}, uint64_t seed = 7) : world_(seed) {
    node_ = world_.add_host("n1", [this, limits](Env& env) {
      MetricsServerOptions options;
      options.address = kMetrics;
      options.limits = limits;
      options.render = [this] {
        ++renders_;
        MetricsWriter w;
        w.gauge("test_up", "Always 1.", 1);
        w.counter("test_renders_total", "Scrapes rendered.", renders_);
        w.gauge("test_temperature", "Per room.", 21, {{"room", "kitchen"}});
        w.gauge("test_temperature", "Per room.", 19, {{"room", "say \"hi\"\\\n"}});
        return w.take();
      };
      MetricsServer server(env, options);
      KEEL_ASSERT(server.start().is_ok());
      server_ = &server;
      env.sleep_for(Duration::seconds(1000000));
    });
    world_.start(node_);
    world_.run_for(Duration::millis(1));
  }

  // See keel::testing::run_sim_client.
  bool client(const std::function<void(Env&)>& fn) {
    return keel::testing::run_sim_client(world_, clients_, fn);
  }

  MetricsServer& server() { return *server_; }
  uint64_t renders() const { return renders_; }

 private:
  uint64_t renders_ = 0;
  MetricsServer* server_ = nullptr;
  int clients_ = 0;
  HostId node_;
  // Last: destroyed first, so fibers die while the members above exist.
  World world_;
};

}  // namespace

TEST_CASE("metrics writer: HELP and TYPE once per family, label values escaped", "[node][unit]") {
  MetricsWriter w;
  w.gauge("a_gauge", "A gauge.\nSecond line with a \\.", 5);
  w.gauge("peer_lag", "Lag.", 1, {{"peer", "2"}});
  w.gauge("peer_lag", "Lag.", 7, {{"peer", "3"}, {"zone", "a\"b\\c\nd"}});
  w.counter("things_total", "Things.", 18446744073709551615ull);
  REQUIRE(w.text() ==
          "# HELP a_gauge A gauge.\\nSecond line with a \\\\.\n"
          "# TYPE a_gauge gauge\n"
          "a_gauge 5\n"
          "# HELP peer_lag Lag.\n"
          "# TYPE peer_lag gauge\n"
          "peer_lag{peer=\"2\"} 1\n"
          "peer_lag{peer=\"3\",zone=\"a\\\"b\\\\c\\nd\"} 7\n"
          "# HELP things_total Things.\n"
          "# TYPE things_total counter\n"
          "things_total 18446744073709551615\n");
  const Exposition e = parse_exposition(w.text());
  REQUIRE(e.problems.empty());
  REQUIRE(e.samples.size() == 4);
  // The format check itself, on planted mistakes.
  for (const char* bad : {"# HELP a x\n# TYPE a gauge\na 1\n# HELP a x\n",   // second HELP
                          "# HELP a x\na 1\n",                                 // no TYPE
                          "# HELP a x\n# TYPE a gauge\na 1\n# HELP b y\n# TYPE b gauge\nb 2\na{l=\"v\"} 3\n",
                          "# HELP a x\n# TYPE a gauge\na{l=\"unescaped\"quote\"} 1\n",
                          "# HELP a x\n# TYPE a gauge\na one\n",
                          "# HELP a x\n# TYPE a gauge\na 1"}) {  // no final newline
    INFO(bad);
    CHECK_FALSE(parse_exposition(bad).problems.empty());
  }
  REQUIRE(MetricsWriter::valid_metric_name("keel_raft_term"));
  REQUIRE(MetricsWriter::valid_metric_name("a:b_c"));
  REQUIRE_FALSE(MetricsWriter::valid_metric_name("9lives"));
  REQUIRE_FALSE(MetricsWriter::valid_metric_name("with-dash"));
  REQUIRE_FALSE(MetricsWriter::valid_metric_name(""));
  REQUIRE(MetricsWriter::valid_label_name("peer"));
  REQUIRE_FALSE(MetricsWriter::valid_label_name("__reserved"));
  REQUIRE_FALSE(MetricsWriter::valid_label_name("a:b"));
}

TEST_CASE("metrics server: request heads are parsed, malformed ones are refused", "[node][unit]") {
  auto ok = [](std::string_view head, std::string method, std::string path) {
    auto r = keel::node::parse_http_request_head(head);
    INFO(head);
    REQUIRE(r.is_ok());
    CHECK(r->method == method);
    CHECK(r->path == path);
  };
  ok("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", "GET", "/metrics");
  ok("GET /metrics?name[]=up HTTP/1.0\r\n\r\n", "GET", "/metrics");
  ok("HEAD /metrics HTTP/1.1\nHost: x\nUser-Agent: Prometheus/2.45\n\n", "HEAD", "/metrics");
  ok("GET http://n1:9100/metrics HTTP/1.1\r\n\r\n", "GET", "/metrics");
  ok("DELETE / HTTP/1.1\r\nX-Empty:\r\n\r\n", "DELETE", "/");
  for (std::string_view bad : {"\r\n\r\n", "GET /metrics\r\n\r\n", "GET /metrics HTTP/2.0\r\n\r\n",
                               "GET  /metrics HTTP/1.1\r\n\r\n", "GET /metrics HTTP/1.1 extra\r\n\r\n",
                               "G(T /metrics HTTP/1.1\r\n\r\n", "GET metrics HTTP/1.1\r\n\r\n",
                               "GET /metrics HTTP/1.1\r\nNo colon here\r\n\r\n",
                               "GET /metrics HTTP/1.1\r\nBad Name: x\r\n\r\n",
                               "GET /metrics HTTP/1.1\r\n folded: x\r\n\r\n",
                               "GET /metrics HTTP/1.1\r\n: empty name\r\n\r\n",
                               "GET /metrics HTTP/1.1\r\nX: a\x01" "b\r\n\r\n"}) {
    INFO(bad);
    CHECK_FALSE(keel::node::parse_http_request_head(bad).is_ok());
  }
}

TEST_CASE("metrics server: GET /metrics answers 200 with well-formed exposition text", "[node][sim]") {
  Harness h;
  std::vector<HttpReply> replies;
  REQUIRE(h.client([&](Env& env) {
    replies.push_back(scrape(env, kMetrics));
    // The same request trickled in a few bytes at a time, with bare LFs.
    replies.push_back(http(env, kMetrics, "GET /metrics HTTP/1.1\nHost: n1\n\n", 3));
    replies.push_back(http(env, kMetrics, "HEAD /metrics HTTP/1.0\r\n\r\n"));
  }));
  const HttpReply& r = replies[0];
  REQUIRE(r.has_head);
  REQUIRE(r.status_line == "HTTP/1.1 200 OK");
  REQUIRE(r.header("content-type") == "text/plain; version=0.0.4; charset=utf-8");
  REQUIRE(r.header("connection") == "close");
  REQUIRE(r.header("content-length") == std::to_string(r.body.size()));
  const Exposition e = parse_exposition(r.body);
  INFO(r.body);
  REQUIRE(e.problems.empty());
  REQUIRE(e.value("test_up") == "1");
  REQUIRE(e.value("test_renders_total") == "1");
  REQUIRE(e.types.at("test_renders_total") == "counter");
  REQUIRE(e.value("test_temperature{room=\"kitchen\"}") == "21");
  REQUIRE(e.value("test_temperature{room=\"say \\\"hi\\\"\\\\\\n\"}") == "19");

  REQUIRE(replies[1].status() == 200);
  REQUIRE(parse_exposition(replies[1].body).value("test_renders_total") == "2");
  // HEAD: the headers of a scrape (its length included) and no body.
  REQUIRE(replies[2].status() == 200);
  REQUIRE(replies[2].body.empty());
  REQUIRE(std::stoul(replies[2].header("content-length")) > 0);
  REQUIRE(h.server().stats().scrapes == 3);
  REQUIRE(h.server().stats().connections_open == 0);
}

TEST_CASE("metrics server: other paths get 404, other methods 405", "[node][sim]") {
  Harness h;
  std::vector<HttpReply> replies;
  REQUIRE(h.client([&](Env& env) {
    replies.push_back(http(env, kMetrics, "GET / HTTP/1.1\r\nHost: n1\r\n\r\n"));
    replies.push_back(http(env, kMetrics, "GET /metrics/extra HTTP/1.1\r\n\r\n"));
    replies.push_back(http(env, kMetrics, "POST /metrics HTTP/1.1\r\nContent-Length: 2\r\n\r\nhi"));
    replies.push_back(http(env, kMetrics, "DELETE /metrics HTTP/1.1\r\n\r\n"));
  }));
  for (size_t i : {0, 1}) {
    CHECK(replies[i].status_line == "HTTP/1.1 404 Not Found");
    CHECK(replies[i].header("connection") == "close");
    CHECK(replies[i].header("content-length") == std::to_string(replies[i].body.size()));
  }
  for (size_t i : {2, 3}) {
    CHECK(replies[i].status_line == "HTTP/1.1 405 Method Not Allowed");
    CHECK(replies[i].header("allow") == "GET, HEAD");
    CHECK(replies[i].header("connection") == "close");
  }
  REQUIRE(h.renders() == 0);
  REQUIRE(h.server().stats().not_found == 2);
  REQUIRE(h.server().stats().bad_method == 2);
}

TEST_CASE("metrics server: garbage and oversized requests get 400 and a close, the server serves on", "[node][sim]") {
  const uint64_t seed = GENERATE(range(1, 6));
  CAPTURE(seed);
  Harness h({}, seed);
  const std::vector<std::string> garbage = {
      "HELLO\r\n\r\n",
      "GET /metrics\r\n\r\n",
      "GET /metrics HTTP/1.1\r\nBroken header line\r\n\r\n",
      // A TLS ClientHello's first bytes: refused without waiting for a line end.
      std::string("\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03", 11),
      std::string("GET /metrics HTTP/1.1\r\nX-Pad: ") + std::string(9000, 'a') + "\r\n\r\n",
      // Oversized without a single line end.
      std::string(20000, 'G'),
  };
  std::vector<HttpReply> replies;
  std::vector<Duration> took;
  HttpReply after;
  REQUIRE(h.client([&](Env& env) {
    for (const std::string& g : garbage) {
      const auto start = env.now();
      replies.push_back(http(env, kMetrics, g));
      took.push_back(env.now() - start);
    }
    after = scrape(env, kMetrics);
  }));
  for (size_t i = 0; i < garbage.size(); ++i) {
    INFO("request " << i << ": " << replies[i].raw);
    CHECK(replies[i].status_line == "HTTP/1.1 400 Bad Request");
    CHECK(replies[i].header("connection") == "close");
    // Answered at once, not at the request timeout.
    CHECK(took[i] < Duration::seconds(1));
  }
  REQUIRE(after.status() == 200);
  REQUIRE(parse_exposition(after.body).problems.empty());
  REQUIRE(h.server().stats().bad_requests == garbage.size());
  REQUIRE(h.server().stats().connections_open == 0);
}

TEST_CASE("metrics server: a client that sends nothing, or half a request, is closed at the timeout", "[node][sim]") {
  keel::node::MetricsServerLimits limits;
  limits.request_timeout = Duration::seconds(3);
  Harness h(limits);
  std::vector<Duration> open_for;
  std::vector<std::string> received;
  REQUIRE(h.client([&](Env& env) {
    for (std::string_view sent : {std::string_view(), std::string_view("GET /metr")}) {
      auto s = env.net.connect(kMetrics, Duration::seconds(1));
      CHECK(s.is_ok());
      if (!s.is_ok()) return;
      const auto start = env.now();
      if (!sent.empty()) CHECK((*s)->write(sent).is_ok());
      std::string raw;
      char buf[256];
      for (;;) {
        auto n = (*s)->read(buf, sizeof buf);
        if (!n.is_ok() || *n == 0) break;
        raw.append(buf, *n);
      }
      open_for.push_back(env.now() - start);
      received.push_back(raw);
    }
  }));
  REQUIRE(open_for.size() == 2);
  for (size_t i = 0; i < 2; ++i) {
    // Allow for the clocks' drift and network latency.
    CHECK(open_for[i] > Duration::millis(2900));
    CHECK(open_for[i] < Duration::millis(3100));
    CHECK(received[i].empty());
  }
  REQUIRE(h.server().stats().timeouts == 2);
  REQUIRE(h.server().stats().connections_open == 0);
  // The server still answers.
  HttpReply r;
  REQUIRE(h.client([&](Env& env) { r = scrape(env, kMetrics); }));
  REQUIRE(r.status() == 200);
}

TEST_CASE("metrics server: beyond connections_max a client gets 503", "[node][sim]") {
  keel::node::MetricsServerLimits limits;
  limits.connections_max = 2;
  const uint64_t seed = GENERATE(range(1, 6));
  CAPTURE(seed);
  Harness h(limits, seed);
  HttpReply refused;
  HttpReply served;
  REQUIRE(h.client([&](Env& env) {
    std::vector<std::unique_ptr<keel::core::Stream>> idle;
    for (int i = 0; i < 2; ++i) {
      auto s = env.net.connect(kMetrics, Duration::seconds(1));
      CHECK(s.is_ok());
      if (s.is_ok()) idle.push_back(std::move(*s));
    }
    env.sleep_for(Duration::millis(50));
    refused = scrape(env, kMetrics);
    idle.clear();
    env.sleep_for(Duration::millis(50));
    served = scrape(env, kMetrics);
  }));
  REQUIRE(refused.status_line == "HTTP/1.1 503 Service Unavailable");
  REQUIRE(refused.header("connection") == "close");
  REQUIRE(served.status() == 200);
  REQUIRE(h.server().stats().connections_rejected == 1);
}

namespace {

// keel nodes (run_kv_node) on n1..nN with in-memory engines, metrics on
// port 9100 when `with_metrics`, and client hosts.
class NodeCluster {
 public:
  NodeCluster(int n, bool with_metrics, uint64_t seed = 11) : world_(seed) {
    keel::node::RaftNodeOptions raft;
    for (int i = 1; i <= n; ++i) {
      const std::string host = "n" + std::to_string(i);
      raft.members[NodeId(i)] = {Address{host, 7000}, Address{host, 6379}};
      resp_.push_back(Address{host, 6379});
      metrics_.push_back(Address{host, 9100});
    }
    raft.tick_interval = Duration::millis(10);
    for (int i = 1; i <= n; ++i) {
      keel::node::KvNodeConfig config;
      config.raft = raft;
      config.raft.id = NodeId(i);
      config.client_address = raft.members[NodeId(i)].client;
      if (with_metrics) config.metrics_address = metrics_[i - 1];
      config.open_engine = [](Env& env) -> keel::core::Result<std::unique_ptr<keel::storage::KvEngine>> {
        KEEL_TRY_ASSIGN(auto engine, keel::storage::MemKvEngine::open(env.disk, "kv"));
        return std::unique_ptr<keel::storage::KvEngine>(std::move(engine));
      };
      const HostId host = world_.add_host("n" + std::to_string(i), [config](Env& env) {
        const keel::core::Status s = keel::node::run_kv_node(env, config);
        CHECK(s.is_ok());
      });
      world_.start(host);
    }
  }

  // See keel::testing::run_sim_client.
  bool client(const std::function<void(Env&)>& fn) {
    return keel::testing::run_sim_client(world_, clients_, fn);
  }

  const std::vector<Address>& resp() const { return resp_; }
  const std::vector<Address>& metrics() const { return metrics_; }

 private:
  std::vector<Address> resp_;
  std::vector<Address> metrics_;
  int clients_ = 0;
  World world_;
};

}  // namespace

TEST_CASE("kv node metrics: the leader reports Raft state, peers, clients and keys", "[node][sim]") {
  const uint64_t seed = GENERATE(range(1, 11));
  CAPTURE(seed);
  NodeCluster cluster(3, true, seed);
  std::map<int, Exposition> after;  // after three writes, client connected
  int leader = 0;
  REQUIRE(cluster.client([&](Env& env) {
    // Scrape until some node reports itself leader.
    for (int attempt = 0; attempt < 200 && leader == 0; ++attempt) {
      for (int i = 1; i <= 3; ++i) {
        // Refused until the node has started listening.
        const HttpReply r = scrape(env, cluster.metrics()[i - 1]);
        if (r.status() != 200) continue;
        const Exposition e = parse_exposition(r.body);
        CHECK(e.problems.empty());
        if (e.value("keel_raft_is_leader") == "1") leader = i;
      }
      if (leader == 0) env.sleep_for(Duration::millis(50));
    }
    if (leader == 0) return;
    keel::workloads::RespClient client(env, cluster.resp());
    for (const char* key : {"a", "b", "c"}) {
      auto reply = client.call({"SET", key, "v"});
      CHECK(reply.is_ok());
    }
    // Let the followers learn the commit index.
    env.sleep_for(Duration::millis(200));
    for (int i = 1; i <= 3; ++i) after[i] = parse_exposition(scrape(env, cluster.metrics()[i - 1]).body);
  }));
  REQUIRE(leader != 0);
  const std::vector<std::string> families = {
      "keel_up", "keel_node_id", "keel_raft_term", "keel_raft_is_leader", "keel_raft_leader_id",
      "keel_raft_commit_index", "keel_raft_applied_index", "keel_raft_last_index", "keel_raft_snapshot_index",
      "keel_raft_applied_entries_total", "keel_clients_connected", "keel_commands_processed_total", "keel_keys",
      "keel_durable_applied_index"};
  for (int i = 1; i <= 3; ++i) {
    INFO("node " << i);
    const Exposition& e = after[i];
    REQUIRE(e.problems.empty());
    for (const std::string& f : families) {
      INFO(f);
      CHECK(e.has(f));
    }
    CHECK(e.value("keel_up") == "1");
    CHECK(e.number("keel_node_id") == static_cast<uint64_t>(i));
    CHECK(e.number("keel_raft_leader_id") == static_cast<uint64_t>(leader));
    CHECK(e.number("keel_raft_term") == after[leader].number("keel_raft_term"));
    CHECK(e.number("keel_keys") == 3);
    CHECK(e.number("keel_raft_commit_index") <= e.number("keel_raft_last_index"));
    CHECK(e.number("keel_raft_applied_index") <= e.number("keel_raft_commit_index"));
    CHECK(e.number("keel_durable_applied_index") <= e.number("keel_raft_applied_index"));
    CHECK(e.types.at("keel_raft_applied_entries_total") == "counter");
    CHECK(e.types.at("keel_commands_processed_total") == "counter");
    CHECK(e.types.at("keel_raft_term") == "gauge");
    if (i == leader) {
      CHECK(e.value("keel_raft_is_leader") == "1");
      // The leader's no-op and the three writes.
      CHECK(e.number("keel_raft_commit_index") >= 4);
      CHECK(e.number("keel_raft_applied_entries_total") >= 3);
      CHECK(e.number("keel_commands_processed_total") >= 3);
      CHECK(e.number("keel_clients_connected") == 1);
      CHECK(e.count_prefix("keel_raft_peer_match_index{") == 2);
      CHECK(e.count_prefix("keel_raft_peer_lag_entries{") == 2);
      for (int p = 1; p <= 3; ++p) {
        const std::string label = "{peer=\"" + std::to_string(p) + "\"}";
        if (p == leader) {
          CHECK_FALSE(e.has("keel_raft_peer_match_index" + label));
          continue;
        }
        CHECK(e.number("keel_raft_peer_match_index" + label) == e.number("keel_raft_last_index"));
        CHECK(e.value("keel_raft_peer_lag_entries" + label) == "0");
      }
    } else {
      CHECK(e.value("keel_raft_is_leader") == "0");
      CHECK(e.count_prefix("keel_raft_peer_") == 0);
      CHECK(e.types.count("keel_raft_peer_match_index") == 0);
    }
  }
}

TEST_CASE("kv node metrics: without a metrics address nothing listens", "[node][sim]") {
  NodeCluster cluster(1, false);
  keel::core::Status connected;
  keel::core::Result<keel::net::resp::Value> ping = keel::core::cancelled("not run");
  REQUIRE(cluster.client([&](Env& env) {
    env.sleep_for(Duration::millis(500));
    keel::workloads::RespClient client(env, cluster.resp());
    ping = client.call({"PING"});
    auto s = env.net.connect(cluster.metrics()[0], Duration::seconds(1));
    connected = s.is_ok() ? keel::core::Status::ok() : s.status();
  }));
  REQUIRE(ping.is_ok());
  REQUIRE_FALSE(connected.is_ok());
}
