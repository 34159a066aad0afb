#include "net/frame.h"

#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <memory>
#include <string>
#include <vector>

#include "core/fiber_group.h"
#include "sim/world.h"

using keel::core::Address;
using keel::core::Bytes;
using keel::core::Code;
using keel::core::Duration;
using keel::core::Env;
using keel::sim::World;
using keel::net::FrameReader;

namespace {

constexpr size_t kTestFrameMax = 1024;

// A frame echo server: one fiber per connection; a bad frame closes only
// that connection (and is logged).
void echo_server(Env& env, int* bad_frames) {
  auto listener = env.net.listen(Address{env.trace.source(), 9000});
  REQUIRE(listener.is_ok());
  keel::core::FiberGroup group(env);
  for (;;) {
    auto s = (*listener)->accept();
    if (!s.is_ok()) return;
    auto stream = std::shared_ptr<keel::core::Stream>(std::move(*s));
    group.spawn("echo", [&env, stream, bad_frames] {
      FrameReader reader(*stream, kTestFrameMax);
      for (;;) {
        auto f = reader.next();
        if (!f.is_ok()) {
          env.trace.warn("closing connection: " + f.status().to_string());
          ++*bad_frames;
          stream->close();
          return;
        }
        if (!*f) return;
        if (!keel::net::write_frame(*stream, **f).is_ok()) return;
      }
    });
  }
}

}  // namespace

TEST_CASE("frame: payloads round-trip through a chunking stream", "[net][prop]") {
  rc::prop("every frame comes back whole", [](uint64_t seed) {
    const auto payloads = *rc::gen::container<std::vector<std::string>>(
        rc::gen::resize(200, rc::gen::string<std::string>()));
    World w(seed);
    int bad = 0;
    std::vector<std::string> echoed;
    auto server = w.add_host("n1", [&](Env& env) { echo_server(env, &bad); });
    auto client = w.add_host("c1", [&](Env& env) {
      env.sleep_for(Duration::millis(1));
      auto s = env.net.connect(Address{"n1", 9000}, Duration::seconds(1));
      RC_ASSERT(s.is_ok());
      for (const auto& p : payloads) RC_ASSERT(keel::net::write_frame(**s, p).is_ok());
      FrameReader reader(**s, kTestFrameMax);
      for (size_t i = 0; i < payloads.size(); ++i) {
        auto f = reader.next();
        RC_ASSERT(f.is_ok());
        RC_ASSERT(f->has_value());
        echoed.push_back(**f);
      }
    });
    w.start(server);
    w.start(client);
    w.run_for(Duration::seconds(5));
    RC_ASSERT(bad == 0);
    RC_ASSERT(echoed == payloads);
  });
}

TEST_CASE("frame: malformed, truncated and oversized frames close only their connection", "[net][unit]") {
  World w(5);
  int bad = 0;
  std::vector<Code> codes;
  bool good_client_ok = false;
  auto server = w.add_host("n1", [&](Env& env) { echo_server(env, &bad); });
  auto attacker = w.add_host("c1", [&](Env& env) {
    env.sleep_for(Duration::millis(1));
    auto send_raw = [&](const Bytes& raw) {
      auto s = env.net.connect(Address{"n1", 9000}, Duration::seconds(1));
      REQUIRE(s.is_ok());
      REQUIRE((*s)->write(raw).is_ok());
      char buf[64];
      auto r = (*s)->read(buf, sizeof buf);
      codes.push_back(r.is_ok() ? (*r == 0 ? Code::kOk : Code::kInternal) : r.status().code());
    };
    Bytes bad_magic(16, 'x');
    send_raw(bad_magic);
    Bytes oversized;
    keel::core::put_u32(oversized, keel::net::kFrameMagic);
    keel::core::put_u32(oversized, 0xffffffffu);  // a 4 GiB claim
    keel::core::put_u64(oversized, 0);
    send_raw(oversized);
    Bytes bad_check;
    keel::net::append_frame(bad_check, "hello");
    bad_check[bad_check.size() - 1] ^= 1;
    send_raw(bad_check);
    // Truncated: the header promises more than arrives before the close.
    auto s = env.net.connect(Address{"n1", 9000}, Duration::seconds(1));
    REQUIRE(s.is_ok());
    Bytes truncated;
    keel::net::append_frame(truncated, "a payload that will be cut");
    REQUIRE((*s)->write(truncated.substr(0, 20)).is_ok());
    (*s)->close();
    env.sleep_for(Duration::millis(10));
  });
  auto good = w.add_host("c2", [&](Env& env) {
    env.sleep_for(Duration::millis(50));
    auto s = env.net.connect(Address{"n1", 9000}, Duration::seconds(1));
    REQUIRE(s.is_ok());
    REQUIRE(keel::net::write_frame(**s, "still serving").is_ok());
    FrameReader reader(**s);
    auto f = reader.next();
    good_client_ok = f.is_ok() && f->has_value() && **f == "still serving";
  });
  w.start(server);
  w.start(attacker);
  w.start(good);
  w.run_for(Duration::seconds(5));
  REQUIRE(bad == 4);
  REQUIRE(codes.size() == 3);
  for (Code c : codes) REQUIRE((c == Code::kOk || c == Code::kUnavailable));
  REQUIRE(good_client_ok);
}

