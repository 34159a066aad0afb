// Client histories: what every workload client records, and what the
// checkers (linearizability, durability, convergence) read.
//
// A history is a list of operations. Each operation is recorded twice by its
// client: at invocation (History::invoke_*) and at completion
// (History::complete_* / fail / indeterminate). Timestamps are Instants of ONE
// clock shared by all clients of the history (virtual time in the simulator,
// the test harness's clock in real-cluster tests); comparing Instants of
// different clocks is meaningless, so a history must never mix them.
//
// Outcomes:
//   kOk            — the client saw the operation's result; it took effect
//                    (for a cas: it was evaluated, applied or not).
//   kFail          — the operation definitely did not take effect (e.g. the
//                    request was rejected before it could be proposed).
//   kIndeterminate — the client does not know (timeout, connection reset
//                    after sending): the operation may take effect at any
//                    point after its invocation, or never. Checkers treat its
//                    completion time as infinity.
//   kPending       — not completed yet; checkers treat it as indeterminate.
//
// Invariants: ops()[i].id == i; complete_time >= invoke_time for completed
// operations; an operation is completed at most once. History is a plain
// value type with no I/O, usable from any layer above core/.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ids.h"
#include "core/time.h"

namespace keel::workloads {

struct ClientIdTag {};
// One logical client (a sequential stream of operations). Clients that retire
// after an indeterminate outcome should take a fresh id, as Jepsen does.
using ClientId = core::StrongId<ClientIdTag, uint32_t>;

// Index of an operation in its History.
using OpId = uint64_t;

enum class OpKind : uint8_t {
  kRead,    // GET key                      -> value or nil
  kWrite,   // SET key value                -> OK
  kCas,     // SET key value IFEQ expected  -> applied (OK) or not applied (nil)
  kIncr,    // INCRBY key delta             -> new value
  kAppend,  // APPEND key element           -> new length (a unique element of a
            //                                  per-key set; durability workload)
};

enum class Outcome : uint8_t { kPending, kOk, kFail, kIndeterminate };

std::string_view op_kind_name(OpKind kind);
std::string_view outcome_name(Outcome outcome);

// The checkers' notion of "never completes": indeterminate and pending
// operations are ordered after everything else.
inline constexpr core::Instant kInstantInfinity = core::Instant::from_nanos(INT64_MAX);

struct Operation {
  OpId id = 0;
  ClientId client;
  std::string key;
  OpKind kind = OpKind::kRead;

  // Inputs. `value`: the written value (write), the new value (cas), or the
  // appended element (append). `expected`: the comparison value of a cas.
  // `delta`: the increment of an incr.
  std::string value;
  std::string expected;
  int64_t delta = 0;

  // Outputs, meaningful only when outcome == kOk. `read_value`: what a read
  // returned (nullopt = nil, the key did not exist). `cas_applied`: whether a
  // cas swapped. `incr_result`: the value an incr returned. `append_length`:
  // the length of the value right after an append, as APPEND returned it
  // (nullopt when the client did not record it: the durability checker then
  // checks only that the element survives).
  std::optional<std::string> read_value;
  bool cas_applied = false;
  int64_t incr_result = 0;
  std::optional<int64_t> append_length;

  core::Instant invoke_time;
  // When the client learned the outcome (or gave up, for kIndeterminate).
  // Checkers use effective_complete_time().
  core::Instant complete_time;
  Outcome outcome = Outcome::kPending;

  // The completion time a checker must use: infinity unless the outcome is
  // known (kOk or kFail).
  core::Instant effective_complete_time() const {
    return outcome == Outcome::kOk || outcome == Outcome::kFail ? complete_time : kInstantInfinity;
  }
  // True when the operation may have taken effect (ok, indeterminate, pending).
  bool may_have_happened() const { return outcome != Outcome::kFail; }
};

// One line describing an operation, e.g.
//   "#12 c3 cas k1 \"a\"->\"b\" [1.000ms, 1.200ms] ok applied".
// Long values are truncated; non-printable bytes are escaped.
std::string describe(const Operation& op);

// A value for readable reports: quoted, at most 40 bytes shown, quotes,
// backslashes and non-printable bytes escaped.
std::string quote_bytes(std::string_view value);

class History {
 public:
  History() = default;

  // Invocation helpers: record that `client` started an operation at `now`.
  // Return the id to pass to the matching completion call.
  OpId invoke_read(ClientId client, std::string key, core::Instant now);
  OpId invoke_write(ClientId client, std::string key, std::string value, core::Instant now);
  OpId invoke_cas(ClientId client, std::string key, std::string expected, std::string value,
                  core::Instant now);
  OpId invoke_incr(ClientId client, std::string key, int64_t delta, core::Instant now);
  OpId invoke_append(ClientId client, std::string key, std::string element, core::Instant now);

  // Completion helpers. Preconditions: `id` came from this history, is still
  // pending, is of the named kind, and now >= its invoke time.
  void complete_read(OpId id, core::Instant now, std::optional<std::string> value);
  void complete_write(OpId id, core::Instant now);
  void complete_cas(OpId id, core::Instant now, bool applied);
  void complete_incr(OpId id, core::Instant now, int64_t new_value);
  // `new_length`: what APPEND returned (the value's length after it), or
  // nullopt when the caller does not know it.
  void complete_append(OpId id, core::Instant now,
                       std::optional<int64_t> new_length = std::nullopt);
  // Any kind: the operation definitely did not take effect.
  void fail(OpId id, core::Instant now);
  // Any kind: the outcome is unknown. `now` is when the client gave up; it is
  // kept for reports only.
  void indeterminate(OpId id, core::Instant now);

  // Appends a fully formed operation (for tests and importers). Its id is
  // overwritten with its position. Precondition: completed operations have
  // complete_time >= invoke_time.
  OpId add(Operation op);

  const std::vector<Operation>& ops() const { return ops_; }
  const Operation& op(OpId id) const;
  size_t size() const { return ops_.size(); }

  // Keys that appear in the history, sorted.
  std::vector<std::string> keys() const;

  // Readable dump of the operations on `key` whose [invoke, completion]
  // interval intersects [from, to], in invocation order, at most `ops_max`
  // lines (the ones nearest `from` first); used by failure reports.
  std::string dump_key(std::string_view key, core::Instant from, core::Instant to,
                       size_t ops_max = 50) const;
  // Readable dump of every operation, in id order, at most `ops_max` lines.
  std::string dump(size_t ops_max = 200) const;

  // One JSON object per line per operation, e.g.
  //   {"id":0,"client":1,"key":"k","kind":"write","value":"a","invoke_ns":5,
  //    "complete_ns":9,"outcome":"ok"}
  // Strings are JSON-escaped; bytes >= 0x80 are written as \u00XX.
  std::string to_jsonl() const;

 private:
  OpId start(ClientId client, std::string key, OpKind kind, core::Instant now);
  Operation& pending(OpId id, core::Instant now);

  std::vector<Operation> ops_;
};

}  // namespace keel::workloads
