#include "consensus/raft.h"

#include <algorithm>
#include <utility>

#include "consensus/quorum.h"

namespace keel::consensus {

namespace {

// How many recent heartbeat rounds the leader remembers the send tick of;
// an acknowledgement of an older round earns no lease. A follower answering
// a heartbeat this many rounds late is far behind any lease anyway.
constexpr size_t kRoundTicksMax = 256;

}  // namespace

core::Status Config::validate() const {
  if (id == kNoNode) return core::invalid_argument("raft config: id must not be 0");
  if (election_timeout_ticks < 2) return core::invalid_argument("raft config: election_timeout_ticks < 2");
  if (heartbeat_interval_ticks == 0 || heartbeat_interval_ticks >= election_timeout_ticks) {
    return core::invalid_argument("raft config: heartbeat interval must be in [1, election timeout)");
  }
  if (lease_reads && !check_quorum) return core::invalid_argument("raft config: lease_reads needs check_quorum");
  if (lease_reads && lease_margin_ticks >= election_timeout_ticks) {
    return core::invalid_argument("raft config: lease margin must be below the election timeout");
  }
  if (append_entries_max == 0 || append_bytes_max == 0 || inflight_max == 0 || uncommitted_entries_max == 0 ||
      uncommitted_bytes_max == 0 || ready_committed_bytes_max == 0 || pending_reads_max == 0 ||
      outbox_messages_max == 0 || snapshot_timeout_ticks == 0) {
    return core::invalid_argument("raft config: every maximum must be positive");
  }
  return core::Status::ok();
}

core::Result<std::unique_ptr<Raft>> Raft::create(const Config& config, PersistedState persisted,
                                                 core::Random random) {
  KEEL_TRY(config.validate());
  const SnapshotMeta& snap = persisted.snapshot;
  if (snap.index.value() == 0 && snap.term.value() != 0) return core::corruption("raft: snapshot at 0 with a term");
  uint64_t expect = snap.index.value() + 1;
  Term last_term = snap.term;
  for (const Entry& entry : persisted.entries) {
    if (entry.index.value() != expect) return core::corruption("raft: persisted entries are not contiguous");
    if (entry.term < last_term || entry.term.value() == 0) {
      return core::corruption("raft: persisted entry terms decrease");
    }
    last_term = entry.term;
    ++expect;
  }
  uint64_t last_index = expect - 1;
  if (persisted.hard_state.term < last_term) return core::corruption("raft: hard state term below the log's");
  if (persisted.hard_state.commit.value() > last_index) return core::corruption("raft: commit beyond the log");
  if (persisted.applied.value() > last_index) return core::corruption("raft: applied beyond the log");
  return std::unique_ptr<Raft>(new Raft(config, std::move(persisted), std::move(random)));
}

Raft::Raft(const Config& config, PersistedState persisted, core::Random random)
    : config_(config),
      random_(std::move(random)),
      term_(persisted.hard_state.term),
      vote_(persisted.hard_state.vote),
      log_(persisted.snapshot.index, persisted.snapshot.term, std::move(persisted.entries)),
      config_state_(persisted.snapshot.config),
      snapshot_meta_(persisted.snapshot) {
  // Everything in a snapshot and everything the state machine applied was
  // committed, whatever the (lazily persisted) commit index says.
  applied_ = std::max(persisted.applied, snapshot_meta_.index);
  commit_ = std::max(persisted.hard_state.commit, applied_);
  applying_ = applied_;
  // Configuration changes take effect when applied: replay the ones the
  // state machine already applied after the snapshot.
  for (uint64_t i = snapshot_meta_.index.value() + 1; i <= applied_.value(); ++i) {
    const Entry& entry = log_.at(LogIndex(i));
    if (entry.type == EntryType::kConfigChange) apply_config(entry);
  }
  persisted_hard_state_ = persisted.hard_state;
  boot_guard_ = config_.lease_reads;
  reset(term_);
  role_ = Role::kFollower;
}

// ---------------------------------------------------------------------------
// Role transitions.

void Raft::reset(Term term) {
  if (term_ != term) {
    term_ = term;
    vote_ = kNoNode;
  }
  leader_ = kNoNode;
  election_elapsed_ = 0;
  heartbeat_elapsed_ = 0;
  randomized_election_timeout_ =
      random_.uniform(config_.election_timeout_ticks, 2 * config_.election_timeout_ticks - 1);
  votes_.clear();
  progress_.clear();
  transferee_ = kNoNode;
  pending_reads_.clear();
  uncommitted_bytes_ = 0;
}

void Raft::become_follower(Term term, NodeId leader) {
  reset(term);
  role_ = Role::kFollower;
  leader_ = leader;
}

void Raft::become_pre_candidate() {
  KEEL_ASSERT(role_ != Role::kLeader);
  // A pre-candidate keeps its term and vote: it only asks whether it could win.
  votes_.clear();
  leader_ = kNoNode;
  role_ = Role::kPreCandidate;
}

void Raft::become_candidate() {
  KEEL_ASSERT(role_ != Role::kLeader);
  reset(term_.next());
  vote_ = config_.id;
  role_ = Role::kCandidate;
}

void Raft::become_leader() {
  KEEL_ASSERT(role_ == Role::kCandidate);
  reset(term_);
  role_ = Role::kLeader;
  leader_ = config_.id;
  sync_progress_with_config();
  for (auto& [id, pr] : progress_) pr.recent_active = true;
  round_ticks_.clear();
  // No configuration change may be proposed before this term's first entry
  // is applied: it also commits every earlier-term entry, including any
  // configuration change the previous leader left behind.
  pending_config_index_ = log_.last_index().next();
  if (commit_ < log_.last_index()) KEEL_COVER(config_.coverage, "raft: elected with uncommitted entries of earlier terms");
  // §5.4.2: a leader cannot count replicas of earlier-term entries; this
  // no-op of its own term commits them along with it.
  append_entry(EntryType::kNoop, Bytes());
  broadcast_append(false);
}

void Raft::campaign() {
  if (role_ == Role::kLeader || !promotable()) return;
  start_election(false);
}

void Raft::start_election(bool transfer) {
  if (config_.pre_vote && !transfer) {
    become_pre_candidate();
  } else {
    become_candidate();
  }
  const bool pre = role_ == Role::kPreCandidate;
  const Term campaign_term = pre ? term_.next() : term_;
  votes_[config_.id] = true;
  for (NodeId id : config_state_.members()) {
    if (id == config_.id || !config_state_.is_voter(id)) continue;
    Message msg;
    msg.type = pre ? MessageType::kPreVote : MessageType::kVote;
    msg.to = id;
    msg.term = campaign_term;
    msg.index = log_.last_index();
    msg.log_term = log_.last_term();
    msg.transfer = transfer;
    send(std::move(msg));
  }
  poll_votes();
}

void Raft::poll_votes() {
  switch (quorum_vote(config_state_, votes_)) {
    case VoteResult::kPending:
      return;
    case VoteResult::kWon:
      if (role_ == Role::kPreCandidate) {
        start_election(/*transfer=*/true);  // PreVote passed: run for real.
      } else {
        become_leader();
      }
      return;
    case VoteResult::kLost:
      KEEL_COVER(config_.coverage, role_ == Role::kPreCandidate ? "raft: pre-vote lost" : "raft: election lost");
      become_follower(term_, kNoNode);
      return;
  }
}

// ---------------------------------------------------------------------------
// Time.

void Raft::tick() {
  ++ticks_;
  if (role_ == Role::kLeader) {
    tick_heartbeat();
  } else {
    tick_election();
  }
}

void Raft::tick_election() {
  ++election_elapsed_;
  if (boot_guard_ && election_elapsed_ >= config_.election_timeout_ticks) boot_guard_ = false;
  if (promotable() && election_elapsed_ >= randomized_election_timeout_) {
    election_elapsed_ = 0;
    start_election(false);
  }
}

void Raft::tick_heartbeat() {
  ++heartbeat_elapsed_;
  ++election_elapsed_;
  if (election_elapsed_ >= config_.election_timeout_ticks) {
    election_elapsed_ = 0;
    if (config_.check_quorum) {
      bool active = quorum_value(config_state_, [&](NodeId id) -> uint64_t {
                      if (id == config_.id) return 1;
                      auto it = progress_.find(id);
                      return it != progress_.end() && it->second.recent_active ? 1 : 0;
                    }) >= 1;
      for (auto& [id, pr] : progress_) pr.recent_active = false;
      if (!active) {
        KEEL_COVER(config_.coverage, "raft: leader stepped down, no quorum heard (CheckQuorum)");
        become_follower(term_, kNoNode);
        return;
      }
    }
    // A transfer that did not finish within an election timeout is abandoned.
    transferee_ = kNoNode;
  }
  for (auto& [id, pr] : progress_) {
    if (pr.state() != ProgressState::kSnapshot) continue;
    if (++pr.snapshot_elapsed_ticks >= config_.snapshot_timeout_ticks) {
      pr.become_probe();
      send_append(id, true);
    }
  }
  if (heartbeat_elapsed_ >= config_.heartbeat_interval_ticks) {
    heartbeat_elapsed_ = 0;
    broadcast_heartbeat();
  }
  maybe_leave_joint();
}

// ---------------------------------------------------------------------------
// Sending.

void Raft::send(Message msg) {
  msg.from = config_.id;
  if (outbox_.size() >= config_.outbox_messages_max) {
    ++dropped_messages_;
    return;
  }
  outbox_.push_back(std::move(msg));
}

bool Raft::send_append(NodeId to, bool allow_empty) {
  auto it = progress_.find(to);
  if (it == progress_.end()) return false;
  Progress& pr = it->second;
  if (pr.paused()) return false;
  LogIndex prev = pr.next().prev();
  std::optional<Term> prev_term = log_.term_at(prev);
  if (!prev_term.has_value() && prev > log_.last_index()) {
    // Only possible when the follower claims more committed entries than
    // this leader holds, which Raft's safety rules out; it happens under the
    // test-only bug switches, and the checkers, not this code, report it.
    return false;
  }
  if (!prev_term.has_value()) {
    // The follower needs entries compacted into the snapshot (§7).
    Message msg;
    msg.type = MessageType::kSnapshot;
    msg.to = to;
    msg.term = term_;
    msg.snapshot = Snapshot{snapshot_meta_, Bytes()};
    pr.become_snapshot(snapshot_meta_.index);
    KEEL_COVER(config_.coverage, "raft: snapshot sent to a lagging follower");
    send(std::move(msg));
    return true;
  }
  std::vector<Entry> entries;
  if (pr.next() <= log_.last_index()) {
    entries = log_.slice(pr.next(), log_.last_index(), config_.append_bytes_max, config_.append_entries_max);
  }
  if (entries.empty() && !allow_empty) return false;
  Message msg;
  msg.type = MessageType::kAppend;
  msg.to = to;
  msg.term = term_;
  msg.index = prev;
  msg.log_term = *prev_term;
  msg.commit = commit_;
  LogIndex last = entries.empty() ? prev : entries.back().index;
  bool has_entries = !entries.empty();
  msg.entries = std::move(entries);
  pr.sent_entries(last, has_entries);
  send(std::move(msg));
  return true;
}

void Raft::broadcast_append(bool allow_empty) {
  // Fill each follower's pipeline (send_append stops at the window limit).
  for (auto& [id, pr] : progress_) {
    bool sent = send_append(id, allow_empty);
    while (sent && send_append(id, false)) {
    }
  }
}

void Raft::broadcast_heartbeat() {
  ++round_;
  round_ticks_.emplace_back(round_, ticks_);
  while (round_ticks_.size() > kRoundTicksMax) round_ticks_.pop_front();
  for (auto& [id, pr] : progress_) {
    Message msg;
    msg.type = MessageType::kHeartbeat;
    msg.to = id;
    msg.term = term_;
    // The follower's log is known to match only up to pr.match.
    msg.commit = std::min(pr.match(), commit_);
    msg.round = round_;
    send(std::move(msg));
  }
}

void Raft::send_timeout_now(NodeId to) {
  Message msg;
  msg.type = MessageType::kTimeoutNow;
  msg.to = to;
  msg.term = term_;
  send(std::move(msg));
}

void Raft::append_entry(EntryType type, Bytes data) {
  Entry entry;
  entry.term = term_;
  entry.index = log_.last_index().next();
  entry.type = type;
  entry.data = std::move(data);
  uncommitted_bytes_ += entry.data.size();
  log_.append(std::move(entry));
}

bool Raft::maybe_commit() {
  KEEL_ASSERT(role_ == Role::kLeader);
  // The leader's own log counts only as far as it is durable (R7).
  uint64_t quorum_index = quorum_value(config_state_, [&](NodeId id) -> uint64_t {
    if (id == config_.id) return log_.stable_index().value();
    auto it = progress_.find(id);
    return it == progress_.end() ? 0 : it->second.match().value();
  });
  if (config_.test_bug_commit_without_quorum) quorum_index = log_.last_index().value();
  LogIndex candidate(quorum_index);
  if (candidate <= commit_) return false;
  // §5.4.2: only entries of the current term are committed by counting.
  if (!config_.test_bug_commit_previous_term && log_.term_at(candidate) != term_) return false;
  for (uint64_t i = commit_.value() + 1; i <= candidate.value(); ++i) {
    uint64_t size = log_.at(LogIndex(i)).data.size();
    uncommitted_bytes_ -= std::min(uncommitted_bytes_, size);
  }
  commit_ = candidate;
  return true;
}

// ---------------------------------------------------------------------------
// Client operations.

core::Result<LogIndex> Raft::propose(Bytes data) {
  if (role_ != Role::kLeader) return core::failed_precondition("raft: not the leader");
  if (transferee_ != kNoNode) return core::unavailable("raft: leadership transfer in progress");
  if (log_.last_index().value() - commit_.value() >= config_.uncommitted_entries_max) {
    return core::unavailable("raft: too many uncommitted entries");
  }
  if (uncommitted_bytes_ > 0 && uncommitted_bytes_ + data.size() > config_.uncommitted_bytes_max) {
    return core::unavailable("raft: too many uncommitted bytes");
  }
  append_entry(EntryType::kNormal, std::move(data));
  // Batching: proposals made before the next ready() travel together in
  // one append per follower instead of one append per proposal.
  append_pending_ = true;
  return log_.last_index();
}

core::Result<LogIndex> Raft::propose_config(const ConfigState& target) {
  if (role_ != Role::kLeader) return core::failed_precondition("raft: not the leader");
  if (transferee_ != kNoNode) return core::unavailable("raft: leadership transfer in progress");
  if (pending_config_index_ > applied_ || config_state_.joint()) {
    return core::unavailable("raft: a configuration change is in flight");
  }
  if (target.voters.empty()) return core::invalid_argument("raft: target configuration has no voters");
  if (target.joint()) return core::invalid_argument("raft: target must not be joint");
  for (NodeId id : target.members()) {
    if (id == kNoNode) return core::invalid_argument("raft: node id 0 in configuration");
  }
  for (NodeId id : target.learners) {
    if (target.voters.count(id) > 0) return core::invalid_argument("raft: a node is both voter and learner");
  }
  size_t changed = 0;
  for (NodeId id : target.voters) changed += config_state_.voters.count(id) == 0 ? 1 : 0;
  for (NodeId id : config_state_.voters) changed += target.voters.count(id) == 0 ? 1 : 0;
  ConfigState next = target;
  if (changed > 1) {
    // Joint consensus: C_old,new first, then C_new once it is applied.
    for (NodeId id : config_state_.voters) {
      if (target.voters.count(id) == 0 && target.learners.count(id) > 0) {
        return core::invalid_argument("raft: demote a voter to learner in a change of its own");
      }
    }
    next.voters_outgoing = config_state_.voters;
  }
  append_entry(EntryType::kConfigChange, encode_config(next));
  pending_config_index_ = log_.last_index();
  broadcast_append(false);
  return log_.last_index();
}

core::Status Raft::read_index(Bytes context) {
  if (pending_reads_.size() + read_states_.size() >= config_.pending_reads_max) {
    return core::unavailable("raft: too many pending reads");
  }
  if (role_ == Role::kLeader) {
    if (!committed_in_current_term()) return core::unavailable("raft: leader has not committed in its term");
    handle_read_index_request(config_.id, std::move(context));
    return core::Status::ok();
  }
  if (role_ != Role::kFollower || leader_ == kNoNode) return core::unavailable("raft: no known leader");
  Message msg;
  msg.type = MessageType::kReadIndex;
  msg.to = leader_;
  msg.term = term_;
  msg.context = std::move(context);
  send(std::move(msg));
  return core::Status::ok();
}

core::Status Raft::transfer_leadership(NodeId to) {
  if (role_ != Role::kLeader) return core::failed_precondition("raft: not the leader");
  if (to == config_.id) return core::Status::ok();
  if (!config_state_.is_voter(to)) return core::invalid_argument("raft: transfer target is not a voter");
  auto it = progress_.find(to);
  if (it == progress_.end()) return core::invalid_argument("raft: transfer target unknown");
  transferee_ = to;
  election_elapsed_ = 0;
  if (it->second.match() == log_.last_index()) {
    send_timeout_now(to);
  } else {
    send_append(to, true);
  }
  return core::Status::ok();
}

core::Status Raft::compact(const SnapshotMeta& meta) {
  if (meta.index <= log_.snapshot_index() || meta.index > applied_) {
    return core::failed_precondition("raft: compaction index outside (snapshot, applied]");
  }
  if (log_.term_at(meta.index) != meta.term) return core::invalid_argument("raft: snapshot term mismatch");
  log_.compact(meta.index);
  snapshot_meta_ = meta;
  return core::Status::ok();
}

void Raft::report_snapshot(NodeId to, bool failure) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(to);
  if (it == progress_.end() || it->second.state() != ProgressState::kSnapshot) return;
  Progress& pr = it->second;
  if (failure) {
    // Start over from what the follower is known to hold.
    pr.snapshot_failed();
  } else {
    // Delivered: probe right after the snapshot, once the follower answers.
    pr.become_probe();
  }
  // Wait for the follower's answer or the next heartbeat response.
  pr.sent_entries(pr.next().prev(), false);
}

