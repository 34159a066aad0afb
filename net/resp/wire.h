// Internal helpers shared by the RESP parsers and writers: strict integer
// parsing with Redis' rules, double formatting, and header-line scanning.
// Not part of the codec's public interface.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string_view>

#include "core/bytes.h"

namespace keel::net::resp::wire {

// Parses a signed decimal integer the way Redis' string2ll does: an optional
// '-', then digits with no leading zero (except "0" itself); no '+', no
// spaces, no "-0", no overflow. nullopt when `s` is not such a number.
std::optional<int64_t> parse_int64(std::string_view s);

// Appends the decimal text of `v`.
void append_int64(core::Bytes& out, int64_t v);

// Appends the shortest text that reads back as exactly `v`, or "inf",
// "-inf", "nan" (the spellings RESP3 uses).
void append_double(core::Bytes& out, double v);

// Parses a RESP3 double: what append_double writes, plus any decimal or
// exponent form strtod accepts without leading spaces or '+', and
// "inf"/"-inf"/"nan". nullopt otherwise.
std::optional<double> parse_double(std::string_view s);

// Result of looking for a CRLF-terminated line in buffered bytes.
enum class LineScan : unsigned char {
  kFound,     // the line [start, start + length) is followed by "\r\n"
  kNeedMore,  // no '\r' yet, or '\r' is the last buffered byte
  kTooLong,   // the line already exceeds the maximum
  kBadEnd,    // a '\r' is followed by something other than '\n'
};

// Looks for the first '\r' at or after `data[scanned]` (bytes before
// `scanned` are known to hold no '\r'). On kFound sets `length` to the line
// length; on kNeedMore updates `scanned` so the next call does not rescan.
// A line longer than `line_bytes_max` is kTooLong whether or not its end has
// arrived, so the verdict does not depend on how the bytes were chunked.
LineScan scan_line(std::string_view data, size_t line_bytes_max, size_t& scanned, size_t& length);

}  // namespace keel::net::resp::wire
