// Sequential models of one key, compiled for the linearizability search.
//
// The search (workloads/linearizability.h) asks one question millions of
// times: "in model state s, is operation i's recorded outcome possible, and
// what is the state after it?". To make that cheap and the state hashable,
// KeyModel compiles a key's operations once into small integer steps over a
// single int64 state:
//
//   register — GET / SET / SET IFEQ. Values are interned per key: state 0 is
//              nil (key absent), 1..n are the distinct values seen in the
//              key's operations. A read must return the current value; a
//              write sets it; an applied cas requires current == expected
//              (nil never equals a value, as with Redis IFEQ) and sets the
//              new value; a not-applied cas requires current != expected.
//   counter  — INCRBY / GET / SET of integers. State is the integer, or
//              kCounterAbsent while the key does not exist. An incr adds its
//              delta to the current value (nil counts as 0) and must return
//              the sum; a read returns the current value (nil iff absent).
//
// Indeterminate operations (outcome unknown) have no output to check: a
// write or incr always applies; a cas applies iff current == expected. "It
// never happened" is covered by the search placing the operation after
// everything else, where its effect is unobservable. Indeterminate reads are
// dropped before compiling (they constrain nothing).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "core/status.h"
#include "workloads/history.h"

namespace keel::workloads {

enum class ModelKind : uint8_t {
  kAuto,      // per key: counter if the key has any incr, otherwise register
  kRegister,  // read, write, cas
  kCounter,   // read, write (decimal integers), incr
};

std::string_view model_kind_name(ModelKind kind);

// The model kAuto picks for these operations (never returns kAuto).
ModelKind infer_model(std::span<const Operation* const> ops);

// Counter state of a key that does not exist.
inline constexpr int64_t kCounterAbsent = INT64_MIN;

class KeyModel {
 public:
  // Compiles `ops` (all on one key; none with outcome kFail) for `kind`
  // (kAuto is resolved with infer_model). Operation i of the model is ops[i].
  // Errors: InvalidArgument when an operation is outside the model (append
  // on any model, cas on a counter, a non-integer write on a counter).
  static core::Result<KeyModel> compile(ModelKind kind, std::span<const Operation* const> ops);

  ModelKind kind() const { return kind_; }
  size_t size() const { return steps_.size(); }
  int64_t initial_state() const { return kind_ == ModelKind::kCounter ? kCounterAbsent : 0; }

  // The state after applying operation i in `state`, or nullopt when the
  // operation's recorded outcome is impossible in `state`.
  std::optional<int64_t> step(size_t i, int64_t state) const;

  // Two operations with equal signatures have identical effects in every
  // state (same step kind and operands). The search uses this to avoid
  // exploring interchangeable indeterminate operations in every order.
  std::tuple<uint8_t, int64_t, int64_t> signature(size_t i) const {
    const Step& s = steps_[i];
    return {static_cast<uint8_t>(s.kind), s.a, s.b};
  }

  // Readable state for reports: "nil", "\"v3\"" or "17".
  std::string state_string(int64_t state) const;

 private:
  enum class StepKind : uint8_t {
    kNever,            // an outcome no state allows (e.g. a non-integer counter read)
    kRegRead,          // requires state == a
    kRegWrite,         // state := a
    kRegCasApplied,    // requires state == a; state := b
    kRegCasRejected,   // requires state != a
    kRegCasUnknown,    // if state == a then state := b
    kCtrRead,          // requires state == a
    kCtrWrite,         // state := a
    kCtrIncr,          // state := base + a, requires the sum == b
    kCtrIncrUnknown,   // state := base + a (unchanged on overflow: Redis rejects it)
  };
  struct Step {
    StepKind kind;
    int64_t a;
    int64_t b;
  };

  KeyModel() = default;

  ModelKind kind_ = ModelKind::kRegister;
  std::vector<Step> steps_;
  // Register values by id - 1 (id 0 is nil).
  std::vector<std::string> values_;
};

}  // namespace keel::workloads
