#include "net/frame.h"

#include <algorithm>
#include <cstring>
#include <string>

namespace keel::net {

namespace {
// Bytes asked of the stream per read when the buffer runs dry.
constexpr size_t kReadChunkBytes = 16 * 1024;
}  // namespace

void append_frame(core::Bytes& out, core::ByteView payload) {
  KEEL_ASSERT(payload.size() <= UINT32_MAX);
  core::put_u32(out, kFrameMagic);
  core::put_u32(out, static_cast<uint32_t>(payload.size()));
  core::put_u64(out, core::checksum64(payload));
  out.append(payload);
}

core::Status write_frame(core::Stream& stream, core::ByteView payload) {
  core::Bytes frame;
  frame.reserve(kFrameHeaderBytes + payload.size());
  append_frame(frame, payload);
  return stream.write(frame);
}

core::Result<bool> FrameReader::fill(size_t n) {
  while (end_ - begin_ < n) {
    const size_t unread = end_ - begin_;
    // Room for the next read: what the frame still lacks, but no more than
    // is already buffered (and at least one chunk). A declared length is
    // only a claim; the buffer at most doubles per read, so it grows with
    // bytes that arrived, never ahead of them.
    const size_t room = std::max(kReadChunkBytes, std::min(n - unread, unread));
    if (capacity_ - end_ < room) {
      if (capacity_ - unread >= room) {
        std::memmove(buffer_.get(), buffer_.get() + begin_, unread);
      } else {
        // Callers only ask for lengths they validated against
        // frame_bytes_max_, so growth stops at that plus one read chunk.
        const size_t grown = std::min(std::max(capacity_ * 2, unread + room), n + kReadChunkBytes);
        std::unique_ptr<char[]> bigger(new char[grown]);
        if (unread > 0) std::memcpy(bigger.get(), buffer_.get() + begin_, unread);
        buffer_ = std::move(bigger);
        capacity_ = grown;
      }
      begin_ = 0;
      end_ = unread;
    }
    auto r = stream_.read(buffer_.get() + end_, capacity_ - end_);
    if (!r.is_ok()) return r.status();
    if (*r == 0) return false;
    end_ += *r;
  }
  return true;
}

core::Result<std::optional<core::Bytes>> FrameReader::next() {
  KEEL_TRY_ASSIGN(bool have_header, fill(kFrameHeaderBytes));
  if (!have_header) {
    if (end_ == begin_) return std::optional<core::Bytes>();
    return core::unavailable("stream ended inside a frame header");
  }
  const char* h = buffer_.get() + begin_;
  const uint32_t magic = core::get_u32(h);
  const uint32_t length = core::get_u32(h + 4);
  const uint64_t check = core::get_u64(h + 8);
  if (magic != kFrameMagic) return core::corruption("bad frame magic");
  if (length > frame_bytes_max_) {
    return core::invalid_argument("frame of " + std::to_string(length) + " bytes exceeds the maximum of " +
                                  std::to_string(frame_bytes_max_));
  }
  KEEL_TRY_ASSIGN(bool have_body, fill(kFrameHeaderBytes + length));
  if (!have_body) return core::unavailable("stream ended inside a frame");
  core::ByteView payload(buffer_.get() + begin_ + kFrameHeaderBytes, length);
  if (core::checksum64(payload) != check) return core::corruption("frame checksum mismatch");
  core::Bytes out(payload);
  begin_ += kFrameHeaderBytes + length;
  if (begin_ == end_) begin_ = end_ = 0;
  ++frames_;
  return std::optional<core::Bytes>(std::move(out));
}

}  // namespace keel::net
