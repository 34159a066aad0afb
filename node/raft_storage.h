// RaftStorage: where a Raft node keeps what it must not forget.
//
// Layout under its directory (default "raft/"):
//   log/    the entry log (storage/log.h); record i holds entry i encoded as
//           u64 term, u8 type, then the data
//   state   hard state (term, vote, commit) and the snapshot's metadata,
//           one record replaced atomically (storage/meta_file.h)
//   install the metadata of a snapshot being installed (present only from
//           before the state machine restores it until the state record
//           names it)
//
// Installing a received snapshot takes three steps, each durable before the
// next: begin_install() records its metadata; the state machine restores it;
// save() replaces the whole log by it and names it in the state record.
// A crash between any two leaves a disk that recover_install() completes
// or rolls back, so a restart never meets a machine ahead of its log.
//
// save() makes a Ready's hard state, entries and snapshot metadata durable
// before it returns; only then may the Ready's messages be sent (R7).
#pragma once

#include <memory>
#include <string>

#include "consensus/raft.h"
#include "core/env.h"
#include "storage/log.h"

namespace keel::node {

class RaftStorage {
 public:
  // Opens (creating if absent) the storage in `dir` of `disk`. Errors:
  // Corruption / FailedPrecondition from the log or the state file.
  // May suspend.
  static core::Result<std::unique_ptr<RaftStorage>> open(core::Disk& disk, std::string dir,
                                                        core::Coverage* coverage = nullptr);

  // What Raft restarts from, with `applied` = the state machine's durable
  // index. May suspend.
  core::Result<consensus::PersistedState> load(core::LogIndex applied);

  // Persists the durable parts of a Ready, in this order: the hard state
  // (if its term or vote changed), a received snapshot's metadata (after
  // which the log restarts after it; begin_install() must have recorded it
  // and the state machine must hold it), then entries (replacing any
  // suffix they overwrite). So the term is durable before anything of that
  // term. May suspend.
  core::Status save(const std::optional<consensus::HardState>& hard_state,
                    const std::vector<consensus::Entry>& entries,
                    const std::optional<consensus::SnapshotMeta>& snapshot);

  // Records `meta` as the snapshot about to be installed, durably, before
  // the state machine restores it; the Ready's hard state, if its term or
  // vote changed, is made durable first. May suspend.
  core::Status begin_install(const consensus::SnapshotMeta& meta,
                             const std::optional<consensus::HardState>& hard_state);

  // Called once after open(), with the state machine's durable index:
  // finishes an install that the machine completed but the log did not,
  // or forgets one the machine never made durable. True when it finished
  // one. May suspend.
  core::Result<bool> recover_install(core::LogIndex machine_durable);

  // Records that the state machine holds everything up to meta.index
  // durably, and drops the log before it. May suspend.
  core::Status compact(const consensus::SnapshotMeta& meta);

  const consensus::SnapshotMeta& snapshot_meta() const { return snapshot_; }
  const consensus::HardState& hard_state() const { return hard_state_; }
  storage::Log& log() { return *log_; }

  static core::Bytes encode_entry(const consensus::Entry& e);
  static core::Result<consensus::Entry> decode_entry(core::LogIndex index, core::ByteView record);

 private:
  RaftStorage(core::Disk& disk, std::string dir) : disk_(disk), dir_(std::move(dir)) {}
  core::Status read_state();
  core::Status write_state();
  core::Status complete_install(const consensus::SnapshotMeta& meta);
  static core::Bytes encode_snapshot_meta(const consensus::SnapshotMeta& meta);
  static core::Result<consensus::SnapshotMeta> decode_snapshot_meta(const std::string& path, core::ByteView body);

  core::Disk& disk_;
  std::string dir_;
  std::unique_ptr<storage::Log> log_;
  consensus::HardState hard_state_;
  consensus::SnapshotMeta snapshot_;
};

}  // namespace keel::node
