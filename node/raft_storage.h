// RaftStorage: where a Raft node keeps what it must not forget.
//
// Layout under its directory (default "raft/"):
//   log/    the entry log (storage/log.h); record i holds entry i encoded as
//           u64 term, u8 type, then the data
//   state   hard state (term, vote, commit) and the snapshot's metadata,
//           one record replaced atomically (storage/meta_file.h)
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
  static core::Result<std::unique_ptr<RaftStorage>> open(core::Disk& disk, std::string dir);

  // What Raft restarts from, with `applied` = the state machine's durable
  // index. May suspend.
  core::Result<consensus::PersistedState> load(core::LogIndex applied);

  // Persists the durable parts of a Ready: entries (replacing any suffix
  // they overwrite), the hard state, and a received snapshot's metadata
  // (after which the log restarts after it). One sync covers everything.
  // May suspend.
  core::Status save(const std::optional<consensus::HardState>& hard_state,
                    const std::vector<consensus::Entry>& entries,
                    const std::optional<consensus::SnapshotMeta>& snapshot);

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

  core::Disk& disk_;
  std::string dir_;
  std::unique_ptr<storage::Log> log_;
  consensus::HardState hard_state_;
  consensus::SnapshotMeta snapshot_;
};

}  // namespace keel::node
