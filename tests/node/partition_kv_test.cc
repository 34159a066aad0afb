// PartitionKv: the KV commands applied per partition on a shared engine,
// each partition with its own applied offset, image, restore and digest.
#include "node/partition_kv.h"

#include <catch2/catch.hpp>

#include "consensus/controller.h"
#include "net/resp/command.h"
#include "node/commands.h"
#include "sim/disk/sim_disk.h"
#include "storage/mem_kv_engine.h"
#include "tests/simdisk/manual_clock.h"

using keel::core::Bytes;
using keel::core::Offset;
using keel::core::PartitionId;
using keel::node::AppendCommand;
using keel::node::CommandReply;
using keel::node::IncrByCommand;
using keel::node::MSetCommand;
using keel::node::PartitionKv;
using keel::node::SetCommand;
using keel::node::decode_reply;
using keel::node::encode_command;
using keel::storage::MemKvEngine;
using keel::testing::FiberHarness;

namespace {

constexpr uint32_t kPartitions = 4;

// A key of partition p.
std::string key_in(uint32_t p, int n = 0) {
  for (int i = 0;; ++i) {
    std::string k = "k" + std::to_string(n) + "-" + std::to_string(i);
    if (keel::consensus::ClusterMetadata::partition_of_slot(keel::net::resp::key_slot(k), kPartitions).value() == p) {
      return k;
    }
  }
}

Bytes set(const std::string& k, const std::string& v) {
  SetCommand c;
  c.key = k;
  c.value = v;
  return encode_command(c);
}
Bytes incr(const std::string& k, int64_t d) { return encode_command(IncrByCommand{k, d}); }

CommandReply reply_of(const keel::core::Result<Bytes>& r) {
  REQUIRE(r.is_ok());
  auto d = decode_reply(*r);
  REQUIRE(d.is_ok());
  return *d;
}

}  // namespace

TEST_CASE("partition kv: partitions on one engine apply independently, each at its own offset", "[node][unit]") {
  FiberHarness h;
  keel::sim::SimDisk disk(h.clock(), keel::core::Random(1));
  auto engine = h.run([&] { return MemKvEngine::open(disk, "kv"); }).value();
  PartitionKv p0(*engine, PartitionId(0), kPartitions);
  PartitionKv p1(*engine, PartitionId(1), kPartitions);
  const std::string a = key_in(0), b = key_in(1);
  CHECK(reply_of(h.run([&] { return p0.apply(Offset(0), set(a, "x")); })) == CommandReply::ok());
  CHECK(reply_of(h.run([&] { return p0.apply(Offset(1), encode_command(AppendCommand{Bytes(a), Bytes("yz")})); })) ==
        CommandReply::integer_value(3));
  CHECK(reply_of(h.run([&] { return p1.apply(Offset(0), incr(b, 5)); })) == CommandReply::integer_value(5));
  CHECK(p0.applied() == Offset(2));
  CHECK(p1.applied() == Offset(1));
  CHECK(**h.run([&] { return p0.get(a); }) == "xyz");
  CHECK(h.run([&] { return p0.get(b); }).status().code() == keel::core::Code::kInvalidArgument);
  // A record naming another partition's key, or malformed bytes: an error
  // reply, no writes, the offset still advances (every replica the same).
  const CommandReply foreign = reply_of(h.run([&] { return p0.apply(Offset(2), set(b, "no")); }));
  CHECK(foreign.kind == CommandReply::Kind::kError);
  const CommandReply cross =
      reply_of(h.run([&] { return p0.apply(Offset(3), encode_command(MSetCommand{{{a, "1"}, {b, "2"}}})); }));
  CHECK(cross.kind == CommandReply::Kind::kError);
  const CommandReply garbage = reply_of(h.run([&] { return p0.apply(Offset(4), Bytes("junk")); }));
  CHECK(garbage.kind == CommandReply::Kind::kError);
  CHECK(p0.applied() == Offset(5));
  CHECK(**h.run([&] { return p1.get(b); }) == "5");
  CHECK(**h.run([&] { return p0.get(a); }) == "xyz");
}

TEST_CASE("partition kv: an image restores another replica's partition exactly, leaving the others", "[node][unit]") {
  FiberHarness h;
  keel::sim::SimDisk disk_a(h.clock(), keel::core::Random(2));
  keel::sim::SimDisk disk_b(h.clock(), keel::core::Random(3));
  auto ea = h.run([&] { return MemKvEngine::open(disk_a, "kv"); }).value();
  auto eb = h.run([&] { return MemKvEngine::open(disk_b, "kv"); }).value();
  PartitionKv a0(*ea, PartitionId(0), kPartitions);
  PartitionKv b0(*eb, PartitionId(0), kPartitions);
  PartitionKv b2(*eb, PartitionId(2), kPartitions);
  for (int i = 0; i < 20; ++i) {
    REQUIRE(h.run([&] { return a0.apply(Offset(i), set(key_in(0, i), "v" + std::to_string(i))); }).is_ok());
  }
  // b is behind and holds a stale value in partition 0, and data in 2.
  REQUIRE(h.run([&] { return b0.apply(Offset(0), set(key_in(0, 99), "stale")); }).is_ok());
  REQUIRE(h.run([&] { return b2.apply(Offset(0), set(key_in(2), "mine")); }).is_ok());
  auto image = h.run([&] { return a0.image(); });
  REQUIRE(image.is_ok());
  CHECK(image->size() == 20);
  REQUIRE(h.run([&] { return b0.restore(Offset(20), *image); }).is_ok());
  CHECK(b0.applied() == Offset(20));
  CHECK(*h.run([&] { return b0.digest(); }) == *h.run([&] { return a0.digest(); }));
  CHECK_FALSE(h.run([&] { return b0.get(key_in(0, 99)); })->has_value());
  CHECK(**h.run([&] { return b2.get(key_in(2)); }) == "mine");
  CHECK(b2.applied() == Offset(1));
}

TEST_CASE("partition kv: a crash keeps each partition's data with its offset", "[node][unit]") {
  FiberHarness h;
  keel::sim::SimDisk disk(h.clock(), keel::core::Random(4));
  auto engine = h.run([&] { return MemKvEngine::open(disk, "kv"); }).value();
  {
    PartitionKv p(*engine, PartitionId(3), kPartitions);
    REQUIRE(h.run([&] { return p.apply(Offset(0), incr(key_in(3), 1)); }).is_ok());
    REQUIRE(h.run([&] { return p.apply(Offset(1), incr(key_in(3), 1)); }).is_ok());
    REQUIRE(h.run([&] { return engine->persist(); }).is_ok());
    REQUIRE(h.run([&] { return p.apply(Offset(2), incr(key_in(3), 1)); }).is_ok());
  }
  engine.reset();
  disk.crash();
  engine = h.run([&] { return MemKvEngine::open(disk, "kv"); }).value();
  PartitionKv p(*engine, PartitionId(3), kPartitions);
  CHECK(p.applied() == Offset(2));
  CHECK(**h.run([&] { return p.get(key_in(3)); }) == "2");
}
