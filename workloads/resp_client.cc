#include "workloads/resp_client.h"

#include "net/deadline.h"
#include "net/resp/reply_writer.h"

namespace keel::workloads {

using net::resp::Type;
using net::resp::Value;

namespace {
constexpr size_t kReadChunkBytes = 16 * 1024;
}  // namespace

RespClient::RespClient(core::Env& env, std::vector<core::Address> nodes, RespClientOptions options)
    : env_(env), nodes_(std::move(nodes)), options_(options) {
  KEEL_ASSERT(!nodes_.empty());
}

RespClient::~RespClient() = default;

void RespClient::disconnect() {
  stream_.reset();
  parser_.reset();
}

void RespClient::move_on() {
  disconnect();
  target_ = (target_ + 1) % nodes_.size();
}

core::Status RespClient::ensure_connected() {
  if (stream_) return core::Status::ok();
  auto s = env_.net.connect(nodes_[target_], options_.connect_timeout);
  if (!s.is_ok()) {
    // Try the next node next time: this one may be down.
    target_ = (target_ + 1) % nodes_.size();
    return core::unavailable("connect to " + nodes_[target_].to_string() + ": " + s.status().to_string());
  }
  stream_ = std::move(*s);
  parser_ = std::make_unique<net::resp::ReplyParser>();
  return core::Status::ok();
}

core::Result<Value> RespClient::call_once(const std::vector<std::string>& argv, bool* sent) {
  *sent = false;
  KEEL_TRY(ensure_connected());
  core::Bytes request;
  std::vector<core::ByteView> views(argv.begin(), argv.end());
  net::resp::append_request(request, views);
  const core::Instant deadline = env_.now() + options_.call_timeout;
  net::CloseAtDeadline guard(env_.clock, *stream_, deadline);
  if (core::Status w = stream_->write(request); !w.is_ok()) {
    disconnect();
    // Part of the request may have left; a partial request is never
    // executed, a whole one may be.
    *sent = true;
    return core::deadline_exceeded("write failed: " + w.to_string());
  }
  *sent = true;
  char buf[kReadChunkBytes];
  for (;;) {
    auto v = parser_->next();
    if (!v.is_ok()) {
      disconnect();
      return core::deadline_exceeded("bad reply: " + v.status().to_string());
    }
    if (v->has_value()) return std::move(**v);
    auto r = stream_->read(buf, sizeof buf);
    if (!r.is_ok() || *r == 0) {
      const bool expired = guard.expired();
      disconnect();
      return core::deadline_exceeded(expired ? "no reply in time" : "connection lost awaiting reply");
    }
    parser_->feed(core::ByteView(buf, *r));
  }
}

core::Result<Value> RespClient::call(const std::vector<std::string>& argv) {
  for (int redirects = 0;; ++redirects) {
    bool sent = false;
    auto reply = call_once(argv, &sent);
    if (!reply.is_ok()) return reply;
    auto moved = moved_target(*reply);
    if (!moved || redirects >= options_.redirects_max) return reply;
    // Follow the redirect: remember the named node as the target.
    size_t i = 0;
    while (i < nodes_.size() && !(nodes_[i] == *moved)) ++i;
    if (i == nodes_.size()) nodes_.push_back(*moved);
    if (i != target_) {
      target_ = i;
      disconnect();
    }
  }
}

bool error_is_definite(const Value& reply) {
  if (reply.type != Type::kError) return true;
  for (const char* prefix : {"MOVED", "CLUSTERDOWN", "TRYAGAIN", "ERR", "WRONGTYPE", "NOAUTH", "READONLY"}) {
    if (reply.str.rfind(prefix, 0) == 0) return true;
  }
  return false;
}

std::optional<core::Address> moved_target(const Value& reply) {
  if (reply.type != Type::kError || reply.str.rfind("MOVED ", 0) != 0) return std::nullopt;
  const size_t space = reply.str.find(' ', 6);
  if (space == std::string::npos) return std::nullopt;
  auto a = core::Address::parse(reply.str.substr(space + 1));
  if (!a.is_ok()) return std::nullopt;
  return *a;
}

}  // namespace keel::workloads
