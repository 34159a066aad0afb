// Linearizability checker (invariant C1), per key.
//
// Linearizability is compositional (P-compositional for keys): a history is
// linearizable iff each key's sub-history is, so each key is checked alone
// against a sequential model (workloads/models.h).
//
// The search is Wing and Gong's, with Lowe's memoization, as in the
// Porcupine checker: operations become call and return entries sorted by
// time; the search repeatedly linearizes some pending operation whose call
// entry comes before the first return entry still in the list, and backtracks
// when it reaches a return entry of an operation it has not linearized. A
// cache of (set of linearized operations, model state) pairs already explored
// prunes revisits; the set is kept as a compact "all operations below p, plus
// these few above p" bitset window with an incrementally updated Zobrist hash,
// so a cache entry costs O(concurrency), not O(history length).
//
// Conventions and their reasons:
//   - Operations with outcome kFail are ignored (they did not take effect).
//   - Indeterminate and pending operations have completion time infinity:
//     they may be linearized anywhere after their invocation, or (placed
//     last) effectively never. Indeterminate reads are dropped.
//   - Ties: a completion and an invocation at the same Instant count as
//     concurrent (calls sort before returns). With a coarse clock two events at
//     one instant may be sequential in truth; treating them as concurrent can
//     only hide a violation, never invent one.
//   - Keys with append operations are skipped (the durability checker owns
//     them); they are listed in LinearizabilityResult::skipped_keys.
//   - The search has a budget (steps and memo bytes). Running out gives
//     Verdict::kUnknown, never kPass.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "workloads/history.h"
#include "workloads/models.h"
#include "workloads/verdict.h"

namespace keel::workloads {

// Default search budget per key: about a few seconds of search.
inline constexpr uint64_t kSearchStepsMaxDefault = 50'000'000;
inline constexpr uint64_t kMemoBytesMaxDefault = 256ull << 20;
// Failure reports show at most this many operations per section.
inline constexpr size_t kReportOpsMax = 20;

struct LinearizabilityOptions {
  ModelKind model = ModelKind::kAuto;
  // Budget per key. A step is one attempt to linearize one operation.
  uint64_t search_steps_max = kSearchStepsMaxDefault;
  uint64_t memo_bytes_max = kMemoBytesMaxDefault;
  // Drop indeterminate writes whose value no read or cas ever observed, when
  // the key has no cas that could observe "not equal" (a rejected or
  // indeterminate cas). Sound: such a write can always be assumed not to have
  // happened without changing any observation; it shrinks the search a lot
  // under faults. Register model only.
  bool prune_unobserved_writes = true;
};

struct KeyLinearizability {
  std::string key;
  ModelKind model = ModelKind::kRegister;
  Verdict verdict = Verdict::kPass;
  // Operations given to the search (after dropping failed ops, indeterminate
  // reads and pruned writes), and how many were dropped.
  size_t ops_checked = 0;
  size_t ops_dropped = 0;
  uint64_t search_steps = 0;
  uint64_t memo_entries = 0;
  // Empty on kPass. On kFail: the longest linearizable prefix found, the
  // state after it, the operations none of which could come next, and the
  // key's history around them. On kUnknown: why.
  std::string report;
  // On kFail, the time window of the violation (for History::dump_key).
  core::Instant window_from;
  core::Instant window_to;
};

struct LinearizabilityResult {
  Verdict verdict = Verdict::kPass;
  std::vector<KeyLinearizability> keys;  // sorted by key
  std::vector<std::string> skipped_keys; // keys with append operations
  uint64_t ops_checked = 0;
  uint64_t search_steps = 0;

  // One line per key that did not pass plus their reports, or a one-line
  // pass summary.
  std::string summary() const;
};

// Checks every key of `history`. Pure; deterministic.
LinearizabilityResult check_linearizability(const History& history,
                                            const LinearizabilityOptions& options = {});

// Checks one key. A key with no operations passes; a key with operations the
// model does not support yields kUnknown with the reason in `report`.
KeyLinearizability check_key_linearizability(const History& history, std::string_view key,
                                             const LinearizabilityOptions& options = {});

}  // namespace keel::workloads
