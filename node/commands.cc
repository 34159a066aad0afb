#include "node/commands.h"

#include <limits>

namespace keel::node {

using core::Bytes;
using core::ByteView;

namespace {

void put_bytes(Bytes& out, ByteView b) {
  core::put_u32(out, static_cast<uint32_t>(b.size()));
  out.append(b.data(), b.size());
}

// A bounds-checked cursor over bytes received from the log. Every read
// reports truncation instead of reading past the end.
class Reader {
 public:
  explicit Reader(ByteView data) : data_(data) {}

  bool u8(uint8_t& v) {
    if (data_.size() - pos_ < 1) return false;
    v = static_cast<uint8_t>(data_[pos_++]);
    return true;
  }
  bool u32(uint32_t& v) {
    if (data_.size() - pos_ < 4) return false;
    v = core::get_u32(data_.data() + pos_);
    pos_ += 4;
    return true;
  }
  bool u64(uint64_t& v) {
    if (data_.size() - pos_ < 8) return false;
    v = core::get_u64(data_.data() + pos_);
    pos_ += 8;
    return true;
  }
  // A length-prefixed string no longer than `max`.
  bool bytes(Bytes& v, size_t max) {
    uint32_t n = 0;
    if (!u32(n) || n > max || data_.size() - pos_ < n) return false;
    v.assign(data_.data() + pos_, n);
    pos_ += n;
    return true;
  }
  bool done() const { return pos_ == data_.size(); }

 private:
  ByteView data_;
  size_t pos_ = 0;
};

core::Status bad_command(const char* what) { return core::corruption(std::string("command: ") + what); }

struct Encoder {
  Bytes& out;
  void operator()(const SetCommand& c) {
    out.push_back(static_cast<char>(CommandKind::kSet));
    out.push_back(static_cast<char>(c.condition));
    out.push_back(static_cast<char>(c.get ? 1 : 0));
    put_bytes(out, c.key);
    put_bytes(out, c.value);
    put_bytes(out, c.expected);
  }
  void operator()(const DelCommand& c) {
    out.push_back(static_cast<char>(CommandKind::kDel));
    core::put_u32(out, static_cast<uint32_t>(c.keys.size()));
    for (const Bytes& k : c.keys) put_bytes(out, k);
  }
  void operator()(const IncrByCommand& c) {
    out.push_back(static_cast<char>(CommandKind::kIncrBy));
    put_bytes(out, c.key);
    core::put_u64(out, static_cast<uint64_t>(c.delta));
  }
  void operator()(const MSetCommand& c) {
    out.push_back(static_cast<char>(CommandKind::kMSet));
    core::put_u32(out, static_cast<uint32_t>(c.pairs.size()));
    for (const auto& [k, v] : c.pairs) {
      put_bytes(out, k);
      put_bytes(out, v);
    }
  }
  void operator()(const AppendCommand& c) {
    out.push_back(static_cast<char>(CommandKind::kAppend));
    put_bytes(out, c.key);
    put_bytes(out, c.value);
  }
};

// The writes of one command, seen by its own later reads (MSET k 1 k 2,
// DEL k k): an overlay over the reader.
class Overlay {
 public:
  explicit Overlay(const KeyReader& read) : read_(read) {}

  core::Result<std::optional<Bytes>> get(ByteView key) {
    auto it = writes_.find(key);
    if (it != writes_.end()) return it->second;
    return read_(key);
  }
  // Records the new value of `key`; `before` is its value before this
  // command touched it the first time (for the key count).
  core::Status set(ByteView key, std::optional<Bytes> value) {
    auto it = writes_.find(key);
    if (it == writes_.end()) {
      KEEL_TRY_ASSIGN(std::optional<Bytes> before, read_(key));
      existed_[Bytes(key)] = before.has_value();
      writes_.emplace(Bytes(key), std::move(value));
    } else {
      it->second = std::move(value);
    }
    return core::Status::ok();
  }
  void finish(ApplyOutcome& out) {
    for (const auto& [key, value] : writes_) {
      const bool existed = existed_.at(key);
      if (existed && !value) --out.keys_delta;
      if (!existed && value) ++out.keys_delta;
    }
    out.writes = std::move(writes_);
  }

