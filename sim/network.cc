#include "sim/network.h"

#include <algorithm>

#include "core/assert.h"
#include "sim/timeline.h"
#include "sim/world.h"

namespace keel::sim {

using core::Address;
using core::Duration;
using core::Instant;
using core::ProcessId;
using core::Status;

struct SimNetwork::Conn {
  struct Side {
    std::string host;
    Address address;
    ProcessId owner;
    std::string inbox;  // delivered, not yet read
    size_t inbox_read = 0;
    bool fin = false;     // the peer closed; EOF once the inbox is drained
    bool reset = false;   // the connection broke
    bool closed = false;  // closed locally
    size_t in_flight = 0; // bytes sent from this side, not yet delivered
    int64_t last_arrival_ns = 0;  // latest arrival scheduled at this side
    std::unique_ptr<core::WaitList> readers;
    std::unique_ptr<core::WaitList> writers;
  };
  uint64_t id = 0;
  bool broken = false;
  Side side[2];
};

struct SimNetwork::ListenerState {
  Address address;
  ProcessId owner;
  bool closed = false;
  std::deque<std::shared_ptr<Conn>> backlog;
  std::unique_ptr<core::WaitList> acceptors;
};

namespace {

// Parks the calling fiber for `d` of world time.
void park_for(World& world, ProcessId owner, Duration d) {
  core::Scheduler& sched = world.scheduler();
  const core::FiberId self = sched.current();
  bool fired = false;
  const uint64_t event = world.after(
      d,
      [&sched, self, &fired] {
        fired = true;
        sched.unpark(self);
      },
      owner);
  struct Cancel {
    World& world;
    uint64_t event;
    bool& fired;
    ~Cancel() {
      if (!fired) world.cancel(event);
    }
  } cancel{world, event, fired};
  while (!fired) sched.park();
}

}  // namespace

class SimStream : public core::Stream {
 public:
  SimStream(SimNetwork& net, std::shared_ptr<SimNetwork::Conn> conn, int side)
      : net_(net), conn_(std::move(conn)), side_(side) {}
  ~SimStream() override { close(); }

  core::Result<size_t> read(char* buf, size_t len) override {
    KEEL_ASSERT(len > 0);
    auto& me = conn_->side[side_];
    for (;;) {
      if (me.closed) return core::cancelled("stream closed");
      const size_t available = me.inbox.size() - me.inbox_read;
      if (available > 0) {
        const size_t n = std::min(available, len);
        std::copy_n(me.inbox.data() + me.inbox_read, n, buf);
        me.inbox_read += n;
        if (me.inbox_read == me.inbox.size()) {
          me.inbox.clear();
          me.inbox_read = 0;
        } else if (me.inbox_read > 64 * 1024 && me.inbox_read * 2 > me.inbox.size()) {
          me.inbox.erase(0, me.inbox_read);
          me.inbox_read = 0;
        }
        return n;
      }
      if (me.reset) return core::unavailable("connection reset");
      if (me.fin) return size_t{0};
      me.readers->wait();
    }
  }

  Status write(core::ByteView data) override {
    auto& me = conn_->side[side_];
    while (!data.empty()) {
      if (me.closed) return core::cancelled("stream closed");
      if (me.reset) return core::unavailable("connection reset");
      if (me.in_flight >= SimNetwork::kSendBufferMax) {
        me.writers->wait();
        continue;
      }
      const size_t room = SimNetwork::kSendBufferMax - me.in_flight;
      const size_t n = std::min(room, data.size());
      net_.send(conn_, side_, data.substr(0, n));
      data.remove_prefix(n);
    }
    return Status::ok();
  }

  void close() override {
    auto& me = conn_->side[side_];
    if (me.closed) return;
    me.closed = true;
    me.readers->notify_all();
    me.writers->notify_all();
    if (!conn_->broken) net_.send_fin(conn_, side_);
  }

  Address peer() const override { return conn_->side[1 - side_].address; }

 private:
  SimNetwork& net_;
  std::shared_ptr<SimNetwork::Conn> conn_;
  int side_;
};

class SimListener : public core::Listener {
 public:
  SimListener(SimNetwork& net, std::shared_ptr<SimNetwork::ListenerState> state)
      : net_(net), state_(std::move(state)) {}
  ~SimListener() override { close(); }

