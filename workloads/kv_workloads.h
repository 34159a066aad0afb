// The key-value workloads: client loops that speak RESP to a keel cluster
// and record every operation in a History.
//
//   register       GET / SET / SET .. IFEQ on a few keys (linearizability)
//   counter        INCRBY and GET on a few keys (linearizability, durability)
//   unique-writes  APPEND of unique elements "c<client>-<n>," (durability:
//                  every acknowledged element survives)
//
// A client that learns nothing about an operation (timeout, broken
// connection after sending) records it indeterminate and continues under a
// fresh ClientId, since it no longer knows what it has done.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "core/env.h"
#include "workloads/durability.h"
#include "workloads/history.h"
#include "workloads/resp_client.h"

namespace keel::workloads {

enum class KvWorkload : uint8_t { kRegister, kCounter, kUniqueWrites };

// Parses "register", "counter", "unique-writes".
std::optional<KvWorkload> parse_kv_workload(std::string_view name);
std::string_view kv_workload_name(KvWorkload workload);

struct KvClientConfig {
  KvWorkload workload = KvWorkload::kRegister;
  int keys = 3;
  // Each client takes ids first_client_id, first_client_id + clients_stride,
  // ... so that clients of one history never share an id.
  uint32_t first_client_id = 1;
  uint32_t clients_stride = 1;
  core::Duration think_time_max = core::Duration::millis(10);
  // Percent of operations that are reads (GET), for register and counter;
  // -1 takes the workload's default (40 and 30). The register's writes are
  // split between SET and SET IFEQ as `cas_percent` says (of all writes).
  int read_percent = -1;
  int cas_percent = 45;
  // Stop after this many operations (0: only when `stop()` says so); lets a
  // shrunk run issue fewer operations.
  uint64_t ops_max = 0;
  // After a failed or unknown outcome, move on to the next node with this
  // probability (percent), instead of staying with the node until it
  // redirects or refuses the connection. Clients that stay keep talking to
  // a deposed leader; clients that move find the new one.
  int wander_percent = 0;
};

// Runs one client until `stop()` is true. `history_now` is the one clock of
// the history (world time in the simulator). May suspend.
void run_kv_client(core::Env& env, RespClient& client, History& history, const KvClientConfig& config,
                   const std::function<core::Instant()>& history_now, const std::function<bool()>& stop);

// The keys a workload uses, for final reads.
std::vector<std::string> kv_keys(const KvClientConfig& config);

// Reads every key's final value through `client` (retrying until `give_up()`)
// into a FinalState for check_durability. May suspend.
core::Result<FinalState> read_final_state(core::Env& env, RespClient& client, const KvClientConfig& config,
                                          const std::function<bool()>& give_up);

}  // namespace keel::workloads
