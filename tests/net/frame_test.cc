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
