#include "net/resp/reply_parser.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <string>
#include <vector>

#include "tests/resp/resp_test_util.h"

using keel::core::Code;
using keel::net::resp::Limits;
using keel::net::resp::ReplyParser;
using keel::net::resp::Type;
using keel::net::resp::Value;
using keel::net::resp::testing::error_message;
using keel::net::resp::testing::parse_replies;
using namespace std::string_literals;

namespace {

Value parse_one(const std::string& input) {
  auto out = parse_replies(input);
  INFO(input << " -> " << error_message(out));
  REQUIRE_FALSE(out.error);
  REQUIRE(out.replies.size() == 1);
  return out.replies[0];
}

}  // namespace

TEST_CASE("reply parser: RESP2 replies", "[resp][unit]") {
  REQUIRE(parse_one("+OK\r\n") == Value::simple_string("OK"));
  REQUIRE(parse_one("-ERR wrong type\r\n") == Value::error("ERR wrong type"));
  REQUIRE(parse_one(":-17\r\n") == Value::integer_value(-17));
  REQUIRE(parse_one("$5\r\na\r\n\0b\r\n"s) == Value::bulk("a\r\n\0b"s));
  REQUIRE(parse_one("$0\r\n\r\n") == Value::bulk(""));
  REQUIRE(parse_one("$-1\r\n") == Value::null());
  REQUIRE(parse_one("*-1\r\n") == Value::null());
  REQUIRE(parse_one("*0\r\n") == Value::array({}));
  REQUIRE(parse_one("*2\r\n$1\r\na\r\n*1\r\n:1\r\n") ==
          Value::array({Value::bulk("a"), Value::array({Value::integer_value(1)})}));
}

TEST_CASE("reply parser: RESP3 replies", "[resp][unit]") {
  REQUIRE(parse_one("_\r\n") == Value::null());
  REQUIRE(parse_one("#t\r\n") == Value::boolean(true));
  REQUIRE(parse_one("#f\r\n") == Value::boolean(false));
  REQUIRE(parse_one(",1.25\r\n") == Value::double_value(1.25));
  REQUIRE(parse_one(",-1e+300\r\n") == Value::double_value(-1e300));
  REQUIRE(parse_one(",inf\r\n") == Value::double_value(HUGE_VAL));
  REQUIRE(parse_one(",-inf\r\n") == Value::double_value(-HUGE_VAL));
  REQUIRE(std::isnan(parse_one(",nan\r\n").real));
  REQUIRE(parse_one("(-123456789012345678901234567890\r\n") ==
          Value::big_number("-123456789012345678901234567890"));
  REQUIRE(parse_one("!21\r\nSYNTAX invalid syntax\r\n") == Value::error("SYNTAX invalid syntax"));
  REQUIRE(parse_one("=15\r\ntxt:Some string\r\n") == Value::verbatim("txt", "Some string"));
  REQUIRE(parse_one("%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n") ==
          Value::map({Value::simple_string("first"), Value::integer_value(1), Value::simple_string("second"),
                      Value::integer_value(2)}));
  REQUIRE(parse_one("~1\r\n$1\r\na\r\n") == Value::set({Value::bulk("a")}));
  REQUIRE(parse_one(">2\r\n+message\r\n+hi\r\n") ==
          Value::push({Value::simple_string("message"), Value::simple_string("hi")}));
  REQUIRE(parse_one("%0\r\n") == Value::map({}));
}

TEST_CASE("reply parser: pipelined replies and one byte at a time", "[resp][unit]") {
  std::string input = "+OK\r\n$3\r\nbar\r\n*3\r\n:1\r\n%1\r\n+k\r\n~0\r\n$-1\r\n=7\r\nmkd:# h\r\n";
  auto whole = parse_replies(input);
  REQUIRE_FALSE(whole.error);
  REQUIRE(whole.replies.size() == 4);
  for (size_t chunk = 1; chunk <= 5; ++chunk) {
    INFO("chunk " << chunk);
    REQUIRE(parse_replies(input, chunk) == whole);
  }
}

