// Frames: how keel nodes delimit messages on a byte stream.
//
// Wire format of one frame (little endian):
//   u32 magic   0x4b45454c ("KEEL")
//   u32 length  payload bytes, at most the reader's frame_bytes_max
//   u64 check   XXH3-64 of the payload
//   payload     `length` bytes (a Cap'n Proto message, flat-array encoding)
// A frame with a bad magic, an oversized length or a checksum mismatch is a
// protocol error: the reader reports it and the caller closes the
// connection. Nothing larger than frame_bytes_max is ever buffered, and a
// length is only a claim: the reader's buffer grows with the bytes that
// actually arrived (to at most about twice them plus one read chunk), so a
// peer that declares a huge frame and sends little costs little memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>

#include "core/bytes.h"
#include "core/env.h"
#include "core/status.h"

namespace keel::net {

inline constexpr uint32_t kFrameMagic = 0x4b45454c;
inline constexpr size_t kFrameHeaderBytes = 16;
inline constexpr size_t kFrameBytesMaxDefault = 64 * 1024 * 1024;

// Appends the frame of `payload` to `out`.
void append_frame(core::Bytes& out, core::ByteView payload);

// Writes one frame to `stream`. May suspend.
core::Status write_frame(core::Stream& stream, core::ByteView payload);

// Reads frames from one stream. Not copyable; owns its buffer.
class FrameReader {
 public:
  explicit FrameReader(core::Stream& stream, size_t frame_bytes_max = kFrameBytesMaxDefault)
      : stream_(stream), frame_bytes_max_(frame_bytes_max) {}

  // The next frame's payload; nullopt at a clean end of stream (EOF at a
  // frame boundary). Errors: Corruption (bad magic or checksum),
  // InvalidArgument (oversized frame), Unavailable (EOF inside a frame, or
  // the connection broke), Cancelled. May suspend.
  core::Result<std::optional<core::Bytes>> next();

  // Changes the limit for the frames read from now on (e.g. small until a
  // handshake succeeds).
  void set_frame_bytes_max(size_t frame_bytes_max) { frame_bytes_max_ = frame_bytes_max; }

  uint64_t frames() const { return frames_; }
  // Bytes the reader holds allocated for its buffer.
  size_t buffer_capacity() const { return capacity_; }

 private:
  // Makes at least `n` bytes available in buffer_ past pos_; false at EOF.
  core::Result<bool> fill(size_t n);

  core::Stream& stream_;
  size_t frame_bytes_max_;
  // Unread bytes are buffer_[begin_, end_). Not zero-filled on growth: a
  // read fills what it reports.
  std::unique_ptr<char[]> buffer_;
  size_t capacity_ = 0;
  size_t begin_ = 0;
  size_t end_ = 0;
  uint64_t frames_ = 0;
};

}  // namespace keel::net
