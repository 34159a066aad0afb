#include "net/posix/posix_network.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "core/assert.h"

namespace keel::posix {

namespace {

core::Result<sockaddr_in> to_sockaddr(const core::Address& address, bool for_listen) {
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(address.port);
  const std::string& host = address.host;
  if (host == "localhost") {
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  } else if (for_listen && (host.empty() || host == "0.0.0.0")) {
    sa.sin_addr.s_addr = htonl(INADDR_ANY);
  } else if (::inet_pton(AF_INET, host.c_str(), &sa.sin_addr) != 1) {
    return core::invalid_argument("host '" + host + "' is not an IPv4 literal or 'localhost'");
  }
  return sa;
}

core::Address from_sockaddr(const sockaddr_in& sa) {
  char text[INET_ADDRSTRLEN] = {};
  ::inet_ntop(AF_INET, &sa.sin_addr, text, sizeof text);
  core::Address a;
  a.host = text;
  a.port = ntohs(sa.sin_port);
  return a;
}

// Errors that mean the connection or the route to the peer is gone: the
// caller may retry (reconnect).
bool is_connection_error(int err) {
  switch (err) {
    case ECONNREFUSED:
    case ECONNRESET:
    case ECONNABORTED:
    case EPIPE:
    case ENETUNREACH:
    case ENETDOWN:
    case EHOSTUNREACH:
    case EHOSTDOWN:
    case ETIMEDOUT:
    case ENOTCONN:
    case EADDRNOTAVAIL:
      return true;
    default:
      return false;
  }
}

core::Status socket_status(int err, std::string_view op, const core::Address& peer) {
  std::string message = std::string(op) + " " + peer.to_string() + ": " + errno_text(err);
  if (is_connection_error(err)) return core::unavailable(std::move(message));
  return core::io_error(std::move(message));
}

// Registers a socket with the loop; on failure closes it and marks its
// owner closed, so the owner's destructor has nothing left to release.
core::Status register_fd(EventLoop& loop, int& fd, IoWatch& watch, bool& closed) {
  const core::Status s = loop.add_fd(fd, &watch);
  if (!s.is_ok()) {
    ::close(fd);
    fd = -1;
    closed = true;
  }
  return s;
}

class PosixStream final : public core::Stream {
 public:
  PosixStream(EventLoop& loop, int fd, core::Address peer) : loop_(loop), fd_(fd), peer_(std::move(peer)), watch_(loop.fibers()) {}
  ~PosixStream() override { close(); }

  // Registers with the loop; on failure the stream is closed.
  core::Status start() { return register_fd(loop_, fd_, watch_, closed_); }

  core::Result<size_t> read(char* buf, size_t len) override {
    if (len == 0) return closed_ ? core::Result<size_t>(core::cancelled("stream closed")) : size_t{0};
    for (;;) {
      if (closed_) return core::cancelled("stream to " + peer_.to_string() + " closed");
      const ssize_t n = ::recv(fd_, buf, len, 0);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch_.readers().wait();
        continue;
      }
      return socket_status(errno, "read from", peer_);
    }
  }

  core::Status write(core::ByteView data) override {
    size_t done = 0;
    while (done < data.size()) {
      if (closed_) return core::cancelled("stream to " + peer_.to_string() + " closed");
      const ssize_t n = ::send(fd_, data.data() + done, data.size() - done, MSG_NOSIGNAL);
      if (n >= 0) {
        done += static_cast<size_t>(n);
        continue;
      }
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        watch_.writers().wait();
        continue;
      }
      return socket_status(errno, "write to", peer_);
    }
    if (closed_) return core::cancelled("stream to " + peer_.to_string() + " closed");
    return core::Status::ok();
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    loop_.remove_fd(fd_);
    ::close(fd_);
    fd_ = -1;
    watch_.readers().notify_all();
    watch_.writers().notify_all();
  }

  core::Address peer() const override { return peer_; }

  // Connects the registered socket to `sa`, parking until it completes,
  // fails or `deadline` passes. May suspend.
  core::Status finish_connect(const sockaddr_in& sa, core::Instant deadline) {
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0) return core::Status::ok();
    // EINTR on a nonblocking connect: it goes on in the background.
    if (errno != EINPROGRESS && errno != EINTR) return socket_status(errno, "connect to", peer_);
    for (;;) {
      if (!watch_.writers().wait_until(loop_.clock(), deadline)) {
        return core::deadline_exceeded("connect to " + peer_.to_string() + ": timed out");
      }
      if (closed_) return core::cancelled("stream to " + peer_.to_string() + " closed");
      int err = 0;
      socklen_t err_len = sizeof err;
      if (::getsockopt(fd_, SOL_SOCKET, SO_ERROR, &err, &err_len) != 0) err = errno;
      if (err != 0) return socket_status(err, "connect to", peer_);
      sockaddr_in peer{};
      socklen_t peer_len = sizeof peer;
      if (::getpeername(fd_, reinterpret_cast<sockaddr*>(&peer), &peer_len) == 0) return core::Status::ok();
      // Still in progress: a spurious wake-up.
    }
  }

 private:
  EventLoop& loop_;
  int fd_;
  core::Address peer_;
  IoWatch watch_;
  bool closed_ = false;
};

