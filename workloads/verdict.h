// Verdict: the three-valued answer every workload checker gives.
//
// A checker answers kPass only when it proved the property, kFail only when it
// proved a violation, and kUnknown whenever it could not decide (a search
// budget ran out, an input it does not support, a missing final read). A
// caller must treat kUnknown as "not passed": it is never silently a pass.
#pragma once

#include <cstdint>
#include <string_view>

namespace keel::workloads {

enum class Verdict : uint8_t { kPass, kFail, kUnknown };

// "PASS", "FAIL", "UNKNOWN".
std::string_view verdict_name(Verdict verdict);

// The verdict of a conjunction: any kFail wins, then any kUnknown, else kPass.
Verdict combine(Verdict a, Verdict b);

}  // namespace keel::workloads
