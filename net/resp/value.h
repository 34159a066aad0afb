// The vocabulary shared by keel's Redis protocol (RESP2/RESP3) codec: the
// protocol version, the parser limits, and Value, the tree a client-side
// reply parser produces and a reply writer can serialise.
//
// The codec is pure: no Env, no I/O, no suspension. Every size a peer
// declares on the wire (bulk length, aggregate count, line length, nesting
// depth) is checked against a named maximum in Limits before anything is
// reserved, and nothing is ever reserved in proportion to a declared size:
// memory grows only with bytes that have actually arrived.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"

namespace keel::net::resp {

// The RESP version a connection speaks. Connections start in RESP2; the
// HELLO command switches them.
enum class Protocol : unsigned char {
  kResp2 = 2,
  kResp3 = 3,
};

// Redis' proto-max-bulk-len default.
inline constexpr size_t kBulkBytesMaxDefault = size_t{512} * 1024 * 1024;
// Redis' cap on the element count of a multibulk request.
inline constexpr size_t kAggregateCountMaxDefault = size_t{1024} * 1024;
// Redis' PROTO_INLINE_MAX_SIZE: the longest inline command or header line.
inline constexpr size_t kInlineBytesMaxDefault = size_t{64} * 1024;
// Redis' client-query-buffer-limit: the most bytes one request may carry.
inline constexpr size_t kCommandBytesMaxDefault = size_t{1024} * 1024 * 1024;
// How deeply reply aggregates may nest (the request parser has no nesting).
inline constexpr size_t kNestingDepthMaxDefault = 64;
// Parsers reserve at most this many elements ahead of their arrival.
inline constexpr size_t kReserveElementsMax = 1024;

// Limits on what a peer may declare. A declaration beyond a limit is a
// protocol error; the caller reports it and closes the connection.
struct Limits {
  // Longest bulk string ($len, !len, =len) accepted.
  size_t bulk_bytes_max = kBulkBytesMaxDefault;
  // Most elements in one multibulk request or one reply aggregate (for a
  // map, the number of key-value pairs).
  size_t aggregate_count_max = kAggregateCountMaxDefault;
  // Longest inline command or header line (type byte to CR, exclusive).
  size_t inline_bytes_max = kInlineBytesMaxDefault;
  // Request parser: most argument bytes (sum of bulk lengths) in one request.
  size_t command_bytes_max = kCommandBytesMaxDefault;
  // Reply parser: deepest nesting of aggregates.
  size_t nesting_depth_max = kNestingDepthMaxDefault;
};

// A command as a client sent it: argv[0] is the command name as received
// (any case); arguments are binary-safe byte strings.
using Argv = std::vector<core::Bytes>;

enum class Type : unsigned char {
  kSimpleString,  // +OK           payload: str
  kError,         // -ERR msg, !len (RESP3 blob error)   payload: str (no '-')
  kInteger,       // :42           payload: integer
  kBulkString,    // $3 foo        payload: str
  kNull,          // $-1, *-1, _   no payload
  kArray,         // *N            payload: elements
  kMap,           // %N            payload: elements = k0, v0, k1, v1, ...
  kSet,           // ~N            payload: elements
  kDouble,        // ,1.5          payload: real
  kBoolean,       // #t / #f       payload: integer (1 or 0)
  kBigNumber,     // (12345        payload: str (the digits, optional '-')
  kVerbatim,      // =N txt:...    payload: format (3 bytes) and str (text)
  kPush,          // >N            payload: elements
};

std::string_view type_name(Type type);

// One RESP value, a tree. Only the fields named for its type are meaningful;
// the others stay at their defaults (which operator== relies on).
struct Value {
  Type type = Type::kNull;
  core::Bytes str;
  core::Bytes format;
  int64_t integer = 0;
  double real = 0.0;
  std::vector<Value> elements;

  static Value simple_string(core::ByteView s);
  static Value error(core::ByteView message);
  static Value integer_value(int64_t v);
  static Value bulk(core::ByteView s);
  static Value null();
  static Value array(std::vector<Value> elements);
  // `flat_pairs` holds k0, v0, k1, v1, ...; its size must be even.
  static Value map(std::vector<Value> flat_pairs);
  static Value set(std::vector<Value> elements);
  static Value double_value(double v);
  static Value boolean(bool v);
  // Precondition: `digits` is an optional '-' and one or more decimal digits.
  static Value big_number(core::ByteView digits);
  // Precondition: `format` is exactly 3 bytes (e.g. "txt", "mkd").
  static Value verbatim(core::ByteView format, core::ByteView text);
  static Value push(std::vector<Value> elements);

  bool is_aggregate() const;

  // Structural equality; two NaN doubles compare equal (so that round trips
  // can be checked with ==).
  bool operator==(const Value& other) const;

  // A one-line human-readable rendering for test failures and logs.
  std::string debug_string() const;
};

}  // namespace keel::net::resp
