// The demo service: a replicated counter with acknowledgements, on Env.
//
// Three (or more) nodes; node 1 is the primary, the others are backups.
// Each increment carries a client-chosen operation id and is idempotent: a
// retried id returns the position it already has. The primary appends the id
// to its durable log (group commit: one sync for all waiting increments),
// streams the log to every backup, and acknowledges an increment once a
// majority of nodes (itself included) hold it durably. The counter's value
// after an increment is the position of its id in the log.
//
// Invariants: a backup's log is always a prefix of the primary's durable
// log, because the primary sends only synced entries; an acknowledged id is
// in a majority of durable logs. On a failed sync the node exits (its
// program returns): after fsync fails, the page cache may have dropped the
// data, so the only safe state is the one on disk.
//
// The log file holds fixed 16-byte records: u64 op id, u64 XXH3 of the id
// seeded with its position. Recovery keeps the longest valid prefix; what
// follows was never synced (this demo runs without bit-flip faults). The
// prefix itself may have been read from the page cache, so recovery makes it
// durable (rewrite and sync) before the node serves or counts any of it.
#pragma once

#include <cstdint>
#include <vector>

#include "core/env.h"

namespace keel::node {

struct CounterConfig {
  // peers[0] is the primary; peers[i] serves backups' replication at its
  // address. Clients talk to client_addresses[i].
  std::vector<core::Address> peer_addresses;
  std::vector<core::Address> client_addresses;
  // 0-based position of this node in the lists above.
  size_t self = 0;
  // Test only: the node skips its fsync (a planted durability bug that the
  // simulator must catch). Never set outside tests.
  bool test_bug_skip_sync = false;
};

// Runs one counter node until its process dies, or returns after a fatal
// disk error. May suspend.
void run_counter_node(core::Env& env, const CounterConfig& config);

// Client calls. Each may suspend. A failed call with Unavailable or
// DeadlineExceeded has an unknown outcome (the increment may have happened).
core::Result<uint64_t> counter_increment(core::Env& env, const core::Address& primary, uint64_t op_id,
                                         core::Duration timeout);
core::Result<std::vector<uint64_t>> counter_read_log(core::Env& env, const core::Address& node,
                                                     core::Duration timeout);

}  // namespace keel::node
