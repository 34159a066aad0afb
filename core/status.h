// Status and Result<T>: how every keel layer reports an operating error.
//
// Errors are values. A Status carries a canonical code whose meaning tells the
// caller what to do next (after Abseil's canonical codes):
//   Unavailable        — transient; retry the same call later.
//   Aborted            — a conflict; retry the whole higher-level operation.
//   FailedPrecondition — the system is not in a state for this; do not retry.
//   InvalidArgument    — the caller's input is wrong; do not retry.
//   Corruption         — stored or received bytes failed validation.
//   IoError            — the device reported an error (EIO).
//   NoSpace            — the device is full (ENOSPC).
//   NotFound, AlreadyExists, Cancelled, DeadlineExceeded, ResourceExhausted,
//   Internal           — as named.
// Add a code only when some caller reacts to it differently.
//
// Programmer errors are not Statuses: they are KEEL_ASSERT failures.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

#include "core/assert.h"

namespace keel::core {

enum class Code : unsigned char {
  kOk = 0,
  kInvalidArgument,
  kNotFound,
  kAlreadyExists,
  kCorruption,
  kIoError,
  kNoSpace,
  kUnavailable,
  kAborted,
  kFailedPrecondition,
  kCancelled,
  kDeadlineExceeded,
  kResourceExhausted,
  kInternal,
};

std::string_view code_name(Code code);

class [[nodiscard]] Status {
 public:
  Status() = default;
  Status(Code code, std::string message) : code_(code), message_(std::move(message)) {}

  static Status ok() { return Status(); }

  bool is_ok() const { return code_ == Code::kOk; }
  Code code() const { return code_; }
  const std::string& message() const { return message_; }

  // "Corruption: segment 00000001.log offset 4096: checksum mismatch".
  std::string to_string() const;

  // Returns a copy whose message is prefixed by `context` and ": ".
  Status with_context(std::string_view context) const;

  bool operator==(const Status& other) const = default;

 private:
  Code code_ = Code::kOk;
  std::string message_;
};

inline Status invalid_argument(std::string m) { return Status(Code::kInvalidArgument, std::move(m)); }
inline Status not_found(std::string m) { return Status(Code::kNotFound, std::move(m)); }
inline Status already_exists(std::string m) { return Status(Code::kAlreadyExists, std::move(m)); }
inline Status corruption(std::string m) { return Status(Code::kCorruption, std::move(m)); }
inline Status io_error(std::string m) { return Status(Code::kIoError, std::move(m)); }
inline Status no_space(std::string m) { return Status(Code::kNoSpace, std::move(m)); }
inline Status unavailable(std::string m) { return Status(Code::kUnavailable, std::move(m)); }
inline Status aborted(std::string m) { return Status(Code::kAborted, std::move(m)); }
inline Status failed_precondition(std::string m) { return Status(Code::kFailedPrecondition, std::move(m)); }
inline Status cancelled(std::string m) { return Status(Code::kCancelled, std::move(m)); }
inline Status deadline_exceeded(std::string m) { return Status(Code::kDeadlineExceeded, std::move(m)); }
inline Status resource_exhausted(std::string m) { return Status(Code::kResourceExhausted, std::move(m)); }
inline Status internal_error(std::string m) { return Status(Code::kInternal, std::move(m)); }

// Result<T>: either a value or a non-ok Status.
template <typename T>
class [[nodiscard]] Result {
 public:
  Result(T value) : state_(std::in_place_index<0>, std::move(value)) {}  // NOLINT: implicit by design
  Result(Status status) : state_(std::in_place_index<1>, std::move(status)) {  // NOLINT
    KEEL_ASSERT(!std::get<1>(state_).is_ok());
  }

  bool is_ok() const { return state_.index() == 0; }
  explicit operator bool() const { return is_ok(); }

  // Precondition: is_ok().
  T& value() & {
    KEEL_ASSERT(is_ok());
    return std::get<0>(state_);
  }
  const T& value() const& {
    KEEL_ASSERT(is_ok());
    return std::get<0>(state_);
  }
  T&& value() && {
    KEEL_ASSERT(is_ok());
    return std::get<0>(std::move(state_));
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // Ok when a value is held.
  Status status() const { return is_ok() ? Status::ok() : std::get<1>(state_); }

 private:
  std::variant<T, Status> state_;
};

namespace detail {
inline Status to_status(const Status& s) { return s; }
template <typename T>
Status to_status(const Result<T>& r) { return r.status(); }
}  // namespace detail

}  // namespace keel::core

// KEEL_TRY(expr): evaluate a Status- or Result-returning expression; return
// its Status from the enclosing function when it is not ok.
#define KEEL_TRY(expr)                                                   \
  do {                                                                   \
    auto keel_try_status_ = ::keel::core::detail::to_status((expr));     \
    if (!keel_try_status_.is_ok()) return keel_try_status_;              \
  } while (0)

#define KEEL_CONCAT_INNER_(a, b) a##b
#define KEEL_CONCAT_(a, b) KEEL_CONCAT_INNER_(a, b)

// KEEL_TRY_ASSIGN(decl, expr): evaluate a Result-returning expression; on
// error return its Status, else move its value into `decl`
// (e.g. `KEEL_TRY_ASSIGN(auto file, disk.open(path, mode));`).
#define KEEL_TRY_ASSIGN(decl, expr) \
  KEEL_TRY_ASSIGN_IMPL_(KEEL_CONCAT_(keel_try_result_, __LINE__), decl, expr)
#define KEEL_TRY_ASSIGN_IMPL_(tmp, decl, expr)          \
  auto tmp = (expr);                                    \
  if (!tmp.is_ok()) return tmp.status();                \
  decl = std::move(tmp).value()
