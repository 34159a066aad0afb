// PartitionKv: the key-value commands (node/commands.h) applied to one
// partition of a node's shared engine, the state machine a partition
// replica's committed records feed (doc/ARCHITECTURE.md section 9).
//
// Keys live in the slot layout of storage/keyspace.h ('d' + slot + key), so
// the partition is the key ranges of its slots; its applied offset is
// written in the same atomic engine write as the data of each record
// (KvEngine::write_partition_batch), so after a crash a partition's data is
// exactly that of its records below its applied offset. image() and
// restore() move a whole partition (a follower's snapshot or resync), and
// digest() compares replicas.
//
// A command naming a key of another partition (the router sends none; a
// record can still carry one) applies as an error reply with no writes, the
// same on every replica.
#pragma once

#include <optional>
#include <utility>
#include <vector>

#include "core/bytes.h"
#include "core/ids.h"
#include "core/status.h"
#include "storage/kv_engine.h"

namespace keel::node {

class PartitionKv {
 public:
  // `partitions`: the cluster's partition count (the slot map's size).
  PartitionKv(storage::KvEngine& engine, core::PartitionId partition, uint32_t partitions);

  core::PartitionId partition() const { return partition_; }
  core::Offset applied() const { return engine_.partition_applied(partition_); }
  // Applies the record at `offset` (= applied(); the next one) and returns
  // its encoded reply. Errors: the engine's (the node must stop). May
  // suspend.
  core::Result<core::Bytes> apply(core::Offset offset, core::ByteView command);
  // The value of a user key of this partition, as applied.
  core::Result<std::optional<core::Bytes>> get(core::ByteView key);
  // Every stored entry of the partition, in key order (a snapshot image).
  core::Result<std::vector<storage::KvEntry>> image();
  // Replaces the partition by `image`, taken at `offset`, atomically.
  core::Status restore(core::Offset offset, const std::vector<storage::KvEntry>& image);
  // The digest of the partition's entries (equal on equal replicas).
  core::Result<uint64_t> digest();
  // Whether user key `key` belongs to this partition.
  bool owns(core::ByteView key) const;

 private:
  storage::KvEngine& engine_;
  core::PartitionId partition_;
  uint32_t partitions_;
  // The partition's key ranges [start, end): one per contiguous slot range.
  std::vector<std::pair<core::Bytes, core::Bytes>> ranges_;
};

}  // namespace keel::node
