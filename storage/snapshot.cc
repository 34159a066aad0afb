#include "storage/snapshot.h"

#include <algorithm>

namespace keel::storage {

namespace {

constexpr char kSnapshotMagic[8] = {'K', 'E', 'E', 'L', 'S', 'N', 'A', 'P'};
constexpr uint32_t kSnapshotVersion = 1;
constexpr uint64_t kSnapshotHeaderBytes = 48;
constexpr uint64_t kSnapshotTrailerBytes = 8;
constexpr uint64_t kSnapshotChecksumSeed = 0x6b65656c2d736e70ull;  // "keel-snp"
constexpr std::string_view kPrefix = "snap-";
constexpr std::string_view kSuffix = ".snap";
constexpr std::string_view kTempSuffix = ".snap.tmp";
constexpr size_t kDigits = 20;
// Snapshots are written and read in pieces of at most this size.
constexpr uint64_t kChunkBytesMax = 4ull * 1024 * 1024;

std::string name_of(core::LogIndex index) {
  const std::string digits = std::to_string(index.value());
  return std::string(kPrefix) + std::string(kDigits - digits.size(), '0') + digits + std::string(kSuffix);
}

bool ends_with(const std::string& s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool parse_name(const std::string& name, core::LogIndex& index) {
  if (name.size() != kPrefix.size() + kDigits + kSuffix.size()) return false;
  if (name.compare(0, kPrefix.size(), kPrefix) != 0 || !ends_with(name, kSuffix)) return false;
  uint64_t v = 0;
  for (size_t i = kPrefix.size(); i < kPrefix.size() + kDigits; ++i) {
    if (name[i] < '0' || name[i] > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(name[i] - '0');
    if (v > (UINT64_MAX - digit) / 10) return false;
    v = v * 10 + digit;
  }
  index = core::LogIndex(v);
  return true;
}

uint64_t body_checksum(core::ByteView metadata, core::ByteView data) {
  return core::checksum64(data, core::checksum64(metadata, kSnapshotChecksumSeed));
}

}  // namespace

core::Result<std::unique_ptr<SnapshotStore>> SnapshotStore::open(core::Disk& disk, std::string dir, size_t keep) {
  KEEL_ASSERT(keep >= 1);
  std::unique_ptr<SnapshotStore> store(new SnapshotStore(disk, std::move(dir), keep));
  KEEL_TRY(disk.make_dirs(store->dir_));
  // A save whose directory sync failed left its name visible but not
  // durable: make the names durable before trusting any of them.
  KEEL_TRY(disk.sync_dir(store->dir_));
  KEEL_TRY_ASSIGN(const std::vector<std::string> names, disk.list(store->dir_));
  for (const std::string& name : names) {
    core::LogIndex index;
    if (parse_name(name, index)) {
      store->indexes_.push_back(index);
    } else if (ends_with(name, kTempSuffix) && name.compare(0, kPrefix.size(), kPrefix) == 0) {
      // An unfinished save; the snapshot it was writing never became valid.
      KEEL_TRY(disk.remove(store->dir_ + "/" + name));
    } else {
      return core::failed_precondition("snapshot directory " + store->dir_ + " holds an unexpected file '" + name +
                                       "'; move it away (nothing was changed)");
    }
  }
  std::sort(store->indexes_.begin(), store->indexes_.end());
  return store;
}

std::string SnapshotStore::path_of(core::LogIndex index) const { return dir_ + "/" + name_of(index); }

core::Status SnapshotStore::save(core::LogIndex index, core::ByteView metadata, core::ByteView data) {
  if (metadata.size() > kMetadataBytesMax || data.size() > kDataBytesMax) {
    return core::invalid_argument("snapshot too large: " + std::to_string(metadata.size()) + " metadata bytes, " +
                                  std::to_string(data.size()) + " data bytes");
  }
  core::Bytes header(kSnapshotMagic, sizeof(kSnapshotMagic));
  core::put_u32(header, kSnapshotVersion);
  core::put_u32(header, 0);
  core::put_u64(header, index.value());
  core::put_u64(header, metadata.size());
  core::put_u64(header, data.size());
  core::put_u64(header, core::checksum64(header, kSnapshotChecksumSeed));
  KEEL_ASSERT(header.size() == kSnapshotHeaderBytes);
  core::Bytes trailer;
  core::put_u64(trailer, body_checksum(metadata, data));

  const std::string path = path_of(index);
  const std::string temp = path.substr(0, path.size() - kSuffix.size()) + std::string(kTempSuffix);
  {
    KEEL_TRY_ASSIGN(auto file, disk_.open(temp, core::OpenMode::kCreate));
    KEEL_TRY(file->truncate(0));
    KEEL_TRY(file->append(header + core::Bytes(metadata)));
    for (uint64_t at = 0; at < data.size(); at += kChunkBytesMax) {
      KEEL_TRY(file->append(data.substr(at, kChunkBytesMax)));
    }
    KEEL_TRY(file->append(trailer));
    KEEL_TRY(file->sync());
  }
  KEEL_TRY(disk_.rename(temp, path));
  KEEL_TRY(disk_.sync_dir(dir_));
  if (!std::binary_search(indexes_.begin(), indexes_.end(), index)) {
    indexes_.insert(std::upper_bound(indexes_.begin(), indexes_.end(), index), index);
  }
  while (indexes_.size() > keep_) {
    KEEL_TRY(disk_.remove(path_of(indexes_.front())));
    indexes_.erase(indexes_.begin());
  }
  return disk_.sync_dir(dir_);
}

core::Result<Snapshot> SnapshotStore::load(core::LogIndex index) {
  const std::string path = path_of(index);
  KEEL_TRY_ASSIGN(auto file, disk_.open(path, core::OpenMode::kReadOnly));
  KEEL_TRY_ASSIGN(const uint64_t size, file->size());
  KEEL_TRY_ASSIGN(const core::Bytes header, file->read_at(0, kSnapshotHeaderBytes));
  if (header.size() < kSnapshotHeaderBytes) {
    return core::corruption(path + ": truncated snapshot header (" + std::to_string(header.size()) + " of " +
                            std::to_string(kSnapshotHeaderBytes) + " bytes)");
  }
  if (header.compare(0, sizeof(kSnapshotMagic), kSnapshotMagic, sizeof(kSnapshotMagic)) != 0) {
    return core::corruption(path + ": not a keel snapshot (bad magic)");
  }
  const uint32_t version = core::get_u32(header.data() + 8);
  const bool header_ok =
      core::checksum64(core::ByteView(header).substr(0, 40), kSnapshotChecksumSeed) == core::get_u64(header.data() + 40);
  if (version != kSnapshotVersion) {
    return core::failed_precondition(path + ": snapshot format version " + std::to_string(version) +
                                     ", this build reads version " + std::to_string(kSnapshotVersion) +
                                     (header_ok ? "" : " (or the header is damaged)"));
  }
  if (!header_ok) return core::corruption(path + ": snapshot header checksum mismatch");
  const uint64_t stored_index = core::get_u64(header.data() + 16);
  const uint64_t metadata_bytes = core::get_u64(header.data() + 24);
  const uint64_t data_bytes = core::get_u64(header.data() + 32);
  if (stored_index != index.value()) {
    return core::corruption(path + ": header says index " + std::to_string(stored_index));
  }
  if (metadata_bytes > kMetadataBytesMax || data_bytes > kDataBytesMax ||
      size != kSnapshotHeaderBytes + metadata_bytes + data_bytes + kSnapshotTrailerBytes) {
    return core::corruption(path + ": sizes in header do not match the file (" + std::to_string(size) + " bytes)");
  }
  core::Bytes body;
  body.reserve(size - kSnapshotHeaderBytes);
  while (kSnapshotHeaderBytes + body.size() < size) {
    const uint64_t at = kSnapshotHeaderBytes + body.size();
    KEEL_TRY_ASSIGN(const core::Bytes chunk, file->read_at(at, std::min(kChunkBytesMax, size - at)));
    if (chunk.empty()) return core::io_error("short read of " + path);
    body += chunk;
  }
  const core::ByteView metadata = core::ByteView(body).substr(0, metadata_bytes);
  const core::ByteView data = core::ByteView(body).substr(metadata_bytes, data_bytes);
  if (body_checksum(metadata, data) != core::get_u64(body.data() + metadata_bytes + data_bytes)) {
    return core::corruption(path + ": snapshot checksum mismatch");
  }
  Snapshot s;
  s.index = index;
  s.metadata = core::Bytes(metadata);
  s.data = core::Bytes(data);
  return s;
}

core::Result<std::optional<LoadedSnapshot>> SnapshotStore::load_latest() {
  std::optional<core::Status> first_error;
  size_t skipped = 0;
  for (auto it = indexes_.rbegin(); it != indexes_.rend(); ++it) {
    auto loaded = load(*it);
    if (loaded.is_ok()) return std::optional<LoadedSnapshot>(LoadedSnapshot{std::move(*loaded), skipped});
    if (loaded.status().code() != core::Code::kCorruption) return loaded.status();
    if (!first_error) first_error = loaded.status();
    ++skipped;
  }
  if (first_error) return first_error->with_context("no valid snapshot in " + dir_);
  return std::optional<LoadedSnapshot>();
}

}  // namespace keel::storage
