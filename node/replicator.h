// Replicator: what the RESP front end needs from the replication layer.
//
// The front end turns client commands into state-machine commands (bytes)
// and asks the replicator to order them; it never sees Raft (v0.1) or ISR
// (v0.2) directly. The state machine that applies committed commands is the
// replicator's; the front end reads through read_view() after a barrier.
//
// Outcome contract, which clients' histories rely on:
//   - Result ok                    the command was committed and applied;
//                                  the value is what applying it returned.
//   - FailedPrecondition           not the leader: nothing was proposed; the
//                                  message is the leader's client address
//                                  ("host:port") when known, else empty.
//   - Unavailable                  nothing was proposed (no leader, back
//                                  pressure, shutting down): retry later.
//   - Aborted                      proposed, but leadership was lost before
//                                  the outcome was known: it may or may not
//                                  be applied ("UNCERTAIN" to the client).
#pragma once

#include <optional>
#include <string>

#include "core/bytes.h"
#include "core/status.h"

namespace keel::node {

// A consistent read-only view of the applied state.
class ReadView {
 public:
  virtual ~ReadView() = default;
  // nullopt when the key is absent. Errors: IoError, Corruption.
  virtual core::Result<std::optional<core::Bytes>> get(core::ByteView key) = 0;
  // Number of keys (DBSIZE).
  virtual core::Result<uint64_t> size() = 0;
};

// `key` is the command's first key (empty for a keyless command): the front
// end has checked that all its keys hash to that key's slot, and a
// partitioned replicator orders the command in that slot's partition.
class Replicator {
 public:
  virtual ~Replicator() = default;
  // Orders `command` and waits until it is applied. May suspend.
  virtual core::Result<core::Bytes> propose(core::ByteView key, core::Bytes command) = 0;
  // Linearizable read barrier: returns once the local state machine reflects
  // every command committed before the call (ReadIndex, or a valid lease).
  // `stale_ok` skips the barrier (READONLY connections on a follower).
  // Errors as for propose (FailedPrecondition carries the leader's address).
  // May suspend.
  virtual core::Status read_barrier(core::ByteView key, bool stale_ok) = 0;
  virtual ReadView& read_view() = 0;
};

}  // namespace keel::node
