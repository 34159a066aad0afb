#include "net/posix/posix_network.h"

#include <catch2/catch.hpp>
#include <memory>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "tests/posix/test_util.h"

using keel::core::Address;
using keel::core::Bytes;
using keel::core::Code;
using keel::core::Duration;
using keel::core::Listener;
using keel::core::ProcessId;
using keel::core::Stream;
using keel::posix::PosixNetwork;
using keel::posix::testing::Rig;
using keel::posix::testing::run_fiber;

namespace {

Address loopback(uint16_t port) { return Address{"127.0.0.1", port}; }

Bytes pattern(size_t n, uint64_t seed) {
  Bytes out(n, '\0');
  uint64_t x = seed * 0x9e3779b97f4a7c15ull + 1;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    out[i] = static_cast<char>(x);
  }
  return out;
}

// Reads exactly `n` bytes (fewer only at end of stream or on error).
Bytes read_n(Stream& s, size_t n) {
  Bytes out;
  char buf[65536];
  while (out.size() < n) {
    auto r = s.read(buf, std::min(sizeof buf, n - out.size()));
    if (!r.is_ok() || r.value() == 0) break;
    out.append(buf, r.value());
  }
  return out;
}

// Accepts connections and echoes every byte back until the peer closes.
// Returns when the listener is closed.
void echo_server(Rig& rig, Listener& listener) {
  for (;;) {
    auto accepted = listener.accept();
    if (!accepted.is_ok()) return;
    std::shared_ptr<Stream> conn(std::move(accepted).value());
    rig.fibers.spawn(ProcessId(0), "echo-conn", [conn] {
      char buf[32768];
      for (;;) {
        auto n = conn->read(buf, sizeof buf);
        if (!n.is_ok() || n.value() == 0) return;
        if (!conn->write(keel::core::ByteView(buf, n.value())).is_ok()) return;
      }
    });
  }
}

}  // namespace

TEST_CASE("posix network: listen reports the bound port and refuses a taken one", "[posix][unit]") {
  Rig rig;
  PosixNetwork net(rig.loop);
  auto first = net.listen(loopback(0));
  REQUIRE(first.is_ok());
  const Address bound = first.value()->address();
  REQUIRE(bound.host == "127.0.0.1");
  REQUIRE(bound.port != 0);
  auto second = net.listen(bound);
  REQUIRE(second.status().code() == Code::kAlreadyExists);
  REQUIRE(net.listen(Address{"not-a-host.example", 0}).status().code() == Code::kInvalidArgument);
  auto local = net.listen(Address{"localhost", 0});
  REQUIRE(local.is_ok());
  REQUIRE(local.value()->address().host == "localhost");
}

TEST_CASE("posix network: echo with many concurrent fibers and large transfers", "[posix][unit]") {
  Rig rig;
  PosixNetwork net(rig.loop);
  auto listener = std::move(net.listen(loopback(0))).value();
  const Address address = listener->address();
  rig.fibers.spawn(ProcessId(0), "echo-server", [&] { echo_server(rig, *listener); });

  constexpr int kClients = 24;
  // One client moves 8 MiB; the others 256 KiB each.
  int ok = 0;
  int finished = 0;
  for (int c = 0; c < kClients; ++c) {
    rig.fibers.spawn(ProcessId(0), "client", [&, c] {
      const size_t bytes = c == 0 ? (8u << 20) : (256u << 10);
      const Bytes data = pattern(bytes, static_cast<uint64_t>(c));
      auto conn = net.connect(address, Duration::seconds(5));
      REQUIRE(conn.is_ok());
      Stream& s = *conn.value();
      bool wrote = false;
      // Write from a second fiber: the echo would otherwise fill both
      // directions' buffers while this fiber is still writing.
      rig.fibers.spawn(ProcessId(0), "client-writer", [&] {
        size_t off = 0;
        while (off < data.size()) {
          const size_t chunk = std::min<size_t>(100000, data.size() - off);
          REQUIRE(s.write(keel::core::ByteView(data).substr(off, chunk)).is_ok());
          off += chunk;
        }
        wrote = true;
      });
      const Bytes back = read_n(s, data.size());
      while (!wrote) rig.loop.clock().sleep_for(Duration::millis(1));
      if (back == data) ++ok;
      ++finished;
    });
  }
  REQUIRE(rig.loop.run_until([&] { return finished == kClients; }, Duration::seconds(60)));
  REQUIRE(ok == kClients);
  listener->close();
  REQUIRE(rig.loop.run_until([&] { return rig.fibers.fiber_count() == 0; }, Duration::seconds(5)));
}