TEST_CASE("reply parser: truncated input waits for more bytes", "[resp][unit]") {
  std::string full = "*2\r\n$3\r\nfoo\r\n%1\r\n+a\r\n,2.5\r\n";
  for (size_t cut = 0; cut < full.size(); ++cut) {
    INFO("cut at " << cut);
    ReplyParser parser;
    parser.feed(full.substr(0, cut));
    auto r = parser.next();
    REQUIRE(r.is_ok());
    REQUIRE_FALSE(r->has_value());
    parser.feed(full.substr(cut));
    r = parser.next();
    REQUIRE(r.is_ok());
    REQUIRE(r->has_value());
    REQUIRE(parser.at_reply_boundary());
  }
}

TEST_CASE("reply parser: bad input is rejected", "[resp][unit]") {
  std::vector<std::pair<std::string, std::string>> cases = {
      {"?OK\r\n", "RESP: bad type byte 0x3f"},
      {"\0\r\n"s, "RESP: bad type byte 0x00"},
      {"|1\r\n+a\r\n+b\r\n", "RESP: attributes are not supported"},
      {":12a\r\n", "RESP: bad integer"},
      {":\r\n", "RESP: bad integer"},
      {"$-2\r\n", "RESP: bad bulk length"},
      {"$?\r\n", "RESP: bad bulk length"},
      {"!-1\r\n", "RESP: bad bulk length"},
      {"*-2\r\n", "RESP: bad aggregate length"},
      {"%-1\r\n", "RESP: bad aggregate length"},
      {"$4294967296\r\n", "RESP: bulk length 4294967296 exceeds maximum"},
      {"*1048577\r\n", "RESP: aggregate length 1048577 exceeds maximum"},
      {"$3\r\nfooXY", "RESP: missing CRLF after bulk data"},
      {"+OK\rX", "RESP: CR not followed by LF"},
      {"_x\r\n", "RESP: bad null"},
      {"#x\r\n", "RESP: bad boolean"},
      {",abc\r\n", "RESP: bad double"},
      {",\r\n", "RESP: bad double"},
      {"(12a\r\n", "RESP: bad big number"},
      {"=3\r\ntxt\r\n", "RESP: verbatim string without format"},
      {"=5\r\ntxt-a\r\n", "RESP: verbatim string without format"},
  };
  for (const auto& [input, message] : cases) {
    for (size_t chunk : {size_t{0}, size_t{1}}) {
      INFO(input << " chunk " << chunk);
      auto out = parse_replies(input, chunk);
      REQUIRE(out.error);
      REQUIRE(out.error->code() == Code::kCorruption);
      REQUIRE(out.error->message() == message);
    }
  }
}

TEST_CASE("reply parser: limits on lines, nesting and declared sizes", "[resp][unit]") {
  Limits limits;
  limits.inline_bytes_max = 8;
  limits.nesting_depth_max = 3;
  limits.bulk_bytes_max = 4;
  REQUIRE(error_message(parse_replies("+" + std::string(20, 'x'), 1, limits)) == "RESP: line too long");
  REQUIRE(error_message(parse_replies("+" + std::string(20, 'x') + "\r\n", 0, limits)) == "RESP: line too long");
  REQUIRE_FALSE(parse_replies("*1\r\n*1\r\n*1\r\n:1\r\n", 0, limits).error);
  REQUIRE(error_message(parse_replies("*1\r\n*1\r\n*1\r\n*1\r\n:1\r\n", 0, limits)) ==
          "RESP: aggregates nested too deeply");
  REQUIRE(error_message(parse_replies("$5\r\n", 0, limits)) == "RESP: bulk length 5 exceeds maximum");
  // A declared large bulk waits without the buffer growing towards it.
  ReplyParser parser;
  parser.feed("$268435456\r\nab");
  auto r = parser.next();
  REQUIRE(r.is_ok());
  REQUIRE_FALSE(r->has_value());
  REQUIRE(parser.buffered_bytes() == 2);
}

TEST_CASE("reply parser: errors stick", "[resp][unit]") {
  ReplyParser parser;
  parser.feed("+OK\r\n?\r\n+OK\r\n");
  auto r = parser.next();
  REQUIRE(r.is_ok());
  REQUIRE(**r == Value::simple_string("OK"));
  r = parser.next();
  REQUIRE_FALSE(r.is_ok());
  REQUIRE_FALSE(parser.next().is_ok());
}
