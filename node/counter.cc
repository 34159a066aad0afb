#include "node/counter.h"

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "core/assert.h"
#include "core/fiber_group.h"
#include "core/sync.h"
#include "net/capnp_codec.h"
#include "net/counter.capnp.h"
#include "net/deadline.h"
#include "net/frame.h"

namespace keel::node {

using core::Duration;
using core::Status;

namespace {

constexpr size_t kRecordBytes = 16;
// Ids per replication message.
constexpr size_t kReplicateBatchMax = 512;
// Increments queued for the primary's writer before new ones are refused.
constexpr size_t kPendingMax = 4096;
// Frames on these connections are small.
constexpr size_t kCounterFrameBytesMax = 1024 * 1024;
constexpr Duration kConnectTimeout = Duration::millis(500);
constexpr Duration kReconnectBackoffMin = Duration::millis(10);
constexpr Duration kReconnectBackoffMax = Duration::millis(500);
constexpr char kLogPath[] = "counter.log";

uint64_t record_check(uint64_t op_id, uint64_t position) {
  core::Bytes b;
  core::put_u64(b, op_id);
  return core::checksum64(b, position);
}

Status send(core::Stream& stream, capnp::MallocMessageBuilder& builder) {
  return net::write_frame(stream, net::encode_message(builder));
}

// Reads and decodes the next message; nullopt-equivalent NotFound at EOF.
struct Incoming {
  std::unique_ptr<net::DecodedMessage> message;
  CounterMessage::Reader root;
};

core::Result<Incoming> receive(net::FrameReader& reader) {
  KEEL_TRY_ASSIGN(auto frame, reader.next());
  if (!frame) return core::not_found("end of stream");
  KEEL_TRY_ASSIGN(auto decoded, net::DecodedMessage::decode(*frame));
  KEEL_TRY_ASSIGN(auto root, decoded->root<CounterMessage>());
  return Incoming{std::move(decoded), root};
}

class CounterNode {
 public:
  CounterNode(core::Env& env, const CounterConfig& config)
      : env_(env),
        config_(config),
        progress_(env.fibers),
        writer_wakeup_(env.fibers),
        append_lock_(env.fibers),
        acked_(config.peer_addresses.size(), 0),
        fibers_(env) {}

  void run() {
    if (Status s = load(); !s.is_ok()) {
      env_.trace.error("counter: cannot load log: " + s.to_string());
      return;
    }
    env_.trace.event("counter.loaded", {{"length", static_cast<uint64_t>(log_.size())}});
    auto clients = env_.net.listen(config_.client_addresses[config_.self]);
    if (!clients.is_ok()) {
      env_.trace.error("counter: cannot listen for clients: " + clients.status().to_string());
      return;
    }
    std::unique_ptr<core::Listener> peer_listener;
    if (!primary()) {
      auto l = env_.net.listen(config_.peer_addresses[config_.self]);
      if (!l.is_ok()) {
        env_.trace.error("counter: cannot listen for peers: " + l.status().to_string());
        return;
      }
      peer_listener = std::move(*l);
      fibers_.spawn("counter.peer-accept", [this, l = peer_listener.get()] { accept_loop(*l, true); });
    } else {
      fibers_.spawn("counter.writer", [this] { writer(); });
      for (size_t i = 0; i < config_.peer_addresses.size(); ++i) {
        if (i != config_.self) fibers_.spawn("counter.replicate", [this, i] { replicate_to(i); });
      }
    }
    fibers_.spawn("counter.client-accept", [this, l = clients->get()] { accept_loop(*l, false); });
    // The node lives until a fatal disk error; then the program returns and
    // the process exits.
    while (!failed_) progress_.wait();
    env_.trace.error("counter: exiting after a disk error");
    // The fibers borrow the listeners above: stop them first.
    fibers_.kill_all();
  }

 private:
  bool primary() const { return config_.self == 0; }

