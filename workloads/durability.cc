#include "workloads/durability.h"

#include <algorithm>
#include <charconv>
#include <set>

#include "core/assert.h"

namespace keel::workloads {

namespace {

// Decimal text of a 128-bit sum: the bounds of a counter whose increments
// lie near the int64 limits need not fit in int64.
std::string int128_string(__int128 v) {
  if (v == 0) return "0";
  const bool negative = v < 0;
  std::string digits;
  while (v != 0) {
    const int digit = static_cast<int>(v % 10);
    digits.push_back(static_cast<char>('0' + (negative ? -digit : digit)));
    v /= 10;
  }
  if (negative) digits.push_back('-');
  return {digits.rbegin(), digits.rend()};
}

bool is_acknowledged_write(const Operation& op) {
  if (op.outcome != Outcome::kOk) return false;
  return op.kind == OpKind::kWrite || (op.kind == OpKind::kCas && op.cas_applied);
}

// A write whose value may be the key's value now: acknowledged, or
// indeterminate/pending (a cas only matters if it may have applied).
bool may_have_written(const Operation& op) {
  if (op.outcome == Outcome::kFail) return false;
  if (op.kind == OpKind::kWrite) return true;
  if (op.kind == OpKind::kCas) return op.outcome != Outcome::kOk || op.cas_applied;
  return false;
}

struct KeyCheck {
  Verdict verdict = Verdict::kPass;
  size_t acknowledged = 0;
  std::vector<std::string> problems;