void Raft::report_unreachable(NodeId to) {
  if (role_ != Role::kLeader) return;
  auto it = progress_.find(to);
  if (it != progress_.end() && it->second.state() == ProgressState::kReplicate) it->second.become_probe();
}

// ---------------------------------------------------------------------------
// Receiving.

core::Status Raft::validate_message(const Message& msg) const {
  if (msg.to != config_.id) return core::invalid_argument("raft: message for another node");
  if (msg.from == kNoNode || msg.from == config_.id) return core::invalid_argument("raft: bad sender");
  if (msg.type == MessageType::kAppend) {
    uint64_t expect = msg.index.value() + 1;
    Term prev_term = msg.log_term;
    for (const Entry& entry : msg.entries) {
      if (entry.index.value() != expect) return core::invalid_argument("raft: append entries not contiguous");
      if (entry.term.value() == 0 || entry.term < prev_term || entry.term > msg.term) {
        return core::invalid_argument("raft: append entry terms out of order");
      }
      prev_term = entry.term;
      ++expect;
    }
  }
  if (msg.type == MessageType::kSnapshot) {
    if (!msg.snapshot.has_value()) return core::invalid_argument("raft: snapshot message without snapshot");
    const SnapshotMeta& meta = msg.snapshot->meta;
    if (meta.index.value() == 0 || meta.term.value() == 0 || meta.term > msg.term || meta.config.voters.empty()) {
      return core::invalid_argument("raft: malformed snapshot metadata");
    }
  }
  if (msg.term.value() == 0) return core::invalid_argument("raft: message without a term");
  return core::Status::ok();
}

