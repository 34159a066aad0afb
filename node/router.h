// Router: where a client command goes in a partitioned cluster
// (doc/ARCHITECTURE.md section 9; the front end's half of issue "partitions").
//
// key -> slot (CRC16 of the key or its {hash tag}) -> partition (the
// controller's slot map) -> one of:
//   - kLocal      this node leads the partition: serve it here;
//   - kMoved      another node leads it: "-MOVED <slot> <host:port>";
//   - kCrossSlot  the command's keys hash to different slots;
//   - kDown       the partition has no leader, or its leader's address is
//                 unknown: "-CLUSTERDOWN";
//   - kNoKeys     a keyless command: served by any node.
// The redirect is a typed value; render_route_error() spells it as Redis
// Cluster does. A RouteTable is a snapshot of the controller's metadata as
// one node sees it; the same table renders CLUSTER SLOTS.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "consensus/controller.h"
#include "core/env.h"
#include "net/resp/command.h"
#include "net/resp/value.h"

namespace keel::node {

struct RouteTable {
  core::NodeId self;
  std::vector<consensus::PartitionState> partitions;  // by partition id
  std::map<core::NodeId, core::Address> client_addresses;

  // The table for node `self` from the controller's metadata; a node's
  // client address is taken from its record ("host:port"), unless
  // `addresses` names it.
  static RouteTable from(const consensus::ClusterMetadata& metadata, core::NodeId self,
                         const std::map<core::NodeId, core::Address>& addresses = {});
};

struct Route {
  enum class Kind : uint8_t { kLocal, kMoved, kCrossSlot, kDown, kNoKeys };
  Kind kind = Kind::kNoKeys;
  uint16_t slot = 0;
  core::PartitionId partition;
  core::Address address;  // kMoved: the leader's client address

  bool operator==(const Route&) const = default;
};

// Routes `argv` (a command that passed its arity check) for `spec`.
Route route(const RouteTable& table, const net::resp::CommandSpec& spec, const net::resp::Argv& argv);

// The error text for a route that is not served here ("MOVED 3999
// 127.0.0.1:6381", "CROSSSLOT Keys in request don't hash to the same slot",
// "CLUSTERDOWN The cluster is down"); empty for kLocal and kNoKeys.
std::string render_route_error(const Route& route);

// One CLUSTER SLOTS entry: a slot range, its leader and its other replicas.
struct SlotRangeOwners {
  uint16_t first = 0;
  uint16_t last = 0;
  core::NodeId leader;
  std::vector<core::NodeId> replicas;  // followers, in assignment order
};
// Every partition that has a leader, in slot order.
std::vector<SlotRangeOwners> slot_owners(const RouteTable& table);

}  // namespace keel::node
