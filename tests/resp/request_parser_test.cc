#include "net/resp/request_parser.h"

#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "tests/resp/resp_test_util.h"

using keel::core::Code;
using keel::net::resp::Argv;
using keel::net::resp::Limits;
using keel::net::resp::RequestParser;
using keel::net::resp::split_inline;
using keel::net::resp::testing::error_message;
using keel::net::resp::testing::parse_requests;
using namespace std::string_literals;

TEST_CASE("request parser: multibulk command", "[resp][unit]") {
  auto out = parse_requests("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
  REQUIRE_FALSE(out.error);
  REQUIRE(out.commands == std::vector<Argv>{{"SET", "key", "value"}});
}

TEST_CASE("request parser: pipelined commands in one chunk come out in order", "[resp][unit]") {
  std::string input;
  for (int i = 0; i < 100; ++i) {
    std::string key = "key:" + std::to_string(i);
    input += "*2\r\n$3\r\nGET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n";
  }
  input += "PING\r\n";
  auto out = parse_requests(input);
  REQUIRE_FALSE(out.error);
  REQUIRE(out.commands.size() == 101);
  REQUIRE(out.commands[0] == Argv{"GET", "key:0"});
  REQUIRE(out.commands[99] == Argv{"GET", "key:99"});
  REQUIRE(out.commands[100] == Argv{"PING"});
}

TEST_CASE("request parser: one byte at a time equals all at once", "[resp][unit]") {
  std::string input =
      "*2\r\n$4\r\nECHO\r\n$11\r\nhello world\r\n"
      "set  k   \"a b\\x00c\"\r\n"
      "*1\r\n$4\r\nPING\r\n"
      "GET k\n";
  auto whole = parse_requests(input);
  REQUIRE_FALSE(whole.error);
  REQUIRE(whole.commands.size() == 4);
  REQUIRE(whole.commands[1] == Argv{"set", "k", "a b\0c"s});
  for (size_t chunk = 1; chunk <= 7; ++chunk) {
    INFO("chunk " << chunk);
    REQUIRE(parse_requests(input, chunk) == whole);
  }
}

TEST_CASE("request parser: binary arguments keep NUL, CR and LF", "[resp][unit]") {
  std::string key = "k\0\r\n*1\r\n"s;
  std::string value = "\r\n\r\n$-1\r\n\0"s;
  std::string input = "*3\r\n$3\r\nSET\r\n$" + std::to_string(key.size()) + "\r\n" + key + "\r\n$" +
                      std::to_string(value.size()) + "\r\n" + value + "\r\n";
  auto out = parse_requests(input, 1);
  REQUIRE_FALSE(out.error);
  REQUIRE(out.commands == std::vector<Argv>{{"SET", key, value}});
}

TEST_CASE("request parser: empty bulk argument", "[resp][unit]") {
  auto out = parse_requests("*2\r\n$4\r\nECHO\r\n$0\r\n\r\n");
  REQUIRE(out.commands == std::vector<Argv>{{"ECHO", ""}});
}

TEST_CASE("request parser: truncated input waits for more bytes", "[resp][unit]") {
  std::string full = "*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n";
  for (size_t cut = 0; cut < full.size(); ++cut) {
    INFO("cut at " << cut);
    RequestParser parser;
    parser.feed(full.substr(0, cut));
    Argv argv;
    auto r = parser.next(argv);
    REQUIRE(r.is_ok());
    REQUIRE_FALSE(*r);
    REQUIRE(parser.at_command_boundary() == (cut == 0));
    parser.feed(full.substr(cut));
    r = parser.next(argv);
    REQUIRE(r.is_ok());
    REQUIRE(*r);
    REQUIRE(argv == Argv{"GET", "key"});
    REQUIRE(parser.at_command_boundary());
  }
}

TEST_CASE("request parser: empty and null multibulk requests are skipped", "[resp][unit]") {
  auto out = parse_requests("*0\r\n*-1\r\n*1\r\n$4\r\nPING\r\n");
  REQUIRE_FALSE(out.error);
  REQUIRE(out.commands == std::vector<Argv>{{"PING"}});
}

TEST_CASE("request parser: inline commands", "[resp][unit]") {
  SECTION("CRLF and bare LF both end a line; blank lines are skipped") {
    auto out = parse_requests("PING\r\n\r\n   \nSET a 1\nGET   a\r\n");
    REQUIRE_FALSE(out.error);
    REQUIRE(out.commands == std::vector<Argv>{{"PING"}, {"SET", "a", "1"}, {"GET", "a"}});
  }
  SECTION("a line without its end waits") {
    auto out = parse_requests("PING");
    REQUIRE_FALSE(out.error);
    REQUIRE(out.commands.empty());
  }
  SECTION("quotes and escapes follow redis-cli's rules") {
    Argv argv;
    REQUIRE(split_inline(R"(set "a\tb\x41\"" 'it\'s' "")", argv).is_ok());
    REQUIRE(argv == Argv{"set", "a\tbA\"", "it's", ""});
    REQUIRE(split_inline(R"(x"y z")", argv).is_ok());
    REQUIRE(argv == Argv{"xy z"});
  }
  SECTION("unbalanced quotes are a protocol error") {
    for (std::string bad : {"SET \"abc\r\n", "SET 'abc\r\n", "SET \"a\"b\r\n", "SET 'a'b\r\n"}) {
      INFO(bad);
      auto out = parse_requests(bad);
      REQUIRE(error_message(out) == "Protocol error: unbalanced quotes in request");
    }
  }
}

TEST_CASE("request parser: protocol errors carry Redis' messages", "[resp][unit]") {
  struct Case {
    std::string input;
    std::string message;
  };
  std::vector<Case> cases = {
      {"*2\r\n$3\r\nGET\r\n:3\r\n", "Protocol error: expected '$', got ':'"},
      {"*1\r\n$x\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$-1\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$-5\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$+3\r\nGET\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$03\r\nGET\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$4294967296\r\n", "Protocol error: invalid bulk length"},
      {"*1\r\n$99999999999999999999999\r\n", "Protocol error: invalid bulk length"},
      {"*x\r\n", "Protocol error: invalid multibulk length"},
      {"*\r\n", "Protocol error: invalid multibulk length"},
      {"*1048577\r\n", "Protocol error: invalid multibulk length"},
      {"*9223372036854775808\r\n", "Protocol error: invalid multibulk length"},
      {"*1\rX", "Protocol error: invalid multibulk length"},
      {"*1\r\n$3\rX", "Protocol error: invalid bulk length"},
      {"*1\r\n$3\r\nGETXY", "Protocol error: expected CRLF after bulk data"},
      {"*1\r\n$3\r\nGET\n\r", "Protocol error: expected CRLF after bulk data"},
  };
  for (const Case& c : cases) {
    for (size_t chunk : {size_t{0}, size_t{1}}) {
      INFO(c.input << " chunk " << chunk);
      auto out = parse_requests(c.input, chunk);
      REQUIRE(out.error);
      REQUIRE(out.error->code() == Code::kInvalidArgument);
      REQUIRE(out.error->message() == c.message);
    }
  }
}

TEST_CASE("request parser: commands before a protocol error are delivered and the error sticks", "[resp][unit]") {
  RequestParser parser;
  parser.feed("*1\r\n$4\r\nPING\r\n*1\r\n$x\r\n*1\r\n$4\r\nPING\r\n");
  Argv argv;
  auto r = parser.next(argv);
  REQUIRE(r.is_ok());
  REQUIRE(*r);
  REQUIRE(argv == Argv{"PING"});
  r = parser.next(argv);
  REQUIRE_FALSE(r.is_ok());
  parser.feed("*1\r\n$4\r\nPING\r\n");
  auto again = parser.next(argv);
  REQUIRE_FALSE(again.is_ok());
  REQUIRE(again.status() == r.status());
}

TEST_CASE("request parser: the bulk limit is configurable", "[resp][unit]") {
  Limits limits;
  limits.bulk_bytes_max = 8;
  REQUIRE_FALSE(parse_requests("*1\r\n$8\r\n12345678\r\n", 0, limits).error);
  REQUIRE(error_message(parse_requests("*1\r\n$9\r\n", 0, limits)) == "Protocol error: invalid bulk length");
}

TEST_CASE("request parser: the request size limit bounds the sum of arguments", "[resp][unit]") {
  Limits limits;
  limits.command_bytes_max = 10;
  REQUIRE_FALSE(parse_requests("*2\r\n$5\r\n12345\r\n$5\r\n12345\r\n", 0, limits).error);
  REQUIRE(error_message(parse_requests("*2\r\n$5\r\n12345\r\n$6\r\n", 0, limits)) ==
          "Protocol error: too big request");
}

TEST_CASE("request parser: over-long lines are rejected however they are chunked", "[resp][unit]") {
  Limits limits;
  limits.inline_bytes_max = 16;
  std::string long_inline = "GET " + std::string(20, 'k');
  for (size_t chunk : {size_t{0}, size_t{1}, size_t{5}}) {
    INFO("chunk " << chunk);
    // Without its end, once too many bytes wait.
    REQUIRE(error_message(parse_requests(long_inline, chunk, limits)) == "Protocol error: too big inline request");
    // With its end in the same chunk too.
    REQUIRE(error_message(parse_requests(long_inline + "\r\n", chunk, limits)) ==
            "Protocol error: too big inline request");
    REQUIRE(error_message(parse_requests("*" + std::string(20, '1'), chunk, limits)) ==
            "Protocol error: too big mbulk count string");
    REQUIRE(error_message(parse_requests("*1\r\n$" + std::string(20, '1'), chunk, limits)) ==
            "Protocol error: too big bulk count string");
  }
  // A line of exactly the maximum is fine.
  std::string exact = "GET " + std::string(12, 'k');
  REQUIRE(parse_requests(exact + "\n", 0, limits).commands.size() == 1);
}

TEST_CASE("request parser: a huge declared bulk reserves nothing until bytes arrive", "[resp][unit]") {
  // 256 MiB declared and allowed; only a few bytes fed. The parser must not
  // have grown its buffer (or anything else) towards the declared size.
  RequestParser parser;
  parser.feed("*2\r\n$3\r\nSET\r\n$268435456\r\nabc");
  Argv argv;
  auto r = parser.next(argv);
  REQUIRE(r.is_ok());
  REQUIRE_FALSE(*r);
  REQUIRE(parser.buffered_bytes() == 3);
  // And a declared 1M-element request is fine to start with little memory.
  RequestParser wide;
  wide.feed("*1048576\r\n$1\r\na\r\n");
  r = wide.next(argv);
  REQUIRE(r.is_ok());
  REQUIRE_FALSE(*r);
  REQUIRE(argv.capacity() <= keel::net::resp::kReserveElementsMax);
}

TEST_CASE("request parser: a large argument split across many chunks", "[resp][unit]") {
  std::string value(1 << 20, 'v');
  for (size_t i = 0; i < value.size(); i += 997) value[i] = static_cast<char>(i % 256);
  std::string input = "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$" + std::to_string(value.size()) + "\r\n" + value + "\r\n";
  auto out = parse_requests(input, 4096);
  REQUIRE_FALSE(out.error);
  REQUIRE(out.commands.size() == 1);
  REQUIRE(out.commands[0][2] == value);
}