  void fail(std::string problem) {
    verdict = Verdict::kFail;
    problems.push_back(std::move(problem));
  }
};

void check_register(std::string_view key, const std::vector<const Operation*>& ops,
                    const std::optional<std::string>& final_value, KeyCheck& check) {
  std::vector<const Operation*> acked;
  for (const Operation* op : ops) {
    if (is_acknowledged_write(*op)) acked.push_back(op);
  }
  check.acknowledged = acked.size();
  if (!final_value) {
    if (!acked.empty()) {
      check.fail("key " + quote_bytes(key) + ": final value is nil but " +
                 std::to_string(acked.size()) + " acknowledged writes were made, e.g. " +
                 describe(*acked.back()));
    }
    return;
  }
  // The candidate "last write" most favourable to the store: the write of
  // the final value that completed last (indeterminate = never completed).
  const Operation* last = nullptr;
  for (const Operation* op : ops) {
    if (!may_have_written(*op) || op->value != *final_value) continue;
    if (last == nullptr || op->effective_complete_time() > last->effective_complete_time()) {
      last = op;
    }
  }
  if (last == nullptr) {
    bool failed_write = std::any_of(ops.begin(), ops.end(), [&](const Operation* op) {
      return (op->kind == OpKind::kWrite || op->kind == OpKind::kCas) && op->value == *final_value;
    });
    check.fail("key " + quote_bytes(key) + ": final value " + quote_bytes(*final_value) +
               (failed_write ? " was written only by operations that failed"
                             : " was never written"));
    return;
  }
  core::Instant done = last->effective_complete_time();
  // Acknowledged writes that began after the last possible write of the
  // final value completed; the real-time-latest of them should have won.
  std::vector<const Operation*> lost;
  for (const Operation* a : acked) {
    if (a->invoke_time <= done) continue;
    bool superseded = std::any_of(acked.begin(), acked.end(), [&](const Operation* b) {
      return b->invoke_time > a->complete_time;
    });
    if (!superseded) lost.push_back(a);
  }
  if (lost.empty()) return;
  std::string p = "key " + quote_bytes(key) + ": acknowledged write lost: final value " +
                  quote_bytes(*final_value) + " was last written by " + describe(*last) +
                  ", but these acknowledged writes started after it completed:";
  for (size_t i = 0; i < lost.size() && i < kDurabilityViolationsShownMax; ++i) {
    p += "\n    " + describe(*lost[i]);
  }
  check.fail(std::move(p));
}

void check_counter(std::string_view key, const std::vector<const Operation*>& ops,
                   const std::optional<std::string>& final_value, KeyCheck& check) {
  __int128 acked_sum = 0;
  __int128 low = 0;
  __int128 high = 0;
  for (const Operation* op : ops) {
    if (op->kind == OpKind::kWrite && op->outcome != Outcome::kFail) {
      check.verdict = Verdict::kUnknown;
      check.problems.push_back("key " + quote_bytes(key) +
                               ": counter with writes is not checked for durability");
      return;
    }
    if (op->kind != OpKind::kIncr || op->outcome == Outcome::kFail) continue;
    if (op->outcome == Outcome::kOk) {
      ++check.acknowledged;
      acked_sum += op->delta;
    } else if (op->delta < 0) {
      low += op->delta;
    } else {
      high += op->delta;
    }
  }
  low += acked_sum;
  high += acked_sum;
  int64_t value = 0;
  if (final_value) {
    auto [end, ec] = std::from_chars(final_value->data(), final_value->data() + final_value->size(),
                                     value);
    if (ec != std::errc() || end != final_value->data() + final_value->size()) {
      check.fail("key " + quote_bytes(key) + ": final counter value " + quote_bytes(*final_value) +
                 " is not an integer");
      return;
    }
  } else if (check.acknowledged > 0) {
    check.fail("key " + quote_bytes(key) + ": final counter is nil after " +
               std::to_string(check.acknowledged) + " acknowledged increments");
    return;
  }
  if (value < low || value > high) {
    check.fail("key " + quote_bytes(key) + ": final counter " + std::to_string(value) +
               " outside [" + int128_string(low) + ", " + int128_string(high) + "] allowed by " +
               std::to_string(check.acknowledged) + " acknowledged increments summing to " +
               int128_string(acked_sum) + " and the indeterminate ones");
  }
}

void check_appends(std::string_view key, const std::vector<const Operation*>& ops,
                   const std::vector<std::string>& final_elements, const DurabilityOptions& options,
                   KeyCheck& check) {
  std::map<std::string_view, size_t> present;
  // Where each element ends in the final value, terminator included (an
  // element stored twice has two ends). Sums of sizes of a value that was
  // read whole into memory cannot overflow.
  std::map<std::string_view, std::vector<uint64_t>> ends;
  uint64_t offset = 0;
  for (const std::string& e : final_elements) {
    ++present[e];
    offset += e.size() + options.element_terminator_bytes;
    ends[e].push_back(offset);
  }
  std::set<std::string_view> possible;
  std::vector<std::string> lost;
  std::vector<std::string> misplaced;
  for (const Operation* op : ops) {
    if (op->kind != OpKind::kAppend) continue;
    if (op->outcome != Outcome::kFail) possible.insert(op->value);
    if (op->outcome != Outcome::kOk) continue;
    ++check.acknowledged;
    auto it = ends.find(op->value);
    if (it == ends.end()) {
      lost.push_back(describe(*op));
      continue;
    }
    if (!op->append_length) continue;
    const int64_t length = *op->append_length;
    const std::vector<uint64_t>& at = it->second;
    if (length >= 0 && std::find(at.begin(), at.end(), static_cast<uint64_t>(length)) != at.end()) {
      continue;
    }
    std::string where;
    for (size_t i = 0; i < at.size(); ++i) {
      where += (i == 0 ? "" : " and ") + std::to_string(at[i]);
    }
    misplaced.push_back("append of " + quote_bytes(op->value) + " returned length " +
                        std::to_string(length) + " but its element ends at " + where +
                        " in the final value: " + describe(*op));
  }
  if (!lost.empty()) {
    std::string p = "key " + quote_bytes(key) + ": " + std::to_string(lost.size()) +
                    " acknowledged appends missing from the final set of " +
                    std::to_string(final_elements.size()) + " elements:";
    for (size_t i = 0; i < lost.size() && i < kDurabilityViolationsShownMax; ++i) {
      p += "\n    " + lost[i];
    }
    check.fail(std::move(p));
  }
  if (!misplaced.empty()) {
    std::string p = "key " + quote_bytes(key) + ": " + std::to_string(misplaced.size()) +
                    " acknowledged appends returned a length other than where their element "
                    "ends in the final value of " + std::to_string(offset) + " bytes:";
    for (size_t i = 0; i < misplaced.size() && i < kDurabilityViolationsShownMax; ++i) {
      p += "\n    " + misplaced[i];
    }
    if (misplaced.size() > kDurabilityViolationsShownMax) p += "\n    ...";
    check.fail(std::move(p));
  }
  std::vector<std::string> phantoms;
  std::vector<std::string> duplicates;
  for (const auto& [element, count] : present) {
    if (!possible.contains(element)) phantoms.push_back(quote_bytes(element));
    if (count > 1 && !options.allow_duplicates) {
      duplicates.push_back(quote_bytes(element) + " x" + std::to_string(count));
    }
  }
  auto list = [](const std::vector<std::string>& items) {
    std::string s;
    for (size_t i = 0; i < items.size() && i < kDurabilityViolationsShownMax; ++i) {
      s += (i == 0 ? " " : ", ") + items[i];
    }
    if (items.size() > kDurabilityViolationsShownMax) s += ", ...";
    return s;
  };
  if (!phantoms.empty()) {
    check.fail("key " + quote_bytes(key) + ": final set holds " + std::to_string(phantoms.size()) +
               " elements no possibly-successful append wrote:" + list(phantoms));
  }
  if (!duplicates.empty()) {
    check.fail("key " + quote_bytes(key) + ": elements appended more than once:" +
               list(duplicates));
  }
}

}  // namespace

std::vector<std::string> split_elements(std::string_view value, char separator) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < value.size()) {
    size_t end = value.find(separator, start);
    if (end == std::string_view::npos) end = value.size();
    out.emplace_back(value.substr(start, end - start));
    start = end + 1;
  }
  return out;
}

