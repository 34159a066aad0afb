#include "core/bytes.h"

#include <catch2/catch.hpp>
#include <cstdint>

using keel::core::parse_i64;
using keel::core::parse_u64;

TEST_CASE("bytes: integers parse only when the whole text is one in range", "[core][unit]") {
  CHECK(parse_i64("0") == 0);
  CHECK(parse_i64("-42") == -42);
  CHECK(parse_i64("9223372036854775807") == INT64_MAX);
  CHECK(parse_i64("-9223372036854775808") == INT64_MIN);
  CHECK_FALSE(parse_i64("9223372036854775808").has_value());
  CHECK_FALSE(parse_i64("").has_value());
  CHECK_FALSE(parse_i64("12x").has_value());
  CHECK_FALSE(parse_i64(" 1").has_value());
  CHECK(parse_u64("18446744073709551615") == UINT64_MAX);
  CHECK_FALSE(parse_u64("18446744073709551616").has_value());
  CHECK_FALSE(parse_u64("-1").has_value());
  CHECK(parse_u64("00ff", 16) == 255);
  CHECK_FALSE(parse_u64("0xff", 16).has_value());
}
