// ReplyParser: the client side of RESP. Turns the bytes a server sends, in
// whatever chunks they arrive, into Value trees, for RESP2 and RESP3 alike
// (the type byte says which; no mode switch is needed).
//
// Understood: + - : $ * (RESP2) and _ , # ( ! = % ~ > (RESP3). "$-1" and
// "*-1" parse as kNull; "!" blob errors parse as kError. Not supported
// (protocol error): attributes ("|"), streamed strings and aggregates
// ("$?", "*?").
//
// Invariants:
//   - Declared lengths and counts are checked against Limits before use and
//     never reserved: memory grows only with bytes that arrived (element
//     vectors reserve at most kReserveElementsMax ahead).
//   - Nesting deeper than Limits::nesting_depth_max is a protocol error.
//   - The outcome does not depend on chunking.
//   - After a protocol error the parser is poisoned: next() keeps returning
//     that error and the connection must be dropped.
#pragma once

#include <cstddef>
#include <optional>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "net/resp/value.h"

namespace keel::net::resp {

class ReplyParser {
 public:
  explicit ReplyParser(Limits limits = Limits());

  ReplyParser(const ReplyParser&) = delete;
  ReplyParser& operator=(const ReplyParser&) = delete;

  // Appends bytes received from the server.
  void feed(core::ByteView bytes);

  // The next complete reply; nullopt when more bytes are needed.
  // Errors: Corruption with a message naming the problem (e.g. "RESP: bad
  // type byte 0x3f", "RESP: bulk length 4294967296 exceeds maximum").
  // A reply of type kError is a value, not an error of next().
  core::Result<std::optional<Value>> next();

  size_t buffered_bytes() const { return buffer_.size() - pos_; }
  // True when no part of a reply is pending.
  bool at_reply_boundary() const { return stack_.empty() && !blob_ && buffered_bytes() == 0; }

 private:
  // An aggregate whose elements are still arriving.
  struct Frame {
    Value value;
    size_t remaining = 0;  // elements still expected
  };
  // A length-prefixed string whose header was read and whose body is awaited.
  struct Blob {
    Type type = Type::kBulkString;
    size_t bytes = 0;
  };

  core::Status fail(std::string message);
  void consume(size_t n);
  // Attaches a completed value to the open aggregate, closing every
  // aggregate it fills; returns the value when it completes a whole reply.
  std::optional<Value> complete(Value value);

  Limits limits_;
  core::Bytes buffer_;
  size_t pos_ = 0;
  size_t scanned_ = 0;
  std::vector<Frame> stack_;
  std::optional<Blob> blob_;
  core::Status error_;
};

}  // namespace keel::net::resp