  Status load() {
    KEEL_TRY_ASSIGN(bool existed, env_.disk.exists(kLogPath));
    KEEL_TRY_ASSIGN(file_, env_.disk.open(kLogPath, core::OpenMode::kCreate));
    if (!existed) KEEL_TRY(env_.disk.sync_dir(""));
    KEEL_TRY_ASSIGN(uint64_t size, file_->size());
    KEEL_TRY_ASSIGN(core::Bytes bytes, file_->read_at(0, size));
    size_t valid = 0;
    while (valid + kRecordBytes <= bytes.size()) {
      const uint64_t op = core::get_u64(bytes.data() + valid);
      const uint64_t check = core::get_u64(bytes.data() + valid + 8);
      const uint64_t position = log_.size() + 1;
      if (check != record_check(op, position)) break;
      log_.push_back(op);
      position_[op] = position;
      valid += kRecordBytes;
    }
    if (valid != bytes.size()) {
      // Unsynced junk after the valid prefix: it was never acknowledged.
      KEEL_TRY(file_->truncate(valid));
    }
    // The read may have come from the page cache: an earlier incarnation
    // killed mid-sync, or exited on a failed sync, left records there that
    // never reached the disk. Make them durable before serving or counting
    // any of them. They are rewritten first because after a failed fsync
    // the kernel may hold them as clean pages that no later fsync writes.
    if (valid > 0) KEEL_TRY(file_->write_at(0, core::ByteView(bytes).substr(0, valid)));
    KEEL_TRY(file_->sync());
    acked_[config_.self] = log_.size();
    return Status::ok();
  }

  // Appends ids (those not yet logged) durably. Serialised by append_lock_.
  Status append(const std::vector<uint64_t>& ids, uint64_t first) {
    core::LockGuard guard(append_lock_);
    // Re-check after taking the lock: another fiber may have appended.
    if (first > log_.size() + 1) return core::invalid_argument("replication gap");
    core::Bytes bytes;
    std::vector<uint64_t> fresh;
    for (size_t i = 0; i < ids.size(); ++i) {
      const uint64_t position = first + i;
      if (position <= log_.size()) continue;
      if (position_.count(ids[i]) != 0) continue;
      const uint64_t at = log_.size() + fresh.size() + 1;
      core::put_u64(bytes, ids[i]);
      core::put_u64(bytes, record_check(ids[i], at));
      fresh.push_back(ids[i]);
    }
    if (fresh.empty()) return Status::ok();
    Status s = file_->write_at(log_.size() * kRecordBytes, bytes);
    if (s.is_ok() && !config_.test_bug_skip_sync) s = file_->sync();
    if (!s.is_ok()) {
      fail(s);
      return s;
    }
    for (uint64_t id : fresh) {
      log_.push_back(id);
      position_[id] = log_.size();
    }
    acked_[config_.self] = log_.size();
    progress_.notify_all();
    return Status::ok();
  }

  void fail(const Status& s) {
    env_.trace.error("counter: disk error: " + s.to_string());
    failed_ = true;
    progress_.notify_all();
    writer_wakeup_.notify_all();
  }

  uint64_t committed() const {
    std::vector<uint64_t> lengths = acked_;
    std::sort(lengths.begin(), lengths.end(), std::greater<>());
    return lengths[lengths.size() / 2];
  }

  void writer() {
    while (!failed_) {
      while (pending_.empty() && !failed_) writer_wakeup_.wait();
      if (failed_) return;
      std::vector<uint64_t> batch;
      while (!pending_.empty() && batch.size() < kReplicateBatchMax) {
        const uint64_t id = pending_.front();
        pending_.pop_front();
        if (position_.count(id) == 0 && std::find(batch.begin(), batch.end(), id) == batch.end()) {
          batch.push_back(id);
        }
      }
      if (!append(batch, log_.size() + 1).is_ok()) return;
    }
  }

  void replicate_to(size_t peer) {
    Duration backoff = kReconnectBackoffMin;
    while (!failed_) {
      auto stream = env_.net.connect(config_.peer_addresses[peer], kConnectTimeout);
      if (!stream.is_ok()) {
        env_.sleep_for(backoff);
        backoff = std::min(backoff * 2, kReconnectBackoffMax);
        continue;
      }
      backoff = kReconnectBackoffMin;
      stream_to(peer, std::shared_ptr<core::Stream>(std::move(*stream)));
      env_.sleep_for(kReconnectBackoffMin);
    }
  }

