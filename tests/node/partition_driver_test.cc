// PartitionDriver on the simulator: three nodes replicate one partition
// through the ISR protocol with real storage (PartitionStorage on SimDisk,
// MemKvEngine); the test plays the controller. The leader loses power, a
// follower takes over from the ISR, the old leader returns behind the new
// leader's compacted log and catches up through a snapshot.
#include "node/partition_driver.h"

#include <catch2/catch.hpp>

#include <map>
#include <set>
#include <memory>
#include <string>
#include <vector>

#include "node/commands.h"
#include "sim/world.h"
#include "storage/mem_kv_engine.h"

using keel::consensus::IsrRequest;
using keel::consensus::PartitionMessage;
using keel::consensus::PartitionRole;
using keel::consensus::PartitionState;
using keel::core::Bytes;
using keel::core::Duration;
using keel::core::Env;
using keel::core::Epoch;
using keel::core::NodeId;
using keel::core::PartitionId;
using keel::node::PartitionDriver;
using keel::node::PartitionDriverOptions;
using keel::sim::World;

namespace {

struct Cluster;

// Messages go through the world's event queue to whichever driver runs on
// the addressee now (none while it is down: the message is lost).
class Wire : public keel::node::PartitionTransport {
 public:
  explicit Wire(Cluster& c) : c_(c) {}
  void send(const PartitionMessage& m) override;
  void send_isr_request(const IsrRequest& r) override;

 private:
  Cluster& c_;
};

struct Cluster {
  explicit Cluster(uint64_t seed) : world(seed) {
    state.replicas = {NodeId(1), NodeId(2), NodeId(3)};
    state.isr = {NodeId(1), NodeId(2), NodeId(3)};
    state.leader = NodeId(1);
    state.leader_epoch = Epoch(1);
    state.partition_epoch = 1;
    for (int i = 1; i <= 3; ++i) {
      hosts.push_back(world.add_host("n" + std::to_string(i), [this, i](Env& env) {
        auto engine = MemKvOpen(env);
        PartitionDriverOptions o;
        o.replica.partition = PartitionId(0);
        o.replica.id = NodeId(i);
        o.replica.min_insync_replicas = 2;
        o.partitions = 1;
        o.incarnation = ++incarnations[i];
        o.compact_every = 15;
        Wire wire(*this);
        PartitionDriver driver(env, o, *engine, wire);
        REQUIRE(driver.start().is_ok());
        drivers[i] = &driver;
        struct Clear {
          Cluster& c;
          int i;
          ~Clear() { c.drivers.erase(i); }
        } clear{*this, i};
        driver.set_state(state);
        (void)driver.wait();
      }));
    }
    for (auto h : hosts) world.start(h);
  }

  static std::unique_ptr<keel::storage::MemKvEngine> MemKvOpen(Env& env) {
    auto r = keel::storage::MemKvEngine::open(env.disk, "kv", keel::storage::MemKvOptions{.fibers = &env.fibers});
    KEEL_ASSERT(r.is_ok());
    return std::move(*r);
  }

  // The controller's part: an ISR change based on the current record.
  void alter_isr(const IsrRequest& r) {
    if (r.leader != state.leader || r.leader_epoch != state.leader_epoch ||
        r.partition_epoch != state.partition_epoch) {
      return;  // stale: refused
    }
    state.isr = r.isr;
    ++state.partition_epoch;
    ++isr_changes;
    broadcast();
  }
  void elect(NodeId leader) {
    state.isr.erase(state.leader);
    state.leader = leader;
    state.leader_epoch = state.leader_epoch.next();
    ++state.partition_epoch;
    broadcast();
  }
  void broadcast() {
    for (auto& [i, d] : drivers) d->set_state(state);
  }

  PartitionState state;
  std::vector<keel::sim::HostId> hosts;
  std::map<int, PartitionDriver*> drivers;
  std::map<int, uint64_t> incarnations;
  uint64_t isr_changes = 0;
  World world;  // last: destroyed first
};

void Wire::send(const PartitionMessage& m) {
  Cluster& c = c_;
  c.world.after(Duration::micros(300), [&c, m] {
    auto it = c.drivers.find(static_cast<int>(m.to.value()));
    if (it != c.drivers.end()) it->second->receive(m);
  });
}

void Wire::send_isr_request(const IsrRequest& r) {
  Cluster& c = c_;
  c.world.after(Duration::millis(2), [&c, r] { c.alter_isr(r); });
}

Bytes set_cmd(const std::string& k, const std::string& v) {
  keel::node::SetCommand c;
  c.key = k;
  c.value = v;
  return keel::node::encode_command(c);
}

}  // namespace

