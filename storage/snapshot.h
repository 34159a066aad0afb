// SnapshotStore: point-in-time images of a state machine, one file each, in
// a directory of their own.
//
// A snapshot is taken at a log index and carries opaque metadata (e.g. the
// Raft term and configuration at that index) and opaque data. save() is
// atomic: it writes `snap-<index>.snap.tmp`, syncs it, renames it to
// `snap-<index>.snap` and syncs the directory, so a final-named snapshot is
// always complete; a crash leaves at most a temporary file, which open()
// removes. Every load verifies checksums. The newest `keep` snapshots are
// kept (older ones are deleted after a save), so one damaged snapshot still
// leaves an older one to fall back on. Format in storage/FORMATS.md.
//
// Used by one fiber at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/env.h"
#include "core/ids.h"
#include "core/status.h"

namespace keel::storage {

struct Snapshot {
  core::LogIndex index;
  core::Bytes metadata;
  core::Bytes data;
};

struct LoadedSnapshot {
  Snapshot snapshot;
  // Newer snapshots that failed verification and were passed over.
  size_t skipped_corrupt = 0;
};

class SnapshotStore {
 public:
  static constexpr size_t kKeepDefault = 2;
  static constexpr uint64_t kMetadataBytesMax = 1024 * 1024;
  static constexpr uint64_t kDataBytesMax = 16ull * 1024 * 1024 * 1024;

  // Opens the store in `dir`, creating the directory if needed, removing
  // the store's own temporary files. Errors: FailedPrecondition (a file
  // that is not a snapshot sits in `dir`; nothing is changed), IoError.
  // Precondition: keep >= 1. May suspend.
  static core::Result<std::unique_ptr<SnapshotStore>> open(core::Disk& disk, std::string dir,
                                                           size_t keep = kKeepDefault);

  // Saves a snapshot at `index` (replacing one at the same index), then
  // deletes all but the newest `keep`. Errors: InvalidArgument (over a
  // limit), IoError, NoSpace. May suspend.
  core::Status save(core::LogIndex index, core::ByteView metadata, core::ByteView data);

  // The snapshot at `index`, verified. Errors: NotFound, Corruption (names
  // the file), FailedPrecondition (another format version), IoError.
  // May suspend.
  core::Result<Snapshot> load(core::LogIndex index);

  // The newest snapshot that verifies, or nullopt if there is none at all.
  // Damaged newer ones are skipped (and counted); if every snapshot is
  // damaged the result is Corruption, never a silent empty state.
  // May suspend.
  core::Result<std::optional<LoadedSnapshot>> load_latest();

  // Indexes of the stored snapshots, ascending.
  const std::vector<core::LogIndex>& indexes() const { return indexes_; }
  const std::string& dir() const { return dir_; }

 private:
  SnapshotStore(core::Disk& disk, std::string dir, size_t keep) : disk_(disk), dir_(std::move(dir)), keep_(keep) {}
  std::string path_of(core::LogIndex index) const;

  core::Disk& disk_;
  std::string dir_;
  size_t keep_;
  std::vector<core::LogIndex> indexes_;
};

}  // namespace keel::storage
