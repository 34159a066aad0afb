// The replicated write commands of the key-value store, as bytes.
//
// The RESP front end turns a client's write (SET, DEL, INCRBY, MSET, APPEND)
// into a Command, encodes it, and proposes the bytes to the replicated log.
// Every replica decodes the committed bytes and applies them with
// apply_command(), a pure deterministic function of (current values of the
// keys it touches, command) -> (writes, reply). Replicas that apply the same
// entries in the same order therefore reach the same state and produce the
// same replies, whoever proposed them.
//
// Command encoding (version 1), all integers little endian:
//   u8 version (=1), u8 kind, then per kind:
//     kSet:    u8 condition (0 none, 1 NX, 2 XX, 3 IFEQ), u8 get (0/1),
//              bytes key, bytes value, bytes expected (empty unless IFEQ)
//     kDel:    u32 n, n x bytes key                      (n >= 1)
//     kIncrBy: bytes key, u64 delta (two's complement int64)
//     kMSet:   u32 n, n x (bytes key, bytes value)       (n >= 1)
//     kAppend: bytes key, bytes value
//   where "bytes" is u32 length then the bytes. Decoding rejects an unknown
//   version or kind, a truncated field, a count or length over the limits
//   below, and trailing bytes (Corruption).
//
// Reply encoding (version 1): u8 version (=1), u8 kind, then
//   kOk, kNil: nothing; kInteger: u64 (int64); kBulk, kError: bytes.
// An error reply carries Redis' text without the leading '-' (e.g.
// "ERR value is not an integer or out of range").
//
// Limits: a user key is at most kUserKeyBytesMax bytes (one byte below the
// engine's key limit: the state machine prefixes a namespace byte), a value
// at most storage::kValueBytesMax, a command names at most kCommandKeysMax
// keys. Commands over a limit are refused by the front end before they are
// proposed, and, should one be decoded anyway, apply as an error reply.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <variant>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "storage/kv_engine.h"

namespace keel::node {

inline constexpr uint8_t kCommandVersion = 1;
inline constexpr uint8_t kReplyVersion = 1;
inline constexpr size_t kUserKeyBytesMax = storage::kKeyBytesMax - 1;
inline constexpr size_t kUserValueBytesMax = storage::kValueBytesMax;
// Keys (or key/value pairs) in one DEL or MSET; together with the key-count
// record the writes of one command stay within storage::kBatchOpsMax.
inline constexpr size_t kCommandKeysMax = 32 * 1024;
static_assert(kCommandKeysMax + 1 <= storage::kBatchOpsMax);

// Redis' error texts for integer commands.
inline constexpr std::string_view kNotIntegerError = "ERR value is not an integer or out of range";
inline constexpr std::string_view kOverflowError = "ERR increment or decrement would overflow";

enum class CommandKind : uint8_t {
  kSet = 1,
  kDel = 2,
  kIncrBy = 3,
  kMSet = 4,
  kAppend = 5,
};

enum class SetCondition : uint8_t {
  kNone = 0,
  kNx = 1,    // only if the key is absent
  kXx = 2,    // only if the key is present
  kIfEq = 3,  // only if the key holds exactly `expected` (compare-and-set)
};

// SET key value [NX | XX | IFEQ expected] [GET].
// Reply: without GET, OK when written and nil when the condition failed;
// with GET, the previous value (bulk or nil) whether or not it wrote.
struct SetCommand {
  core::Bytes key;
  core::Bytes value;
  SetCondition condition = SetCondition::kNone;
  core::Bytes expected;
  bool get = false;
  bool operator==(const SetCommand&) const = default;
};

// DEL key [key ...]. Reply: the number of keys that existed and were removed.
struct DelCommand {
  std::vector<core::Bytes> keys;
  bool operator==(const DelCommand&) const = default;
};

// INCR / INCRBY / DECR / DECRBY as one signed delta. Reply: the new value.
// Errors (as replies): kNotIntegerError when the stored value is not a
// 64-bit decimal integer in Redis' strict form, kOverflowError.
struct IncrByCommand {
  core::Bytes key;
  int64_t delta = 0;
  bool operator==(const IncrByCommand&) const = default;
};

// MSET key value [key value ...]: all written atomically. Reply: OK.
struct MSetCommand {
  std::vector<std::pair<core::Bytes, core::Bytes>> pairs;
  bool operator==(const MSetCommand&) const = default;
};

// APPEND key value. Reply: the length of the value after appending.
struct AppendCommand {
  core::Bytes key;
  core::Bytes value;
  bool operator==(const AppendCommand&) const = default;
};

using Command = std::variant<SetCommand, DelCommand, IncrByCommand, MSetCommand, AppendCommand>;

core::Bytes encode_command(const Command& command);
// Errors: Corruption for bytes that are not a valid version-1 command.
core::Result<Command> decode_command(core::ByteView bytes);

// A command's reply, before it becomes RESP.
struct CommandReply {
  enum class Kind : uint8_t { kOk = 1, kNil = 2, kInteger = 3, kBulk = 4, kError = 5 };
  Kind kind = Kind::kOk;
  int64_t integer = 0;
  core::Bytes text;  // the bulk value, or the error text

  static CommandReply ok() { return {Kind::kOk, 0, {}}; }
  static CommandReply nil() { return {Kind::kNil, 0, {}}; }
  static CommandReply integer_value(int64_t v) { return {Kind::kInteger, v, {}}; }
  static CommandReply bulk(core::ByteView s) { return {Kind::kBulk, 0, core::Bytes(s)}; }
  static CommandReply error(core::ByteView message) { return {Kind::kError, 0, core::Bytes(message)}; }
  static CommandReply optional_bulk(const std::optional<core::Bytes>& v) { return v ? bulk(*v) : nil(); }
  bool operator==(const CommandReply&) const = default;
};

core::Bytes encode_reply(const CommandReply& reply);
// Errors: Corruption.
core::Result<CommandReply> decode_reply(core::ByteView bytes);

// What applying one command does: the final value of every key it changed
// (nullopt = deleted), in key order, and its reply.
struct ApplyOutcome {
  std::map<core::Bytes, std::optional<core::Bytes>, std::less<>> writes;
  // Change in the number of keys (keys created minus keys deleted).
  int64_t keys_delta = 0;
  CommandReply reply;
};

// Reads the current value of a key (nullopt when absent). May suspend.
using KeyReader = std::function<core::Result<std::optional<core::Bytes>>(core::ByteView key)>;

// Applies `command` to the state seen through `read`. Deterministic: the
// outcome depends only on the command and on what `read` returns. A command
// that fails semantically (not an integer, overflow, over a limit) yields an
// error reply and no writes. Errors (Status) only from `read`. May suspend
// (if `read` does).
core::Result<ApplyOutcome> apply_command(const Command& command, const KeyReader& read);

// Redis' strict decimal int64 parse (string2ll): an optional '-', then
// digits without leading zeros ("0" alone is fine), no spaces or '+', in
// range. nullopt otherwise.
std::optional<int64_t> parse_int64(core::ByteView text);

// Checks the limits above. InvalidArgument with a Redis-style error text
// ("ERR ...") when the command is over one.
core::Status validate_command(const Command& command);

}  // namespace keel::node
