#include "node/raft_node.h"

#include <algorithm>

#include "net/accept.h"
#include "net/deadline.h"
#include "net/frame.h"
#include "node/raft_codec.h"

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
// Frames coalesced into one stream write.
constexpr size_t kCoalesceBytesMax = 1024 * 1024;
constexpr Duration kReconnectBackoffMin = Duration::millis(10);
constexpr Duration kReconnectBackoffMax = Duration::millis(1000);
// A peer's first frame (its hello) is far smaller than this.
constexpr size_t kHelloBytesMax = 4096;
}  // namespace

struct RaftNode::PeerLink {
  PeerLink(core::Env& env, NodeId peer_id, core::Address addr) : id(peer_id), address(std::move(addr)), wakeup(env.fibers) {}
  NodeId id;
  core::Address address;
  // Encoded frames waiting to be written, with the snapshot flag of each.
  std::deque<std::pair<Bytes, bool>> queue;
  size_t queued_bytes = 0;
  core::WaitList wakeup;
};

RaftNode::RaftNode(core::Env& env, RaftNodeOptions options, StateMachine& state_machine, ReadView* read_view)
    : env_(env),
      options_(std::move(options)),
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
  KEEL_TRY_ASSIGN(listener_, env_.net.listen(options_.members.at(options_.id).peer));
  running_ = true;
  for (auto& [id, addresses] : options_.members) {
    if (id == options_.id) continue;
    auto link = std::make_unique<PeerLink>(env_, id, addresses.peer);
    PeerLink* raw = link.get();
    links_[id] = std::move(link);
    fibers_.spawn("raft.peer-out", [this, raw] { peer_out(*raw); });
  }
  fibers_.spawn("raft.accept", [this] { accept_loop(*listener_); });
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
  if (listener_) listener_->close();
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
  auto learned = learned_client_addresses_.find(id);
  if (learned != learned_client_addresses_.end()) return learned->second;
  auto it = options_.members.find(id);
  // A member whose client address is not configured is known only once it
  // has introduced itself.
  if (it == options_.members.end() || it->second.client.port == 0) return std::nullopt;
  return it->second.client;
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
  auto it = links_.find(msg.to);
  if (it == links_.end()) return;
  PeerLink& link = *it->second;
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
  Bytes frame;
  net::append_frame(frame, encode_raft_message(msg));
  if (link.queued_bytes + frame.size() > options_.peer_queue_bytes_max) {
    if (snapshot) raft_->report_snapshot(msg.to, true);
    return;  // dropped: Raft retransmits
  }
  link.queued_bytes += frame.size();
  link.queue.emplace_back(std::move(frame), snapshot);
  link.wakeup.notify_one();
}

void RaftNode::peer_out(PeerLink& link) {
  Duration backoff = kReconnectBackoffMin;
  while (running_) {
    auto stream = env_.net.connect(link.address, options_.connect_timeout);
    if (!stream.is_ok()) {
      // Messages queued for an unreachable peer are stale by the time it
      // comes back; Raft resends what matters.
      for (auto& [frame, snapshot] : link.queue) {
        if (snapshot) raft_->report_snapshot(link.id, true);
      }
      link.queue.clear();
      link.queued_bytes = 0;
      unreachable_.push_back(link.id);
      wakeup_.notify_one();
      env_.sleep_for(backoff);
      backoff = std::min(backoff * 2, kReconnectBackoffMax);
      continue;
    }
    backoff = kReconnectBackoffMin;
    PeerHelloInfo hello;
    hello.from = options_.id;
    hello.to = link.id;
    hello.nonce = env_.random.next_u64();
    hello.cluster_proof = cluster_proof(options_.cluster_secret, hello.from, hello.to, hello.nonce);
    hello.client_address = options_.members.at(options_.id).client.to_string();
    if (!net::write_frame(**stream, encode_peer_hello(hello)).is_ok()) continue;
    while (running_) {
      while (running_ && link.queue.empty()) link.wakeup.wait();
      if (!running_) return;
      Bytes batch;
      bool snapshot_sent = false;
      while (!link.queue.empty() && (batch.empty() || batch.size() + link.queue.front().first.size() <= kCoalesceBytesMax)) {
        snapshot_sent = snapshot_sent || link.queue.front().second;
        link.queued_bytes -= link.queue.front().first.size();
        batch += link.queue.front().first;
        link.queue.pop_front();
      }
      const Status s = (*stream)->write(batch);
      if (snapshot_sent) raft_->report_snapshot(link.id, !s.is_ok());
      if (!s.is_ok()) {
        unreachable_.push_back(link.id);
        wakeup_.notify_one();
        break;
      }
    }
  }
}

void RaftNode::accept_loop(core::Listener& listener) {
  net::accept_connections(env_, listener, [this] { return !running_; }, [this](std::unique_ptr<core::Stream> stream) {
    auto shared = std::shared_ptr<core::Stream>(std::move(stream));
    fibers_.spawn("raft.peer-in", [this, shared] { serve_peer(shared); });
  });
}

void RaftNode::serve_peer(std::shared_ptr<core::Stream> stream) {
  // Until the peer has proven the cluster secret it gets a small frame and
  // a short time: a stray connection holds neither memory nor a descriptor.
  net::FrameReader reader(*stream, kHelloBytesMax);
  core::Result<std::optional<Bytes>> first = std::optional<Bytes>();
  {
    net::CloseAtDeadline deadline(env_.clock, *stream, env_.now() + options_.handshake_timeout);
    first = reader.next();
  }
  if (!first.is_ok() || !*first) {
    env_.trace.warn("raft: dropped a peer connection from " + stream->peer().to_string() + " before its handshake: " +
                    (first.is_ok() ? std::string("closed") : first.status().to_string()));
    return;
  }
  auto hello = decode_peer_frame(**first);
  if (!hello.is_ok() || !hello->hello || hello->hello->to != options_.id ||
      options_.members.count(hello->hello->from) == 0 ||
      hello->hello->cluster_proof !=
          cluster_proof(options_.cluster_secret, hello->hello->from, hello->hello->to, hello->hello->nonce)) {
    env_.trace.warn("raft: rejected a peer connection from " + stream->peer().to_string() +
                    " (bad handshake or cluster secret)");
    return;
  }
  const NodeId from = hello->hello->from;
  reader.set_frame_bytes_max(options_.frame_bytes_max);
  if (auto a = core::Address::parse(hello->hello->client_address); a.is_ok()) learned_client_addresses_[from] = *a;
  while (running_) {
    auto frame = reader.next();
    if (!frame.is_ok()) {
      env_.trace.warn("raft: peer " + from.to_string() + " connection: " + frame.status().to_string());
      return;
    }
    if (!*frame) return;
    auto decoded = decode_peer_frame(**frame);
    if (!decoded.is_ok() || !decoded->raft) {
      env_.trace.warn("raft: malformed frame from peer " + from.to_string() + "; closing");
      return;
    }
    // A peer speaks only for itself.
    if (decoded->raft->from != from || decoded->raft->to != options_.id) continue;
    if (inbox_.size() >= options_.inbox_messages_max) continue;
    inbox_.push_back(std::move(*decoded->raft));
    wakeup_.notify_one();
  }
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
