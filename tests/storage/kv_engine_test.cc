// One conformance suite for every KvEngine: a RapidCheck stateful test
// against a std::map model, run against MemKvEngine (on SimDisk) and
// RocksKvEngine (on a temporary directory), plus cross-engine digests.
#include "storage/kv_engine.h"

#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>
#include <rapidcheck/state.h>
#include <stdlib.h>

#include <filesystem>
#include <map>
#include <memory>
#include <ostream>
#include <string>

#include "sim/disk/sim_disk.h"
#include "storage/keyspace.h"
#include "storage/mem_kv_engine.h"
#include "storage/rocksdb/rocks_kv_engine.h"
#include "tests/simdisk/manual_clock.h"

using keel::core::Bytes;
using keel::core::Code;
using keel::core::LogIndex;
using keel::storage::KvDigest;
using keel::storage::KvEngine;
using keel::storage::KvEntry;
using keel::storage::MemKvEngine;
using keel::storage::RocksKvEngine;
using keel::storage::WriteBatch;
using keel::testing::FiberHarness;

namespace {

// A fresh directory under the system temp dir, removed on destruction.
class TempDir {
 public:
  // Under /dev/shm when it exists: the conformance suite checks semantics,
  // and fsync on tmpfs costs nothing, which keeps the suite fast.
  TempDir() {
    const std::filesystem::path base =
        std::filesystem::is_directory("/dev/shm") ? std::filesystem::path("/dev/shm") : std::filesystem::temp_directory_path();
    std::string pattern = (base / "keel-storage-XXXXXX").string();
    KEEL_ASSERT(mkdtemp(pattern.data()) != nullptr);
    path_ = pattern;
  }
  ~TempDir() { std::filesystem::remove_all(path_); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// An engine under test, with a way to close and reopen it.
class EngineUnderTest {
 public:
  virtual ~EngineUnderTest() = default;
  virtual KvEngine& engine() = 0;
  // close(), then open again from what is durable.
  virtual void reopen() = 0;
  FiberHarness& harness() { return h_; }

 protected:
  FiberHarness h_;
};

class MemUnderTest : public EngineUnderTest {
 public:
  MemUnderTest() : disk_(h_.clock(), keel::core::Random(7)) { open(); }
  KvEngine& engine() override { return *engine_; }
  void reopen() override {
    KEEL_ASSERT(h_.run([&] { return engine_->close(); }).is_ok());
    // Whatever close() made durable must survive a power cut.
    disk_.crash();
    open();
  }

 private:
  void open() {
    auto r = h_.run([&] { return MemKvEngine::open(disk_, "kv"); });
    KEEL_ASSERT(r.is_ok());
    engine_ = std::move(*r);
  }
  keel::sim::SimDisk disk_;
  std::unique_ptr<MemKvEngine> engine_;
};

class RocksUnderTest : public EngineUnderTest {
 public:
  RocksUnderTest() { open(); }
  KvEngine& engine() override { return *engine_; }
  void reopen() override {
    KEEL_ASSERT(h_.run([&] { return engine_->close(); }).is_ok());
    engine_.reset();
    open();
  }

 private:
  void open() {
    keel::storage::RocksKvOptions o;
    o.clock = &h_.clock();
    o.write_buffer_bytes = 1 << 20;
    auto r = RocksKvEngine::open(dir_.path() + "/db", o);
    KEEL_ASSERT(r.is_ok());
    engine_ = std::move(*r);
  }
  TempDir dir_;
  std::unique_ptr<RocksKvEngine> engine_;
};

struct Model {
  std::map<Bytes, Bytes> data;
  uint64_t applied = 0;
};

uint64_t model_digest(const std::map<Bytes, Bytes>& data) {
  KvDigest d;
  for (const auto& [k, v] : data) d.add(k, v);
  return d.finish();
}

std::vector<KvEntry> model_scan(const Model& m, const Bytes& start, const Bytes& end, size_t limit) {
  std::vector<KvEntry> out;
  for (auto it = m.data.lower_bound(start); it != m.data.end() && out.size() < limit; ++it) {
    if (!end.empty() && it->first >= end) break;
    out.push_back({it->first, it->second});
  }
  return out;
}

// Keys from a small alphabet (so operations collide), including the bytes
// that trip up prefix arithmetic.
rc::Gen<Bytes> gen_key() {
  return rc::gen::container<Bytes>(*rc::gen::inRange(0, 4),
                                   rc::gen::element<char>('a', 'b', '\0', static_cast<char>(0xff)));
}
rc::Gen<Bytes> gen_value() { return rc::gen::container<Bytes>(rc::gen::element<char>('x', 'y', 'z', '\0')); }

using Cmd = rc::state::Command<Model, EngineUnderTest>;

struct Put : Cmd {
  Bytes key = *gen_key();
  Bytes value = *gen_value();
  void apply(Model& m) const override { m.data[key] = value; }
  void run(const Model&, EngineUnderTest& e) const override {
    RC_ASSERT(e.harness().run([&] { return e.engine().put(key, value); }).is_ok());
  }
  void show(std::ostream& os) const override { os << "put(" << rc::toString(key) << ")"; }
};

struct Del : Cmd {
  Bytes key = *gen_key();
  void apply(Model& m) const override { m.data.erase(key); }
  void run(const Model&, EngineUnderTest& e) const override {
    RC_ASSERT(e.harness().run([&] { return e.engine().del(key); }).is_ok());
  }
  void show(std::ostream& os) const override { os << "del(" << rc::toString(key) << ")"; }
};

struct Get : Cmd {
  Bytes key = *gen_key();
  void run(const Model& m, EngineUnderTest& e) const override {
    auto got = e.harness().run([&] { return e.engine().get(key); });
    RC_ASSERT(got.is_ok());
    auto it = m.data.find(key);
    RC_ASSERT(got->has_value() == (it != m.data.end()));
    if (it != m.data.end()) RC_ASSERT(**got == it->second);
  }
  void show(std::ostream& os) const override { os << "get(" << rc::toString(key) << ")"; }
};

struct Scan : Cmd {
  Bytes start = *gen_key();
  Bytes end = *gen_key();
  size_t limit = *rc::gen::inRange<size_t>(0, 8);
  void run(const Model& m, EngineUnderTest& e) const override {
    auto got = e.harness().run([&] { return e.engine().scan(start, end, limit); });
    RC_ASSERT(got.is_ok());
    RC_ASSERT(*got == model_scan(m, start, end, limit));
  }
  void show(std::ostream& os) const override {
    os << "scan(" << rc::toString(start) << ", " << rc::toString(end) << ", " << limit << ")";
  }
};

struct ScanPrefix : Cmd {
  Bytes prefix = *gen_key();
  size_t limit = *rc::gen::inRange<size_t>(0, 8);
  void run(const Model& m, EngineUnderTest& e) const override {
    auto got = e.harness().run([&] { return e.engine().scan_prefix(prefix, limit); });
    RC_ASSERT(got.is_ok());
    std::vector<KvEntry> expected;
    for (const auto& [k, v] : m.data) {
      if (expected.size() < limit && k.compare(0, prefix.size(), prefix) == 0) expected.push_back({k, v});
    }
    RC_ASSERT(*got == expected);
  }
  void show(std::ostream& os) const override { os << "scan_prefix(" << rc::toString(prefix) << ", " << limit << ")"; }
};

struct Batch : Cmd {
  std::vector<std::pair<Bytes, rc::Maybe<Bytes>>> ops =
      *rc::gen::container<std::vector<std::pair<Bytes, rc::Maybe<Bytes>>>>(
          rc::gen::pair(gen_key(), rc::gen::maybe(gen_value())));
  uint64_t step = *rc::gen::inRange<uint64_t>(1, 4);
  void apply(Model& m) const override {
    for (const auto& [k, v] : ops) {
      if (v) {
        m.data[k] = *v;
      } else {
        m.data.erase(k);
      }
    }
    m.applied += step;
  }
  void run(const Model& m, EngineUnderTest& e) const override {
    WriteBatch b;
    for (const auto& [k, v] : ops) {
      if (v) {
        b.put(k, *v);
      } else {
        b.del(k);
      }
    }
    const LogIndex applied(m.applied + step);
    RC_ASSERT(e.harness().run([&] { return e.engine().write_batch(b, applied); }).is_ok());
    RC_ASSERT(e.engine().applied_index() == applied);
  }
  void show(std::ostream& os) const override { os << "write_batch(" << ops.size() << " ops, +" << step << ")"; }
};

struct Reopen : Cmd {
  void run(const Model& m, EngineUnderTest& e) const override {
    e.reopen();
    RC_ASSERT(e.engine().applied_index() == LogIndex(m.applied));
    auto all = e.harness().run([&] { return e.engine().scan("", "", keel::storage::kScanLimitMax); });
    RC_ASSERT(all.is_ok());
    RC_ASSERT(*all == model_scan(m, "", "", SIZE_MAX));
  }
  void show(std::ostream& os) const override { os << "close+reopen"; }
};

struct Digest : Cmd {
  void run(const Model& m, EngineUnderTest& e) const override {
    auto d = e.harness().run([&] { return e.engine().digest(); });
    RC_ASSERT(d.is_ok());
    RC_ASSERT(*d == model_digest(m.data));
  }
  void show(std::ostream& os) const override { os << "digest"; }
};

template <typename Sut>
void conformance() {
  rc::prop("engine behaves like the std::map model", [] {
    Sut sut;
    Model model;
    rc::state::check(model, sut,
                     rc::state::gen::execOneOfWithArgs<Put, Put, Del, Get, Scan, ScanPrefix, Batch, Batch, Reopen,
                                                       Digest>());
  });
}

}  // namespace

TEST_CASE("mem_kv_engine: conforms to the KvEngine model", "[storage][prop]") { conformance<MemUnderTest>(); }

TEST_CASE("rocks_kv_engine: conforms to the KvEngine model", "[storage][prop]") { conformance<RocksUnderTest>(); }

TEST_CASE("kv_engine: equal contents give equal digests across engines", "[storage][unit]") {
  MemUnderTest mem;
  RocksUnderTest rocks;
  auto both = [&](auto fn) {
    KEEL_ASSERT(mem.harness().run([&] { return fn(mem.engine()); }).is_ok());
    KEEL_ASSERT(rocks.harness().run([&] { return fn(rocks.engine()); }).is_ok());
  };
  auto digests_equal = [&] {
    return *mem.harness().run([&] { return mem.engine().digest(); }) ==
           *rocks.harness().run([&] { return rocks.engine().digest(); });
  };
  REQUIRE(digests_equal());
  WriteBatch b;
  b.put("k1", "v1");
  b.put(Bytes("k\0\xff", 3), "");
  // The same contents reached by different histories.
  both([&](KvEngine& e) { return e.write_batch(b, LogIndex(5)); });
  KEEL_ASSERT(mem.harness().run([&] { return mem.engine().put("tmp", "x"); }).is_ok());
  REQUIRE_FALSE(digests_equal());
  KEEL_ASSERT(mem.harness().run([&] { return mem.engine().del("tmp"); }).is_ok());
  REQUIRE(digests_equal());
  // Key/value boundaries are part of the digest.
  both([&](KvEngine& e) { return e.put("ab", "c"); });
  const uint64_t before = *mem.harness().run([&] { return mem.engine().digest(); });
  both([&](KvEngine& e) { return e.del("ab"); });
  both([&](KvEngine& e) { return e.put("a", "bc"); });
  REQUIRE(digests_equal());
  REQUIRE(*mem.harness().run([&] { return mem.engine().digest(); }) != before);
}

TEST_CASE("mem_kv_engine: a crash keeps exactly the last persisted state", "[storage][unit]") {
  FiberHarness h;
  keel::sim::SimDisk disk(h.clock(), keel::core::Random(9));
  auto engine = h.run([&] { return MemKvEngine::open(disk, "kv"); }).value();
  WriteBatch b;
  b.put("a", "1");
  REQUIRE(h.run([&] { return engine->write_batch(b, LogIndex(3)); }).is_ok());
  REQUIRE(h.run([&] { return engine->persist(); }).is_ok());
  b.clear();
  b.put("b", "2");
  REQUIRE(h.run([&] { return engine->write_batch(b, LogIndex(4)); }).is_ok());
  engine.reset();
  disk.crash();
  engine = h.run([&] { return MemKvEngine::open(disk, "kv"); }).value();
  REQUIRE(engine->applied_index() == LogIndex(3));
  REQUIRE(**h.run([&] { return engine->get("a"); }) == "1");
  REQUIRE_FALSE(h.run([&] { return engine->get("b"); })->has_value());
  REQUIRE(h.run([&] { return engine->close(); }).is_ok());
  REQUIRE(h.run([&] { return engine->get("a"); }).status().code() == Code::kFailedPrecondition);
}

// --- Partitions (v0.2): per-partition applied offsets, range deletes,
// restores and range digests, the same on both engines. ----------------------

namespace {

using keel::core::Offset;
using keel::core::PartitionId;
using keel::storage::slot_key;
using keel::storage::slot_range_keys;

template <typename UnderTest>
void partition_conformance() {
  UnderTest t;
  auto run = [&](auto fn) { return t.harness().run(fn); };
  KvEngine& e0 = t.engine();
  (void)e0;
  // Partition 0 owns slots 0..99, partition 1 owns slots 100..199.
  const auto p0 = slot_range_keys(0, 99);
  const auto p1 = slot_range_keys(100, 199);
  WriteBatch b;
  b.put(slot_key(5, "a"), "a0");
  b.put(slot_key(99, "z"), "z0");
  REQUIRE(run([&] { return t.engine().write_partition_batch(PartitionId(0), b, Offset(1)); }).is_ok());
  b.clear();
  b.put(slot_key(100, "a"), "a1");
  b.put(slot_key(150, "m"), "m1");
  REQUIRE(run([&] { return t.engine().write_partition_batch(PartitionId(1), b, Offset(7)); }).is_ok());
  CHECK(t.engine().partition_applied(PartitionId(0)) == Offset(1));
  CHECK(t.engine().partition_applied(PartitionId(1)) == Offset(7));
  CHECK(t.engine().partition_applied(PartitionId(2)) == Offset(0));
  // The engine's own applied index is not touched, and offsets never go back.
  CHECK(t.engine().applied_index() == LogIndex(0));
  b.clear();
  b.put(slot_key(6, "b"), "never");
  CHECK(run([&] { return t.engine().write_partition_batch(PartitionId(1), b, Offset(7)); }).code() ==
        Code::kFailedPrecondition);
  CHECK_FALSE(run([&] { return t.engine().get(slot_key(6, "b")); })->has_value());
  // Offsets are not data: scans and digests see only the keys.
  auto all = run([&] { return t.engine().scan("", "", 100); });
  REQUIRE(all.is_ok());
  CHECK(all->size() == 4);

  // Range digests: partition 1's digest is that of its two entries alone.
  KvDigest d1;
  d1.add(slot_key(100, "a"), "a1");
  d1.add(slot_key(150, "m"), "m1");
  CHECK(*run([&] { return t.engine().digest_range(p1.first, p1.second); }) == d1.finish());

  // A range delete removes exactly one partition's ranges.
  b.clear();
  b.del_range(p0.first, p0.second);
  REQUIRE(run([&] { return t.engine().write_partition_batch(PartitionId(0), b, Offset(2)); }).is_ok());
  CHECK_FALSE(run([&] { return t.engine().get(slot_key(5, "a")); })->has_value());
  CHECK(**run([&] { return t.engine().get(slot_key(100, "a")); }) == "a1");
  // A reversed or empty range is refused.
  b.clear();
  b.del_range(p1.second, p1.first);
  CHECK(run([&] { return t.engine().write_partition_batch(PartitionId(1), b, Offset(8)); }).code() ==
        Code::kInvalidArgument);

  // Restore: partition 1 becomes exactly the snapshot, at a LOWER offset
  // (a resync from a new leader), atomically.
  std::vector<std::pair<Bytes, Bytes>> ranges = {p1};
  std::vector<KvEntry> image = {{slot_key(120, "x"), "x9"}};
  REQUIRE(run([&] { return t.engine().restore_partition(PartitionId(1), ranges, image, Offset(5)); }).is_ok());
  CHECK(t.engine().partition_applied(PartitionId(1)) == Offset(5));
  CHECK_FALSE(run([&] { return t.engine().get(slot_key(100, "a")); })->has_value());
  CHECK(**run([&] { return t.engine().get(slot_key(120, "x")); }) == "x9");
  // An image entry outside the partition's ranges is refused, nothing changes.
  std::vector<KvEntry> stray = {{slot_key(3, "q"), "q"}};
  CHECK(run([&] { return t.engine().restore_partition(PartitionId(1), ranges, stray, Offset(6)); }).code() ==
        Code::kInvalidArgument);
  CHECK(t.engine().partition_applied(PartitionId(1)) == Offset(5));
  CHECK_FALSE(run([&] { return t.engine().get(slot_key(3, "q")); })->has_value());

  // Offsets and data survive a reopen together.
  const uint64_t digest = *run([&] { return t.engine().digest(); });
  t.reopen();
  INFO("after reopen: p0 " << t.engine().partition_applied(PartitionId(0)).value() << " p1 "
                           << t.engine().partition_applied(PartitionId(1)).value());
  CHECK(t.engine().partition_applied(PartitionId(0)) == Offset(2));
  CHECK(t.engine().partition_applied(PartitionId(1)) == Offset(5));
  CHECK(*run([&] { return t.engine().digest(); }) == digest);
}

}  // namespace

TEST_CASE("mem_kv_engine: partitions have their own applied offsets, range deletes and restores",
          "[storage][unit]") {
  partition_conformance<MemUnderTest>();
}

TEST_CASE("rocks_kv_engine: partitions have their own applied offsets, range deletes and restores",
          "[storage][unit]") {
  partition_conformance<RocksUnderTest>();
}

TEST_CASE("mem_kv_engine: a crash keeps each partition's data with its persisted offset", "[storage][unit]") {
  FiberHarness h;
  keel::sim::SimDisk disk(h.clock(), keel::core::Random(11));
  auto engine = h.run([&] { return MemKvEngine::open(disk, "kv"); }).value();
  WriteBatch b;
  b.put(slot_key(1, "a"), "1");
  REQUIRE(h.run([&] { return engine->write_partition_batch(PartitionId(0), b, Offset(3)); }).is_ok());
  REQUIRE(h.run([&] { return engine->persist(); }).is_ok());
  b.clear();
  b.put(slot_key(1, "b"), "2");
  REQUIRE(h.run([&] { return engine->write_partition_batch(PartitionId(0), b, Offset(4)); }).is_ok());
  engine.reset();
  disk.crash();
  engine = h.run([&] { return MemKvEngine::open(disk, "kv"); }).value();
  CHECK(engine->partition_applied(PartitionId(0)) == Offset(3));
  CHECK(h.run([&] { return engine->get(slot_key(1, "a")); })->has_value());
  CHECK_FALSE(h.run([&] { return engine->get(slot_key(1, "b")); })->has_value());
}

TEST_CASE("keyspace: a slot is one contiguous key range, in slot order", "[storage][unit]") {
  using keel::storage::parse_slot_key;
  CHECK(slot_key(0x1234, "k") == Bytes("d\x12\x34k", 4));
  auto parsed = parse_slot_key(slot_key(16383, "key"));
  REQUIRE(parsed.has_value());
  CHECK(parsed->first == 16383);
  CHECK(parsed->second == "key");
  CHECK_FALSE(parse_slot_key("m:applied").has_value());
  CHECK_FALSE(parse_slot_key(Bytes("d\x40\x00k", 4)).has_value());  // slot 16384 does not exist
  for (uint16_t s : {uint16_t(0), uint16_t(255), uint16_t(256), uint16_t(16383)}) {
    const auto [start, end] = slot_range_keys(s, s);
    INFO("slot " << s);
    CHECK(start <= slot_key(s, ""));
    CHECK(slot_key(s, std::string(300, '\xff')) < end);
    if (s > 0) CHECK(slot_key(static_cast<uint16_t>(s - 1), std::string(10, '\xff')) < start);
    if (s < 16383) CHECK_FALSE(slot_key(static_cast<uint16_t>(s + 1), "") < end);
  }
}
