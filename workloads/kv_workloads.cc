#include "workloads/kv_workloads.h"

#include "net/resp/wire.h"

namespace keel::workloads {

using net::resp::Type;
using net::resp::Value;

std::optional<KvWorkload> parse_kv_workload(std::string_view name) {
  if (name == "register") return KvWorkload::kRegister;
  if (name == "counter") return KvWorkload::kCounter;
  if (name == "unique-writes") return KvWorkload::kUniqueWrites;
  return std::nullopt;
}

std::string_view kv_workload_name(KvWorkload workload) {
  switch (workload) {
    case KvWorkload::kRegister: return "register";
    case KvWorkload::kCounter: return "counter";
    case KvWorkload::kUniqueWrites: return "unique-writes";
  }
  return "?";
}

std::vector<std::string> kv_keys(const KvClientConfig& config) {
  std::vector<std::string> keys;
  for (int i = 0; i < config.keys; ++i) keys.push_back(std::string(kv_workload_name(config.workload)) + ":" + std::to_string(i));
  return keys;
}

std::string register_write_value(core::Random& random, const std::optional<std::string>& last_seen,
                                 const std::string& tag, int extend_percent) {
  if (extend_percent <= 0) return tag;
  const bool extend = random.uniform(0, 99) < static_cast<uint64_t>(extend_percent);
  if (!extend || !last_seen || last_seen->size() + 1 + tag.size() > kRegisterValueBytesMax) {
    return tag;
  }
  return *last_seen + "." + tag;
}

int64_t counter_delta(core::Random& random, int large_percent) {
  if (large_percent <= 0 || random.uniform(0, 99) >= static_cast<uint64_t>(large_percent)) {
    return static_cast<int64_t>(random.uniform(1, 5));
  }
  if (random.uniform(0, 1) == 0) {
    return INT64_MAX - static_cast<int64_t>(random.uniform(0, kLargeDeltaSlackMax));
  }
  return INT64_MIN +
         static_cast<int64_t>(random.uniform(kLargeDeltaSlackMax + 2, 2 * kLargeDeltaSlackMax + 2));
}

namespace {

enum class Fate { kOk, kFail, kUnknown };

// How a call ended, from the history's point of view.
Fate fate_of(const core::Result<Value>& reply) {
  if (!reply.is_ok()) return reply.status().code() == core::Code::kUnavailable ? Fate::kFail : Fate::kUnknown;
  if (reply->type == Type::kError) return error_is_definite(*reply) ? Fate::kFail : Fate::kUnknown;
  return Fate::kOk;
}

}  // namespace

void run_kv_client(core::Env& env, RespClient& client, History& history, const KvClientConfig& config,
                   const std::function<core::Instant()>& history_now, const std::function<bool()>& stop) {
  const std::vector<std::string> keys = kv_keys(config);
  ClientId id(config.first_client_id);
  uint64_t n = 0;
  std::map<std::string, std::string> last_seen;
  const int read_percent =
      config.read_percent >= 0 ? config.read_percent : config.workload == KvWorkload::kCounter ? 30 : 40;
  while (!stop() && (config.ops_max == 0 || n < config.ops_max)) {
    const std::string& key = keys[env.random.uniform(0, keys.size() - 1)];
    const std::string tag = "c" + std::to_string(id.value()) + "-" + std::to_string(++n);
    OpId op = 0;
    core::Result<Value> reply = core::unavailable("not sent");
    const uint64_t dice = env.random.uniform(0, 99);
    Fate fate = Fate::kFail;
    switch (config.workload) {
      case KvWorkload::kRegister: {
        if (dice < static_cast<uint64_t>(read_percent)) {
          op = history.invoke_read(id, key, history_now());
          reply = client.call({"GET", key});
          fate = fate_of(reply);
          if (fate == Fate::kOk && reply->type != Type::kBulkString && reply->type != Type::kNull) fate = Fate::kUnknown;
          if (fate == Fate::kOk) {
            std::optional<std::string> v;
            if (reply->type == Type::kBulkString) v = reply->str;
            if (v) last_seen[key] = *v;
            history.complete_read(op, history_now(), v);
          }
        } else if (dice < static_cast<uint64_t>(read_percent + (100 - read_percent) * (100 - config.cas_percent) / 100) ||
                   last_seen.count(key) == 0) {
          auto seen = last_seen.find(key);
          const std::optional<std::string> seen_value =
              seen == last_seen.end() ? std::nullopt : std::optional<std::string>(seen->second);
          const std::string value = register_write_value(env.random, seen_value, tag, config.extend_percent);
          op = history.invoke_write(id, key, value, history_now());
          reply = client.call({"SET", key, value});
          fate = fate_of(reply);
          if (fate == Fate::kOk) history.complete_write(op, history_now());
        } else {
          const std::string expected = last_seen[key];
          op = history.invoke_cas(id, key, expected, tag, history_now());
          reply = client.call({"SET", key, tag, "IFEQ", expected});
          fate = fate_of(reply);
          if (fate == Fate::kOk) history.complete_cas(op, history_now(), reply->type != Type::kNull);
        }
        break;
      }
      case KvWorkload::kCounter: {
        if (dice < static_cast<uint64_t>(read_percent)) {
          op = history.invoke_read(id, key, history_now());
          reply = client.call({"GET", key});
          fate = fate_of(reply);
          if (fate == Fate::kOk) {
            std::optional<std::string> v;
            if (reply->type == Type::kBulkString) v = reply->str;
            history.complete_read(op, history_now(), v);
          }
        } else {
          const int64_t delta = counter_delta(env.random, config.large_delta_percent);
          op = history.invoke_incr(id, key, delta, history_now());
          reply = client.call({"INCRBY", key, std::to_string(delta)});
          fate = fate_of(reply);
          if (fate == Fate::kOk && reply->type != Type::kInteger) fate = Fate::kUnknown;
          if (fate == Fate::kOk) history.complete_incr(op, history_now(), reply->integer);
        }
        break;
      }
      case KvWorkload::kUniqueWrites: {
        op = history.invoke_append(id, key, tag, history_now());
        reply = client.call({"APPEND", key, tag + ","});
        fate = fate_of(reply);
        // APPEND answers with the value's new length; anything else is a
        // reply the client cannot interpret.
        if (fate == Fate::kOk && reply->type != Type::kInteger) fate = Fate::kUnknown;
        if (fate == Fate::kOk) history.complete_append(op, history_now(), reply->integer);
        break;
      }
    }
    if (fate != Fate::kOk && config.wander_percent > 0 &&
        env.random.uniform(0, 99) < static_cast<uint64_t>(config.wander_percent)) {
      client.move_on();
    }
    if (fate == Fate::kFail) {
      history.fail(op, history_now());
      env.sleep_for(core::Duration::millis(static_cast<int64_t>(env.random.uniform(5, 50))));
    } else if (fate == Fate::kUnknown) {
      history.indeterminate(op, history_now());
      id = ClientId(id.value() + config.clients_stride);
      env.sleep_for(core::Duration::millis(static_cast<int64_t>(env.random.uniform(5, 50))));
    }
    env.sleep_for(env.random.uniform_duration(core::Duration::zero(), config.think_time_max));
  }
}

core::Result<FinalState> read_final_state(core::Env& env, RespClient& client, const KvClientConfig& config,
                                          const std::function<bool()>& give_up) {
  FinalState state;
  for (const std::string& key : kv_keys(config)) {
    for (;;) {
      if (give_up()) return core::deadline_exceeded("final read of " + key + " did not succeed in time");
      auto reply = client.call({"GET", key});
      if (reply.is_ok() && (reply->type == Type::kBulkString || reply->type == Type::kNull)) {
        std::optional<std::string> v;
        if (reply->type == Type::kBulkString) v = reply->str;
        if (config.workload == KvWorkload::kUniqueWrites) {
          state.elements[key] = v ? split_elements(*v, ',') : std::vector<std::string>();
        } else {
          state.values[key] = v;
        }
        break;
      }
      env.sleep_for(core::Duration::millis(50));
    }
  }
  return state;
}

}  // namespace keel::workloads