std::string DurabilityResult::summary() const {
  std::string s = "durability: " + std::string(verdict_name(verdict)) + " (" +
                  std::to_string(keys_checked) + " keys, " + std::to_string(acknowledged_writes) +
                  " acknowledged writes)\n";
  for (const std::string& p : problems) s += "  " + p + "\n";
  return s;
}

DurabilityResult check_durability(const History& history, const FinalState& final_state,
                                  const DurabilityOptions& options) {
  std::map<std::string_view, std::vector<const Operation*>> by_key;
  for (const Operation& op : history.ops()) by_key[op.key].push_back(&op);
  DurabilityResult result;

  for (const auto& [key, ops] : by_key) {
    KeyCheck check;
    bool appends = std::any_of(ops.begin(), ops.end(),
                               [](const Operation* op) { return op->kind == OpKind::kAppend; });
    bool counter = std::any_of(ops.begin(), ops.end(),
                               [](const Operation* op) { return op->kind == OpKind::kIncr; });
    bool at_stake = std::any_of(ops.begin(), ops.end(), [](const Operation* op) {
      return op->kind != OpKind::kRead && op->outcome != Outcome::kFail;
    });
    std::string key_string(key);
    if (appends) {
      auto it = final_state.elements.find(key_string);
      if (it == final_state.elements.end()) {
        if (at_stake) {
          check.verdict = Verdict::kUnknown;
          check.problems.push_back("key " + quote_bytes(key) + ": no final read");
        }
      } else {
        check_appends(key, ops, it->second, options, check);
      }
    } else {
      auto it = final_state.values.find(key_string);
      if (it == final_state.values.end()) {
        if (at_stake) {
          check.verdict = Verdict::kUnknown;
          check.problems.push_back("key " + quote_bytes(key) + ": no final read");
        }
      } else if (counter) {
        check_counter(key, ops, it->second, check);
      } else {
        check_register(key, ops, it->second, check);
      }
    }
    ++result.keys_checked;
    result.acknowledged_writes += check.acknowledged;
    result.verdict = combine(result.verdict, check.verdict);
    for (std::string& p : check.problems) result.problems.push_back(std::move(p));
  }

  // Keys nobody wrote must not exist.
  for (const auto& [key, value] : final_state.values) {
    if (by_key.contains(key) || !value) continue;
    result.verdict = Verdict::kFail;
    result.problems.push_back("key " + quote_bytes(key) + ": holds " + quote_bytes(*value) +
                              " but the history never wrote it");
  }
  for (const auto& [key, elements] : final_state.elements) {
    if (by_key.contains(key) || elements.empty()) continue;
    result.verdict = Verdict::kFail;
    result.problems.push_back("key " + quote_bytes(key) + ": holds " +
                              std::to_string(elements.size()) +
                              " elements but the history never appended to it");
  }
  return result;
}

}  // namespace keel::workloads
