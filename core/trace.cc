#include "core/trace.h"

#include <xxhash.h>

#include <cstdio>

#include "core/assert.h"
#include "core/env.h"

namespace keel::core {

struct TraceLog::State {
  XXH3_state_t* xxh = nullptr;
};

TraceLog::TraceLog() : state_(std::make_unique<State>()) {
  state_->xxh = XXH3_createState();
  KEEL_ASSERT(state_->xxh != nullptr);
  KEEL_ASSERT(XXH3_64bits_reset(state_->xxh) == XXH_OK);
}

TraceLog::~TraceLog() { XXH3_freeState(state_->xxh); }

std::string_view log_level_name(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug: return "debug";
    case LogLevel::kInfo: return "info";
    case LogLevel::kWarn: return "warn";
    case LogLevel::kError: return "error";
    case LogLevel::kOff: return "off";
  }
  return "?";
}

bool parse_log_level(std::string_view text, LogLevel* out) {
  for (LogLevel l : {LogLevel::kDebug, LogLevel::kInfo, LogLevel::kWarn, LogLevel::kError, LogLevel::kOff}) {
    if (text == log_level_name(l)) {
      *out = l;
      return true;
    }
  }
  return false;
}

void append_json_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    const auto uc = static_cast<unsigned char>(c);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (uc < 0x20 || uc >= 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", uc);
          out += buf;
        } else {
          out += c;
        }
    }
  }
}

void TraceLog::record(Instant at, std::string_view source, std::string_view kind,
                      std::initializer_list<TraceField> fields) {
  ++events_;
  XXH3_state_t* s = state_->xxh;
  const int64_t t = at.ns();
  XXH3_64bits_update(s, &t, sizeof t);
  XXH3_64bits_update(s, source.data(), source.size());
  XXH3_64bits_update(s, "\0", 1);
  XXH3_64bits_update(s, kind.data(), kind.size());
  XXH3_64bits_update(s, "\0", 1);
  for (const TraceField& f : fields) {
    XXH3_64bits_update(s, f.key.data(), f.key.size());
    switch (f.kind) {
      case TraceField::Kind::kInt: XXH3_64bits_update(s, &f.i, sizeof f.i); break;
      case TraceField::Kind::kUint:
      case TraceField::Kind::kBool: XXH3_64bits_update(s, &f.u, sizeof f.u); break;
      case TraceField::Kind::kText:
        XXH3_64bits_update(s, f.text.data(), f.text.size());
        XXH3_64bits_update(s, "\0", 1);
        break;
    }
  }
  if (!sink_) return;
  std::string line;
  line.reserve(96);
  line += "{\"t_ns\":";
  line += std::to_string(t);
  line += ",\"src\":\"";
  append_json_escaped(line, source);
  line += "\",\"ev\":\"";
  append_json_escaped(line, kind);
  line += '"';
  for (const TraceField& f : fields) {
    line += ",\"";
    append_json_escaped(line, f.key);
    line += "\":";
    switch (f.kind) {
      case TraceField::Kind::kInt: line += std::to_string(f.i); break;
      case TraceField::Kind::kUint: line += std::to_string(f.u); break;
      case TraceField::Kind::kBool: line += f.u != 0 ? "true" : "false"; break;
      case TraceField::Kind::kText:
        line += '"';
        append_json_escaped(line, f.text);
        line += '"';
        break;
    }
  }
  line += '}';
  sink_(line);
}

void TraceLog::log(Instant at, std::string_view source, LogLevel level, std::string_view message) {
  if (!sink_ || level < log_level_) return;
  std::string line;
  line += "{\"t_ns\":";
  line += std::to_string(at.ns());
  line += ",\"src\":\"";
  append_json_escaped(line, source);
  line += "\",\"level\":\"";
  line += log_level_name(level);
  line += "\",\"msg\":\"";
  append_json_escaped(line, message);
  line += "\"}";
  sink_(line);
}

uint64_t TraceLog::digest() const { return XXH3_64bits_digest(state_->xxh); }

Instant Tracer::now() const { return clock_ != nullptr ? clock_->now() : Instant(); }

void Tracer::event(std::string_view kind, std::initializer_list<TraceField> fields) {
  log_.record(now(), source_, kind, fields);
}

void Tracer::log(LogLevel level, std::string_view message) { log_.log(now(), source_, level, message); }

}  // namespace keel::core
