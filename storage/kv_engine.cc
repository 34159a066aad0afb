#include "storage/kv_engine.h"

namespace keel::storage {

core::Status WriteBatch::validate() const {
  if (ops_.size() > kBatchOpsMax) {
    return core::invalid_argument("write batch of " + std::to_string(ops_.size()) + " ops; at most " +
                                  std::to_string(kBatchOpsMax));
  }
  for (const Op& op : ops_) {
    if (op.key.size() > kKeyBytesMax) return core::invalid_argument("key of " + std::to_string(op.key.size()) + " bytes");
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

void KvDigest::add(core::ByteView key, core::ByteView value) {
  core::Bytes frame;
  core::put_u32(frame, static_cast<uint32_t>(key.size()));
  frame.append(key.data(), key.size());
  core::put_u32(frame, static_cast<uint32_t>(value.size()));
  state_ = core::checksum64(frame, state_);
  state_ = core::checksum64(value, state_);
}

}  // namespace keel::storage
