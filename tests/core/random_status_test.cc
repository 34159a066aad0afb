#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "core/random.h"
#include "core/status.h"

using keel::core::Code;
using keel::core::Random;
using keel::core::Result;
using keel::core::Status;

TEST_CASE("random: same seed same stream, forks are independent of consumption", "[core][prop]") {
  rc::prop("streams are a function of the seed", [](uint64_t seed) {
    Random a(seed);
    Random b(seed);
    for (int i = 0; i < 32; ++i) RC_ASSERT(a.next_u64() == b.next_u64());
    Random c(seed);
    Random fork_before = c.fork("x");
    for (int i = 0; i < 10; ++i) c.next_u64();
    Random fork_after = c.fork("x");
    RC_ASSERT(fork_before.next_u64() == fork_after.next_u64());
    RC_ASSERT(Random(seed).fork("x").next_u64() != Random(seed).fork("y").next_u64());
  });
  rc::prop("uniform stays in range", [](uint64_t seed, uint32_t lo, uint32_t span) {
    Random r(seed);
    const uint64_t hi = static_cast<uint64_t>(lo) + span;
    for (int i = 0; i < 16; ++i) {
      const uint64_t v = r.uniform(lo, hi);
      RC_ASSERT(v >= lo);
      RC_ASSERT(v <= hi);
    }
  });
}

TEST_CASE("random: uniform is roughly uniform", "[core][unit]") {
  Random r(7);
  int buckets[10] = {};
  for (int i = 0; i < 100000; ++i) ++buckets[r.uniform(0, 9)];
  for (int b : buckets) {
    REQUIRE(b > 9000);
    REQUIRE(b < 11000);
  }
}

namespace {
Result<int> parse_positive(int v) {
  if (v <= 0) return keel::core::invalid_argument("not positive");
  return v;
}
Status twice(int v, int* out) {
  KEEL_TRY_ASSIGN(int x, parse_positive(v));
  KEEL_TRY(parse_positive(x - 1));
  *out = 2 * x;
  return Status::ok();
}
}  // namespace

TEST_CASE("status: KEEL_TRY and KEEL_TRY_ASSIGN propagate the first error", "[core][unit]") {
  int out = 0;
  REQUIRE(twice(5, &out).is_ok());
  REQUIRE(out == 10);
  const Status bad = twice(-1, &out);
  REQUIRE(bad.code() == Code::kInvalidArgument);
  REQUIRE(bad.to_string() == "InvalidArgument: not positive");
  REQUIRE(twice(1, &out).code() == Code::kInvalidArgument);
  REQUIRE(bad.with_context("parsing").message() == "parsing: not positive");
}
