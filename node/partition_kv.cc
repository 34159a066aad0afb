#include "node/partition_kv.h"

#include "consensus/controller.h"
#include "net/resp/command.h"
#include "node/commands.h"
#include "storage/keyspace.h"

namespace keel::node {

namespace {

core::Bytes stored_key(core::ByteView key) { return storage::slot_key(net::resp::key_slot(key), key); }

// The user keys a command names.
std::vector<core::Bytes> keys_of(const Command& command) {
  std::vector<core::Bytes> keys;
  std::visit(
      [&keys](const auto& c) {
        using T = std::decay_t<decltype(c)>;
        if constexpr (std::is_same_v<T, DelCommand>) {
          keys = c.keys;
        } else if constexpr (std::is_same_v<T, MSetCommand>) {
          for (const auto& [k, v] : c.pairs) keys.push_back(k);
        } else {
          keys.push_back(c.key);
        }
      },
      command);
  return keys;
}

}  // namespace

PartitionKv::PartitionKv(storage::KvEngine& engine, core::PartitionId partition, uint32_t partitions)
    : engine_(engine), partition_(partition), partitions_(partitions) {
  const auto [first, last] = consensus::ClusterMetadata::slot_range(partition, partitions);
  ranges_.push_back(storage::slot_range_keys(first, last));
}

bool PartitionKv::owns(core::ByteView key) const {
  return consensus::ClusterMetadata::partition_of_slot(net::resp::key_slot(key), partitions_) == partition_;
}

core::Result<core::Bytes> PartitionKv::apply(core::Offset offset, core::ByteView command) {
  KEEL_ASSERT_MSG(offset == applied(), "records must be applied in offset order without gaps");
  storage::WriteBatch batch;
  CommandReply reply;
  core::Result<Command> decoded = decode_command(command);
  if (!decoded.is_ok()) {
    reply = CommandReply::error("ERR malformed command: " + decoded.status().message());
  } else {
    bool foreign = false;
    for (const core::Bytes& k : keys_of(*decoded)) foreign = foreign || !owns(k);
    if (foreign) {
      reply = CommandReply::error("ERR a key of the command is not in partition " + partition_.to_string());
    } else {
      const KeyReader reader = [this](core::ByteView key) { return engine_.get(stored_key(key)); };
      KEEL_TRY_ASSIGN(ApplyOutcome outcome, apply_command(*decoded, reader));
      for (const auto& [key, value] : outcome.writes) {
        if (value) {
          batch.put(stored_key(key), *value);
        } else {
          batch.del(stored_key(key));
        }
      }
      reply = std::move(outcome.reply);
    }
  }
  KEEL_TRY(engine_.write_partition_batch(partition_, batch, offset.next()));
  return encode_reply(reply);
}

core::Result<std::optional<core::Bytes>> PartitionKv::get(core::ByteView key) {
  if (!owns(key)) return core::invalid_argument("key not in partition " + partition_.to_string());
  return engine_.get(stored_key(key));
}

core::Result<std::vector<storage::KvEntry>> PartitionKv::image() {
  std::vector<storage::KvEntry> out;
  for (const auto& [start, end] : ranges_) {
    core::Bytes from = start;
    for (;;) {
      KEEL_TRY_ASSIGN(std::vector<storage::KvEntry> page, engine_.scan(from, end, storage::kScanLimitMax));
      const bool more = page.size() == storage::kScanLimitMax;
      if (more) {
        from = page.back().key;
        from.push_back('\0');
      }
      for (storage::KvEntry& e : page) out.push_back(std::move(e));
      if (!more) break;
    }
  }
  return out;
}

core::Status PartitionKv::restore(core::Offset offset, const std::vector<storage::KvEntry>& image) {
  return engine_.restore_partition(partition_, ranges_, image, offset);
}

core::Result<uint64_t> PartitionKv::digest() {
  // A partition is one contiguous slot range (ClusterMetadata's slot map).
  return engine_.digest_range(ranges_.front().first, ranges_.front().second);
}

}  // namespace keel::node
