#include "workloads/durability.h"

#include <catch2/catch.hpp>

#include "tests/workloads/test_histories.h"

using namespace keel::workloads;
using namespace keel::workloads::testing;

namespace {

FinalState final_value(const std::string& key, std::optional<std::string> value) {
  FinalState f;
  f.values[key] = std::move(value);
  return f;
}

FinalState final_set(const std::string& key, std::vector<std::string> elements) {
  FinalState f;
  f.elements[key] = std::move(elements);
  return f;
}

}  // namespace

TEST_CASE("durability: the last acknowledged write survives", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  write(h, 1, "x", "b", 2, 3);
  DurabilityResult ok = check_durability(h, final_value("x", "b"));
  REQUIRE(ok.verdict == Verdict::kPass);
  REQUIRE(ok.acknowledged_writes == 2);
}

TEST_CASE("durability: a lost acknowledged write fails", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  OpId b = write(h, 1, "x", "b", 2, 3);
  DurabilityResult result = check_durability(h, final_value("x", "a"));
  INFO(result.summary());
  REQUIRE(result.verdict == Verdict::kFail);
  REQUIRE(result.problems.size() == 1);
  REQUIRE(result.problems[0].find("acknowledged write lost") != std::string::npos);
  REQUIRE(result.problems[0].find(describe(h.op(b))) != std::string::npos);

  REQUIRE(check_durability(h, final_value("x", std::nullopt)).verdict == Verdict::kFail);
}

TEST_CASE("durability: concurrent writes may end in either order", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 10);
  write(h, 2, "x", "b", 5, 6);
  REQUIRE(check_durability(h, final_value("x", "a")).verdict == Verdict::kPass);
  REQUIRE(check_durability(h, final_value("x", "b")).verdict == Verdict::kPass);
}

TEST_CASE("durability: a later indeterminate write or applied cas may replace a write",
          "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  unknown_write(h, 2, "x", "b", 2, 3);
  REQUIRE(check_durability(h, final_value("x", "b")).verdict == Verdict::kPass);
  REQUIRE(check_durability(h, final_value("x", "a")).verdict == Verdict::kPass);

  cas(h, 1, "x", "a", "c", true, 4, 5);
  REQUIRE(check_durability(h, final_value("x", "c")).verdict == Verdict::kPass);
  // "a" was replaced by the acknowledged cas, which is now lost.
  REQUIRE(check_durability(h, final_value("x", "a")).verdict == Verdict::kFail);
}

TEST_CASE("durability: a final value nobody wrote fails", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  failed_write(h, 1, "x", "f", 2, 3);
  DurabilityResult never = check_durability(h, final_value("x", "zzz"));
  REQUIRE(never.verdict == Verdict::kFail);
  REQUIRE(never.problems[0].find("never written") != std::string::npos);
  DurabilityResult failed = check_durability(h, final_value("x", "f"));
  REQUIRE(failed.verdict == Verdict::kFail);
  REQUIRE(failed.problems[0].find("failed") != std::string::npos);

  FinalState stray = final_value("x", "a");
  stray.values["ghost"] = "boo";
  REQUIRE(check_durability(h, stray).verdict == Verdict::kFail);
}

TEST_CASE("durability: a missing final read is unknown", "[workloads][unit]") {
  History h;
  write(h, 1, "x", "a", 0, 1);
  REQUIRE(check_durability(h, FinalState{}).verdict == Verdict::kUnknown);
  History reads_only;
  read(reads_only, 1, "x", std::nullopt, 0, 1);
  REQUIRE(check_durability(reads_only, FinalState{}).verdict == Verdict::kPass);
}

TEST_CASE("durability: counters keep every acknowledged increment", "[workloads][unit]") {
  History h;
  incr(h, 1, "n", 2, 2, 0, 1);
  incr(h, 1, "n", 3, 5, 2, 3);
  OpId u = h.invoke_incr(ClientId(2), "n", 10, ms(4));
  h.indeterminate(u, ms(5));
  REQUIRE(check_durability(h, final_value("n", "5")).verdict == Verdict::kPass);
  REQUIRE(check_durability(h, final_value("n", "15")).verdict == Verdict::kPass);
  DurabilityResult lost = check_durability(h, final_value("n", "2"));
  INFO(lost.summary());
  REQUIRE(lost.verdict == Verdict::kFail);
  REQUIRE(lost.problems[0].find("outside [5, 15]") != std::string::npos);
  REQUIRE(check_durability(h, final_value("n", "16")).verdict == Verdict::kFail);
  REQUIRE(check_durability(h, final_value("n", std::nullopt)).verdict == Verdict::kFail);
  REQUIRE(check_durability(h, final_value("n", "x")).verdict == Verdict::kFail);
}

