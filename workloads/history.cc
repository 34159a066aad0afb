#include "workloads/history.h"

#include "core/trace.h"

#include <algorithm>
#include <cstdio>
#include <set>

#include "core/assert.h"

namespace keel::workloads {

namespace {

// Values longer than this are cut in readable dumps; JSON keeps them whole.
constexpr size_t kDescribeValueBytesMax = 40;

}  // namespace

std::string quote_bytes(std::string_view s) {
  std::string out = "\"";
  size_t n = std::min(s.size(), kDescribeValueBytesMax);
  for (size_t i = 0; i < n; ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += static_cast<char>(c);
    } else if (c < 0x20 || c >= 0x7f) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\x%02x", c);
      out += buf;
    } else {
      out += static_cast<char>(c);
    }
  }
  if (s.size() > n) out += "...";
  out += '"';
  return out;
}

namespace {

std::string time_string(core::Instant t) {
  if (t == kInstantInfinity) return "inf";
  return core::Duration::nanos(t.ns()).to_string();
}

void json_string(std::string& out, std::string_view s) {
  out += '"';
  core::append_json_escaped(out, s);
  out += '"';
}

}  // namespace

std::string_view op_kind_name(OpKind kind) {
  switch (kind) {
    case OpKind::kRead: return "read";
    case OpKind::kWrite: return "write";
    case OpKind::kCas: return "cas";
    case OpKind::kIncr: return "incr";
    case OpKind::kAppend: return "append";
  }
  KEEL_UNREACHABLE();
}

std::string_view outcome_name(Outcome outcome) {
  switch (outcome) {
    case Outcome::kPending: return "pending";
    case Outcome::kOk: return "ok";
    case Outcome::kFail: return "fail";
    case Outcome::kIndeterminate: return "indeterminate";
  }
  KEEL_UNREACHABLE();
}

std::string describe(const Operation& op) {
  std::string s = "#" + std::to_string(op.id) + " c" + op.client.to_string() + " " +
                  std::string(op_kind_name(op.kind)) + " " + quote_bytes(op.key);
  switch (op.kind) {
    case OpKind::kRead: break;
    case OpKind::kWrite:
    case OpKind::kAppend: s += " " + quote_bytes(op.value); break;
    case OpKind::kCas: s += " " + quote_bytes(op.expected) + "->" + quote_bytes(op.value); break;
    case OpKind::kIncr: s += " " + std::to_string(op.delta); break;
  }
  s += " [" + time_string(op.invoke_time) + ", ";
  s += op.outcome == Outcome::kPending ? std::string("?") : time_string(op.complete_time);
  s += "] " + std::string(outcome_name(op.outcome));
  if (op.outcome == Outcome::kOk) {
    switch (op.kind) {
      case OpKind::kRead: s += " -> " + (op.read_value ? quote_bytes(*op.read_value) : "nil"); break;
      case OpKind::kCas: s += op.cas_applied ? " applied" : " not-applied"; break;
      case OpKind::kIncr: s += " -> " + std::to_string(op.incr_result); break;
      case OpKind::kAppend:
        if (op.append_length) s += " -> length " + std::to_string(*op.append_length);
        break;
      case OpKind::kWrite: break;
    }
  }
  return s;
}

OpId History::start(ClientId client, std::string key, OpKind kind, core::Instant now) {
  Operation op;
  op.id = ops_.size();
  op.client = client;
  op.key = std::move(key);
  op.kind = kind;
  op.invoke_time = now;
  ops_.push_back(std::move(op));
  return ops_.back().id;
}

OpId History::invoke_read(ClientId client, std::string key, core::Instant now) {
  return start(client, std::move(key), OpKind::kRead, now);
}

OpId History::invoke_write(ClientId client, std::string key, std::string value, core::Instant now) {
  OpId id = start(client, std::move(key), OpKind::kWrite, now);
  ops_[id].value = std::move(value);
  return id;
}

OpId History::invoke_cas(ClientId client, std::string key, std::string expected, std::string value,
                         core::Instant now) {
  OpId id = start(client, std::move(key), OpKind::kCas, now);
  ops_[id].expected = std::move(expected);
  ops_[id].value = std::move(value);
  return id;
}

OpId History::invoke_incr(ClientId client, std::string key, int64_t delta, core::Instant now) {
  OpId id = start(client, std::move(key), OpKind::kIncr, now);
  ops_[id].delta = delta;
  return id;
}

OpId History::invoke_append(ClientId client, std::string key, std::string element,
                            core::Instant now) {
  OpId id = start(client, std::move(key), OpKind::kAppend, now);
  ops_[id].value = std::move(element);
  return id;
}

Operation& History::pending(OpId id, core::Instant now) {
  KEEL_ASSERT(id < ops_.size());
  Operation& op = ops_[id];
  KEEL_ASSERT_MSG(op.outcome == Outcome::kPending, "operation completed twice");
  KEEL_ASSERT_MSG(now >= op.invoke_time, "completion before invocation");
  op.complete_time = now;
  return op;
}