bool Raft::in_lease() const {
  if (!config_.check_quorum) return false;
  if (leader_ == kNoNode && !boot_guard_) return false;
  return election_elapsed_ < config_.election_timeout_ticks;
}

core::Status Raft::step(const Message& msg) {
  KEEL_TRY(validate_message(msg));
  const MessageType type = msg.type;
  const bool vote_request = type == MessageType::kVote || type == MessageType::kPreVote;

  if (msg.term > term_) {
    if (vote_request && !msg.transfer && in_lease()) {
      // Leader stickiness (thesis §4.2.3 / §9.6): a recently heard leader is
      // presumed alive, so a disruptive candidate is ignored.
      KEEL_COVER(config_.coverage, "raft: candidate ignored, a leader was heard recently");
      return core::Status::ok();
    }
    if (type == MessageType::kPreVote) {
      // A pre-vote never changes our term.
    } else if (type == MessageType::kPreVoteResponse && !msg.reject) {
      // A granted pre-vote echoes the term we would run in.
    } else if (type == MessageType::kAppend || type == MessageType::kHeartbeat ||
               type == MessageType::kSnapshot) {
      become_follower(msg.term, msg.from);
    } else {
      become_follower(msg.term, kNoNode);
    }
  } else if (msg.term < term_) {
    if ((config_.check_quorum || config_.pre_vote) &&
        (type == MessageType::kAppend || type == MessageType::kHeartbeat)) {
      // A deposed leader learns our term from this and steps down; without
      // it a partitioned leader could keep a pre-voting cluster stuck.
      KEEL_COVER(config_.coverage, "raft: a stale leader's append answered with the newer term");
      Message reply;
      reply.type = MessageType::kAppendResponse;
      reply.to = msg.from;
      reply.term = term_;
      send(std::move(reply));
    } else if (type == MessageType::kPreVote) {
      Message reply;
      reply.type = MessageType::kPreVoteResponse;
      reply.to = msg.from;
      reply.term = term_;
      reply.reject = true;
      send(std::move(reply));
    }
    return core::Status::ok();
  }

  if (vote_request) {
    handle_vote_request(msg);
    return core::Status::ok();
  }

  switch (role_) {
    case Role::kPreCandidate:
    case Role::kCandidate:
      if (type == MessageType::kAppend || type == MessageType::kHeartbeat || type == MessageType::kSnapshot) {
        // Someone won this term (§5.2): follow it.
        become_follower(term_, msg.from);
        break;
      }
      if ((type == MessageType::kPreVoteResponse && role_ == Role::kPreCandidate) ||
          (type == MessageType::kVoteResponse && role_ == Role::kCandidate)) {
        handle_vote_response(msg);
      }
      return core::Status::ok();
    case Role::kLeader:
      switch (type) {
        case MessageType::kAppendResponse: handle_append_response(msg); break;
        case MessageType::kHeartbeatResponse: handle_heartbeat_response(msg); break;
        case MessageType::kReadIndex:
          if (committed_in_current_term() && pending_reads_.size() + read_states_.size() < config_.pending_reads_max) {
            handle_read_index_request(msg.from, msg.context);
          }
          break;
        default: break;  // Stale or misdirected for a leader: ignore.
      }
      return core::Status::ok();
    case Role::kFollower:
      break;
  }

  // Follower.
  switch (type) {
    case MessageType::kAppend:
      leader_ = msg.from;
      election_elapsed_ = 0;
      handle_append(msg);
      break;
    case MessageType::kHeartbeat:
      leader_ = msg.from;
      election_elapsed_ = 0;
      handle_heartbeat(msg);
      break;
    case MessageType::kSnapshot:
      leader_ = msg.from;
      election_elapsed_ = 0;
      handle_snapshot(msg);
      break;
    case MessageType::kTimeoutNow:
      KEEL_COVER(config_.coverage, "raft: leadership transfer target starts its election");
      if (promotable()) start_election(/*transfer=*/true);
      break;
    case MessageType::kReadIndexResponse:
      if (read_states_.size() < config_.pending_reads_max) read_states_.push_back({msg.index, msg.context});
      break;
    case MessageType::kReadIndex:
      // Forwarding chains are not supported; the requester times out.
      break;
    default:
      break;
  }
  return core::Status::ok();
}

