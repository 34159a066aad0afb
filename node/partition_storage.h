// PartitionStorage: one partition replica's durable log on a node, what a
// PartitionReplica (consensus/partition.h) restarts from.
//
// Layout in `dir`: a storage::Log whose record at LogIndex o + 1 is the
// partition record at offset o (payload: epoch u64, then the data), and a
// meta file "start" holding the log start, the epoch of the record before
// it (the snapshot's last), and a snapshot install in progress, if any.
//
// Ordering rules, each one what a crash at any disk call must survive:
//   - save(): a truncation is durable before any record after it is
//     written, and every record of the Ready is synced before save()
//     returns (the replica sends nothing that depends on it before).
//   - compact(): the new start is written before the log drops records,
//     so a crash leaves records below the start, which open() drops again.
//   - A snapshot install has three durable steps: begin_install() records
//     it; the node makes the partition's image durable in the engine
//     (KvEngine::restore_partition, which sets the partition's applied
//     offset); complete_install() empties the log at the snapshot's offset.
//     open() is told the engine's durable applied offset and either
//     finishes an interrupted install (the engine has the image) or
//     discards it (the engine does not), so log and engine always agree.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "consensus/partition.h"
#include "core/env.h"
#include "storage/log.h"

namespace keel::node {

class PartitionStorage {
 public:
  // Opens (creating) the partition's directory, settles an interrupted
  // install against `engine_applied` (the partition's durable applied offset
  // in the engine) and loads the log. Errors: Corruption when the disk
  // cannot be a state this storage wrote (epochs decreasing, the engine
  // beyond the log), IoError. May suspend.
  static core::Result<std::unique_ptr<PartitionStorage>> open(core::Disk& disk, std::string dir,
                                                              core::Offset engine_applied);

  // What the replica restarts from (read at open; not kept up to date).
  const consensus::PartitionPersisted& loaded() const { return loaded_; }

  // Makes a Ready's truncation and records durable (its snapshot goes
  // through begin_install/complete_install instead). May suspend.
  core::Status save(const consensus::PartitionReady& ready);
  // The log now starts at `start`, whose previous record had `epoch`
  // (after a durable state-machine snapshot covering it). May suspend.
  core::Status compact(core::Offset start, core::Epoch epoch);
  core::Status begin_install(core::Offset offset, core::Epoch epoch);
  core::Status complete_install();

  core::Offset log_start() const { return start_; }
  core::Offset durable_end() const { return core::Offset(log_->synced_index().value()); }

 private:
  struct Meta {
    core::Offset start;
    core::Epoch epoch;
    std::optional<std::pair<core::Offset, core::Epoch>> installing;
  };
  PartitionStorage(core::Disk& disk, std::string dir) : disk_(disk), dir_(std::move(dir)) {}
  core::Status write_meta(const Meta& meta);
  core::Result<Meta> read_meta();
  core::Status load(core::Offset engine_applied);

  core::Disk& disk_;
  std::string dir_;
  std::unique_ptr<storage::Log> log_;
  core::Offset start_;
  core::Epoch start_epoch_;
  std::optional<std::pair<core::Offset, core::Epoch>> installing_;
  consensus::PartitionPersisted loaded_;
};

}  // namespace keel::node
