#include "node/raft_node.h"

#include <catch2/catch.hpp>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "net/frame.h"
#include "node/peer_codec.h"
#include "sim/raft_invariants.h"
#include "sim/world.h"

using keel::core::Address;
using keel::core::Bytes;
using keel::core::ByteView;
using keel::core::Duration;
using keel::core::Env;
using keel::core::LogIndex;
using keel::core::NodeId;
using keel::core::Status;
using keel::node::RaftNode;
using keel::node::RaftNodeOptions;
using keel::sim::World;

namespace {

// A state machine that records applied commands in memory and makes them
// durable by writing a whole-state file (enough to exercise the driver).
class ListMachine : public keel::node::StateMachine, public keel::node::ReadView {
 public:
  explicit ListMachine(Env& env) : env_(env) {}

  Status load() {
    KEEL_TRY_ASSIGN(bool present, env_.disk.exists("list"));
    if (!present) return Status::ok();
    KEEL_TRY_ASSIGN(auto f, env_.disk.open("list", keel::core::OpenMode::kReadOnly));
    KEEL_TRY_ASSIGN(uint64_t size, f->size());
    KEEL_TRY_ASSIGN(Bytes bytes, f->read_at(0, size));
    return decode(bytes);
  }

  LogIndex applied_index() const override { return applied_; }
  LogIndex durable_index() const override { return durable_; }
  keel::core::Result<Bytes> apply(LogIndex index, ByteView command) override {
    items_.emplace_back(command);
    applied_ = index;
    return Bytes("applied@" + index.to_string());
  }
  Status skip(LogIndex index) override {
    applied_ = index;
    return Status::ok();
  }
  Status persist() override {
    KEEL_TRY_ASSIGN(auto f, env_.disk.open("list.tmp", keel::core::OpenMode::kCreate));
    KEEL_TRY(f->truncate(0));
    KEEL_TRY(f->write_at(0, encode()));
    KEEL_TRY(f->sync());
    KEEL_TRY(env_.disk.rename("list.tmp", "list"));
    KEEL_TRY(env_.disk.sync_dir(""));
    durable_ = applied_;
    return Status::ok();
  }
  keel::core::Result<Bytes> snapshot() override { return encode(); }
  Status restore(LogIndex index, ByteView data) override {
    KEEL_TRY(decode(data));
    applied_ = index;
    return persist();
  }
  uint64_t digest() override { return keel::core::checksum64(encode()); }
  keel::core::Result<std::optional<Bytes>> get(ByteView) override { return std::optional<Bytes>(); }
  keel::core::Result<uint64_t> size() override { return items_.size(); }

  const std::vector<Bytes>& items() const { return items_; }

 private:
  Bytes encode() const {
    Bytes out;
    keel::core::put_u64(out, applied_.value());
    for (const Bytes& i : items_) {
      keel::core::put_u32(out, static_cast<uint32_t>(i.size()));
      out += i;
    }
    return out;
  }
  Status decode(ByteView b) {
    if (b.size() < 8) return keel::core::corruption("short list state");
    items_.clear();
    applied_ = durable_ = LogIndex(keel::core::get_u64(b.data()));
    size_t p = 8;
    while (p + 4 <= b.size()) {
      const uint32_t n = keel::core::get_u32(b.data() + p);
      if (p + 4 + n > b.size()) return keel::core::corruption("torn list state");
      items_.emplace_back(b.substr(p + 4, n));
      p += 4 + n;
    }
    return Status::ok();
  }

  Env& env_;
  std::vector<Bytes> items_;
  LogIndex applied_;
  LogIndex durable_;
};

struct Cluster {
  explicit Cluster(uint64_t seed, int n) : world(seed) {
    // (world is declared last but constructed here first among what it uses.)
    for (int i = 1; i <= n; ++i) {
      options.members[NodeId(i)] = {Address{"n" + std::to_string(i), 7000}, Address{"n" + std::to_string(i), 6379}};
    }
    for (int i = 1; i <= n; ++i) {
      hosts.push_back(world.add_host("n" + std::to_string(i), [this, i](Env& env) {
        ListMachine machine(env);
        REQUIRE(machine.load().is_ok());
        RaftNodeOptions o = options;
        o.id = NodeId(i);
        o.snapshot_entries = 50;
        keel::node::PeerBusOptions b = bus;
        b.id = o.id;
        b.members = o.members;
        keel::node::PeerBus peers(env, b);
        RaftNode node(env, o, peers, machine, &machine);
        keel::sim::RaftInvariants::NodeObserver observer(invariants, NodeId(i), ++incarnations[i]);
        node.set_observer(&observer);
        REQUIRE(node.start().is_ok());
        REQUIRE(peers.start().is_ok());
        nodes[i] = &node;
        machines[i] = &machine;
        struct Clear {
          Cluster& c;
          int i;
          ~Clear() {
            c.nodes.erase(i);
            c.machines.erase(i);
          }
        } clear{*this, i};
        (void)node.wait();
      }));
    }
    for (auto h : hosts) world.start(h);
  }

  RaftNode* leader() {
    for (auto& [i, n] : nodes) {
      if (n->is_leader()) return n;
    }
    return nullptr;
  }

  RaftNodeOptions options;
  keel::node::PeerBusOptions bus;
  std::vector<keel::sim::HostId> hosts;
  std::map<int, RaftNode*> nodes;
  std::map<int, ListMachine*> machines;
  std::map<int, uint64_t> incarnations;
  keel::sim::RaftInvariants invariants;
  // Last: destroyed first, so the nodes' fibers die while the maps above
  // they write to on their way out still exist.
  World world;
};

}  // namespace