  // Streams the log to one backup over one connection until it breaks.
  void stream_to(size_t peer, std::shared_ptr<core::Stream> stream) {
    net::FrameReader reader(*stream, kCounterFrameBytesMax);
    auto hello = receive(reader);
    if (!hello.is_ok() || hello->root.which() != CounterMessage::REPLICATED) return;
    uint64_t sent = hello->root.getReplicated();
    if (sent > log_.size()) {
      env_.trace.error("counter: a backup claims more entries than the primary holds");
      return;
    }
    acked_[peer] = std::max(acked_[peer], sent);
    auto broken = std::make_shared<bool>(false);
    // Acks arrive on their own fiber; the sender below only writes.
    fibers_.spawn("counter.acks", [this, peer, stream, broken] {
      net::FrameReader acks(*stream, kCounterFrameBytesMax);
      for (;;) {
        auto in = receive(acks);
        if (!in.is_ok() || in->root.which() != CounterMessage::REPLICATED) break;
        acked_[peer] = std::max(acked_[peer], std::min<uint64_t>(in->root.getReplicated(), log_.size()));
        progress_.notify_all();
      }
      *broken = true;
      progress_.notify_all();
    });
    while (!failed_ && !*broken) {
      if (sent >= log_.size()) {
        progress_.wait();
        continue;
      }
      const size_t n = std::min<size_t>(kReplicateBatchMax, log_.size() - sent);
      capnp::MallocMessageBuilder builder;
      auto rep = builder.initRoot<CounterMessage>().initReplicate();
      rep.setFirst(sent + 1);
      auto ids = rep.initOpIds(static_cast<unsigned>(n));
      for (size_t i = 0; i < n; ++i) ids.set(static_cast<unsigned>(i), log_[sent + i]);
      if (!send(*stream, builder).is_ok()) break;
      sent += n;
    }
    stream->close();
  }

  void accept_loop(core::Listener& listener, bool peers) {
    for (;;) {
      auto stream = listener.accept();
      if (!stream.is_ok()) return;
      auto shared = std::shared_ptr<core::Stream>(std::move(*stream));
      if (peers) {
        fibers_.spawn("counter.backup", [this, shared] { serve_primary(*shared); });
      } else {
        fibers_.spawn("counter.client", [this, shared] { serve_client(*shared); });
      }
    }
  }

  Status send_length(core::Stream& stream) {
    capnp::MallocMessageBuilder builder;
    builder.initRoot<CounterMessage>().setReplicated(log_.size());
    return send(stream, builder);
  }

  // Backup side of one replication connection.
  void serve_primary(core::Stream& stream) {
    if (!send_length(stream).is_ok()) return;
    net::FrameReader reader(stream, kCounterFrameBytesMax);
    while (!failed_) {
      auto in = receive(reader);
      if (!in.is_ok()) {
        if (in.status().code() != core::Code::kNotFound) {
          env_.trace.warn("counter: replication stream: " + in.status().to_string());
        }
        return;
      }
      if (in->root.which() != CounterMessage::REPLICATE) return;
      auto rep = in->root.getReplicate();
      std::vector<uint64_t> ids;
      Status decoded = net::guard_decode([&] {
        for (uint64_t id : rep.getOpIds()) ids.push_back(id);
        return Status::ok();
      });
      if (!decoded.is_ok() || ids.size() > kReplicateBatchMax) return;
      if (!append(ids, rep.getFirst()).is_ok()) return;
      if (!send_length(stream).is_ok()) return;
    }
  }

  void serve_client(core::Stream& stream) {
    net::FrameReader reader(stream, kCounterFrameBytesMax);
    for (;;) {
      auto in = receive(reader);
      if (!in.is_ok()) return;
      capnp::MallocMessageBuilder builder;
      auto out = builder.initRoot<CounterMessage>();
      switch (in->root.which()) {
        case CounterMessage::INCREMENT: {
          const uint64_t op = in->root.getIncrement();
          auto reply = out.initIncremented();
          reply.setOpId(op);
          auto value = increment(op);
          // After a disk failure the outcome is unknown (the id may be on
          // disk): say nothing, so the client sees an indeterminate call.
          if (failed_) return;
          if (value.is_ok()) {
            reply.setValue(*value);
          } else {
            reply.setError(value.status().to_string());
          }
          break;
        }
        case CounterMessage::READ_LOG: {
          auto ids = out.initLog(static_cast<unsigned>(log_.size()));
          for (size_t i = 0; i < log_.size(); ++i) ids.set(static_cast<unsigned>(i), log_[i]);
          break;
        }
        default:
          env_.trace.warn("counter: unexpected client message; closing");
          return;
      }
      if (!send(stream, builder).is_ok()) return;
    }
  }

