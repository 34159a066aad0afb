// One replica of one partition, replicated Kafka-style (in-sync replicas),
// as a pure, deterministic state machine beside Raft (doc/ARCHITECTURE.md
// section 9; invariants P1-P8 in doc/INVARIANTS.md).
//
// A PartitionReplica does no I/O, never suspends and reads no clock (time
// advances only through tick()). The node drives it exactly like Raft:
//
//   loop:
//     tick() on a timer; step(msg) for each received message;
//     set_state() whenever the controller's record of the partition changes;
//     propose() for client writes on the leader;
//     if has_ready():
//       PartitionReady rd = ready();
//       1. truncate the stored log at rd.truncate_from (if set), install
//          rd.snapshot (if set), append rd.records, durably;
//       2. only then send rd.messages and rd.isr_request;
//       3. apply the records below rd.committed_end that are not applied yet;
//       advance(durable end of the stored log);
//
// The protocol, with the Kafka proposals it follows:
//   - The controller names the leader and its leader epoch (set_state). The
//     leader tags every record it appends with its epoch; a replica keeps the
//     start offset of every epoch in its log (the leader-epoch cache, KIP-101).
//   - Followers fetch from their log end. A fetch carries the epoch of the
//     follower's last record; the leader answers "diverging" when its own
//     history ends that epoch earlier (KIP-595's in-band check), and the
//     follower truncates to where the two histories agree. A follower never
//     truncates to its high watermark: HW-based truncation loses committed
//     records (KIP-101, scenario 1).
//   - The leader sends only records it holds durably, and a follower reports
//     only what it holds durably, so every offset counted towards the high
//     watermark survives a power loss of every replica.
//   - HW = the minimum durable log end over the ISR (plus any replica whose
//     addition is pending, KIP-497), advanced only while the ISR has at least
//     min_insync_replicas members. It never decreases.
//   - The leader asks the controller to shrink the ISR when a follower has
//     not caught up within replica_lag_max_ticks, and to expand it once a
//     follower has fetched past both the start of the current epoch and the
//     HW (P7). A request names the partition epoch it was based on; the
//     controller refuses stale ones (P10). One request is in flight at a time.
//   - A follower whose fetch offset the leader no longer holds (compacted)
//     gets the leader's snapshot at its log start instead (P8).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/cover.h"
#include "core/ids.h"
#include "core/status.h"

namespace keel::consensus {

using core::Epoch;
using core::NodeId;
using core::Offset;
using core::PartitionId;

struct Record {
  Epoch epoch;
  Offset offset;
  core::Bytes data;

  bool operator==(const Record&) const = default;
};

// The controller's record of one partition (consensus/controller.h).
struct PartitionState {
  std::vector<NodeId> replicas;  // assignment order = leader preference
  NodeId leader;                 // NodeId(0): no leader (offline)
  Epoch leader_epoch;
  // Bumped by the controller on every change of this record.
  uint64_t partition_epoch = 0;
  std::set<NodeId> isr;

  bool operator==(const PartitionState&) const = default;
};

// The leader epoch cache: the start offset of every epoch that has records
// in the log (or, for the leader's own epoch, will have), ascending in both.
class EpochCache {
 public:
  struct Entry {
    Epoch epoch;
    Offset start;
    bool operator==(const Entry&) const = default;
  };
  // Records that `epoch` starts at `start`. No-op if `epoch` is already the
  // latest. Precondition: epoch > latest(), start >= latest's start.
  void assign(Epoch epoch, Offset start);
  // The log was truncated at `end` (records >= end are gone): drops the
  // epochs that started at or after it.
  void truncate_from(Offset end);
  // The log now starts at `start` (compaction or snapshot): forgets epochs
  // that ended before it, keeping the one that covers `start - 1`.
  void truncate_before(Offset start);
  void clear() { entries_.clear(); }
  // The largest epoch <= `epoch` and the offset where it ends in a log that
  // ends at `log_end` (the next epoch's start, or log_end). {Epoch(0),
  // log_start} when no such epoch is known.
  std::pair<Epoch, Offset> end_for(Epoch epoch, Offset log_start, Offset log_end) const;
  // The epoch of the record at `offset`, Epoch(0) when unknown.
  Epoch epoch_at(Offset offset) const;
  Epoch latest() const { return entries_.empty() ? Epoch() : entries_.back().epoch; }
  // Start offset of `epoch`, if it is in the cache.
  std::optional<Offset> start_of(Epoch epoch) const;
  const std::vector<Entry>& entries() const { return entries_; }

