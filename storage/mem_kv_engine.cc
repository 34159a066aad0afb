#include "storage/mem_kv_engine.h"

#include <algorithm>

namespace keel::storage {

namespace {

// Snapshot metadata naming the encoding of the data that follows. v2 adds
// the partitions' applied offsets and then the applied index after the
// entries, and its snapshots are numbered by a generation that grows with
// every persist (v1 numbered them by the applied index, so persisting twice
// at one index replaced the only snapshot in place); v1 is still read.
constexpr std::string_view kMemKvSnapshotTagV1 = "keel.mem_kv.v1";
constexpr std::string_view kMemKvSnapshotTag = "keel.mem_kv.v2";

}  // namespace

core::Result<std::unique_ptr<MemKvEngine>> MemKvEngine::open(core::Disk& disk, std::string dir, MemKvOptions options) {
  KEEL_TRY_ASSIGN(auto store, SnapshotStore::open(disk, std::move(dir), options.snapshots_kept));
  KEEL_TRY_ASSIGN(const std::optional<LoadedSnapshot> loaded, store->load_latest());
  std::unique_ptr<MemKvEngine> engine(new MemKvEngine(std::move(store), options.fibers));
  if (!loaded) return engine;
  const Snapshot& snap = loaded->snapshot;
  const std::string where = engine->store_->dir() + " snapshot " + snap.index.to_string();
  const bool v1 = snap.metadata == kMemKvSnapshotTagV1;
  core::LogIndex applied = snap.index;  // v1; v2 stores it in the data
  if (!v1 && snap.metadata != kMemKvSnapshotTag) {
    return core::failed_precondition(where + " was not written by MemKvEngine v1 or v2");
  }
  // The checksum already matched, so a decoding failure here means a bug
  // or a foreign writer; it is still reported rather than asserted.
  const core::ByteView data = snap.data;
  if (data.size() < 8) return core::corruption(where + ": truncated entry count");
  const uint64_t count = core::get_u64(data.data());
  uint64_t p = 8;
  auto read_field = [&](core::Bytes& out) -> bool {
    if (data.size() - p < 4) return false;
    const uint32_t len = core::get_u32(data.data() + p);
    p += 4;
    if (data.size() - p < len) return false;
    out.assign(data.data() + p, len);
    p += len;
    return true;
  };
  for (uint64_t i = 0; i < count; ++i) {
    core::Bytes key;
    core::Bytes value;
    if (!read_field(key) || !read_field(value)) {
      return core::corruption(where + ": entry " + std::to_string(i) + " is truncated");
    }
    engine->data_.emplace_hint(engine->data_.end(), std::move(key), std::move(value));
  }
  if (!v1) {
    if (data.size() - p < 4) return core::corruption(where + ": truncated partition count");
    const uint32_t partitions = core::get_u32(data.data() + p);
    p += 4;
    if ((data.size() - p) / 12 < partitions) return core::corruption(where + ": truncated partition offsets");
    for (uint32_t i = 0; i < partitions; ++i) {
      const uint32_t id = core::get_u32(data.data() + p);
      engine->partition_applied_[id] = core::Offset(core::get_u64(data.data() + p + 4));
      p += 12;
    }
    if (data.size() - p < 8) return core::corruption(where + ": truncated applied index");
    applied = core::LogIndex(core::get_u64(data.data() + p));
    p += 8;
  }
  if (p != data.size()) return core::corruption(where + ": trailing bytes after the entries");
  engine->applied_ = applied;
  engine->generation_ = snap.index;
  engine->skipped_corrupt_ = loaded->skipped_corrupt;
  return engine;
}

core::Status MemKvEngine::check_open() const {
  if (closed_) return core::failed_precondition("engine is closed");
  if (!failed_.is_ok()) return core::failed_precondition("engine failed to persist: " + failed_.to_string());
  return core::Status::ok();
}

core::Result<std::optional<core::Bytes>> MemKvEngine::get(core::ByteView key) {
  KEEL_TRY(check_open());
  auto it = data_.find(key);
  if (it == data_.end()) return std::optional<core::Bytes>();
  return std::optional<core::Bytes>(it->second);
}

core::Status MemKvEngine::put(core::ByteView key, core::ByteView value) {
  KEEL_TRY(check_open());
  WriteBatch b;
  b.put(key, value);
  KEEL_TRY(b.validate());
  data_.insert_or_assign(core::Bytes(key), core::Bytes(value));
  return core::Status::ok();
}

core::Status MemKvEngine::del(core::ByteView key) {
  KEEL_TRY(check_open());
  auto it = data_.find(key);
  if (it != data_.end()) data_.erase(it);
  return core::Status::ok();
}

core::Result<std::vector<KvEntry>> MemKvEngine::scan(core::ByteView start, core::ByteView end, size_t limit) {
  KEEL_TRY(check_open());
  if (limit > kScanLimitMax) return core::invalid_argument("scan limit " + std::to_string(limit));
  std::vector<KvEntry> out;
  for (auto it = data_.lower_bound(start); it != data_.end() && out.size() < limit; ++it) {
    if (!end.empty() && core::ByteView(it->first) >= end) break;
    out.push_back({it->first, it->second});
  }
  return out;
}

core::Status MemKvEngine::write_batch(const WriteBatch& batch, core::LogIndex applied) {
  KEEL_TRY(check_open());
  KEEL_ASSERT_MSG(applied > applied_, "write_batch must advance the applied index");
  KEEL_TRY(batch.validate());
  apply_ops(batch);
  applied_ = applied;
  return core::Status::ok();
}

void MemKvEngine::apply_ops(const WriteBatch& batch) {
  for (const WriteBatch::Op& op : batch.ops()) {
    switch (op.kind) {
      case WriteBatch::Kind::kPut: data_.insert_or_assign(op.key, op.value); break;
      case WriteBatch::Kind::kDelete: data_.erase(op.key); break;
      case WriteBatch::Kind::kDeleteRange:
        data_.erase(data_.lower_bound(core::ByteView(op.key)), data_.lower_bound(core::ByteView(op.value)));
        break;
    }
  }
}

core::Status MemKvEngine::write_partition_batch(core::PartitionId p, const WriteBatch& batch, core::Offset applied) {
  KEEL_TRY(check_open());
  KEEL_TRY(batch.validate());
  if (applied <= partition_applied(p)) {
    return core::failed_precondition("partition " + p.to_string() + " is already at offset " +
                                     partition_applied(p).to_string());
  }
  apply_ops(batch);
  partition_applied_[p.value()] = applied;
  return core::Status::ok();
}

core::Offset MemKvEngine::partition_applied(core::PartitionId p) const {
  auto it = partition_applied_.find(p.value());
  return it == partition_applied_.end() ? core::Offset() : it->second;
}

core::Status MemKvEngine::restore_partition(core::PartitionId p,
                                            const std::vector<std::pair<core::Bytes, core::Bytes>>& ranges,
                                            const std::vector<KvEntry>& entries, core::Offset applied) {
  KEEL_TRY(check_open());
  WriteBatch batch;
  KEEL_TRY(restore_batch(ranges, entries, batch));
  apply_ops(batch);
  partition_applied_[p.value()] = applied;
  return core::Status::ok();
}

core::Status MemKvEngine::persist() {
  std::optional<core::LockGuard> serialised;
  if (persist_lock_) serialised.emplace(*persist_lock_);
  KEEL_ASSERT_MSG(!persisting_, "MemKvEngine: concurrent persist() without MemKvOptions::fibers");
  persisting_ = true;
  struct Done {
    bool& flag;
    ~Done() { flag = false; }
  } done{persisting_};
  KEEL_TRY(check_open());
  core::Bytes data;
  core::put_u64(data, data_.size());
  for (const auto& [key, value] : data_) {
    core::put_u32(data, static_cast<uint32_t>(key.size()));
    data += key;
    core::put_u32(data, static_cast<uint32_t>(value.size()));
    data += value;
  }
  core::put_u32(data, static_cast<uint32_t>(partition_applied_.size()));
  for (const auto& [id, offset] : partition_applied_) {
    core::put_u32(data, id);
    core::put_u64(data, offset.value());
  }
  core::put_u64(data, applied_.value());
  // A new file for every persist: a crash while writing it leaves the
  // previous snapshot whole to fall back on.
  const core::LogIndex generation(std::max(generation_.value() + 1, applied_.value()));
  core::Status s = store_->save(generation, kMemKvSnapshotTag, data);
  if (s.is_ok()) generation_ = generation;
  if (!s.is_ok()) failed_ = s;
  return s;
}

core::Result<uint64_t> MemKvEngine::digest() {
  KEEL_TRY(check_open());
  KvDigest d;
  for (const auto& [key, value] : data_) d.add(key, value);
  return d.finish();
}

core::Status MemKvEngine::close() {
  KEEL_TRY(check_open());
  core::Status s = persist();
  closed_ = true;
  return s;
}

}  // namespace keel::storage
