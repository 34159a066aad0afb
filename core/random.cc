#include "core/random.h"

#include <cmath>

#include "core/assert.h"
#include "core/bytes.h"

namespace keel::core {
namespace {

uint64_t splitmix64(uint64_t& x) {
  uint64_t z = (x += 0x9e3779b97f4a7c15ULL);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t rotl(uint64_t x, int k) { return (x << k) | (x >> (64 - k)); }

}  // namespace

Random::Random(uint64_t seed) : seed_(seed) {
  uint64_t x = seed;
  for (auto& word : s_) word = splitmix64(x);
}

uint64_t Random::next_u64() {
  const uint64_t result = rotl(s_[1] * 5, 7) * 9;
  const uint64_t t = s_[1] << 17;
  s_[2] ^= s_[0];
  s_[3] ^= s_[1];
  s_[1] ^= s_[2];
  s_[0] ^= s_[3];
  s_[2] ^= t;
  s_[3] = rotl(s_[3], 45);
  return result;
}

uint64_t Random::uniform(uint64_t lo, uint64_t hi) {
  KEEL_ASSERT(lo <= hi);
  const uint64_t span = hi - lo;
  if (span == UINT64_MAX) return next_u64();
  const uint64_t range = span + 1;
  // Lemire's multiply-shift with rejection: unbiased and division-free.
  __uint128_t m = static_cast<__uint128_t>(next_u64()) * range;
  uint64_t low = static_cast<uint64_t>(m);
  if (low < range) {
    const uint64_t threshold = -range % range;
    while (low < threshold) {
      m = static_cast<__uint128_t>(next_u64()) * range;
      low = static_cast<uint64_t>(m);
    }
  }
  return lo + static_cast<uint64_t>(m >> 64);
}

int64_t Random::uniform_i64(int64_t lo, int64_t hi) {
  KEEL_ASSERT(lo <= hi);
  const uint64_t span = static_cast<uint64_t>(hi) - static_cast<uint64_t>(lo);
  return static_cast<int64_t>(static_cast<uint64_t>(lo) + uniform(0, span));
}

double Random::unit() { return static_cast<double>(next_u64() >> 11) * 0x1.0p-53; }

bool Random::chance(double p) {
  if (p <= 0) return false;
  if (p >= 1) return true;
  return unit() < p;
}

Duration Random::uniform_duration(Duration lo, Duration hi) {
  return Duration::nanos(uniform_i64(lo.ns(), hi.ns()));
}

Duration Random::exponential(Duration mean) {
  const double u = 1.0 - unit();  // (0, 1]
  double k = -std::log(u);
  if (k > 20) k = 20;
  return Duration::nanos(static_cast<int64_t>(k * static_cast<double>(mean.ns())));
}

Random Random::fork(std::string_view label, uint64_t index) const {
  uint64_t h = checksum64(label, seed_ ^ 0x6b65656c5f726e67ULL);
  uint64_t x = h ^ (index * 0x9e3779b97f4a7c15ULL);
  return Random(splitmix64(x));
}

}  // namespace keel::core