 private:
  const KeyReader& read_;
  std::map<Bytes, std::optional<Bytes>, std::less<>> writes_;
  std::map<Bytes, bool, std::less<>> existed_;
};

ApplyOutcome error_outcome(ByteView message) {
  ApplyOutcome out;
  out.reply = CommandReply::error(message);
  return out;
}

core::Status limit_error(std::string message) { return core::invalid_argument("ERR " + std::move(message)); }

core::Status check_key(ByteView key) {
  if (key.size() > kUserKeyBytesMax) {
    return limit_error("key of " + std::to_string(key.size()) + " bytes is over the maximum of " +
                       std::to_string(kUserKeyBytesMax));
  }
  return core::Status::ok();
}

core::Status check_value(size_t bytes) {
  if (bytes > kUserValueBytesMax) return limit_error("string exceeds maximum allowed size (" + std::to_string(kUserValueBytesMax) + " bytes)");
  return core::Status::ok();
}

core::Status check_count(size_t n) {
  if (n == 0) return limit_error("a command needs at least one key");
  if (n > kCommandKeysMax) {
    return limit_error("too many keys in one command: " + std::to_string(n) + ", at most " +
                       std::to_string(kCommandKeysMax));
  }
  return core::Status::ok();
}

struct Validator {
  core::Status operator()(const SetCommand& c) const {
    KEEL_TRY(check_key(c.key));
    KEEL_TRY(check_value(c.value.size()));
    return check_value(c.expected.size());
  }
  core::Status operator()(const DelCommand& c) const {
    KEEL_TRY(check_count(c.keys.size()));
    for (const Bytes& k : c.keys) KEEL_TRY(check_key(k));
    return core::Status::ok();
  }
  core::Status operator()(const IncrByCommand& c) const { return check_key(c.key); }
  core::Status operator()(const MSetCommand& c) const {
    KEEL_TRY(check_count(c.pairs.size()));
    for (const auto& [k, v] : c.pairs) {
      KEEL_TRY(check_key(k));
      KEEL_TRY(check_value(v.size()));
    }
    return core::Status::ok();
  }
  core::Status operator()(const AppendCommand& c) const {
    KEEL_TRY(check_key(c.key));
    return check_value(c.value.size());
  }
};

struct Applier {
  Overlay& state;

  core::Result<CommandReply> operator()(const SetCommand& c) {
    KEEL_TRY_ASSIGN(std::optional<Bytes> current, state.get(c.key));
    bool write = true;
    switch (c.condition) {
      case SetCondition::kNone: break;
      case SetCondition::kNx: write = !current.has_value(); break;
      case SetCondition::kXx: write = current.has_value(); break;
      case SetCondition::kIfEq: write = current.has_value() && *current == c.expected; break;
    }
    if (write) KEEL_TRY(state.set(c.key, c.value));
    if (c.get) return CommandReply::optional_bulk(current);
    return write ? CommandReply::ok() : CommandReply::nil();
  }

  core::Result<CommandReply> operator()(const DelCommand& c) {
    int64_t removed = 0;
    for (const Bytes& key : c.keys) {
      KEEL_TRY_ASSIGN(std::optional<Bytes> current, state.get(key));
      if (!current) continue;
      KEEL_TRY(state.set(key, std::nullopt));
      ++removed;
    }
    return CommandReply::integer_value(removed);
  }

