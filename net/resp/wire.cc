#include "net/resp/wire.h"

#include <charconv>
#include <cmath>
#include <cstring>
#include <system_error>

namespace keel::net::resp::wire {

std::optional<int64_t> parse_int64(std::string_view s) {
  // 20 bytes hold "-9223372036854775808"; anything longer cannot be valid.
  if (s.empty() || s.size() > 20) return std::nullopt;
  size_t i = 0;
  bool negative = false;
  if (s[0] == '-') {
    negative = true;
    i = 1;
    if (s.size() == 1) return std::nullopt;
  }
  if (s[i] == '0') {
    // "0" alone is fine; "01", "-0" and "-01" are not canonical.
    if (s.size() == 1) return 0;
    return std::nullopt;
  }
  // Accumulate as a negative number so that INT64_MIN fits.
  int64_t v = 0;
  for (; i < s.size(); ++i) {
    char c = s[i];
    if (c < '0' || c > '9') return std::nullopt;
    int digit = c - '0';
    if (v < (INT64_MIN + digit) / 10) return std::nullopt;
    v = v * 10 - digit;
  }
  if (!negative) {
    if (v == INT64_MIN) return std::nullopt;
    v = -v;
  }
  return v;
}

void append_int64(core::Bytes& out, int64_t v) {
  char text[24];
  auto [end, ec] = std::to_chars(text, text + sizeof(text), v);
  (void)ec;
  out.append(text, static_cast<size_t>(end - text));
}

void append_double(core::Bytes& out, double v) {
  if (std::isnan(v)) {
    out.append("nan");
    return;
  }
  if (std::isinf(v)) {
    out.append(v > 0 ? "inf" : "-inf");
    return;
  }
  char text[64];
  auto [end, ec] = std::to_chars(text, text + sizeof(text), v);
  (void)ec;
  out.append(text, static_cast<size_t>(end - text));
}

std::optional<double> parse_double(std::string_view s) {
  if (s.empty()) return std::nullopt;
  if (s == "inf" || s == "+inf") return HUGE_VAL;
  if (s == "-inf") return -HUGE_VAL;
  if (s == "nan" || s == "-nan") return std::nan("");
  // from_chars rejects leading spaces and '+', as we want, but would accept
  // "infinity" and "nan(...)" spellings: the special values were handled
  // above, so refuse anything alphabetic other than an exponent.
  for (char c : s) {
    bool ok = (c >= '0' && c <= '9') || c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E';
    if (!ok) return std::nullopt;
  }
  double v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size()) return std::nullopt;
  return v;
}

LineScan scan_line(std::string_view data, size_t line_bytes_max, size_t& scanned, size_t& length) {
  size_t from = scanned < data.size() ? scanned : data.size();
  const void* hit = std::memchr(data.data() + from, '\r', data.size() - from);
  if (hit == nullptr) {
    scanned = data.size();
    return data.size() > line_bytes_max ? LineScan::kTooLong : LineScan::kNeedMore;
  }
  size_t at = static_cast<size_t>(static_cast<const char*>(hit) - data.data());
  if (at > line_bytes_max) return LineScan::kTooLong;
  if (at + 1 >= data.size()) {
    // Keep `scanned` at the '\r' so it is found again with its successor.
    scanned = at;
    return LineScan::kNeedMore;
  }
  if (data[at + 1] != '\n') return LineScan::kBadEnd;
  length = at;
  return LineScan::kFound;
}

}  // namespace keel::net::resp::wire
