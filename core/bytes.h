// Byte buffers and the fixed-width little-endian codecs used by every on-disk
// and on-wire format in keel.
//
// Bytes is an owning buffer (std::string: contiguous, cheap small buffers,
// holds NUL bytes); ByteView is a non-owning view that must not outlive the
// buffer it points into.
#pragma once

#include <cstdint>
#include <cstring>
#include <optional>
#include <string>
#include <string_view>

namespace keel::core {

using Bytes = std::string;
using ByteView = std::string_view;

inline void put_u32(Bytes& out, uint32_t v) {
  char b[4];
  for (int i = 0; i < 4; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 4);
}
inline void put_u64(Bytes& out, uint64_t v) {
  char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<char>((v >> (8 * i)) & 0xff);
  out.append(b, 8);
}
// Precondition: p points to at least 4 (resp. 8) readable bytes.
inline uint32_t get_u32(const char* p) {
  uint32_t v = 0;
  for (int i = 0; i < 4; ++i) v |= static_cast<uint32_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}
inline uint64_t get_u64(const char* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; ++i) v |= static_cast<uint64_t>(static_cast<unsigned char>(p[i])) << (8 * i);
  return v;
}

// xxHash (XXH3, 64 bits) of a byte range: the checksum of every keel record.
uint64_t checksum64(ByteView data, uint64_t seed = 0);

// The whole of `text` as a decimal (or `base`) integer; nullopt for an
// empty text, a sign where none is allowed, trailing characters or a value
// out of range.
std::optional<int64_t> parse_i64(std::string_view text);
std::optional<uint64_t> parse_u64(std::string_view text, int base = 10);

}  // namespace keel::core
