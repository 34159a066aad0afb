// Small durable metadata files, replaced atomically: the Raft hard state
// (term, vote, commit) and anything similar.
//
// Contract of write_meta_file(): when it returns ok, a crash at any later
// point leaves `path` holding exactly `payload`; if it fails or a crash cuts
// it short, `path` holds either the new payload or its previous contents
// (or stays absent), never a mix. It writes `<path>.tmp`, syncs it, renames
// it over `path` and syncs the directory. Reads verify a checksum, so a bit
// flip is reported (Corruption), not returned. Format in storage/FORMATS.md.
#pragma once

#include <optional>
#include <string>

#include "core/bytes.h"
#include "core/env.h"
#include "core/ids.h"
#include "core/status.h"

namespace keel::storage {

inline constexpr size_t kMetaPayloadBytesMax = 64 * 1024;

// Replaces `path` (relative to `disk`'s root; its directory must exist) with
// `payload`, durably. InvalidArgument past kMetaPayloadBytesMax. May suspend.
core::Status write_meta_file(core::Disk& disk, const std::string& path, core::ByteView payload);

// The payload of `path`, or nullopt if it does not exist. Errors:
// Corruption (truncated, bad magic or checksum), FailedPrecondition (another
// format version), IoError. May suspend.
core::Result<std::optional<core::Bytes>> read_meta_file(core::Disk& disk, const std::string& path);

// Raft's hard state: the current term, the vote cast in it (NodeId 0 = none)
// and the commit index known when it was saved.
struct HardState {
  core::Term term;
  core::NodeId vote;
  core::LogIndex commit;
  bool operator==(const HardState&) const = default;
};

inline constexpr const char* kHardStateFileName = "hardstate";

// Saves `state` as `<dir>/hardstate` (write_meta_file's contract). May suspend.
core::Status save_hard_state(core::Disk& disk, const std::string& dir, const HardState& state);
// The saved state, or nullopt on a fresh node. Errors as read_meta_file.
// May suspend.
core::Result<std::optional<HardState>> load_hard_state(core::Disk& disk, const std::string& dir);

}  // namespace keel::storage
