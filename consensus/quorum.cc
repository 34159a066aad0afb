#include "consensus/quorum.h"

#include <algorithm>
#include <vector>

namespace keel::consensus {

uint64_t majority_value(const std::set<NodeId>& voters, const std::function<uint64_t(NodeId)>& value) {
  if (voters.empty()) return UINT64_MAX;
  std::vector<uint64_t> values;
  values.reserve(voters.size());
  for (NodeId id : voters) values.push_back(value(id));
  std::sort(values.begin(), values.end(), std::greater<uint64_t>());
  // With n voters a majority is n/2 + 1 of them; the (n/2 + 1)-th largest
  // value is held by at least that many.
  return values[voters.size() / 2];
}

uint64_t quorum_value(const ConfigState& config, const std::function<uint64_t(NodeId)>& value) {
  KEEL_ASSERT(!config.voters.empty());
  return std::min(majority_value(config.voters, value), majority_value(config.voters_outgoing, value));
}

VoteResult majority_vote(const std::set<NodeId>& voters, const std::map<NodeId, bool>& votes) {
  if (voters.empty()) return VoteResult::kWon;
  size_t granted = 0;
  size_t missing = 0;
  for (NodeId id : voters) {
    auto it = votes.find(id);
    if (it == votes.end()) {
      ++missing;
    } else if (it->second) {
      ++granted;
    }
  }
  size_t quorum = voters.size() / 2 + 1;
  if (granted >= quorum) return VoteResult::kWon;
  if (granted + missing >= quorum) return VoteResult::kPending;
  return VoteResult::kLost;
}

VoteResult quorum_vote(const ConfigState& config, const std::map<NodeId, bool>& votes) {
  VoteResult incoming = majority_vote(config.voters, votes);
  VoteResult outgoing = majority_vote(config.voters_outgoing, votes);
  if (incoming == VoteResult::kLost || outgoing == VoteResult::kLost) return VoteResult::kLost;
  if (incoming == VoteResult::kWon && outgoing == VoteResult::kWon) return VoteResult::kWon;
  return VoteResult::kPending;
}

}  // namespace keel::consensus
