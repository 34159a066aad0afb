#include "net/resp/request_parser.h"

#include <algorithm>
#include <cstring>
#include <string>
#include <utility>

#include "core/assert.h"
#include "net/resp/wire.h"

namespace keel::net::resp {

namespace {

// Compacting the buffer costs a move of the unconsumed tail; doing it only
// once the consumed prefix is at least this large and at least half of the
// buffer keeps the cost amortised linear.
constexpr size_t kCompactBytesMin = 4096;

bool is_hex(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return c - 'A' + 10;
}

// The blanks Redis skips between inline arguments (C isspace).
bool is_blank(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r'; }

core::Status unbalanced() { return core::invalid_argument("Protocol error: unbalanced quotes in request"); }

}  // namespace

core::Status split_inline(core::ByteView line, Argv& argv) {
  argv.clear();
  size_t i = 0;
  const size_t n = line.size();
  while (true) {
    while (i < n && is_blank(line[i])) ++i;
    if (i == n) return core::Status::ok();
    core::Bytes arg;
    bool in_double = false;
    bool in_single = false;
    bool done = false;
    while (!done) {
      if (in_double) {
        if (i == n) return unbalanced();
        char c = line[i];
        if (c == '\\' && i + 3 < n && line[i + 1] == 'x' && is_hex(line[i + 2]) && is_hex(line[i + 3])) {
          arg.push_back(static_cast<char>(hex_value(line[i + 2]) * 16 + hex_value(line[i + 3])));
          i += 4;
        } else if (c == '\\' && i + 1 < n) {
          char e = line[i + 1];
          switch (e) {
            case 'n': arg.push_back('\n'); break;
            case 'r': arg.push_back('\r'); break;
            case 't': arg.push_back('\t'); break;
            case 'b': arg.push_back('\b'); break;
            case 'a': arg.push_back('\a'); break;
            default: arg.push_back(e); break;
          }
          i += 2;
        } else if (c == '"') {
          // A closing quote must end the argument.
          if (i + 1 < n && !is_blank(line[i + 1])) return unbalanced();
          ++i;
          done = true;
        } else {
          arg.push_back(c);
          ++i;
        }
      } else if (in_single) {
        if (i == n) return unbalanced();
        char c = line[i];
        if (c == '\\' && i + 1 < n && line[i + 1] == '\'') {
          arg.push_back('\'');
          i += 2;
        } else if (c == '\'') {
          if (i + 1 < n && !is_blank(line[i + 1])) return unbalanced();
          ++i;
          done = true;
        } else {
          arg.push_back(c);
          ++i;
        }
      } else {
        if (i == n) {
          done = true;
          break;
        }
        char c = line[i];
        if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
          ++i;
          done = true;
        } else if (c == '"') {
          in_double = true;
          ++i;
        } else if (c == '\'') {
          in_single = true;
          ++i;
        } else {
          arg.push_back(c);
          ++i;
        }
      }
    }
    argv.push_back(std::move(arg));
  }
}

RequestParser::RequestParser(Limits limits) : limits_(limits) {
  KEEL_ASSERT(limits_.inline_bytes_max > 0);
  KEEL_ASSERT(limits_.aggregate_count_max > 0);
}

void RequestParser::feed(core::ByteView bytes) {
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  } else if (pos_ >= kCompactBytesMin && pos_ >= buffer_.size() / 2) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  buffer_.append(bytes.data(), bytes.size());
}

core::Status RequestParser::fail(std::string message) {
  error_ = core::invalid_argument(std::move(message));
  return error_;
}

void RequestParser::consume(size_t n) {
  KEEL_ASSERT(n <= buffer_.size() - pos_);
  pos_ += n;
  scanned_ = 0;
}

void RequestParser::deliver(Argv& argv) {
  KEEL_ASSERT(!args_.empty());
  argv.clear();
  std::swap(argv, args_);
  // args_ now holds the caller's old (empty) vector; keep its capacity for
  // reuse unless a huge request left it oversized.
  if (args_.capacity() > kReserveElementsMax) args_ = Argv();
}

core::Result<bool> RequestParser::next(Argv& argv) {
  if (!error_.is_ok()) return error_;
  while (true) {
    core::Result<Step> step = Step::kNeedMore;
    switch (state_) {
      case State::kStart:
        if (buffered_bytes() == 0) return false;
        step = buffer_[pos_] == '*' ? parse_multibulk_header() : parse_inline(argv);
        break;
      case State::kBulkHeader: step = parse_bulk_header(); break;
      case State::kBulkData: step = parse_bulk_data(argv); break;
    }
    if (!step.is_ok()) return step.status();
    if (*step == Step::kCommand) return true;
    if (*step == Step::kNeedMore) return false;
  }
}

