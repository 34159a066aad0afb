// Property tests: everything the encoders write parses back to what was
// written, for both protocol versions and however the bytes are chunked;
// and arbitrary bytes never upset the parsers' chunk independence.
#include <catch2/catch.hpp>
#include <cmath>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>
#include <string>
#include <vector>

#include "net/resp/reply_writer.h"
#include "net/resp/wire.h"
#include "tests/resp/resp_test_util.h"

using keel::core::Bytes;
using keel::net::resp::append_request;
using keel::net::resp::Argv;
using keel::net::resp::Protocol;
using keel::net::resp::ReplyParser;
using keel::net::resp::ReplyWriter;
using keel::net::resp::RequestParser;
using keel::net::resp::Type;
using keel::net::resp::Value;
using keel::net::resp::testing::ReplyOutcome;
using keel::net::resp::testing::RequestOutcome;

namespace {

// Bytes biased towards the ones that matter to the framing.
rc::Gen<char> gen_byte() {
  return rc::gen::weightedOneOf<char>({{3, rc::gen::arbitrary<char>()},
                                       {1, rc::gen::element<char>('\r', '\n', '\0', '$', '*', ' ', '"')}});
}

rc::Gen<Bytes> gen_bytes() { return rc::gen::container<Bytes>(gen_byte()); }

// Text that may appear in a simple string or error line.
rc::Gen<Bytes> gen_line_text() {
  return rc::gen::container<Bytes>(rc::gen::suchThat(gen_byte(), [](char c) { return c != '\r' && c != '\n'; }));
}

rc::Gen<Bytes> gen_digits() {
  return rc::gen::map(
      rc::gen::pair(rc::gen::arbitrary<bool>(), rc::gen::nonEmpty(rc::gen::container<Bytes>(rc::gen::inRange('0', ':')))),
      [](const std::pair<bool, Bytes>& p) { return (p.first ? "-" : "") + p.second; });
}

rc::Gen<double> gen_double() {
  return rc::gen::weightedOneOf<double>(
      {{4, rc::gen::arbitrary<double>()},
       {1, rc::gen::element<double>(HUGE_VAL, -HUGE_VAL, std::nan(""), 0.0, 0.1, 1e300, 5e-324)}});
}

rc::Gen<Value> gen_scalar() {
  return rc::gen::oneOf(rc::gen::map(gen_line_text(), [](Bytes s) { return Value::simple_string(s); }),
                        rc::gen::map(gen_line_text(), [](Bytes s) { return Value::error(s); }),
                        rc::gen::map(rc::gen::arbitrary<int64_t>(), Value::integer_value),
                        rc::gen::map(gen_bytes(), [](Bytes s) { return Value::bulk(s); }),
                        rc::gen::just(Value::null()), rc::gen::map(gen_double(), Value::double_value),
                        rc::gen::map(rc::gen::arbitrary<bool>(), Value::boolean),
                        rc::gen::map(gen_digits(), [](Bytes s) { return Value::big_number(s); }),
                        rc::gen::map(rc::gen::pair(rc::gen::container<Bytes>(3, gen_byte()), gen_bytes()),
                                     [](const std::pair<Bytes, Bytes>& p) { return Value::verbatim(p.first, p.second); }));
}

rc::Gen<Value> gen_value(int depth) {
  if (depth == 0) return gen_scalar();
  auto children = rc::gen::resize(6, rc::gen::container<std::vector<Value>>(gen_value(depth - 1)));
  return rc::gen::weightedOneOf<Value>(
      {{3, gen_scalar()},
       {1, rc::gen::map(children, Value::array)},
       {1, rc::gen::map(children,
                        [](std::vector<Value> v) {
                          if (v.size() % 2 == 1) v.pop_back();
                          return Value::map(std::move(v));
                        })},
       {1, rc::gen::map(children, Value::set)},
       {1, rc::gen::map(children, Value::push)}});
}

// What a RESP2 client sees of a value written in RESP2.
Value resp2_image(const Value& v) {
  switch (v.type) {
    case Type::kDouble: {
      Bytes text;
      keel::net::resp::wire::append_double(text, v.real);
      return Value::bulk(text);
    }
    case Type::kBoolean: return Value::integer_value(v.integer);
    case Type::kBigNumber: return Value::bulk(v.str);
    case Type::kVerbatim: return Value::bulk(v.str);
    case Type::kArray:
    case Type::kMap:
    case Type::kSet:
    case Type::kPush: {
      std::vector<Value> elements;
      for (const Value& e : v.elements) elements.push_back(resp2_image(e));
      return Value::array(std::move(elements));
    }
    default: return v;
  }
}

// Feeds `input` cut at the given chunk sizes (cycled), draining each time.
template <typename Parser, typename Outcome, typename Drain>
Outcome feed_chunked(const Bytes& input, const std::vector<size_t>& sizes, Drain drain) {
  Parser parser;
  Outcome out;
  size_t at = 0;
  size_t i = 0;
  while (at < input.size() && !out.error) {
    size_t n = sizes.empty() ? input.size() : std::max<size_t>(1, sizes[i++ % sizes.size()]);
    parser.feed(keel::core::ByteView(input).substr(at, n));
    at += n;
    drain(parser, out);
  }
  return out;
}

void drain_requests(RequestParser& parser, RequestOutcome& out) {
  Argv argv;
  while (true) {
    auto r = parser.next(argv);
    if (!r.is_ok()) {
      out.error = r.status();
      return;
    }
    if (!*r) return;
    out.commands.push_back(argv);
  }
}

void drain_replies(ReplyParser& parser, ReplyOutcome& out) {
  while (true) {
    auto r = parser.next();
    if (!r.is_ok()) {
      out.error = r.status();
      return;
    }
    if (!r->has_value()) return;
    out.replies.push_back(std::move(**r));
  }
}

rc::Gen<std::vector<size_t>> gen_chunks() {
  return rc::gen::container<std::vector<size_t>>(rc::gen::inRange<size_t>(1, 40));
}

}  // namespace

