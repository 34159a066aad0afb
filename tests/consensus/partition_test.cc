// Scenario tests for consensus/partition.h (one partition's ISR replica)
// over a tiny in-memory harness: replicas, a "disk" that persists each
// Ready's records at once, and a message queue the test drains.
#include <catch2/catch.hpp>

#include <deque>
#include <map>
#include <memory>

#include "consensus/partition.h"

namespace keel::consensus {
namespace {

using core::Offset;

struct Harness {
  struct Node {
    std::unique_ptr<PartitionReplica> replica;
    std::vector<Record> disk;  // the stored log (from offset 0)
    Offset applied;
    std::vector<IsrRequest> isr_requests;
  };
  std::map<uint32_t, Node> nodes;
  std::deque<PartitionMessage> wire;
  PartitionState state;

  explicit Harness(int n, size_t min_isr = 2) {
    for (int i = 1; i <= n; ++i) {
      state.replicas.push_back(NodeId(i));
      state.isr.insert(NodeId(i));
    }
    for (int i = 1; i <= n; ++i) {
      PartitionConfig c;
      c.partition = PartitionId(7);
      c.id = NodeId(i);
      c.min_insync_replicas = min_isr;
      c.replica_lag_max_ticks = 5;
      auto r = PartitionReplica::create(c, PartitionPersisted{});
      REQUIRE(r.is_ok());
      nodes[i].replica = std::make_unique<PartitionReplica>(std::move(r).value());
    }
  }
  PartitionReplica& r(int i) { return *nodes.at(i).replica; }

  void elect(int leader, uint64_t epoch) {
    state.leader = NodeId(leader);
    state.leader_epoch = Epoch(epoch);
    ++state.partition_epoch;
    for (auto& [id, n] : nodes) {
      if (n.replica) REQUIRE(n.replica->set_state(state).is_ok());
    }
  }

