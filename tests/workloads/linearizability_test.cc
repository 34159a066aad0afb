#include "workloads/linearizability.h"

#include <catch2/catch.hpp>

#include "tests/workloads/test_histories.h"

using namespace keel::workloads;
using namespace keel::workloads::testing;

namespace {

Verdict check(const History& h, LinearizabilityOptions options = {}) {
  LinearizabilityResult result = check_linearizability(h, options);
  // The pruning of unobserved indeterminate writes must never change the
  // answer, so every test runs both ways.
  options.prune_unobserved_writes = !options.prune_unobserved_writes;
  LinearizabilityResult other = check_linearizability(h, options);
  REQUIRE(other.verdict == result.verdict);
  if (result.verdict != Verdict::kPass) UNSCOPED_INFO(result.summary());
  return result.verdict;
}

}  // namespace

TEST_CASE("linearizability: sequential register history passes", "[workloads][unit]") {
  History h;
  read(h, 1, "x", std::nullopt, 0, 1);
  write(h, 1, "x", "a", 2, 3);
  read(h, 2, "x", std::string("a"), 4, 5);
  cas(h, 1, "x", "a", "b", true, 6, 7);
  cas(h, 2, "x", "a", "c", false, 8, 9);
  read(h, 1, "x", std::string("b"), 10, 11);
  REQUIRE(check(h) == Verdict::kPass);
}

TEST_CASE("linearizability: stale read after a completed write fails", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  write(h, 1, "x", "b", 2, 3);
  OpId stale = read(h, 2, "x", std::string("a"), 4, 5);
  LinearizabilityResult result = check_linearizability(h);
  REQUIRE(result.verdict == Verdict::kFail);
  REQUIRE(result.keys.size() == 1);
  const KeyLinearizability& k = result.keys[0];
  INFO(k.report);
  REQUIRE(k.key == "x");
  // The report names the longest prefix, the state and the stale read.
  REQUIRE(k.report.find("Longest linearizable prefix: 2 of 3") != std::string::npos);
  REQUIRE(k.report.find("State after the prefix: \"b\"") != std::string::npos);
  REQUIRE(k.report.find(describe(h.op(stale))) != std::string::npos);
  REQUIRE(k.report.find("impossible in state \"b\"") != std::string::npos);
  REQUIRE(k.window_to == ms(5));
  REQUIRE(result.summary().find("FAIL") != std::string::npos);
}

TEST_CASE("linearizability: read of a value never written fails", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 10);
  read(h, 2, "x", std::string("zzz"), 1, 9);
  REQUIRE(check(h) == Verdict::kFail);
}

TEST_CASE("linearizability: read of nil after a completed write fails", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  read(h, 2, "x", std::nullopt, 2, 3);
  REQUIRE(check(h) == Verdict::kFail);
}

TEST_CASE("linearizability: cas applied on the wrong value fails", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  cas(h, 2, "x", "b", "c", true, 2, 3);
  REQUIRE(check(h) == Verdict::kFail);

  History nil_key;
  cas(nil_key, 2, "x", "", "c", true, 2, 3);  // nil never equals a value, even ""
  REQUIRE(check(nil_key) == Verdict::kFail);
}

TEST_CASE("linearizability: cas rejected although the value matched fails", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  cas(h, 2, "x", "a", "c", false, 2, 3);
  REQUIRE(check(h) == Verdict::kFail);
}

TEST_CASE("linearizability: overlapping writes may take effect in the opposite order",
          "[workloads][unit]") {
  // w(a) is invoked first, but the reads force b, then a: w(b) must be
  // linearized before w(a).
  History h;
  write(h, 1, "x", "a", 0, 10);
  write(h, 2, "x", "b", 1, 11);
  read(h, 3, "x", std::string("b"), 2, 3);
  read(h, 3, "x", std::string("a"), 4, 5);
  REQUIRE(check(h) == Verdict::kPass);

  // Reading b again after a is impossible: there is only one write of b.
  read(h, 3, "x", std::string("b"), 6, 7);
  REQUIRE(check(h) == Verdict::kFail);
}

