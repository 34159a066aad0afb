// MemKvEngine: the KvEngine of the simulator. A std::map in memory whose
// durable form is the newest snapshot in a SnapshotStore on core::Disk.
//
// persist() writes a snapshot of the whole map at the current applied index
// (atomically: see SnapshotStore); open() loads the newest snapshot that
// verifies. So after a crash the engine holds exactly the state of the last
// successful persist() (or of an older snapshot, if the newest was damaged:
// then applied_index() is lower and the caller replays more of its log).
// Everything is deterministic: ordered containers only.
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

#include "core/env.h"
#include "core/sync.h"
#include "storage/kv_engine.h"
#include "storage/snapshot.h"

namespace keel::storage {

struct MemKvOptions {
  // Snapshots kept on disk.
  size_t snapshots_kept = SnapshotStore::kKeepDefault;
  // Required when several fibers may persist() at once (a node's partition
  // drivers share one engine): their snapshots are then written one after
  // another. Without it a second persist() during one asserts.
  core::Scheduler* fibers = nullptr;
};

class MemKvEngine final : public KvEngine {
 public:
  // Opens the engine stored in `dir` of `disk` (empty if there is none).
  // Errors: as SnapshotStore::open and load_latest, and Corruption if the
  // snapshot's contents do not decode. May suspend.
  static core::Result<std::unique_ptr<MemKvEngine>> open(core::Disk& disk, std::string dir,
                                                         MemKvOptions options = {});

  core::Result<std::optional<core::Bytes>> get(core::ByteView key) override;
  core::Status put(core::ByteView key, core::ByteView value) override;
  core::Status del(core::ByteView key) override;
  core::Result<std::vector<KvEntry>> scan(core::ByteView start, core::ByteView end, size_t limit) override;
  core::Status write_batch(const WriteBatch& batch, core::LogIndex applied) override;
  core::LogIndex applied_index() const override { return applied_; }
  core::Status write_partition_batch(core::PartitionId p, const WriteBatch& batch, core::Offset applied) override;
  core::Offset partition_applied(core::PartitionId p) const override;
  core::Status restore_partition(core::PartitionId p, const std::vector<std::pair<core::Bytes, core::Bytes>>& ranges,
                                 const std::vector<KvEntry>& entries, core::Offset applied) override;
  core::Status persist() override;
  core::Result<uint64_t> digest() override;
  core::Status close() override;

  // Newer snapshots skipped as damaged when this engine was opened.
  size_t skipped_corrupt_snapshots() const { return skipped_corrupt_; }
  size_t size() const { return data_.size(); }

 private:
  explicit MemKvEngine(std::unique_ptr<SnapshotStore> store, core::Scheduler* fibers) : store_(std::move(store)) {
    if (fibers != nullptr) persist_lock_.emplace(*fibers);
  }
  core::Status check_open() const;
  void apply_ops(const WriteBatch& batch);

  std::unique_ptr<SnapshotStore> store_;
  std::map<core::Bytes, core::Bytes, std::less<>> data_;
  core::LogIndex applied_;
  // The number of the newest snapshot file (grows with every persist).
  core::LogIndex generation_;
  std::map<uint32_t, core::Offset> partition_applied_;
  bool closed_ = false;
  core::Status failed_;
  size_t skipped_corrupt_ = 0;
  std::optional<core::Mutex> persist_lock_;
  bool persisting_ = false;
};

}  // namespace keel::storage
