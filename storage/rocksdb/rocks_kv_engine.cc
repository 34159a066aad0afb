#include "storage/rocksdb/rocks_kv_engine.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/write_batch.h>

#include <atomic>
#include <thread>

namespace keel::storage {

namespace {

// Key namespaces inside the database.
constexpr char kDataPrefix = 'd';
constexpr char kDataPrefixEnd = 'e';
const std::string kAppliedKey = "m:applied";
// "m:p:" + partition id (u32, big-endian): the partition's applied offset.
const std::string kPartitionAppliedPrefix = "m:p:";

std::string partition_key(core::PartitionId p) {
  std::string k = kPartitionAppliedPrefix;
  const uint32_t v = p.value();
  for (int shift = 24; shift >= 0; shift -= 8) k.push_back(static_cast<char>((v >> shift) & 0xff));
  return k;
}

core::Status to_status(const rocksdb::Status& s, std::string_view op) {
  if (s.ok()) return core::Status::ok();
  std::string m = "rocksdb " + std::string(op) + ": " + s.ToString();
  if (s.IsNotFound()) return core::not_found(std::move(m));
  if (s.IsCorruption()) return core::corruption(std::move(m));
  if (s.IsNoSpace()) return core::no_space(std::move(m));
  if (s.IsInvalidArgument()) return core::invalid_argument(std::move(m));
  if (s.IsIOError()) return core::io_error(std::move(m));
  if (s.IsBusy() || s.IsTryAgain() || s.IsTimedOut()) return core::unavailable(std::move(m));
  return core::internal_error(std::move(m));
}

std::string data_key(core::ByteView key) {
  std::string k;
  k.reserve(key.size() + 1);
  k.push_back(kDataPrefix);
  k.append(key.data(), key.size());
  return k;
}

rocksdb::Slice slice(core::ByteView v) { return rocksdb::Slice(v.data(), v.size()); }

core::Status to_rocks_batch(const WriteBatch& batch, rocksdb::WriteBatch& wb);

rocksdb::WriteOptions write_options() {
  rocksdb::WriteOptions o;
  o.disableWAL = true;
  return o;
}

core::Status to_rocks_batch(const WriteBatch& batch, rocksdb::WriteBatch& wb) {
  for (const WriteBatch::Op& op : batch.ops()) {
    rocksdb::Status s;
    switch (op.kind) {
      case WriteBatch::Kind::kPut: s = wb.Put(data_key(op.key), op.value); break;
      case WriteBatch::Kind::kDelete: s = wb.Delete(data_key(op.key)); break;
      case WriteBatch::Kind::kDeleteRange: s = wb.DeleteRange(data_key(op.key), data_key(op.value)); break;
    }
    KEEL_TRY(to_status(s, "batch"));
  }
  return core::Status::ok();
}

// Joins the helper thread even when the waiting fiber is unwound (killed),
// so no thread outlives the state it writes to.
class JoinOnExit {
 public:
  explicit JoinOnExit(std::thread& t) : t_(t) {}
  ~JoinOnExit() {
    if (t_.joinable()) t_.join();
  }

 private:
  std::thread& t_;
};

}  // namespace

RocksKvEngine::RocksKvEngine(std::unique_ptr<rocksdb::DB> db, RocksKvOptions options)
    : db_(std::move(db)), options_(options) {}

RocksKvEngine::~RocksKvEngine() {
  if (db_) {
    // Best effort: an engine dropped without close() loses nothing that the
    // log cannot replay, but a clean close flushes.
    (void)db_->Close();
  }
}

core::Result<std::unique_ptr<RocksKvEngine>> RocksKvEngine::open(const std::string& path, RocksKvOptions options) {
  rocksdb::Options o;
  o.create_if_missing = true;
  o.write_buffer_size = options.write_buffer_bytes;
  // Without a WAL there is nothing to flush on shutdown except memtables;
  // keep RocksDB's default of flushing them.
  o.avoid_flush_during_shutdown = false;
  rocksdb::DB* raw = nullptr;
  KEEL_TRY(to_status(rocksdb::DB::Open(o, path, &raw), "open " + path));
  std::unique_ptr<RocksKvEngine> engine(new RocksKvEngine(std::unique_ptr<rocksdb::DB>(raw), options));
  std::string applied;
  rocksdb::Status s = engine->db_->Get(rocksdb::ReadOptions(), kAppliedKey, &applied);
  if (s.ok()) {
    if (applied.size() != 8) return core::corruption(path + ": applied index record of " + std::to_string(applied.size()) + " bytes");
    engine->applied_ = core::LogIndex(core::get_u64(applied.data()));
  } else if (!s.IsNotFound()) {
    return to_status(s, "read applied index");
  }
  std::unique_ptr<rocksdb::Iterator> it(engine->db_->NewIterator(rocksdb::ReadOptions()));
  for (it->Seek(kPartitionAppliedPrefix); it->Valid() && it->key().starts_with(kPartitionAppliedPrefix); it->Next()) {
    const rocksdb::Slice k = it->key();
    const rocksdb::Slice v = it->value();
    if (k.size() != kPartitionAppliedPrefix.size() + 4 || v.size() != 8) {
      return core::corruption(path + ": malformed partition offset record");
    }
    uint32_t id = 0;
    for (size_t i = 0; i < 4; ++i) id = (id << 8) | static_cast<unsigned char>(k.data()[kPartitionAppliedPrefix.size() + i]);
    engine->partition_applied_[id] = core::Offset(core::get_u64(v.data()));
  }
  KEEL_TRY(to_status(it->status(), "read partition offsets"));
  return engine;
}

core::Status RocksKvEngine::check_open() const {
  if (!db_) return core::failed_precondition("engine is closed");
  if (!failed_.is_ok()) return core::failed_precondition("engine failed to persist: " + failed_.to_string());
  return core::Status::ok();
}

core::Result<std::optional<core::Bytes>> RocksKvEngine::get(core::ByteView key) {
  KEEL_TRY(check_open());
  std::string value;
  rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), data_key(key), &value);
  if (s.IsNotFound()) return std::optional<core::Bytes>();
  KEEL_TRY(to_status(s, "get"));
  return std::optional<core::Bytes>(std::move(value));
}

