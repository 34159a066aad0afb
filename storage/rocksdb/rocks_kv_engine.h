// RocksKvEngine: the production KvEngine, RocksDB on the real file system.
//
// RocksDB's write-ahead log is disabled (WriteOptions::disableWAL): the
// replicated log is keel's WAL, and recovery replays it after the applied
// index. The applied index is stored under an internal key in the same
// WriteBatch as the data it produced, so the two become durable together
// when RocksDB flushes its memtable (explicitly in persist(), or on its own
// when a memtable fills; either way atomically per batch, since everything
// lives in one column family). User keys are stored behind a one-byte
// namespace prefix so they can never collide with internal keys.
//
// This is one of the two places outside sim/ and net/posix/ that touch files
// and threads: RocksDB does its own I/O. Reads and writes hit the memtable
// and block cache and are short; the long call, the flush in persist(), runs
// on a helper thread while the calling fiber sleeps on the given Clock, so
// the OS thread keeps running other fibers. RocksDB errors become Status
// values at this edge.
#pragma once

#include <map>
#include <memory>
#include <string>

#include "core/env.h"
#include "storage/kv_engine.h"

namespace rocksdb {
class DB;
}

namespace keel::storage {

struct RocksKvOptions {
  // If set, persist() sleeps on this clock (polling every
  // kFlushPollInterval) while a helper thread flushes; if null it blocks
  // the calling thread (tools and tests outside fibers).
  core::Clock* clock = nullptr;
  size_t write_buffer_bytes = 64 * 1024 * 1024;
};

class RocksKvEngine final : public KvEngine {
 public:
  static constexpr core::Duration kFlushPollInterval = core::Duration::micros(500);

  // Opens (creating if absent) the RocksDB database in the real directory
  // `path`. Errors: IoError, Corruption, InvalidArgument, as RocksDB reports.
  static core::Result<std::unique_ptr<RocksKvEngine>> open(const std::string& path, RocksKvOptions options = {});
  ~RocksKvEngine() override;

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
  // Flushes the memtable and waits for it. May suspend.
  core::Status persist() override;
  core::Result<uint64_t> digest() override;
  core::Status close() override;

 private:
  RocksKvEngine(std::unique_ptr<rocksdb::DB> db, RocksKvOptions options);
  core::Status check_open() const;

  std::unique_ptr<rocksdb::DB> db_;
  RocksKvOptions options_;
  core::LogIndex applied_;
  // The partitions' applied offsets ("m:p:" + partition, big-endian), as
  // stored; loaded at open.
  std::map<uint32_t, core::Offset> partition_applied_;
  core::Status write_with_offset(core::PartitionId p, const WriteBatch& batch, core::Offset applied);
  core::Status failed_;
};

}  // namespace keel::storage