TEST_CASE("frame: a declared length reserves no memory, the buffer grows with bytes that arrive", "[net][unit]") {
  World w(7);
  constexpr size_t kFrameMax = 64 * 1024 * 1024;
  std::vector<size_t> capacities;
  bool received = false;
  auto server = w.add_host("n1", [&](Env& env) {
    auto listener = env.net.listen(Address{"n1", 9000});
    REQUIRE(listener.is_ok());
    auto s = (*listener)->accept();
    REQUIRE(s.is_ok());
    FrameReader reader(**s, kFrameMax);
    keel::core::FiberGroup group(env);
    // Samples the buffer while the frame trickles in.
    group.spawn("sampler", [&] {
      for (int i = 0; i < 40; ++i) {
        env.sleep_for(Duration::millis(5));
        capacities.push_back(reader.buffer_capacity());
      }
    });
    auto f = reader.next();
    received = f.is_ok() && f->has_value() && (*f)->size() == 1024 * 1024;
  });
  auto client = w.add_host("c1", [&](Env& env) {
    env.sleep_for(Duration::millis(1));
    auto s = env.net.connect(Address{"n1", 9000}, Duration::seconds(1));
    REQUIRE(s.is_ok());
    Bytes frame;
    keel::net::append_frame(frame, Bytes(1024 * 1024, 'p'));
    // The header and 100 bytes, a pause, then the rest.
    REQUIRE((*s)->write(frame.substr(0, 116)).is_ok());
    env.sleep_for(Duration::millis(100));
    REQUIRE((*s)->write(frame.substr(116)).is_ok());
    env.sleep_for(Duration::millis(100));
  });
  w.start(server);
  w.start(client);
  w.run_for(Duration::seconds(2));
  REQUIRE(received);
  REQUIRE(!capacities.empty());
  // While only the header had come, a frame of 1 MiB was declared but no
  // more than one read chunk was held for it.
  REQUIRE(capacities.front() > 0);
  REQUIRE(capacities.front() <= 32 * 1024);
  // Once it all came, the buffer fits the frame, not twice the limit.
  REQUIRE(capacities.back() <= 2 * 1024 * 1024 + 64 * 1024);
}

TEST_CASE("frame: a claim of the maximum length with a few bytes sent allocates little", "[net][unit]") {
  World w(8);
  constexpr size_t kFrameMax = 256 * 1024 * 1024;
  size_t capacity = 0;
  Code code = Code::kOk;
  auto server = w.add_host("n1", [&](Env& env) {
    auto listener = env.net.listen(Address{"n1", 9000});
    REQUIRE(listener.is_ok());
    auto s = (*listener)->accept();
    REQUIRE(s.is_ok());
    FrameReader reader(**s, kFrameMax);
    auto f = reader.next();
    code = f.is_ok() ? Code::kOk : f.status().code();
    capacity = reader.buffer_capacity();
  });
  auto client = w.add_host("c1", [&](Env& env) {
    env.sleep_for(Duration::millis(1));
    auto s = env.net.connect(Address{"n1", 9000}, Duration::seconds(1));
    REQUIRE(s.is_ok());
    Bytes header;
    keel::core::put_u32(header, keel::net::kFrameMagic);
    keel::core::put_u32(header, static_cast<uint32_t>(kFrameMax));
    keel::core::put_u64(header, 0);
    REQUIRE((*s)->write(header + Bytes(5000, 'x')).is_ok());
    (*s)->close();
  });
  w.start(server);
  w.start(client);
  w.run_for(Duration::seconds(1));
  REQUIRE(code == Code::kUnavailable);  // the stream ended inside the frame
  REQUIRE(capacity > 0);
  REQUIRE(capacity <= 64 * 1024);
}