TEST_CASE("linearizability: a cas chain resolves concurrent cas in the only valid order",
          "[workloads][unit]") {
  History h;
  write(h, 1, "x", "0", 0, 1);
  // Three concurrent cas ops, invoked in the reverse of the order in which
  // they can succeed.
  cas(h, 1, "x", "2", "3", true, 2, 20);
  cas(h, 2, "x", "1", "2", true, 3, 20);
  cas(h, 3, "x", "0", "1", true, 4, 20);
  cas(h, 4, "x", "0", "9", false, 5, 20);  // rejected: linearized after the first cas
  read(h, 4, "x", std::string("3"), 21, 22);
  REQUIRE(check(h) == Verdict::kPass);
}

TEST_CASE("linearizability: an indeterminate write may have happened", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  unknown_write(h, 2, "x", "b", 2, 3);
  read(h, 1, "x", std::string("a"), 4, 5);
  read(h, 1, "x", std::string("b"), 100, 101);  // took effect long after the client gave up
  read(h, 3, "x", std::string("b"), 102, 103);
  REQUIRE(check(h) == Verdict::kPass);

  // Once seen, it cannot be undone.
  read(h, 3, "x", std::string("a"), 104, 105);
  REQUIRE(check(h) == Verdict::kFail);
}

TEST_CASE("linearizability: an indeterminate write may never have happened", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  unknown_write(h, 2, "x", "b", 2, 3);
  read(h, 1, "x", std::string("a"), 4, 5);
  cas(h, 1, "x", "a", "c", true, 6, 7);
  read(h, 1, "x", std::string("c"), 8, 9);
  REQUIRE(check(h) == Verdict::kPass);
}

TEST_CASE("linearizability: a rejected cas can be explained by an indeterminate write",
          "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  unknown_write(h, 2, "x", "b", 2, 3);
  // x is "a" or "b" here; rejection of cas(a->c) means "b" was written.
  cas(h, 1, "x", "a", "c", false, 4, 5);
  read(h, 1, "x", std::string("a"), 6, 7);  // but then a is back: impossible
  REQUIRE(check(h) == Verdict::kFail);

  History ok;
  write(ok, 1, "x", "a", 0, 1);
  unknown_write(ok, 2, "x", "b", 2, 3);
  cas(ok, 1, "x", "a", "c", false, 4, 5);
  read(ok, 1, "x", std::string("b"), 6, 7);
  REQUIRE(check(ok) == Verdict::kPass);
}

TEST_CASE("linearizability: a failed write is ignored, and reading its value fails",
          "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  failed_write(h, 2, "x", "b", 2, 3);
  read(h, 1, "x", std::string("a"), 4, 5);
  REQUIRE(check(h) == Verdict::kPass);
  read(h, 1, "x", std::string("b"), 6, 7);
  REQUIRE(check(h) == Verdict::kFail);
}

TEST_CASE("linearizability: a completion and an invocation at the same instant are concurrent",
          "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 5);
  read(h, 2, "x", std::nullopt, 5, 6);
  REQUIRE(check(h) == Verdict::kPass);
  History later;
  write(later, 1, "x", "a", 0, 5);
  read(later, 2, "x", std::nullopt, 6, 7);
  REQUIRE(check(later) == Verdict::kFail);
}

TEST_CASE("linearizability: counter increments pass in any order consistent with results",
          "[workloads][unit]") {
  History h;
  incr(h, 1, "n", 1, 3, 0, 10);
  incr(h, 2, "n", 1, 1, 1, 10);
  incr(h, 3, "n", 1, 2, 2, 10);
  read(h, 1, "n", std::string("3"), 11, 12);
  REQUIRE(check(h) == Verdict::kPass);
  REQUIRE(check_linearizability(h).keys[0].model == ModelKind::kCounter);
}

