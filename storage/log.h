// Log: the segmented, append-only record log on core::Disk.
//
// A log holds opaque records keyed by a dense LogIndex (the Raft layer puts
// term, type and data inside each record itself). It lives in one directory
// of its own, as segment files named by their first index; the on-disk
// format and the recovery rules are specified in storage/LOG_FORMAT.md.
//
// Invariants:
//   - Indexes are dense: the log holds exactly first_index()..last_index().
//     An empty log has last_index() == first_index() - 1.
//   - Records up to synced_index() are durable: they survive any crash.
//     Records after it may survive a crash or not, each whole or not at all
//     (recovery never yields a partial, corrupt or reordered record), and
//     only as a contiguous run after the synced prefix.
//   - Every segment but the last is complete and durable; any damage found
//     in it, or before the unsynced tail of the last one, is reported as
//     Corruption naming the file and offset, never repaired silently.
//
// A Log is used by one fiber at a time (the node's storage driver); calls
// from a second fiber while one is suspended inside the log are programmer
// errors (asserted). Group commit is the caller's pattern: append the
// records of a batch, then sync() once.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/env.h"
#include "core/ids.h"
#include "core/status.h"

namespace keel::storage {

struct LogOptions {
  // A segment is closed and a new one started once it would grow past this
  // size (a single larger record still gets a segment of its own).
  uint64_t segment_bytes_max = 64ull * 1024 * 1024;
  // Where recovery counts its coverage marks (core/cover.h); may be null.
  core::Coverage* coverage = nullptr;
};

class Log {
 public:
  // The largest record payload accepted (and believed when read back).
  static constexpr uint64_t kRecordBytesMax = 64ull * 1024 * 1024;
  // The most records one append() call takes.
  static constexpr size_t kAppendRecordsMax = 64 * 1024;

  // Opens the log in directory `dir` of `disk`, creating the directory and
  // an empty log starting at index 1 if there is none. Recovery: removes the
  // log's own leftover temporary files, validates every segment, truncates a
  // torn tail of the last segment and syncs it. Errors: Corruption (damaged
  // record or header before the tail, gap between segments; the message
  // names file and offset), FailedPrecondition (unknown file in `dir`, or a
  // segment written by another format version), IoError. Never deletes a
  // file that may hold records. May suspend.
  static core::Result<std::unique_ptr<Log>> open(core::Disk& disk, std::string dir, LogOptions options = {});
  ~Log();
  Log(const Log&) = delete;
  Log& operator=(const Log&) = delete;

  // After an IoError or NoSpace from append, sync, truncate_suffix or
  // truncate_prefix the log is failed: every later call returns
  // FailedPrecondition until it is reopened (a failed fsync leaves the
  // cached bytes untrustworthy).
  //
  // Appends `records` at last_index()+1... and returns the index of the
  // first one (the last is first + records.size() - 1). The records are
  // readable at once and durable after the next sync(). Errors:
  // InvalidArgument (too many records, a record over kRecordBytesMax),
  // IoError, NoSpace; after an error, records from the failed call may or
  // may not be in the log (last_index() tells). May suspend.
  core::Result<core::LogIndex> append(const std::vector<core::ByteView>& records);
  core::Result<core::LogIndex> append(const std::vector<core::Bytes>& records);

  // Makes every appended record durable; a no-op if nothing is unsynced.
  // Errors: IoError (then nothing more is known durable). May suspend.
  core::Status sync();

  // Reads records from index `from` on, stopping before the payload total
  // would exceed `max_bytes`, but returning at least one record when `from`
  // is in the log. Each record is checksummed as it is read. Errors:
  // NotFound (from < first_index() or from > last_index() + 1; an empty
  // vector is returned for from == last_index() + 1), Corruption, IoError.
  // May suspend.
  core::Result<std::vector<core::Bytes>> read(core::LogIndex from, uint64_t max_bytes);

  // Removes the records from `from` on (a divergent suffix), durably: when
  // this returns ok, no crash can bring them back. Precondition:
  // from >= first_index() (a log cannot drop records it has compacted).
  // from > last_index() is a no-op. May suspend.
  core::Status truncate_suffix(core::LogIndex from);

  // Compaction: records before `new_first` are no longer needed and become
  // unreadable at once; whole segments below it are deleted. If new_first >
  // last_index() + 1 the log is emptied and the next append gets index
  // new_first (installing a snapshot). After a crash first_index() may be
  // lower than asked (segments not yet deleted), never higher, and a reset
  // log never shows records from before the reset together with records
  // after it. May suspend.
  core::Status truncate_prefix(core::LogIndex new_first);

  core::LogIndex first_index() const { return first_index_; }
  core::LogIndex last_index() const { return last_index_; }
  core::LogIndex synced_index() const { return synced_index_; }
  const std::string& dir() const { return dir_; }
  size_t segment_count() const { return segments_.size(); }

 private:
  struct Segment;

  Log(core::Disk& disk, std::string dir, LogOptions options);
  core::Status recover();
  core::Status recover_segment(Segment& seg, bool last);
  // Creates segment `first` durably (temp file, sync, rename, directory
  // sync) and makes it the active one.
  core::Status start_segment(core::LogIndex first, bool reset);
  // Makes the last segment's valid bytes durable by writing them to a new
  // file that replaces it. May suspend.
  core::Status rewrite_last_segment();
  core::Status check_usable() const;
  // Records the first I/O failure of a mutating call: after it the bytes on
  // disk are unknown, so every later call fails until the log is reopened.
  core::Status fail(core::Status status);
  core::Status remove_segment_file(const Segment& seg);
  Segment* segment_for(core::LogIndex index);
  std::string segment_path(core::LogIndex first) const;

  core::Disk& disk_;
  std::string dir_;
  LogOptions options_;
  std::vector<std::unique_ptr<Segment>> segments_;
  core::LogIndex first_index_{1};
  core::LogIndex last_index_{0};
  core::LogIndex synced_index_{0};
  core::Status failed_;
  bool busy_ = false;
};

}  // namespace keel::storage
