#include "consensus/controller.h"

#include <algorithm>
#include <utility>

#include "core/assert.h"

namespace keel::consensus {

namespace {

constexpr uint32_t kSlotCount = 16384;
// Bounds that keep a malformed command from allocating without limit.
constexpr uint32_t kPartitionsMax = kSlotCount;
constexpr uint32_t kNodesMax = 1024;

// --- A small binary codec: u8/u32/u64, length-prefixed strings and sets. --

void put_u8(core::Bytes& out, uint8_t v) { out.push_back(static_cast<char>(v)); }
void put_str(core::Bytes& out, std::string_view s) {
  core::put_u32(out, static_cast<uint32_t>(s.size()));
  out.append(s);
}

class Reader {
 public:
  explicit Reader(core::ByteView data) : data_(data) {}
  bool u8(uint8_t& v) {
    if (data_.size() < 1) return fail();
    v = static_cast<uint8_t>(data_[0]);
    data_.remove_prefix(1);
    return true;
  }
  bool u32(uint32_t& v) {
    if (data_.size() < 4) return fail();
    v = core::get_u32(data_.data());
    data_.remove_prefix(4);
    return true;
  }
  bool u64(uint64_t& v) {
    if (data_.size() < 8) return fail();
    v = core::get_u64(data_.data());
    data_.remove_prefix(8);
    return true;
  }
  bool str(std::string& s) {
    uint32_t n = 0;
    if (!u32(n) || data_.size() < n) return fail();
    s.assign(data_.substr(0, n));
    data_.remove_prefix(n);
    return true;
  }
  bool node(NodeId& id) {
    uint32_t v = 0;
    if (!u32(v)) return false;
    id = NodeId(v);
    return true;
  }
  bool done() const { return ok_ && data_.empty(); }

