#include "workloads/history.h"

#include <catch2/catch.hpp>

#include "tests/workloads/test_histories.h"

using namespace keel::workloads;
using namespace keel::workloads::testing;

TEST_CASE("history: invoke and complete record inputs, outputs and outcomes", "[workloads][unit]") {
  History h;
  OpId w = write(h, 1, "x", "a", 0, 2);
  OpId r = read(h, 2, "x", std::string("a"), 1, 3);
  OpId c = cas(h, 1, "x", "a", "b", true, 4, 5);
  OpId i = incr(h, 3, "n", 5, 5, 4, 6);
  OpId u = unknown_write(h, 2, "x", "z", 7, 9);
  OpId f = failed_write(h, 2, "x", "q", 10, 11);
  OpId p = h.invoke_read(ClientId(4), "x", ms(12));

  REQUIRE(h.size() == 7);
  REQUIRE(h.op(w).outcome == Outcome::kOk);
  REQUIRE(h.op(w).value == "a");
  REQUIRE(h.op(r).read_value == std::optional<std::string>("a"));
  REQUIRE(h.op(c).expected == "a");
  REQUIRE(h.op(c).cas_applied);
  REQUIRE(h.op(i).delta == 5);
  REQUIRE(h.op(i).incr_result == 5);
  REQUIRE(h.op(u).outcome == Outcome::kIndeterminate);
  REQUIRE(h.op(u).complete_time == ms(9));
  REQUIRE(h.op(u).effective_complete_time() == kInstantInfinity);
  REQUIRE(h.op(f).outcome == Outcome::kFail);
  REQUIRE_FALSE(h.op(f).may_have_happened());
  REQUIRE(h.op(f).effective_complete_time() == ms(11));
  REQUIRE(h.op(p).outcome == Outcome::kPending);
  REQUIRE(h.op(p).effective_complete_time() == kInstantInfinity);
  REQUIRE(h.keys() == std::vector<std::string>{"n", "x"});
}

TEST_CASE("history: describe names the operation, its interval and its result", "[workloads][unit]") {
  History h;
  cas(h, 3, "k1", "a", "b", false, 1, 2);
  read(h, 1, "k1", std::nullopt, 3, 4);
  std::string d0 = describe(h.op(0));
  REQUIRE(d0 == "#0 c3 cas \"k1\" \"a\"->\"b\" [1.000ms, 2.000ms] ok not-applied");
  REQUIRE(describe(h.op(1)) == "#1 c1 read \"k1\" [3.000ms, 4.000ms] ok -> nil");
  REQUIRE(quote_bytes(std::string("a\"\x01", 3)) == "\"a\\\"\\x01\"");
  REQUIRE(quote_bytes(std::string(50, 'x')) == "\"" + std::string(40, 'x') + "...\"");
}

TEST_CASE("history: dump_key shows only the key's operations in the window", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "early", 0, 1);
  write(h, 1, "y", "other", 5, 6);
  write(h, 1, "x", "inside", 5, 7);
  unknown_write(h, 2, "x", "forever", 2, 3);
  write(h, 1, "x", "late", 20, 21);
  std::string dump = h.dump_key("x", ms(4), ms(10));
  REQUIRE(dump.find("inside") != std::string::npos);
  REQUIRE(dump.find("forever") != std::string::npos);  // indeterminate: still open
  REQUIRE(dump.find("early") == std::string::npos);
  REQUIRE(dump.find("late") == std::string::npos);
  REQUIRE(dump.find("other") == std::string::npos);
  REQUIRE(dump.find("forever") < dump.find("inside"));  // invocation order
}

TEST_CASE("history: JSON lines escape strings and carry outputs", "[workloads][unit]") {
  History h;
  write(h, 1, "k\"1", std::string("a\n\xff", 3), 0, 1);
  read(h, 2, "k\"1", std::nullopt, 2, 3);
  incr(h, 2, "n", -2, -2, 4, 5);
  h.invoke_read(ClientId(3), "n", ms(6));
  std::string j = h.to_jsonl();
  REQUIRE(j ==
          "{\"id\":0,\"client\":1,\"key\":\"k\\\"1\",\"kind\":\"write\",\"value\":\"a\\n\\u00ff\","
          "\"invoke_ns\":0,\"complete_ns\":1000000,\"outcome\":\"ok\"}\n"
          "{\"id\":1,\"client\":2,\"key\":\"k\\\"1\",\"kind\":\"read\",\"invoke_ns\":2000000,"
          "\"complete_ns\":3000000,\"outcome\":\"ok\",\"output\":null}\n"
          "{\"id\":2,\"client\":2,\"key\":\"n\",\"kind\":\"incr\",\"delta\":-2,\"invoke_ns\":4000000,"
          "\"complete_ns\":5000000,\"outcome\":\"ok\",\"output\":-2}\n"
          "{\"id\":3,\"client\":3,\"key\":\"n\",\"kind\":\"read\",\"invoke_ns\":6000000,"
          "\"outcome\":\"pending\"}\n");
}

TEST_CASE("history: an append records the length APPEND returned", "[workloads][unit]") {
  History h;
  OpId known = append(h, 1, "s", "c1-1", 0, 1, 5);
  OpId unknown = append(h, 2, "s", "c2-1", 2, 3);
  REQUIRE(h.op(known).append_length == std::optional<int64_t>(5));
  REQUIRE_FALSE(h.op(unknown).append_length.has_value());
  REQUIRE(describe(h.op(known)) == "#0 c1 append \"s\" \"c1-1\" [0ns, 1.000ms] ok -> length 5");
  REQUIRE(describe(h.op(unknown)) == "#1 c2 append \"s\" \"c2-1\" [2.000ms, 3.000ms] ok");
  REQUIRE(h.to_jsonl() ==
          "{\"id\":0,\"client\":1,\"key\":\"s\",\"kind\":\"append\",\"value\":\"c1-1\","
          "\"invoke_ns\":0,\"complete_ns\":1000000,\"outcome\":\"ok\",\"output\":5}\n"
          "{\"id\":1,\"client\":2,\"key\":\"s\",\"kind\":\"append\",\"value\":\"c2-1\","
          "\"invoke_ns\":2000000,\"complete_ns\":3000000,\"outcome\":\"ok\"}\n");
}
