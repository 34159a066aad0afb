// PosixNetwork: the production core::Network, nonblocking TCP over IPv4 on
// the EventLoop.
//
// Every socket is nonblocking, close-on-exec and registered edge-triggered
// with the loop (see EventLoop for why no wake-up is lost). Streams set
// TCP_NODELAY: keel frames whole messages itself, so Nagle's delay would only
// add latency. Sends use MSG_NOSIGNAL, so a peer's reset never raises
// SIGPIPE.
//
// Host names are resolved without blocking the loop by accepting only
// numeric forms: IPv4 literals ("10.0.0.7"), "localhost" (127.0.0.1) and,
// for listen(), "" or "0.0.0.0" for every interface. Anything else is
// InvalidArgument; a composition root that wants DNS names resolves them
// before building Addresses.
//
// Lifetimes: a Stream or Listener must outlive every fiber blocked in one of
// its calls; close() first (which wakes them with Cancelled), let them
// return, then destroy it. Both must be destroyed before the EventLoop.
#pragma once

#include <sys/socket.h>

#include <cstdint>
#include <memory>

#include "core/env.h"
#include "core/status.h"
#include "net/posix/event_loop.h"

namespace keel::posix {

class PosixNetwork final : public core::Network {
 public:
  // The accept queue length listen() asks for (the kernel caps it at
  // net.core.somaxconn).
  static constexpr int kListenBacklogDefault = 1024;

  explicit PosixNetwork(EventLoop& loop) : loop_(loop) {}

  // Binds with SO_REUSEADDR (so a restarted node can take its port back
  // while old connections sit in TIME_WAIT) and listens. Port 0 picks a free
  // port; Listener::address() reports the bound one. Errors: AlreadyExists
  // (EADDRINUSE), InvalidArgument (host), IoError.
  core::Result<std::unique_ptr<core::Listener>> listen(const core::Address& address) override;
  // As listen(), with an explicit accept queue length (tests use a tiny one).
  core::Result<std::unique_ptr<core::Listener>> listen_with_backlog(const core::Address& address, int backlog);

  // Connects, waiting at most `timeout`. Errors: Unavailable (refused,
  // unreachable, reset), DeadlineExceeded (timeout), InvalidArgument (host),
  // IoError. May suspend.
  core::Result<std::unique_ptr<core::Stream>> connect(const core::Address& address, core::Duration timeout) override;

 private:
  EventLoop& loop_;
};

}  // namespace keel::posix
