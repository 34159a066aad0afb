// Synthetic histories that are correct by construction, for checker tests,
// property tests and benchmarks.
//
// Each client runs its steps one after another. Every step gets an
// invocation time, a linearization point and a completion time with
// invoke <= point <= complete; steps are applied to a sequential reference
// model in order of their points (ties in script order), and their outputs
// are what the model returned. Such a history is linearizable, and the
// model's final state is a correct "state after heal" for the durability
// checker. Fates let a step fail (never applied), or become indeterminate
// with or without having been applied.
//
// Keys are named "k<index>". Values are unique per step ("v<step index>"),
// append elements "e<step index>". A cas expects the current value when
// choice is even, else the value of an earlier step (which may or may not be
// current). The reference model is Redis-like: incr on a non-integer or an
// overflow makes the step fail.
#pragma once

#include <cstdint>
#include <vector>

#include "core/random.h"
#include "core/time.h"
#include "workloads/durability.h"
#include "workloads/history.h"

namespace keel::workloads {

enum class SyntheticFate : uint8_t {
  kOk,                     // applied; the client saw the result
  kFail,                   // not applied; the client was told so
  kIndeterminateApplied,   // applied; the client never learned the result
  kIndeterminateSkipped,   // not applied; the client never learned that
};

struct SyntheticStep {
  uint32_t client = 0;
  uint32_t key = 0;
  OpKind kind = OpKind::kRead;
  uint32_t choice = 0;    // cas: which value to expect (see above)
  int64_t delta = 1;      // incr
  core::Duration think;   // client idle time before invoking
  core::Duration lead;    // invoke -> linearization point
  core::Duration lag;     // linearization point -> completion
  SyntheticFate fate = SyntheticFate::kOk;
};

struct SyntheticHistory {
  History history;
  // The reference model's state after every step: a correct final read.
  FinalState final_state;
};

// Preconditions: durations are non-negative.
SyntheticHistory build_linearizable_history(const std::vector<SyntheticStep>& steps);

struct SyntheticOptions {
  uint32_t clients = 10;
  uint32_t register_keys = 5;  // keys 0 .. register_keys-1: read, write, cas
  uint32_t counter_keys = 0;   // the next keys: read, incr
  uint32_t append_keys = 0;    // the next keys: append
  uint64_t steps = 1000;
  int64_t delta_max = 1;       // counter keys: INCRBY 1 .. delta_max
  double cas_fraction = 0.2;   // register keys: cas; the rest half reads, half writes
  double fail_fraction = 0.0;
  double indeterminate_fraction = 0.0;
  core::Duration think_max = core::Duration::micros(100);
  core::Duration latency_max = core::Duration::micros(500);
};

// Random steps (clients and keys uniform) for build_linearizable_history.
std::vector<SyntheticStep> random_steps(core::Random& random, const SyntheticOptions& options);

}  // namespace keel::workloads
