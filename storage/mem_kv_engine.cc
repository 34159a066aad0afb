#include "storage/mem_kv_engine.h"

namespace keel::storage {

namespace {

// Snapshot metadata naming the encoding of the data that follows.
constexpr std::string_view kMemKvSnapshotTag = "keel.mem_kv.v1";

}  // namespace

core::Result<std::unique_ptr<MemKvEngine>> MemKvEngine::open(core::Disk& disk, std::string dir, MemKvOptions options) {
  KEEL_TRY_ASSIGN(auto store, SnapshotStore::open(disk, std::move(dir), options.snapshots_kept));
  KEEL_TRY_ASSIGN(const std::optional<LoadedSnapshot> loaded, store->load_latest());
  std::unique_ptr<MemKvEngine> engine(new MemKvEngine(std::move(store)));
  if (!loaded) return engine;
  const Snapshot& snap = loaded->snapshot;
  const std::string where = engine->store_->dir() + " snapshot " + snap.index.to_string();
  if (snap.metadata != kMemKvSnapshotTag) {
    return core::failed_precondition(where + " was not written by MemKvEngine v1");
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
  if (p != data.size()) return core::corruption(where + ": trailing bytes after the entries");
  engine->applied_ = snap.index;
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
  for (const WriteBatch::Op& op : batch.ops()) {
    if (op.kind == WriteBatch::Kind::kPut) {
      data_.insert_or_assign(op.key, op.value);
    } else {
      data_.erase(op.key);
    }
  }
  applied_ = applied;
  return core::Status::ok();
}

core::Status MemKvEngine::persist() {
  KEEL_TRY(check_open());
  core::Bytes data;
  core::put_u64(data, data_.size());
  for (const auto& [key, value] : data_) {
    core::put_u32(data, static_cast<uint32_t>(key.size()));
    data += key;
    core::put_u32(data, static_cast<uint32_t>(value.size()));
    data += value;
  }
  core::Status s = store_->save(applied_, kMemKvSnapshotTag, data);
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
