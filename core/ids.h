// Strong identifier types: a NodeId cannot be passed where a Term is expected.
//
// Each is a thin wrapper over an unsigned integer with value semantics,
// ordering and hashing. Arithmetic is explicit (next(), value()) so that an
// index is never silently added to a term.
#pragma once

#include <compare>
#include <cstdint>
#include <functional>
#include <string>

namespace keel::core {

template <typename Tag, typename Rep = uint64_t>
class StrongId {
 public:
  using rep_type = Rep;
  constexpr StrongId() = default;
  constexpr explicit StrongId(Rep v) : v_(v) {}
  constexpr Rep value() const { return v_; }
  constexpr StrongId next() const { return StrongId(v_ + 1); }
  constexpr StrongId prev() const { return StrongId(v_ - 1); }
  constexpr auto operator<=>(const StrongId&) const = default;
  std::string to_string() const { return std::to_string(v_); }

 private:
  Rep v_ = 0;
};

struct NodeIdTag {};
struct TermTag {};
struct LogIndexTag {};
struct PartitionIdTag {};
struct EpochTag {};
struct OffsetTag {};
struct FiberIdTag {};
struct ProcessIdTag {};

using NodeId = StrongId<NodeIdTag, uint32_t>;
using Term = StrongId<TermTag>;
using LogIndex = StrongId<LogIndexTag>;
using PartitionId = StrongId<PartitionIdTag, uint32_t>;
using Epoch = StrongId<EpochTag>;
// A record's position in one partition's log (the first record is at 0).
using Offset = StrongId<OffsetTag>;
using FiberId = StrongId<FiberIdTag>;
// A process in the simulator (a node incarnation or a client); 0 in keeld.
using ProcessId = StrongId<ProcessIdTag, uint32_t>;

}  // namespace keel::core

template <typename Tag, typename Rep>
struct std::hash<keel::core::StrongId<Tag, Rep>> {
  size_t operator()(const keel::core::StrongId<Tag, Rep>& id) const noexcept {
    return std::hash<Rep>()(id.value());
  }
};
