#include "net/resp/command.h"

#include <array>

#include "core/assert.h"

namespace keel::net::resp {

namespace {

constexpr uint32_t W = kCommandWrite;
constexpr uint32_t R = kCommandReadonly;
constexpr uint32_t C = kCommandConnection;
constexpr uint32_t N = kCommandNoAuth;

// Arity and key positions as redis-server declares them.
constexpr std::array<CommandSpec, 25> kCommands = {{
    {"append", 3, W, 1, 1, 1},
    {"auth", -2, C | N, 0, 0, 0},
    {"client", -2, C, 0, 0, 0},
    {"cluster", -2, 0, 0, 0, 0},
    {"command", -1, 0, 0, 0, 0},
    {"dbsize", 1, R, 0, 0, 0},
    {"decr", 2, W, 1, 1, 1},
    {"decrby", 3, W, 1, 1, 1},
    {"del", -2, W, 1, -1, 1},
    {"echo", 2, 0, 0, 0, 0},
    {"exists", -2, R, 1, -1, 1},
    {"get", 2, R, 1, 1, 1},
    {"hello", -1, C | N, 0, 0, 0},
    {"incr", 2, W, 1, 1, 1},
    {"incrby", 3, W, 1, 1, 1},
    {"info", -1, 0, 0, 0, 0},
    {"mget", -2, R, 1, -1, 1},
    {"mset", -3, W, 1, -1, 2},
    {"ping", -1, 0, 0, 0, 0},
    {"quit", -1, C | N, 0, 0, 0},
    {"readonly", 1, C, 0, 0, 0},
    {"readwrite", 1, C, 0, 0, 0},
    {"select", 2, C, 0, 0, 0},
    {"set", -3, W, 1, 1, 1},
    {"strlen", 2, R, 1, 1, 1},
}};

// Redis error texts quote at most this many bytes of client input.
constexpr size_t kQuotedBytesMax = 128;

constexpr char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool equals_lowercase(core::ByteView candidate, std::string_view lowercase_name) {
  if (candidate.size() != lowercase_name.size()) return false;
  for (size_t i = 0; i < candidate.size(); ++i) {
    if (lower(candidate[i]) != lowercase_name[i]) return false;
  }
  return true;
}

constexpr std::array<uint16_t, 256> make_crc16_table() {
  std::array<uint16_t, 256> table{};
  for (unsigned i = 0; i < 256; ++i) {
    uint16_t crc = static_cast<uint16_t>(i << 8);
    for (int bit = 0; bit < 8; ++bit) {
      crc = static_cast<uint16_t>((crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1);
    }
    table[i] = crc;
  }
  return table;
}

constexpr std::array<uint16_t, 256> kCrc16Table = make_crc16_table();

}  // namespace

std::span<const CommandSpec> command_table() { return kCommands; }

const CommandSpec* find_command(core::ByteView name) {
  for (const CommandSpec& spec : kCommands) {
    if (equals_lowercase(name, spec.name)) return &spec;
  }
  return nullptr;
}

bool arity_ok(const CommandSpec& spec, size_t argc) {
  KEEL_ASSERT(spec.arity != 0);
  if (spec.arity > 0) return argc == static_cast<size_t>(spec.arity);
  return argc >= static_cast<size_t>(-spec.arity);
}

std::string wrong_arity_error(std::string_view name) {
  return "ERR wrong number of arguments for '" + std::string(name) + "' command";
}

std::string unknown_command_error(const Argv& argv) {
  KEEL_ASSERT(!argv.empty());
  std::string args;
  for (size_t i = 1; i < argv.size() && args.size() < kQuotedBytesMax; ++i) {
    size_t room = kQuotedBytesMax - args.size();
    args += '\'';
    args += core::ByteView(argv[i]).substr(0, room);
    args += "' ";
  }
  return "ERR unknown command '" + std::string(core::ByteView(argv[0]).substr(0, kQuotedBytesMax)) +
         "', with args beginning with: " + args;
}

core::Result<const CommandSpec*> resolve_command(const Argv& argv) {
  KEEL_ASSERT(!argv.empty());
  const CommandSpec* spec = find_command(argv[0]);
  if (spec == nullptr) return core::invalid_argument(unknown_command_error(argv));
  if (!arity_ok(*spec, argv.size())) return core::invalid_argument(wrong_arity_error(spec->name));
  return spec;
}

std::vector<size_t> key_positions(const CommandSpec& spec, size_t argc) {
  std::vector<size_t> keys;
  if (spec.first_key <= 0) return keys;
  KEEL_ASSERT(spec.key_step > 0);
  size_t last = spec.last_key < 0 ? argc - static_cast<size_t>(-spec.last_key) : static_cast<size_t>(spec.last_key);
  for (size_t i = static_cast<size_t>(spec.first_key); i <= last && i < argc; i += static_cast<size_t>(spec.key_step)) {
    keys.push_back(i);
  }
  return keys;
}

uint16_t crc16(core::ByteView data) {
  uint16_t crc = 0;
  for (char c : data) {
    auto byte = static_cast<unsigned char>(c);
    crc = static_cast<uint16_t>((crc << 8) ^ kCrc16Table[((crc >> 8) ^ byte) & 0xff]);
  }
  return crc;
}

uint16_t key_slot(core::ByteView key) {
  size_t open = key.find('{');
  if (open != core::ByteView::npos) {
    size_t close = key.find('}', open + 1);
    if (close != core::ByteView::npos && close > open + 1) key = key.substr(open + 1, close - open - 1);
  }
  return static_cast<uint16_t>(crc16(key) % kSlotCount);
}

}  // namespace keel::net::resp
