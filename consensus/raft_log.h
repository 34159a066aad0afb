// RaftLog: one node's Raft log held in memory — the entries after the latest
// snapshot — plus how much of it is known to be durable.
//
// Layout: entries (snapshot_index, last_index] are held in memory; the
// snapshot stands in for everything at or below snapshot_index, and its term
// answers term_at(snapshot_index). Entries (stable_index, last_index] have
// been handed to the node for persistence but not yet confirmed durable.
//
// Invariants: entries are contiguous from snapshot_index + 1 with
// non-decreasing terms; snapshot_index <= stable_index <= handed_out <=
// last_index, where handed_out is how far entries were given to the node for
// persistence.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <vector>

#include "consensus/types.h"

namespace keel::consensus {

class RaftLog {
 public:
  // A log whose prefix up to `snapshot_index` (term `snapshot_term`) was
  // compacted and which holds `entries` after it, all of them durable (this
  // is how a node restarts). Precondition: entries are contiguous from
  // snapshot_index + 1 with non-decreasing terms >= snapshot_term.
  RaftLog(LogIndex snapshot_index, Term snapshot_term, std::vector<Entry> entries);

  LogIndex snapshot_index() const { return snapshot_index_; }
  Term snapshot_term() const { return snapshot_term_; }
  LogIndex first_index() const { return snapshot_index_.next(); }
  LogIndex last_index() const { return LogIndex(snapshot_index_.value() + entries_.size()); }
  Term last_term() const;
  LogIndex stable_index() const { return stable_index_; }

  // The term of the entry at `index`, or nullopt when it was compacted away
  // (index < snapshot_index) or does not exist yet (index > last_index).
  std::optional<Term> term_at(LogIndex index) const;
  bool matches(LogIndex index, Term term) const;

  // Precondition: first_index() <= index <= last_index().
  const Entry& at(LogIndex index) const;

  // Entries [lo, hi] in order, stopping early once their data exceeds
  // max_bytes or max_count (but always at least one when lo <= hi).
  // Precondition: first_index() <= lo and hi <= last_index().
  std::vector<Entry> slice(LogIndex lo, LogIndex hi, uint64_t max_bytes, size_t max_count) const;

  // Leader path: appends one entry at last_index() + 1.
  void append(Entry entry);

  // Follower path (§5.3): `entries` follow a prefix already known to match.
  // Skips entries the log already holds with the same term, truncates at the
  // first conflicting index and appends the rest. Returns the index of the
  // first entry that was (re)written, or nullopt if nothing changed.
  // Precondition: no entry at or below `committed` conflicts (Raft safety).
  std::optional<LogIndex> merge(const std::vector<Entry>& entries, LogIndex committed);

  // The largest index <= `index` whose term is <= `term` (fast back-off): no
  // entry between it and `index` can match a log whose entry at `index` has
  // term `term`. Never returns less than snapshot_index().
  LogIndex find_conflict_by_term(LogIndex index, Term term) const;

  // Drops entries up to `index` (a snapshot now covers them). Precondition:
  // snapshot_index() < index <= stable_index().
  void compact(LogIndex index);

  // Discards the whole log in favour of a snapshot at (index, term); the
  // snapshot becomes durable together with the Ready that carries it.
  void restore(LogIndex index, Term term);

  // Returns the entries not yet durable, (stable_index, last_index], for the
  // node to persist, and remembers how far it handed them out.
  std::vector<Entry> take_unstable();
  // The node made the entries of the last take_unstable() durable. Entries
  // overwritten since then (merge truncated them) do not count: the new ones
  // at those indexes are handed out again.
  void mark_persisted();

  uint64_t bytes_in_memory() const { return bytes_; }

 private:
  LogIndex snapshot_index_;
  Term snapshot_term_;
  std::deque<Entry> entries_;
  LogIndex stable_index_;
  LogIndex handed_out_;
  uint64_t bytes_ = 0;
};

}  // namespace keel::consensus
