#include "net/resp/reply_writer.h"

#include <catch2/catch.hpp>
#include <cmath>
#include <limits>
#include <string>
#include <vector>

using keel::core::ByteView;
using keel::net::resp::append_request;
using keel::net::resp::Argv;
using keel::net::resp::Protocol;
using keel::net::resp::ReplyWriter;
using keel::net::resp::Value;
using namespace std::string_literals;

namespace {

// The bytes one write produces in the given protocol.
template <typename F>
std::string written(Protocol protocol, F&& write) {
  ReplyWriter w(protocol);
  write(w);
  return w.take();
}

}  // namespace

TEST_CASE("reply writer: RESP2 scalar bytes match redis-server", "[resp][unit]") {
  auto p = Protocol::kResp2;
  REQUIRE(written(p, [](ReplyWriter& w) { w.ok(); }) == "+OK\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.simple_string("PONG"); }) == "+PONG\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.error("ERR unknown command 'foo'"); }) ==
          "-ERR unknown command 'foo'\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.error("MOVED 3999 127.0.0.1:6381"); }) ==
          "-MOVED 3999 127.0.0.1:6381\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.integer(1); }) == ":1\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.integer(-42); }) == ":-42\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.integer(INT64_MIN); }) == ":-9223372036854775808\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.bulk("bar"); }) == "$3\r\nbar\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.bulk(""); }) == "$0\r\n\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.bulk("a\0\r\nb"s); }) == "$5\r\na\0\r\nb\r\n"s);
  REQUIRE(written(p, [](ReplyWriter& w) { w.null(); }) == "$-1\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.null_array(); }) == "*-1\r\n");
}

TEST_CASE("reply writer: RESP2 arrays match redis-server", "[resp][unit]") {
  auto p = Protocol::kResp2;
  REQUIRE(written(p, [](ReplyWriter& w) {
            std::vector<ByteView> items{"a", "b"};
            w.bulk_array(items);
          }) == "*2\r\n$1\r\na\r\n$1\r\nb\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.array(0); }) == "*0\r\n");
  // MGET with a missing key.
  REQUIRE(written(p, [](ReplyWriter& w) {
            w.array(3);
            w.bulk("1");
            w.null();
            w.bulk("3");
          }) == "*3\r\n$1\r\n1\r\n$-1\r\n$1\r\n3\r\n");
}

TEST_CASE("reply writer: RESP3 types", "[resp][unit]") {
  auto p = Protocol::kResp3;
  REQUIRE(written(p, [](ReplyWriter& w) { w.null(); }) == "_\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.null_array(); }) == "_\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.boolean(true); }) == "#t\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.boolean(false); }) == "#f\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.double_value(1.5); }) == ",1.5\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.double_value(3.0); }) == ",3\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.double_value(0.1); }) == ",0.1\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.double_value(HUGE_VAL); }) == ",inf\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.double_value(-HUGE_VAL); }) == ",-inf\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.double_value(std::nan("")); }) == ",nan\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.big_number("3492890328409238509324850943850943825024385"); }) ==
          "(3492890328409238509324850943850943825024385\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.verbatim("txt", "Some string"); }) == "=15\r\ntxt:Some string\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) {
            w.map(2);
            w.simple_string("first");
            w.integer(1);
            w.simple_string("second");
            w.integer(2);
          }) == "%2\r\n+first\r\n:1\r\n+second\r\n:2\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) {
            w.set(2);
            w.bulk("a");
            w.bulk("b");
          }) == "~2\r\n$1\r\na\r\n$1\r\nb\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) {
            w.push(2);
            w.bulk("message");
            w.bulk("hi");
          }) == ">2\r\n$7\r\nmessage\r\n$2\r\nhi\r\n");
}

TEST_CASE("reply writer: RESP3 types fall back to RESP2 as redis-server does", "[resp][unit]") {
  auto p = Protocol::kResp2;
  REQUIRE(written(p, [](ReplyWriter& w) {
            w.map(1);
            w.bulk("k");
            w.integer(1);
          }) == "*2\r\n$1\r\nk\r\n:1\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.set(1); }) == "*1\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.push(3); }) == "*3\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.double_value(1.5); }) == "$3\r\n1.5\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.double_value(-HUGE_VAL); }) == "$4\r\n-inf\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.boolean(true); }) == ":1\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.boolean(false); }) == ":0\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.big_number("-12345"); }) == "$6\r\n-12345\r\n");
  REQUIRE(written(p, [](ReplyWriter& w) { w.verbatim("txt", "hello"); }) == "$5\r\nhello\r\n");
}

TEST_CASE("reply writer: the protocol switch applies to later replies", "[resp][unit]") {
  ReplyWriter w;
  REQUIRE(w.protocol() == Protocol::kResp2);
  w.null();
  w.set_protocol(Protocol::kResp3);
  w.null();
  REQUIRE(w.bytes() == "$-1\r\n_\r\n");
  w.consume(5);
  REQUIRE(w.bytes() == "_\r\n");
  w.clear();
  REQUIRE(w.empty());
}

TEST_CASE("reply writer: CR and LF cannot split a simple string or error", "[resp][unit]") {
  REQUIRE(written(Protocol::kResp2, [](ReplyWriter& w) { w.error("ERR unknown command 'a\r\nb'"); }) ==
          "-ERR unknown command 'a  b'\r\n");
  REQUIRE(written(Protocol::kResp2, [](ReplyWriter& w) { w.simple_string("x\ny"); }) == "+x y\r\n");
}

TEST_CASE("reply writer: value trees", "[resp][unit]") {
  Value tree = Value::array({Value::bulk("a"), Value::map({Value::simple_string("k"), Value::boolean(true)}),
                             Value::null(), Value::integer_value(7)});
  REQUIRE(written(Protocol::kResp2, [&](ReplyWriter& w) { w.value(tree); }) ==
          "*4\r\n$1\r\na\r\n*2\r\n+k\r\n:1\r\n$-1\r\n:7\r\n");
  REQUIRE(written(Protocol::kResp3, [&](ReplyWriter& w) { w.value(tree); }) ==
          "*4\r\n$1\r\na\r\n%1\r\n+k\r\n#t\r\n_\r\n:7\r\n");
}

TEST_CASE("request encoder: argv to multibulk bytes", "[resp][unit]") {
  std::string out;
  append_request(out, Argv{"SET", "key", "a\0b"s});
  REQUIRE(out == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$3\r\na\0b\r\n"s);
  std::vector<ByteView> views{"GET", "k"};
  append_request(out, views);
  REQUIRE(out == "*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$3\r\na\0b\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"s);
}
