#include "sim/network.h"

#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <string>
#include <vector>

#include "sim/world.h"

using keel::core::Address;
using keel::core::Code;
using keel::core::Duration;
using keel::core::Env;
using keel::sim::HostId;
using keel::sim::World;

namespace {

// Reads until EOF or error; returns the bytes and the final status code.
std::pair<std::string, Code> drain(keel::core::Stream& s) {
  std::string got;
  char buf[512];
  for (;;) {
    auto r = s.read(buf, sizeof buf);
    if (!r.is_ok()) return {got, r.status().code()};
    if (*r == 0) return {got, Code::kOk};
    got.append(buf, *r);
  }
}

}  // namespace

TEST_CASE("sim network: bytes of one stream arrive complete and in order", "[sim][prop]") {
  rc::prop("any sequence of writes is read back as their concatenation", [](uint64_t seed) {
    const auto writes = *rc::gen::container<std::vector<std::string>>(rc::gen::nonEmpty(rc::gen::string<std::string>()));
    World w(seed);
    std::string received;
    Code end = Code::kInternal;
    HostId server = w.add_host("n1", [&](Env& env) {
      auto l = env.net.listen(Address{"n1", 7000});
      RC_ASSERT(l.is_ok());
      auto s = (*l)->accept();
      RC_ASSERT(s.is_ok());
      std::tie(received, end) = drain(**s);
    });
    HostId client = w.add_host("c1", [&](Env& env) {
      env.sleep_for(Duration::millis(1));
      auto s = env.net.connect(Address{"n1", 7000}, Duration::seconds(1));
      RC_ASSERT(s.is_ok());
      for (const auto& chunk : writes) RC_ASSERT((*s)->write(chunk).is_ok());
      (*s)->close();
    });
    w.start(server);
    w.start(client);
    w.run_for(Duration::seconds(10));
    std::string expected;
    for (const auto& chunk : writes) expected += chunk;
    RC_ASSERT(end == Code::kOk);
    RC_ASSERT(received == expected);
  });
}

TEST_CASE("sim network: a partition blocks connects and breaks streams that send across it", "[sim][unit]") {
  World w(11);
  Code connect_code = Code::kOk;
  Code read_code = Code::kOk;
  Code write_then_read = Code::kOk;
  HostId server = w.add_host("n1", [&](Env& env) {
    auto l = env.net.listen(Address{"n1", 7000});
    REQUIRE(l.is_ok());
    auto s = (*l)->accept();
    REQUIRE(s.is_ok());
    read_code = drain(**s).second;
  });
  HostId client = w.add_host("n2", [&](Env& env) {
    env.sleep_for(Duration::millis(1));
    auto s = env.net.connect(Address{"n1", 7000}, Duration::seconds(1));
    REQUIRE(s.is_ok());
    env.sleep_for(Duration::millis(10));
    w.network().partition({"n1"}, {"n1", "n2"});
    REQUIRE((*s)->write("lost").is_ok());
    write_then_read = drain(**s).second;
    auto again = env.net.connect(Address{"n1", 7000}, Duration::seconds(5));
    connect_code = again.status().code();
  });
  w.start(server);
  w.start(client);
  w.run_for(Duration::seconds(10));
  REQUIRE(write_then_read == Code::kUnavailable);
  REQUIRE(read_code == Code::kUnavailable);
  REQUIRE((connect_code == Code::kUnavailable || connect_code == Code::kDeadlineExceeded));
}

TEST_CASE("sim network: resets, refusals and a crashed peer are reported", "[sim][unit]") {
  World w(12);
  Code refused = Code::kOk;
  Code after_reset = Code::kOk;
  Code after_crash = Code::kOk;
  HostId server = w.add_host("n1", [&](Env& env) {
    auto l = env.net.listen(Address{"n1", 7000});
    REQUIRE(l.is_ok());
    for (;;) {
      auto s = (*l)->accept();
      if (!s.is_ok()) return;
      env.spawn("conn", [s = std::shared_ptr<keel::core::Stream>(std::move(*s))] { drain(*s); });
    }
  });
  HostId client = w.add_host("n2", [&](Env& env) {
    refused = env.net.connect(Address{"n1", 7001}, Duration::seconds(1)).status().code();
    env.sleep_for(Duration::millis(5));
    auto s = env.net.connect(Address{"n1", 7000}, Duration::seconds(1));
    REQUIRE(s.is_ok());
    REQUIRE(w.network().reset_random_connection());
    after_reset = drain(**s).second;
    auto t = env.net.connect(Address{"n1", 7000}, Duration::seconds(1));
    REQUIRE(t.is_ok());
    env.sleep_for(Duration::millis(5));
    w.crash(w.host_by_name("n1"));
    after_crash = drain(**t).second;
  });
  w.start(server);
  w.start(client);
  w.run_for(Duration::seconds(10));
  REQUIRE(refused == Code::kUnavailable);
  REQUIRE(after_reset == Code::kUnavailable);
  REQUIRE(after_crash == Code::kUnavailable);
}

TEST_CASE("sim network: close wakes a blocked reader with Cancelled", "[sim][unit]") {
  World w(13);
  Code code = Code::kOk;
  HostId server = w.add_host("n1", [&](Env& env) {
    auto l = env.net.listen(Address{"n1", 7000});
    auto s = (*l)->accept();
    env.sleep_for(Duration::seconds(5));
    (void)s;
  });
  HostId client = w.add_host("n2", [&](Env& env) {
    env.sleep_for(Duration::millis(1));
    auto s = env.net.connect(Address{"n1", 7000}, Duration::seconds(1));
    REQUIRE(s.is_ok());
    keel::core::Stream* raw = s->get();
    env.spawn("closer", [&env, raw] {
      env.sleep_for(Duration::millis(10));
      raw->close();
    });
    char buf[8];
    code = raw->read(buf, sizeof buf).status().code();
  });
  w.start(server);
  w.start(client);
  w.run_for(Duration::seconds(10));
  REQUIRE(code == Code::kCancelled);
}
