#include "consensus/partition.h"

#include <algorithm>
#include <utility>

#include "core/assert.h"

namespace keel::consensus {

// --- EpochCache -----------------------------------------------------------

void EpochCache::assign(Epoch epoch, Offset start) {
  if (!entries_.empty() && entries_.back().epoch == epoch) return;
  KEEL_ASSERT(entries_.empty() || entries_.back().epoch < epoch);
  KEEL_ASSERT(entries_.empty() || entries_.back().start <= start);
  // An earlier epoch that starts here too holds no records; it stays, so
  // that end_for() still answers for it (it ends where this one starts).
  entries_.push_back({epoch, start});
}

void EpochCache::truncate_from(Offset end) {
  while (!entries_.empty() && entries_.back().start >= end) entries_.pop_back();
}

void EpochCache::truncate_before(Offset start) {
  // Keep the epoch of the record at start - 1 (the snapshot's last record:
  // followers ask where it ends) and everything after it.
  size_t keep = 0;
  while (keep + 1 < entries_.size() && entries_[keep + 1].start < start) ++keep;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(keep));
}

std::pair<Epoch, Offset> EpochCache::end_for(Epoch epoch, Offset log_start, Offset log_end) const {
  for (size_t i = entries_.size(); i-- > 0;) {
    if (entries_[i].epoch <= epoch) {
      Offset end = i + 1 < entries_.size() ? entries_[i + 1].start : log_end;
      return {entries_[i].epoch, end};
    }
  }
  return {Epoch(), log_start};
}

Epoch EpochCache::epoch_at(Offset offset) const {
  for (size_t i = entries_.size(); i-- > 0;) {
    if (entries_[i].start <= offset) return entries_[i].epoch;
  }
  return Epoch();
}

std::optional<Offset> EpochCache::start_of(Epoch epoch) const {
  for (const Entry& e : entries_) {
    if (e.epoch == epoch) return e.start;
  }
  return std::nullopt;
}

// --- Names and config -------------------------------------------------------

std::string_view fetch_error_name(FetchError error) {
  switch (error) {
    case FetchError::kNone: return "none";
    case FetchError::kStaleEpoch: return "stale_epoch";
    case FetchError::kUnknownEpoch: return "unknown_epoch";
    case FetchError::kNotLeader: return "not_leader";
    case FetchError::kDiverging: return "diverging";
    case FetchError::kSnapshotNeeded: return "snapshot_needed";
  }
  return "?";
}

std::string_view partition_role_name(PartitionRole role) {
  switch (role) {
    case PartitionRole::kNone: return "none";
    case PartitionRole::kFollower: return "follower";
    case PartitionRole::kLeader: return "leader";
  }
  return "?";
}

core::Status PartitionConfig::validate() const {
  if (id.value() == 0) return core::invalid_argument("partition config: id must not be 0");
  if (min_insync_replicas == 0) return core::invalid_argument("partition config: min_insync_replicas must be >= 1");
  if (replica_lag_max_ticks == 0 || fetch_timeout_ticks == 0 || isr_request_timeout_ticks == 0) {
    return core::invalid_argument("partition config: every timeout must be positive");
  }
  if (fetch_wait_max_ticks >= fetch_timeout_ticks) {
    return core::invalid_argument("partition config: fetch_wait_max_ticks must be below fetch_timeout_ticks");
  }
  if (fetch_records_max == 0 || fetch_bytes_max == 0 || uncommitted_records_max == 0) {
    return core::invalid_argument("partition config: every maximum must be positive");
  }
  return core::Status::ok();
}

// --- PartitionReplica: creation and roles ------------------------------------

