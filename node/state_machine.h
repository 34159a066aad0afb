// StateMachine: what a replicated log drives (Raft in v0.1, a partition's
// ISR log in v0.2, the controller's metadata). Entries arrive committed and
// in index order. Reads are the owner's business: the KV machine offers a
// ReadView, the controller its metadata.
//
// Durability contract: apply() may keep its effects in memory; persist()
// makes everything applied so far durable together with the applied index
// (one atomic write), and durable_index() reports it. After a restart the
// machine is at durable_index() and the log replays what follows. restore()
// replaces the whole state with a snapshot and is durable when it returns.
#pragma once

#include "core/bytes.h"
#include "core/ids.h"
#include "core/status.h"
#include "node/replicator.h"

namespace keel::node {

class StateMachine {
 public:
  virtual ~StateMachine() = default;

  virtual core::LogIndex applied_index() const = 0;
  virtual core::LogIndex durable_index() const = 0;

  // Applies the command of committed entry `index` (= applied_index() + 1)
  // and returns the reply for its proposer. A malformed command is applied
  // as a no-op that returns an error reply, never a crash: every replica
  // must reach the same state. May suspend.
  virtual core::Result<core::Bytes> apply(core::LogIndex index, core::ByteView command) = 0;
  // Advances over an entry that carries no command (no-op, configuration).
  virtual core::Status skip(core::LogIndex index) = 0;
  // Makes the applied state durable. May suspend.
  virtual core::Status persist() = 0;

  // The whole state at applied_index(), for a lagging follower.
  virtual core::Result<core::Bytes> snapshot() = 0;
  // Replaces the state with `data` taken at `index`; durable on return.
  // Errors: Corruption for bytes that do not decode. May suspend.
  virtual core::Status restore(core::LogIndex index, core::ByteView data) = 0;

  // Digest of the state, equal on replicas with equal contents. May
  // suspend while an apply or persist holds the machine (see busy()).
  virtual uint64_t digest() = 0;
  // True while an operation holds the machine: digest() would wait. An
  // observer outside the node's process (the simulator's convergence
  // check) must not wait on a node that a crash may destroy meanwhile.
  virtual bool busy() const { return false; }
};

}  // namespace keel::node
