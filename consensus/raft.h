// Raft as a pure, deterministic state machine (the etcd-raft shape).
//
// A Raft object is one node's protocol core. It does no I/O, never suspends,
// reads no clock (time advances only through tick()) and draws randomness
// only from the core::Random it was given. The node layer drives it:
//
//   loop:
//     tick() on a timer; step(msg) for each received message;
//     propose()/propose_config()/read_index()/transfer_leadership() for clients;
//     if has_ready():
//       Ready rd = ready();
//       1. persist rd.snapshot (if any), rd.entries and rd.hard_state, durably;
//       2. only then send rd.messages;
//       3. apply rd.snapshot then rd.committed_entries in order; serve the
//          reads in rd.read_states once applied >= their index;
//       advance();
//
// PERSIST BEFORE SEND: the messages in a Ready may be sent only after that
// Ready's hard state, entries and snapshot are durable. A vote or an append
// acknowledgement promises that the state it depends on survives a crash
// (INVARIANTS.md R7); sending first would let a crash break that promise.
// The leader likewise counts its own log towards a quorum only up to the
// index confirmed durable by advance().
//
// Between ready() and advance() the node may keep calling step(), tick() and
// the client methods (e.g. while its disk write is suspended); their effects
// go into the next Ready. ready() must not be called again before advance().
//
// Protocol choices (Raft paper sections in brackets):
//   - Elections [§5.2] with randomized timeouts in
//     [election_timeout_ticks, 2 * election_timeout_ticks), PreVote and
//     CheckQuorum [thesis §9.6]; the election restriction [§5.4.1].
//   - Replication [§5.3] with batching, pipelining (per-follower in-flight
//     window) and fast back-off from the follower's reject hint.
//   - Commit [§5.4.2]: only an entry of the leader's own term is committed by
//     counting replicas; a new leader appends a no-op to commit earlier ones.
//   - Membership [§6, thesis §4.3]: a change of at most one voter is applied
//     directly ("one server at a time"); larger changes go through a joint
//     configuration that the leader leaves automatically once it is applied.
//     A configuration takes effect when its entry is APPLIED (advance()), not
//     when it is appended, so truncating an uncommitted suffix never has to
//     undo a configuration. At most one change is in flight, and a new leader
//     accepts none before its first entry is applied (this avoids the
//     single-server-change bug described on raft-dev in 2015).
//   - Snapshots [§7]: the application snapshots its state machine and calls
//     compact(); followers behind the compacted prefix are sent a kSnapshot
//     message whose data the node attaches (see Message::snapshot).
//   - Reads [§8, thesis §6.4]: ReadIndex (leadership confirmed by a heartbeat
//     round) and, with Config::lease_reads, a leader lease measured in ticks.
//   - Leadership transfer [thesis §3.10] with kTimeoutNow.
#pragma once

#include <cstddef>
#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "consensus/progress.h"
#include "consensus/raft_log.h"
#include "consensus/types.h"
#include "core/cover.h"
#include "core/random.h"
#include "core/status.h"

namespace keel::consensus {

struct Config {
  // This node's id; never kNoNode.
  NodeId id;

  // A follower that hears nothing from a leader for a random number of ticks
  // in [election_timeout_ticks, 2 * election_timeout_ticks) starts an
  // election. A leader sends heartbeats every heartbeat_interval_ticks.
  uint64_t election_timeout_ticks = 10;
  uint64_t heartbeat_interval_ticks = 1;

  // PreVote: a node first asks whether it could win, without raising its
  // term, so a partitioned node cannot disrupt a healthy leader on return.
  bool pre_vote = true;
  // CheckQuorum: a leader that has not heard from a quorum within an
  // election timeout steps down, and followers that heard from a leader
  // within an election timeout ignore vote requests (leader stickiness).
  bool check_quorum = true;

