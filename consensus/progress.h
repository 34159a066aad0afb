// The leader's view of one follower's replication progress (Raft §5.3, with
// etcd-raft's probe/replicate/snapshot flow control).
//
//   kProbe      — the leader does not know where the follower's log matches;
//                 it sends one append at a time and waits for the answer
//                 (or the next heartbeat response) before sending another.
//   kReplicate  — the follower is known to match at `match`; the leader
//                 streams appends optimistically (next advances on send) with
//                 at most `inflight_max` unacknowledged messages (pipelining).
//   kSnapshot   — the follower needs a prefix the leader has compacted away;
//                 a snapshot was sent and the leader waits for its result.
//
// Invariants: match < next; in kReplicate every in-flight index lies in
// (match, next); the in-flight window never exceeds inflight_max.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>

#include "consensus/types.h"

namespace keel::consensus {

enum class ProgressState : uint8_t { kProbe = 0, kReplicate, kSnapshot };
std::string_view progress_state_name(ProgressState state);

class Progress {
 public:
  Progress(LogIndex next, size_t inflight_max, bool is_learner);

  LogIndex match() const { return match_; }
  LogIndex next() const { return next_; }
  ProgressState state() const { return state_; }
  bool is_learner() const { return is_learner_; }
  void set_learner(bool is_learner) { is_learner_ = is_learner; }
  LogIndex pending_snapshot() const { return pending_snapshot_; }
  size_t inflight_count() const { return inflight_.size(); }

  // Whether the leader heard from this follower since the last CheckQuorum.
  bool recent_active = false;
  // The highest heartbeat round this follower acknowledged.
  uint64_t acked_round = 0;
  // Leader ticks spent in kSnapshot; the leader gives up and re-probes after
  // Config::snapshot_timeout_ticks (a lost snapshot must not stall forever).
  uint64_t snapshot_elapsed_ticks = 0;

  void become_probe();
  void become_replicate();
  void become_snapshot(LogIndex snapshot_index);
  // The snapshot never arrived: probe from match + 1 again.
  void snapshot_failed();

  // An acknowledgement that the follower's log matches up to `index`.
  // Returns false for a stale (duplicate or reordered) acknowledgement.
  bool maybe_update(LogIndex index);

  // A rejection of the append whose prev index was `rejected`; `next_guess`
  // is the leader's computed restart point (from the follower's hint).
  // Returns false when the rejection is stale and must be ignored.
  bool maybe_decrease_to(LogIndex rejected, LogIndex next_guess);

  // Record an append carrying entries up to `last` (kReplicate advances next
  // optimistically and opens an in-flight slot; kProbe pauses).
  void sent_entries(LogIndex last, bool has_entries);

  // A heartbeat response: lets a paused probe send again and frees one slot
  // of a full window, so lost appends cannot stall replication forever.
  void heartbeat_acknowledged();

  // True when the leader must not send another append now.
  bool paused() const;

 private:
  void free_inflight_to(LogIndex index);

  LogIndex match_;
  LogIndex next_;
  ProgressState state_ = ProgressState::kProbe;
  bool probe_sent_ = false;
  LogIndex pending_snapshot_;
  size_t inflight_max_;
  std::deque<LogIndex> inflight_;  // last index of each in-flight append, ascending
  bool is_learner_;
};

}  // namespace keel::consensus
