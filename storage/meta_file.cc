#include "storage/meta_file.h"

namespace keel::storage {

namespace {

constexpr char kMetaMagic[8] = {'K', 'E', 'E', 'L', 'M', 'E', 'T', 'A'};
constexpr uint32_t kMetaVersion = 1;
constexpr size_t kMetaHeaderBytes = 16;
constexpr uint64_t kMetaChecksumSeed = 0x6b65656c2d6d6574ull;  // "keel-met"
constexpr size_t kHardStateBytes = 20;

std::string parent_dir(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

}  // namespace

core::Status write_meta_file(core::Disk& disk, const std::string& path, core::ByteView payload) {
  if (payload.size() > kMetaPayloadBytesMax) {
    return core::invalid_argument("metadata of " + std::to_string(payload.size()) + " bytes for " + path);
  }
  core::Bytes out(kMetaMagic, sizeof(kMetaMagic));
  core::put_u32(out, kMetaVersion);
  core::put_u32(out, static_cast<uint32_t>(payload.size()));
  out.append(payload.data(), payload.size());
  core::put_u64(out, core::checksum64(out, kMetaChecksumSeed));
  const std::string temp = path + ".tmp";
  {
    KEEL_TRY_ASSIGN(auto file, disk.open(temp, core::OpenMode::kCreate));
    KEEL_TRY(file->truncate(0));
    KEEL_TRY(file->append(out));
    KEEL_TRY(file->sync());
  }
  KEEL_TRY(disk.rename(temp, path));
  return disk.sync_dir(parent_dir(path));
}

core::Result<std::optional<core::Bytes>> read_meta_file(core::Disk& disk, const std::string& path) {
  auto opened = disk.open(path, core::OpenMode::kReadOnly);
  if (!opened.is_ok()) {
    if (opened.status().code() == core::Code::kNotFound) return std::optional<core::Bytes>();
    return opened.status();
  }
  core::File& file = **opened;
  KEEL_TRY_ASSIGN(const uint64_t size, file.size());
  if (size > kMetaHeaderBytes + kMetaPayloadBytesMax + 8) {
    return core::corruption(path + ": metadata file of " + std::to_string(size) + " bytes is too large");
  }
  KEEL_TRY_ASSIGN(const core::Bytes data, file.read_at(0, size));
  if (data.size() < kMetaHeaderBytes + 8) {
    return core::corruption(path + ": truncated metadata file (" + std::to_string(data.size()) + " bytes)");
  }
  if (data.compare(0, sizeof(kMetaMagic), kMetaMagic, sizeof(kMetaMagic)) != 0) {
    return core::corruption(path + ": not a keel metadata file (bad magic)");
  }
  const uint32_t length = core::get_u32(data.data() + 12);
  const bool sized_ok = data.size() == kMetaHeaderBytes + length + 8;
  const bool checksum_ok =
      sized_ok && core::checksum64(core::ByteView(data).substr(0, kMetaHeaderBytes + length), kMetaChecksumSeed) ==
                      core::get_u64(data.data() + kMetaHeaderBytes + length);
  // Another version may lay the rest out differently, so it is reported
  // before size and checksum errors (noting when the bytes do not verify
  // under this version's layout either).
  const uint32_t version = core::get_u32(data.data() + 8);
  if (version != kMetaVersion) {
    return core::failed_precondition(path + ": metadata format version " + std::to_string(version) +
                                     ", this build reads version " + std::to_string(kMetaVersion) +
                                     (checksum_ok ? "" : " (or the file is damaged)"));
  }
  if (!sized_ok) {
    return core::corruption(path + ": metadata length " + std::to_string(length) + " does not match file size " +
                            std::to_string(data.size()));
  }
  if (!checksum_ok) return core::corruption(path + ": metadata checksum mismatch");
  return std::optional<core::Bytes>(data.substr(kMetaHeaderBytes, length));
}

core::Status save_hard_state(core::Disk& disk, const std::string& dir, const HardState& state) {
  core::Bytes payload;
  core::put_u64(payload, state.term.value());
  core::put_u32(payload, state.vote.value());
  core::put_u64(payload, state.commit.value());
  return write_meta_file(disk, dir.empty() ? kHardStateFileName : dir + "/" + kHardStateFileName, payload);
}

core::Result<std::optional<HardState>> load_hard_state(core::Disk& disk, const std::string& dir) {
  const std::string path = dir.empty() ? kHardStateFileName : dir + "/" + kHardStateFileName;
  KEEL_TRY_ASSIGN(const std::optional<core::Bytes> payload, read_meta_file(disk, path));
  if (!payload) return std::optional<HardState>();
  if (payload->size() != kHardStateBytes) {
    return core::corruption(path + ": hard state of " + std::to_string(payload->size()) + " bytes");
  }
  HardState s;
  s.term = core::Term(core::get_u64(payload->data()));
  s.vote = core::NodeId(core::get_u32(payload->data() + 8));
  s.commit = core::LogIndex(core::get_u64(payload->data() + 12));
  return std::optional<HardState>(s);
}

}  // namespace keel::storage
