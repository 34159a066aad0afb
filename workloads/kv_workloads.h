// The key-value workloads: client loops that speak RESP to a keel cluster
// and record every operation in a History.
//
//   register       GET / SET / SET .. IFEQ on a few keys (linearizability).
//                  Every written value is unique: the write's tag
//                  "c<client>-<n>", or (a share of the plain SETs) the value
//                  the client last read extended by "." and the tag, so that
//                  a stale IFEQ operand is often a prefix of the current
//                  value and a compare that accepts prefixes is caught.
//   counter        INCRBY and GET on a few keys (linearizability, durability).
//                  Most deltas are 1..5; a few lie near INT64_MAX or
//                  INT64_MIN, so that some increments would overflow and
//                  must fail with no effect, as in Redis.
//   unique-writes  APPEND of unique elements "c<client>-<n>," (durability:
//                  every acknowledged element survives, and ends in the
//                  final value exactly at the length its APPEND returned)
//
// A client that learns nothing about an operation (timeout, broken
// connection after sending) records it indeterminate and continues under a
// fresh ClientId, since it no longer knows what it has done.
#pragma once

#include <functional>
#include <optional>
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
  // Percent of the register's plain SETs that write the value the client
  // last read extended by "." and the tag (see register_write_value).
  int extend_percent = 30;
  // Percent of the counter's INCRBYs with a delta near the int64 limits (see
  // counter_delta).
  int large_delta_percent = 3;
};

// Register values longer than this are never written: an extended value that
// would exceed it is replaced by the plain tag.
inline constexpr size_t kRegisterValueBytesMax = 200;

// The value of a register's plain SET: `tag`, unique per write; or, in
// `extend_percent` percent of the calls when the client has read a value of
// the key (`last_seen`), `*last_seen + "." + tag`, still unique since the tag
// is, unless that is longer than kRegisterValueBytesMax. Draws from `random`
// only when extend_percent > 0.
std::string register_write_value(core::Random& random, const std::optional<std::string>& last_seen,
                                 const std::string& tag, int extend_percent);

// Bounds of the counter workload's deltas near the int64 limits. A large
// positive delta is INT64_MAX - j, a large negative one INT64_MIN + k, with
// j in [0, kLargeDeltaSlackMax] and k in [kLargeDeltaSlackMax + 2,
// 2 * kLargeDeltaSlackMax + 2]. Why k > j + 1: every counter value is
// m * 2^63 + r, with m the number of applied large positive deltas minus the
// large negative ones and r the sum of the small deltas, the -(1 + j) and the
// +k, tiny next to 2^63. The value is INT64_MIN only if m = -1 and r = 0, but
// m = -1 means one more k term than j terms, and every k exceeds every 1 + j,
// so r > 0. A counter thus never holds INT64_MIN, which the linearizability
// model reserves for an absent key (kCounterAbsent, workloads/models.h),
// while both signs still overflow often: a large positive delta overflows on
// any value above j, a large negative one on any value below -k.
inline constexpr uint64_t kLargeDeltaSlackMax = 999;

// The delta of one INCRBY: 1..5, or in `large_percent` percent of the calls a
// delta near INT64_MAX or INT64_MIN (as likely as each other). Draws the
// extra dice only when large_percent > 0.
int64_t counter_delta(core::Random& random, int large_percent);

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
