#include "net/frame.h"

#include <algorithm>
#include <string>

namespace keel::net {

namespace {
// Bytes asked of the stream per read when the buffer runs dry.
constexpr size_t kReadChunkBytes = 64 * 1024;
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
  while (buffer_.size() - pos_ < n) {
    if (pos_ > 0 && pos_ == buffer_.size()) {
      buffer_.clear();
      pos_ = 0;
    } else if (pos_ > kReadChunkBytes) {
      buffer_.erase(0, pos_);
      pos_ = 0;
    }
    const size_t old = buffer_.size();
    // Callers only ask for lengths they validated against frame_bytes_max_,
    // so this reservation is bounded; each read asks for one chunk.
    buffer_.reserve(pos_ + n);
    const size_t want = kReadChunkBytes;
    buffer_.resize(old + want);
    auto r = stream_.read(buffer_.data() + old, want);
    if (!r.is_ok()) {
      buffer_.resize(old);
      return r.status();
    }
    buffer_.resize(old + *r);
    if (*r == 0) return false;
  }
  return true;
}

core::Result<std::optional<core::Bytes>> FrameReader::next() {
  KEEL_TRY_ASSIGN(bool have_header, fill(kFrameHeaderBytes));
  if (!have_header) {
    if (buffer_.size() == pos_) return std::optional<core::Bytes>();
    return core::unavailable("stream ended inside a frame header");
  }
  const char* h = buffer_.data() + pos_;
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
  core::ByteView payload(buffer_.data() + pos_ + kFrameHeaderBytes, length);
  if (core::checksum64(payload) != check) return core::corruption("frame checksum mismatch");
  core::Bytes out(payload);
  pos_ += kFrameHeaderBytes + length;
  ++frames_;
  return std::optional<core::Bytes>(std::move(out));
}

}  // namespace keel::net