  core::Result<CommandReply> operator()(const IncrByCommand& c) {
    KEEL_TRY_ASSIGN(std::optional<Bytes> current, state.get(c.key));
    int64_t value = 0;
    if (current) {
      std::optional<int64_t> parsed = parse_int64(*current);
      if (!parsed) return CommandReply::error(kNotIntegerError);
      value = *parsed;
    }
    int64_t result = 0;
    if (__builtin_add_overflow(value, c.delta, &result)) return CommandReply::error(kOverflowError);
    KEEL_TRY(state.set(c.key, std::to_string(result)));
    return CommandReply::integer_value(result);
  }

  core::Result<CommandReply> operator()(const MSetCommand& c) {
    for (const auto& [key, value] : c.pairs) KEEL_TRY(state.set(key, value));
    return CommandReply::ok();
  }

  core::Result<CommandReply> operator()(const AppendCommand& c) {
    KEEL_TRY_ASSIGN(std::optional<Bytes> current, state.get(c.key));
    Bytes next = current ? std::move(*current) : Bytes();
    // Checked before growing, so a hostile sequence of APPENDs cannot build
    // a value the engine would refuse.
    core::Status size_ok = check_value(next.size() + c.value.size());
    if (!size_ok.is_ok()) return CommandReply::error(size_ok.message());
    next += c.value;
    const auto length = static_cast<int64_t>(next.size());
    KEEL_TRY(state.set(c.key, std::move(next)));
    return CommandReply::integer_value(length);
  }
};

}  // namespace

Bytes encode_command(const Command& command) {
  Bytes out;
  out.push_back(static_cast<char>(kCommandVersion));
  std::visit(Encoder{out}, command);
  return out;
}

core::Result<Command> decode_command(ByteView bytes) {
  Reader r(bytes);
  uint8_t version = 0;
  uint8_t kind = 0;
  if (!r.u8(version)) return bad_command("empty");
  if (version != kCommandVersion) return bad_command("unknown version");
  if (!r.u8(kind)) return bad_command("truncated kind");
  Command command;
  switch (static_cast<CommandKind>(kind)) {
    case CommandKind::kSet: {
      SetCommand c;
      uint8_t condition = 0;
      uint8_t get = 0;
      if (!r.u8(condition) || !r.u8(get)) return bad_command("truncated SET");
      if (condition > static_cast<uint8_t>(SetCondition::kIfEq) || get > 1) return bad_command("bad SET flags");
      c.condition = static_cast<SetCondition>(condition);
      c.get = get == 1;
      if (!r.bytes(c.key, kUserKeyBytesMax) || !r.bytes(c.value, kUserValueBytesMax) ||
          !r.bytes(c.expected, kUserValueBytesMax)) {
        return bad_command("bad SET field");
      }
      if (c.condition != SetCondition::kIfEq && !c.expected.empty()) return bad_command("SET expected without IFEQ");
      command = std::move(c);
      break;
    }
    case CommandKind::kDel: {
      DelCommand c;
      uint32_t n = 0;
      if (!r.u32(n) || n == 0 || n > kCommandKeysMax) return bad_command("bad DEL count");
      c.keys.resize(n);
      for (Bytes& k : c.keys) {
        if (!r.bytes(k, kUserKeyBytesMax)) return bad_command("bad DEL key");
      }
      command = std::move(c);
      break;
    }
    case CommandKind::kIncrBy: {
      IncrByCommand c;
      uint64_t delta = 0;
      if (!r.bytes(c.key, kUserKeyBytesMax) || !r.u64(delta)) return bad_command("bad INCRBY field");
      c.delta = static_cast<int64_t>(delta);
      command = std::move(c);
      break;
    }
    case CommandKind::kMSet: {
      MSetCommand c;
      uint32_t n = 0;
      if (!r.u32(n) || n == 0 || n > kCommandKeysMax) return bad_command("bad MSET count");
      c.pairs.resize(n);
      for (auto& [k, v] : c.pairs) {
        if (!r.bytes(k, kUserKeyBytesMax) || !r.bytes(v, kUserValueBytesMax)) return bad_command("bad MSET pair");
      }
      command = std::move(c);
      break;
    }
    case CommandKind::kAppend: {
      AppendCommand c;
      if (!r.bytes(c.key, kUserKeyBytesMax) || !r.bytes(c.value, kUserValueBytesMax)) {
        return bad_command("bad APPEND field");
      }
      command = std::move(c);
      break;
    }
    default:
      return bad_command("unknown kind");
  }
  if (!r.done()) return bad_command("trailing bytes");
  return command;
}

Bytes encode_reply(const CommandReply& reply) {
  Bytes out;
  out.push_back(static_cast<char>(kReplyVersion));
  out.push_back(static_cast<char>(reply.kind));
  switch (reply.kind) {
    case CommandReply::Kind::kOk:
    case CommandReply::Kind::kNil: break;
    case CommandReply::Kind::kInteger: core::put_u64(out, static_cast<uint64_t>(reply.integer)); break;
    case CommandReply::Kind::kBulk:
    case CommandReply::Kind::kError: put_bytes(out, reply.text); break;
  }
  return out;
}

core::Result<CommandReply> decode_reply(ByteView bytes) {
  Reader r(bytes);
  uint8_t version = 0;
  uint8_t kind = 0;
  if (!r.u8(version) || version != kReplyVersion || !r.u8(kind)) return core::corruption("reply: bad header");
  CommandReply reply;
  switch (static_cast<CommandReply::Kind>(kind)) {
    case CommandReply::Kind::kOk: reply = CommandReply::ok(); break;
    case CommandReply::Kind::kNil: reply = CommandReply::nil(); break;
    case CommandReply::Kind::kInteger: {
      uint64_t v = 0;
      if (!r.u64(v)) return core::corruption("reply: truncated integer");
      reply = CommandReply::integer_value(static_cast<int64_t>(v));
      break;
    }
    case CommandReply::Kind::kBulk:
    case CommandReply::Kind::kError: {
      reply.kind = static_cast<CommandReply::Kind>(kind);
      if (!r.bytes(reply.text, kUserValueBytesMax)) return core::corruption("reply: bad string");
      break;
    }
    default:
      return core::corruption("reply: unknown kind");
  }
  if (!r.done()) return core::corruption("reply: trailing bytes");
  return reply;
}

std::optional<int64_t> parse_int64(ByteView text) {
  if (text.empty() || text.size() > 20) return std::nullopt;
  size_t i = 0;
  const bool negative = text[0] == '-';
  if (negative) i = 1;
  if (i == text.size()) return std::nullopt;
  if (text[i] == '0') {
    // Only a lone "0" may start with a zero ("-0" and "01" are refused,
    // as Redis refuses them).
    if (text.size() == 1) return 0;
    return std::nullopt;
  }
  // Accumulate as a negative number, which has the larger range.
  int64_t value = 0;
  for (; i < text.size(); ++i) {
    const char ch = text[i];
    if (ch < '0' || ch > '9') return std::nullopt;
    if (__builtin_mul_overflow(value, 10, &value)) return std::nullopt;
    if (__builtin_sub_overflow(value, ch - '0', &value)) return std::nullopt;
  }
  if (negative) return value;
  if (value == std::numeric_limits<int64_t>::min()) return std::nullopt;
  return -value;
}

core::Status validate_command(const Command& command) { return std::visit(Validator{}, command); }

core::Result<ApplyOutcome> apply_command(const Command& command, const KeyReader& read) {
  core::Status valid = validate_command(command);
  if (!valid.is_ok()) return error_outcome(valid.message());
  Overlay state(read);
  KEEL_TRY_ASSIGN(CommandReply reply, std::visit(Applier{state}, command));
  ApplyOutcome out;
  // A failed command (an error reply) writes nothing.
  if (reply.kind != CommandReply::Kind::kError) state.finish(out);
  out.reply = std::move(reply);
  return out;
}

}  // namespace keel::node
