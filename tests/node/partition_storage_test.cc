// PartitionStorage: what a partition replica restarts from, after a crash
// at any disk call of a save, a compaction or a snapshot install.
#include "node/partition_storage.h"

#include <catch2/catch.hpp>

#include <functional>
#include <string>
#include <vector>

#include "sim/disk/sim_disk.h"
#include "storage/meta_file.h"
#include "tests/simdisk/manual_clock.h"

using keel::consensus::PartitionConfig;
using keel::consensus::PartitionPersisted;
using keel::consensus::PartitionReady;
using keel::consensus::PartitionReplica;
using keel::consensus::Record;
using keel::core::Epoch;
using keel::core::NodeId;
using keel::core::Offset;
using keel::core::PartitionId;
using keel::core::Status;
using keel::node::PartitionStorage;
using keel::sim::SimDisk;
using keel::testing::FiberHarness;

namespace {

std::vector<Record> records(uint64_t from, uint64_t to, uint64_t epoch) {
  std::vector<Record> out;
  for (uint64_t o = from; o <= to; ++o) out.push_back(Record{Epoch(epoch), Offset(o), "r" + std::to_string(o)});
  return out;
}

PartitionReady ready_with(std::vector<Record> recs, std::optional<Offset> truncate = std::nullopt) {
  PartitionReady rd;
  rd.records = std::move(recs);
  rd.truncate_from = truncate;
  return rd;
}

// The engine's durable applied offset for the partition, as a meta file.
constexpr const char* kEngineFile = "engine";
Status save_engine(SimDisk& disk, Offset applied) {
  keel::core::Bytes body;
  keel::core::put_u64(body, applied.value());
  return keel::storage::write_meta_file(disk, kEngineFile, body);
}
Offset load_engine(SimDisk& disk) {
  auto body = keel::storage::read_meta_file(disk, kEngineFile);
  KEEL_ASSERT(body.is_ok());
  if (!*body) return Offset(0);
  return Offset(keel::core::get_u64((*body)->data()));
}

struct Restarted {
  std::string error;  // empty when the replica accepted the disk
  PartitionPersisted persisted;
};

// Reopens after a crash as a node would, and asks a replica to start.
Restarted restart(FiberHarness& h, SimDisk& disk) {
  disk.crash();
  return h.run([&] {
    Restarted out;
    auto storage = PartitionStorage::open(disk, "p7", load_engine(disk));
    if (!storage.is_ok()) {
      out.error = storage.status().to_string();
      return out;
    }
    out.persisted = (*storage)->loaded();
    PartitionConfig config;
    config.partition = PartitionId(7);
    config.id = NodeId(1);
    auto replica = PartitionReplica::create(config, out.persisted);
    if (!replica.is_ok()) out.error = replica.status().to_string();
    return out;
  });
}

// Offsets 0..9: epoch 1 up to 5, epoch 2 after; the engine applied 3.
void prepare(FiberHarness& h, SimDisk& disk) {
  const bool ok = h.run([&] {
    auto storage = PartitionStorage::open(disk, "p7", Offset(0));
    KEEL_ASSERT(storage.is_ok());
    if (!(*storage)->save(ready_with(records(0, 5, 1))).is_ok()) return false;
    if (!(*storage)->save(ready_with(records(6, 9, 2))).is_ok()) return false;
    return save_engine(disk, Offset(3)).is_ok();
  });
  REQUIRE(ok);
}

// Runs `step` with a crash at every mutating disk call in turn, until the
// step completes without reaching its crash point; checks each restart.
void at_every_crash_point(const std::function<bool(FiberHarness&, SimDisk&)>& step,
                          const std::function<void(const Restarted&, bool reached)>& check) {
  for (uint64_t point = 1;; ++point) {
    FiberHarness h;
    SimDisk disk(h.clock(), keel::core::Random(point));
    prepare(h, disk);
    bool reached = false;
    disk.set_crash_point(point, [&] { reached = true; });
    h.run([&] { return step(h, disk); });
    const Restarted r = restart(h, disk);
    INFO("crash at disk call " << point << ": " << r.error);
    REQUIRE(r.error.empty());
    check(r, reached);
    if (!reached) return;
  }
}

}  // namespace

