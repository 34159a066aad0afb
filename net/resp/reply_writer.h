// ReplyWriter: the server side of RESP output. Serialises replies into an
// owned byte buffer in the connection's protocol version, and
// append_request(): the client side's argv -> multibulk encoder.
//
// RESP3 types written to a RESP2 connection take the fallback redis-server
// uses: map -> flat array of 2n elements, set and push -> array,
// double -> bulk string of its text, boolean -> integer 1/0, big number ->
// bulk string of its digits, verbatim -> bulk string of its text (without
// the format), null -> "$-1" (null()) or "*-1" (null_array()).
//
// Aggregates are written as a header followed by their elements: after
// array(n) the caller writes exactly n values (2n for map(n)). The writer
// does not track nesting; the count is the caller's contract.
//
// Simple strings and errors cannot carry CR or LF; the writer replaces them
// by spaces (as Redis does for errors), so a reply is never split.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "core/bytes.h"
#include "net/resp/value.h"

namespace keel::net::resp {

class ReplyWriter {
 public:
  explicit ReplyWriter(Protocol protocol = Protocol::kResp2) : protocol_(protocol) {}

  Protocol protocol() const { return protocol_; }
  // Takes effect for replies written afterwards (HELLO replies in the new
  // version, so switch before writing its reply).
  void set_protocol(Protocol protocol) { protocol_ = protocol; }

  // The bytes written so far and not yet taken.
  const core::Bytes& bytes() const { return out_; }
  size_t size() const { return out_.size(); }
  bool empty() const { return out_.empty(); }
  // Moves the written bytes out, leaving the writer empty.
  core::Bytes take();
  // Drops the first `n` written bytes (e.g. after a partial stream write).
  // Precondition: n <= size().
  void consume(size_t n);
  void clear() { out_.clear(); }

  // "+OK\r\n".
  void ok();
  // "+<s>\r\n".
  void simple_string(core::ByteView s);
  // "-<message>\r\n". `message` starts with the error code and has no
  // leading '-', e.g. "ERR unknown command 'foo'" or "MOVED 3999 10.0.0.1:6381".
  void error(core::ByteView message);
  // ":<v>\r\n".
  void integer(int64_t v);
  // "$<len>\r\n<s>\r\n".
  void bulk(core::ByteView s);
  // A missing string: RESP2 "$-1\r\n", RESP3 "_\r\n".
  void null();
  // A missing aggregate: RESP2 "*-1\r\n", RESP3 "_\r\n".
  void null_array();
  // Aggregate headers: "*n", RESP3 "%n" (n pairs follow), "~n", ">n".
  void array(size_t n);
  void map(size_t pairs);
  void set(size_t n);
  void push(size_t n);
  // RESP3 ",<v>\r\n" (shortest round-tripping text, "inf", "-inf", "nan").
  void double_value(double v);
  // RESP3 "#t\r\n" / "#f\r\n".
  void boolean(bool v);
  // RESP3 "(<digits>\r\n". Precondition: `digits` is an optional '-' and
  // one or more decimal digits.
  void big_number(core::ByteView digits);
  // RESP3 "=<len>\r\n<format>:<text>\r\n". Precondition: format is 3 bytes.
  void verbatim(core::ByteView format, core::ByteView text);
  // A whole tree. kNull is written as null() (the string form in RESP2).
  void value(const Value& v);
  // An array of bulk strings: the common multi-key reply shape.
  void bulk_array(std::span<const core::ByteView> items);

 private:
  void header(char type, size_t n);
  void line(char type, core::ByteView text);

  Protocol protocol_;
  core::Bytes out_;
};

// Appends argv as a RESP multibulk request ("*<n>\r\n" then one
// "$<len>\r\n<arg>\r\n" per argument). Precondition: argv is not empty.
void append_request(core::Bytes& out, std::span<const core::ByteView> argv);
void append_request(core::Bytes& out, const Argv& argv);

}  // namespace keel::net::resp