TEST_CASE("linearizability: non-monotonic counter fails", "[workloads][unit]") {
  History h;
  incr(h, 1, "n", 1, 1, 0, 1);
  incr(h, 1, "n", 1, 2, 2, 3);
  read(h, 2, "n", std::string("1"), 4, 5);
  REQUIRE(check(h) == Verdict::kFail);

  History dup;
  incr(dup, 1, "n", 1, 1, 0, 5);
  incr(dup, 2, "n", 1, 1, 1, 6);  // both saw 1: one increment was lost or doubled
  REQUIRE(check(dup) == Verdict::kFail);

  History nil_after;
  incr(nil_after, 1, "n", 0, 0, 0, 1);
  read(nil_after, 2, "n", std::nullopt, 2, 3);  // INCRBY 0 created the key
  REQUIRE(check(nil_after) == Verdict::kFail);
}

TEST_CASE("linearizability: an indeterminate increment may count or not", "[workloads][unit]") {
  History h;
  incr(h, 1, "n", 1, 1, 0, 1);
  OpId lost = h.invoke_incr(ClientId(2), "n", 10, ms(2));
  h.indeterminate(lost, ms(3));
  read(h, 1, "n", std::string("1"), 4, 5);
  incr(h, 1, "n", 1, 12, 6, 7);
  REQUIRE(check(h) == Verdict::kPass);

  History impossible;
  incr(impossible, 1, "n", 1, 1, 0, 1);
  OpId u = impossible.invoke_incr(ClientId(2), "n", 10, ms(2));
  impossible.indeterminate(u, ms(3));
  read(impossible, 1, "n", std::string("5"), 4, 5);
  REQUIRE(check(impossible) == Verdict::kFail);
}

TEST_CASE("linearizability: keys are checked independently", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  write(h, 1, "y", "a", 0, 1);
  read(h, 2, "x", std::string("a"), 2, 3);
  read(h, 2, "y", std::nullopt, 2, 3);
  append(h, 3, "set", "e1", 0, 1);
  LinearizabilityResult result = check_linearizability(h);
  REQUIRE(result.verdict == Verdict::kFail);
  REQUIRE(result.keys.size() == 2);
  REQUIRE(result.keys[0].verdict == Verdict::kPass);
  REQUIRE(result.keys[1].key == "y");
  REQUIRE(result.keys[1].verdict == Verdict::kFail);
  REQUIRE(result.skipped_keys == std::vector<std::string>{"set"});
  REQUIRE(check_key_linearizability(h, "x").verdict == Verdict::kPass);
}

TEST_CASE("linearizability: an exhausted budget is unknown, never pass", "[workloads][unit]") {
  History h;
  for (int i = 0; i < 8; ++i) write(h, i, "x", "v" + std::to_string(i), 0, 100);
  read(h, 9, "x", std::string("v3"), 101, 102);
  LinearizabilityOptions tiny;
  tiny.search_steps_max = 3;
  LinearizabilityResult result = check_linearizability(h, tiny);
  REQUIRE(result.verdict == Verdict::kUnknown);
  REQUIRE(result.keys[0].report.find("budget exhausted") != std::string::npos);
  REQUIRE(check_linearizability(h).verdict == Verdict::kPass);
}

TEST_CASE("linearizability: unsupported operations make a key unknown", "[workloads][unit]") {
  History h;
  write(h, 1, "n", "not-a-number", 0, 1);
  incr(h, 1, "n", 1, 1, 2, 3);
  LinearizabilityResult result = check_linearizability(h);
  REQUIRE(result.verdict == Verdict::kUnknown);
  REQUIRE(result.keys[0].report.find("integer writes only") != std::string::npos);
}

TEST_CASE("linearizability: unobserved indeterminate writes are pruned", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  for (int i = 0; i < 40; ++i) unknown_write(h, 2 + i, "x", "lost" + std::to_string(i), 2, 3);
  read(h, 1, "x", std::string("a"), 4, 5);
  LinearizabilityResult pruned = check_linearizability(h);
  REQUIRE(pruned.verdict == Verdict::kPass);
  REQUIRE(pruned.keys[0].ops_dropped == 40);
  REQUIRE(pruned.keys[0].ops_checked == 2);
}

