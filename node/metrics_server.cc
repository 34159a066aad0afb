#include "node/metrics_server.h"

#include <algorithm>
#include <utility>

#include "core/assert.h"
#include "net/accept.h"
#include "net/deadline.h"

namespace keel::node {

using core::Status;

namespace {

constexpr std::string_view kMetricsPath = "/metrics";
constexpr std::string_view kExpositionContentType = "text/plain; version=0.0.4; charset=utf-8";
constexpr std::string_view kPlainContentType = "text/plain; charset=utf-8";
// How long the accept loop backs off after an unexpected accept error.
// After an error reply the client may still be sending (an oversized head,
// a body). Closing a socket with unread input makes TCP reset the
// connection, which can destroy the reply before the client reads it; so
// the server first reads and discards input for a short while, until the
// client closes its end. Both bounds keep a client from holding on.
constexpr core::Duration kLingerTime = core::Duration::millis(250);
constexpr size_t kLingerBytesMax = 64 * 1024;
// Connections being refused (503) at once; beyond it they are closed
// without a reply.
constexpr size_t kRefusingMax = 8;

bool is_alpha(char ch) { return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z'); }
bool is_digit(char ch) { return ch >= '0' && ch <= '9'; }

// RFC 9110 token characters (method and header names).
bool is_tchar(char ch) {
  if (is_alpha(ch) || is_digit(ch)) return true;
  return std::string_view("!#$%&'*+-.^_`|~").find(ch) != std::string_view::npos;
}
bool is_token(std::string_view s) { return !s.empty() && std::all_of(s.begin(), s.end(), is_tchar); }

// Visible ASCII and bytes >= 0x80 (obs-text): what a request target or a
// header value may hold besides spaces and tabs.
bool is_visible(char ch) {
  const auto u = static_cast<unsigned char>(ch);
  return u > 0x20 && u != 0x7f;
}

// Splits `head` into lines at LF, dropping one CR before each LF (RFC 9112
// lets a recipient accept a bare LF as a line end). The caller has cut the
// head at its terminating empty line, which is not returned.
std::vector<std::string_view> head_lines(std::string_view head) {
  std::vector<std::string_view> lines;
  while (!head.empty()) {
    const size_t lf = head.find('\n');
    std::string_view line = head.substr(0, lf);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    lines.push_back(line);
    if (lf == std::string_view::npos) break;
    head.remove_prefix(lf + 1);
  }
  while (!lines.empty() && lines.back().empty()) lines.pop_back();
  return lines;
}

// The length of the head in `buffer` through its empty line, or npos while
// it is incomplete.
size_t head_end(std::string_view buffer) {
  size_t line_start = 0;
  for (;;) {
    const size_t lf = buffer.find('\n', line_start);
    if (lf == std::string_view::npos) return std::string_view::npos;
    const std::string_view line = buffer.substr(line_start, lf - line_start);
    if (line.empty() || line == "\r") return lf + 1;
    line_start = lf + 1;
  }
}

// True when the bytes received so far cannot begin a request line: a
// control byte before the first line end (a TLS handshake, binary junk).
// Such a client is answered at once instead of waiting for a line end that
// may never come.
bool bad_request_line_prefix(std::string_view buffer) {
  const std::string_view line = buffer.substr(0, buffer.find('\n'));
  for (size_t i = 0; i < line.size(); ++i) {
    const auto u = static_cast<unsigned char>(line[i]);
    // A CR may end the line (its LF is next, or has yet to arrive).
    if (u == '\r' && i + 1 == line.size()) continue;
    if (u < 0x20 || u == 0x7f) return true;
  }
  return false;
}

std::string response(std::string_view status, std::string_view content_type, std::string_view body, bool with_body,
                     std::string_view extra_headers = {}) {
  std::string out = "HTTP/1.1 ";
  out += status;
  out += "\r\nContent-Type: ";
  out += content_type;
  out += "\r\nContent-Length: ";
  out += std::to_string(body.size());
  out += "\r\n";
  out += extra_headers;
  out += "Connection: close\r\n\r\n";
  if (with_body) out += body;
  return out;
}

}  // namespace

// --- MetricsWriter ----------------------------------------------------------

std::string MetricsWriter::escape_label_value(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char ch : value) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '"') {
      out += "\\\"";
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

std::string MetricsWriter::escape_help(std::string_view help) {
  std::string out;
  out.reserve(help.size());
  for (char ch : help) {
    if (ch == '\\') {
      out += "\\\\";
    } else if (ch == '\n') {
      out += "\\n";
    } else {
      out += ch;
    }
  }
  return out;
}

bool MetricsWriter::valid_metric_name(std::string_view name) {
  if (name.empty() || is_digit(name.front())) return false;
  return std::all_of(name.begin(), name.end(),
                     [](char ch) { return is_alpha(ch) || is_digit(ch) || ch == '_' || ch == ':'; });
}

bool MetricsWriter::valid_label_name(std::string_view name) {
  if (name.empty() || is_digit(name.front())) return false;
  // Names starting with "__" are reserved for Prometheus itself.
  if (name.starts_with("__")) return false;
  return std::all_of(name.begin(), name.end(), [](char ch) { return is_alpha(ch) || is_digit(ch) || ch == '_'; });
}

void MetricsWriter::sample(std::string_view name, std::string_view type, std::string_view help, uint64_t value,
                           const Labels& labels) {
  KEEL_ASSERT_MSG(valid_metric_name(name), "metric names are constants of our code");
  if (name != current_family_) {
    KEEL_ASSERT_MSG(closed_families_.find(name) == closed_families_.end(),
                    "the samples of a metric family must be written together");
    if (!current_family_.empty()) closed_families_.insert(current_family_);
    current_family_ = std::string(name);
    out_ += "# HELP ";
    out_ += name;
    out_ += ' ';
    out_ += escape_help(help);
    out_ += "\n# TYPE ";
    out_ += name;
    out_ += ' ';
    out_ += type;
    out_ += '\n';
  }
  out_ += name;
  if (!labels.empty()) {
    out_ += '{';
    for (size_t i = 0; i < labels.size(); ++i) {
      KEEL_ASSERT_MSG(valid_label_name(labels[i].first), "label names are constants of our code");
      if (i > 0) out_ += ',';
      out_ += labels[i].first;
      out_ += "=\"";
      out_ += escape_label_value(labels[i].second);
      out_ += '"';
    }
    out_ += '}';
  }
  out_ += ' ';
  out_ += std::to_string(value);
  out_ += '\n';
}

// --- Request parsing ----------------------------------------------------------

core::Result<HttpRequestHead> parse_http_request_head(std::string_view head) {
  const std::vector<std::string_view> lines = head_lines(head);
  if (lines.empty()) return core::invalid_argument("empty request");
  const std::string_view line = lines.front();
  const size_t sp1 = line.find(' ');
  const size_t sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
  if (sp2 == std::string_view::npos || line.find(' ', sp2 + 1) != std::string_view::npos) {
    return core::invalid_argument("request line is not METHOD TARGET VERSION");
  }
  const std::string_view method = line.substr(0, sp1);
  std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
  const std::string_view version = line.substr(sp2 + 1);
  if (!is_token(method)) return core::invalid_argument("bad method");
  if (version != "HTTP/1.1" && version != "HTTP/1.0") return core::invalid_argument("unsupported HTTP version");
  if (target.empty() || !std::all_of(target.begin(), target.end(), is_visible)) {
    return core::invalid_argument("bad request target");
  }
  // The absolute form (sent to proxies; servers must accept it) names the
  // same path after the authority.
  for (std::string_view scheme : {"http://", "https://"}) {
    if (target.starts_with(scheme)) {
      target.remove_prefix(scheme.size());
      const size_t slash = target.find('/');
      target = slash == std::string_view::npos ? std::string_view("/") : target.substr(slash);
    }
  }
  if (target.front() != '/') return core::invalid_argument("bad request target");
  target = target.substr(0, target.find_first_of("?#"));

  for (size_t i = 1; i < lines.size(); ++i) {
    const std::string_view header = lines[i];
    // A line starting with whitespace is obsolete line folding, which a
    // server may reject; so are names with spaces before the colon.
    const size_t colon = header.find(':');
    if (colon == std::string_view::npos || !is_token(header.substr(0, colon))) {
      return core::invalid_argument("malformed header line");
    }
    const std::string_view value = header.substr(colon + 1);
    if (!std::all_of(value.begin(), value.end(), [](char ch) { return ch == ' ' || ch == '\t' || is_visible(ch); })) {
      return core::invalid_argument("control character in a header value");
    }
  }
  // HTTP/1.1 asks servers to refuse requests without Host; a scrape target
  // has one name only, so the header is not checked, which keeps the
  // endpoint easy to probe by hand.
  return HttpRequestHead{std::string(method), std::string(target)};
}

// --- MetricsServer ------------------------------------------------------------

MetricsServer::MetricsServer(core::Env& env, MetricsServerOptions options)
    : env_(env), options_(std::move(options)), fibers_(env) {
  KEEL_ASSERT(options_.render != nullptr);
  KEEL_ASSERT(options_.limits.connections_max > 0);
  KEEL_ASSERT(options_.limits.request_bytes_max > 0);
  KEEL_ASSERT(options_.limits.read_chunk_bytes > 0);
}

MetricsServer::~MetricsServer() { stop(); }

Status MetricsServer::start() {
  KEEL_ASSERT(listener_ == nullptr);
  KEEL_ASSERT(!stopped_);
  KEEL_TRY_ASSIGN(listener_, env_.net.listen(options_.address));
  fibers_.spawn("metrics.accept", [this] { accept_loop(); });
  return Status::ok();
}

void MetricsServer::stop() {
  if (stopped_) return;
  stopped_ = true;
  if (listener_) listener_->close();
  for (const auto& [id, stream] : connections_) stream->close();
}

void MetricsServer::accept_loop() {
  net::accept_connections(env_, *listener_, [this] { return stopped_; }, [this](std::unique_ptr<core::Stream> stream) {
    if (stats_.connections_open >= options_.limits.connections_max) {
      ++stats_.connections_rejected;
      // The refusal is written (and lingers) in a fiber of its own, so the
      // accept loop never waits on a client; beyond a few refusals at once
      // the connection is just closed.
      if (refusing_ >= kRefusingMax) return;
      ++refusing_;
      auto holder = std::make_shared<std::unique_ptr<core::Stream>>(std::move(stream));
      fibers_.spawn("metrics.refuse", [this, holder] {
        struct Count {
          size_t& refusing;
          ~Count() { --refusing; }
        } count{refusing_};
        core::Stream& refused = **holder;
        net::CloseAtDeadline deadline(env_.clock, refused, env_.now() + options_.limits.request_timeout);
        reply_and_linger(refused,
                         response("503 Service Unavailable", kPlainContentType, "too many connections\n", true));
      });
      return;
    }
    ++stats_.connections_accepted;
    // Counted here, not when the fiber first runs, so a burst of accepts
    // cannot overshoot the limit.
    ++stats_.connections_open;
    auto holder = std::make_shared<std::unique_ptr<core::Stream>>(std::move(stream));
    fibers_.spawn("metrics.conn", [this, holder] { serve(std::move(*holder)); });
  });
}

void MetricsServer::serve(std::unique_ptr<core::Stream> stream) {
  const uint64_t id = next_connection_id_++;
  connections_[id] = stream.get();
  // Unregisters on every way out, including a kill that unwinds the fiber.
  struct Registration {
    MetricsServer& server;
    uint64_t id;
    ~Registration() {
      server.connections_.erase(id);
      --server.stats_.connections_open;
    }
  } registration{*this, id};
  if (stopped_) return;
  const MetricsServerLimits& limits = options_.limits;
  net::CloseAtDeadline deadline(env_.clock, *stream, env_.now() + limits.request_timeout);

  std::string buffer;
  std::string chunk(limits.read_chunk_bytes, '\0');
  size_t end = std::string::npos;
  for (;;) {
    // Empty lines before the request line are to be ignored (RFC 9112 2.2).
    const size_t first = buffer.find_first_not_of("\r\n");
    buffer.erase(0, first == std::string::npos ? buffer.size() : first);
    if (bad_request_line_prefix(buffer)) {
      ++stats_.bad_requests;
      reply_and_linger(*stream, response("400 Bad Request", kPlainContentType, "malformed request line\n", true));
      return;
    }
    end = head_end(buffer);
    if (end != std::string::npos && end <= limits.request_bytes_max) break;
    if (end != std::string::npos || buffer.size() >= limits.request_bytes_max) {
      ++stats_.bad_requests;
      reply_and_linger(*stream, response("400 Bad Request", kPlainContentType, "request head too large\n", true));
      return;
    }
    core::Result<size_t> n = stream->read(chunk.data(), chunk.size());
    if (!n.is_ok() || *n == 0) {
      if (deadline.expired()) ++stats_.timeouts;
      return;
    }
    buffer.append(chunk.data(), *n);
  }

  core::Result<HttpRequestHead> request = parse_http_request_head(std::string_view(buffer).substr(0, end));
  if (!request.is_ok()) {
    ++stats_.bad_requests;
    reply_and_linger(*stream, response("400 Bad Request", kPlainContentType, request.status().message() + "\n", true));
    return;
  }
  const bool head_only = request->method == "HEAD";
  if (request->path != kMetricsPath) {
    ++stats_.not_found;
    reply_and_linger(*stream,
                     response("404 Not Found", kPlainContentType, "not found; metrics are at /metrics\n", !head_only));
    return;
  }
  if (request->method != "GET" && !head_only) {
    ++stats_.bad_method;
    reply_and_linger(*stream, response("405 Method Not Allowed", kPlainContentType, "method not allowed\n", true,
                                       "Allow: GET, HEAD\r\n"));
    return;
  }
  const std::string body = options_.render();
  // render() may have suspended: the server may have stopped meanwhile, in
  // which case the stream is closed and the write below fails harmlessly.
  ++stats_.scrapes;
  const Status written = stream->write(response("200 OK", kExpositionContentType, body, !head_only));
  if (!written.is_ok() && deadline.expired()) ++stats_.timeouts;
}

void MetricsServer::reply_and_linger(core::Stream& stream, std::string_view reply) {
  if (!stream.write(reply).is_ok()) return;
  net::CloseAtDeadline linger(env_.clock, stream, env_.now() + kLingerTime);
  char discard[1024];
  size_t drained = 0;
  while (drained < kLingerBytesMax) {
    core::Result<size_t> n = stream.read(discard, sizeof discard);
    if (!n.is_ok() || *n == 0) return;
    drained += *n;
  }
}

core::Status start_metrics_endpoint(core::Env& env, const std::optional<core::Address>& address,
                                    std::function<std::string()> render, std::optional<MetricsServer>& into) {
  if (!address) return core::Status::ok();
  MetricsServerOptions options;
  options.address = *address;
  options.render = std::move(render);
  into.emplace(env, std::move(options));
  const core::Status listening = into->start();
  if (listening.is_ok()) return listening;
  return core::Status(listening.code(), "metrics endpoint on " + address->to_string() + ": " + listening.message());
}

}  // namespace keel::node