 private:
  std::vector<Entry> entries_;
};

enum class FetchError : uint8_t {
  kNone = 0,
  kStaleEpoch,       // the fetcher's leader epoch is older than the leader's
  kUnknownEpoch,     // the fetcher knows a newer epoch than this "leader"
  kNotLeader,        // the addressee does not lead this partition
  kDiverging,        // the fetcher's log diverges: truncate, then fetch again
  kSnapshotNeeded,   // the leader no longer holds the fetch offset
};
std::string_view fetch_error_name(FetchError error);

enum class PartitionMessageType : uint8_t { kFetch = 0, kFetchResponse };

struct PartitionMessage {
  PartitionMessageType type = PartitionMessageType::kFetch;
  PartitionId partition;
  NodeId from;
  NodeId to;
  // The sender's leader epoch (a fetch: the epoch the follower believes in).
  Epoch epoch;
  // Echoed by the response: a follower ignores answers to older fetches.
  uint64_t fetch_id = 0;

  // kFetch: the follower's log end (all durable), the epoch of its last
  // record (Epoch(0) for an empty log), and its node's incarnation.
  Offset fetch_offset;
  Epoch last_epoch;
  uint64_t incarnation = 0;

  // kFetchResponse.
  FetchError error = FetchError::kNone;
  std::vector<Record> records;  // contiguous, starting at fetch_offset
  Offset high_watermark;
  // kDiverging: the leader's largest epoch <= last_epoch and where it ends.
  Epoch diverging_epoch;
  Offset diverging_end;
  // kSnapshotNeeded: the leader's snapshot covers [0, snapshot_offset) and
  // its last record had snapshot_epoch. The replica leaves snapshot_data
  // empty; the node attaches the state-machine image taken at that offset.
  Offset snapshot_offset;
  Epoch snapshot_epoch;
  core::Bytes snapshot_data;
};

// The leader's request to the controller (Kafka's AlterPartition).
struct IsrRequest {
  PartitionId partition;
  NodeId leader;
  Epoch leader_epoch;
  uint64_t partition_epoch = 0;  // the record this change is based on
  std::set<NodeId> isr;          // the proposed ISR
  // The incarnation each added member fetched with (P7, KIP-903).
  std::map<NodeId, uint64_t> incarnations;

  bool operator==(const IsrRequest&) const = default;
};

struct PartitionSnapshot {
  Offset offset;  // the image covers every record below it
  Epoch epoch;    // the epoch of the record at offset - 1
  core::Bytes data;
};

struct PartitionReady {
  // Drop every stored record at or after this offset, first.
  std::optional<Offset> truncate_from;
  // Install: replace the whole stored log with an empty one starting at
  // snapshot->offset and load the image into the state machine.
  std::optional<PartitionSnapshot> snapshot;
  // Append after the truncation / snapshot, contiguous.
  std::vector<Record> records;
  // Send only once the three fields above are durable.
  std::vector<PartitionMessage> messages;
  std::optional<IsrRequest> isr_request;
  // Records below this offset are committed (apply those that are durable).
  Offset committed_end;

  bool empty_of_work() const {
    return !truncate_from && !snapshot && records.empty() && messages.empty() && !isr_request;
  }
};

struct PartitionConfig {
  PartitionId partition;
  NodeId id;
  // The ISR must hold at least this many replicas for HW to advance (and for
  // an acks=all write to be accepted).
  size_t min_insync_replicas = 2;
  // A follower that has not caught up with the leader's log end for this
  // many ticks leaves the ISR.
  uint64_t replica_lag_max_ticks = 25;
  // A follower re-sends its fetch if no answer came within this many ticks.
  uint64_t fetch_timeout_ticks = 10;
  // The leader holds a fetch that finds nothing new for at most this long.
  uint64_t fetch_wait_max_ticks = 3;
  // An ISR request without an answer is sent again after this many ticks.
  uint64_t isr_request_timeout_ticks = 20;
  // At most this many records / bytes of record data per fetch response.
  size_t fetch_records_max = 256;
  uint64_t fetch_bytes_max = 1 << 20;
  // Back-pressure: propose() refuses beyond this many uncommitted records.
  uint64_t uncommitted_records_max = 8192;
  core::Coverage* coverage = nullptr;

