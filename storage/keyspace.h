// The partition-aware key layout (doc/ARCHITECTURE.md section 9): a user
// key K in Redis-Cluster slot S is stored as
//
//   'd' + S (u16, big-endian) + K
//
// so every slot is one contiguous key range, and a partition (a union of
// slot ranges) is a list of key ranges: snapshot, restore, resync and slot
// migration are range scans and range deletes. Engine metadata lives in
// keys that do not start with 'd'.
#pragma once

#include <cstdint>
#include <optional>
#include <utility>
#include <vector>

#include "core/bytes.h"

namespace keel::storage {

inline constexpr char kSlotDataPrefix = 'd';
inline constexpr uint32_t kSlots = 16384;

// The stored key of user key `key` in `slot` (slot < 16384).
core::Bytes slot_key(uint16_t slot, core::ByteView key);
// The slot and user key of a stored data key; nullopt for any other key.
std::optional<std::pair<uint16_t, core::Bytes>> parse_slot_key(core::ByteView stored);
// The key range [start, end) holding every key of slots first..last
// (first <= last < 16384).
std::pair<core::Bytes, core::Bytes> slot_range_keys(uint16_t first, uint16_t last);

}  // namespace keel::storage