core::Status RocksKvEngine::put(core::ByteView key, core::ByteView value) {
  KEEL_TRY(check_open());
  WriteBatch b;
  b.put(key, value);
  KEEL_TRY(b.validate());
  return to_status(db_->Put(write_options(), data_key(key), slice(value)), "put");
}

core::Status RocksKvEngine::del(core::ByteView key) {
  KEEL_TRY(check_open());
  return to_status(db_->Delete(write_options(), data_key(key)), "delete");
}

core::Result<std::vector<KvEntry>> RocksKvEngine::scan(core::ByteView start, core::ByteView end, size_t limit) {
  KEEL_TRY(check_open());
  if (limit > kScanLimitMax) return core::invalid_argument("scan limit " + std::to_string(limit));
  const std::string upper = end.empty() ? std::string(1, kDataPrefixEnd) : data_key(end);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  std::vector<KvEntry> out;
  for (it->Seek(data_key(start)); it->Valid() && out.size() < limit; it->Next()) {
    const rocksdb::Slice k = it->key();
    out.push_back({core::Bytes(k.data() + 1, k.size() - 1), it->value().ToString()});
  }
  KEEL_TRY(to_status(it->status(), "scan"));
  return out;
}

core::Status RocksKvEngine::write_batch(const WriteBatch& batch, core::LogIndex applied) {
  KEEL_TRY(check_open());
  KEEL_ASSERT_MSG(applied > applied_, "write_batch must advance the applied index");
  KEEL_TRY(batch.validate());
  rocksdb::WriteBatch wb;
  KEEL_TRY(to_rocks_batch(batch, wb));
  std::string encoded;
  core::put_u64(encoded, applied.value());
  KEEL_TRY(to_status(wb.Put(kAppliedKey, encoded), "batch"));
  KEEL_TRY(to_status(db_->Write(write_options(), &wb), "write"));
  applied_ = applied;
  return core::Status::ok();
}

core::Status RocksKvEngine::write_with_offset(core::PartitionId p, const WriteBatch& batch, core::Offset applied) {
  rocksdb::WriteBatch wb;
  KEEL_TRY(to_rocks_batch(batch, wb));
  std::string encoded;
  core::put_u64(encoded, applied.value());
  KEEL_TRY(to_status(wb.Put(partition_key(p), encoded), "batch"));
  KEEL_TRY(to_status(db_->Write(write_options(), &wb), "write"));
  partition_applied_[p.value()] = applied;
  return core::Status::ok();
}

core::Status RocksKvEngine::write_partition_batch(core::PartitionId p, const WriteBatch& batch, core::Offset applied) {
  KEEL_TRY(check_open());
  KEEL_TRY(batch.validate());
  if (applied <= partition_applied(p)) {
    return core::failed_precondition("partition " + p.to_string() + " is already at offset " +
                                     partition_applied(p).to_string());
  }
  return write_with_offset(p, batch, applied);
}

core::Offset RocksKvEngine::partition_applied(core::PartitionId p) const {
  auto it = partition_applied_.find(p.value());
  return it == partition_applied_.end() ? core::Offset() : it->second;
}

core::Status RocksKvEngine::restore_partition(core::PartitionId p,
                                              const std::vector<std::pair<core::Bytes, core::Bytes>>& ranges,
                                              const std::vector<KvEntry>& entries, core::Offset applied) {
  KEEL_TRY(check_open());
  WriteBatch batch;
  KEEL_TRY(restore_batch(ranges, entries, batch));
  return write_with_offset(p, batch, applied);
}

core::Status RocksKvEngine::persist() {
  KEEL_TRY(check_open());
  rocksdb::FlushOptions fo;
  fo.wait = true;
  rocksdb::Status result;
  if (options_.clock == nullptr) {
    result = db_->Flush(fo);
  } else {
    std::atomic<bool> done{false};
    rocksdb::DB* db = db_.get();
    std::thread helper([db, fo, &result, &done] {
      result = db->Flush(fo);
      done.store(true, std::memory_order_release);
    });
    JoinOnExit join(helper);
    while (!done.load(std::memory_order_acquire)) options_.clock->sleep_for(kFlushPollInterval);
  }
  core::Status s = to_status(result, "flush");
  if (!s.is_ok()) failed_ = s;
  return s;
}

core::Result<uint64_t> RocksKvEngine::digest() {
  KEEL_TRY(check_open());
  const std::string lower(1, kDataPrefix);
  const std::string upper(1, kDataPrefixEnd);
  const rocksdb::Slice upper_slice(upper);
  rocksdb::ReadOptions ro;
  ro.iterate_upper_bound = &upper_slice;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(ro));
  KvDigest d;
  for (it->Seek(lower); it->Valid(); it->Next()) {
    const rocksdb::Slice k = it->key();
    const rocksdb::Slice v = it->value();
    d.add(core::ByteView(k.data() + 1, k.size() - 1), core::ByteView(v.data(), v.size()));
  }
  KEEL_TRY(to_status(it->status(), "digest"));
  return d.finish();
}

core::Status RocksKvEngine::close() {
  KEEL_TRY(check_open());
  core::Status s = persist();
  core::Status c = to_status(db_->Close(), "close");
  db_.reset();
  return s.is_ok() ? c : s;
}

}  // namespace keel::storage