TEST_CASE("durability: every acknowledged unique append is present", "[workloads][unit]") {
  History h;
  append(h, 1, "s", "e1", 0, 1);
  append(h, 2, "s", "e2", 0, 2);
  OpId u = h.invoke_append(ClientId(3), "s", "e3", ms(3));
  h.indeterminate(u, ms(4));
  OpId f = h.invoke_append(ClientId(3), "s", "e4", ms(5));
  h.fail(f, ms(6));

  REQUIRE(check_durability(h, final_set("s", {"e2", "e1"})).verdict == Verdict::kPass);
  REQUIRE(check_durability(h, final_set("s", {"e1", "e3", "e2"})).verdict == Verdict::kPass);

  DurabilityResult lost = check_durability(h, final_set("s", {"e1", "e3"}));
  REQUIRE(lost.verdict == Verdict::kFail);
  REQUIRE(lost.problems[0].find("\"e2\"") != std::string::npos);

  DurabilityResult phantom = check_durability(h, final_set("s", {"e1", "e2", "e4"}));
  REQUIRE(phantom.verdict == Verdict::kFail);
  REQUIRE(phantom.problems[0].find("\"e4\"") != std::string::npos);

  FinalState twice = final_set("s", {"e1", "e2", "e1"});
  REQUIRE(check_durability(h, twice).verdict == Verdict::kFail);
  DurabilityOptions lenient;
  lenient.allow_duplicates = true;
  REQUIRE(check_durability(h, twice, lenient).verdict == Verdict::kPass);
}

TEST_CASE("durability: split_elements decodes separator-terminated lists", "[workloads][unit]") {
  REQUIRE(split_elements("a,b,c,", ',') == std::vector<std::string>{"a", "b", "c"});
  REQUIRE(split_elements("a,b", ',') == std::vector<std::string>{"a", "b"});
  REQUIRE(split_elements("", ',').empty());
}

TEST_CASE("durability: an append's element ends where its returned length says",
          "[workloads][unit]") {
  // The stored value is "e1,e3,e2,e4,": e1 ends at 3, e3 (whose outcome its
  // client never learned) at 6, e2 at 9, e4 at 12.
  History h;
  append(h, 1, "s", "e1", 0, 1, 3);
  OpId u = h.invoke_append(ClientId(3), "s", "e3", ms(1));
  h.indeterminate(u, ms(4));
  append(h, 2, "s", "e2", 2, 3, 9);
  append(h, 1, "s", "e4", 5, 6);  // no length recorded: presence only
  DurabilityResult ok = check_durability(h, final_set("s", {"e1", "e3", "e2", "e4"}));
  INFO(ok.summary());
  REQUIRE(ok.verdict == Verdict::kPass);
  REQUIRE(ok.acknowledged_writes == 3);

  // The terminator size is the workload's encoding: with two bytes per
  // element ("e1\r\n") the same lengths no longer fit.
  DurabilityOptions crlf;
  crlf.element_terminator_bytes = 2;
  REQUIRE(check_durability(h, final_set("s", {"e1", "e3", "e2", "e4"}), crlf).verdict ==
          Verdict::kFail);

  // A lost element is reported once, as lost; the others still check out.
  DurabilityResult lost = check_durability(h, final_set("s", {"e1", "e3", "e4"}));
  INFO(lost.summary());
  REQUIRE(lost.verdict == Verdict::kFail);
  REQUIRE(lost.problems.size() == 1);
  REQUIRE(lost.problems[0].find("missing") != std::string::npos);

  // A key the final read could not reach is unknown, whatever the lengths.
  REQUIRE(check_durability(h, FinalState()).verdict == Verdict::kUnknown);
}

TEST_CASE("durability: an append that returned the wrong length fails", "[workloads][unit]") {
  // A store that answers APPEND with the length before the append: every
  // element is present, but e2 claims to end at 3, where e1 ends.
  History h;
  append(h, 1, "s", "e1", 0, 1, 0);
  append(h, 2, "s", "e2", 2, 3, 3);
  DurabilityResult result = check_durability(h, final_set("s", {"e1", "e2"}));
  INFO(result.summary());
  REQUIRE(result.verdict == Verdict::kFail);
  REQUIRE(result.problems.size() == 1);
  REQUIRE(result.problems[0].find("append of \"e1\" returned length 0 but its element ends at 3 "
                                  "in the final value") != std::string::npos);
  REQUIRE(result.problems[0].find("append of \"e2\" returned length 3 but its element ends at 6 "
                                  "in the final value") != std::string::npos);

  // Elements stored twice (a retrying workload) may end at either place.
  DurabilityOptions lenient;
  lenient.allow_duplicates = true;
  History retried;
  append(retried, 1, "s", "e1", 0, 1, 6);
  append(retried, 2, "s", "e2", 0, 1, 3);
  REQUIRE(check_durability(retried, final_set("s", {"e2", "e1", "e1"}), lenient).verdict ==
          Verdict::kPass);
  DurabilityResult far = check_durability(retried, final_set("s", {"e2", "e1", "e2", "e1"}), lenient);
  INFO(far.summary());
  REQUIRE(far.verdict == Verdict::kPass);
  append(retried, 1, "s", "e3", 2, 3, 4);
  DurabilityResult wrong = check_durability(retried, final_set("s", {"e2", "e1", "e3", "e3"}), lenient);
  REQUIRE(wrong.verdict == Verdict::kFail);
  REQUIRE(wrong.problems[0].find("ends at 9 and 12") != std::string::npos);
}

TEST_CASE("durability: counter bounds beyond int64 are reported exactly", "[workloads][unit]") {
  History h;
  incr(h, 1, "n", INT64_MAX - 5, INT64_MAX - 5, 0, 1);
  unknown_incr(h, 2, "n", INT64_MAX - 7, 2, 3);
  REQUIRE(check_durability(h, final_value("n", std::to_string(INT64_MAX - 5))).verdict == Verdict::kPass);
  DurabilityResult low = check_durability(h, final_value("n", "7"));
  INFO(low.summary());
  REQUIRE(low.verdict == Verdict::kFail);
  REQUIRE(low.problems[0].find("outside [9223372036854775802, 18446744073709551602]") != std::string::npos);
}
