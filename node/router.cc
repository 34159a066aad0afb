#include "node/router.h"

#include <optional>

namespace keel::node {

RouteTable RouteTable::from(const consensus::ClusterMetadata& metadata, core::NodeId self,
                            const std::map<core::NodeId, core::Address>& addresses) {
  RouteTable t;
  t.self = self;
  t.partitions = metadata.partitions();
  for (const auto& [id, rec] : metadata.nodes()) {
    auto given = addresses.find(id);
    if (given != addresses.end()) {
      t.client_addresses[id] = given->second;
    } else if (auto parsed = core::Address::parse(rec.client_address); parsed.is_ok()) {
      t.client_addresses[id] = *parsed;
    }
  }
  return t;
}

Route route(const RouteTable& table, const net::resp::CommandSpec& spec, const net::resp::Argv& argv) {
  Route r;
  std::optional<uint16_t> slot;
  for (size_t i : net::resp::key_positions(spec, argv.size())) {
    const uint16_t s = net::resp::key_slot(argv[i]);
    if (slot && *slot != s) {
      r.kind = Route::Kind::kCrossSlot;
      return r;
    }
    slot = s;
  }
  if (!slot) return r;  // kNoKeys
  r.slot = *slot;
  const uint32_t partitions = static_cast<uint32_t>(table.partitions.size());
  if (partitions == 0) {
    r.kind = Route::Kind::kDown;
    return r;
  }
  r.partition = consensus::ClusterMetadata::partition_of_slot(*slot, partitions);
  const consensus::PartitionState& p = table.partitions[r.partition.value()];
  if (p.leader.value() == 0) {
    r.kind = Route::Kind::kDown;
    return r;
  }
  if (p.leader == table.self) {
    r.kind = Route::Kind::kLocal;
    return r;
  }
  auto addr = table.client_addresses.find(p.leader);
  if (addr == table.client_addresses.end()) {
    r.kind = Route::Kind::kDown;
    return r;
  }
  r.kind = Route::Kind::kMoved;
  r.address = addr->second;
  return r;
}

std::string render_route_error(const Route& route) {
  switch (route.kind) {
    case Route::Kind::kMoved: return "MOVED " + std::to_string(route.slot) + " " + route.address.to_string();
    case Route::Kind::kCrossSlot: return "CROSSSLOT Keys in request don't hash to the same slot";
    case Route::Kind::kDown: return "CLUSTERDOWN The cluster is down";
    case Route::Kind::kLocal:
    case Route::Kind::kNoKeys: return "";
  }
  return "";
}

std::vector<SlotRangeOwners> slot_owners(const RouteTable& table) {
  std::vector<SlotRangeOwners> out;
  const uint32_t partitions = static_cast<uint32_t>(table.partitions.size());
  for (uint32_t p = 0; p < partitions; ++p) {
    const consensus::PartitionState& st = table.partitions[p];
    if (st.leader.value() == 0) continue;
    const auto [first, last] = consensus::ClusterMetadata::slot_range(core::PartitionId(p), partitions);
    SlotRangeOwners o{first, last, st.leader, {}};
    for (core::NodeId n : st.replicas) {
      if (n != st.leader) o.replicas.push_back(n);
    }
    out.push_back(std::move(o));
  }
  return out;
}

}  // namespace keel::node
