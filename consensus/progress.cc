#include "consensus/progress.h"

#include <algorithm>

namespace keel::consensus {

std::string_view progress_state_name(ProgressState state) {
  switch (state) {
    case ProgressState::kProbe: return "probe";
    case ProgressState::kReplicate: return "replicate";
    case ProgressState::kSnapshot: return "snapshot";
  }
  return "unknown";
}

Progress::Progress(LogIndex next, size_t inflight_max, bool is_learner)
    : next_(next), inflight_max_(inflight_max), is_learner_(is_learner) {
  KEEL_ASSERT(next_.value() >= 1);
  KEEL_ASSERT(inflight_max_ >= 1);
}

void Progress::become_probe() {
  // Coming out of a snapshot, the follower will hold at least the snapshot's
  // index, so probing starts right after it.
  if (state_ == ProgressState::kSnapshot) {
    next_ = LogIndex(std::max(match_.value() + 1, pending_snapshot_.value() + 1));
  } else {
    next_ = match_.next();
  }
  state_ = ProgressState::kProbe;
  probe_sent_ = false;
  pending_snapshot_ = LogIndex(0);
  snapshot_elapsed_ticks = 0;
  inflight_.clear();
}

void Progress::become_replicate() {
  state_ = ProgressState::kReplicate;
  next_ = match_.next();
  probe_sent_ = false;
  pending_snapshot_ = LogIndex(0);
  inflight_.clear();
}

void Progress::become_snapshot(LogIndex snapshot_index) {
  state_ = ProgressState::kSnapshot;
  pending_snapshot_ = snapshot_index;
  snapshot_elapsed_ticks = 0;
  probe_sent_ = false;
  inflight_.clear();
}

void Progress::snapshot_failed() {
  pending_snapshot_ = LogIndex(0);
  become_probe();
}

bool Progress::maybe_update(LogIndex index) {
  bool updated = false;
  if (index > match_) {
    match_ = index;
    updated = true;
    probe_sent_ = false;
  }
  if (next_ <= index) next_ = index.next();
  free_inflight_to(index);
  KEEL_ASSERT(match_ < next_);
  return updated;
}

bool Progress::maybe_decrease_to(LogIndex rejected, LogIndex next_guess) {
  if (state_ == ProgressState::kReplicate) {
    // Anything at or below match was already accepted: a stale rejection.
    if (rejected <= match_) return false;
    next_ = match_.next();
    return true;
  }
  // In probe (and snapshot) state only the answer to the latest probe counts.
  if (next_.value() == 0 || next_.prev() != rejected) return false;
  next_ = LogIndex(std::max(std::min(rejected.value(), next_guess.value()), match_.value() + 1));
  probe_sent_ = false;
  return true;
}

void Progress::sent_entries(LogIndex last, bool has_entries) {
  switch (state_) {
    case ProgressState::kReplicate:
      if (has_entries) {
        KEEL_ASSERT(last >= next_);
        next_ = last.next();
        KEEL_ASSERT(inflight_.size() < inflight_max_);
        inflight_.push_back(last);
      }
      break;
    case ProgressState::kProbe:
      probe_sent_ = true;
      break;
    case ProgressState::kSnapshot:
      KEEL_UNREACHABLE();
  }
}

void Progress::heartbeat_acknowledged() {
  probe_sent_ = false;
  if (state_ == ProgressState::kReplicate && inflight_.size() >= inflight_max_) inflight_.pop_front();
}

bool Progress::paused() const {
  switch (state_) {
    case ProgressState::kProbe: return probe_sent_;
    case ProgressState::kReplicate: return inflight_.size() >= inflight_max_;
    case ProgressState::kSnapshot: return true;
  }
  return true;
}

void Progress::free_inflight_to(LogIndex index) {
  while (!inflight_.empty() && inflight_.front() <= index) inflight_.pop_front();
}

}  // namespace keel::consensus
