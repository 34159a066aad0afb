#include "storage/keyspace.h"

#include "core/assert.h"

namespace keel::storage {

namespace {

void put_slot(core::Bytes& out, uint32_t slot) {
  out.push_back(static_cast<char>((slot >> 8) & 0xff));
  out.push_back(static_cast<char>(slot & 0xff));
}

}  // namespace

core::Bytes slot_key(uint16_t slot, core::ByteView key) {
  KEEL_ASSERT(slot < kSlots);
  core::Bytes out;
  out.reserve(3 + key.size());
  out.push_back(kSlotDataPrefix);
  put_slot(out, slot);
  out.append(key);
  return out;
}

std::optional<std::pair<uint16_t, core::Bytes>> parse_slot_key(core::ByteView stored) {
  if (stored.size() < 3 || stored[0] != kSlotDataPrefix) return std::nullopt;
  const uint32_t slot = (static_cast<uint32_t>(static_cast<unsigned char>(stored[1])) << 8) |
                        static_cast<unsigned char>(stored[2]);
  if (slot >= kSlots) return std::nullopt;
  return std::make_pair(static_cast<uint16_t>(slot), core::Bytes(stored.substr(3)));
}

std::pair<core::Bytes, core::Bytes> slot_range_keys(uint16_t first, uint16_t last) {
  KEEL_ASSERT(first <= last);
  KEEL_ASSERT(last < kSlots);
  core::Bytes start(1, kSlotDataPrefix);
  put_slot(start, first);
  core::Bytes end(1, kSlotDataPrefix);
  // Slot 16383's successor, 16384, still encodes in two bytes (0x40 0x00)
  // and sorts after every real slot.
  put_slot(end, static_cast<uint32_t>(last) + 1);
  return {start, end};
}

}  // namespace keel::storage