TEST_CASE("partition driver: failover from the ISR, and a returning replica resyncs through a snapshot",
          "[node][sim]") {
  for (uint64_t seed = 1; seed <= 3; ++seed) {
    INFO("seed " << seed);
    Cluster c(seed);
    std::vector<std::string> acked;
    bool done = false;
    auto client = c.world.add_host("c1", [&](Env& env) {
      auto write_at = [&](int node, int from, int to) {
        for (int k = from; k < to; ++k) {
          auto it = c.drivers.find(node);
          if (it == c.drivers.end()) return;
          const std::string key = "key" + std::to_string(k);
          auto r = it->second->propose(set_cmd(key, "v" + std::to_string(k)), true);
          if (r.is_ok()) {
            acked.push_back(key);
          } else {
            env.sleep_for(Duration::millis(20));
            --k;  // not proposed or unknown: try again (SET is idempotent)
          }
        }
      };
      env.sleep_for(Duration::millis(50));
      write_at(1, 0, 40);
      // Power loss on the leader; the controller elects n2 from the ISR.
      c.world.after(Duration::zero(), [&c] { c.world.crash(c.hosts[0]); });
      env.sleep_for(Duration::millis(1));
      c.elect(NodeId(2));
      env.sleep_for(Duration::millis(30));
      write_at(2, 40, 80);
      // n1 returns far behind n2's compacted log.
      c.world.after(Duration::zero(), [&c] { c.world.start(c.hosts[0]); });
      for (int i = 0; i < 300 && c.state.isr.count(NodeId(1)) == 0; ++i) {
        env.sleep_for(Duration::millis(20));
        c.broadcast();  // the controller's record reaches the returning node
      }
      env.sleep_for(Duration::millis(200));
      done = true;
    });
    c.world.start(client);
    c.world.run_for(Duration::seconds(30), [&] { return done; });
    REQUIRE(done);
    CHECK(acked.size() == 80);
    REQUIRE(c.state.isr.count(NodeId(1)) == 1);
    REQUIRE(c.drivers.size() == 3);
    // Every replica holds every acknowledged write, in equal partitions.
    uint64_t digest = 0;
    for (auto& [i, d] : c.drivers) {
      INFO("n" << i);
      CHECK(d->kv().applied() == c.drivers[2]->kv().applied());
      for (const std::string& key : acked) {
        auto v = d->kv().get(key);
        REQUIRE(v.is_ok());
        CHECK(v->has_value());
      }
      auto dg = d->kv().digest();
      REQUIRE(dg.is_ok());
      if (digest == 0) digest = *dg;
      CHECK(*dg == digest);
    }
    CHECK(c.drivers[2]->replica()->role() == PartitionRole::kLeader);
    CHECK(c.drivers[1]->snapshots_installed() >= 1);  // it resynced from a snapshot
    CHECK(c.isr_changes >= 1);
  }
}

TEST_CASE("partition driver: crashes at random keep every acknowledged write on every replica", "[node][sim]") {
  for (uint64_t seed = 1; seed <= 8; ++seed) {
    INFO("seed " << seed);
    Cluster c(seed);
    keel::core::Random random(seed * 7919);
    std::map<std::string, std::string> acked;  // key -> value (each key written once)
    std::set<int> down;
    bool faults_over = false;
    bool done = false;
    // The controller's part beyond ISR requests: a crashed leader is
    // replaced by a live ISR member (the session timeout, shortened).
    auto nemesis = c.world.add_host("nemesis", [&](Env& env) {
      for (int round = 0; round < 12; ++round) {
        env.sleep_for(Duration::millis(static_cast<int64_t>(random.uniform(150, 500))));
        const int victim = static_cast<int>(random.uniform(1, 3));
        if (down.count(victim) || down.size() >= 1) continue;
        down.insert(victim);
        c.world.after(Duration::zero(), [&c, victim] { c.world.crash(c.hosts[static_cast<size_t>(victim - 1)]); });
        env.sleep_for(Duration::millis(40));
        if (c.state.leader == NodeId(static_cast<uint32_t>(victim))) {
          for (NodeId n : c.state.replicas) {
            if (n != c.state.leader && c.state.isr.count(n) && !down.count(static_cast<int>(n.value()))) {
              c.elect(n);
              break;
            }
          }
        }
        env.sleep_for(Duration::millis(static_cast<int64_t>(random.uniform(100, 400))));
        down.erase(victim);
        c.world.after(Duration::zero(), [&c, victim] { c.world.start(c.hosts[static_cast<size_t>(victim - 1)]); });
        env.sleep_for(Duration::millis(50));
        c.broadcast();
      }
      faults_over = true;
    });
    auto client = c.world.add_host("c1", [&](Env& env) {
      env.sleep_for(Duration::millis(50));
      for (int k = 0; !faults_over; ++k) {
        auto it = c.drivers.find(static_cast<int>(c.state.leader.value()));
        if (it == c.drivers.end()) {
          env.sleep_for(Duration::millis(20));
          continue;
        }
        const std::string key = "key" + std::to_string(k), value = "v" + std::to_string(k);
        auto r = it->second->propose(set_cmd(key, value), true);
        if (r.is_ok()) acked[key] = value;
        if (!r.is_ok()) env.sleep_for(Duration::millis(10));
      }
      // Heal: everyone up, the ISR whole again, then a last write commits
      // everything before it.
      for (int i = 0; i < 500 && (c.drivers.size() < 3 || c.state.isr.size() < 3); ++i) {
        env.sleep_for(Duration::millis(20));
        c.broadcast();
      }
      for (int tries = 0; tries < 100; ++tries) {
        auto it = c.drivers.find(static_cast<int>(c.state.leader.value()));
        if (it != c.drivers.end() && it->second->propose(set_cmd("last", "x"), true).is_ok()) break;
        env.sleep_for(Duration::millis(20));
      }
      env.sleep_for(Duration::millis(300));
      done = true;
    });
    c.world.start(nemesis);
    c.world.start(client);
    c.world.run_for(Duration::seconds(120), [&] { return done; });
    REQUIRE(done);
    REQUIRE(c.drivers.size() == 3);
    CHECK(acked.size() > 50);
    uint64_t digest = 0;
    for (auto& [i, d] : c.drivers) {
      INFO("n" << i);
      for (const auto& [key, value] : acked) {
        auto v = d->kv().get(key);
        REQUIRE(v.is_ok());
        REQUIRE(v->has_value());
        CHECK(**v == value);
      }
      auto dg = d->kv().digest();
      REQUIRE(dg.is_ok());
      if (digest == 0) digest = *dg;
      CHECK(*dg == digest);
    }
  }
}