void Raft::handle_vote_request(const Message& msg) {
  const bool pre = msg.type == MessageType::kPreVote;
  // We may vote for the candidate if we already did in this term, or have
  // neither voted nor followed a leader in it; a pre-vote for a later term
  // is always possible since it commits us to nothing.
  const bool can_vote = vote_ == msg.from || (vote_ == kNoNode && leader_ == kNoNode) || (pre && msg.term > term_);
  // §5.4.1: the candidate's log must be at least as up to date as ours.
  bool up_to_date = msg.log_term > log_.last_term() ||
                    (msg.log_term == log_.last_term() && msg.index >= log_.last_index());
  if (config_.test_bug_vote_without_log_check) up_to_date = true;
  Message reply;
  reply.type = pre ? MessageType::kPreVoteResponse : MessageType::kVoteResponse;
  reply.to = msg.from;
  if (can_vote && up_to_date) {
    reply.term = msg.term;
    reply.reject = false;
    if (!pre) {
      election_elapsed_ = 0;
      vote_ = msg.from;
    }
  } else {
    KEEL_COVER(config_.coverage, !can_vote ? "raft: vote refused, already voted or following a leader"
                               : "raft: vote refused, candidate's log is stale");
    reply.term = term_;
    reply.reject = true;
  }
  send(std::move(reply));
}

