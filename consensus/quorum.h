// Quorum arithmetic over a (possibly joint) configuration.
//
// Two questions are asked of a configuration: "what is the largest index (or
// any monotone per-voter value) held by a quorum?" — the commit rule — and
// "has this vote been won or lost?". In a joint configuration each answer
// needs a majority of BOTH voter sets (Raft thesis §4.3). An empty voter set
// places no constraint, so a non-joint configuration is simply the joint one
// with an empty outgoing half.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <set>

#include "consensus/types.h"

namespace keel::consensus {

// The largest v such that a majority of `voters` have value(voter) >= v.
// Returns UINT64_MAX for an empty set (no constraint).
uint64_t majority_value(const std::set<NodeId>& voters, const std::function<uint64_t(NodeId)>& value);

// min(majority_value(voters), majority_value(voters_outgoing)). Precondition:
// config.voters is not empty.
uint64_t quorum_value(const ConfigState& config, const std::function<uint64_t(NodeId)>& value);

enum class VoteResult : uint8_t { kPending, kWon, kLost };

// `votes` maps a responder to true (granted) or false (refused); voters not
// in the map have not answered. Won when both halves have a granting
// majority; lost when either half can no longer reach one.
VoteResult majority_vote(const std::set<NodeId>& voters, const std::map<NodeId, bool>& votes);
VoteResult quorum_vote(const ConfigState& config, const std::map<NodeId, bool>& votes);

}  // namespace keel::consensus
