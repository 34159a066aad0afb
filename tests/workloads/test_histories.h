// Helpers to write small hand-made histories in tests: times are in
// milliseconds, every helper records one operation and returns its id.
#pragma once

#include <optional>
#include <string>

#include "workloads/history.h"

namespace keel::workloads::testing {

inline core::Instant ms(int64_t t) { return core::Instant::from_nanos(t * 1'000'000); }

inline OpId write(History& h, uint32_t client, const std::string& key, const std::string& value,
                  int64_t from, int64_t to) {
  OpId id = h.invoke_write(ClientId(client), key, value, ms(from));
  h.complete_write(id, ms(to));
  return id;
}

inline OpId read(History& h, uint32_t client, const std::string& key,
                 std::optional<std::string> value, int64_t from, int64_t to) {
  OpId id = h.invoke_read(ClientId(client), key, ms(from));
  h.complete_read(id, ms(to), std::move(value));
  return id;
}

inline OpId cas(History& h, uint32_t client, const std::string& key, const std::string& expected,
                const std::string& value, bool applied, int64_t from, int64_t to) {
  OpId id = h.invoke_cas(ClientId(client), key, expected, value, ms(from));
  h.complete_cas(id, ms(to), applied);
  return id;
}

inline OpId incr(History& h, uint32_t client, const std::string& key, int64_t delta,
                 int64_t result, int64_t from, int64_t to) {
  OpId id = h.invoke_incr(ClientId(client), key, delta, ms(from));
  h.complete_incr(id, ms(to), result);
  return id;
}

// `length`: what APPEND returned (the value's length after it), if known.
inline OpId append(History& h, uint32_t client, const std::string& key, const std::string& element,
                   int64_t from, int64_t to, std::optional<int64_t> length = std::nullopt) {
  OpId id = h.invoke_append(ClientId(client), key, element, ms(from));
  h.complete_append(id, ms(to), length);
  return id;
}

// An increment the store refused (e.g. "-ERR increment or decrement would
// overflow"): definitely not applied.
inline OpId failed_incr(History& h, uint32_t client, const std::string& key, int64_t delta,
                        int64_t from, int64_t to) {
  OpId id = h.invoke_incr(ClientId(client), key, delta, ms(from));
  h.fail(id, ms(to));
  return id;
}

// An increment whose outcome the client never learned.
inline OpId unknown_incr(History& h, uint32_t client, const std::string& key, int64_t delta,
                         int64_t from, int64_t gave_up) {
  OpId id = h.invoke_incr(ClientId(client), key, delta, ms(from));
  h.indeterminate(id, ms(gave_up));
  return id;
}

// a + b wrapped around modulo 2^64, as a state machine without an overflow
// check computes it (without signed overflow in the test itself).
inline int64_t wrapped_sum(int64_t a, int64_t b) {
  return static_cast<int64_t>(static_cast<uint64_t>(a) + static_cast<uint64_t>(b));
}

// A write whose outcome the client never learned (gave up at `gave_up`).
inline OpId unknown_write(History& h, uint32_t client, const std::string& key,
                          const std::string& value, int64_t from, int64_t gave_up) {
  OpId id = h.invoke_write(ClientId(client), key, value, ms(from));
  h.indeterminate(id, ms(gave_up));
  return id;
}

// A write the client was told definitely did not happen.
inline OpId failed_write(History& h, uint32_t client, const std::string& key,
                         const std::string& value, int64_t from, int64_t to) {
  OpId id = h.invoke_write(ClientId(client), key, value, ms(from));
  h.fail(id, ms(to));
  return id;
}

}  // namespace keel::workloads::testing