class PosixListener final : public core::Listener {
 public:
  PosixListener(EventLoop& loop, int fd, core::Address bound) : loop_(loop), fd_(fd), bound_(std::move(bound)), watch_(loop.fibers()) {}
  ~PosixListener() override { close(); }

  core::Status start() { return register_fd(loop_, fd_, watch_, closed_); }

  core::Result<std::unique_ptr<core::Stream>> accept() override {
    for (;;) {
      if (closed_) return core::cancelled("listener on " + bound_.to_string() + " closed");
      sockaddr_in sa{};
      socklen_t sa_len = sizeof sa;
      const int fd = ::accept4(fd_, reinterpret_cast<sockaddr*>(&sa), &sa_len, SOCK_NONBLOCK | SOCK_CLOEXEC);
      if (fd < 0) {
        const int err = errno;
        if (err == EAGAIN || err == EWOULDBLOCK) {
          watch_.readers().wait();
          continue;
        }
        // A connection that died in the accept queue, or a signal: not the
        // listener's problem, take the next one.
        if (err == EINTR || err == ECONNABORTED || err == EPROTO || err == EPERM) continue;
        // Out of descriptors or memory: the caller should back off and retry.
        if (err == EMFILE || err == ENFILE || err == ENOBUFS || err == ENOMEM) {
          return core::unavailable("accept on " + bound_.to_string() + ": " + errno_text(err));
        }
        return core::io_error("accept on " + bound_.to_string() + ": " + errno_text(err));
      }
      const int one = 1;
      ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      auto stream = std::make_unique<PosixStream>(loop_, fd, from_sockaddr(sa));
      KEEL_TRY(stream->start());
      return std::unique_ptr<core::Stream>(std::move(stream));
    }
  }

  void close() override {
    if (closed_) return;
    closed_ = true;
    loop_.remove_fd(fd_);
    ::close(fd_);
    fd_ = -1;
    watch_.readers().notify_all();
  }

  core::Address address() const override { return bound_; }

 private:
  EventLoop& loop_;
  int fd_;
  core::Address bound_;
  IoWatch watch_;
  bool closed_ = false;
};

// Closes the fd on every early return.
struct FdGuard {
  int fd;
  ~FdGuard() {
    if (fd >= 0) ::close(fd);
  }
  int release() {
    const int f = fd;
    fd = -1;
    return f;
  }
};

}  // namespace

core::Result<std::unique_ptr<core::Listener>> PosixNetwork::listen(const core::Address& address) {
  return listen_with_backlog(address, kListenBacklogDefault);
}

core::Result<std::unique_ptr<core::Listener>> PosixNetwork::listen_with_backlog(const core::Address& address,
                                                                                int backlog) {
  KEEL_TRY_ASSIGN(const sockaddr_in sa, to_sockaddr(address, /*for_listen=*/true));
  FdGuard fd{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (fd.fd < 0) return core::io_error("socket: " + errno_text(errno));
  const int one = 1;
  if (::setsockopt(fd.fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) != 0) {
    return core::io_error("setsockopt SO_REUSEADDR: " + errno_text(errno));
  }
  if (::bind(fd.fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
    const int err = errno;
    const std::string message = "bind " + address.to_string() + ": " + errno_text(err);
    if (err == EADDRINUSE) return core::already_exists(message);
    if (err == EADDRNOTAVAIL) return core::invalid_argument(message);
    return core::io_error(message);
  }
  if (::listen(fd.fd, backlog) != 0) {
    const int err = errno;
    const std::string message = "listen " + address.to_string() + ": " + errno_text(err);
    if (err == EADDRINUSE) return core::already_exists(message);
    return core::io_error(message);
  }
  sockaddr_in bound{};
  socklen_t bound_len = sizeof bound;
  if (::getsockname(fd.fd, reinterpret_cast<sockaddr*>(&bound), &bound_len) != 0) {
    return core::io_error("getsockname: " + errno_text(errno));
  }
  core::Address reported = address;
  reported.port = ntohs(bound.sin_port);
  auto listener = std::make_unique<PosixListener>(loop_, fd.release(), reported);
  KEEL_TRY(listener->start());
  return std::unique_ptr<core::Listener>(std::move(listener));
}

core::Result<std::unique_ptr<core::Stream>> PosixNetwork::connect(const core::Address& address,
                                                                  core::Duration timeout) {
  KEEL_TRY_ASSIGN(const sockaddr_in sa, to_sockaddr(address, /*for_listen=*/false));
  const core::Instant deadline = loop_.now() + timeout;
  FdGuard fd{::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0)};
  if (fd.fd < 0) return core::io_error("socket: " + errno_text(errno));
  const int one = 1;
  ::setsockopt(fd.fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
  // Register before connecting so the edge that reports completion cannot
  // come before the watch exists. The stream owns the fd from here on.
  auto stream = std::make_unique<PosixStream>(loop_, fd.release(), address);
  KEEL_TRY(stream->start());
  KEEL_TRY(stream->finish_connect(sa, deadline));
  return std::unique_ptr<core::Stream>(std::move(stream));
}

}  // namespace keel::posix