core::Result<PartitionReplica> PartitionReplica::create(const PartitionConfig& config,
                                                        PartitionPersisted persisted) {
  KEEL_TRY(config.validate());
  PartitionReplica r(config);
  r.log_start_ = persisted.log_start;
  r.snapshot_epoch_ = persisted.snapshot_epoch;
  if (persisted.log_start.value() > 0 && persisted.snapshot_epoch.value() == 0) {
    return core::corruption("partition: a log that starts after 0 needs its snapshot's epoch");
  }
  if (persisted.log_start.value() > 0) r.epochs_.assign(persisted.snapshot_epoch, persisted.log_start);
  uint64_t expect = persisted.log_start.value();
  Epoch last = persisted.snapshot_epoch;
  for (const Record& rec : persisted.records) {
    if (rec.offset.value() != expect) return core::corruption("partition: persisted records are not contiguous");
    if (rec.epoch.value() == 0 || rec.epoch < last) return core::corruption("partition: persisted epochs decrease");
    if (rec.epoch > last || r.epochs_.entries().empty()) r.epochs_.assign(rec.epoch, rec.offset);
    last = rec.epoch;
    ++expect;
  }
  if (persisted.applied.value() > expect || persisted.applied < persisted.log_start) {
    return core::corruption("partition: applied offset outside the log");
  }
  r.log_ = std::move(persisted.records);
  // The newest epoch this replica has records of: controller records older
  // than it are stale (a delayed message from before a restart must not
  // make it follow a deposed leader and truncate committed records).
  r.epoch_ = r.epochs_.latest();
  r.durable_end_ = Offset(expect);
  r.persist_from_ = Offset(expect);
  // Everything applied was committed; nothing else is known to be.
  r.applied_ = persisted.applied;
  r.hw_ = persisted.applied;
  r.reported_committed_ = persisted.applied;
  return r;
}

core::Status PartitionReplica::set_state(const PartitionState& state) {
  if (state.leader_epoch < epoch_ ||
      (state.leader_epoch == epoch_ && state.partition_epoch < partition_epoch_)) {
    return core::failed_precondition("partition " + config_.partition.to_string() + ": stale record (leader epoch " +
                                     state.leader_epoch.to_string() + ", partition epoch " +
                                     std::to_string(state.partition_epoch) + ")");
  }
  if (state.leader_epoch == epoch_ && role_ != PartitionRole::kNone && state.leader != leader_) {
    return core::invalid_argument("partition " + config_.partition.to_string() + ": epoch " + epoch_.to_string() +
                                  " names two leaders");
  }
  replicas_ = state.replicas;
  if (state.leader_epoch > epoch_ || role_ == PartitionRole::kNone) {
    if (state.leader == config_.id) {
      become_leader(state);
    } else if (state.leader.value() != 0) {
      become_follower(state);
    } else {
      role_ = PartitionRole::kNone;
      epoch_ = state.leader_epoch;
      leader_ = state.leader;
      partition_epoch_ = state.partition_epoch;
      isr_ = state.isr;
    }
    return core::Status::ok();
  }
  // Same epoch: the ISR (an answer to our request, or someone else's change).
  partition_epoch_ = state.partition_epoch;
  isr_ = state.isr;
  if (isr_inflight_ && partition_epoch_ > isr_inflight_->partition_epoch) {
    isr_inflight_.reset();
    isr_send_pending_ = false;
  }
  if (role_ == PartitionRole::kLeader) {
    maybe_advance_hw();
    maybe_request_isr_change();
  }
  return core::Status::ok();
}

void PartitionReplica::become_leader(const PartitionState& state) {
  role_ = PartitionRole::kLeader;
  epoch_ = state.leader_epoch;
  leader_ = config_.id;
  partition_epoch_ = state.partition_epoch;
  isr_ = state.isr;
  if (epoch_ > epochs_.latest()) epochs_.assign(epoch_, log_end());
  read_fence_ = log_end();
  follower_end_.clear();
  follower_incarnation_.clear();
  last_fetch_at_.clear();
  end_at_last_fetch_.clear();
  held_.clear();
  caught_up_at_.clear();
  // Every member starts with a full lag allowance in the new epoch.
  for (NodeId n : replicas_) caught_up_at_[n] = now_;
  isr_inflight_.reset();
  isr_send_pending_ = false;
  fetch_outstanding_ = false;
  KEEL_COVER(config_.coverage, "partition: became leader");
  maybe_advance_hw();
}

void PartitionReplica::become_follower(const PartitionState& state) {
  bool was_leader = role_ == PartitionRole::kLeader;
  role_ = PartitionRole::kFollower;
  epoch_ = state.leader_epoch;
  leader_ = state.leader;
  partition_epoch_ = state.partition_epoch;
  isr_ = state.isr;
  held_.clear();
  follower_end_.clear();
  isr_inflight_.reset();
  isr_send_pending_ = false;
  if (was_leader) KEEL_COVER(config_.coverage, "partition: leader deposed");
  // An epoch this replica led without writing a record leaves no trace: the
  // cache describes the records in the log (and a leader's own epoch only).
  forget_epochs_from(log_end());
  if (config_.test_bug_truncate_to_hw && hw_ < log_end()) truncate(hw_);
  fetch_outstanding_ = false;
  send_fetch();
}