  // TEST ONLY. Deliberate protocol bugs for the simulator to catch.
  //   hw_over_all_replicas: HW is the minimum over every replica that
  //     fetched, ignoring ISR membership (a lagging non-member holds it back
  //     or a shrunk one is forgotten) - computed over all assigned replicas
  //     that are fetching, not the ISR.
  //   truncate_to_hw: on divergence a follower truncates to its HW and
  //     fetches from there without the epoch check (pre-KIP-101 Kafka).
  //   isr_add_before_epoch_start: a follower joins the ISR once it reaches
  //     the HW, even before the current epoch's start.
  bool test_bug_hw_over_all_replicas = false;
  bool test_bug_truncate_to_hw = false;
  bool test_bug_isr_add_before_epoch_start = false;

  core::Status validate() const;
};

// What a replica restarts from: its durable log (possibly empty, starting at
// log_start after a snapshot whose last record had snapshot_epoch) and its
// state machine's durable applied offset.
struct PartitionPersisted {
  Offset log_start;
  Epoch snapshot_epoch;
  std::vector<Record> records;  // contiguous from log_start
  Offset applied;               // <= log end; becomes the initial HW
};

enum class PartitionRole : uint8_t { kNone = 0, kFollower, kLeader };
std::string_view partition_role_name(PartitionRole role);

class PartitionReplica {
 public:
  // Corruption when `persisted` is inconsistent (records not contiguous,
  // epochs decreasing, applied beyond the log); InvalidArgument for a bad
  // config. The replica starts with no role until set_state().
  static core::Result<PartitionReplica> create(const PartitionConfig& config, PartitionPersisted persisted);

  // The controller's record changed (or is being re-delivered). A newer
  // leader epoch naming this replica makes it leader; naming another makes
  // it a follower of that node; the same epoch updates the ISR and partition
  // epoch (an answer to an ISR request). A record older than what the
  // replica knows is refused with FailedPrecondition and changes nothing.
  core::Status set_state(const PartitionState& state);

  // This node restarted as a new incarnation; fetches carry it.
  void set_incarnation(uint64_t incarnation) { incarnation_ = incarnation; }

  void tick();

  // InvalidArgument for a malformed message (wrong partition or recipient,
  // records that are not contiguous or whose epochs exceed the sender's);
  // FailedPrecondition for a stale one (older epoch, answer to an older
  // fetch). Either way nothing changes. Ok otherwise.
  core::Status step(const PartitionMessage& msg);

  // Leader only: appends `data` and returns its offset. FailedPrecondition
  // when not the leader; Unavailable("NOREPLICAS") when require_min_isr and
  // the ISR is below min_insync_replicas; Unavailable under back-pressure.
  core::Result<Offset> propose(core::Bytes data, bool require_min_isr);

  // The node took a durable state-machine snapshot covering every record
  // below `offset`; the replica may forget them (and serve this snapshot to
  // followers that need it). FailedPrecondition unless log_start < offset
  // <= applied.
  core::Status compact(Offset offset);

  bool has_ready() const;
  PartitionReady ready();
  // Everything in the last Ready is done; the stored log is durable up to
  // `durable_end` and the state machine has applied up to `applied`.
  void advance(Offset durable_end, Offset applied);

