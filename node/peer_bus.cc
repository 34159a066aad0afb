#include "node/peer_bus.h"

#include <algorithm>

#include "net/accept.h"
#include "net/deadline.h"
#include "net/frame.h"

namespace keel::node {

using core::Bytes;
using core::Duration;
using core::NodeId;
using core::Status;

namespace {
// Frames coalesced into one stream write.
constexpr size_t kCoalesceBytesMax = 1024 * 1024;
constexpr Duration kReconnectBackoffMin = Duration::millis(10);
constexpr Duration kReconnectBackoffMax = Duration::millis(1000);
// A peer's first frame (its hello) is far smaller than this.
constexpr size_t kHelloBytesMax = 4096;
}  // namespace

struct PeerBus::Link {
  Link(core::Env& env, NodeId peer_id, core::Address addr) : id(peer_id), address(std::move(addr)), wakeup(env.fibers) {}
  NodeId id;
  core::Address address;
  struct Queued {
    Bytes frame;
    Done done;
  };
  std::deque<Queued> queue;
  size_t queued_bytes = 0;
  core::WaitList wakeup;
};

PeerBus::PeerBus(core::Env& env, PeerBusOptions options) : env_(env), options_(std::move(options)), fibers_(env) {
  KEEL_ASSERT(options_.members.count(options_.id) == 1);
}

PeerBus::~PeerBus() { fibers_.kill_all(); }

Status PeerBus::start() {
  KEEL_ASSERT(!running_);
  KEEL_TRY_ASSIGN(listener_, env_.net.listen(options_.members.at(options_.id).peer));
  running_ = true;
  for (auto& [id, addresses] : options_.members) {
    if (id == options_.id) continue;
    auto link = std::make_unique<Link>(env_, id, addresses.peer);
    Link* raw = link.get();
    links_[id] = std::move(link);
    fibers_.spawn("bus.peer-out", [this, raw] { peer_out(*raw); });
  }
  fibers_.spawn("bus.accept", [this] { accept_loop(); });
  return Status::ok();
}

void PeerBus::stop() {
  if (!running_) return;
  running_ = false;
  if (listener_) listener_->close();
  for (auto& [id, link] : links_) link->wakeup.notify_all();
}

std::optional<core::Address> PeerBus::client_address(NodeId id) const {
  auto learned = learned_client_addresses_.find(id);
  if (learned != learned_client_addresses_.end()) return learned->second;
  auto it = options_.members.find(id);
  // A member whose client address is not configured is known only once it
  // has introduced itself.
  if (it == options_.members.end() || it->second.client.port == 0) return std::nullopt;
  return it->second.client;
}

bool PeerBus::send(NodeId to, Bytes payload, Done done) {
  auto it = links_.find(to);
  Bytes frame;
  if (it != links_.end()) net::append_frame(frame, payload);
  if (it == links_.end() || !running_ || it->second->queued_bytes + frame.size() > options_.peer_queue_bytes_max) {
    ++dropped_frames_;
    if (done) done(true);
    return false;
  }
  Link& link = *it->second;
  link.queued_bytes += frame.size();
  link.queue.push_back(Link::Queued{std::move(frame), std::move(done)});
  link.wakeup.notify_one();
  return true;
}

void PeerBus::drop_queue(Link& link) {
  std::deque<Link::Queued> dropped;
  dropped.swap(link.queue);
  link.queued_bytes = 0;
  dropped_frames_ += dropped.size();
  for (Link::Queued& q : dropped) {
    if (q.done) q.done(true);
  }
}

void PeerBus::peer_out(Link& link) {
  Duration backoff = kReconnectBackoffMin;
  while (running_) {
    auto stream = env_.net.connect(link.address, options_.connect_timeout);
    if (!stream.is_ok()) {
      // Frames queued for an unreachable peer are stale by the time it
      // comes back; every protocol on the bus resends what matters.
      drop_queue(link);
      if (unreachable_handler_) unreachable_handler_(link.id);
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
      if (!running_) break;
      Bytes batch;
      std::vector<Done> written;
      while (!link.queue.empty() &&
             (batch.empty() || batch.size() + link.queue.front().frame.size() <= kCoalesceBytesMax)) {
        Link::Queued& q = link.queue.front();
        link.queued_bytes -= q.frame.size();
        batch += q.frame;
        if (q.done) written.push_back(std::move(q.done));
        link.queue.pop_front();
      }
      const Status s = (*stream)->write(batch);
      for (Done& d : written) d(!s.is_ok());
      if (!s.is_ok()) {
        if (unreachable_handler_) unreachable_handler_(link.id);
        break;
      }
    }
    (*stream)->close();
  }
  drop_queue(link);
}

void PeerBus::accept_loop() {
  net::accept_connections(env_, *listener_, [this] { return !running_; },
                          [this](std::unique_ptr<core::Stream> stream) {
                            auto shared = std::shared_ptr<core::Stream>(std::move(stream));
                            fibers_.spawn("bus.peer-in", [this, shared] { serve(shared); });
                          });
}

void PeerBus::serve(std::shared_ptr<core::Stream> stream) {
  // Until the peer has proven the cluster secret it gets a small frame and
  // a short time: a stray connection holds neither memory nor a descriptor.
  net::FrameReader reader(*stream, kHelloBytesMax);
  core::Result<std::optional<Bytes>> first = std::optional<Bytes>();
  {
    net::CloseAtDeadline deadline(env_.clock, *stream, env_.now() + options_.handshake_timeout);
    first = reader.next();
  }
  if (!first.is_ok() || !*first) {
    env_.trace.warn("peer bus: dropped a connection from " + stream->peer().to_string() + " before its handshake: " +
                    (first.is_ok() ? std::string("closed") : first.status().to_string()));
    return;
  }
  auto hello = decode_peer_frame(**first);
  if (!hello.is_ok() || !hello->hello || hello->hello->to != options_.id ||
      options_.members.count(hello->hello->from) == 0 || hello->hello->from == options_.id ||
      hello->hello->cluster_proof !=
          cluster_proof(options_.cluster_secret, hello->hello->from, hello->hello->to, hello->hello->nonce)) {
    env_.trace.warn("peer bus: rejected a connection from " + stream->peer().to_string() +
                    " (bad handshake or cluster secret)");
    return;
  }
  const NodeId from = hello->hello->from;
  reader.set_frame_bytes_max(options_.frame_bytes_max);
  if (auto a = core::Address::parse(hello->hello->client_address); a.is_ok()) learned_client_addresses_[from] = *a;
  while (running_) {
    auto frame = reader.next();
    if (!frame.is_ok()) {
      env_.trace.warn("peer bus: peer " + from.to_string() + " connection: " + frame.status().to_string());
      return;
    }
    if (!*frame) return;
    auto decoded = decode_peer_frame(**frame);
    if (!decoded.is_ok() || decoded->hello) {
      env_.trace.warn("peer bus: malformed frame from peer " + from.to_string() + "; closing: " +
                      (decoded.is_ok() ? std::string("a second hello") : decoded.status().to_string()));
      return;
    }
    // A peer speaks only for itself, and only to this node.
    if (decoded->raft) {
      if (decoded->raft->from != from || decoded->raft->to != options_.id || !raft_handler_) {
        ++refused_frames_;
        continue;
      }
      raft_handler_(std::move(*decoded->raft));
    } else if (decoded->partition) {
      if (decoded->partition->from != from || decoded->partition->to != options_.id || !partition_handler_) {
        ++refused_frames_;
        continue;
      }
      partition_handler_(std::move(*decoded->partition));
    } else if (decoded->control) {
      if (!control_handler_) {
        ++refused_frames_;
        continue;
      }
      control_handler_(from, std::move(*decoded->control));
    }
  }
}

}  // namespace keel::node
