// RaftStorage under crashes at every disk call: whatever call a crash lands
// on, the node restarts from its own disk (Raft::create accepts what load()
// returns), and nothing the storage had made durable is lost.
#include "node/raft_storage.h"

#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/disk/sim_disk.h"
#include "storage/meta_file.h"
#include "tests/simdisk/manual_clock.h"

using keel::consensus::Entry;
using keel::consensus::HardState;
using keel::consensus::PersistedState;
using keel::consensus::SnapshotMeta;
using keel::core::Bytes;
using keel::core::LogIndex;
using keel::core::NodeId;
using keel::core::Status;
using keel::core::Term;
using keel::node::RaftStorage;
using keel::sim::SimDisk;
using keel::testing::FiberHarness;

namespace {

std::vector<Entry> entries(uint64_t from, uint64_t to, uint64_t term) {
  std::vector<Entry> out;
  for (uint64_t i = from; i <= to; ++i) out.push_back(Entry{Term(term), LogIndex(i), {}, "e" + std::to_string(i)});
  return out;
}

HardState hard_state(uint64_t term, uint32_t vote, uint64_t commit) {
  HardState hs;
  hs.term = Term(term);
  hs.vote = NodeId(vote);
  hs.commit = LogIndex(commit);
  return hs;
}

SnapshotMeta snapshot_meta(uint64_t index, uint64_t term) {
  SnapshotMeta meta;
  meta.index = LogIndex(index);
  meta.term = Term(term);
  meta.config.voters = {NodeId(1), NodeId(2), NodeId(3)};
  return meta;
}

// A stand-in for the state machine's durable index: one meta file, written
// atomically as the machine's restore() would.
constexpr const char* kMachineFile = "machine";

Status save_machine(SimDisk& disk, LogIndex index) {
  Bytes body;
  keel::core::put_u64(body, index.value());
  return keel::storage::write_meta_file(disk, kMachineFile, body);
}

LogIndex load_machine(SimDisk& disk) {
  auto body = keel::storage::read_meta_file(disk, kMachineFile);
  KEEL_ASSERT(body.is_ok());
  if (!*body) return LogIndex(0);
  return LogIndex(keel::core::get_u64((*body)->data()));
}

// Node 1's storage: entries 1..10 of term 1, term 1 with a vote, all synced.
void prepare(FiberHarness& h, SimDisk& disk) {
  const bool ok = h.run([&] {
    auto storage = RaftStorage::open(disk, "raft");
    KEEL_ASSERT(storage.is_ok());
    return (*storage)->save(hard_state(1, 2, 3), entries(1, 10, 1), std::nullopt).is_ok();
  });
  REQUIRE(ok);
}

struct Restarted {
  std::string error;  // empty when Raft accepted the disk
  PersistedState persisted;
};

// Reopens after a crash as RaftNode::start does, and asks Raft to start.
Restarted restart(FiberHarness& h, SimDisk& disk) {
  disk.crash();
  return h.run([&] {
    Restarted out;
    auto storage = RaftStorage::open(disk, "raft");
    if (!storage.is_ok()) {
      out.error = storage.status().to_string();
      return out;
    }
    const LogIndex machine = load_machine(disk);
    if (auto finished = (*storage)->recover_install(machine); !finished.is_ok()) {
      out.error = finished.status().to_string();
      return out;
    }
    auto persisted = (*storage)->load(machine);
    if (!persisted.is_ok()) {
      out.error = persisted.status().to_string();
      return out;
    }
    out.persisted = *persisted;
    keel::consensus::Config config;
    config.id = NodeId(1);
    PersistedState copy = *persisted;
    if (copy.snapshot.config.voters.empty()) copy.snapshot.config.voters = {NodeId(1), NodeId(2), NodeId(3)};
    auto raft = keel::consensus::Raft::create(config, std::move(copy), keel::core::Random(7));
    if (!raft.is_ok()) out.error = raft.status().to_string();
    return out;
  });
}

}  // namespace

