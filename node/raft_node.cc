#include "node/raft_node.h"

#include <algorithm>

#include "node/peer_codec.h"

namespace keel::node {

using consensus::Entry;
using consensus::EntryType;
using consensus::Message;
using consensus::MessageType;
using consensus::Role;
using core::Bytes;
using core::Duration;
using core::LogIndex;
using core::NodeId;
using core::Status;

namespace {
// Ticks caught up at most in one loop turn after a long pause.
constexpr int kCatchUpTicksMax = 10;
}  // namespace

RaftNode::RaftNode(core::Env& env, RaftNodeOptions options, PeerBus& bus, StateMachine& state_machine,
                   ReadView* read_view)
    : env_(env),
      options_(std::move(options)),
      bus_(bus),
      state_machine_(state_machine),
      read_view_(read_view),
      wakeup_(env.fibers),
      applied_(env.fibers),
      stopped_(env.fibers),
      fibers_(env) {
  options_.raft.id = options_.id;
  options_.raft.coverage = env.trace.coverage();
  KEEL_ASSERT(options_.members.count(options_.id) == 1);
}

RaftNode::~RaftNode() {
  *alive_ = false;
  bus_.on_raft(nullptr);
  bus_.on_unreachable(nullptr);
  fibers_.kill_all();
}

Status RaftNode::start() {
  KEEL_TRY_ASSIGN(storage_, RaftStorage::open(env_.disk, options_.dir, env_.trace.coverage()));
  KEEL_TRY_ASSIGN(const bool install_finished, storage_->recover_install(state_machine_.durable_index()));
  if (install_finished) KEEL_COVER(env_.trace.coverage(), "raft node: restart finished an interrupted snapshot install");
  KEEL_TRY_ASSIGN(consensus::PersistedState persisted, storage_->load(state_machine_.durable_index()));
  if (persisted.snapshot.index.value() == 0 && persisted.snapshot.config.voters.empty()) {
    for (auto& [id, addresses] : options_.members) persisted.snapshot.config.voters.insert(id);
  }
  if (state_machine_.durable_index() < storage_->snapshot_meta().index) {
    return core::corruption("the state machine is at " + state_machine_.durable_index().to_string() +
                            " but the raft log was compacted up to " + storage_->snapshot_meta().index.to_string());
  }
  KEEL_TRY_ASSIGN(raft_, consensus::Raft::create(options_.raft, std::move(persisted), env_.random.fork("raft")));
  running_ = true;
  bus_.on_raft([this](Message m) {
    if (!running_ || inbox_.size() >= options_.inbox_messages_max) return;
    inbox_.push_back(std::move(m));
    wakeup_.notify_one();
  });
  bus_.on_unreachable([this](NodeId peer) {
    if (!running_ || options_.members.count(peer) == 0) return;
    unreachable_.push_back(peer);
    wakeup_.notify_one();
  });
  fibers_.spawn("raft.loop", [this] { loop(); });
  env_.trace.event("raft.start", {{"applied", state_machine_.applied_index().value()},
                                  {"last", raft_->last_index().value()},
                                  {"term", raft_->term().value()}});
  return Status::ok();
}

Status RaftNode::wait() {
  while (running_) stopped_.wait();
  return failure_;
}

void RaftNode::stop() {
  if (!running_) return;
  running_ = false;
  wakeup_.notify_all();
  applied_.notify_all();
  stopped_.notify_all();
}

void RaftNode::fail(const Status& status) {
  KEEL_COVER(env_.trace.coverage(), "raft node: stopped after a storage failure");
  env_.trace.error("raft: stopping after a storage failure: " + status.to_string());
  failure_ = status;
  stop();
}

bool RaftNode::is_leader() const { return raft_ && raft_->role() == Role::kLeader; }

std::optional<core::Address> RaftNode::client_address(NodeId id) const {
  if (options_.members.count(id) == 0) return std::nullopt;
  return bus_.client_address(id);
}

std::optional<core::Address> RaftNode::leader_client_address() const {
  if (!raft_) return std::nullopt;
  const NodeId leader = raft_->leader_id();
  if (leader == consensus::kNoNode) return std::nullopt;
  return client_address(leader);
}

Status RaftNode::not_leader() const {
  auto leader = leader_client_address();
  if (leader && raft_->leader_id() != options_.id) return core::failed_precondition(leader->to_string());
  return core::unavailable("no leader");
}

core::Result<Bytes> RaftNode::propose(Bytes command) {
  if (!running_) return core::unavailable("node stopping");
  if (!is_leader()) return not_leader();
  if (proposals_.size() >= options_.proposals_max) return core::unavailable("too many proposals queued");
  auto promise = std::make_shared<core::Promise<Bytes>>(env_.fibers);
  auto future = promise->future();
  proposals_.push_back(PendingProposal{std::move(command), std::move(promise)});
  wakeup_.notify_one();
  const Duration timeout = options_.proposal_timeout;
  auto result = future.get_until(env_.clock, env_.now() + timeout);
  // The node may be gone by now: touch nothing of it below.
  if (!result.is_ok() && result.status().code() == core::Code::kDeadlineExceeded) {
    return core::aborted("no outcome within " + timeout.to_string());
  }
  return result;
}

Status RaftNode::read_barrier(bool stale_ok) {
  if (!running_) return core::unavailable("node stopping");
  if (stale_ok) return Status::ok();
  if (!is_leader()) return not_leader();
  auto promise = std::make_shared<core::Promise<LogIndex>>(env_.fibers);
  auto future = promise->future();
  const uint64_t id = next_read_id_++;
  reads_.emplace_back(id, std::move(promise));
  wakeup_.notify_one();
  const core::Instant deadline = env_.now() + options_.read_timeout;
  std::shared_ptr<bool> alive = alive_;
  auto index = future.get_until(env_.clock, deadline);
  if (!*alive) return core::unavailable("node stopped");
  if (!index.is_ok()) {
    read_waiters_.erase(id);
    if (index.status().code() == core::Code::kDeadlineExceeded) return core::unavailable("read index timed out");
    return index.status();
  }
  if (state_machine_.applied_index() < *index) KEEL_COVER(env_.trace.coverage(), "raft node: read waits for apply");
  while (running_ && state_machine_.applied_index() < *index) {
    const bool woken = applied_.wait_until(env_.clock, deadline);
    if (!*alive) return core::unavailable("node stopped");
    if (!woken && state_machine_.applied_index() < *index) {
      return core::unavailable("apply did not reach the read index in time");
    }
  }
  if (!running_) return core::unavailable("node stopping");
  return Status::ok();
}

void RaftNode::loop() {
  core::Instant next_tick = env_.now() + options_.tick_interval;
  while (running_) {
    while (running_ && inbox_.empty() && proposals_.empty() && reads_.empty() && unreachable_.empty() &&
           !raft_->has_ready() && env_.now() < next_tick) {
      wakeup_.wait_until(env_.clock, next_tick);
    }
    if (!running_) return;
    for (int i = 0; i < kCatchUpTicksMax && env_.now() >= next_tick; ++i) {
      raft_->tick();
      next_tick += options_.tick_interval;
    }
    if (env_.now() >= next_tick) next_tick = env_.now() + options_.tick_interval;
    while (!inbox_.empty()) {
      Message m = std::move(inbox_.front());
      inbox_.pop_front();
      if (Status s = raft_->step(m); !s.is_ok()) env_.trace.warn("raft: dropped a message: " + s.to_string());
    }
    while (!unreachable_.empty()) {
      raft_->report_unreachable(unreachable_.front());
      unreachable_.pop_front();
    }
    while (!proposals_.empty()) {
      PendingProposal p = std::move(proposals_.front());
      proposals_.pop_front();
      auto index = raft_->propose(std::move(p.command));
      if (!index.is_ok()) {
        p.promise->set(index.status().code() == core::Code::kFailedPrecondition ? not_leader() : index.status());
        continue;
      }
      waiters_[*index] = Waiter{raft_->term(), std::move(p.promise)};
    }
    while (!reads_.empty()) {
      auto [id, promise] = std::move(reads_.front());
      reads_.pop_front();
      Bytes context;
      core::put_u64(context, id);
      if (Status s = raft_->read_index(context); !s.is_ok()) {
        promise->set(s.code() == core::Code::kFailedPrecondition ? not_leader() : s);
        continue;
      }
      read_waiters_[id] = std::move(promise);
    }
    while (running_ && raft_->has_ready()) {
      if (Status s = handle_ready(); !s.is_ok()) {
        fail(s);
        return;
      }
    }
  }
}

Status RaftNode::handle_ready() {
  consensus::Ready rd = raft_->ready();
  std::optional<consensus::SnapshotMeta> snapshot_meta;
  if (rd.snapshot) {
    // The machine holds the snapshot durably before the log forgets what it
    // replaces; the install record bridges the two (raft_storage.h).
    KEEL_TRY(storage_->begin_install(rd.snapshot->meta, rd.hard_state));
    KEEL_TRY(state_machine_.restore(rd.snapshot->meta.index, rd.snapshot->data));
    snapshot_meta = rd.snapshot->meta;
    env_.trace.event("raft.snapshot_installed", {{"index", rd.snapshot->meta.index.value()}});
    KEEL_COVER(env_.trace.coverage(), "raft node: snapshot restored into the state machine");
    for (auto it = waiters_.begin(); it != waiters_.end() && it->first <= rd.snapshot->meta.index;) {
      it->second.promise->set(core::aborted("superseded by a snapshot"));
      it = waiters_.erase(it);
    }
    applied_.notify_all();
  }
  if (options_.test_bug_send_before_persist) {
    for (Message& m : rd.messages) send(std::move(m));
    rd.messages.clear();
  }
  // A leader's appends depend only on its term being durable, not on the
  // entries they carry: they leave now, so the followers' syncs overlap the
  // leader's own (thesis §10.2.1). The leader counts itself towards a
  // quorum only up to what advance() confirms durable.
  const bool term_durable =
      !snapshot_meta && (!rd.hard_state || (rd.hard_state->term == storage_->hard_state().term &&
                                            rd.hard_state->vote == storage_->hard_state().vote));
  if (term_durable) {
    std::vector<Message> held;
    for (Message& m : rd.messages) {
      if (m.type == MessageType::kAppend || m.type == MessageType::kHeartbeat) {
        send(std::move(m));
      } else {
        held.push_back(std::move(m));
      }
    }
    rd.messages = std::move(held);
  }
  // Committed entries already durable here are applied before this Ready's
  // sync when no message waits on it, so their clients are answered one sync
  // earlier. Otherwise (a follower's acknowledgement waits) the sync and the
  // send come first.
  size_t applied_early = 0;
  if (rd.messages.empty()) {
    // Durable here means synced and not about to be replaced by this
    // Ready's entries.
    LogIndex durable = storage_->log().synced_index();
    if (!rd.entries.empty()) durable = std::min(durable, rd.entries.front().index.prev());
    for (const Entry& e : rd.committed_entries) {
      if (e.index > durable) break;
      if (e.index > state_machine_.applied_index()) KEEL_TRY(apply(e));
      ++applied_early;
    }
    if (applied_early > 0) KEEL_COVER(env_.trace.coverage(), "raft node: committed entries applied before the sync");
  }
  KEEL_TRY(storage_->save(rd.hard_state, rd.entries, snapshot_meta));
  if (observer_ != nullptr) observer_->on_persisted(*raft_, storage_->log().synced_index());
  for (Message& m : rd.messages) send(std::move(m));
  for (size_t i = applied_early; i < rd.committed_entries.size(); ++i) {
    const Entry& e = rd.committed_entries[i];
    if (e.index <= state_machine_.applied_index()) continue;
    KEEL_TRY(apply(e));
  }
  for (const consensus::ReadState& rs : rd.read_states) {
    if (rs.context.size() != 8) continue;
    auto it = read_waiters_.find(core::get_u64(rs.context.data()));
    if (it == read_waiters_.end()) continue;
    it->second->set(rs.index);
    read_waiters_.erase(it);
  }
  raft_->advance();
  if (observer_ != nullptr) observer_->on_ready_handled(*raft_, storage_->log().synced_index());
  return maybe_compact();
}

Status RaftNode::apply(const Entry& e) {
  core::Result<Bytes> result = Bytes();
  if (e.type == EntryType::kNormal) {
    result = state_machine_.apply(e.index, e.data);
  } else {
    Status s = state_machine_.skip(e.index);
    if (!s.is_ok()) result = s;
  }
  // A command's own failure is inside its reply bytes; a Status here means
  // the machine's storage failed, and its state is no longer known.
  if (!result.is_ok()) return result.status();
  ++applied_entries_;
  if (observer_ != nullptr) observer_->on_applied(options_.id, e, raft_->term());
  auto it = waiters_.find(e.index);
  if (it != waiters_.end()) {
    if (it->second.term == e.term) {
      it->second.promise->set(std::move(result));
    } else {
      // Another leader's entry took this index: ours will never commit.
      KEEL_COVER(env_.trace.coverage(), "raft node: proposal lost to a leader change");
      it->second.promise->set(core::unavailable("proposal lost to a leader change"));
    }
    waiters_.erase(it);
  }
  // Waiters below the applied index were overwritten without a trace.
  while (!waiters_.empty() && waiters_.begin()->first < e.index) {
    waiters_.begin()->second.promise->set(core::unavailable("proposal lost to a leader change"));
    waiters_.erase(waiters_.begin());
  }
  applied_.notify_all();
  return Status::ok();
}

Status RaftNode::maybe_compact() {
  const LogIndex applied = state_machine_.applied_index();
  const LogIndex snap = storage_->snapshot_meta().index;
  if (applied.value() < snap.value() + options_.snapshot_entries) return Status::ok();
  KEEL_TRY(state_machine_.persist());
  consensus::SnapshotMeta meta;
  meta.index = applied;
  auto term = raft_->term_at(applied);
  if (!term) return Status::ok();
  meta.term = *term;
  meta.config = raft_->config_state();
  KEEL_TRY(raft_->compact(meta));
  KEEL_TRY(storage_->compact(meta));
  env_.trace.event("raft.compacted", {{"index", applied.value()}});
  KEEL_COVER(env_.trace.coverage(), "raft node: log compacted");
  return Status::ok();
}

void RaftNode::send(Message msg) {
  if (options_.members.count(msg.to) == 0 || msg.to == options_.id) return;
  const bool snapshot = msg.type == MessageType::kSnapshot;
  if (snapshot && msg.snapshot) {
    // Attach the machine's current state; it is at least as new as asked.
    auto data = state_machine_.snapshot();
    auto term = raft_->term_at(state_machine_.applied_index());
    if (!data.is_ok() || !term) {
      raft_->report_snapshot(msg.to, true);
      return;
    }
    msg.snapshot->meta.index = state_machine_.applied_index();
    msg.snapshot->meta.term = *term;
    msg.snapshot->meta.config = raft_->config_state();
    msg.snapshot->data = std::move(*data);
  }
  if (observer_ != nullptr) observer_->on_send(msg, storage_->log().synced_index(), storage_->hard_state());
  PeerBus::Done done;
  if (snapshot) {
    // Raft learns whether the snapshot left (or was dropped: it resends).
    const NodeId to = msg.to;
    std::shared_ptr<bool> alive = alive_;
    done = [this, alive, to](bool failed) {
      if (*alive && raft_) raft_->report_snapshot(to, failed);
    };
  }
  bus_.send(msg.to, encode_raft_message(msg), std::move(done));
}

std::string RaftNode::info_replication() const {
  std::string out;
  if (!raft_) return "role:starting\r\n";
  const bool leader = raft_->role() == Role::kLeader;
  out += "role:";
  out += leader ? "master" : "slave";
  out += "\r\nraft_role:" + std::string(consensus::role_name(raft_->role()));
  out += "\r\nraft_node_id:" + options_.id.to_string();
  out += "\r\nraft_term:" + raft_->term().to_string();
  out += "\r\nraft_leader_id:" + raft_->leader_id().to_string();
  if (auto addr = leader_client_address()) out += "\r\nraft_leader_address:" + addr->to_string();
  out += "\r\nraft_commit_index:" + raft_->commit_index().to_string();
  out += "\r\nraft_applied_index:" + state_machine_.applied_index().to_string();
  out += "\r\nraft_last_index:" + raft_->last_index().to_string();
  out += "\r\nraft_snapshot_index:" + storage_->snapshot_meta().index.to_string();
  if (leader) {
    int i = 0;
    for (auto& [id, progress] : raft_->progress()) {
      const uint64_t match = progress.match().value();
      const uint64_t last = raft_->last_index().value();
      out += "\r\nslave" + std::to_string(i++) + ":id=" + id.to_string() + ",match_index=" + std::to_string(match) +
             ",lag=" + std::to_string(last >= match ? last - match : 0);
    }
  }
  out += "\r\n";
  return out;
}

}  // namespace keel::node
