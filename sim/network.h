// SimNetwork: simulated TCP between the hosts of a World.
//
// Each connection carries two ordered byte streams. A write is cut into
// chunks at random boundaries (so framing code sees every split) and each
// chunk arrives after a latency drawn from the seeded distribution, never
// before an earlier chunk of the same direction. Faults:
//   - partitions: a blocked direction (any split, one-way, isolate a host);
//     a connect across it times out, and a chunk that reaches a blocked link
//     breaks its connection (both ends then read Unavailable) — bytes can be
//     lost with a connection, never corrupted or reordered within one;
//   - clogging: extra latency on a link for a while;
//   - resets: a connection broken at a chosen moment;
//   - a crashed host's connections break; its peers learn after a latency.
// Flow control: at most kSendBufferMax bytes in flight per direction; a
// writer beyond that waits.
#pragma once

#include <cstdint>
#include <deque>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "core/env.h"
#include "core/random.h"
#include "core/sync.h"

namespace keel::sim {

class World;

struct NetworkOptions {
  core::Duration latency_min = core::Duration::micros(50);
  core::Duration latency_mean_extra = core::Duration::micros(200);  // exponential, added
  // Probability that a write is cut into several chunks.
  double split_probability = 0.3;
  // How long a connect across a partition waits before failing.
  core::Duration connect_blocked_timeout = core::Duration::seconds(1);
};

struct NetworkStats {
  uint64_t connections = 0;
  uint64_t chunks = 0;
  uint64_t bytes = 0;
  uint64_t resets = 0;
  uint64_t refused = 0;
};

class HostNetwork;

class SimNetwork {
 public:
  static constexpr size_t kSendBufferMax = 4 * 1024 * 1024;
  static constexpr size_t kBacklogMax = 128;
  static constexpr int kChunksPerWriteMax = 4;

  SimNetwork(World& world, core::Random random);
  ~SimNetwork();

  std::unique_ptr<HostNetwork> host_view(const std::string& host);
  NetworkOptions& options() { return options_; }
  const NetworkStats& stats() const { return stats_; }

  // --- Faults -------------------------------------------------------------
  // Blocks traffic from `from` to `to` (one way).
  void block(const std::string& from, const std::string& to);
  // Blocks both directions between every host of `side` and every other
  // host among `all`.
  void partition(const std::vector<std::string>& side, const std::vector<std::string>& all);
  void heal();
  bool blocked(const std::string& from, const std::string& to) const;
  bool any_blocked() const { return !blocked_.empty(); }
  // Adds `extra` latency to both directions between a and b until `until`.
  void clog(const std::string& a, const std::string& b, core::Duration extra, core::Instant until);
  // Breaks one established connection chosen by the seeded Random; returns
  // false if there is none.
  bool reset_random_connection();
  // Breaks every connection of `host` and closes its listeners.
  void crash_host(const std::string& host);
  size_t open_connections() const;

  struct Conn;
  struct ListenerState;

 private:
  friend class HostNetwork;
  friend class SimStream;
  friend class SimListener;

  core::Duration latency(const std::string& from, const std::string& to);
  // Bytes written on conn side `side` travel to the other side.
  void send(const std::shared_ptr<Conn>& conn, int side, core::ByteView data);
  void send_fin(const std::shared_ptr<Conn>& conn, int side);
  // `sent_ns`: when the chunk was written (for the timeline).
  void deliver(const std::shared_ptr<Conn>& conn, int to_side, std::string chunk, int64_t sent_ns);
  void break_conn(Conn& conn);
  void break_side(Conn& conn, int side);
  core::Result<std::unique_ptr<core::Stream>> connect(HostNetwork& from, const core::Address& address,
                                                      core::Duration timeout);
  core::Result<std::unique_ptr<core::Listener>> listen(HostNetwork& on, const core::Address& address);

  World& world_;
  core::Random random_;
  NetworkOptions options_;
  NetworkStats stats_;
  std::set<std::pair<std::string, std::string>> blocked_;
  std::map<std::pair<std::string, std::string>, std::pair<core::Duration, core::Instant>> clogs_;
  std::map<core::Address, std::shared_ptr<ListenerState>> listeners_;
  // Live connections by id, in creation order (for deterministic choice).
  std::map<uint64_t, std::weak_ptr<Conn>> conns_;
  uint64_t next_conn_id_ = 1;
  uint16_t next_ephemeral_port_ = 40000;
};

// The core::Network of one host; bound to the host's current incarnation.
class HostNetwork : public core::Network {
 public:
  HostNetwork(SimNetwork& net, std::string host) : net_(net), host_(std::move(host)) {}
  core::Result<std::unique_ptr<core::Listener>> listen(const core::Address& address) override;
  core::Result<std::unique_ptr<core::Stream>> connect(const core::Address& address, core::Duration timeout) override;

  const std::string& host() const { return host_; }
  void bind(core::ProcessId process) { process_ = process; }
  void unbind() { process_ = core::ProcessId(); }
  core::ProcessId process() const { return process_; }

 private:
  SimNetwork& net_;
  std::string host_;
  core::ProcessId process_;
};

}  // namespace keel::sim
