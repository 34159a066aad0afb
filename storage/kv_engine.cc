#include "storage/kv_engine.h"

namespace keel::storage {

core::Status WriteBatch::validate() const {
  if (ops_.size() > kBatchOpsMax) {
    return core::invalid_argument("write batch of " + std::to_string(ops_.size()) + " ops; at most " +
                                  std::to_string(kBatchOpsMax));
  }
  for (const Op& op : ops_) {
    if (op.key.size() > kKeyBytesMax) return core::invalid_argument("key of " + std::to_string(op.key.size()) + " bytes");
    if (op.kind == Kind::kDeleteRange && !(core::ByteView(op.key) < core::ByteView(op.value))) {
      return core::invalid_argument("delete range whose start is not below its end");
    }
    if (op.value.size() > kValueBytesMax) {
      return core::invalid_argument("value of " + std::to_string(op.value.size()) + " bytes");
    }
  }
  return core::Status::ok();
}

core::Result<std::vector<KvEntry>> KvEngine::scan_prefix(core::ByteView prefix, size_t limit) {
  // The smallest key greater than every key with this prefix: drop trailing
  // 0xff bytes, then increment the last byte. No such key (all 0xff or
  // empty prefix) means no upper bound.
  core::Bytes end(prefix);
  while (!end.empty() && static_cast<unsigned char>(end.back()) == 0xff) end.pop_back();
  if (!end.empty()) end.back() = static_cast<char>(static_cast<unsigned char>(end.back()) + 1);
  return scan(prefix, end, limit);
}

core::Status restore_batch(const std::vector<std::pair<core::Bytes, core::Bytes>>& ranges,
                           const std::vector<KvEntry>& entries, WriteBatch& out) {
  for (const auto& [start, end] : ranges) out.del_range(start, end);
  for (const KvEntry& e : entries) {
    bool inside = false;
    for (const auto& [start, end] : ranges) inside = inside || (e.key >= start && e.key < end);
    if (!inside) return core::invalid_argument("restore: a key outside the partition's ranges");
    out.put(e.key, e.value);
  }
  return out.validate();
}

core::Result<uint64_t> KvEngine::digest_range(core::ByteView start, core::ByteView end) {
  KvDigest d;
  core::Bytes from(start);
  for (;;) {
    KEEL_TRY_ASSIGN(std::vector<KvEntry> page, scan(from, end, kScanLimitMax));
    for (const KvEntry& e : page) d.add(e.key, e.value);
    if (page.size() < kScanLimitMax) return d.finish();
    from = page.back().key;
    from.push_back('\0');  // the next key after the last one seen
  }
}

void KvDigest::add(core::ByteView key, core::ByteView value) {
  core::Bytes frame;
  core::put_u32(frame, static_cast<uint32_t>(key.size()));
  frame.append(key.data(), key.size());
  core::put_u32(frame, static_cast<uint32_t>(value.size()));
  state_ = core::checksum64(frame, state_);
  state_ = core::checksum64(value, state_);
}

}  // namespace keel::storage
