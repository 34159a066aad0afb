#include "storage/snapshot.h"

#include <catch2/catch.hpp>

#include <string>

#include "sim/disk/sim_disk.h"
#include "storage/meta_file.h"
#include "tests/simdisk/manual_clock.h"

using keel::core::Bytes;
using keel::core::Code;
using keel::core::LogIndex;
using keel::core::OpenMode;
using keel::sim::DiskFaults;
using keel::sim::SimDisk;
using keel::storage::HardState;
using keel::storage::SnapshotStore;
using keel::testing::FiberHarness;

namespace {

std::unique_ptr<SnapshotStore> open_store(FiberHarness& h, SimDisk& disk, size_t keep = 2) {
  auto r = h.run([&] { return SnapshotStore::open(disk, "snap", keep); });
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(r).value();
}

void write_file(FiberHarness& h, SimDisk& disk, const std::string& path, const Bytes& bytes) {
  h.run([&] {
    auto f = disk.open(path, OpenMode::kCreate);
    KEEL_ASSERT((*f)->truncate(0).is_ok());
    KEEL_ASSERT((*f)->append(bytes).is_ok());
    KEEL_ASSERT((*f)->sync().is_ok());
    KEEL_ASSERT(disk.sync_dir(path.substr(0, path.rfind('/'))).is_ok());
  });
}

Bytes read_file(FiberHarness& h, SimDisk& disk, const std::string& path) {
  return h.run([&] {
    auto f = disk.open(path, OpenMode::kReadOnly);
    return *(*f)->read_at(0, *(*f)->size());
  });
}

}  // namespace

TEST_CASE("snapshot: saved atomically and verified and the newest K kept", "[storage][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(1));
  auto store = open_store(h, disk);
  REQUIRE_FALSE(h.run([&] { return store->load_latest(); })->has_value());
  const Bytes big(5000, 'd');
  for (uint64_t i : {10, 20, 30}) {
    REQUIRE(h.run([&] { return store->save(LogIndex(i), "meta" + std::to_string(i), big + std::to_string(i)); }).is_ok());
  }
  REQUIRE(store->indexes() == std::vector<LogIndex>{LogIndex(20), LogIndex(30)});
  REQUIRE(*disk.list("snap") == std::vector<std::string>{"snap-00000000000000000020.snap", "snap-00000000000000000030.snap"});
  disk.crash();
  store = open_store(h, disk);
  auto latest = h.run([&] { return store->load_latest(); });
  REQUIRE(latest->has_value());
  REQUIRE((*latest)->snapshot.index == LogIndex(30));
  REQUIRE((*latest)->snapshot.metadata == "meta30");
  REQUIRE((*latest)->snapshot.data == big + "30");

  SECTION("a damaged newest snapshot falls back to the older one") {
    REQUIRE(disk.flip_bit("snap/snap-00000000000000000030.snap", 2000, 4));
    auto r = h.run([&] { return store->load(LogIndex(30)); });
    REQUIRE(r.status().code() == Code::kCorruption);
    REQUIRE_THAT(r.status().message(), Catch::Contains("snap-00000000000000000030.snap"));
    auto fallback = h.run([&] { return store->load_latest(); });
    REQUIRE((*fallback)->snapshot.index == LogIndex(20));
    REQUIRE((*fallback)->skipped_corrupt == 1);
    // With every snapshot damaged the answer is an error, not emptiness.
    REQUIRE(disk.flip_bit("snap/snap-00000000000000000020.snap", 60, 0));
    REQUIRE(h.run([&] { return store->load_latest(); }).status().code() == Code::kCorruption);
  }
  SECTION("a crash during a save leaves the older snapshots and no debris") {
    DiskFaults drop_all;
    drop_all.crash_keep_probability = 0;
    drop_all.crash_tear_probability = 0;
    disk.set_faults(drop_all);
    // Stop inside the save: after the temp file's sync, before the rename
    // is made durable.
    REQUIRE_FALSE(h.run_until_crash([&] { KEEL_ASSERT(store->save(LogIndex(40), "m", "new").is_ok()); }, 1));
    disk.crash();
    store = open_store(h, disk);
    REQUIRE(store->indexes() == std::vector<LogIndex>{LogIndex(20), LogIndex(30)});
    REQUIRE((*h.run([&] { return store->load_latest(); }))->snapshot.index == LogIndex(30));
  }
}