TEST_CASE("partition storage: records, truncation and compaction survive a reopen", "[node][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(1));
  prepare(h, disk);
  Restarted r = restart(h, disk);
  REQUIRE(r.error.empty());
  REQUIRE(r.persisted.records.size() == 10);
  CHECK(r.persisted.records[6].epoch == Epoch(2));
  CHECK(r.persisted.applied == Offset(3));
  // A divergent suffix from offset 7 replaced by epoch-3 records.
  REQUIRE(h.run([&] {
    auto s = PartitionStorage::open(disk, "p7", Offset(3));
    if (!s.is_ok()) return false;
    if (!(*s)->save(ready_with(records(7, 8, 3), Offset(7))).is_ok()) return false;
    return (*s)->compact(Offset(3), Epoch(1)).is_ok();
  }));
  r = restart(h, disk);
  REQUIRE(r.error.empty());
  CHECK(r.persisted.log_start == Offset(3));
  CHECK(r.persisted.snapshot_epoch == Epoch(1));
  REQUIRE(r.persisted.records.size() == 6);
  CHECK(r.persisted.records.back().offset == Offset(8));
  CHECK(r.persisted.records.back().epoch == Epoch(3));
  // Records that do not follow the log are refused.
  const bool refused = h.run([&] {
    auto s = PartitionStorage::open(disk, "p7", Offset(3));
    return s.is_ok() && !(*s)->save(ready_with(records(12, 12, 3))).is_ok();
  });
  CHECK(refused);
}

TEST_CASE("partition storage: a crash at any disk call of a save with a truncation leaves a restartable disk",
          "[node][unit]") {
  at_every_crash_point(
      [](FiberHarness&, SimDisk& disk) {
        auto s = PartitionStorage::open(disk, "p7", load_engine(disk));
        return s.is_ok() && (*s)->save(ready_with(records(4, 6, 3), Offset(4))).is_ok();
      },
      [](const Restarted& r, bool reached) {
        // Either the old log whole, or a prefix of it truncated at 4 and
        // followed by some of the new records.
        const auto& recs = r.persisted.records;
        REQUIRE(recs.size() >= 4);
        if (!reached) CHECK(recs.size() == 7);
        for (const Record& rec : recs) {
          if (rec.offset >= Offset(4) && rec.epoch == Epoch(3)) CHECK(rec.data == "r" + rec.offset.to_string());
        }
      });
}

TEST_CASE("partition storage: a crash at any disk call of a snapshot install leaves old log or snapshot alone",
          "[node][unit]") {
  at_every_crash_point(
      [](FiberHarness&, SimDisk& disk) {
        auto s = PartitionStorage::open(disk, "p7", load_engine(disk));
        if (!s.is_ok()) return false;
        // A snapshot from a leader whose history differs from offset 7 on:
        // none of the old records may survive after its start.
        if (!(*s)->begin_install(Offset(7), Epoch(4)).is_ok()) return false;
        if (!save_engine(disk, Offset(7)).is_ok()) return false;  // the engine restores the image
        return (*s)->complete_install().is_ok();
      },
      [](const Restarted& r, bool reached) {
        if (r.persisted.applied == Offset(7)) {
          CHECK(r.persisted.log_start == Offset(7));
          CHECK(r.persisted.snapshot_epoch == Epoch(4));
          CHECK(r.persisted.records.empty());
        } else {
          CHECK_FALSE(!reached);
          CHECK(r.persisted.applied == Offset(3));
          CHECK(r.persisted.log_start == Offset(0));
          CHECK(r.persisted.records.size() == 10);
        }
      });
}

TEST_CASE("partition storage: a crash at any disk call of a compaction leaves a restartable disk", "[node][unit]") {
  at_every_crash_point(
      [](FiberHarness&, SimDisk& disk) {
        auto s = PartitionStorage::open(disk, "p7", load_engine(disk));
        return s.is_ok() && (*s)->compact(Offset(3), Epoch(1)).is_ok();
      },
      [](const Restarted& r, bool reached) {
        if (!reached) CHECK(r.persisted.log_start == Offset(3));
        const uint64_t start = r.persisted.log_start.value();
        CHECK((start == 0 || start == 3));
        CHECK(r.persisted.records.size() == 10 - start);
      });
}
