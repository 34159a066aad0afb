// The key-value commands and KvStateMachine: codecs under bad bytes, Redis'
// integer rules, a differential property against a std::map reference
// model, replay idempotence, snapshot/restore and persistence on MemKvEngine.
#include "node/kv_state_machine.h"

#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "node/commands.h"
#include "sim/disk/sim_disk.h"
#include "storage/mem_kv_engine.h"
#include "tests/node/kv_model.h"
#include "tests/simdisk/manual_clock.h"

using keel::core::Bytes;
using keel::core::Code;
using keel::core::LogIndex;
using keel::node::AppendCommand;
using keel::node::Command;
using keel::node::CommandReply;
using keel::node::DelCommand;
using keel::node::IncrByCommand;
using keel::node::KvStateMachine;
using keel::node::MSetCommand;
using keel::node::SetCommand;
using keel::node::SetCondition;
using keel::storage::MemKvEngine;
using keel::testing::FiberHarness;
using keel::testing::KvModel;
using keel::testing::gen_command;

namespace {

// A state machine over a MemKvEngine on a SimDisk, driven from test fibers.
class Machine {
 public:
  explicit Machine(uint64_t seed = 1) : disk_(h_.clock(), keel::core::Random(seed)) { open(); }

  void open() {
    machine_.reset();
    engine_.reset();
    auto e = h_.run([&] { return MemKvEngine::open(disk_, "kv"); });
    REQUIRE(e.is_ok());
    engine_ = std::move(*e);
    auto m = h_.run([&] { return KvStateMachine::open(h_.fibers(), *engine_); });
    REQUIRE(m.is_ok());
    machine_ = std::move(*m);
  }
  // Power loss: only what persist() made durable survives.
  void crash_and_reopen() {
    machine_.reset();
    engine_.reset();
    disk_.crash();
    open();
  }

  CommandReply apply_bytes(const Bytes& bytes) {
    const LogIndex index = machine_->applied_index().next();
    auto r = h_.run([&] { return machine_->apply(index, bytes); });
    REQUIRE(r.is_ok());
    auto reply = keel::node::decode_reply(*r);
    REQUIRE(reply.is_ok());
    return *reply;
  }
  CommandReply apply(const Command& c) { return apply_bytes(keel::node::encode_command(c)); }

  std::optional<Bytes> get(const Bytes& key) {
    auto r = h_.run([&] { return machine_->read_view().get(key); });
    REQUIRE(r.is_ok());
    return *r;
  }
  uint64_t size() { return *h_.run([&] { return machine_->read_view().size(); }); }
  uint64_t digest() { return h_.run([&] { return machine_->digest(); }); }
  KvStateMachine& sm() { return *machine_; }
  MemKvEngine& engine() { return *engine_; }
  FiberHarness& h() { return h_; }

 private:
  FiberHarness h_;
  keel::sim::SimDisk disk_;
  std::unique_ptr<MemKvEngine> engine_;
  std::unique_ptr<KvStateMachine> machine_;
};

}  // namespace

TEST_CASE("kv commands: every command survives an encode/decode round trip", "[node][prop]") {
  rc::prop("decode(encode(c)) == c", [] {
    const Command c = *gen_command();
    auto d = keel::node::decode_command(keel::node::encode_command(c));
    RC_ASSERT(d.is_ok());
    RC_ASSERT(*d == c);
  });
}

TEST_CASE("kv commands: truncated, extended or random bytes are Corruption, never a crash", "[node][prop]") {
  rc::prop("cut or padded encodings are refused", [] {
    const Bytes bytes = keel::node::encode_command(*gen_command());
    const size_t cut = *rc::gen::inRange<size_t>(0, bytes.size());
    RC_ASSERT(keel::node::decode_command(bytes.substr(0, cut)).status().code() == Code::kCorruption);
    RC_ASSERT(keel::node::decode_command(bytes + "x").status().code() == Code::kCorruption);
  });
  rc::prop("random bytes decode or are refused", [](const Bytes& junk) {
    auto d = keel::node::decode_command(junk);
    if (!d.is_ok()) RC_ASSERT(d.status().code() == Code::kCorruption);
    auto r = keel::node::decode_reply(junk);
    if (!r.is_ok()) RC_ASSERT(r.status().code() == Code::kCorruption);
  });
  Bytes bad_version = keel::node::encode_command(DelCommand{{"k"}});
  bad_version[0] = 9;
  REQUIRE(keel::node::decode_command(bad_version).status().code() == Code::kCorruption);
  Bytes zero_keys("\x01\x02\0\0\0\0", 6);
  REQUIRE(keel::node::decode_command(zero_keys).status().code() == Code::kCorruption);
}

