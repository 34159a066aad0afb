// PartitionDriver: drives one pure consensus::PartitionReplica on an Env,
// as RaftNode drives Raft (doc/ARCHITECTURE.md section 9).
//
// One fiber ("partition.loop") is the only one that touches the replica:
// it ticks, steps received messages, applies controller records, proposes
// client writes, then handles each Ready in order:
//   1. durable: a snapshot install (PartitionStorage::begin_install, the
//      image into the engine, complete_install) or the truncation and
//      records (PartitionStorage::save, synced);
//   2. only then the messages (a snapshot answer gets the state image
//      attached here) and the ISR request leave through the transport;
//   3. records below the committed end are applied to the PartitionKv, in
//      offset order, and their proposers answered;
//   4. advance(); every `compact_every` applied records the engine is
//      persisted and the log compacted up to what it covers.
// A storage error stops the driver (the page cache can no longer be
// trusted): wait() returns it.
#pragma once

#include <algorithm>
#include <deque>
#include <map>
#include <memory>
#include <string>

#include "consensus/partition.h"
#include "core/env.h"
#include "core/fiber_group.h"
#include "core/sync.h"
#include "node/partition_kv.h"
#include "node/partition_storage.h"
#include "storage/kv_engine.h"

namespace keel::node {

// Where a driver's messages go (the peer bus in a node; a test's wiring).
class PartitionTransport {
 public:
  virtual ~PartitionTransport() = default;
  virtual void send(const consensus::PartitionMessage& message) = 0;
  virtual void send_isr_request(const consensus::IsrRequest& request) = 0;
};

struct PartitionDriverOptions {
  consensus::PartitionConfig replica;
  // The cluster's partition count (the slot map) and this node's
  // incarnation (fetches carry it).
  uint32_t partitions = 64;
  uint64_t incarnation = 1;
  std::string dir = "partition";
  core::Duration tick_interval = core::Duration::millis(10);
  core::Duration proposal_timeout = core::Duration::seconds(5);
  // Persist the engine and compact the log every this many applied records.
  uint64_t compact_every = 1000;
  size_t inbox_max = 8192;
  // TEST ONLY: records are applied (and their writers answered) once this
  // replica holds them durably, before they are committed (the simulator
  // must catch it).
  bool test_bug_apply_before_commit = false;
};

class PartitionDriver {
 public:
  PartitionDriver(core::Env& env, PartitionDriverOptions options, storage::KvEngine& engine,
                  PartitionTransport& transport);
  ~PartitionDriver();
  PartitionDriver(const PartitionDriver&) = delete;
  PartitionDriver& operator=(const PartitionDriver&) = delete;

  // Opens storage (settling an interrupted install against the engine),
  // builds the replica and starts the loop. May suspend.
  core::Status start();
  // Until the driver stops (a storage failure, or stop()). May suspend.
  core::Status wait();
  void stop();

  // Inputs, from any fiber of the node; the loop handles them in order.
  void receive(consensus::PartitionMessage message);
  void set_state(consensus::PartitionState state);

  // Leader only: proposes a command and waits for its reply: once the
  // record is committed and applied (acks=all), or once it is durable on
  // this leader (acks=1; the reply then says only that). Errors:
  // FailedPrecondition (not the leader), Unavailable ("NOREPLICAS ...",
  // back-pressure, stopping), Aborted (the outcome is unknown: leadership
  // was lost or the record truncated after it was proposed). May suspend.
  core::Result<core::Bytes> propose(core::Bytes command, bool acks_all);

  // The node's controller lease, on this node's clock: granted with the
  // controller's records (set_state first, then set_lease), it lets the
  // leader serve linearizable reads until `until`.
  void set_lease(core::Instant until) { lease_until_ = std::max(lease_until_, until); }
  // Leader only: returns once kv() reflects every write committed before
  // the call - under a valid lease, with no controller record pending, and
  // once this leader's HW reached its epoch's start (everything earlier
  // leaders committed). FailedPrecondition when not the leader; Unavailable
  // ("TRYAGAIN ...") otherwise. May suspend.
  core::Status read_barrier();

  const consensus::PartitionReplica* replica() const { return replica_.get(); }
  // False once stopped (stop(), or a storage failure: see wait()).
  bool running() const { return running_; }
  PartitionKv& kv() { return kv_; }
  uint64_t refused_inputs() const { return refused_inputs_; }
  uint64_t snapshots_installed() const { return snapshots_installed_; }

 private:
  struct Waiter {
    core::Epoch epoch;
    bool acks_all;
    std::shared_ptr<core::Promise<core::Bytes>> promise;
  };
  struct Pending {
    core::Bytes command;
    bool acks_all;
    std::shared_ptr<core::Promise<core::Bytes>> promise;
  };

  void loop();
  core::Status handle_ready();
  core::Status install(const consensus::PartitionSnapshot& snapshot);
  void attach_snapshot(consensus::PartitionMessage& message);
  void settle_waiters();
  core::Status maybe_compact();
  void fail(const core::Status& status);

  core::Env& env_;
  PartitionDriverOptions options_;
  storage::KvEngine& engine_;
  PartitionKv kv_;
  PartitionTransport& transport_;
  std::unique_ptr<PartitionStorage> storage_;
  std::unique_ptr<consensus::PartitionReplica> replica_;
  core::WaitList wakeup_;
  core::WaitList stopped_;
  core::WaitList applied_;  // readers wait here for the applied offset
  core::Instant lease_until_;
  std::deque<consensus::PartitionMessage> inbox_;
  std::deque<consensus::PartitionState> states_;
  std::deque<Pending> proposals_;
  std::map<uint64_t, Waiter> waiters_;  // by offset
  std::map<uint64_t, core::Bytes> replies_;  // applied replies awaiting their waiter
  uint64_t compacted_at_ = 0;
  uint64_t refused_inputs_ = 0;
  uint64_t snapshots_installed_ = 0;
  bool running_ = false;
  core::Status failure_;
  std::shared_ptr<bool> alive_ = std::make_shared<bool>(true);
  // Last: destroyed first, killing the loop before the members it uses.
  core::FiberGroup fibers_;
};

}  // namespace keel::node
