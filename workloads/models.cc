#include "workloads/models.h"

#include <charconv>
#include <map>

#include "core/assert.h"

namespace keel::workloads {

namespace {

// Decimal int64 as Redis stores counters; nullopt for anything else.
std::optional<int64_t> parse_integer(std::string_view text) {
  if (text.empty()) return std::nullopt;
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

std::string_view model_kind_name(ModelKind kind) {
  switch (kind) {
    case ModelKind::kAuto: return "auto";
    case ModelKind::kRegister: return "register";
    case ModelKind::kCounter: return "counter";
  }
  KEEL_UNREACHABLE();
}

ModelKind infer_model(std::span<const Operation* const> ops) {
  for (const Operation* op : ops) {
    if (op->kind == OpKind::kIncr) return ModelKind::kCounter;
  }
  return ModelKind::kRegister;
}

core::Result<KeyModel> KeyModel::compile(ModelKind kind, std::span<const Operation* const> ops) {
  KeyModel model;
  model.kind_ = kind == ModelKind::kAuto ? infer_model(ops) : kind;
  model.steps_.reserve(ops.size());
  std::map<std::string, int64_t> ids;
  auto intern = [&](const std::string& value) {
    auto [it, inserted] = ids.emplace(value, static_cast<int64_t>(model.values_.size()) + 1);
    if (inserted) model.values_.push_back(value);
    return it->second;
  };

  for (const Operation* op : ops) {
    KEEL_ASSERT(op->outcome != Outcome::kFail);
    bool known = op->outcome == Outcome::kOk;
    std::string where = "operation " + describe(*op);
    if (op->kind == OpKind::kAppend) {
      return core::invalid_argument(where + ": append is not part of the " +
                                    std::string(model_kind_name(model.kind_)) + " model");
    }
    Step step{StepKind::kNever, 0, 0};
    if (model.kind_ == ModelKind::kRegister) {
      switch (op->kind) {
        case OpKind::kRead:
          step.kind = StepKind::kRegRead;
          step.a = op->read_value ? intern(*op->read_value) : 0;
          break;
        case OpKind::kWrite:
          step.kind = StepKind::kRegWrite;
          step.a = intern(op->value);
          break;
        case OpKind::kCas:
          step.kind = !known ? StepKind::kRegCasUnknown
                      : op->cas_applied ? StepKind::kRegCasApplied
                                        : StepKind::kRegCasRejected;
          step.a = intern(op->expected);
          step.b = intern(op->value);
          break;
        case OpKind::kIncr:
          return core::invalid_argument(where + ": incr is not part of the register model");
        case OpKind::kAppend: KEEL_UNREACHABLE();
      }
    } else {
      KEEL_ASSERT(model.kind_ == ModelKind::kCounter);
      switch (op->kind) {
        case OpKind::kRead:
          if (!op->read_value) {
            step.kind = StepKind::kCtrRead;
            step.a = kCounterAbsent;
          } else if (auto v = parse_integer(*op->read_value)) {
            step.kind = StepKind::kCtrRead;
            step.a = *v;
          } else {
            // A counter never holds a non-integer, so no state explains it.
            step.kind = StepKind::kNever;
          }
          break;
        case OpKind::kWrite: {
          auto v = parse_integer(op->value);
          if (!v) {
            return core::invalid_argument(where +
                                          ": the counter model supports integer writes only");
          }
          step.kind = StepKind::kCtrWrite;
          step.a = *v;
          break;
        }
        case OpKind::kIncr:
          step.kind = known ? StepKind::kCtrIncr : StepKind::kCtrIncrUnknown;
          step.a = op->delta;
          step.b = op->incr_result;
          break;
        case OpKind::kCas:
          return core::invalid_argument(where + ": cas is not part of the counter model");
        case OpKind::kAppend: KEEL_UNREACHABLE();
      }
    }
    model.steps_.push_back(step);
  }
  return model;
}

std::optional<int64_t> KeyModel::step(size_t i, int64_t state) const {
  const Step& s = steps_[i];
  switch (s.kind) {
    case StepKind::kNever: return std::nullopt;
    case StepKind::kRegRead:
    case StepKind::kCtrRead:
      if (state != s.a) return std::nullopt;
      return state;
    case StepKind::kRegWrite:
    case StepKind::kCtrWrite: return s.a;
    case StepKind::kRegCasApplied:
      if (state != s.a) return std::nullopt;
      return s.b;
    case StepKind::kRegCasRejected:
      if (state == s.a) return std::nullopt;
      return state;
    case StepKind::kRegCasUnknown: return state == s.a ? s.b : state;
    case StepKind::kCtrIncr:
    case StepKind::kCtrIncrUnknown: {
      int64_t base = state == kCounterAbsent ? 0 : state;
      int64_t sum = 0;
      bool overflow = __builtin_add_overflow(base, s.a, &sum) || sum == kCounterAbsent;
      if (s.kind == StepKind::kCtrIncrUnknown) return overflow ? state : sum;
      if (overflow || sum != s.b) return std::nullopt;
      return sum;
    }
  }
  KEEL_UNREACHABLE();
}

std::string KeyModel::state_string(int64_t state) const {
  if (kind_ == ModelKind::kCounter) {
    return state == kCounterAbsent ? "nil" : std::to_string(state);
  }
  if (state == 0) return "nil";
  KEEL_ASSERT(state > 0 && static_cast<size_t>(state) <= values_.size());
  return quote_bytes(values_[static_cast<size_t>(state) - 1]);
}

}  // namespace keel::workloads
