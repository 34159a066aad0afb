#include "workloads/verdict.h"

#include "core/assert.h"

namespace keel::workloads {

std::string_view verdict_name(Verdict verdict) {
  switch (verdict) {
    case Verdict::kPass: return "PASS";
    case Verdict::kFail: return "FAIL";
    case Verdict::kUnknown: return "UNKNOWN";
  }
  KEEL_UNREACHABLE();
}

Verdict combine(Verdict a, Verdict b) {
  if (a == Verdict::kFail || b == Verdict::kFail) return Verdict::kFail;
  if (a == Verdict::kUnknown || b == Verdict::kUnknown) return Verdict::kUnknown;
  return Verdict::kPass;
}

}  // namespace keel::workloads