TEST_CASE("linearizability: interchangeable indeterminate increments are explored once",
          "[workloads][unit]") {
  History h;
  incr(h, 1, "n", 1, 1, 0, 1);
  for (int i = 0; i < 30; ++i) {
    OpId u = h.invoke_incr(ClientId(10 + i), "n", 1, ms(2 + i));
    h.indeterminate(u, ms(3 + i));
  }
  read(h, 1, "n", std::string("1"), 40, 41);
  read(h, 1, "n", std::string("17"), 42, 43);
  incr(h, 1, "n", 1, 25, 44, 45);  // 23 of the 30 took effect by now
  read(h, 1, "n", std::string("31"), 46, 47);
  LinearizabilityResult result = check_linearizability(h);
  INFO(result.summary());
  REQUIRE(result.verdict == Verdict::kPass);
  // Without symmetry breaking this explores ~2^30 subsets.
  REQUIRE(result.search_steps < 100'000);

  read(h, 1, "n", std::string("33"), 48, 49);  // only 30 + 2 increments exist
  REQUIRE(check(h) == Verdict::kFail);
}

TEST_CASE("linearizability: an increment that would overflow int64 fails with no effect",
          "[workloads][unit]") {
  const int64_t high = INT64_MAX - 5;
  const int64_t low = INT64_MIN + 5000;
  History h;
  incr(h, 1, "up", high, high, 0, 1);
  failed_incr(h, 2, "up", 10, 2, 3);  // -ERR increment or decrement would overflow
  read(h, 1, "up", std::to_string(high), 4, 5);
  incr(h, 2, "up", 5, INT64_MAX, 6, 7);  // exactly INT64_MAX does not overflow
  unknown_incr(h, 3, "up", 1, 8, 9);     // would overflow: has no effect
  read(h, 1, "up", std::to_string(INT64_MAX), 10, 11);

  incr(h, 1, "down", low, low, 0, 1);
  failed_incr(h, 2, "down", -5001, 2, 3);
  incr(h, 2, "down", -4999, INT64_MIN + 1, 4, 5);
  read(h, 1, "down", std::to_string(INT64_MIN + 1), 6, 7);
  REQUIRE(check(h) == Verdict::kPass);
}

TEST_CASE("linearizability: an increment that wrapped around int64 fails", "[workloads][unit]") {
  const int64_t high = INT64_MAX - 5;
  History up;
  incr(up, 1, "n", high, high, 0, 1);
  incr(up, 2, "n", 10, wrapped_sum(high, 10), 2, 3);
  REQUIRE(check(up) == Verdict::kFail);

  History down;
  incr(down, 1, "n", INT64_MIN + 5000, INT64_MIN + 5000, 0, 1);
  incr(down, 2, "n", -5001, wrapped_sum(INT64_MIN + 5000, -5001), 2, 3);
  REQUIRE(check(down) == Verdict::kFail);

  // The reply was lost, but a read sees the wrapped value: no order of the
  // increments explains it, since an overflowing one has no effect.
  History unseen;
  incr(unseen, 1, "n", high, high, 0, 1);
  unknown_incr(unseen, 2, "n", 10, 2, 3);
  read(unseen, 1, "n", std::to_string(wrapped_sum(high, 10)), 4, 5);
  REQUIRE(check(unseen) == Verdict::kFail);

  // Concurrent increments that both succeed: one order would overflow, the
  // other need not, and the results name the one that did not.
  History order;
  incr(order, 1, "n", high, high, 0, 1);
  incr(order, 1, "n", 10, high, 2, 10);
  incr(order, 2, "n", -10, high - 10, 3, 9);
  REQUIRE(check(order) == Verdict::kPass);
  History wrong_order;
  incr(wrong_order, 1, "n", high, high, 0, 1);
  incr(wrong_order, 1, "n", 10, wrapped_sum(high, 10), 2, 10);
  incr(wrong_order, 2, "n", -10, wrapped_sum(wrapped_sum(high, 10), -10), 3, 9);
  REQUIRE(check(wrong_order) == Verdict::kFail);
}
