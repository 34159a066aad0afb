// The command table of keel's Redis front end: which commands exist, how
// many arguments they take (Redis' arity convention), what they may do
// (flags), where their keys are; the exact error texts redis-server uses
// for unknown commands and wrong arity; and the Redis Cluster key -> slot
// function (CRC16/XMODEM mod 16384 with {hash tag} rules).
//
// The table is a compile-time constant; lookups are case-insensitive and
// allocation-free. Error texts are returned without the leading '-', ready
// for ReplyWriter::error().
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "net/resp/value.h"

namespace keel::net::resp {

// Command flags (a bit set in CommandSpec::flags).
enum CommandFlag : uint32_t {
  kCommandWrite = 1u << 0,       // may modify the keyspace: goes through the log
  kCommandReadonly = 1u << 1,    // reads the keyspace only
  kCommandAdmin = 1u << 2,       // administrative (none of today's commands)
  kCommandConnection = 1u << 3,  // acts on the connection, not on data
  kCommandNoAuth = 1u << 4,      // allowed before AUTH succeeds (AUTH, HELLO, QUIT)
};

struct CommandSpec {
  std::string_view name;  // lowercase, as Redis reports it in errors
  // Redis' arity: N > 0 means exactly N words including the name; N < 0
  // means at least -N words.
  int arity = 0;
  uint32_t flags = 0;
  // Key positions in argv, Redis' convention: first_key 0 means no keys;
  // last_key -1 means the last argument; key_step 2 for key/value pairs.
  int first_key = 0;
  int last_key = 0;
  int key_step = 0;

  bool has_flag(CommandFlag f) const { return (flags & f) != 0; }
};

// The whole table, in a fixed order (alphabetical).
std::span<const CommandSpec> command_table();

// The command named `name` in any letter case; nullptr if unknown.
const CommandSpec* find_command(core::ByteView name);

// True when `argc` (words including the name) satisfies the spec's arity.
bool arity_ok(const CommandSpec& spec, size_t argc);

// "ERR wrong number of arguments for 'get' command".
std::string wrong_arity_error(std::string_view name);

// "ERR unknown command 'foo', with args beginning with: 'a' 'b' ", built as
// redis-server builds it: the name cut to 128 bytes; arguments quoted and
// appended while the argument text is shorter than 128 bytes, the last one
// cut so the text stays within 128. Precondition: argv is not empty.
std::string unknown_command_error(const Argv& argv);

// Looks up argv[0] and checks the arity. InvalidArgument whose message is
// the Redis error text (unknown command or wrong arity) when it fails.
// Precondition: argv is not empty.
core::Result<const CommandSpec*> resolve_command(const Argv& argv);

// Indices into argv of the command's keys, for an argv of `argc` words that
// passed the arity check. Empty for keyless commands.
std::vector<size_t> key_positions(const CommandSpec& spec, size_t argc);

// Redis Cluster's hash slots.
inline constexpr uint16_t kSlotCount = 16384;

// CRC16/XMODEM (polynomial 0x1021, initial value 0, no reflection, no final
// xor): the checksum Redis Cluster hashes keys with. crc16("123456789") is
// 0x31c3.
uint16_t crc16(core::ByteView data);

// The slot of `key`: crc16 of its hash tag mod 16384. The hash tag is the
// text between the first '{' and the first '}' after it, if that text is
// not empty; otherwise the whole key.
uint16_t key_slot(core::ByteView key);

}  // namespace keel::net::resp