TEST_CASE("raft node: a cluster elects a leader, commits proposals, survives crashes", "[node][sim]") {
  for (uint64_t seed = 1; seed <= 5; ++seed) {
    INFO("seed " << seed);
    Cluster c(seed, 3);
    c.world.run_for(Duration::seconds(2));
    REQUIRE(c.leader() != nullptr);
    int acked = 0;
    auto client = c.world.add_host("c1", [&](Env& env) {
      for (int k = 0; k < 300; ++k) {
        RaftNode* l = c.leader();
        if (l == nullptr) {
          env.sleep_for(Duration::millis(50));
          continue;
        }
        auto r = l->propose("cmd" + std::to_string(k));
        if (r.is_ok()) ++acked;
      }
    });
    c.world.start(client);
    c.world.run_for(Duration::seconds(1));
    // Power loss on the leader's host, then the cluster carries on.
    for (size_t h = 0; h < c.hosts.size(); ++h) {
      if (c.nodes.count(static_cast<int>(h + 1)) && c.nodes[static_cast<int>(h + 1)]->is_leader()) {
        c.world.crash(c.hosts[h]);
        c.world.run_for(Duration::millis(300));
        c.world.start(c.hosts[h]);
        break;
      }
    }
    c.world.run_for(Duration::seconds(10));
    REQUIRE(acked > 100);
    for (auto& v : c.invariants.violations()) FAIL(v);
    REQUIRE(c.invariants.checks() > 100);
    // Every replica converges to the same applied list.
    REQUIRE(c.machines.size() == 3);
    const auto& reference = c.machines.begin()->second->items();
    for (auto& [i, m] : c.machines) REQUIRE(m->items() == reference);
    REQUIRE(reference.size() >= static_cast<size_t>(acked));
  }
}

TEST_CASE("raft node: peers without the cluster secret are refused", "[node][sim]") {
  Cluster c(9, 3);
  c.world.run_for(Duration::seconds(2));
  REQUIRE(c.leader() != nullptr);
  const uint64_t term_before = c.leader()->raft()->term().value();
  auto intruder = c.world.add_host("evil", [&](Env& env) {
    for (int i = 1; i <= 3; ++i) {
      auto s = env.net.connect(Address{"n" + std::to_string(i), 7000}, Duration::seconds(1));
      if (!s.is_ok()) continue;
      keel::node::PeerHelloInfo hello;
      hello.from = NodeId(2);
      hello.to = NodeId(i);
      hello.nonce = 1;
      hello.cluster_proof = keel::node::cluster_proof("wrong secret", hello.from, hello.to, 1);
      (void)keel::net::write_frame(**s, keel::node::encode_peer_hello(hello));
      keel::consensus::Message m;
      m.type = keel::consensus::MessageType::kVote;
      m.from = NodeId(2);
      m.to = NodeId(i);
      m.term = keel::core::Term(1000);
      m.index = LogIndex(1000000);
      m.log_term = keel::core::Term(999);
      (void)keel::net::write_frame(**s, keel::node::encode_raft_message(m));
    }
    env.sleep_for(Duration::seconds(1));
  });
  c.world.start(intruder);
  c.world.run_for(Duration::seconds(3));
  REQUIRE(c.leader() != nullptr);
  REQUIRE(c.leader()->raft()->term().value() == term_before);
}

TEST_CASE("raft node: a stray peer connection gets a small first frame and a short time", "[node][sim]") {
  Cluster c(11, 3);
  c.bus.handshake_timeout = Duration::seconds(1);
  c.world.run_for(Duration::seconds(2));
  REQUIRE(c.leader() != nullptr);
  // Outcome of each probe: the time the node closed the connection, or -1.
  std::vector<int64_t> closed_after_ms(3, -1);
  auto prober = c.world.add_host("stray", [&](Env& env) {
    auto probe = [&](int slot, Bytes first_bytes) {
      auto s = env.net.connect(Address{"n1", 7000}, Duration::seconds(1));
      REQUIRE(s.is_ok());
      if (!first_bytes.empty()) REQUIRE((*s)->write(first_bytes).is_ok());
      const keel::core::Instant start = env.now();
      char buf[64];
      auto n = (*s)->read(buf, sizeof buf);  // the node closes: EOF or reset
      CHECK((!n.is_ok() || *n == 0));
      closed_after_ms[slot] = (env.now() - start).ms();
    };
    // Silent: closed at the handshake deadline.
    probe(0, Bytes());
    // A header that claims a 100 MiB hello: refused at once.
    Bytes header;
    keel::core::put_u32(header, keel::net::kFrameMagic);
    keel::core::put_u32(header, 100u << 20);
    keel::core::put_u64(header, 0);
    probe(1, header);
    // A well-formed frame of 8 KiB, past the hello limit: refused at once.
    Bytes big;
    keel::net::append_frame(big, Bytes(8192, 'x'));
    probe(2, big);
  });
  c.world.start(prober);
  c.world.run_for(Duration::seconds(5));
  CAPTURE(closed_after_ms);
  CHECK(closed_after_ms[0] >= 900);
  CHECK(closed_after_ms[0] <= 1500);
  CHECK(closed_after_ms[1] >= 0);
  CHECK(closed_after_ms[1] < 500);
  CHECK(closed_after_ms[2] >= 0);
  CHECK(closed_after_ms[2] < 500);
  REQUIRE(c.leader() != nullptr);
}