void Raft::handle_vote_response(const Message& msg) {
  votes_[msg.from] = !msg.reject;
  poll_votes();
}

void Raft::handle_append(const Message& msg) {
  Message reply;
  reply.type = MessageType::kAppendResponse;
  reply.to = msg.from;
  reply.term = term_;
  if (msg.index < commit_) {
    // Everything up to commit is known to match the leader's log.
    reply.index = commit_;
    send(std::move(reply));
    return;
  }
  if (log_.matches(msg.index, msg.log_term)) {
    const LogIndex last_before = log_.last_index();
    if (auto rewritten = log_.merge(msg.entries, commit_)) {
      if (*rewritten <= last_before) KEEL_COVER(config_.coverage, "raft: conflicting suffix truncated");
      drop_stale_acks(*rewritten);
    }
    LogIndex last_new(msg.index.value() + msg.entries.size());
    LogIndex new_commit = std::min(msg.commit, last_new);
    if (msg.commit > last_new && last_new > commit_) KEEL_COVER(config_.coverage, "raft: follower commit held to its last verified entry");
    if (new_commit > commit_) commit_ = new_commit;
    reply.index = last_new;
    send(std::move(reply));
    return;
  }
  // §5.3 consistency check failed. Hint the leader where to retry: the last
  // index at or below the probed one whose term is not above the probe's.
  LogIndex hint = log_.find_conflict_by_term(std::min(msg.index, log_.last_index()), msg.log_term);
  KEEL_COVER(config_.coverage, msg.index > log_.last_index() ? "raft: append rejected, follower log too short"
                                               : "raft: append rejected, terms differ at the probe");
  reply.reject = true;
  reply.index = msg.index;
  reply.reject_hint = hint;
  reply.log_term = log_.term_at(hint).value_or(Term(0));
  send(std::move(reply));
}