  // Lease-based reads (requires check_quorum). The leader serves a read at
  // its commit index without a heartbeat round while a quorum acknowledged a
  // heartbeat it sent less than (election_timeout_ticks - lease_margin_ticks)
  // of its own ticks ago. Safe when no voter's ticks run faster than the
  // leader's by more than the margin over one election timeout: with a
  // relative drift bound rho, choose
  //   lease_margin_ticks >= ceil(rho * election_timeout_ticks) + 1
  // (the +1 covers tick granularity). Followers rely on never voting within
  // election_timeout_ticks of hearing from the leader; a restarted voter
  // therefore refuses votes for its first election timeout when this is on.
  bool lease_reads = false;
  uint64_t lease_margin_ticks = 2;

  // Batching: at most this many entries / bytes of entry data per append
  // message (a single larger entry is still sent alone).
  size_t append_entries_max = 256;
  uint64_t append_bytes_max = 1 << 20;
  // Pipelining: at most this many unacknowledged appends per follower.
  size_t inflight_max = 64;
  // Back-pressure: propose() returns Unavailable while the leader holds this
  // many uncommitted entries or bytes.
  uint64_t uncommitted_entries_max = 8192;
  uint64_t uncommitted_bytes_max = 64 << 20;
  // At most this many bytes of committed entries per Ready (at least one
  // entry is always handed out).
  uint64_t ready_committed_bytes_max = 16 << 20;
  // Outstanding ReadIndex requests (leader) plus undelivered read states.
  size_t pending_reads_max = 4096;
  // Messages queued for the next Ready; beyond this new ones are dropped
  // (Raft tolerates message loss; the node must call ready() regularly).
  size_t outbox_messages_max = 16384;
  // A follower in snapshot state whose snapshot was neither acknowledged nor
  // reported within this many ticks is probed again.
  uint64_t snapshot_timeout_ticks = 50;

  // TEST ONLY. Deliberate protocol bugs, used by simulator tests to prove the
  // invariant checkers catch broken Raft. Never set these in production.
  //   commit_without_quorum: a leader commits its whole log at once (breaks R4).
  //   vote_without_log_check: votes ignore the election restriction (§5.4.1;
  //     breaks R5 and then R4).
  //   commit_previous_term: a leader commits earlier-term entries by counting
  //     replicas (the Figure 8 bug, §5.4.2).
  // Where coverage marks are counted (core/cover.h); null counts nothing.
  core::Coverage* coverage = nullptr;

  bool test_bug_commit_without_quorum = false;
  bool test_bug_vote_without_log_check = false;
  bool test_bug_commit_previous_term = false;

  // InvalidArgument when a field is out of range or fields contradict.
  core::Status validate() const;
};

// What a node restarts from: exactly what it persisted out of earlier Readys
// (or, on first boot, a snapshot at index 0 / term 0 whose config holds the
// initial voters; a node joining an existing cluster boots with an empty
// config and learns the real one from the leader).
struct PersistedState {
  HardState hard_state;
  SnapshotMeta snapshot;
  // Entries after snapshot.index, contiguous.
  std::vector<Entry> entries;
  // The state machine's durable applied index (0: snapshot.index). Entries
  // up to it are not handed out again.
  LogIndex applied;
};

// What the node must do next; see the loop at the top of this file.
struct Ready {
  // Persist when present (it changed since the last Ready).
  std::optional<HardState> hard_state;
  // Persist: these replace every stored entry at index >= entries.front().index.
  std::vector<Entry> entries;
  // Install when present: persist it, drop the whole stored log, and load it
  // into the state machine (applied index = snapshot.meta.index).
  std::optional<Snapshot> snapshot;
  // Send only after the three fields above are durable.
  std::vector<Message> messages;
  // Apply in order after persisting. Config-change entries take effect inside
  // Raft on advance(); the node need only apply kNormal entries.
  std::vector<Entry> committed_entries;
  // Linearizable read points, served once applied >= index.
  std::vector<ReadState> read_states;

  bool empty() const {
    return !hard_state && entries.empty() && !snapshot && messages.empty() && committed_entries.empty() &&
           read_states.empty();
  }
};

class Raft {
 public:
  // Builds a node from its persisted state. Corruption when that state is
  // inconsistent (entries not contiguous, commit beyond the log, ...);
  // InvalidArgument when the config is invalid. `random` is this node's own
  // stream (fork it from the node's Random).
  static core::Result<std::unique_ptr<Raft>> create(const Config& config, PersistedState persisted,
                                                    core::Random random);

