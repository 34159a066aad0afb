// Timeline: what happened in one simulated run, recorded for the timeline
// page (`keel-sim --timeline run.html`): one self-contained HTML file with a
// lane per host, the messages between hosts as arrows, the faults as bands,
// the client operations as bars, leader changes and the run's violations.
//
// The run harness owns a Timeline when RunOptions::timeline_path is set and
// hands it to the World (World::set_timeline). The network (each delivered
// or lost chunk), the world (host start, crash, kill, exit, pause, resume),
// the nemesis (each fault's begin and end) and the scenario's Raft checker
// (leader changes) report through that pointer, which is null otherwise: a
// run without a timeline pays one pointer test per hook.
//
// Invariants: recording draws no random numbers, schedules no events and
// writes no trace events, so a run's behaviour and digest are the same with
// and without a timeline. Every time is world (virtual) time in nanoseconds,
// never a host's drifting clock. Everything recorded has a named maximum; the
// message arrows keep the newest kMessagesMax (a failing run stops at its
// violation, so the newest are the ones that matter) and the page says so.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/status.h"
#include "core/time.h"
#include "workloads/history.h"

namespace keel::sim {

struct RunResult;

class Timeline {
 public:
  static constexpr size_t kMessagesMax = 200'000;
  static constexpr size_t kLanesMax = 1024;
  static constexpr size_t kHostEventsMax = 200'000;
  static constexpr size_t kFaultsMax = 100'000;
  static constexpr size_t kLeaderChangesMax = 100'000;
  static constexpr size_t kOperationsMax = 500'000;

  enum class Role : uint8_t { kNode, kClient };
  enum class HostEventKind : uint8_t { kStart, kCrash, kKill, kExit, kPause, kResume };
  // How a fault ends: a network fault at the next network heal, a disk fault
  // when its host's disk is restored, an instant fault never lasts.
  enum class FaultScope : uint8_t { kNetwork, kDisk, kInstant };

  struct Lane {
    std::string name;
    Role role = Role::kClient;
  };
  // One chunk of a stream, from its write to its arrival. `lost`: it arrived
  // at a broken connection, a partition or a closed socket and was dropped.
  struct Message {
    uint32_t from = 0;
    uint32_t to = 0;
    int64_t sent_ns = 0;
    int64_t arrived_ns = 0;
    uint32_t bytes = 0;
    bool lost = false;
  };
  struct HostEvent {
    uint32_t lane = 0;
    int64_t at_ns = 0;
    HostEventKind kind = HostEventKind::kStart;
  };
  // `lanes` are the hosts the fault hits (drawn strong), `peers` the other
  // side of it (drawn light): a partition's two sides, a blocked link's
  // receiver, a clogged link's other end.
  struct Fault {
    std::string kind;
    std::vector<uint32_t> lanes;
    std::vector<uint32_t> peers;
    std::string detail;
    int64_t begin_ns = 0;
    int64_t end_ns = 0;  // the planned end while open
    FaultScope scope = FaultScope::kInstant;
    bool open = false;
  };
  struct LeaderChange {
    uint32_t lane = 0;
    int64_t at_ns = 0;
    uint64_t term = 0;
    bool leads = true;  // false: the node stopped leading (crashes excluded)
  };
  struct Operation {
    uint32_t lane = 0;
    uint64_t id = 0;
    uint32_t client = 0;
    std::string kind;     // read, write, cas, incr, append
    std::string key;      // quoted, as in workloads::quote_bytes
    std::string input;    // the written value, "expected->new", the delta
    std::string result;   // what the client saw, or the outcome's name
    std::string outcome;  // ok, fail, indeterminate, pending
    int64_t invoke_ns = 0;
    int64_t complete_ns = -1;  // -1 while pending
  };

  Timeline() = default;
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;

  // The lane of host `name`, added (with `role`) if new. Lanes appear on the
  // page in the order they were added; beyond kLanesMax every further host
  // shares the last lane.
  uint32_t lane(std::string_view name, Role role = Role::kClient);