TEST_CASE("kv commands: integers parse as Redis' string2ll does", "[node][unit]") {
  using keel::node::parse_int64;
  REQUIRE(parse_int64("0") == 0);
  REQUIRE(parse_int64("-1") == -1);
  REQUIRE(parse_int64("9223372036854775807") == INT64_MAX);
  REQUIRE(parse_int64("-9223372036854775808") == INT64_MIN);
  for (const char* bad : {"", "-", "-0", "01", "+1", " 1", "1 ", "9223372036854775808", "-9223372036854775809",
                          "1e3", "0x10", "123456789012345678901"}) {
    INFO(bad);
    REQUIRE_FALSE(parse_int64(bad).has_value());
  }
}

TEST_CASE("kv commands: INCRBY errors and SET IFEQ replies", "[node][unit]") {
  Machine m;
  REQUIRE(m.apply(IncrByCommand{"n", 5}) == CommandReply::integer_value(5));
  REQUIRE(m.apply(IncrByCommand{"n", INT64_MAX}) == CommandReply::error("ERR increment or decrement would overflow"));
  REQUIRE(m.get("n") == Bytes("5"));
  REQUIRE(m.apply(SetCommand{"s", "abc", SetCondition::kNone, "", false}) == CommandReply::ok());
  REQUIRE(m.apply(IncrByCommand{"s", 1}) == CommandReply::error("ERR value is not an integer or out of range"));
  REQUIRE(m.get("s") == Bytes("abc"));
  // Compare-and-set: applies only on an exact match; GET returns the old value.
  REQUIRE(m.apply(SetCommand{"s", "new", SetCondition::kIfEq, "ab", false}) == CommandReply::nil());
  REQUIRE(m.apply(SetCommand{"s", "new", SetCondition::kIfEq, "abc", true}) == CommandReply::bulk("abc"));
  REQUIRE(m.get("s") == Bytes("new"));
  REQUIRE(m.apply(SetCommand{"absent", "v", SetCondition::kIfEq, "", false}) == CommandReply::nil());
  REQUIRE(m.apply(AppendCommand{"s", "er"}) == CommandReply::integer_value(5));
  REQUIRE(m.apply(DelCommand{{"s", "s", "n", "zz"}}) == CommandReply::integer_value(2));
  REQUIRE(m.size() == 0);
}

TEST_CASE("kv state machine: applies like a std::map model", "[node][prop]") {
  rc::prop("replies, contents and DBSIZE agree with the model", [] {
    const auto commands = *rc::gen::container<std::vector<Command>>(gen_command());
    Machine m;
    KvModel model;
    for (const Command& c : commands) {
      const CommandReply expected = model.apply(c);
      const CommandReply got = m.apply(c);
      RC_ASSERT(got == expected);
    }
    RC_ASSERT(m.size() == model.data.size());
    for (const Bytes& k : {Bytes("a"), Bytes("b"), Bytes("\0k", 2), Bytes("{t}x")}) {
      auto it = model.data.find(k);
      RC_ASSERT(m.get(k) == (it == model.data.end() ? std::nullopt : std::optional<Bytes>(it->second)));
    }
    RC_ASSERT(m.sm().applied_index() == LogIndex(commands.size()));
  });
}

TEST_CASE("kv state machine: snapshot and restore reproduce the state and its digest", "[node][prop]") {
  rc::prop("restore(snapshot()) on another replica gives equal digests", [] {
    const auto commands = *rc::gen::container<std::vector<Command>>(gen_command());
    Machine a(1);
    Machine b(2);
    b.apply(SetCommand{"stale", "x", SetCondition::kNone, "", false});
    for (const Command& c : commands) a.apply(c);
    a.apply(MSetCommand{{{"m", "1"}}});
    a.apply(DelCommand{{"gone"}});
    auto snap = a.h().run([&] { return a.sm().snapshot(); });
    RC_ASSERT(snap.is_ok());
    const LogIndex at = a.sm().applied_index();
    RC_ASSERT(b.h().run([&] { return b.sm().restore(at, *snap); }).is_ok());
    RC_ASSERT(b.sm().applied_index() == at);
    RC_ASSERT(b.sm().durable_index() == at);
    RC_ASSERT(b.digest() == a.digest());
    RC_ASSERT(b.size() == a.size());
    RC_ASSERT(!b.get("stale").has_value());
    // Both keep applying identically afterwards.
    RC_ASSERT(a.apply(IncrByCommand{"m", 1}) == b.apply(IncrByCommand{"m", 1}));
    RC_ASSERT(a.digest() == b.digest());
  });
}

TEST_CASE("kv state machine: a damaged snapshot is refused and the state is untouched", "[node][unit]") {
  Machine a(1);
  Machine b(2);
  a.apply(MSetCommand{{{"k1", "v1"}, {"k2", "v2"}}});
  b.apply(MSetCommand{{{"mine", "v"}}});
  const uint64_t before = b.digest();
  auto snap = a.h().run([&] { return a.sm().snapshot(); });
  REQUIRE(snap.is_ok());
  for (size_t i = 0; i < snap->size(); i += 3) {
    Bytes bad = *snap;
    bad[i] = static_cast<char>(bad[i] ^ 0x20);
    auto s = b.h().run([&] { return b.sm().restore(LogIndex(10), bad); });
    REQUIRE(s.code() == Code::kCorruption);
  }
  REQUIRE(b.h().run([&] { return b.sm().restore(LogIndex(10), snap->substr(0, snap->size() - 1)); }).code() ==
          Code::kCorruption);
  REQUIRE(b.digest() == before);
  REQUIRE(b.get("mine") == Bytes("v"));
  // A snapshot behind the applied index is refused too.
  REQUIRE(b.h().run([&] { return b.sm().restore(LogIndex(1), *snap); }).code() == Code::kFailedPrecondition);
}

