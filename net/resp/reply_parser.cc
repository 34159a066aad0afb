#include "net/resp/reply_parser.h"

#include <algorithm>
#include <cstdio>
#include <string>
#include <utility>

#include "core/assert.h"
#include "net/resp/wire.h"

namespace keel::net::resp {

namespace {

constexpr size_t kCompactBytesMin = 4096;

bool is_known_type(char t) {
  switch (t) {
    case '+': case '-': case ':': case '$': case '*':
    case '_': case ',': case '#': case '(': case '!': case '=': case '%': case '~': case '>':
      return true;
    default:
      return false;
  }
}

bool is_big_number(core::ByteView s) {
  size_t i = (!s.empty() && s[0] == '-') ? 1 : 0;
  if (i == s.size()) return false;
  for (; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return false;
  }
  return true;
}

Type aggregate_type(char t) {
  switch (t) {
    case '*': return Type::kArray;
    case '%': return Type::kMap;
    case '~': return Type::kSet;
    default: return Type::kPush;
  }
}

}  // namespace

ReplyParser::ReplyParser(Limits limits) : limits_(limits) {
  KEEL_ASSERT(limits_.inline_bytes_max > 0);
  KEEL_ASSERT(limits_.nesting_depth_max > 0);
}

void ReplyParser::feed(core::ByteView bytes) {
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  } else if (pos_ >= kCompactBytesMin && pos_ >= buffer_.size() / 2) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
}

core::Status ReplyParser::fail(std::string message) {
  error_ = core::corruption("RESP: " + std::move(message));
  return error_;
}

void ReplyParser::consume(size_t n) {
  KEEL_ASSERT(n <= buffer_.size() - pos_);
  pos_ += n;
  scanned_ = 0;
}

std::optional<Value> ReplyParser::complete(Value value) {
  while (!stack_.empty()) {
    Frame& top = stack_.back();
    top.value.elements.push_back(std::move(value));
    KEEL_ASSERT(top.remaining > 0);
    if (--top.remaining > 0) return std::nullopt;
    value = std::move(top.value);
    stack_.pop_back();
  }
  return value;
}

core::Result<std::optional<Value>> ReplyParser::next() {
  if (!error_.is_ok()) return error_;
  while (true) {
    core::ByteView data(buffer_.data() + pos_, buffered_bytes());
    if (blob_) {
      // Wait for the whole body: the buffer grows only with received bytes.
      size_t n = blob_->bytes;
      if (data.size() < n + 2) return std::optional<Value>();
      if (data[n] != '\r' || data[n + 1] != '\n') return fail("missing CRLF after bulk data");
      core::ByteView body = data.substr(0, n);
      Value v;
      switch (blob_->type) {
        case Type::kError: v = Value::error(body); break;
        case Type::kVerbatim:
          // The header checked n >= 4.
          if (body[3] != ':') return fail("verbatim string without format");
          v = Value::verbatim(body.substr(0, 3), body.substr(4));
          break;
        default: v = Value::bulk(body); break;
      }
      consume(n + 2);
      blob_.reset();
      if (auto reply = complete(std::move(v))) return reply;
      continue;
    }
    if (data.empty()) return std::optional<Value>();
    char t = data[0];
    // Judge the type byte before its line has arrived, so that the verdict
    // does not depend on chunking.
    if (t == '|') return fail("attributes are not supported");
    if (!is_known_type(t)) {
      char text[48];
      std::snprintf(text, sizeof(text), "bad type byte 0x%02x", static_cast<unsigned>(static_cast<unsigned char>(t)));
      return fail(text);
    }
    size_t length = 0;
    switch (wire::scan_line(data, limits_.inline_bytes_max, scanned_, length)) {
      case wire::LineScan::kNeedMore: return std::optional<Value>();
      case wire::LineScan::kTooLong: return fail("line too long");
      case wire::LineScan::kBadEnd: return fail("CR not followed by LF");
      case wire::LineScan::kFound: break;
    }
    // `text` stays valid after consume(): consume only moves pos_.
    core::ByteView text = data.substr(1, length - 1);
    consume(length + 2);
    Value v;
    switch (t) {
      case '+': v = Value::simple_string(text); break;
      case '-': v = Value::error(text); break;
      case ':': {
        auto i = wire::parse_int64(text);
        if (!i) return fail("bad integer");
        v = Value::integer_value(*i);
        break;
      }
      case '_':
        if (!text.empty()) return fail("bad null");
        v = Value::null();
        break;
      case ',': {
        auto d = wire::parse_double(text);
        if (!d) return fail("bad double");
        v = Value::double_value(*d);
        break;
      }
      case '#':
        if (text != "t" && text != "f") return fail("bad boolean");
        v = Value::boolean(text == "t");
        break;
      case '(':
        if (!is_big_number(text)) return fail("bad big number");
        v = Value::big_number(text);
        break;
      case '$':
      case '!':
      case '=': {
        auto n = wire::parse_int64(text);
        if (n && *n == -1 && t == '$') {
          v = Value::null();
          break;
        }
        if (!n || *n < 0) return fail("bad bulk length");
        if (static_cast<uint64_t>(*n) > limits_.bulk_bytes_max) {
          return fail("bulk length " + std::string(text) + " exceeds maximum");
        }
        if (t == '=' && *n < 4) return fail("verbatim string without format");
        blob_ = Blob{t == '$' ? Type::kBulkString : (t == '!' ? Type::kError : Type::kVerbatim),
                     static_cast<size_t>(*n)};
        continue;
      }
      default: {  // '*', '%', '~', '>'
        auto n = wire::parse_int64(text);
        if (n && *n == -1 && t == '*') {
          v = Value::null();
          break;
        }
        if (!n || *n < 0) return fail("bad aggregate length");
        if (static_cast<uint64_t>(*n) > limits_.aggregate_count_max) {
          return fail("aggregate length " + std::string(text) + " exceeds maximum");
        }
        v.type = aggregate_type(t);
        if (*n == 0) break;
        if (stack_.size() >= limits_.nesting_depth_max) return fail("aggregates nested too deeply");
        size_t elements = static_cast<size_t>(*n) * (t == '%' ? 2 : 1);
        v.elements.reserve(std::min(elements, kReserveElementsMax));
        stack_.push_back(Frame{std::move(v), elements});
        continue;
      }
    }
    if (auto reply = complete(std::move(v))) return reply;
  }
}

}  // namespace keel::net::resp