void Raft::drop_stale_acks(LogIndex first) {
  const size_t dropped = std::erase_if(outbox_, [first](const Message& m) {
    return m.type == MessageType::kAppendResponse && !m.reject && m.index >= first;
  });
  if (dropped > 0) KEEL_COVER(config_.coverage, "raft: acknowledgement of replaced entries dropped");
}

void Raft::handle_heartbeat(const Message& msg) {
  LogIndex new_commit = std::min(msg.commit, log_.last_index());
  if (new_commit > commit_) commit_ = new_commit;
  Message reply;
  reply.type = MessageType::kHeartbeatResponse;
  reply.to = msg.from;
  reply.term = term_;
  reply.round = msg.round;
  send(std::move(reply));
}

void Raft::handle_snapshot(const Message& msg) {
  const SnapshotMeta& meta = msg.snapshot->meta;
  Message reply;
  reply.type = MessageType::kAppendResponse;
  reply.to = msg.from;
  reply.term = term_;
  if (meta.index <= commit_) {
    reply.index = commit_;
  } else if (log_.matches(meta.index, meta.term)) {
    // We already hold the snapshot's last entry, hence (log matching) all
    // of its prefix: just learn that it is committed.
    commit_ = meta.index;
    reply.index = meta.index;
  } else {
    KEEL_COVER(config_.coverage, log_.last_index() > meta.index ? "raft: snapshot installed over a conflicting log"
                                                 : "raft: snapshot installed");
    log_.restore(meta.index, meta.term);
    drop_stale_acks(LogIndex(0));
    commit_ = meta.index;
    applying_ = std::max(applying_, meta.index);
    config_state_ = meta.config;
    snapshot_meta_ = meta;
    snapshot_to_install_ = *msg.snapshot;
    reply.index = meta.index;
  }
  send(std::move(reply));
}