TEST_CASE("kv state machine: replay after a crash is idempotent and malformed entries are no-ops", "[node][unit]") {
  Machine m;
  REQUIRE(m.apply(IncrByCommand{"c", 1}) == CommandReply::integer_value(1));
  REQUIRE(m.apply(IncrByCommand{"c", 1}) == CommandReply::integer_value(2));
  REQUIRE(m.h().run([&] { return m.sm().persist(); }).is_ok());
  REQUIRE(m.sm().durable_index() == LogIndex(2));
  // A malformed entry advances the index with an error reply and no change.
  const CommandReply bad = m.apply_bytes("\x01\x7fjunk");
  REQUIRE(bad.kind == CommandReply::Kind::kError);
  REQUIRE(bad.text.rfind("ERR malformed command", 0) == 0);
  REQUIRE(m.sm().applied_index() == LogIndex(3));
  REQUIRE(m.h().run([&] { return m.sm().skip(LogIndex(4)); }).is_ok());
  REQUIRE(m.apply(IncrByCommand{"c", 1}) == CommandReply::integer_value(3));
  REQUIRE(m.sm().applied_index() == LogIndex(5));

  m.crash_and_reopen();
  REQUIRE(m.sm().applied_index() == LogIndex(2));
  REQUIRE(m.get("c") == Bytes("2"));
  REQUIRE(m.size() == 1);
  // The log replays from index 1: entries at or below the applied index are
  // skipped, the rest apply once.
  auto replay = [&](uint64_t i, const Bytes& cmd) {
    return m.h().run([&] { return m.sm().apply(LogIndex(i), cmd); });
  };
  const Bytes incr = keel::node::encode_command(IncrByCommand{"c", 1});
  REQUIRE(replay(1, incr).is_ok());
  REQUIRE(replay(2, incr).is_ok());
  REQUIRE(m.get("c") == Bytes("2"));
  REQUIRE(m.sm().stats().replayed_entries == 2);
  REQUIRE(replay(3, incr).is_ok());
  REQUIRE(m.get("c") == Bytes("3"));
}

TEST_CASE("kv state machine: the key count survives persist and reopen", "[node][unit]") {
  Machine m;
  m.apply(MSetCommand{{{"a", "1"}, {"b", "2"}, {"c", "3"}}});
  m.apply(DelCommand{{"b"}});
  REQUIRE(m.size() == 2);
  REQUIRE(m.h().run([&] { return m.sm().persist(); }).is_ok());
  m.apply(DelCommand{{"a"}});
  m.crash_and_reopen();
  REQUIRE(m.size() == 2);
  REQUIRE(m.get("a") == Bytes("1"));
}

TEST_CASE("kv state machine: a restore too large for one engine batch replaces the state", "[node][unit]") {
  Machine a(1);
  Machine b(2);
  // 2 x 32768 keys plus the key-count record: more entries than one batch.
  for (int round = 0; round < 2; ++round) {
    MSetCommand m;
    for (size_t i = 0; i < keel::node::kCommandKeysMax; ++i) {
      m.pairs.emplace_back("key-" + std::to_string(round) + "-" + std::to_string(i), std::to_string(i));
    }
    REQUIRE(a.apply(m) == CommandReply::ok());
  }
  b.apply(MSetCommand{{{"only-on-b", "x"}}});
  b.apply(DelCommand{{"nothing"}});
  b.apply(DelCommand{{"nothing"}});
  auto snap = a.h().run([&] { return a.sm().snapshot(); });
  REQUIRE(snap.is_ok());
  REQUIRE(b.h().run([&] { return b.sm().restore(LogIndex(2), *snap); }).code() == Code::kFailedPrecondition);
  REQUIRE(b.h().run([&] { return b.sm().restore(LogIndex(5), *snap); }).is_ok());
  REQUIRE(b.size() == 2 * keel::node::kCommandKeysMax);
  REQUIRE(b.digest() == a.digest());
  REQUIRE(!b.get("only-on-b").has_value());
  REQUIRE(b.get("key-1-77") == Bytes("77"));
  // Durable: a crash right after keeps the restored state.
  b.crash_and_reopen();
  REQUIRE(b.sm().applied_index() == LogIndex(5));
  REQUIRE(b.size() == 2 * keel::node::kCommandKeysMax);
  REQUIRE(b.digest() == a.digest());
}
