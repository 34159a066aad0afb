#include "node/partition_driver.h"

#include "core/cover.h"
#include "node/commands.h"

namespace keel::node {

namespace {

using consensus::FetchError;
using consensus::PartitionMessage;
using consensus::PartitionMessageType;
using consensus::PartitionRole;
using core::Bytes;
using core::Offset;
using core::Status;

// A snapshot image on the wire: checksum64 of the body, then the body: per
// entry u32 key length, key, u32 value length, value.
Bytes encode_image(const std::vector<storage::KvEntry>& entries) {
  Bytes body;
  for (const storage::KvEntry& e : entries) {
    core::put_u32(body, static_cast<uint32_t>(e.key.size()));
    body += e.key;
    core::put_u32(body, static_cast<uint32_t>(e.value.size()));
    body += e.value;
  }
  Bytes out;
  core::put_u64(out, core::checksum64(body));
  return out + body;
}

bool image_intact(core::ByteView data) {
  return data.size() >= 8 && core::get_u64(data.data()) == core::checksum64(data.substr(8));
}

core::Result<std::vector<storage::KvEntry>> decode_image(core::ByteView data) {
  if (!image_intact(data)) return core::corruption("partition snapshot: checksum mismatch");
  data.remove_prefix(8);
  std::vector<storage::KvEntry> out;
  while (!data.empty()) {
    storage::KvEntry e;
    for (Bytes* field : {&e.key, &e.value}) {
      if (data.size() < 4) return core::corruption("partition snapshot: truncated entry");
      const uint32_t n = core::get_u32(data.data());
      data.remove_prefix(4);
      if (data.size() < n) return core::corruption("partition snapshot: truncated entry");
      field->assign(data.substr(0, n));
      data.remove_prefix(n);
    }
    out.push_back(std::move(e));
  }
  return out;
}

}  // namespace

PartitionDriver::PartitionDriver(core::Env& env, PartitionDriverOptions options, storage::KvEngine& engine,
                                 PartitionTransport& transport)
    : env_(env),
      options_(std::move(options)),
      engine_(engine),
      kv_(engine, options_.replica.partition, options_.partitions),
      transport_(transport),
      wakeup_(env.fibers),
      stopped_(env.fibers),
      applied_(env.fibers),
      fibers_(env) {}

PartitionDriver::~PartitionDriver() {
  *alive_ = false;
  fibers_.kill_all();
}

Status PartitionDriver::start() {
  KEEL_TRY_ASSIGN(storage_, PartitionStorage::open(env_.disk, options_.dir, kv_.applied()));
  KEEL_TRY_ASSIGN(consensus::PartitionReplica replica,
                  consensus::PartitionReplica::create(options_.replica, storage_->loaded()));
  replica_ = std::make_unique<consensus::PartitionReplica>(std::move(replica));
  replica_->set_incarnation(options_.incarnation);
  compacted_at_ = storage_->log_start().value();
  running_ = true;
  fibers_.spawn("partition.loop", [this] { loop(); });
  return Status::ok();
}

Status PartitionDriver::wait() {
  while (running_) stopped_.wait();
  return failure_;
}

void PartitionDriver::stop() {
  if (!running_) return;
  running_ = false;
  wakeup_.notify_all();
  stopped_.notify_all();
  applied_.notify_all();
  // Proposed already: another replica may still commit them.
  for (auto& [offset, w] : waiters_) w.promise->set(core::aborted("partition stopping"));
  waiters_.clear();
}

void PartitionDriver::fail(const Status& status) {
  env_.trace.error("partition " + options_.replica.partition.to_string() +
                   ": stopping after a storage failure: " + status.to_string());
  failure_ = status;
  stop();
}

void PartitionDriver::receive(PartitionMessage message) {
  if (!running_) return;
  if (inbox_.size() >= options_.inbox_max) {
    ++refused_inputs_;
    return;
  }
  inbox_.push_back(std::move(message));
  wakeup_.notify_one();
}

void PartitionDriver::set_state(consensus::PartitionState state) {
  if (!running_) return;
  states_.push_back(std::move(state));
  wakeup_.notify_one();
}

core::Result<Bytes> PartitionDriver::propose(Bytes command, bool acks_all) {
  if (!running_) return core::unavailable("partition stopping");
  auto promise = std::make_shared<core::Promise<Bytes>>(env_.fibers);
  auto future = promise->future();
  proposals_.push_back(Pending{std::move(command), acks_all, std::move(promise)});
  wakeup_.notify_one();
  auto result = future.get_until(env_.clock, env_.now() + options_.proposal_timeout);
  // The driver may be gone by now: touch nothing of it below.
  if (!result.is_ok() && result.status().code() == core::Code::kDeadlineExceeded) {
    return core::aborted("no outcome within " + options_.proposal_timeout.to_string());
  }
  return result;
}

core::Status PartitionDriver::read_barrier() {
  if (!running_) return core::unavailable("partition stopping");
  if (replica_->role() != PartitionRole::kLeader) {
    return core::failed_precondition("partition " + options_.replica.partition.to_string() + ": not the leader");
  }
  // A controller record not yet applied may depose this leader: the lease
  // that came with it does not count before it.
  if (!states_.empty() || env_.now() >= lease_until_) return core::unavailable("TRYAGAIN no valid lease");
  const std::optional<Offset> start = replica_->epochs().start_of(replica_->epoch());
  if (!start || replica_->high_watermark() < std::max(*start, replica_->read_fence())) {
    return core::unavailable("TRYAGAIN what this leader holds is not committed yet");
  }
  const Offset point = replica_->high_watermark();
  const core::Epoch epoch = replica_->epoch();
  const core::Instant deadline = env_.now() + options_.proposal_timeout;
  std::shared_ptr<bool> alive = alive_;
  while (kv_.applied() < point) {
    const bool woken = applied_.wait_until(env_.clock, deadline);
    if (!*alive) return core::unavailable("partition stopped");
    if (!woken && kv_.applied() < point) return core::unavailable("TRYAGAIN apply did not reach the read point");
  }
  // Still the same leader, still under the lease, when the read is served.
  if (!running_ || replica_->role() != PartitionRole::kLeader || replica_->epoch() != epoch ||
      !states_.empty() || env_.now() >= lease_until_) {
    return core::unavailable("TRYAGAIN leadership or lease changed");
  }
  return Status::ok();
}

void PartitionDriver::loop() {
  core::Instant next_tick = env_.now() + options_.tick_interval;
  while (running_) {
    while (running_ && inbox_.empty() && states_.empty() && proposals_.empty() && !replica_->has_ready() &&
           env_.now() < next_tick) {
      wakeup_.wait_until(env_.clock, next_tick);
    }
    if (!running_) return;
    if (env_.now() >= next_tick) {
      replica_->tick();
      next_tick = env_.now() + options_.tick_interval;
    }
    while (!states_.empty()) {
      const Status s = replica_->set_state(states_.front());
      states_.pop_front();
      if (!s.is_ok()) {
        ++refused_inputs_;
        env_.trace.log(core::LogLevel::kDebug, "partition " + options_.replica.partition.to_string() + ": controller record refused: " +
                         s.to_string());
      }
    }
    while (!inbox_.empty()) {
      PartitionMessage m = std::move(inbox_.front());
      inbox_.pop_front();
      // A damaged snapshot is refused before the replica sees it: the
      // replica would drop its log for it.
      if (m.type == PartitionMessageType::kFetchResponse && m.error == FetchError::kSnapshotNeeded &&
          !m.snapshot_data.empty() && !image_intact(m.snapshot_data)) {
        ++refused_inputs_;
        env_.trace.warn("partition " + options_.replica.partition.to_string() +
                        ": refused a snapshot whose checksum fails");
        continue;
      }
      const Status s = replica_->step(m);
      if (!s.is_ok() && s.code() == core::Code::kInvalidArgument) {
        ++refused_inputs_;
        env_.trace.warn("partition " + options_.replica.partition.to_string() + ": refused a message: " +
                        s.to_string());
      }
    }
    while (!proposals_.empty()) {
      Pending p = std::move(proposals_.front());
      proposals_.pop_front();
      auto offset = replica_->propose(std::move(p.command), p.acks_all);
      if (!offset.is_ok()) {
        p.promise->set(offset.status());
        continue;
      }
      waiters_[offset->value()] = Waiter{replica_->epoch(), p.acks_all, std::move(p.promise)};
    }
    while (running_ && replica_->has_ready()) {
      const Status s = handle_ready();
      if (!s.is_ok()) {
        fail(s);
        return;
      }
    }
    settle_waiters();
  }
}

Status PartitionDriver::install(const consensus::PartitionSnapshot& snapshot) {
  KEEL_TRY_ASSIGN(std::vector<storage::KvEntry> image, decode_image(snapshot.data));
  KEEL_TRY(storage_->begin_install(snapshot.offset, snapshot.epoch));
  KEEL_TRY(kv_.restore(snapshot.offset, image));
  KEEL_TRY(engine_.persist());
  KEEL_TRY(storage_->complete_install());
  compacted_at_ = snapshot.offset.value();
  ++snapshots_installed_;
  KEEL_COVER(env_.trace.coverage(), "partition driver: snapshot installed");
  return Status::ok();
}

void PartitionDriver::attach_snapshot(PartitionMessage& message) {
  // The image at what this replica applied (committed, and at or past its
  // log start), labelled with that offset and the epoch of the record
  // before it.
  const Offset applied = kv_.applied();
  if (applied.value() == 0) return;
  auto image = kv_.image();
  if (!image.is_ok()) return;  // the follower asks again
  message.snapshot_offset = applied;
  // The cache may start at the log start itself (after a compaction or an
  // install): the record before it is the replica's snapshot epoch.
  message.snapshot_epoch = applied == replica_->log_start() ? replica_->snapshot_epoch()
                                                            : replica_->epochs().epoch_at(applied.prev());
  message.snapshot_data = encode_image(*image);
}

Status PartitionDriver::handle_ready() {
  consensus::PartitionReady rd = replica_->ready();
  if (rd.snapshot) KEEL_TRY(install(*rd.snapshot));
  KEEL_TRY(storage_->save(rd));
  for (PartitionMessage& m : rd.messages) {
    if (m.type == PartitionMessageType::kFetchResponse && m.error == FetchError::kSnapshotNeeded) attach_snapshot(m);
    transport_.send(m);
  }
  if (rd.isr_request) transport_.send_isr_request(*rd.isr_request);
  const Offset until = options_.test_bug_apply_before_commit ? storage_->durable_end()
                                                             : std::min(rd.committed_end, storage_->durable_end());
  while (kv_.applied() < until) {
    const Offset o = kv_.applied();
    const consensus::Record* rec = replica_->record_at(o);
    KEEL_ASSERT_MSG(rec != nullptr, "a committed record to apply is not in the log");
    const core::Epoch epoch = rec->epoch;
    KEEL_TRY_ASSIGN(Bytes reply, kv_.apply(o, rec->data));
    // The reply is the waiter's only if this is its record: the same offset
    // in the same epoch (another leader's record there is not).
    auto w = waiters_.find(o.value());
    if (w != waiters_.end() && w->second.epoch == epoch) replies_[o.value()] = std::move(reply);
  }
  replica_->advance(storage_->durable_end(), kv_.applied());
  applied_.notify_all();
  settle_waiters();
  return maybe_compact();
}

void PartitionDriver::settle_waiters() {
  for (auto it = waiters_.begin(); it != waiters_.end();) {
    const Offset o(it->first);
    Waiter& w = it->second;
    auto reply = replies_.find(it->first);
    if (reply != replies_.end()) {
      w.promise->set(std::move(reply->second));
      replies_.erase(reply);
      it = waiters_.erase(it);
      continue;
    }
    const consensus::Record* rec = replica_->record_at(o);
    const bool lost = (rec == nullptr && o >= replica_->log_start()) || (rec != nullptr && rec->epoch != w.epoch);
    const bool deposed = replica_->role() != PartitionRole::kLeader || replica_->epoch() != w.epoch;
    if (lost || deposed) {
      // Another leader may still commit it, or not: the outcome is unknown.
      w.promise->set(core::aborted(lost ? "record truncated" : "leadership lost"));
      it = waiters_.erase(it);
      continue;
    }
    if (!w.acks_all && storage_->durable_end() > o) {
      w.promise->set(encode_reply(CommandReply::ok()));
      it = waiters_.erase(it);
      continue;
    }
    ++it;
  }
}

Status PartitionDriver::maybe_compact() {
  const uint64_t applied = kv_.applied().value();
  if (applied < compacted_at_ + options_.compact_every) return Status::ok();
  // The engine first covers every applied record durably; only then may
  // the log forget them.
  KEEL_TRY(engine_.persist());
  const Offset start(applied);
  const core::Epoch epoch = replica_->epochs().epoch_at(start.prev());
  KEEL_TRY(storage_->compact(start, epoch));
  KEEL_TRY(replica_->compact(start));
  compacted_at_ = applied;
  return Status::ok();
}

}  // namespace keel::node
