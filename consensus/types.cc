#include "consensus/types.h"

namespace keel::consensus {

std::set<NodeId> ConfigState::members() const {
  std::set<NodeId> all = voters;
  all.insert(voters_outgoing.begin(), voters_outgoing.end());
  all.insert(learners.begin(), learners.end());
  return all;
}

namespace {

// A configuration never has more members than this; a larger count in an
// entry can only come from corrupted bytes.
constexpr uint32_t kConfigMembersMax = 1024;

void put_set(Bytes& out, const std::set<NodeId>& ids) {
  core::put_u32(out, static_cast<uint32_t>(ids.size()));
  for (NodeId id : ids) core::put_u32(out, id.value());
}

bool get_set(core::ByteView& in, std::set<NodeId>& ids) {
  if (in.size() < 4) return false;
  uint32_t count = core::get_u32(in.data());
  in.remove_prefix(4);
  if (count > kConfigMembersMax || in.size() < 4ull * count) return false;
  for (uint32_t i = 0; i < count; ++i) {
    uint32_t id = core::get_u32(in.data());
    in.remove_prefix(4);
    if (id == kNoNode.value() || !ids.insert(NodeId(id)).second) return false;
  }
  return true;
}

}  // namespace

// Format: "KCF1" magic, then three sets (voters, voters_outgoing, learners),
// each a u32 count followed by that many u32 node ids, all little endian.
Bytes encode_config(const ConfigState& config) {
  Bytes out = "KCF1";
  put_set(out, config.voters);
  put_set(out, config.voters_outgoing);
  put_set(out, config.learners);
  return out;
}

core::Result<ConfigState> decode_config(core::ByteView data) {
  if (data.substr(0, 4) != "KCF1") return core::corruption("config entry: bad magic");
  data.remove_prefix(4);
  ConfigState config;
  if (!get_set(data, config.voters) || !get_set(data, config.voters_outgoing) ||
      !get_set(data, config.learners)) {
    return core::corruption("config entry: malformed member set");
  }
  if (!data.empty()) return core::corruption("config entry: trailing bytes");
  for (NodeId id : config.learners) {
    if (config.voters.count(id) > 0) return core::corruption("config entry: learner is also a voter");
  }
  return config;
}

std::string_view message_type_name(MessageType type) {
  switch (type) {
    case MessageType::kPreVote: return "PreVote";
    case MessageType::kPreVoteResponse: return "PreVoteResponse";
    case MessageType::kVote: return "Vote";
    case MessageType::kVoteResponse: return "VoteResponse";
    case MessageType::kAppend: return "Append";
    case MessageType::kAppendResponse: return "AppendResponse";
    case MessageType::kHeartbeat: return "Heartbeat";
    case MessageType::kHeartbeatResponse: return "HeartbeatResponse";
    case MessageType::kSnapshot: return "Snapshot";
    case MessageType::kTimeoutNow: return "TimeoutNow";
    case MessageType::kReadIndex: return "ReadIndex";
    case MessageType::kReadIndexResponse: return "ReadIndexResponse";
  }
  return "Unknown";
}

std::string_view role_name(Role role) {
  switch (role) {
    case Role::kFollower: return "follower";
    case Role::kPreCandidate: return "pre-candidate";
    case Role::kCandidate: return "candidate";
    case Role::kLeader: return "leader";
  }
  return "unknown";
}

}  // namespace keel::consensus