  // Errors returned here are definite: the increment did not and will not
  // happen under this request (a retry may still apply it).
  core::Result<uint64_t> increment(uint64_t op) {
    if (!primary()) return core::failed_precondition("not the primary");
    if (position_.count(op) == 0) {
      if (pending_.size() >= kPendingMax) return core::unavailable("too many pending increments");
      pending_.push_back(op);
      writer_wakeup_.notify_one();
    }
    while (!failed_ && position_.count(op) == 0) progress_.wait();
    if (failed_) return core::unavailable("node failed");
    const uint64_t at = position_[op];
    while (!failed_ && committed() < at) progress_.wait();
    if (failed_) return core::unavailable("node failed");
    return at;
  }

  core::Env& env_;
  CounterConfig config_;
  core::WaitList progress_;
  core::WaitList writer_wakeup_;
  core::Mutex append_lock_;
  std::unique_ptr<core::File> file_;
  std::vector<uint64_t> log_;
  std::map<uint64_t, uint64_t> position_;
  std::vector<uint64_t> acked_;
  std::deque<uint64_t> pending_;
  bool failed_ = false;
  // Last: destroyed first, killing the fibers that use the members above.
  core::FiberGroup fibers_;
};

}  // namespace

void run_counter_node(core::Env& env, const CounterConfig& config) {
  KEEL_ASSERT(config.self < config.peer_addresses.size());
  KEEL_ASSERT(config.peer_addresses.size() == config.client_addresses.size());
  CounterNode node(env, config);
  node.run();
}

namespace {

core::Result<Incoming> call(core::Env& env, const core::Address& node, capnp::MallocMessageBuilder& request,
                            core::Duration timeout, std::unique_ptr<core::Stream>& stream) {
  const core::Instant deadline = env.now() + timeout;
  KEEL_TRY_ASSIGN(stream, env.net.connect(node, timeout));
  net::CloseAtDeadline guard(env.clock, *stream, deadline);
  KEEL_TRY(send(*stream, request));
  net::FrameReader reader(*stream, kCounterFrameBytesMax);
  auto in = receive(reader);
  if (guard.expired()) return core::deadline_exceeded("no answer from " + node.to_string());
  if (!in.is_ok() && in.status().code() == core::Code::kNotFound) return core::unavailable("connection closed");
  return in;
}

}  // namespace

core::Result<uint64_t> counter_increment(core::Env& env, const core::Address& primary, uint64_t op_id,
                                         core::Duration timeout) {
  capnp::MallocMessageBuilder request;
  request.initRoot<CounterMessage>().setIncrement(op_id);
  std::unique_ptr<core::Stream> stream;
  KEEL_TRY_ASSIGN(auto in, call(env, primary, request, timeout, stream));
  if (in.root.which() != CounterMessage::INCREMENTED) return core::invalid_argument("unexpected reply");
  auto reply = in.root.getIncremented();
  if (reply.getOpId() != op_id) return core::invalid_argument("reply for another operation");
  if (reply.hasError() && reply.getError().size() > 0) {
    return core::failed_precondition(reply.getError().cStr());
  }
  return static_cast<uint64_t>(reply.getValue());
}

core::Result<std::vector<uint64_t>> counter_read_log(core::Env& env, const core::Address& node,
                                                     core::Duration timeout) {
  capnp::MallocMessageBuilder request;
  request.initRoot<CounterMessage>().setReadLog();
  std::unique_ptr<core::Stream> stream;
  KEEL_TRY_ASSIGN(auto in, call(env, node, request, timeout, stream));
  if (in.root.which() != CounterMessage::LOG) return core::invalid_argument("unexpected reply");
  std::vector<uint64_t> out;
  KEEL_TRY(net::guard_decode([&] {
    for (uint64_t id : in.root.getLog()) out.push_back(id);
    return Status::ok();
  }));
  return out;
}

}  // namespace keel::node