TEST_CASE("raft storage: a crash at any disk call of a new term's first append leaves a restartable disk",
          "[node][unit]") {
  // A follower's first append from a new leader: term 2 and entries of
  // term 2 in one Ready. Were the entries durable before the term, a
  // crash between the two would leave a log above its hard state.
  for (uint64_t point = 1;; ++point) {
    FiberHarness h;
    SimDisk disk(h.clock(), keel::core::Random(point));
    prepare(h, disk);
    bool reached = false;
    disk.set_crash_point(point, [&] { reached = true; });
    h.run([&] {
      auto storage = RaftStorage::open(disk, "raft");
      if (!storage.is_ok()) return false;
      return (*storage)->save(hard_state(2, 0, 3), entries(8, 12, 2), std::nullopt).is_ok();
    });
    const Restarted r = restart(h, disk);
    INFO("crash at disk call " << point << ": " << r.error);
    REQUIRE(r.error.empty());
    if (!reached) {
      CHECK(r.persisted.hard_state.term == Term(2));
      REQUIRE(r.persisted.entries.size() == 12);
      CHECK(r.persisted.entries.back().term == Term(2));
      break;
    }
    REQUIRE(point < 1000);
  }
}

TEST_CASE("raft storage: a crash at any disk call of a snapshot install leaves a restartable disk", "[node][unit]") {
  // The follower holds 1..10 of term 1; the leader of term 2 sends a
  // snapshot at 5 (term 2), which conflicts with entry 5. Steps as
  // RaftNode::handle_ready takes them: the install record, the machine's
  // restore, then save().
  for (uint64_t point = 1;; ++point) {
    FiberHarness h;
    SimDisk disk(h.clock(), keel::core::Random(100 + point));
    prepare(h, disk);
    bool reached = false;
    disk.set_crash_point(point, [&] { reached = true; });
    const SnapshotMeta meta = snapshot_meta(5, 2);
    h.run([&] {
      auto storage = RaftStorage::open(disk, "raft");
      if (!storage.is_ok()) return false;
      if (!(*storage)->begin_install(meta, hard_state(2, 0, 5)).is_ok()) return false;
      if (!save_machine(disk, meta.index).is_ok()) return false;
      return (*storage)->save(hard_state(2, 0, 5), {}, meta).is_ok();
    });
    const Restarted r = restart(h, disk);
    INFO("crash at disk call " << point << ": " << r.error);
    REQUIRE(r.error.empty());
    const LogIndex machine = load_machine(disk);
    if (machine == LogIndex(5)) {
      // The machine holds the snapshot: the log is the snapshot alone.
      CHECK(r.persisted.snapshot.index == LogIndex(5));
      CHECK(r.persisted.snapshot.term == Term(2));
      CHECK(r.persisted.entries.empty());
    } else {
      // The install never reached the machine: the old log stands whole.
      CHECK(r.persisted.snapshot.index == LogIndex(0));
      CHECK(r.persisted.entries.size() == 10);
    }
    if (!reached) break;
    REQUIRE(point < 1000);
  }
}

TEST_CASE("raft storage: a snapshot installed over a conflicting log leaves no stale entries after it",
          "[node][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(3));
  prepare(h, disk);
  const SnapshotMeta meta = snapshot_meta(5, 2);
  const bool ok = h.run([&] {
    auto storage = RaftStorage::open(disk, "raft");
    KEEL_ASSERT(storage.is_ok());
    return (*storage)->begin_install(meta, hard_state(2, 0, 5)).is_ok() && save_machine(disk, meta.index).is_ok() &&
           (*storage)->save(hard_state(2, 0, 5), {}, meta).is_ok() &&
           (*storage)->save(std::nullopt, entries(6, 7, 2), std::nullopt).is_ok();
  });
  REQUIRE(ok);
  const Restarted r = restart(h, disk);
  INFO(r.error);
  REQUIRE(r.error.empty());
  CHECK(r.persisted.snapshot.index == LogIndex(5));
  REQUIRE(r.persisted.entries.size() == 2);
  CHECK(r.persisted.entries[0].index == LogIndex(6));
  CHECK(r.persisted.entries[0].term == Term(2));
  CHECK(r.persisted.entries[1].term == Term(2));
}