// --- Messages ---------------------------------------------------------------

Epoch PartitionReplica::last_epoch() const {
  if (log_.empty()) return snapshot_epoch_;
  return log_.back().epoch;
}

const Record* PartitionReplica::record_at(Offset offset) const {
  if (offset < log_start_ || offset >= log_end()) return nullptr;
  return &log_[offset.value() - log_start_.value()];
}

PartitionMessage PartitionReplica::message(PartitionMessageType type, NodeId to) const {
  PartitionMessage m;
  m.type = type;
  m.partition = config_.partition;
  m.from = config_.id;
  m.to = to;
  m.epoch = epoch_;
  return m;
}

void PartitionReplica::send_fetch() {
  PartitionMessage m = message(PartitionMessageType::kFetch, leader_);
  m.fetch_id = ++fetch_id_;
  m.fetch_offset = log_end();
  m.last_epoch = last_epoch();
  m.incarnation = incarnation_;
  outbox_.push_back(std::move(m));
  fetch_outstanding_ = true;
  fetch_sent_at_ = now_;
}

PartitionMessage PartitionReplica::reply_to(const PartitionMessage& msg, FetchError error) const {
  PartitionMessage r = message(PartitionMessageType::kFetchResponse, msg.from);
  r.fetch_id = msg.fetch_id;
  r.fetch_offset = msg.fetch_offset;
  r.error = error;
  r.high_watermark = hw_;
  return r;
}

core::Status PartitionReplica::step(const PartitionMessage& msg) {
  if (msg.partition != config_.partition) return core::invalid_argument("partition: message for another partition");
  if (msg.to != config_.id) return core::invalid_argument("partition: message for another node");
  if (msg.type == PartitionMessageType::kFetch) {
    handle_fetch(msg);
    return core::Status::ok();
  }
  if (role_ != PartitionRole::kFollower || msg.from != leader_ || !fetch_outstanding_ ||
      msg.fetch_id != fetch_id_) {
    return core::failed_precondition("partition: answer to an older fetch");
  }
  if (msg.error == FetchError::kNone) {
    if (msg.epoch != epoch_) return core::failed_precondition("partition: answer from another epoch");
    // Validate before touching anything.
    if (msg.fetch_offset != log_end()) return core::failed_precondition("partition: answer for another offset");
    uint64_t expect = msg.fetch_offset.value();
    Epoch last = last_epoch();
    for (const Record& rec : msg.records) {
      if (rec.offset.value() != expect) return core::invalid_argument("partition: fetched records not contiguous");
      if (rec.epoch < last || rec.epoch > msg.epoch || rec.epoch.value() == 0) {
        return core::invalid_argument("partition: fetched record epochs out of order");
      }
      last = rec.epoch;
      ++expect;
    }
  }
  handle_fetch_response(msg);
  return core::Status::ok();
}