  // --- Observability ---------------------------------------------------
  PartitionId partition() const { return config_.partition; }
  NodeId id() const { return config_.id; }
  PartitionRole role() const { return role_; }
  Epoch epoch() const { return epoch_; }
  NodeId leader() const { return leader_; }
  uint64_t partition_epoch() const { return partition_epoch_; }
  const std::set<NodeId>& isr() const { return isr_; }
  Offset log_start() const { return log_start_; }
  // The epoch of the record at log_start() - 1 (Epoch(0) when the log
  // starts at 0).
  Epoch snapshot_epoch() const { return snapshot_epoch_; }
  Offset log_end() const { return Offset(log_start_.value() + log_.size()); }
  Offset durable_end() const { return durable_end_; }
  Offset high_watermark() const { return hw_; }
  // The log end when this replica (this object, this process) last became
  // leader: once the HW reaches it, every record committed before the
  // election is below the HW, so a read at the HW is linearizable. (The
  // start of the current epoch is not enough: a leader restarted into the
  // same epoch starts from a HW below records it had committed.)
  Offset read_fence() const { return read_fence_; }
  Offset applied() const { return applied_; }
  const EpochCache& epochs() const { return epochs_; }
  // nullptr unless log_start <= offset < log_end.
  const Record* record_at(Offset offset) const;
  // Leader: the durable log end each replica last fetched with in this
  // epoch (absent until it fetched).
  const std::map<NodeId, Offset>& follower_ends() const { return follower_end_; }
  // Counters for metrics.
  uint64_t isr_shrinks_requested() const { return isr_shrinks_; }
  uint64_t isr_expands_requested() const { return isr_expands_; }

 private:
  explicit PartitionReplica(const PartitionConfig& config) : config_(config) {}

  void become_leader(const PartitionState& state);
  void become_follower(const PartitionState& state);
  void send_fetch();
  void handle_fetch(const PartitionMessage& msg);
  void handle_fetch_response(const PartitionMessage& msg);
  // Answers `msg` (a fetch already accepted) with records from its offset.
  void answer_fetch(NodeId to, uint64_t fetch_id, Offset from);
  void maybe_advance_hw();
  void maybe_request_isr_change();
  void truncate(Offset end);
  // Drops the epochs that start at or after `end`, keeping the snapshot's.
  void forget_epochs_from(Offset end);
  // A message from this replica in its current epoch.
  PartitionMessage message(PartitionMessageType type, NodeId to) const;
  PartitionMessage reply_to(const PartitionMessage& msg, FetchError error) const;
  Epoch last_epoch() const;

  PartitionConfig config_;
  PartitionRole role_ = PartitionRole::kNone;
  Epoch epoch_;
  NodeId leader_;
  uint64_t partition_epoch_ = 0;
  std::vector<NodeId> replicas_;
  std::set<NodeId> isr_;
  uint64_t incarnation_ = 0;

  Offset log_start_;
  Epoch snapshot_epoch_;  // epoch of the record at log_start - 1
  std::vector<Record> log_;
  EpochCache epochs_;
  Offset durable_end_;
  Offset hw_;
  Offset read_fence_;
  Offset applied_;
  uint64_t now_ = 0;  // ticks

  // Follower state.
  uint64_t fetch_id_ = 0;
  bool fetch_outstanding_ = false;
  uint64_t fetch_sent_at_ = 0;

  // Leader state, per follower.
  std::map<NodeId, Offset> follower_end_;
  std::map<NodeId, uint64_t> follower_incarnation_;
  std::map<NodeId, uint64_t> caught_up_at_;   // last tick the follower was caught up
  std::map<NodeId, uint64_t> last_fetch_at_;
  std::map<NodeId, Offset> end_at_last_fetch_;  // leader's log end at that fetch
  struct HeldFetch {
    uint64_t fetch_id;
    Offset from;
    uint64_t since;
  };
  std::map<NodeId, HeldFetch> held_;
  std::optional<IsrRequest> isr_inflight_;
  uint64_t isr_sent_at_ = 0;
  bool isr_send_pending_ = false;
  uint64_t isr_shrinks_ = 0;
  uint64_t isr_expands_ = 0;

  // The pending Ready.
  std::optional<Offset> truncate_from_;
  std::optional<PartitionSnapshot> snapshot_;
  Offset persist_from_;  // the first record not yet handed out in a Ready
  std::vector<PartitionMessage> outbox_;
  Offset reported_committed_;
};

}  // namespace keel::consensus