void History::complete_read(OpId id, core::Instant now, std::optional<std::string> value) {
  Operation& op = pending(id, now);
  KEEL_ASSERT(op.kind == OpKind::kRead);
  op.read_value = std::move(value);
  op.outcome = Outcome::kOk;
}

void History::complete_write(OpId id, core::Instant now) {
  Operation& op = pending(id, now);
  KEEL_ASSERT(op.kind == OpKind::kWrite);
  op.outcome = Outcome::kOk;
}

void History::complete_cas(OpId id, core::Instant now, bool applied) {
  Operation& op = pending(id, now);
  KEEL_ASSERT(op.kind == OpKind::kCas);
  op.cas_applied = applied;
  op.outcome = Outcome::kOk;
}

void History::complete_incr(OpId id, core::Instant now, int64_t new_value) {
  Operation& op = pending(id, now);
  KEEL_ASSERT(op.kind == OpKind::kIncr);
  op.incr_result = new_value;
  op.outcome = Outcome::kOk;
}

void History::complete_append(OpId id, core::Instant now, std::optional<int64_t> new_length) {
  Operation& op = pending(id, now);
  KEEL_ASSERT(op.kind == OpKind::kAppend);
  op.append_length = new_length;
  op.outcome = Outcome::kOk;
}

void History::fail(OpId id, core::Instant now) { pending(id, now).outcome = Outcome::kFail; }

void History::indeterminate(OpId id, core::Instant now) {
  pending(id, now).outcome = Outcome::kIndeterminate;
}

OpId History::add(Operation op) {
  if (op.outcome == Outcome::kOk || op.outcome == Outcome::kFail) {
    KEEL_ASSERT_MSG(op.complete_time >= op.invoke_time, "completion before invocation");
  }
  op.id = ops_.size();
  ops_.push_back(std::move(op));
  return ops_.back().id;
}

const Operation& History::op(OpId id) const {
  KEEL_ASSERT(id < ops_.size());
  return ops_[id];
}

std::vector<std::string> History::keys() const {
  std::set<std::string> keys;
  for (const Operation& op : ops_) keys.insert(op.key);
  return {keys.begin(), keys.end()};
}

std::string History::dump_key(std::string_view key, core::Instant from, core::Instant to,
                              size_t ops_max) const {
  std::vector<const Operation*> selected;
  for (const Operation& op : ops_) {
    if (op.key != key) continue;
    if (op.invoke_time > to) continue;
    if (op.effective_complete_time() < from) continue;
    selected.push_back(&op);
  }
  std::stable_sort(selected.begin(), selected.end(), [](const Operation* a, const Operation* b) {
    return a->invoke_time < b->invoke_time;
  });
  std::string out;
  size_t shown = std::min(selected.size(), ops_max);
  for (size_t i = 0; i < shown; ++i) out += "  " + describe(*selected[i]) + "\n";
  if (selected.size() > shown) {
    out += "  ... " + std::to_string(selected.size() - shown) + " more\n";
  }
  return out;
}

std::string History::dump(size_t ops_max) const {
  std::string out;
  size_t shown = std::min(ops_.size(), ops_max);
  for (size_t i = 0; i < shown; ++i) out += "  " + describe(ops_[i]) + "\n";
  if (ops_.size() > shown) out += "  ... " + std::to_string(ops_.size() - shown) + " more\n";
  return out;
}

std::string History::to_jsonl() const {
  std::string out;
  for (const Operation& op : ops_) {
    out += "{\"id\":" + std::to_string(op.id) + ",\"client\":" + op.client.to_string() +
           ",\"key\":";
    json_string(out, op.key);
    out += ",\"kind\":\"" + std::string(op_kind_name(op.kind)) + "\"";
    switch (op.kind) {
      case OpKind::kRead: break;
      case OpKind::kWrite:
      case OpKind::kAppend:
        out += ",\"value\":";
        json_string(out, op.value);
        break;
      case OpKind::kCas:
        out += ",\"expected\":";
        json_string(out, op.expected);
        out += ",\"value\":";
        json_string(out, op.value);
        break;
      case OpKind::kIncr: out += ",\"delta\":" + std::to_string(op.delta); break;
    }
    out += ",\"invoke_ns\":" + std::to_string(op.invoke_time.ns());
    if (op.outcome != Outcome::kPending) {
      out += ",\"complete_ns\":" + std::to_string(op.complete_time.ns());
    }
    out += ",\"outcome\":\"" + std::string(outcome_name(op.outcome)) + "\"";
    if (op.outcome == Outcome::kOk) {
      switch (op.kind) {
        case OpKind::kRead:
          out += ",\"output\":";
          if (op.read_value) {
            json_string(out, *op.read_value);
          } else {
            out += "null";
          }
          break;
        case OpKind::kCas: out += op.cas_applied ? ",\"applied\":true" : ",\"applied\":false"; break;
        case OpKind::kIncr: out += ",\"output\":" + std::to_string(op.incr_result); break;
        case OpKind::kAppend:
          if (op.append_length) out += ",\"output\":" + std::to_string(*op.append_length);
          break;
        case OpKind::kWrite: break;
      }
    }
    out += "}\n";
  }
  return out;
}

}  // namespace keel::workloads