  Raft(const Raft&) = delete;
  Raft& operator=(const Raft&) = delete;

  // Advances logical time by one tick (elections, heartbeats, CheckQuorum).
  void tick();

  // Handles one message received from the network. InvalidArgument for a
  // malformed message (wrong recipient, non-contiguous entries, ...), which
  // is then ignored; ok otherwise, including for stale messages.
  core::Status step(const Message& msg);

  // Leader only: appends `data` as a new entry and returns its index.
  // FailedPrecondition when not the leader (redirect to leader_id()),
  // Unavailable under back-pressure or during a leadership transfer.
  core::Result<LogIndex> propose(Bytes data);

  // Leader only: proposes moving to `target` (voters and learners; its
  // voters_outgoing must be empty). A change of one voter is applied
  // directly, a larger one through a joint configuration. Unavailable while
  // another change is in flight; InvalidArgument for an invalid target
  // (no voters, a voter that is also a learner, or a voter demoted to learner
  // together with other voter changes). Returns the entry's index.
  core::Result<LogIndex> propose_config(const ConfigState& target);

  // Requests a linearizable read point. The answer arrives as a ReadState in
  // a later Ready (possibly never, if leadership is lost: the node retries on
  // its own timeout). On a follower the request is forwarded to the leader.
  // Unavailable when no leader is known, when the leader has not yet
  // committed an entry of its term, or when pending_reads_max is reached.
  core::Status read_index(Bytes context);

  // Leader only: hands leadership to voter `to` once it is caught up.
  // Proposals are refused until the transfer completes or times out (one
  // election timeout). FailedPrecondition when not the leader,
  // InvalidArgument when `to` is not a voter.
  core::Status transfer_leadership(NodeId to);

  // Starts an election now, as if the election timeout had elapsed (with
  // PreVote if enabled). No effect on a leader or a non-voter.
  void campaign();

  // The application has durably snapshotted its state machine at `meta`
  // (meta.index <= applied_index(), meta.term = term_at(meta.index),
  // meta.config = the configuration in force at meta.index). Raft drops the
  // entries up to meta.index from memory; the node may drop them from disk.
  // FailedPrecondition if meta.index is not in (first_index() - 1,
  // applied_index()]; InvalidArgument if meta.term does not match.
  core::Status compact(const SnapshotMeta& meta);

  // The node could not deliver the kSnapshot message to `to` (failure=true)
  // or delivered it (false). After a failure the leader probes the follower
  // again (which re-sends a snapshot if still needed).
  void report_snapshot(NodeId to, bool failure);
  // The node could not reach `to`: stop optimistic pipelining towards it.
  void report_unreachable(NodeId to);

  bool has_ready() const;
  // Precondition: no Ready is outstanding (advance() was called after the
  // previous ready()).
  Ready ready();
  // The node has persisted, sent and applied everything in the last Ready.
  // Precondition: a Ready is outstanding.
  void advance();

  // --- Observability (for the node's INFO and the simulator's checkers). ---
  NodeId id() const { return config_.id; }
  Role role() const { return role_; }
  Term term() const { return term_; }
  NodeId vote() const { return vote_; }
  NodeId leader_id() const { return leader_; }
  LogIndex commit_index() const { return commit_; }
  // Highest index the node confirmed applied (through advance()).
  LogIndex applied_index() const { return applied_; }
  LogIndex first_index() const { return log_.first_index(); }
  LogIndex last_index() const { return log_.last_index(); }
  Term last_term() const { return log_.last_term(); }
  // Highest index confirmed durable by advance().
  LogIndex stable_index() const { return log_.stable_index(); }
  // nullopt when index is compacted away (< first_index() - 1) or beyond the log.
  std::optional<Term> term_at(LogIndex index) const { return log_.term_at(index); }
  // nullptr unless first_index() <= index <= last_index().
  const Entry* entry_at(LogIndex index) const;
  const ConfigState& config_state() const { return config_state_; }
  const SnapshotMeta& snapshot_meta() const { return snapshot_meta_; }
  // Leader only (empty otherwise): progress of every other member.
  const std::map<NodeId, Progress>& progress() const { return progress_; }
  NodeId transferee() const { return transferee_; }
  LogIndex pending_config_index() const { return pending_config_index_; }
  // Whether a lease read would be served right now (leader with lease_reads).
  bool lease_valid() const;
  uint64_t dropped_messages() const { return dropped_messages_; }
  const Config& config() const { return config_; }