core::Result<RequestParser::Step> RequestParser::parse_inline(Argv& argv) {
  core::ByteView data(buffer_.data() + pos_, buffered_bytes());
  size_t from = std::min(scanned_, data.size());
  const void* hit = std::memchr(data.data() + from, '\n', data.size() - from);
  if (hit == nullptr) {
    if (data.size() > limits_.inline_bytes_max) return fail("Protocol error: too big inline request");
    scanned_ = data.size();
    return Step::kNeedMore;
  }
  size_t end = static_cast<size_t>(static_cast<const char*>(hit) - data.data());
  if (end > limits_.inline_bytes_max) return fail("Protocol error: too big inline request");
  core::ByteView line = data.substr(0, end);
  if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
  core::Status split = split_inline(line, args_);
  if (!split.is_ok()) return fail(split.message());
  consume(end + 1);
  if (args_.empty()) return Step::kProgress;  // an empty line is skipped
  deliver(argv);
  return Step::kCommand;
}

core::Result<RequestParser::Step> RequestParser::parse_multibulk_header() {
  core::ByteView data(buffer_.data() + pos_, buffered_bytes());
  size_t length = 0;
  switch (wire::scan_line(data, limits_.inline_bytes_max, scanned_, length)) {
    case wire::LineScan::kNeedMore: return Step::kNeedMore;
    case wire::LineScan::kTooLong: return fail("Protocol error: too big mbulk count string");
    case wire::LineScan::kBadEnd: return fail("Protocol error: invalid multibulk length");
    case wire::LineScan::kFound: break;
  }
  auto count = wire::parse_int64(data.substr(1, length - 1));
  if (!count || (*count > 0 && static_cast<uint64_t>(*count) > limits_.aggregate_count_max)) {
    return fail("Protocol error: invalid multibulk length");
  }
  consume(length + 2);
  if (*count <= 0) return Step::kProgress;  // Redis ignores empty and null requests
  args_remaining_ = static_cast<size_t>(*count);
  args_.clear();
  args_.reserve(std::min(args_remaining_, kReserveElementsMax));
  command_bytes_ = 0;
  state_ = State::kBulkHeader;
  return Step::kProgress;
}

core::Result<RequestParser::Step> RequestParser::parse_bulk_header() {
  core::ByteView data(buffer_.data() + pos_, buffered_bytes());
  if (data.empty()) return Step::kNeedMore;
  if (data[0] != '$') return fail(std::string("Protocol error: expected '$', got '") + data[0] + "'");
  size_t length = 0;
  switch (wire::scan_line(data, limits_.inline_bytes_max, scanned_, length)) {
    case wire::LineScan::kNeedMore: return Step::kNeedMore;
    case wire::LineScan::kTooLong: return fail("Protocol error: too big bulk count string");
    case wire::LineScan::kBadEnd: return fail("Protocol error: invalid bulk length");
    case wire::LineScan::kFound: break;
  }
  auto bytes = wire::parse_int64(data.substr(1, length - 1));
  if (!bytes || *bytes < 0 || static_cast<uint64_t>(*bytes) > limits_.bulk_bytes_max) {
    return fail("Protocol error: invalid bulk length");
  }
  size_t n = static_cast<size_t>(*bytes);
  if (n > limits_.command_bytes_max - command_bytes_) return fail("Protocol error: too big request");
  command_bytes_ += n;
  consume(length + 2);
  bulk_bytes_ = n;
  state_ = State::kBulkData;
  return Step::kProgress;
}

core::Result<RequestParser::Step> RequestParser::parse_bulk_data(Argv& argv) {
  // Wait until the whole argument and its CRLF have arrived; the buffer
  // grows only with received bytes, never by the declared length.
  if (buffered_bytes() < bulk_bytes_ + 2) return Step::kNeedMore;
  const char* p = buffer_.data() + pos_;
  if (p[bulk_bytes_] != '\r' || p[bulk_bytes_ + 1] != '\n') {
    return fail("Protocol error: expected CRLF after bulk data");
  }
  args_.emplace_back(p, bulk_bytes_);
  consume(bulk_bytes_ + 2);
  if (--args_remaining_ > 0) {
    state_ = State::kBulkHeader;
    return Step::kProgress;
  }
  state_ = State::kStart;
  deliver(argv);
  return Step::kCommand;
}

}  // namespace keel::net::resp