void PartitionReplica::handle_fetch(const PartitionMessage& msg) {
  if (role_ != PartitionRole::kLeader) {
    outbox_.push_back(reply_to(msg, FetchError::kNotLeader));
    return;
  }
  if (msg.epoch < epoch_) {
    KEEL_COVER(config_.coverage, "partition: fetch from an older epoch refused");
    outbox_.push_back(reply_to(msg, FetchError::kStaleEpoch));
    return;
  }
  if (msg.epoch > epoch_) {
    KEEL_COVER(config_.coverage, "partition: deposed leader refused a fetch from a newer epoch");
    outbox_.push_back(reply_to(msg, FetchError::kUnknownEpoch));
    return;
  }
  NodeId f = msg.from;
  if (f == config_.id || std::find(replicas_.begin(), replicas_.end(), f) == replicas_.end()) {
    outbox_.push_back(reply_to(msg, FetchError::kNotLeader));
    return;
  }
  // The follower's last epoch predates everything this log still holds:
  // where the two histories part is unknown, so resend everything (P8).
  const bool epoch_unknown =
      msg.fetch_offset.value() > 0 && epochs_.end_for(msg.last_epoch, log_start_, log_end()).first.value() == 0;
  if (msg.fetch_offset < log_start_ || (epoch_unknown && log_start_.value() > 0)) {
    KEEL_COVER(config_.coverage, "partition: follower needs a snapshot");
    PartitionMessage r = reply_to(msg, FetchError::kSnapshotNeeded);
    r.snapshot_offset = log_start_;
    r.snapshot_epoch = snapshot_epoch_;
    outbox_.push_back(std::move(r));
    return;
  }
  if (msg.fetch_offset.value() > 0) {
    auto [epoch, end] = epochs_.end_for(msg.last_epoch, log_start_, log_end());
    if (epoch != msg.last_epoch || end < msg.fetch_offset) {
      KEEL_COVER(config_.coverage, "partition: follower log diverges");
      PartitionMessage r = reply_to(msg, FetchError::kDiverging);
      r.diverging_epoch = epoch;
      r.diverging_end = end;
      outbox_.push_back(std::move(r));
      return;
    }
  }
  // A fetch that the network delivered after a newer one from the same
  // process: within an epoch a follower's log end never moves back.
  auto known = follower_end_.find(f);
  if (known != follower_end_.end() && msg.fetch_offset < known->second &&
      follower_incarnation_[f] == msg.incarnation) {
    KEEL_COVER(config_.coverage, "partition: reordered older fetch ignored");
    return;
  }
  // The follower's log matches ours up to fetch_offset, all durable there.
  Offset end = msg.fetch_offset;
  follower_end_[f] = end;
  follower_incarnation_[f] = msg.incarnation;
  if (end >= durable_end_) {
    caught_up_at_[f] = now_;
  } else if (end_at_last_fetch_.count(f) && end >= end_at_last_fetch_[f]) {
    caught_up_at_[f] = std::max(caught_up_at_[f], last_fetch_at_[f]);
  }
  last_fetch_at_[f] = now_;
  end_at_last_fetch_[f] = durable_end_;
  held_.erase(f);
  maybe_advance_hw();
  maybe_request_isr_change();
  if (end < durable_end_) {
    answer_fetch(f, msg.fetch_id, end);
  } else {
    held_[f] = HeldFetch{msg.fetch_id, end, now_};
  }
}

void PartitionReplica::answer_fetch(NodeId to, uint64_t fetch_id, Offset from) {
  PartitionMessage r = message(PartitionMessageType::kFetchResponse, to);
  r.fetch_id = fetch_id;
  r.fetch_offset = from;
  r.high_watermark = hw_;
  uint64_t bytes = 0;
  for (Offset o = from; o < durable_end_ && r.records.size() < config_.fetch_records_max; o = o.next()) {
    const Record* rec = record_at(o);
    KEEL_ASSERT(rec != nullptr);
    if (!r.records.empty() && bytes + rec->data.size() > config_.fetch_bytes_max) break;
    bytes += rec->data.size();
    r.records.push_back(*rec);
  }
  outbox_.push_back(std::move(r));
}

void PartitionReplica::handle_fetch_response(const PartitionMessage& msg) {
  fetch_outstanding_ = false;
  switch (msg.error) {
    case FetchError::kNone: {
      for (const Record& rec : msg.records) {
        if (rec.epoch > epochs_.latest()) epochs_.assign(rec.epoch, rec.offset);
        log_.push_back(rec);
      }
      Offset hw = std::min(msg.high_watermark, log_end());
      if (hw > hw_) hw_ = hw;
      send_fetch();
      return;
    }
    case FetchError::kDiverging: {
      auto [mine_epoch, mine_end] = epochs_.end_for(msg.diverging_epoch, log_start_, log_end());
      (void)mine_epoch;
      Offset to = std::min(msg.diverging_end, mine_end);
      to = std::max(to, log_start_);
      if (to < log_end()) {
        KEEL_COVER(config_.coverage, "partition: follower truncated a diverging suffix");
        truncate(to);
      }
      send_fetch();
      return;
    }
    case FetchError::kSnapshotNeeded: {
      if (msg.snapshot_offset <= log_start_ || msg.snapshot_epoch.value() == 0) return;  // nothing newer
      KEEL_COVER(config_.coverage, "partition: follower installed a snapshot");
      log_.clear();
      epochs_.clear();
      log_start_ = msg.snapshot_offset;
      snapshot_epoch_ = msg.snapshot_epoch;
      epochs_.assign(snapshot_epoch_, log_start_);
      durable_end_ = std::min(durable_end_, log_start_);
      persist_from_ = log_start_;
      truncate_from_.reset();
      snapshot_ = PartitionSnapshot{msg.snapshot_offset, msg.snapshot_epoch, msg.snapshot_data};
      if (hw_ < log_start_) hw_ = log_start_;
      send_fetch();
      return;
    }
    case FetchError::kStaleEpoch:
    case FetchError::kUnknownEpoch:
    case FetchError::kNotLeader:
      // Wait for the controller's news; tick() fetches again.
      return;
  }
}