 private:
  Raft(const Config& config, PersistedState persisted, core::Random random);

  struct PendingRead {
    NodeId requester;  // config_.id for a local request
    Bytes context;
    LogIndex index;
    uint64_t round;
  };

  // What the outstanding Ready handed out, for advance().
  struct Outstanding {
    std::optional<HardState> hard_state;
    std::optional<LogIndex> snapshot_index;
    LogIndex committed_to;
    std::vector<Entry> config_entries;
  };

  bool promotable() const { return config_state_.is_voter(config_.id); }
  bool in_lease() const;
  bool committed_in_current_term() const;

  void reset(Term term);
  void become_follower(Term term, NodeId leader);
  void become_pre_candidate();
  void become_candidate();
  void become_leader();
  void start_election(bool transfer);
  void poll_votes();

  void tick_election();
  void tick_heartbeat();

  void send(Message msg);
  bool send_append(NodeId to, bool allow_empty);
  void broadcast_append(bool allow_empty);
  void broadcast_heartbeat();
  void send_timeout_now(NodeId to);
  bool maybe_commit();
  void append_entry(EntryType type, Bytes data);

  core::Status validate_message(const Message& msg) const;
  void handle_vote_request(const Message& msg);
  void handle_vote_response(const Message& msg);
  void handle_append(const Message& msg);
  // An acknowledgement still in the outbox vouches for entries that the log
  // has since replaced from `first` on (a conflicting append or a snapshot
  // arrived before the Ready went out). Sent after the replacement is
  // persisted, it would claim entries this node never made durable (R7): it
  // is dropped, and the leader learns the truth from the next reply.
  void drop_stale_acks(core::LogIndex first);
  void handle_heartbeat(const Message& msg);
  void handle_snapshot(const Message& msg);
  void handle_append_response(const Message& msg);
  void handle_heartbeat_response(const Message& msg);
  void handle_read_index_request(NodeId requester, Bytes context);
  void release_confirmed_reads();
  void deliver_read(NodeId requester, LogIndex index, Bytes context);

  void apply_config(const Entry& entry);
  void sync_progress_with_config();
  void maybe_leave_joint();

  Config config_;
  core::Random random_;

  Term term_;
  NodeId vote_ = kNoNode;
  NodeId leader_ = kNoNode;
  Role role_ = Role::kFollower;
  RaftLog log_;
  LogIndex commit_;
  LogIndex applied_;
  // Committed entries up to here were handed out in a Ready (>= applied_).
  LogIndex applying_;
  ConfigState config_state_;
  SnapshotMeta snapshot_meta_;

  std::map<NodeId, bool> votes_;
  std::map<NodeId, Progress> progress_;
  uint64_t ticks_ = 0;
  uint64_t election_elapsed_ = 0;
  uint64_t heartbeat_elapsed_ = 0;
  uint64_t randomized_election_timeout_ = 0;
  // True until the first election timeout after construction (lease reads).
  bool boot_guard_ = false;
  NodeId transferee_ = kNoNode;
  LogIndex pending_config_index_;
  uint64_t uncommitted_bytes_ = 0;
  // Proposals were appended since the last broadcast; ready() sends them.
  bool append_pending_ = false;

  // Heartbeat rounds: round_ increases with every heartbeat broadcast, across
  // terms; round_ticks_ remembers when recent rounds were sent (for leases).
  uint64_t round_ = 0;
  std::deque<std::pair<uint64_t, uint64_t>> round_ticks_;
  std::deque<PendingRead> pending_reads_;
  std::vector<ReadState> read_states_;

  std::vector<Message> outbox_;
  uint64_t dropped_messages_ = 0;
  std::optional<Snapshot> snapshot_to_install_;
  HardState persisted_hard_state_;
  std::optional<Outstanding> outstanding_;
};

}  // namespace keel::consensus
