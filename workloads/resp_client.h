// RespClient: keel's own Redis-protocol client, on core::Env, used by the
// workloads in simulation and against real keeld processes.
//
// It keeps one connection, follows -MOVED redirects to the node they name,
// and classifies every outcome the way a history needs it:
//   - a reply (including an error reply) → the Value; the caller decides;
//   - Unavailable      → the request was definitely not delivered (the
//                        connection could not be made, or broke before the
//                        request was written);
//   - DeadlineExceeded → the request may have been delivered and applied,
//                        but no reply came in time (outcome unknown).
// Server error replies that mean "not applied" (MOVED after the redirect
// budget, CLUSTERDOWN, TRYAGAIN, ERR, WRONGTYPE, NOAUTH) are definite;
// anything else (e.g. UNCERTAIN) is an unknown outcome: see
// error_is_definite().
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "core/env.h"
#include "net/resp/reply_parser.h"
#include "net/resp/value.h"

namespace keel::workloads {

struct RespClientOptions {
  core::Duration connect_timeout = core::Duration::millis(500);
  core::Duration call_timeout = core::Duration::seconds(1);
  // Redirects followed per call before giving up (a definite failure).
  int redirects_max = 3;
};

class RespClient {
 public:
  // `nodes` are the addresses to try, in order, when no leader is known.
  RespClient(core::Env& env, std::vector<core::Address> nodes, RespClientOptions options = {});
  ~RespClient();

  // Sends `argv` and waits for the reply. May suspend.
  core::Result<net::resp::Value> call(const std::vector<std::string>& argv);

  // Drops the connection (the next call reconnects).
  void disconnect();
  // Drops the connection and makes the next node in the list the target, as
  // a client that gave up on a node does.
  void move_on();
  // The node the next call goes to.
  const core::Address& target() const { return nodes_[target_]; }

 private:
  core::Status ensure_connected();
  core::Result<net::resp::Value> call_once(const std::vector<std::string>& argv, bool* sent);

  core::Env& env_;
  std::vector<core::Address> nodes_;
  RespClientOptions options_;
  size_t target_ = 0;
  std::unique_ptr<core::Stream> stream_;
  std::unique_ptr<net::resp::ReplyParser> parser_;
};

// True for error replies that guarantee the command was not applied.
bool error_is_definite(const net::resp::Value& reply);
// Parses "-MOVED <slot> <host:port>"; nullopt if `reply` is not one.
std::optional<core::Address> moved_target(const net::resp::Value& reply);

}  // namespace keel::workloads