TEST_CASE("posix network: connecting to a closed port is Unavailable", "[posix][unit]") {
  Rig rig;
  PosixNetwork net(rig.loop);
  uint16_t port = 0;
  {
    auto l = net.listen(loopback(0));
    port = l.value()->address().port;
  }
  run_fiber(rig.loop, [&] {
    auto conn = net.connect(loopback(port), Duration::seconds(2));
    REQUIRE(conn.status().code() == Code::kUnavailable);
    REQUIRE(conn.status().message().find("refused") != std::string::npos);
    REQUIRE(net.connect(Address{"bogus host", 1}, Duration::seconds(1)).status().code() == Code::kInvalidArgument);
  });
}

TEST_CASE("posix network: connect to a listener with a full backlog times out", "[posix][unit]") {
  // A listener that never accepts and has a tiny accept queue: once the
  // queue is full, Linux drops further SYNs, so the connect hangs until our
  // deadline. All traffic stays on 127.0.0.1.
  Rig rig;
  PosixNetwork net(rig.loop);
  auto listener = std::move(net.listen_with_backlog(loopback(0), 0)).value();
  run_fiber(rig.loop, [&] {
    std::vector<std::unique_ptr<Stream>> held;
    bool timed_out = false;
    for (int attempt = 0; attempt < 16 && !timed_out; ++attempt) {
      const auto start = rig.loop.now();
      auto conn = net.connect(listener->address(), Duration::millis(150));
      if (conn.is_ok()) {
        held.push_back(std::move(conn).value());
        continue;
      }
      INFO(conn.status().to_string());
      REQUIRE(conn.status().code() == Code::kDeadlineExceeded);
      REQUIRE(rig.loop.now() - start >= Duration::millis(150));
      timed_out = true;
    }
    REQUIRE(timed_out);
  });
  REQUIRE(rig.loop.timer_count() == 0);
}

TEST_CASE("posix network: close wakes a blocked reader and acceptor with Cancelled", "[posix][unit]") {
  Rig rig;
  PosixNetwork net(rig.loop);
  auto listener = std::move(net.listen(loopback(0))).value();
  std::unique_ptr<Stream> server_side;
  std::unique_ptr<Stream> client;
  run_fiber(rig.loop, [&] {
    rig.fibers.spawn(ProcessId(0), "acceptor", [&] { server_side = std::move(listener->accept()).value(); });
    client = std::move(net.connect(listener->address(), Duration::seconds(2))).value();
  });
  REQUIRE(rig.loop.run_until([&] { return server_side != nullptr; }, Duration::seconds(2)));

  keel::core::Status read_status;
  bool reader_done = false;
  rig.fibers.spawn(ProcessId(0), "reader", [&] {
    char buf[16];
    read_status = client->read(buf, sizeof buf).status();
    reader_done = true;
  });
  keel::core::Status accept_status;
  bool acceptor_done = false;
  rig.fibers.spawn(ProcessId(0), "acceptor2", [&] {
    accept_status = listener->accept().status();
    acceptor_done = true;
  });
  rig.loop.run_for(Duration::millis(20));
  REQUIRE_FALSE(reader_done);
  REQUIRE_FALSE(acceptor_done);
  client->close();
  listener->close();
  REQUIRE(rig.loop.run_until([&] { return reader_done && acceptor_done; }, Duration::seconds(2)));
  REQUIRE(read_status.code() == Code::kCancelled);
  REQUIRE(accept_status.code() == Code::kCancelled);
  client->close();  // idempotent
  run_fiber(rig.loop, [&] {
    char buf[4];
    REQUIRE(client->read(buf, sizeof buf).status().code() == Code::kCancelled);
    REQUIRE(client->write("x").code() == Code::kCancelled);
    // The peer sees the close as an orderly end of stream.
    REQUIRE(server_side->read(buf, sizeof buf).value() == 0);
  });
}

TEST_CASE("posix network: peer disconnect gives EOF, then writes fail Unavailable", "[posix][unit]") {
  Rig rig;
  PosixNetwork net(rig.loop);
  auto listener = std::move(net.listen(loopback(0))).value();
  run_fiber(rig.loop, [&] {
    bool accepted = false;
    rig.fibers.spawn(ProcessId(0), "acceptor", [&] {
      auto s = listener->accept();
      REQUIRE(s.is_ok());
      REQUIRE(s.value()->write("bye").is_ok());
      accepted = true;
      // Destroying the stream closes the socket.
    });
    auto client = std::move(net.connect(listener->address(), Duration::seconds(2))).value();
    REQUIRE(read_n(*client, 3) == "bye");
    char buf[8];
    REQUIRE(client->read(buf, sizeof buf).value() == 0);
    REQUIRE(accepted);
    // The peer's socket is gone: the first write draws a reset, a later one
    // fails with EPIPE or ECONNRESET (and no SIGPIPE kills the test).
    keel::core::Status st;
    for (int i = 0; i < 100 && st.is_ok(); ++i) {
      st = client->write(Bytes(4096, 'x'));
      if (st.is_ok()) rig.loop.clock().sleep_for(Duration::millis(1));
    }
    REQUIRE(st.code() == Code::kUnavailable);
  });
}
