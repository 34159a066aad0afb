// The vocabulary of keel's Raft: log entries, persisted state, configurations,
// snapshots and the messages Raft nodes exchange.
//
// Everything here is a plain value type so that the node layer can encode it
// (Cap'n Proto on the wire, its own record format on disk) and the simulator's
// checkers can copy and compare it. Raft itself never encodes a Message: the
// codec lives with the transport. The one encoding defined here is that of a
// configuration-change entry's payload (encode_config/decode_config), because
// Raft must read it back out of its own log.
//
// Invariants of well-formed values:
//   - an Entry's index is > 0 and its term is > 0 (index 0 / term 0 is the
//     empty log's sentinel);
//   - the entries of an append message are contiguous, start at index + 1,
//     and have non-decreasing terms no greater than the message's term.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/ids.h"
#include "core/status.h"

namespace keel::consensus {

using core::Bytes;
using core::LogIndex;
using core::NodeId;
using core::Term;

// NodeId 0 means "nobody" (no vote cast, no leader known).
inline constexpr NodeId kNoNode{0};

enum class EntryType : uint8_t {
  kNormal = 0,        // an application command; data is opaque to Raft
  kConfigChange = 1,  // data is encode_config(new configuration)
  kNoop = 2,          // appended by every new leader; data is empty
};

struct Entry {
  Term term;
  LogIndex index;
  EntryType type = EntryType::kNormal;
  Bytes data;

  bool operator==(const Entry&) const = default;
};

// The state that must be durable before any message that depends on it is
// sent (see Ready): the current term, the vote cast in it, and the commit
// index (persisting commit is an optimisation for restart, not a safety need).
struct HardState {
  Term term;
  NodeId vote = kNoNode;
  LogIndex commit;

  bool operator==(const HardState&) const = default;
};

// A cluster configuration. Outside a joint configuration voters_outgoing is
// empty. In a joint configuration (Raft thesis §4.3, "C_old,new") elections and
// commitment need a majority of `voters` AND a majority of `voters_outgoing`.
// Learners receive the log but never vote and never count towards a quorum.
// A node is never both a voter and a learner of the same configuration.
struct ConfigState {
  std::set<NodeId> voters;
  std::set<NodeId> voters_outgoing;
  std::set<NodeId> learners;

  bool joint() const { return !voters_outgoing.empty(); }
  bool is_voter(NodeId id) const { return voters.count(id) > 0 || voters_outgoing.count(id) > 0; }
  bool is_learner(NodeId id) const { return learners.count(id) > 0; }
  bool contains(NodeId id) const { return is_voter(id) || is_learner(id); }
  // Every member (voters of both halves and learners), in ascending order.
  std::set<NodeId> members() const;

  bool operator==(const ConfigState&) const = default;
};

// Payload of an EntryType::kConfigChange entry.
Bytes encode_config(const ConfigState& config);
// Rejects malformed bytes with Corruption.
core::Result<ConfigState> decode_config(core::ByteView data);

// Describes the state captured by a snapshot: everything up to and including
// `index`, whose entry had term `term`, with the configuration in force there.
struct SnapshotMeta {
  LogIndex index;
  Term term;
  ConfigState config;

  bool operator==(const SnapshotMeta&) const = default;
};

struct Snapshot {
  SnapshotMeta meta;
  Bytes data;  // the application's state machine image; opaque to Raft
};

enum class MessageType : uint8_t {
  kPreVote = 0,          // "would you vote for me in term `term`?" (thesis §9.6)
  kPreVoteResponse,
  kVote,                 // RequestVote (§5.2)
  kVoteResponse,
  kAppend,               // AppendEntries (§5.3)
  kAppendResponse,       // also answers kSnapshot
  kHeartbeat,            // empty AppendEntries carrying only commit and a round
  kHeartbeatResponse,
  kSnapshot,             // InstallSnapshot (§7)
  kTimeoutNow,           // leadership transfer: "campaign now" (thesis §3.10)
  kReadIndex,            // follower forwards a read-index request to the leader
  kReadIndexResponse,    // leader answers it with the read index
};

std::string_view message_type_name(MessageType type);

struct Message {
  MessageType type = MessageType::kAppend;
  NodeId from = kNoNode;
  NodeId to = kNoNode;
  Term term;  // the sender's term (a pre-vote carries the term it would run in)

  // kAppend: index/log_term of the entry preceding `entries`.
  // kVote/kPreVote: the candidate's last index/last term.
  // kAppendResponse: on success the follower's last matching index; on
  //   rejection the rejected prev index, with reject_hint/log_term below.
  // kReadIndexResponse: the read index.
  LogIndex index;
  Term log_term;
  std::vector<Entry> entries;
  LogIndex commit;

  // Vote/pre-vote and append responses: true if refused.
  bool reject = false;
  // kAppendResponse rejection: the follower's guess of the last index at
  // which its log may still match, with log_term = its term there (fast
  // back-off, §5.3 "optimization").
  LogIndex reject_hint;

  // kVote/kPreVote: true when the election was started by kTimeoutNow, so
  // voters must not refuse it just because they recently heard from a leader.
  bool transfer = false;

  // kHeartbeat/kHeartbeatResponse: the leader's heartbeat round, echoed back,
  // which confirms leadership for ReadIndex and extends the lease.
  uint64_t round = 0;
  // kReadIndex/kReadIndexResponse: the requester's opaque request context.
  Bytes context;

  // kSnapshot: the snapshot's metadata. Raft leaves snapshot.data EMPTY in
  // outgoing messages; the node attaches its state-machine snapshot taken at
  // snapshot.meta.index (or any later one it holds, updating meta to match)
  // before sending. See Raft::report_snapshot for failures.
  std::optional<Snapshot> snapshot;
};

// A linearizable read point: once the state machine has applied `index`, a
// read tagged `context` may be served from it.
struct ReadState {
  LogIndex index;
  Bytes context;

  bool operator==(const ReadState&) const = default;
};

enum class Role : uint8_t { kFollower = 0, kPreCandidate, kCandidate, kLeader };
std::string_view role_name(Role role);

}  // namespace keel::consensus