TEST_CASE("snapshot: other versions and truncated headers and stray files are refused intact", "[storage][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(2));
  auto store = open_store(h, disk);
  REQUIRE(h.run([&] { return store->save(LogIndex(7), "m", "data"); }).is_ok());
  const std::string path = "snap/snap-00000000000000000007.snap";
  const Bytes original = read_file(h, disk, path);

  SECTION("another version") {
    Bytes changed = original;
    changed[8] = 9;
    write_file(h, disk, path, changed);
    auto r = h.run([&] { return store->load(LogIndex(7)); });
    REQUIRE(r.status().code() == Code::kFailedPrecondition);
    REQUIRE_THAT(r.status().message(), Catch::Contains("version 9"));
    // Not a corruption to skip: load_latest reports it.
    REQUIRE(h.run([&] { return store->load_latest(); }).status().code() == Code::kFailedPrecondition);
  }
  SECTION("a truncated header") {
    write_file(h, disk, path, original.substr(0, 30));
    auto r = h.run([&] { return store->load(LogIndex(7)); });
    REQUIRE(r.status().code() == Code::kCorruption);
    REQUIRE_THAT(r.status().message(), Catch::Contains("truncated snapshot header"));
  }
  SECTION("a stray file") {
    write_file(h, disk, "snap/README", "x");
    auto r = h.run([&] { return SnapshotStore::open(disk, "snap"); });
    REQUIRE(r.status().code() == Code::kFailedPrecondition);
    REQUIRE_THAT(r.status().message(), Catch::Contains("README"));
    REQUIRE(read_file(h, disk, path) == original);
  }
}

TEST_CASE("meta_file: hard state is replaced atomically and verified", "[storage][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(3));
  REQUIRE(h.run([&] { return disk.make_dirs("raft"); }).is_ok());
  REQUIRE_FALSE(h.run([&] { return keel::storage::load_hard_state(disk, "raft"); })->has_value());
  const HardState a{keel::core::Term(3), keel::core::NodeId(2), LogIndex(17)};
  REQUIRE(h.run([&] { return keel::storage::save_hard_state(disk, "raft", a); }).is_ok());
  disk.crash();
  REQUIRE(**h.run([&] { return keel::storage::load_hard_state(disk, "raft"); }) == a);

  // A save cut short by a crash leaves the old state.
  DiskFaults drop_all;
  drop_all.crash_keep_probability = 0;
  drop_all.crash_tear_probability = 0;
  disk.set_faults(drop_all);
  const HardState b{keel::core::Term(4), keel::core::NodeId(0), LogIndex(20)};
  for (size_t fires = 0; fires < 2; ++fires) {
    REQUIRE_FALSE(h.run_until_crash([&] { KEEL_ASSERT(keel::storage::save_hard_state(disk, "raft", b).is_ok()); }, fires));
    disk.crash();
    REQUIRE(**h.run([&] { return keel::storage::load_hard_state(disk, "raft"); }) == a);
  }
  REQUIRE(h.run([&] { return keel::storage::save_hard_state(disk, "raft", b); }).is_ok());
  REQUIRE(**h.run([&] { return keel::storage::load_hard_state(disk, "raft"); }) == b);

  REQUIRE(disk.flip_bit("raft/hardstate", 18, 2));
  auto r = h.run([&] { return keel::storage::load_hard_state(disk, "raft"); });
  REQUIRE(r.status().code() == Code::kCorruption);
  write_file(h, disk, "raft/hardstate", "KEELMETA");
  REQUIRE(h.run([&] { return keel::storage::load_hard_state(disk, "raft"); }).status().code() == Code::kCorruption);
}