void PartitionReplica::truncate(Offset end) {
  KEEL_ASSERT(end >= log_start_);
  if (end >= log_end()) return;
  log_.resize(end.value() - log_start_.value());
  forget_epochs_from(end);
  if (!truncate_from_ || end < *truncate_from_) truncate_from_ = end;
  if (persist_from_ > end) persist_from_ = end;
  if (durable_end_ > end) durable_end_ = end;
  // Only a broken protocol truncates below the HW; the checkers see it.
  if (hw_ > end) hw_ = end;
}

void PartitionReplica::forget_epochs_from(Offset end) {
  epochs_.truncate_from(end);
  // The snapshot's epoch is where the log starts: it stays.
  if (log_start_.value() > 0 && epochs_.latest() < snapshot_epoch_) epochs_.assign(snapshot_epoch_, log_start_);
}

// --- Leader duties ------------------------------------------------------------

void PartitionReplica::maybe_advance_hw() {
  if (role_ != PartitionRole::kLeader) return;
  if (isr_.size() < config_.min_insync_replicas) {
    KEEL_COVER(config_.coverage, "partition: HW held, ISR below min.insync.replicas");
    return;
  }
  Offset hw = durable_end_;
  if (config_.test_bug_hw_over_all_replicas) {
    for (const auto& [n, end] : follower_end_) hw = std::min(hw, end);
  } else {
    std::set<NodeId> members = isr_;
    if (isr_inflight_) members.insert(isr_inflight_->isr.begin(), isr_inflight_->isr.end());
    for (NodeId n : members) {
      if (n == config_.id) continue;
      auto it = follower_end_.find(n);
      if (it == follower_end_.end()) return;  // not fetched in this epoch yet
      hw = std::min(hw, it->second);
    }
  }
  if (hw <= hw_) return;
  hw_ = hw;
  // Followers waiting on a fetch learn the new HW now.
  std::map<NodeId, HeldFetch> held;
  held.swap(held_);
  for (const auto& [n, h] : held) answer_fetch(n, h.fetch_id, h.from);
}

void PartitionReplica::maybe_request_isr_change() {
  if (role_ != PartitionRole::kLeader || isr_inflight_) return;
  std::set<NodeId> next = isr_;
  std::map<NodeId, uint64_t> incarnations;
  std::optional<Offset> epoch_start = epochs_.start_of(epoch_);
  for (NodeId n : replicas_) {
    if (n == config_.id) continue;
    bool member = isr_.count(n) > 0;
    if (member && now_ - caught_up_at_[n] > config_.replica_lag_max_ticks) {
      next.erase(n);
    } else if (!member) {
      auto it = follower_end_.find(n);
      if (it == follower_end_.end()) continue;
      // Only a follower that is fetching now: the end it reported long ago
      // says nothing of a process that has since died.
      if (now_ - last_fetch_at_[n] > config_.replica_lag_max_ticks) continue;
      bool past_start = epoch_start && it->second >= *epoch_start;
      if (config_.test_bug_isr_add_before_epoch_start) past_start = true;
      if (it->second >= hw_ && past_start) {
        next.insert(n);
        incarnations[n] = follower_incarnation_[n];
      }
    }
  }
  if (next == isr_) return;
  if (next.size() < isr_.size() || !std::includes(next.begin(), next.end(), isr_.begin(), isr_.end())) {
    ++isr_shrinks_;
    KEEL_COVER(config_.coverage, "partition: leader asked to shrink the ISR");
  }
  if (next.size() > isr_.size() || !std::includes(isr_.begin(), isr_.end(), next.begin(), next.end())) {
    ++isr_expands_;
    KEEL_COVER(config_.coverage, "partition: leader asked to expand the ISR");
  }
  isr_inflight_ = IsrRequest{config_.partition, config_.id, epoch_, partition_epoch_, next, incarnations};
  isr_send_pending_ = true;
  isr_sent_at_ = now_;
}

