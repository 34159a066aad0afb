// Durability checker (invariant C2): no acknowledged write is lost.
//
// Input: a history and the final state of every key, read after the cluster
// healed and went quiet (every operation of the history has completed or will
// never take effect; the final reads themselves are linearizable reads issued
// after every history operation's invocation). Output: a Verdict and, per
// violation, a readable explanation.
//
// Per key, by the operations it holds:
//
// register (reads, writes, cas) — the final value f must be explained by a
//   "last write": an operation W that may have happened (ok or indeterminate
//   write, an applied or indeterminate cas) with value f, such that no
//   acknowledged write or applied cas A followed W in real time
//   (W.complete < A.invoke). If every write of f is followed by an
//   acknowledged write, that acknowledged write was lost; if no write ever had
//   value f, the value came from nowhere. f = nil is allowed only when the key
//   has no acknowledged write or applied cas.
//
// counter (incr) — with S = sum of acknowledged deltas, the final value must
//   lie in [S + sum of negative indeterminate deltas, S + sum of positive
//   indeterminate deltas] (nil counts as 0 only if there is no acknowledged
//   incr). A counter with writes is not checked (kUnknown).
//
// unique appends (append) — each append adds a unique element to the key's
//   set. Every acknowledged element must be in the final set (else: lost);
//   every element in the final set must come from an append that may have
//   happened (else: phantom — also flags appends recorded as kFail that took
//   effect anyway); an element may appear once unless allow_duplicates.
//   An acknowledged append that recorded APPEND's reply (the value's length
//   right after it) must find its element ending exactly there in the final
//   value: the final value is the elements in their stored order, each
//   followed by DurabilityOptions::element_terminator_bytes bytes (the
//   workload appends element + ","), so element i ends at the sum of the
//   sizes of elements 0..i plus (i + 1) terminators. Appends are never
//   undone, so an element's end offset is fixed the moment it is applied; a
//   different one means the reply lied (or something before the element
//   changed). Appends with an unknown outcome have no reply and are not
//   checked; an element that is missing is reported as lost, not again here.
//
// A key with operations but no final read gives kUnknown when it has
// something to lose (an acknowledged or possibly-applied write), because it
// cannot be checked; final reads of keys absent from the history must be nil
// (or the empty set).
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/history.h"
#include "workloads/verdict.h"

namespace keel::workloads {

// Violations listed in full in a report, at most.
inline constexpr size_t kDurabilityViolationsShownMax = 20;

struct DurabilityOptions {
  // Unique-append keys only: accept an element appearing more than once (a
  // workload whose clients retry appends with the same element).
  bool allow_duplicates = false;
  // Unique-append keys only: the bytes stored after each element (1 for the
  // ',' of "element,"), used to locate where each element ends in the final
  // value and compare it with the length its APPEND returned.
  size_t element_terminator_bytes = 1;
};

// The state read after heal. Register and counter keys: `values` (nullopt =
// nil). Append keys: `elements`, the decoded set in the order the elements
// are stored in the value (a workload encodes its set as it likes, each
// element followed by element_terminator_bytes bytes; see split_elements).
struct FinalState {
  std::map<std::string, std::optional<std::string>> values;
  std::map<std::string, std::vector<std::string>> elements;
};

struct DurabilityResult {
  Verdict verdict = Verdict::kPass;
  size_t keys_checked = 0;
  size_t acknowledged_writes = 0;
  // One entry per violation (kFail) or per unchecked key (kUnknown).
  std::vector<std::string> problems;

  std::string summary() const;
};

DurabilityResult check_durability(const History& history, const FinalState& final_state,
                                  const DurabilityOptions& options = {});

// Splits "a,b,c," (elements each followed by `separator`) into {"a","b","c"};
// a trailing piece without separator is kept too. For append workloads whose
// elements never contain the separator.
std::vector<std::string> split_elements(std::string_view value, char separator);

}  // namespace keel::workloads
