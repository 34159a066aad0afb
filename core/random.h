// Random: keel's only source of randomness, seeded and deterministic.
//
// A generator is a xoshiro256** stream seeded through splitmix64. fork(label)
// derives an independent child stream from the parent's seed and a label
// without consuming the parent's state, so adding a new consumer does not
// perturb the streams of existing ones: same seed, same choices.
//
// Production seeds its root generator from the OS (net/posix); the simulator
// seeds it from the run's seed.
#pragma once

#include <cstdint>
#include <string_view>

#include "core/time.h"

namespace keel::core {

class Random {
 public:
  explicit Random(uint64_t seed);

  uint64_t seed() const { return seed_; }

  uint64_t next_u64();
  // Uniform in [lo, hi]. Precondition: lo <= hi.
  uint64_t uniform(uint64_t lo, uint64_t hi);
  int64_t uniform_i64(int64_t lo, int64_t hi);
  // Uniform in [0, 1).
  double unit();
  // True with probability p (p clamped to [0, 1]).
  bool chance(double p);
  // True with probability num/den. Precondition: den > 0.
  bool one_in(uint64_t den) { return uniform(0, den - 1) == 0; }
  Duration uniform_duration(Duration lo, Duration hi);
  // Exponentially distributed with the given mean, capped at 20 means.
  Duration exponential(Duration mean);

  // A child generator whose stream depends only on this generator's seed and
  // the label (and index), not on how much of this stream was consumed.
  Random fork(std::string_view label, uint64_t index = 0) const;

 private:
  uint64_t seed_;
  uint64_t s_[4];
};

}  // namespace keel::core