core::Result<Offset> PartitionReplica::propose(core::Bytes data, bool require_min_isr) {
  if (role_ != PartitionRole::kLeader) {
    return core::failed_precondition("partition " + config_.partition.to_string() + ": not the leader");
  }
  if (require_min_isr && isr_.size() < config_.min_insync_replicas) {
    KEEL_COVER(config_.coverage, "partition: write refused, ISR below min.insync.replicas");
    return core::unavailable("NOREPLICAS Not enough good replicas to write.");
  }
  if (log_end().value() - hw_.value() >= config_.uncommitted_records_max) {
    return core::unavailable("partition " + config_.partition.to_string() + ": too many uncommitted records");
  }
  Offset offset = log_end();
  log_.push_back(Record{epoch_, offset, std::move(data)});
  return offset;
}

core::Status PartitionReplica::compact(Offset offset) {
  if (offset <= log_start_ || offset > applied_ || offset > durable_end_) {
    return core::failed_precondition("partition: compaction point outside (log start, applied]");
  }
  snapshot_epoch_ = record_at(offset.prev())->epoch;
  log_.erase(log_.begin(), log_.begin() + static_cast<std::ptrdiff_t>(offset.value() - log_start_.value()));
  log_start_ = offset;
  epochs_.truncate_before(offset);
  return core::Status::ok();
}

void PartitionReplica::tick() {
  ++now_;
  if (role_ == PartitionRole::kFollower) {
    if (!fetch_outstanding_ || now_ - fetch_sent_at_ >= config_.fetch_timeout_ticks) send_fetch();
    return;
  }
  if (role_ != PartitionRole::kLeader) return;
  for (auto it = held_.begin(); it != held_.end();) {
    if (now_ - it->second.since >= config_.fetch_wait_max_ticks) {
      answer_fetch(it->first, it->second.fetch_id, it->second.from);
      it = held_.erase(it);
    } else {
      ++it;
    }
  }
  if (isr_inflight_ && now_ - isr_sent_at_ >= config_.isr_request_timeout_ticks) {
    // No answer yet: the request or its answer may be lost, or still on its
    // way through the controller's log - where it can yet be applied. Send
    // the same request again and keep counting its adds in the HW; only a
    // newer record (applied or refused, the controller bumps the partition
    // epoch either way) ends it.
    KEEL_COVER(config_.coverage, "partition: ISR request re-sent");
    isr_send_pending_ = true;
    isr_sent_at_ = now_;
  }
  maybe_request_isr_change();
}

// --- Ready ---------------------------------------------------------------------

bool PartitionReplica::has_ready() const {
  return truncate_from_ || snapshot_ || persist_from_ < log_end() || !outbox_.empty() || isr_send_pending_ ||
         std::min(hw_, log_end()) > reported_committed_;
}

PartitionReady PartitionReplica::ready() {
  PartitionReady rd;
  rd.truncate_from = truncate_from_;
  rd.snapshot = std::move(snapshot_);
  for (Offset o = persist_from_; o < log_end(); o = o.next()) rd.records.push_back(*record_at(o));
  rd.messages = std::move(outbox_);
  if (isr_send_pending_) rd.isr_request = isr_inflight_;
  rd.committed_end = std::min(hw_, log_end());
  truncate_from_.reset();
  snapshot_.reset();
  persist_from_ = log_end();
  outbox_.clear();
  isr_send_pending_ = false;
  reported_committed_ = rd.committed_end;
  return rd;
}

void PartitionReplica::advance(Offset durable_end, Offset applied) {
  Offset before = durable_end_;
  durable_end_ = std::min(durable_end, persist_from_);
  applied_ = applied;
  if (role_ != PartitionRole::kLeader) return;
  maybe_advance_hw();
  if (durable_end_ > before) {
    // Held fetches can now be answered with records.
    std::map<NodeId, HeldFetch> held;
    held.swap(held_);
    for (const auto& [n, h] : held) {
      if (h.from < durable_end_) {
        answer_fetch(n, h.fetch_id, h.from);
      } else {
        held_[n] = h;
      }
    }
  }
}

}  // namespace keel::consensus