TEST_CASE("request codec: any pipeline of argvs encodes and parses back, however chunked", "[resp][prop]") {
  rc::prop("round trip", [] {
    // Sizes are capped so that a hundred cases stay well under a second.
    auto commands = *rc::gen::resize(
        30, rc::gen::nonEmpty(rc::gen::container<std::vector<Argv>>(rc::gen::nonEmpty(rc::gen::container<Argv>(gen_bytes())))));
    auto chunks = *gen_chunks();
    Bytes wire;
    for (const Argv& argv : commands) append_request(wire, argv);
    auto out = feed_chunked<RequestParser, RequestOutcome>(wire, chunks, drain_requests);
    RC_ASSERT(!out.error);
    RC_ASSERT(out.commands == commands);
  });
}

TEST_CASE("reply codec: any RESP3 tree writes and parses back, however chunked", "[resp][prop]") {
  rc::prop("round trip", [] {
    auto replies = *rc::gen::nonEmpty(rc::gen::container<std::vector<Value>>(gen_value(3)));
    auto chunks = *gen_chunks();
    ReplyWriter writer(Protocol::kResp3);
    for (const Value& v : replies) writer.value(v);
    auto out = feed_chunked<ReplyParser, ReplyOutcome>(writer.bytes(), chunks, drain_replies);
    RC_ASSERT(!out.error);
    RC_ASSERT(out.replies == replies);
  });
}

TEST_CASE("reply codec: any tree written in RESP2 parses back as its RESP2 image", "[resp][prop]") {
  rc::prop("round trip", [] {
    auto replies = *rc::gen::nonEmpty(rc::gen::container<std::vector<Value>>(gen_value(3)));
    auto chunks = *gen_chunks();
    ReplyWriter writer(Protocol::kResp2);
    for (const Value& v : replies) writer.value(v);
    auto out = feed_chunked<ReplyParser, ReplyOutcome>(writer.bytes(), chunks, drain_replies);
    RC_ASSERT(!out.error);
    RC_ASSERT(out.replies.size() == replies.size());
    for (size_t i = 0; i < replies.size(); ++i) RC_ASSERT(out.replies[i] == resp2_image(replies[i]));
  });
}

TEST_CASE("request parser: arbitrary bytes give the same outcome however chunked", "[resp][prop]") {
  rc::prop("chunk independence", [] {
    // Protocol-shaped fragments make deeper paths reachable than pure noise.
    auto pieces = *rc::gen::container<std::vector<Bytes>>(rc::gen::oneOf(
        gen_bytes(), rc::gen::element<Bytes>("*2\r\n", "*1\r\n", "$3\r\n", "$0\r\n", "\r\n", "GET", "*-1\r\n",
                                             "$-1\r\n", "PING\n", "\"a b\" ", "'x'")));
    Bytes input;
    for (const Bytes& p : pieces) input += p;
    auto chunks = *gen_chunks();
    auto whole = feed_chunked<RequestParser, RequestOutcome>(input, {}, drain_requests);
    auto cut = feed_chunked<RequestParser, RequestOutcome>(input, chunks, drain_requests);
    RC_ASSERT(whole == cut);
  });
}

TEST_CASE("reply parser: arbitrary bytes give the same outcome however chunked", "[resp][prop]") {
  rc::prop("chunk independence", [] {
    auto pieces = *rc::gen::container<std::vector<Bytes>>(rc::gen::oneOf(
        gen_bytes(), rc::gen::element<Bytes>("*2\r\n", "%1\r\n", "$3\r\n", "=5\r\n", "\r\n", "+OK", ":1\r\n",
                                             "_\r\n", "#t\r\n", ",1.5\r\n", "~1\r\n", ">1\r\n", "$-1\r\n")));
    Bytes input;
    for (const Bytes& p : pieces) input += p;
    auto chunks = *gen_chunks();
    auto whole = feed_chunked<ReplyParser, ReplyOutcome>(input, {}, drain_replies);
    auto cut = feed_chunked<ReplyParser, ReplyOutcome>(input, chunks, drain_replies);
    RC_ASSERT(whole == cut);
  });
}