  core::Result<std::unique_ptr<core::Stream>> accept() override {
    for (;;) {
      if (state_->closed) return core::cancelled("listener closed");
      if (!state_->backlog.empty()) {
        auto conn = std::move(state_->backlog.front());
        state_->backlog.pop_front();
        if (conn->broken) continue;
        return std::unique_ptr<core::Stream>(std::make_unique<SimStream>(net_, std::move(conn), 1));
      }
      state_->acceptors->wait();
    }
  }

  void close() override {
    if (state_->closed) return;
    state_->closed = true;
    state_->acceptors->notify_all();
    auto it = net_.listeners_.find(state_->address);
    if (it != net_.listeners_.end() && it->second == state_) net_.listeners_.erase(it);
    // Connections still waiting to be accepted are refused.
    for (auto& conn : state_->backlog) net_.break_conn(*conn);
    state_->backlog.clear();
  }

  Address address() const override { return state_->address; }

 private:
  SimNetwork& net_;
  std::shared_ptr<SimNetwork::ListenerState> state_;
};

SimNetwork::SimNetwork(World& world, core::Random random) : world_(world), random_(random) {}

SimNetwork::~SimNetwork() = default;

std::unique_ptr<HostNetwork> SimNetwork::host_view(const std::string& host) {
  return std::make_unique<HostNetwork>(*this, host);
}

void SimNetwork::block(const std::string& from, const std::string& to) {
  if (from == to) return;
  blocked_.insert({from, to});
  world_.tracer().event("net.block", {{"from", from}, {"to", to}});
}

void SimNetwork::partition(const std::vector<std::string>& side, const std::vector<std::string>& all) {
  for (const auto& a : side) {
    for (const auto& b : all) {
      if (std::find(side.begin(), side.end(), b) != side.end()) continue;
      blocked_.insert({a, b});
      blocked_.insert({b, a});
    }
  }
  std::string names;
  for (const auto& a : side) names += a + " ";
  world_.tracer().event("net.partition", {{"side", names}});
}

void SimNetwork::heal() {
  blocked_.clear();
  clogs_.clear();
  world_.tracer().event("net.heal");
  if (Timeline* timeline = world_.timeline()) timeline->network_healed(world_.now());
}

bool SimNetwork::blocked(const std::string& from, const std::string& to) const {
  return !blocked_.empty() && blocked_.count({from, to}) != 0;
}

void SimNetwork::clog(const std::string& a, const std::string& b, Duration extra, Instant until) {
  clogs_[{a, b}] = {extra, until};
  clogs_[{b, a}] = {extra, until};
  world_.tracer().event("net.clog", {{"a", a}, {"b", b}, {"extra_ns", extra.ns()}});
}

Duration SimNetwork::latency(const std::string& from, const std::string& to) {
  Duration d = options_.latency_min + random_.exponential(options_.latency_mean_extra);
  if (!clogs_.empty()) {
    auto it = clogs_.find({from, to});
    if (it != clogs_.end()) {
      if (it->second.second > world_.now()) {
        d += it->second.first;
      } else {
        clogs_.erase(it);
      }
    }
  }
  return d;
}

void SimNetwork::send(const std::shared_ptr<Conn>& conn, int side, core::ByteView data) {
  auto& from = conn->side[side];
  auto& to = conn->side[1 - side];
  // Cut the write at random points: the reader must reassemble frames.
  int pieces = 1;
  if (data.size() > 1 && random_.chance(options_.split_probability)) {
    pieces = static_cast<int>(random_.uniform(2, kChunksPerWriteMax));
  }
  while (!data.empty()) {
    size_t n = data.size();
    if (pieces > 1) n = random_.uniform(1, data.size());
    --pieces;
    const Duration lat = latency(from.host, to.host);
    int64_t arrival = (world_.now() + lat).ns();
    arrival = std::max(arrival, to.last_arrival_ns);
    to.last_arrival_ns = arrival;
    from.in_flight += n;
    ++stats_.chunks;
    stats_.bytes += n;
    world_.at(Instant::from_nanos(arrival),
              [this, conn, to_side = 1 - side, chunk = std::string(data.substr(0, n)),
               sent_ns = world_.now().ns()]() mutable { deliver(conn, to_side, std::move(chunk), sent_ns); });
    data.remove_prefix(n);
  }
}

void SimNetwork::deliver(const std::shared_ptr<Conn>& conn, int to_side, std::string chunk, int64_t sent_ns) {
  auto& from = conn->side[1 - to_side];
  auto& to = conn->side[to_side];
  KEEL_ASSERT(from.in_flight >= chunk.size());
  from.in_flight -= chunk.size();
  from.writers->notify_all();
  if (Timeline* timeline = world_.timeline()) {
    const bool lost = conn->broken || blocked(from.host, to.host) || to.closed;
    timeline->message(from.host, to.host, Instant::from_nanos(sent_ns), world_.now(), chunk.size(), lost);
  }
  if (conn->broken) return;
  if (blocked(from.host, to.host) || to.closed) {
    // The bytes hit a partition or a socket that is gone: the connection
    // breaks and both ends find out.
    break_conn(*conn);
    return;
  }
  to.inbox.append(chunk);
  to.readers->notify_all();
}

void SimNetwork::send_fin(const std::shared_ptr<Conn>& conn, int side) {
  auto& from = conn->side[side];
  auto& to = conn->side[1 - side];
  int64_t arrival = (world_.now() + latency(from.host, to.host)).ns();
  arrival = std::max(arrival, to.last_arrival_ns);
  to.last_arrival_ns = arrival;
  world_.at(Instant::from_nanos(arrival), [conn, to_side = 1 - side] {
    auto& t = conn->side[to_side];
    t.fin = true;
    t.readers->notify_all();
  });
}

void SimNetwork::break_side(Conn& conn, int side) {
  auto& s = conn.side[side];
  if (s.reset) return;
  s.reset = true;
  s.readers->notify_all();
  s.writers->notify_all();
}

void SimNetwork::break_conn(Conn& conn) {
  if (conn.broken) return;
  conn.broken = true;
  ++stats_.resets;
  world_.tracer().event("net.reset", {{"conn", conn.id}});
  break_side(conn, 0);
  break_side(conn, 1);
  conns_.erase(conn.id);
}

bool SimNetwork::reset_random_connection() {
  std::vector<std::shared_ptr<Conn>> live;
  for (auto& [id, weak] : conns_) {
    if (auto c = weak.lock(); c && !c->broken) live.push_back(std::move(c));
  }
  if (live.empty()) return false;
  Conn& victim = *live[random_.uniform(0, live.size() - 1)];
  break_conn(victim);
  if (Timeline* timeline = world_.timeline()) {
    timeline->fault("reset", {victim.side[0].host, victim.side[1].host}, {},
                    "connection " + victim.side[0].address.to_string() + " <-> " + victim.side[1].address.to_string() +
                        " reset",
                    world_.now(), world_.now(), Timeline::FaultScope::kInstant);
  }
  return true;
}

void SimNetwork::crash_host(const std::string& host) {
  std::vector<std::shared_ptr<Conn>> mine;
  for (auto& [id, weak] : conns_) {
    auto c = weak.lock();
    if (!c || c->broken) continue;
    if (c->side[0].host == host || c->side[1].host == host) mine.push_back(std::move(c));
  }
  for (auto& c : mine) {
    const int side = c->side[0].host == host ? 0 : 1;
    // A socket the process closed already is the kernel's to finish: its
    // FIN is on the way.
    if (c->side[side].closed) continue;
    // The dead side is gone at once; the peer learns after a latency, as
    // it would from the RST its kernel sends, after the bytes already sent.
    break_side(*c, side);
    c->broken = true;
    conns_.erase(c->id);
    ++stats_.resets;
    auto& peer = c->side[1 - side];
    int64_t arrival = (world_.now() + latency(host, peer.host)).ns();
    arrival = std::max(arrival, peer.last_arrival_ns);
    peer.last_arrival_ns = arrival;
    world_.at(Instant::from_nanos(arrival), [this, c, p = 1 - side] { break_side(*c, p); });
  }
  std::vector<std::shared_ptr<ListenerState>> doomed;
  for (auto& [addr, l] : listeners_) {
    if (addr.host == host) doomed.push_back(l);
  }
  for (auto& l : doomed) {
    l->closed = true;
    l->acceptors->notify_all();
    for (auto& conn : l->backlog) break_conn(*conn);
    l->backlog.clear();
    listeners_.erase(l->address);
  }
}

size_t SimNetwork::open_connections() const {
  size_t n = 0;
  for (auto& [id, weak] : conns_) n += weak.expired() ? 0 : 1;
  return n;
}

core::Result<std::unique_ptr<core::Listener>> SimNetwork::listen(HostNetwork& on, const Address& requested) {
  KEEL_ASSERT(on.process().value() != 0);
  Address address = requested;
  if (address.host.empty() || address.host == "0.0.0.0") address.host = on.host();
  if (address.host != on.host()) {
    return core::invalid_argument("host " + on.host() + " cannot listen on " + address.to_string());
  }
  if (listeners_.count(address) != 0) return core::already_exists("address in use: " + address.to_string());
  auto state = std::make_shared<ListenerState>();
  state->address = address;
  state->owner = on.process();
  state->acceptors = std::make_unique<core::WaitList>(world_.scheduler());
  listeners_[address] = state;
  return std::unique_ptr<core::Listener>(std::make_unique<SimListener>(*this, state));
}

core::Result<std::unique_ptr<core::Stream>> SimNetwork::connect(HostNetwork& from, const Address& address,
                                                                Duration timeout) {
  const ProcessId me = from.process();
  KEEL_ASSERT(me.value() != 0);
  const std::string& src = from.host();
  if (blocked(src, address.host) || blocked(address.host, src)) {
    // The SYN (or its answer) is lost; TCP retries until the caller gives up.
    const Duration wait = std::min(timeout, options_.connect_blocked_timeout);
    park_for(world_, me, wait);
    ++stats_.refused;
    if (wait >= timeout) return core::deadline_exceeded("connect to " + address.to_string() + " timed out");
    return core::unavailable("no route to " + address.to_string());
  }
  // One round trip for the handshake.
  const Duration rtt = latency(src, address.host) + latency(address.host, src);
  if (rtt > timeout) {
    park_for(world_, me, timeout);
    return core::deadline_exceeded("connect to " + address.to_string() + " timed out");
  }
  park_for(world_, me, rtt);
  auto it = listeners_.find(address);
  if (it == listeners_.end() || it->second->closed || it->second->backlog.size() >= kBacklogMax ||
      blocked(src, address.host) || blocked(address.host, src)) {
    ++stats_.refused;
    return core::unavailable("connection refused by " + address.to_string());
  }
  auto conn = std::make_shared<Conn>();
  conn->id = next_conn_id_++;
  for (int i = 0; i < 2; ++i) {
    conn->side[i].readers = std::make_unique<core::WaitList>(world_.scheduler());
    conn->side[i].writers = std::make_unique<core::WaitList>(world_.scheduler());
  }
  conn->side[0].host = src;
  conn->side[0].owner = me;
  conn->side[0].address = Address{src, next_ephemeral_port_++};
  if (next_ephemeral_port_ == 0) next_ephemeral_port_ = 40000;
  conn->side[1].host = address.host;
  conn->side[1].owner = it->second->owner;
  conn->side[1].address = address;
  conns_[conn->id] = conn;
  ++stats_.connections;
  it->second->backlog.push_back(conn);
  it->second->acceptors->notify_one();
  return std::unique_ptr<core::Stream>(std::make_unique<SimStream>(*this, std::move(conn), 0));
}

core::Result<std::unique_ptr<core::Listener>> HostNetwork::listen(const Address& address) {
  return net_.listen(*this, address);
}

core::Result<std::unique_ptr<core::Stream>> HostNetwork::connect(const Address& address, Duration timeout) {
  return net_.connect(*this, address, timeout);
}

}  // namespace keel::sim
