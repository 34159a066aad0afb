// MetricsServer: a minimal HTTP/1.1 endpoint that serves Prometheus'
// text exposition format (version 0.0.4) on its own address, on core::Env.
//
// One request per connection: the server reads the request head (request
// line and headers, up to a bound), answers, and closes. That is all a
// Prometheus scrape needs, and it keeps each connection's state to one
// buffer. Responses:
//   GET|HEAD /metrics          200, the text from MetricsServerOptions::render
//   another method on /metrics 405 with "Allow: GET, HEAD"
//   any other path             404
//   a malformed head, or one larger than request_bytes_max: 400
//   over connections_max       503 (or a bare close while many are refused)
// Every response carries Content-Length and "Connection: close". After an
// error reply the server reads and drops input for a moment before it
// closes, so that input left unread does not make TCP reset the connection
// under the reply. A client that has not sent a complete request head
// within request_timeout is disconnected; the same deadline bounds the time
// spent writing the reply, so a client that stops reading cannot hold a
// connection either.
//
// The server knows nothing of what it reports: the owner's render callback
// produces the exposition text, usually with a MetricsWriter.
//
// Lifetime: connection fibers live in a core::FiberGroup owned by the
// server; destroying the server kills them before the members they use go.
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/env.h"
#include "core/fiber_group.h"

namespace keel::node {

// Builds Prometheus text exposition: "# HELP" and "# TYPE" once per family,
// followed by its samples, "name{label="value",...} value".
//
// Metric and label names must match Prometheus' grammar (a programmer
// error otherwise: they are constants in our code). Label values and help
// texts may hold any bytes; they are escaped as the format requires. The
// samples of one family must be written one after another: opening a
// family that was closed by another is a programmer error.
class MetricsWriter {
 public:
  using Labels = std::vector<std::pair<std::string, std::string>>;

  void gauge(std::string_view name, std::string_view help, uint64_t value, const Labels& labels = {}) {
    sample(name, "gauge", help, value, labels);
  }
  // Counter names end in "_total" by convention.
  void counter(std::string_view name, std::string_view help, uint64_t value, const Labels& labels = {}) {
    sample(name, "counter", help, value, labels);
  }

  const std::string& text() const { return out_; }
  std::string take() { return std::move(out_); }

  // "\" -> "\\", newline -> "\n", and (in label values) '"' -> "\"".
  static std::string escape_label_value(std::string_view value);
  static std::string escape_help(std::string_view help);
  static bool valid_metric_name(std::string_view name);
  static bool valid_label_name(std::string_view name);

 private:
  void sample(std::string_view name, std::string_view type, std::string_view help, uint64_t value,
              const Labels& labels);

  std::string out_;
  std::string current_family_;
  std::set<std::string, std::less<>> closed_families_;
};

struct MetricsServerLimits {
  // Connections served at once; beyond it a client gets 503 and is closed.
  size_t connections_max = 64;
  // The request line plus headers, with their line ends.
  size_t request_bytes_max = 8 * 1024;
  // From accept to the end of the reply.
  core::Duration request_timeout = core::Duration::seconds(10);
  // Bytes read from a client at a time.
  size_t read_chunk_bytes = 2 * 1024;
};

struct MetricsServerOptions {
  core::Address address;
  MetricsServerLimits limits;
  // Returns the exposition text for one scrape. May suspend (e.g. to count
  // keys in the engine); must not be empty.
  std::function<std::string()> render;
};

struct MetricsServerStats {
  uint64_t connections_open = 0;
  uint64_t connections_accepted = 0;
  uint64_t connections_rejected = 0;  // over connections_max
  uint64_t scrapes = 0;               // 200 responses
  uint64_t not_found = 0;             // 404
  uint64_t bad_method = 0;            // 405
  uint64_t bad_requests = 0;          // 400
  uint64_t timeouts = 0;              // closed by request_timeout
};

class MetricsServer {
 public:
  // Borrows `env`, which must outlive the server.
  MetricsServer(core::Env& env, MetricsServerOptions options);
  ~MetricsServer();
  MetricsServer(const MetricsServer&) = delete;
  MetricsServer& operator=(const MetricsServer&) = delete;

  // Starts listening and accepting. Errors from Network::listen
  // (AlreadyExists, InvalidArgument). Precondition: not started.
  core::Status start();
  // Stops accepting and closes every connection. Idempotent; never suspends.
  void stop();

  const core::Address& address() const { return options_.address; }
  const MetricsServerStats& stats() const { return stats_; }

 private:
  void accept_loop();
  void serve(std::unique_ptr<core::Stream> stream);
  // Writes an error reply, then reads and discards what the client still
  // sends, briefly, before the caller closes. May suspend.
  void reply_and_linger(core::Stream& stream, std::string_view reply);

  core::Env& env_;
  MetricsServerOptions options_;
  MetricsServerStats stats_;
  std::unique_ptr<core::Listener> listener_;
  // Open connections by id, for stop(); each serving fiber removes its own.
  std::map<uint64_t, core::Stream*> connections_;
  uint64_t next_connection_id_ = 1;
  // Fibers writing a 503 to a connection over the limit.
  size_t refusing_ = 0;
  bool stopped_ = false;
  // Last: destroyed first, killing the fibers that use the members above.
  core::FiberGroup fibers_;
};

// What an HTTP request head says, as far as the server cares. Exposed for
// tests.
struct HttpRequestHead {
  std::string method;
  std::string path;  // the request target without its query string
};
// Parses a complete request head (through the empty line). InvalidArgument
// for a malformed request line, version or header line.
core::Result<HttpRequestHead> parse_http_request_head(std::string_view head);

// A node's optional metrics endpoint: when `address` is set, starts a
// server rendering `render` into `into`. Errors (from start) name the
// address. May suspend.
core::Status start_metrics_endpoint(core::Env& env, const std::optional<core::Address>& address,
                                    std::function<std::string()> render, std::optional<MetricsServer>& into);

}  // namespace keel::node
