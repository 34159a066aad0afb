// Trace: structured events, hashed into a run digest.
//
// TraceLog is the sink of one run (keel-sim) or one process (keeld): every
// recorded event is folded into an xxHash (XXH3) digest and, when a sink is
// set, written as one JSON line. Same seed, same events, same digest: the
// determinism check compares digests of two runs of one seed.
//
// Tracer is a process's handle: it stamps events with the process's clock and
// name. Log lines (Tracer::log) go to the same sink but are not hashed, so
// changing the log level never changes a digest.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <memory>
#include <string>
#include <string_view>

#include "core/cover.h"
#include "core/time.h"

namespace keel::core {

class Clock;

struct TraceField {
  enum class Kind : uint8_t { kInt, kUint, kText, kBool };
  TraceField(std::string_view k, int64_t v) : key(k), kind(Kind::kInt), i(v) {}
  TraceField(std::string_view k, int v) : key(k), kind(Kind::kInt), i(v) {}
  TraceField(std::string_view k, uint64_t v) : key(k), kind(Kind::kUint), u(v) {}
  TraceField(std::string_view k, uint32_t v) : key(k), kind(Kind::kUint), u(v) {}
  TraceField(std::string_view k, bool v) : key(k), kind(Kind::kBool), u(v ? 1 : 0) {}
  TraceField(std::string_view k, std::string_view v) : key(k), kind(Kind::kText), text(v) {}
  TraceField(std::string_view k, const char* v) : key(k), kind(Kind::kText), text(v) {}
  TraceField(std::string_view k, const std::string& v) : key(k), kind(Kind::kText), text(v) {}

  std::string_view key;
  Kind kind;
  int64_t i = 0;
  uint64_t u = 0;
  std::string_view text;
};

enum class LogLevel : uint8_t { kDebug, kInfo, kWarn, kError, kOff };
std::string_view log_level_name(LogLevel level);
// Parses "debug", "info", "warn", "error", "off".
bool parse_log_level(std::string_view text, LogLevel* out);

class TraceLog {
 public:
  using Sink = std::function<void(std::string_view json_line)>;

  TraceLog();
  ~TraceLog();
  TraceLog(const TraceLog&) = delete;
  TraceLog& operator=(const TraceLog&) = delete;

  // Where JSON lines go (a file for --trace, stderr for keeld logs).
  void set_sink(Sink sink) { sink_ = std::move(sink); }
  bool has_sink() const { return static_cast<bool>(sink_); }
  void set_log_level(LogLevel level) { log_level_ = level; }
  LogLevel log_level() const { return log_level_; }

  void record(Instant at, std::string_view source, std::string_view kind,
              std::initializer_list<TraceField> fields);
  void log(Instant at, std::string_view source, LogLevel level, std::string_view message);

  uint64_t digest() const;
  uint64_t events() const { return events_; }
  // The coverage marks hit by the processes writing here (core/cover.h).
  Coverage& coverage() { return coverage_; }

 private:
  struct State;
  std::unique_ptr<State> state_;
  Sink sink_;
  LogLevel log_level_ = LogLevel::kInfo;
  uint64_t events_ = 0;
  Coverage coverage_;
};

class Tracer {
 public:
  // `clock` may be null until set_clock(); events are then stamped 0.
  Tracer(TraceLog& log, std::string source, const Clock* clock = nullptr)
      : log_(log), source_(std::move(source)), clock_(clock) {}

  void set_clock(const Clock* clock) { clock_ = clock; }
  const std::string& source() const { return source_; }

  void event(std::string_view kind, std::initializer_list<TraceField> fields = {});
  void log(LogLevel level, std::string_view message);
  void info(std::string_view message) { log(LogLevel::kInfo, message); }
  void warn(std::string_view message) { log(LogLevel::kWarn, message); }
  void error(std::string_view message) { log(LogLevel::kError, message); }
  bool logging(LogLevel level) const { return level >= log_.log_level() && log_.has_sink(); }
  TraceLog& sink() { return log_; }
  Coverage* coverage() { return &log_.coverage(); }

 private:
  Instant now() const;

  TraceLog& log_;
  std::string source_;
  const Clock* clock_;
};

// Escapes `text` as the inside of a JSON string.
void append_json_escaped(std::string& out, std::string_view text);

}  // namespace keel::core
