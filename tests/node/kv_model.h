// A reference model of keel's string commands for differential tests:
// Redis semantics written as plainly as possible over a std::map, and
// RapidCheck generators of commands over a few colliding keys.
#pragma once

#include <rapidcheck.h>

#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "node/commands.h"

namespace keel::testing {

using core::Bytes;
using node::AppendCommand;
using node::Command;
using node::CommandReply;
using node::DelCommand;
using node::IncrByCommand;
using node::MSetCommand;
using node::SetCommand;
using node::SetCondition;

// The reference: Redis string semantics written as plainly as possible.
struct KvModel {
  std::map<Bytes, Bytes> data;

  CommandReply apply(const Command& command) {
    if (const auto* c = std::get_if<SetCommand>(&command)) {
      auto it = data.find(c->key);
      std::optional<Bytes> old;
      if (it != data.end()) old = it->second;
      bool ok = true;
      if (c->condition == SetCondition::kNx) ok = !old;
      if (c->condition == SetCondition::kXx) ok = old.has_value();
      if (c->condition == SetCondition::kIfEq) ok = old && *old == c->expected;
      if (ok) data[c->key] = c->value;
      if (c->get) return CommandReply::optional_bulk(old);
      return ok ? CommandReply::ok() : CommandReply::nil();
    }
    if (const auto* c = std::get_if<DelCommand>(&command)) {
      int64_t n = 0;
      for (const Bytes& k : c->keys) n += static_cast<int64_t>(data.erase(k));
      return CommandReply::integer_value(n);
    }
    if (const auto* c = std::get_if<IncrByCommand>(&command)) {
      long long v = 0;
      auto it = data.find(c->key);
      if (it != data.end()) {
        // Canonical decimal only: what to_string gives back unchanged.
        const Bytes& s = it->second;
        bool digits = !s.empty() && s.size() <= 20;
        for (size_t i = 0; digits && i < s.size(); ++i) digits = (s[i] >= '0' && s[i] <= '9') || (i == 0 && s[i] == '-');
        if (!digits) return CommandReply::error(keel::node::kNotIntegerError);
        try {
          size_t used = 0;
          v = std::stoll(s, &used);
          if (used != s.size() || std::to_string(v) != s) return CommandReply::error(keel::node::kNotIntegerError);
        } catch (const std::out_of_range&) {
          return CommandReply::error(keel::node::kNotIntegerError);
        } catch (const std::invalid_argument&) {
          return CommandReply::error(keel::node::kNotIntegerError);
        }
      }
      long long r = 0;
      if (__builtin_add_overflow(v, static_cast<long long>(c->delta), &r)) {
        return CommandReply::error(keel::node::kOverflowError);
      }
      data[c->key] = std::to_string(r);
      return CommandReply::integer_value(r);
    }
    if (const auto* c = std::get_if<MSetCommand>(&command)) {
      for (const auto& [k, v] : c->pairs) data[k] = v;
      return CommandReply::ok();
    }
    const auto& c = std::get<AppendCommand>(command);
    data[c.key] += c.value;
    return CommandReply::integer_value(static_cast<int64_t>(data[c.key].size()));
  }
};

inline rc::Gen<Bytes> gen_key() { return rc::gen::element<Bytes>("a", "b", Bytes("\0k", 2), "{t}x"); }
inline rc::Gen<Bytes> gen_value() {
  return rc::gen::oneOf(rc::gen::element<Bytes>("", "0", "1", "-7", "01", "+1", " 1", "x", "9223372036854775806",
                                                "9223372036854775807", "-9223372036854775808", Bytes("v\0\r\n", 4)),
                        rc::gen::container<Bytes>(rc::gen::inRange('0', 'z')));
}
inline rc::Gen<int64_t> gen_delta() {
  return rc::gen::oneOf(rc::gen::inRange<int64_t>(-3, 4),
                        rc::gen::element<int64_t>(INT64_MAX, INT64_MIN, INT64_MAX - 1, INT64_MIN + 1));
}

inline rc::Gen<Command> gen_command() {
  return rc::gen::oneOf(
      rc::gen::map(rc::gen::tuple(gen_key(), gen_value(), rc::gen::inRange<int>(0, 4), gen_value(), rc::gen::arbitrary<bool>()),
                   [](const auto& t) {
                     SetCommand c;
                     c.key = std::get<0>(t);
                     c.value = std::get<1>(t);
                     c.condition = static_cast<SetCondition>(std::get<2>(t));
                     if (c.condition == SetCondition::kIfEq) c.expected = std::get<3>(t);
                     c.get = std::get<4>(t);
                     return Command(c);
                   }),
      rc::gen::map(rc::gen::nonEmpty(rc::gen::container<std::vector<Bytes>>(gen_key())),
                   [](std::vector<Bytes> keys) { return Command(DelCommand{std::move(keys)}); }),
      rc::gen::map(rc::gen::tuple(gen_key(), gen_delta()),
                   [](const auto& t) { return Command(IncrByCommand{std::get<0>(t), std::get<1>(t)}); }),
      rc::gen::map(rc::gen::nonEmpty(rc::gen::container<std::vector<std::pair<Bytes, Bytes>>>(
                       rc::gen::pair(gen_key(), gen_value()))),
                   [](std::vector<std::pair<Bytes, Bytes>> pairs) { return Command(MSetCommand{std::move(pairs)}); }),
      rc::gen::map(rc::gen::tuple(gen_key(), gen_value()),
                   [](const auto& t) { return Command(AppendCommand{std::get<0>(t), std::get<1>(t)}); }));
}


// The keys gen_key() draws from.
inline std::vector<Bytes> model_keys() { return {Bytes("a"), Bytes("b"), Bytes("\0k", 2), Bytes("{t}x")}; }

}  // namespace keel::testing