 private:
  bool fail() {
    ok_ = false;
    return false;
  }
  core::ByteView data_;
  bool ok_ = true;
};

void put_nodes(core::Bytes& out, const std::vector<NodeId>& nodes) {
  core::put_u32(out, static_cast<uint32_t>(nodes.size()));
  for (NodeId n : nodes) core::put_u32(out, n.value());
}
void put_node_set(core::Bytes& out, const std::set<NodeId>& nodes) {
  put_nodes(out, std::vector<NodeId>(nodes.begin(), nodes.end()));
}
bool get_nodes(Reader& r, std::vector<NodeId>& nodes) {
  uint32_t n = 0;
  if (!r.u32(n) || n > kNodesMax) return false;
  nodes.resize(n);
  for (NodeId& id : nodes) {
    if (!r.node(id)) return false;
  }
  return true;
}
bool get_node_set(Reader& r, std::set<NodeId>& nodes) {
  std::vector<NodeId> v;
  if (!get_nodes(r, v)) return false;
  nodes = std::set<NodeId>(v.begin(), v.end());
  return nodes.size() == v.size();
}

void put_isr_request(core::Bytes& out, const IsrRequest& r) {
  core::put_u32(out, r.partition.value());
  core::put_u32(out, r.leader.value());
  core::put_u64(out, r.leader_epoch.value());
  core::put_u64(out, r.partition_epoch);
  put_node_set(out, r.isr);
  core::put_u32(out, static_cast<uint32_t>(r.incarnations.size()));
  for (const auto& [n, inc] : r.incarnations) {
    core::put_u32(out, n.value());
    core::put_u64(out, inc);
  }
}
bool get_isr_request(Reader& r, IsrRequest& req) {
  uint32_t p = 0, count = 0;
  uint64_t epoch = 0;
  if (!r.u32(p) || !r.node(req.leader) || !r.u64(epoch) || !r.u64(req.partition_epoch)) return false;
  req.partition = PartitionId(p);
  req.leader_epoch = Epoch(epoch);
  if (!get_node_set(r, req.isr) || !r.u32(count) || count > kNodesMax) return false;
  for (uint32_t i = 0; i < count; ++i) {
    NodeId n;
    uint64_t inc = 0;
    if (!r.node(n) || !r.u64(inc)) return false;
    req.incarnations[n] = inc;
  }
  return true;
}

std::string describe(const IsrRequest& r) {
  return "partition " + r.partition.to_string() + " (leader " + r.leader.to_string() + ", leader epoch " +
         r.leader_epoch.to_string() + ", partition epoch " + std::to_string(r.partition_epoch) + ")";
}

}  // namespace

// --- Command codec -------------------------------------------------------------

core::Bytes encode_command(const MetadataCommand& c) {
  core::Bytes out = "KMC1";
  put_u8(out, static_cast<uint8_t>(c.type));
  switch (c.type) {
    case CommandType::kCreateCluster:
      core::put_u32(out, c.partitions);
      core::put_u32(out, c.replication_factor);
      put_nodes(out, c.nodes);
      core::put_u32(out, static_cast<uint32_t>(c.live.size()));
      for (const NodeRecord& n : c.live) {
        core::put_u32(out, n.id.value());
        core::put_u64(out, n.incarnation);
        put_str(out, n.peer_address);
        put_str(out, n.client_address);
      }
      break;
    case CommandType::kRegisterNode:
      core::put_u32(out, c.node.value());
      core::put_u64(out, c.incarnation);
      put_str(out, c.peer_address);
      put_str(out, c.client_address);
      break;
    case CommandType::kUnfenceNode:
    case CommandType::kFenceNode:
      core::put_u32(out, c.node.value());
      core::put_u64(out, c.incarnation);
      break;
    case CommandType::kAlterIsr:
      put_isr_request(out, c.isr);
      break;
  }
  return out;
}

core::Result<MetadataCommand> decode_command(core::ByteView data) {
  if (data.substr(0, 4) != "KMC1") return core::corruption("metadata command: bad magic");
  Reader r(data.substr(4));
  MetadataCommand c;
  uint8_t type = 0;
  if (!r.u8(type)) return core::corruption("metadata command: truncated");
  bool ok = true;
  switch (type) {
    case static_cast<uint8_t>(CommandType::kCreateCluster):
      c.type = CommandType::kCreateCluster;
      ok = r.u32(c.partitions) && r.u32(c.replication_factor) && get_nodes(r, c.nodes);
      if (ok) {
        uint32_t live = 0;
        ok = r.u32(live) && live <= c.nodes.size();
        for (uint32_t i = 0; ok && i < live; ++i) {
          NodeRecord n;
          ok = r.node(n.id) && r.u64(n.incarnation) && r.str(n.peer_address) && r.str(n.client_address);
          n.fenced = false;
          c.live.push_back(std::move(n));
        }
      }
      break;
    case static_cast<uint8_t>(CommandType::kRegisterNode):
      c.type = CommandType::kRegisterNode;
      ok = r.node(c.node) && r.u64(c.incarnation) && r.str(c.peer_address) && r.str(c.client_address);
      break;
    case static_cast<uint8_t>(CommandType::kUnfenceNode):
    case static_cast<uint8_t>(CommandType::kFenceNode):
      c.type = static_cast<CommandType>(type);
      ok = r.node(c.node) && r.u64(c.incarnation);
      break;
    case static_cast<uint8_t>(CommandType::kAlterIsr):
      c.type = CommandType::kAlterIsr;
      ok = get_isr_request(r, c.isr);
      break;
    default:
      return core::corruption("metadata command: unknown type " + std::to_string(type));
  }
  if (!ok || !r.done()) return core::corruption("metadata command: malformed");
  return c;
}

// --- ClusterMetadata -------------------------------------------------------------

PartitionId ClusterMetadata::partition_of_slot(uint16_t slot, uint32_t partitions) {
  KEEL_ASSERT(partitions > 0 && partitions <= kSlotCount);
  return PartitionId(static_cast<uint32_t>(uint64_t{slot} * partitions / kSlotCount));
}

std::pair<uint16_t, uint16_t> ClusterMetadata::slot_range(PartitionId p, uint32_t partitions) {
  KEEL_ASSERT(p.value() < partitions);
  // The first slot s with s * P / 16384 >= p is ceil(p * 16384 / P).
  auto first = [partitions](uint64_t q) { return (q * kSlotCount + partitions - 1) / partitions; };
  return {static_cast<uint16_t>(first(p.value())), static_cast<uint16_t>(first(p.value() + 1) - 1)};
}

const NodeRecord* ClusterMetadata::node(NodeId id) const {
  auto it = nodes_.find(id);
  return it == nodes_.end() ? nullptr : &it->second;
}

bool ClusterMetadata::eligible(NodeId n) const {
  const NodeRecord* rec = node(n);
  return rec != nullptr && !rec->fenced;
}

void ClusterMetadata::changed(PartitionState& p, size_t index) {
  ++p.partition_epoch;
  if (std::find(last_changed_.begin(), last_changed_.end(), PartitionId(static_cast<uint32_t>(index))) ==
      last_changed_.end()) {
    last_changed_.push_back(PartitionId(static_cast<uint32_t>(index)));
  }
}

void ClusterMetadata::elect(PartitionState& p, NodeId gone) {
  NodeId next;
  for (NodeId n : p.replicas) {
    bool in_isr = p.isr.count(n) > 0 || config_.test_bug_elect_outside_isr;
    if (n != gone && in_isr && eligible(n)) {
      next = n;
      break;
    }
  }
  if (next.value() == 0 && config_.unclean_election) {
    for (NodeId n : p.replicas) {
      if (n != gone && eligible(n)) {
        next = n;
        break;
      }
    }
    if (next.value() != 0) {
      ++unclean_elections_;
      KEEL_COVER(config_.coverage, "controller: unclean election");
      p.isr = {next};
    }
  }
  if (next == p.leader) return;
  if (next.value() == 0) KEEL_COVER(config_.coverage, "controller: partition went offline");
  p.leader = next;
  p.leader_epoch = p.leader_epoch.next();
}

core::Status ClusterMetadata::apply(const MetadataCommand& c) {
  last_changed_.clear();
  core::Status s = core::Status::ok();
  switch (c.type) {
    case CommandType::kCreateCluster: s = create_cluster(c); break;
    case CommandType::kRegisterNode: s = register_node(c); break;
    case CommandType::kUnfenceNode: s = unfence_node(c); break;
    case CommandType::kFenceNode: s = fence_node(c); break;
    case CommandType::kAlterIsr: s = alter_isr(c.isr); break;
  }
  // A refused ISR change that answered its leader changed a record.
  if (s.is_ok() || !last_changed_.empty()) ++version_;
  return s;
}

core::Status ClusterMetadata::create_cluster(const MetadataCommand& c) {
  if (created()) return core::failed_precondition("create cluster: the cluster exists");
  if (c.partitions == 0 || c.partitions > kPartitionsMax) {
    return core::invalid_argument("create cluster: partitions must be in [1, 16384]");
  }
  std::set<NodeId> distinct(c.nodes.begin(), c.nodes.end());
  if (c.nodes.empty() || distinct.size() != c.nodes.size() || distinct.count(NodeId(0)) > 0) {
    return core::invalid_argument("create cluster: nodes must be distinct and non-zero");
  }
  if (c.replication_factor == 0) return core::invalid_argument("create cluster: replication factor must be >= 1");
  const size_t rf = std::min<size_t>(c.replication_factor, c.nodes.size());
  for (const NodeRecord& n : c.live) {
    if (distinct.count(n.id) == 0 || n.incarnation == 0) {
      return core::invalid_argument("create cluster: a live node must be a member with an incarnation");
    }
  }
  for (NodeId n : c.nodes) {
    NodeRecord& rec = nodes_[n];
    rec.id = n;
  }
  for (const NodeRecord& n : c.live) {
    NodeRecord& rec = nodes_[n.id];
    rec.incarnation = n.incarnation;
    rec.peer_address = n.peer_address;
    rec.client_address = n.client_address;
    rec.fenced = false;
  }
  // Round-robin placement: partition p's preferred leader is node p mod N,
  // so leaders spread evenly; its followers are the next nodes in order.
  partitions_.resize(c.partitions);
  for (uint32_t p = 0; p < c.partitions; ++p) {
    PartitionState& st = partitions_[p];
    for (size_t k = 0; k < rf; ++k) st.replicas.push_back(c.nodes[(p + k) % c.nodes.size()]);
    st.isr = std::set<NodeId>(st.replicas.begin(), st.replicas.end());
    // A partition whose replicas are all still unregistered starts offline
    // at epoch 0 and gets its first leader as they unfence.
    elect(st, NodeId());
    if (st.leader.value() != 0) st.partition_epoch = 1;
    last_changed_.push_back(PartitionId(p));
  }
  return core::Status::ok();
}

core::Status ClusterMetadata::register_node(const MetadataCommand& c) {
  if (!created()) return core::failed_precondition("register: no cluster yet");
  auto it = nodes_.find(c.node);
  if (it == nodes_.end()) return core::invalid_argument("register: node " + c.node.to_string() + " is not a member");
  NodeRecord& rec = it->second;
  if (c.incarnation <= rec.incarnation) {
    return core::failed_precondition("register: node " + c.node.to_string() + " incarnation " +
                                     std::to_string(c.incarnation) + " is not newer than " +
                                     std::to_string(rec.incarnation));
  }
  rec.incarnation = c.incarnation;
  rec.peer_address = c.peer_address;
  rec.client_address = c.client_address;
  // The old incarnation is gone: whatever it led gets a new epoch (a new
  // leader from the ISR, or this node again once it unfences), so no epoch
  // spans two processes.
  rec.fenced = true;
  for (size_t i = 0; i < partitions_.size(); ++i) {
    PartitionState& p = partitions_[i];
    if (p.leader == c.node) {
      elect(p, c.node);
      changed(p, i);
    }
  }
  return core::Status::ok();
}

core::Status ClusterMetadata::unfence_node(const MetadataCommand& c) {
  auto it = nodes_.find(c.node);
  if (it == nodes_.end()) return core::invalid_argument("unfence: node " + c.node.to_string() + " is not a member");
  NodeRecord& rec = it->second;
  if (c.incarnation != rec.incarnation) {
    return core::failed_precondition("unfence: node " + c.node.to_string() + " incarnation " +
                                     std::to_string(c.incarnation) + " is not the current one");
  }
  if (!rec.fenced) return core::failed_precondition("unfence: node " + c.node.to_string() + " is not fenced");
  rec.fenced = false;
  // Offline partitions this node can lead get it as leader.
  for (size_t i = 0; i < partitions_.size(); ++i) {
    PartitionState& p = partitions_[i];
    if (p.leader.value() == 0) {
      elect(p, NodeId());
      if (p.leader.value() != 0) changed(p, i);
    }
  }
  return core::Status::ok();
}

core::Status ClusterMetadata::fence_node(const MetadataCommand& c) {
  auto it = nodes_.find(c.node);
  if (it == nodes_.end()) return core::invalid_argument("fence: node " + c.node.to_string() + " is not a member");
  NodeRecord& rec = it->second;
  if (c.incarnation != rec.incarnation || rec.fenced) {
    return core::failed_precondition("fence: node " + c.node.to_string() + " incarnation " +
                                     std::to_string(c.incarnation) + " is already fenced or replaced");
  }
  rec.fenced = true;
  KEEL_COVER(config_.coverage, "controller: node fenced");
  for (size_t i = 0; i < partitions_.size(); ++i) {
    PartitionState& p = partitions_[i];
    bool touched = false;
    // Out of every ISR where others remain; the last member stays, so it
    // can lead again when it returns (nobody else has everything).
    if (p.isr.count(c.node) > 0 && p.isr.size() > 1) {
      p.isr.erase(c.node);
      touched = true;
    }
    if (p.leader == c.node) {
      elect(p, c.node);
      touched = true;
    }
    if (touched) changed(p, i);
  }
  return core::Status::ok();
}

core::Status ClusterMetadata::alter_isr(const IsrRequest& r) {
  if (r.partition.value() >= partitions_.size()) {
    return core::invalid_argument("alter isr: unknown partition " + r.partition.to_string());
  }
  PartitionState& p = partitions_[r.partition.value()];
  if (r.leader != p.leader || r.leader_epoch != p.leader_epoch) {
    return core::failed_precondition("alter isr: " + describe(r) + " is not the current leader");
  }
  if (r.partition_epoch != p.partition_epoch) {
    KEEL_COVER(config_.coverage, "controller: stale ISR change refused");
    return core::failed_precondition("alter isr: " + describe(r) + " is based on a stale partition epoch " +
                                     std::to_string(p.partition_epoch));
  }
  // From here the request is the current leader's, on the current record:
  // a refusal still bumps the partition epoch. That is the leader's answer
  // (its pending change is over; a timed-out leader re-sends the same
  // request rather than assume it was lost), and no other copy of the
  // request can be applied later.
  const size_t index = r.partition.value();
  auto refuse = [&](core::Status why) {
    changed(p, index);
    return why;
  };
  if (r.isr.count(r.leader) == 0) return refuse(core::invalid_argument("alter isr: " + describe(r) + " drops its leader"));
  for (NodeId n : r.isr) {
    if (std::find(p.replicas.begin(), p.replicas.end(), n) == p.replicas.end()) {
      return refuse(core::invalid_argument("alter isr: " + describe(r) + " adds non-replica " + n.to_string()));
    }
    if (p.isr.count(n) > 0) continue;
    const NodeRecord* rec = node(n);
    auto inc = r.incarnations.find(n);
    if (rec == nullptr || rec->fenced || inc == r.incarnations.end() || inc->second != rec->incarnation) {
      KEEL_COVER(config_.coverage, "controller: ISR add from an old incarnation refused");
      return refuse(core::failed_precondition("alter isr: " + describe(r) + " adds " + n.to_string() +
                                              " from a fenced or old incarnation"));
    }
  }
  if (r.isr == p.isr) return refuse(core::failed_precondition("alter isr: " + describe(r) + " changes nothing"));
  p.isr = r.isr;
  changed(p, index);
  return core::Status::ok();
}

// --- Snapshot image ---------------------------------------------------------------

core::Bytes ClusterMetadata::encode() const {
  core::Bytes out = "KMD1";
  core::put_u64(out, version_);
  core::put_u64(out, unclean_elections_);
  core::put_u32(out, static_cast<uint32_t>(nodes_.size()));
  for (const auto& [id, rec] : nodes_) {
    core::put_u32(out, id.value());
    core::put_u64(out, rec.incarnation);
    put_str(out, rec.peer_address);
    put_str(out, rec.client_address);
    put_u8(out, rec.fenced ? 1 : 0);
  }
  core::put_u32(out, static_cast<uint32_t>(partitions_.size()));
  for (const PartitionState& p : partitions_) {
    put_nodes(out, p.replicas);
    core::put_u32(out, p.leader.value());
    core::put_u64(out, p.leader_epoch.value());
    core::put_u64(out, p.partition_epoch);
    put_node_set(out, p.isr);
  }
  return out;
}

core::Result<ClusterMetadata> ClusterMetadata::decode(core::ByteView data, MetadataConfig config) {
  if (data.substr(0, 4) != "KMD1") return core::corruption("metadata image: bad magic");
  Reader r(data.substr(4));
  ClusterMetadata m(config);
  uint32_t nodes = 0, parts = 0;
  if (!r.u64(m.version_) || !r.u64(m.unclean_elections_) || !r.u32(nodes) || nodes > kNodesMax) {
    return core::corruption("metadata image: malformed header");
  }
  for (uint32_t i = 0; i < nodes; ++i) {
    NodeRecord rec;
    uint8_t fenced = 0;
    if (!r.node(rec.id) || !r.u64(rec.incarnation) || !r.str(rec.peer_address) || !r.str(rec.client_address) ||
        !r.u8(fenced)) {
      return core::corruption("metadata image: malformed node");
    }
    rec.fenced = fenced != 0;
    m.nodes_[rec.id] = rec;
  }
  if (!r.u32(parts) || parts > kPartitionsMax) return core::corruption("metadata image: malformed partitions");
  m.partitions_.resize(parts);
  for (PartitionState& p : m.partitions_) {
    uint64_t epoch = 0;
    if (!get_nodes(r, p.replicas) || !r.node(p.leader) || !r.u64(epoch) || !r.u64(p.partition_epoch) ||
        !get_node_set(r, p.isr)) {
      return core::corruption("metadata image: malformed partition");
    }
    p.leader_epoch = Epoch(epoch);
  }
  if (!r.done()) return core::corruption("metadata image: trailing bytes");
  return m;
}

// --- SessionTracker -----------------------------------------------------------------

void SessionTracker::reset(core::Instant now, const ClusterMetadata& metadata) {
  last_heard_.clear();
  fencing_.clear();
  for (const auto& [id, rec] : metadata.nodes()) last_heard_[id] = {rec.incarnation, now};
}

void SessionTracker::heard_from(NodeId node, uint64_t incarnation, core::Instant now,
                                const ClusterMetadata& metadata) {
  const NodeRecord* rec = metadata.node(node);
  // A fence that has been applied (or overtaken by a new incarnation) is no
  // longer in flight.
  for (auto it = fencing_.begin(); it != fencing_.end();) {
    if (it->first == node && (rec == nullptr || rec->fenced || rec->incarnation != it->second)) {
      it = fencing_.erase(it);
    } else {
      ++it;
    }
  }
  auto& entry = last_heard_[node];
  if (incarnation < entry.first) return;
  entry = {incarnation, std::max(entry.second, now)};
}

bool SessionTracker::grants_lease(NodeId node, uint64_t incarnation, const ClusterMetadata& metadata) const {
  const NodeRecord* rec = metadata.node(node);
  return rec != nullptr && rec->incarnation == incarnation && !rec->fenced &&
         fencing_.count({node, incarnation}) == 0;
}

std::vector<std::pair<NodeId, uint64_t>> SessionTracker::expired(core::Instant now,
                                                                 const ClusterMetadata& metadata) const {
  core::Duration limit = options_.lease + options_.drift_bound;
  if (options_.test_bug_expire_early) limit = options_.lease / 2;
  std::vector<std::pair<NodeId, uint64_t>> out;
  for (const auto& [id, rec] : metadata.nodes()) {
    if (rec.fenced) continue;
    auto it = last_heard_.find(id);
    if (it == last_heard_.end()) continue;  // reset() was not called: never fence blindly
    if (now - it->second.second > limit) out.emplace_back(id, rec.incarnation);
  }
  return out;
}

}  // namespace keel::consensus