void Raft::handle_append_response(const Message& msg) {
  auto it = progress_.find(msg.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  if (msg.reject) {
    LogIndex next_guess = msg.reject_hint.next();
    if (msg.log_term.value() > 0) {
      next_guess = log_.find_conflict_by_term(msg.reject_hint, msg.log_term).next();
      KEEL_COVER(config_.coverage, "raft: leader skipped back by the follower's conflict term");
    }
    if (pr.maybe_decrease_to(msg.index, next_guess)) {
      if (pr.state() == ProgressState::kReplicate) pr.become_probe();
      send_append(msg.from, true);
    }
    return;
  }
  if (!pr.maybe_update(msg.index)) return;
  if (pr.state() == ProgressState::kProbe) {
    pr.become_replicate();
  } else if (pr.state() == ProgressState::kSnapshot && pr.match() >= log_.snapshot_index()) {
    pr.become_probe();
    pr.become_replicate();
  }
  if (maybe_commit()) {
    // Followers learn the new commit index without waiting for a heartbeat.
    broadcast_append(true);
    release_confirmed_reads();
  }
  // Keep the pipeline full.
  while (send_append(msg.from, false)) {
  }
  if (msg.from == transferee_ && pr.match() == log_.last_index()) send_timeout_now(msg.from);
}

void Raft::handle_heartbeat_response(const Message& msg) {
  auto it = progress_.find(msg.from);
  if (it == progress_.end()) return;
  Progress& pr = it->second;
  pr.recent_active = true;
  pr.heartbeat_acknowledged();
  if (pr.match() < log_.last_index()) send_append(msg.from, true);
  if (msg.round > pr.acked_round) {
    pr.acked_round = msg.round;
    release_confirmed_reads();
  }
}

bool Raft::committed_in_current_term() const { return log_.term_at(commit_) == term_; }

void Raft::handle_read_index_request(NodeId requester, Bytes context) {
  KEEL_ASSERT(role_ == Role::kLeader);
  if (lease_valid()) {
    KEEL_COVER(config_.coverage, "raft: read served under the leader lease");
    deliver_read(requester, commit_, std::move(context));
    return;
  }
  if (config_.lease_reads) KEEL_COVER(config_.coverage, "raft: lease expired, read confirmed by a heartbeat round");
  // §8 / thesis §6.4: record the commit index, then confirm with a heartbeat
  // round that we were still the leader when the request arrived.
  broadcast_heartbeat();
  pending_reads_.push_back(PendingRead{requester, std::move(context), commit_, round_});
  release_confirmed_reads();
}

void Raft::release_confirmed_reads() {
  if (pending_reads_.empty()) return;
  uint64_t confirmed = quorum_value(config_state_, [&](NodeId id) -> uint64_t {
    if (id == config_.id) return round_;
    auto it = progress_.find(id);
    return it == progress_.end() ? 0 : it->second.acked_round;
  });
  while (!pending_reads_.empty() && pending_reads_.front().round <= confirmed) {
    PendingRead read = std::move(pending_reads_.front());
    pending_reads_.pop_front();
    deliver_read(read.requester, read.index, std::move(read.context));
  }
}

void Raft::deliver_read(NodeId requester, LogIndex index, Bytes context) {
  if (requester == config_.id) {
    read_states_.push_back({index, std::move(context)});
    return;
  }
  Message msg;
  msg.type = MessageType::kReadIndexResponse;
  msg.to = requester;
  msg.term = term_;
  msg.index = index;
  msg.context = std::move(context);
  send(std::move(msg));
}

bool Raft::lease_valid() const {
  if (!config_.lease_reads || role_ != Role::kLeader || transferee_ != kNoNode) return false;
  if (!committed_in_current_term()) return false;
  // The lease starts at the send tick of the latest heartbeat round a quorum
  // acknowledged: every acknowledging follower restarted its election timer
  // no earlier than that. Values are tick + 1 so that 0 means "no round".
  uint64_t start_plus_one = quorum_value(config_state_, [&](NodeId id) -> uint64_t {
    if (id == config_.id) return ticks_ + 1;
    auto it = progress_.find(id);
    if (it == progress_.end() || it->second.acked_round == 0) return 0;
    for (auto r = round_ticks_.rbegin(); r != round_ticks_.rend(); ++r) {
      if (r->first == it->second.acked_round) return r->second + 1;
      if (r->first < it->second.acked_round) break;
    }
    return 0;
  });
  if (start_plus_one == 0) return false;
  uint64_t start = start_plus_one - 1;
  return ticks_ < start + config_.election_timeout_ticks - config_.lease_margin_ticks;
}

// ---------------------------------------------------------------------------
// Membership.

void Raft::apply_config(const Entry& entry) {
  core::Result<ConfigState> decoded = decode_config(entry.data);
  // Every replica sees the same bytes at this index and reaches the same
  // verdict, so skipping a malformed entry keeps replicas in agreement.
  if (!decoded.is_ok() || decoded->voters.empty()) return;
  KEEL_COVER(config_.coverage, decoded->joint() ? "raft: joint configuration applied" : "raft: configuration applied");
  config_state_ = std::move(decoded).value();
  if (role_ == Role::kLeader) {
    if (!promotable()) {
      // Removed (or demoted): hand over by stepping down; the remaining
      // voters elect a leader after an election timeout.
      become_follower(term_, kNoNode);
      return;
    }
    sync_progress_with_config();
    if (transferee_ != kNoNode && !config_state_.is_voter(transferee_)) transferee_ = kNoNode;
  } else if (!promotable() && role_ != Role::kFollower) {
    become_follower(term_, kNoNode);
  }
}

void Raft::sync_progress_with_config() {
  std::set<NodeId> members = config_state_.members();
  for (auto it = progress_.begin(); it != progress_.end();) {
    if (members.count(it->first) == 0) {
      it = progress_.erase(it);
    } else {
      it->second.set_learner(config_state_.is_learner(it->first));
      ++it;
    }
  }
  for (NodeId id : members) {
    if (id == config_.id || progress_.count(id) > 0) continue;
    Progress pr(log_.last_index().next(), config_.inflight_max, config_state_.is_learner(id));
    pr.recent_active = true;
    progress_.emplace(id, std::move(pr));
  }
}

void Raft::maybe_leave_joint() {
  if (role_ != Role::kLeader || !config_state_.joint() || pending_config_index_ > applied_) return;
  ConfigState next = config_state_;
  next.voters_outgoing.clear();
  append_entry(EntryType::kConfigChange, encode_config(next));
  pending_config_index_ = log_.last_index();
  broadcast_append(false);
}

// ---------------------------------------------------------------------------
// Ready / advance.

const Entry* Raft::entry_at(LogIndex index) const {
  if (index < log_.first_index() || index > log_.last_index()) return nullptr;
  return &log_.at(index);
}

bool Raft::has_ready() const {
  if (outstanding_.has_value()) return false;
  HardState hs{term_, vote_, commit_};
  return append_pending_ || hs != persisted_hard_state_ || snapshot_to_install_.has_value() ||
         log_.stable_index() < log_.last_index() || !outbox_.empty() || applying_ < commit_ ||
         !read_states_.empty();
}

Ready Raft::ready() {
  KEEL_ASSERT_MSG(!outstanding_.has_value(), "ready() called again before advance()");
  if (append_pending_) {
    append_pending_ = false;
    if (role_ == Role::kLeader) broadcast_append(false);
  }
  Ready rd;
  Outstanding out;
  HardState hs{term_, vote_, commit_};
  if (hs != persisted_hard_state_) {
    rd.hard_state = hs;
    out.hard_state = hs;
  }
  if (snapshot_to_install_.has_value()) {
    out.snapshot_index = snapshot_to_install_->meta.index;
    rd.snapshot = std::move(snapshot_to_install_);
    snapshot_to_install_.reset();
  }
  rd.entries = log_.take_unstable();
  rd.messages = std::move(outbox_);
  outbox_.clear();
  KEEL_ASSERT(applying_ >= log_.snapshot_index());
  uint64_t bytes = 0;
  while (applying_ < commit_) {
    const Entry& entry = log_.at(applying_.next());
    if (!rd.committed_entries.empty() && bytes + entry.data.size() > config_.ready_committed_bytes_max) break;
    bytes += entry.data.size();
    if (entry.type == EntryType::kConfigChange) out.config_entries.push_back(entry);
    rd.committed_entries.push_back(entry);
    applying_ = entry.index;
  }
  out.committed_to = applying_;
  rd.read_states = std::move(read_states_);
  read_states_.clear();
  outstanding_ = std::move(out);
  return rd;
}

void Raft::advance() {
  KEEL_ASSERT_MSG(outstanding_.has_value(), "advance() without an outstanding ready()");
  Outstanding out = std::move(*outstanding_);
  outstanding_.reset();
  if (out.hard_state.has_value()) persisted_hard_state_ = *out.hard_state;
  log_.mark_persisted();
  if (out.snapshot_index.has_value() && *out.snapshot_index > applied_) applied_ = *out.snapshot_index;
  if (out.committed_to > applied_) applied_ = out.committed_to;
  for (const Entry& entry : out.config_entries) apply_config(entry);
  if (role_ == Role::kLeader) {
    if (maybe_commit()) {
      broadcast_append(true);
      release_confirmed_reads();
    }
    maybe_leave_joint();
  }
}

}  // namespace keel::consensus