  // --- Hooks (called by the simulator while the run goes on) -------------
  void message(std::string_view from, std::string_view to, core::Instant sent, core::Instant arrived, size_t bytes,
               bool lost);
  void host_event(std::string_view host, HostEventKind kind, core::Instant at);
  // A fault begins at `begin` and is planned to end at `planned_end` (equal
  // to `begin` for an instant fault).
  void fault(std::string kind, const std::vector<std::string>& hosts, const std::vector<std::string>& peers,
             std::string detail, core::Instant begin, core::Instant planned_end, FaultScope scope);
  // Every block and clog of the network was lifted at `at`.
  void network_healed(core::Instant at);
  // `host`'s disk runs without faults again from `at`.
  void disk_restored(std::string_view host, core::Instant at);
  // The fault window closed at `at`: every fault still open ends.
  void healed(core::Instant at);
  void leader_change(std::string_view host, uint64_t term, bool leads, core::Instant at);

  // --- At the end of the run ----------------------------------------------
  // Copies the operations of `history`; `host_of` names the host each client
  // ran on.
  void add_operations(const workloads::History& history,
                      const std::function<std::string(workloads::ClientId)>& host_of);
  // The run ended at `end`; `failure`, if set, is when an online checker
  // stopped it. Closes the faults still open.
  void finish(core::Instant end, std::optional<core::Instant> failure);

  const std::vector<Lane>& lanes() const { return lanes_; }
  // The kept message arrows, oldest first.
  std::vector<Message> messages() const;
  uint64_t messages_total() const { return messages_total_; }
  const std::vector<HostEvent>& host_events() const { return host_events_; }
  const std::vector<Fault>& faults() const { return faults_; }
  const std::vector<LeaderChange>& leader_changes() const { return leader_changes_; }
  const std::vector<Operation>& operations() const { return operations_; }
  // Records that did not fit under their maximum (messages excluded).
  uint64_t dropped() const { return dropped_; }
  int64_t end_ns() const { return end_ns_; }
  std::optional<int64_t> heal_ns() const { return heal_ns_; }
  std::optional<int64_t> failure_ns() const { return failure_ns_; }

 private:
  void close_faults(FaultScope scope, std::optional<uint32_t> lane, int64_t at_ns);

  std::vector<Lane> lanes_;
  std::unordered_map<std::string, uint32_t> lane_by_name_;
  // A ring of the newest kMessagesMax messages; messages_next_ is the
  // oldest once the ring is full.
  std::vector<Message> messages_;
  size_t messages_next_ = 0;
  uint64_t messages_total_ = 0;
  std::vector<HostEvent> host_events_;
  std::vector<Fault> faults_;
  std::vector<LeaderChange> leader_changes_;
  std::vector<Operation> operations_;
  uint64_t dropped_ = 0;
  int64_t end_ns_ = 0;
  std::optional<int64_t> heal_ns_;
  std::optional<int64_t> failure_ns_;
};

// The page's embedded data, one JSON object:
//   {"version":1, "seed":S, "workload":"register", "pass":false,
//    "digest":"0123abcd…", "events":N, "end_ns":T, "heal_ns":T|null,
//    "failure_ns":T|null, "swarm":"…", "faults_count":{"kill":3,…},
//    "ops_count":{"ok":…,"fail":…,"indeterminate":…},
//    "lanes":[{"name":"n1","role":"node"},…],
//    "messages":[[from_lane,to_lane,sent_ns,arrived_ns,bytes,lost(0|1)],…],
//    "messages_total":N, "messages_capped":bool, "dropped":N,
//    "host_events":[[lane,at_ns,"start|crash|kill|exit|pause|resume"],…],
//    "faults":[{"kind":"partition","lanes":[…],"peers":[…],"detail":"…",
//               "begin_ns":T,"end_ns":T,"scope":"network|disk|instant"},…],
//    "leaders":[[lane,at_ns,term,leads(0|1)],…],
//    "ops":[[lane,id,client,"kind","key","input","result","outcome",
//            invoke_ns,complete_ns(-1 pending)],…],
//    "violations":[{"text":"…","t_ns":T,"time_known":bool,"op":id|-1},…]}
// Strings are JSON-escaped with '<', '>' and '&' as \u escapes, so the blob
// can sit inside a <script> element.
std::string timeline_json(const Timeline& timeline, const RunResult& result);

// The whole page: inline CSS and script, no external resources.
std::string timeline_html(const Timeline& timeline, const RunResult& result);

// Writes timeline_html() to `path`. IoError if the file cannot be written.
core::Status write_timeline_html(const Timeline& timeline, const RunResult& result, const std::string& path);

}  // namespace keel::sim