  // Handles every pending Ready: persist, then queue the messages.
  void flush(int i) {
    Node& n = nodes.at(i);
    while (n.replica && n.replica->has_ready()) {
      PartitionReady rd = n.replica->ready();
      if (rd.truncate_from) n.disk.resize(rd.truncate_from->value());
      for (const Record& rec : rd.records) {
        REQUIRE(rec.offset.value() == n.disk.size());
        n.disk.push_back(rec);
      }
      for (PartitionMessage& m : rd.messages) wire.push_back(std::move(m));
      if (rd.isr_request) n.isr_requests.push_back(*rd.isr_request);
      Offset end(n.disk.size());
      if (rd.committed_end > n.applied) n.applied = std::min(rd.committed_end, end);
      n.replica->advance(end, n.applied);
    }
  }
  // Delivers messages (dropping those to or from `cut`) until none is left.
  void settle(int cut = 0) {
    for (int round = 0; round < 1000; ++round) {
      for (auto& [id, n] : nodes) flush(static_cast<int>(id));
      if (wire.empty()) return;
      PartitionMessage m = std::move(wire.front());
      wire.pop_front();
      if (static_cast<int>(m.to.value()) == cut || static_cast<int>(m.from.value()) == cut) continue;
      Node& to = nodes.at(m.to.value());
      if (to.replica) (void)to.replica->step(m);
    }
  }
  void tick_all(int ticks, int cut = 0) {
    for (int t = 0; t < ticks; ++t) {
      for (auto& [id, n] : nodes) {
        if (n.replica && static_cast<int>(id) != cut) n.replica->tick();
      }
      settle(cut);
    }
  }
};

core::Bytes data(int i) { return "v" + std::to_string(i); }

TEST_CASE("partition: records replicate and commit once the ISR holds them durably", "[consensus][unit]") {
  Harness h(3);
  h.elect(1, 1);
  h.settle();
  auto off = h.r(1).propose(data(1), true);
  REQUIRE(off.is_ok());
  CHECK(off->value() == 0);
  // Followers learn the new HW from their next fetch answer (held at most
  // fetch_wait_max_ticks).
  h.tick_all(6);
  CHECK(h.r(1).high_watermark() == Offset(1));
  for (int i = 1; i <= 3; ++i) {
    INFO("n" << i);
    CHECK(h.nodes[i].disk.size() == 1);
    CHECK(h.r(i).high_watermark() == Offset(1));
    CHECK(h.nodes[i].applied == Offset(1));
  }
}

TEST_CASE("partition: HW waits for every ISR member and holds below min.insync.replicas", "[consensus][unit]") {
  Harness h(3);
  h.elect(1, 1);
  h.settle();
  REQUIRE(h.r(1).propose(data(1), true).is_ok());
  // n3 is cut off: still in the ISR, so the HW cannot pass its log end.
  h.tick_all(3, 3);
  CHECK(h.r(1).high_watermark() == Offset(0));
  // The ISR shrinks to {1, 2} by the controller's decision: HW advances.
  h.state.isr = {NodeId(1), NodeId(2)};
  ++h.state.partition_epoch;
  REQUIRE(h.r(1).set_state(h.state).is_ok());
  h.tick_all(2, 3);
  CHECK(h.r(1).high_watermark() == Offset(1));
  // Down to {1}: below min.insync.replicas = 2, acks=all writes are refused.
  h.state.isr = {NodeId(1)};
  ++h.state.partition_epoch;
  REQUIRE(h.r(1).set_state(h.state).is_ok());
  auto refused = h.r(1).propose(data(2), true);
  REQUIRE_FALSE(refused.is_ok());
  CHECK(refused.status().message().find("NOREPLICAS") != std::string::npos);
  // acks=1 still appends, but the HW does not advance.
  REQUIRE(h.r(1).propose(data(3), false).is_ok());
  h.tick_all(3, 3);
  CHECK(h.r(1).high_watermark() == Offset(1));
}

TEST_CASE("partition: a lagging follower is asked out of the ISR, and back in once caught up", "[consensus][unit]") {
  Harness h(3);
  h.elect(1, 1);
  h.settle();
  h.tick_all(10, 3);  // n3 does not fetch for longer than replica_lag_max
  REQUIRE_FALSE(h.nodes[1].isr_requests.empty());
  IsrRequest shrink = h.nodes[1].isr_requests.back();
  CHECK(shrink.isr == std::set<NodeId>{NodeId(1), NodeId(2)});
  CHECK(shrink.partition_epoch == h.state.partition_epoch);
  h.state.isr = shrink.isr;
  ++h.state.partition_epoch;
  for (int i = 1; i <= 3; ++i) REQUIRE(h.r(i).set_state(h.state).is_ok());
  h.nodes[1].isr_requests.clear();
  REQUIRE(h.r(1).propose(data(1), true).is_ok());
  h.tick_all(15);  // n3 is back: it fetches again (fetch timeout) and catches up
  REQUIRE_FALSE(h.nodes[1].isr_requests.empty());
  IsrRequest expand = h.nodes[1].isr_requests.back();
  CHECK(expand.isr.count(NodeId(3)) == 1);
  CHECK(expand.incarnations.count(NodeId(3)) == 1);
}

TEST_CASE("partition: a follower that stopped fetching is not asked back into the ISR, and writes commit without it",
          "[consensus][unit]") {
  Harness h(3);
  h.elect(1, 1);
  h.settle();
  h.tick_all(2);
  // n3's process dies: it never fetches again. Its last fetch was at the
  // log end, which the idle leader's HW still equals.
  h.tick_all(10, 3);
  REQUIRE_FALSE(h.nodes[1].isr_requests.empty());
  IsrRequest shrink = h.nodes[1].isr_requests.back();
  REQUIRE(shrink.isr == std::set<NodeId>{NodeId(1), NodeId(2)});
  h.state.isr = shrink.isr;
  ++h.state.partition_epoch;
  for (int i = 1; i <= 2; ++i) REQUIRE(h.r(i).set_state(h.state).is_ok());
  h.nodes[1].isr_requests.clear();
  h.tick_all(30, 3);
  // The leader never asks to add the silent replica back (an add in flight
  // would hold the HW for it: writes would stall until it returned).
  for (const IsrRequest& r : h.nodes[1].isr_requests) CHECK(r.isr.count(NodeId(3)) == 0);
  auto off = h.r(1).propose(data(1), true);
  REQUIRE(off.is_ok());
  h.tick_all(3, 3);
  CHECK(h.r(1).high_watermark() > *off);
}

TEST_CASE("partition: a follower truncates a diverging suffix to the leader's epoch end, not to its HW",
          "[consensus][unit]") {
  Harness h(3, 1);
  h.elect(1, 1);
  h.settle();
  REQUIRE(h.r(1).propose(data(1), true).is_ok());
  h.tick_all(3);
  REQUIRE(h.r(2).high_watermark() == Offset(1));
  // n1 appends two records nobody else gets, then loses leadership to n2.
  REQUIRE(h.r(1).propose(data(2), false).is_ok());
  REQUIRE(h.r(1).propose(data(3), false).is_ok());
  h.flush(1);
  h.wire.clear();
  REQUIRE(h.nodes[1].disk.size() == 3);
  h.elect(2, 2);
  h.settle();
  REQUIRE(h.r(2).propose(data(4), true).is_ok());
  h.tick_all(4);
  // n1 dropped exactly its two epoch-1 records past n2's end of epoch 1,
  // and took n2's epoch-2 record.
  REQUIRE(h.nodes[1].disk.size() == 2);
  CHECK(h.nodes[1].disk[0].data == data(1));
  CHECK(h.nodes[1].disk[1].data == data(4));
  CHECK(h.nodes[1].disk[1].epoch == Epoch(2));
  CHECK(h.r(1).epochs().start_of(Epoch(2)) == Offset(1));
}

TEST_CASE("partition: stale epochs, unknown partitions and malformed records are refused unchanged",
          "[consensus][unit]") {
  Harness h(3);
  h.elect(1, 1);
  h.settle();
  h.elect(2, 2);
  h.settle();
  // An older controller record.
  PartitionState old = h.state;
  old.leader = NodeId(1);
  old.leader_epoch = Epoch(1);
  CHECK(h.r(3).set_state(old).code() == core::Code::kFailedPrecondition);
  CHECK(h.r(3).leader() == NodeId(2));
  // A fetch from an older epoch: answered with kStaleEpoch, no state change.
  PartitionMessage fetch;
  fetch.type = PartitionMessageType::kFetch;
  fetch.partition = PartitionId(7);
  fetch.from = NodeId(3);
  fetch.to = NodeId(2);
  fetch.epoch = Epoch(1);
  REQUIRE(h.r(2).step(fetch).is_ok());
  PartitionReady rd = h.r(2).ready();
  REQUIRE(rd.messages.size() >= 1);
  CHECK(rd.messages.back().error == FetchError::kStaleEpoch);
  h.r(2).advance(Offset(0), Offset(0));
  // Another partition's message.
  fetch.partition = PartitionId(8);
  CHECK(h.r(2).step(fetch).code() == core::Code::kInvalidArgument);
  // A response whose records are not contiguous.
  PartitionMessage resp;
  resp.type = PartitionMessageType::kFetchResponse;
  resp.partition = PartitionId(7);
  resp.from = NodeId(2);
  resp.to = NodeId(3);
  resp.epoch = Epoch(2);
  resp.records = {Record{Epoch(2), Offset(5), "x"}};
  const Offset before = h.r(3).log_end();
  CHECK_FALSE(h.r(3).step(resp).is_ok());
  CHECK(h.r(3).log_end() == before);
}

TEST_CASE("partition: a follower behind the leader's log start gets its snapshot", "[consensus][unit]") {
  Harness h(3, 1);
  h.state.isr = {NodeId(1), NodeId(2)};  // n3 is away and out of the ISR
  h.elect(1, 1);
  h.settle(3);
  for (int i = 0; i < 5; ++i) REQUIRE(h.r(1).propose(data(i), true).is_ok());
  h.tick_all(3, 3);
  INFO("hw " << h.r(1).high_watermark().value() << " n2 end " << h.r(2).log_end().value() << " isr "
             << h.r(1).isr().size() << " durable " << h.r(1).durable_end().value() << " f2 "
             << (h.r(1).follower_ends().count(NodeId(2)) ? h.r(1).follower_ends().at(NodeId(2)).value() : 999)
             << " f3 " << (h.r(1).follower_ends().count(NodeId(3)) ? h.r(1).follower_ends().at(NodeId(3)).value() : 999));
  REQUIRE(h.nodes[1].applied == Offset(5));
  REQUIRE(h.r(1).compact(Offset(4)).is_ok());
  CHECK(h.r(1).log_start() == Offset(4));
  CHECK(h.r(1).compact(Offset(9)).code() == core::Code::kFailedPrecondition);
  // n3 fetches from 0: the leader answers with the snapshot's position.
  bool snapshot_seen = false;
  for (int t = 0; t < 20 && !snapshot_seen; ++t) {
    h.r(3).tick();
    h.flush(3);
    while (!h.wire.empty()) {
      PartitionMessage m = std::move(h.wire.front());
      h.wire.pop_front();
      if (m.type == PartitionMessageType::kFetchResponse && m.error == FetchError::kSnapshotNeeded) {
        snapshot_seen = true;
        CHECK(m.snapshot_offset == Offset(4));
        CHECK(m.snapshot_epoch == Epoch(1));
        REQUIRE(h.r(3).step(m).is_ok());
        PartitionReady rd = h.r(3).ready();
        REQUIRE(rd.snapshot.has_value());
        CHECK(rd.snapshot->offset == Offset(4));
        h.nodes[3].disk.assign(h.nodes[1].disk.begin(), h.nodes[1].disk.begin() + 4);  // the image
        h.nodes[3].applied = Offset(4);
        for (PartitionMessage& next : rd.messages) h.wire.push_back(std::move(next));  // its next fetch
        h.r(3).advance(Offset(4), Offset(4));
        break;
      }
      (void)h.nodes.at(m.to.value()).replica->step(m);
      h.flush(static_cast<int>(m.to.value()));
    }
  }
  REQUIRE(snapshot_seen);
  CHECK(h.r(3).log_start() == Offset(4));
  h.tick_all(5);
  CHECK(h.r(3).log_end() == Offset(5));
}

TEST_CASE("partition: a restarted replica refuses controller records older than its log", "[consensus][unit]") {
  PartitionConfig c;
  c.partition = PartitionId(1);
  c.id = NodeId(2);
  PartitionPersisted p;
  p.records = {Record{Epoch(3), Offset(0), "a"}, Record{Epoch(5), Offset(1), "b"}};
  auto r = PartitionReplica::create(c, p);
  REQUIRE(r.is_ok());
  CHECK(r->epoch() == Epoch(5));
  PartitionState st;
  st.replicas = {NodeId(1), NodeId(2)};
  st.isr = {NodeId(1), NodeId(2)};
  st.leader = NodeId(1);
  st.leader_epoch = Epoch(4);
  CHECK(r->set_state(st).code() == core::Code::kFailedPrecondition);
  CHECK(r->role() == PartitionRole::kNone);
  st.leader_epoch = Epoch(6);
  CHECK(r->set_state(st).is_ok());
  CHECK(r->role() == PartitionRole::kFollower);

  // Inconsistent persisted state is Corruption.
  PartitionPersisted gap;
  gap.records = {Record{Epoch(1), Offset(0), "a"}, Record{Epoch(1), Offset(2), "b"}};
  CHECK(PartitionReplica::create(c, gap).status().code() == core::Code::kCorruption);
  PartitionPersisted down;
  down.records = {Record{Epoch(2), Offset(0), "a"}, Record{Epoch(1), Offset(1), "b"}};
  CHECK(PartitionReplica::create(c, down).status().code() == core::Code::kCorruption);
}

TEST_CASE("epoch cache: end offsets per epoch, truncation keeps the snapshot's epoch", "[consensus][unit]") {
  EpochCache cache;
  cache.assign(Epoch(1), Offset(0));
  cache.assign(Epoch(3), Offset(10));
  cache.assign(Epoch(4), Offset(10));  // epoch 3 wrote nothing
  CHECK(cache.end_for(Epoch(1), Offset(0), Offset(20)) == std::pair{Epoch(1), Offset(10)});
  CHECK(cache.end_for(Epoch(2), Offset(0), Offset(20)) == std::pair{Epoch(1), Offset(10)});
  CHECK(cache.end_for(Epoch(3), Offset(0), Offset(20)) == std::pair{Epoch(3), Offset(10)});
  CHECK(cache.end_for(Epoch(9), Offset(0), Offset(20)) == std::pair{Epoch(4), Offset(20)});
  CHECK(cache.epoch_at(Offset(9)) == Epoch(1));
  cache.truncate_before(Offset(12));  // epoch 4 covers offset 11
  CHECK(cache.end_for(Epoch(1), Offset(12), Offset(20)).first == Epoch(0));
  CHECK(cache.end_for(Epoch(4), Offset(12), Offset(20)) == std::pair{Epoch(4), Offset(20)});
  cache.truncate_from(Offset(10));
  CHECK(cache.entries().empty());
}

}  // namespace
}  // namespace keel::consensus
