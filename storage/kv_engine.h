// KvEngine: the replicated state machine's storage, one interface for the
// in-memory engine of the simulator (MemKvEngine) and RocksDB in production
// (RocksKvEngine).
//
// Keys and values are byte strings ordered bytewise (memcmp, shorter first
// on a tie). Besides the data an engine stores the applied index: the log
// index of the last write batch applied. write_batch() changes the data and
// the applied index together, atomically, and that pair is what survives a
// crash: after reopen the engine holds exactly the state produced by the
// batches up to applied_index() (INVARIANTS.md R6), and applied_index() is
// at least the index at the last successful persist(). Recovery is then:
// open the engine, replay the log after applied_index().
//
// Durability: writes are volatile until persist() returns ok (engines may
// also make state durable earlier on their own, always atomically per
// batch). The node tells its log it may compact up to an index only after a
// persist() that covered it.
//
// Engines are used by one fiber at a time. After close() (or a failed
// persist(), which leaves durable state unknown) every call returns
// FailedPrecondition. Errors from the backend are converted to Status at the
// engine's edge: IoError, NoSpace, Corruption.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/ids.h"
#include "core/status.h"

namespace keel::storage {

// Limits shared by every engine (and so by the conformance suite).
inline constexpr size_t kKeyBytesMax = 64 * 1024;
inline constexpr size_t kValueBytesMax = 64 * 1024 * 1024;
inline constexpr size_t kBatchOpsMax = 64 * 1024;
inline constexpr size_t kScanLimitMax = 100 * 1000;

struct KvEntry {
  core::Bytes key;
  core::Bytes value;
  bool operator==(const KvEntry&) const = default;
};

// An ordered list of puts, deletes and range deletes applied atomically.
class WriteBatch {
 public:
  enum class Kind : uint8_t { kPut, kDelete, kDeleteRange };
  struct Op {
    Kind kind;
    core::Bytes key;    // kDeleteRange: the first key removed
    core::Bytes value;  // empty for kDelete; kDeleteRange: the end (excluded)
  };

  void put(core::ByteView key, core::ByteView value) { ops_.push_back({Kind::kPut, core::Bytes(key), core::Bytes(value)}); }
  void del(core::ByteView key) { ops_.push_back({Kind::kDelete, core::Bytes(key), core::Bytes()}); }
  // Removes every key k with start <= k < end (start < end): a partition's
  // slot ranges before a restore or resync.
  void del_range(core::ByteView start, core::ByteView end) {
    ops_.push_back({Kind::kDeleteRange, core::Bytes(start), core::Bytes(end)});
  }
  const std::vector<Op>& ops() const { return ops_; }
  size_t size() const { return ops_.size(); }
  bool empty() const { return ops_.empty(); }
  void clear() { ops_.clear(); }

  // InvalidArgument if the batch or any key or value is over its limit, or
  // a range is empty or reversed.
  core::Status validate() const;

 private:
  std::vector<Op> ops_;
};

class KvEngine {
 public:
  virtual ~KvEngine() = default;

  // The value of `key`, or nullopt. May suspend.
  virtual core::Result<std::optional<core::Bytes>> get(core::ByteView key) = 0;
  // Single writes that leave the applied index alone (tools and tests; the
  // node writes through write_batch). May suspend.
  virtual core::Status put(core::ByteView key, core::ByteView value) = 0;
  virtual core::Status del(core::ByteView key) = 0;
  // Entries with start <= key < end in key order (an empty `end` means no
  // upper bound), at most `limit` of them. InvalidArgument if limit is over
  // kScanLimitMax. May suspend.
  virtual core::Result<std::vector<KvEntry>> scan(core::ByteView start, core::ByteView end, size_t limit) = 0;
  // Entries whose key starts with `prefix`, at most `limit`. May suspend.
  core::Result<std::vector<KvEntry>> scan_prefix(core::ByteView prefix, size_t limit);
  // Applies `batch` and sets the applied index to `applied`, atomically.
  // Precondition: applied > applied_index() (each index applied once).
  // Errors: InvalidArgument (limits), IoError, NoSpace. May suspend.
  virtual core::Status write_batch(const WriteBatch& batch, core::LogIndex applied) = 0;
  virtual core::LogIndex applied_index() const = 0;

  // --- Partitions (v0.2) ---------------------------------------------------
  // Each partition has its own applied offset, kept beside the data (not in
  // scans or digests). write_partition_batch() applies `batch` and sets
  // partition p's applied offset to `applied` atomically: after a crash the
  // engine holds a state in which each partition's data matches its offset
  // (INVARIANTS.md C3, P8). FailedPrecondition unless `applied` is above
  // the partition's current offset (restore_partition() may reset it); the
  // engine's single applied index is left alone. May suspend.
  virtual core::Status write_partition_batch(core::PartitionId p, const WriteBatch& batch, core::Offset applied) = 0;
  // Offset 0 for a partition never written.
  virtual core::Offset partition_applied(core::PartitionId p) const = 0;
  // Replaces partition p's data (the key ranges in `ranges`, each [start,
  // end)) by `entries`, and its offset by `applied` (which may be lower than
  // before: a resync from a new leader's snapshot), atomically.
  // InvalidArgument when an entry lies outside the ranges. May suspend.
  virtual core::Status restore_partition(core::PartitionId p,
                                         const std::vector<std::pair<core::Bytes, core::Bytes>>& ranges,
                                         const std::vector<KvEntry>& entries, core::Offset applied) = 0;
  // The digest of the entries with start <= key < end (kv_digest order), as
  // digest() computes it for the whole engine: equal partitions on two
  // replicas give equal digests. May suspend.
  core::Result<uint64_t> digest_range(core::ByteView start, core::ByteView end);
  // Makes the current state durable. May suspend.
  virtual core::Status persist() = 0;
  // A digest of the contents (not of the applied index), equal across
  // engines for equal contents: see kv_digest(). May suspend.
  virtual core::Result<uint64_t> digest() = 0;
  // persist()s and releases the engine's resources; later calls fail with
  // FailedPrecondition. May suspend.
  virtual core::Status close() = 0;
};

// The batch restore_partition() applies: a range delete per range, then a
// put per entry. InvalidArgument when an entry lies outside every range or
// the batch is over a limit.
core::Status restore_batch(const std::vector<std::pair<core::Bytes, core::Bytes>>& ranges,
                           const std::vector<KvEntry>& entries, WriteBatch& out);

// The contents digest every engine computes: feed the entries in key order.
class KvDigest {
 public:
  void add(core::ByteView key, core::ByteView value);
  uint64_t finish() const { return state_; }

 private:
  uint64_t state_ = 0x6b65656c2d6b7621ull;  // "keel-kv!"
};

}  // namespace keel::storage
