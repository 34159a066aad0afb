#include "consensus/raft_log.h"

#include <algorithm>

namespace keel::consensus {

RaftLog::RaftLog(LogIndex snapshot_index, Term snapshot_term, std::vector<Entry> entries)
    : snapshot_index_(snapshot_index), snapshot_term_(snapshot_term) {
  for (Entry& entry : entries) {
    KEEL_ASSERT(entry.index == last_index().next());
    KEEL_ASSERT(entry.term >= last_term());
    bytes_ += entry.data.size();
    entries_.push_back(std::move(entry));
  }
  stable_index_ = last_index();
  handed_out_ = stable_index_;
}

Term RaftLog::last_term() const { return entries_.empty() ? snapshot_term_ : entries_.back().term; }

std::optional<Term> RaftLog::term_at(LogIndex index) const {
  if (index == snapshot_index_) return snapshot_term_;
  if (index < snapshot_index_ || index > last_index()) return std::nullopt;
  return at(index).term;
}

bool RaftLog::matches(LogIndex index, Term term) const {
  std::optional<Term> t = term_at(index);
  return t.has_value() && *t == term;
}

const Entry& RaftLog::at(LogIndex index) const {
  KEEL_ASSERT(index > snapshot_index_);
  KEEL_ASSERT(index <= last_index());
  return entries_[index.value() - snapshot_index_.value() - 1];
}

std::vector<Entry> RaftLog::slice(LogIndex lo, LogIndex hi, uint64_t max_bytes, size_t max_count) const {
  std::vector<Entry> out;
  uint64_t bytes = 0;
  for (uint64_t i = lo.value(); i <= hi.value() && out.size() < max_count; ++i) {
    const Entry& entry = at(LogIndex(i));
    if (!out.empty() && bytes + entry.data.size() > max_bytes) break;
    bytes += entry.data.size();
    out.push_back(entry);
  }
  return out;
}

void RaftLog::append(Entry entry) {
  KEEL_ASSERT(entry.index == last_index().next());
  KEEL_ASSERT(entry.term >= last_term());
  bytes_ += entry.data.size();
  entries_.push_back(std::move(entry));
}

std::optional<LogIndex> RaftLog::merge(const std::vector<Entry>& entries, LogIndex committed) {
  size_t k = 0;
  // Skip the prefix this log already holds: appends may be duplicated or
  // reordered, and truncating matching entries would lose acknowledged data.
  while (k < entries.size() && matches(entries[k].index, entries[k].term)) ++k;
  if (k == entries.size()) return std::nullopt;
  LogIndex first = entries[k].index;
  KEEL_ASSERT_MSG(first > committed, "a leader tried to overwrite a committed entry");
  KEEL_ASSERT(first > snapshot_index_);
  KEEL_ASSERT(first <= last_index().next());
  while (last_index() >= first) {
    bytes_ -= entries_.back().data.size();
    entries_.pop_back();
  }
  if (stable_index_ >= first) stable_index_ = first.prev();
  if (handed_out_ >= first) handed_out_ = first.prev();
  for (; k < entries.size(); ++k) append(entries[k]);
  return first;
}

LogIndex RaftLog::find_conflict_by_term(LogIndex index, Term term) const {
  uint64_t i = std::min(index.value(), last_index().value());
  while (i > snapshot_index_.value()) {
    if (at(LogIndex(i)).term <= term) break;
    --i;
  }
  return LogIndex(i);
}

void RaftLog::compact(LogIndex index) {
  KEEL_ASSERT(index > snapshot_index_);
  KEEL_ASSERT(index <= stable_index_);
  Term term = at(index).term;
  while (!entries_.empty() && entries_.front().index <= index) {
    bytes_ -= entries_.front().data.size();
    entries_.pop_front();
  }
  snapshot_index_ = index;
  snapshot_term_ = term;
}

void RaftLog::restore(LogIndex index, Term term) {
  entries_.clear();
  bytes_ = 0;
  snapshot_index_ = index;
  snapshot_term_ = term;
  stable_index_ = index;
  handed_out_ = index;
}

std::vector<Entry> RaftLog::take_unstable() {
  std::vector<Entry> out;
  for (uint64_t i = stable_index_.value() + 1; i <= last_index().value(); ++i) out.push_back(at(LogIndex(i)));
  handed_out_ = last_index();
  return out;
}

void RaftLog::mark_persisted() {
  KEEL_ASSERT(handed_out_ >= stable_index_);
  stable_index_ = handed_out_;
}

}  // namespace keel::consensus
