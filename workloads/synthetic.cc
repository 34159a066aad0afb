#include "workloads/synthetic.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <optional>

#include "core/assert.h"

namespace keel::workloads {

namespace {

std::optional<int64_t> parse_integer(const std::string& text) {
  int64_t v = 0;
  auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (text.empty() || ec != std::errc() || end != text.data() + text.size()) return std::nullopt;
  return v;
}

}  // namespace

SyntheticHistory build_linearizable_history(const std::vector<SyntheticStep>& steps) {
  struct Timed {
    size_t index;
    core::Instant invoke;
    core::Instant point;
    core::Instant complete;
  };
  std::vector<Timed> timed;
  timed.reserve(steps.size());
  std::map<uint32_t, core::Instant> client_clock;
  for (size_t i = 0; i < steps.size(); ++i) {
    const SyntheticStep& s = steps[i];
    KEEL_ASSERT(s.think >= core::Duration::zero());
    KEEL_ASSERT(s.lead >= core::Duration::zero());
    KEEL_ASSERT(s.lag >= core::Duration::zero());
    core::Instant& clock = client_clock[s.client];
    core::Instant invoke = clock + s.think;
    core::Instant point = invoke + s.lead;
    core::Instant complete = point + s.lag;
    clock = complete;
    timed.push_back(Timed{i, invoke, point, complete});
  }
  std::vector<Timed> by_point = timed;
  std::stable_sort(by_point.begin(), by_point.end(),
                   [](const Timed& a, const Timed& b) { return a.point < b.point; });

  std::map<std::string, std::optional<std::string>> values;
  std::map<std::string, std::vector<std::string>> elements;
  std::vector<Operation> ops(steps.size());
  std::vector<std::string> step_values(steps.size());
  for (size_t i = 0; i < steps.size(); ++i) step_values[i] = "v" + std::to_string(i);

  for (const Timed& t : by_point) {
    const SyntheticStep& s = steps[t.index];
    Operation& op = ops[t.index];
    op.client = ClientId(s.client);
    op.key = "k" + std::to_string(s.key);
    op.kind = s.kind;
    op.invoke_time = t.invoke;
    op.complete_time = t.complete;
    bool applied = s.fate == SyntheticFate::kOk || s.fate == SyntheticFate::kIndeterminateApplied;
    std::optional<std::string>& current = values[op.key];
    switch (s.kind) {
      case OpKind::kRead:
        op.read_value = current;
        break;
      case OpKind::kWrite:
        op.value = step_values[t.index];
        if (applied) current = op.value;
        break;
      case OpKind::kCas: {
        op.value = step_values[t.index];
        if (s.choice % 2 == 0) {
          op.expected = current ? *current : std::string("never-written");
        } else {
          op.expected = step_values[(s.choice / 2) % (t.index + 1)];
        }
        op.cas_applied = current && *current == op.expected;
        if (applied && op.cas_applied) current = op.value;
        break;
      }
      case OpKind::kIncr: {
        op.delta = s.delta;
        std::optional<int64_t> base = current ? parse_integer(*current) : std::optional<int64_t>(0);
        int64_t sum = 0;
        if (!base || __builtin_add_overflow(*base, s.delta, &sum)) {
          op.outcome = Outcome::kFail;  // Redis rejects it: nothing happens
          continue;
        }
        op.incr_result = sum;
        if (applied) current = std::to_string(sum);
        break;
      }
      case OpKind::kAppend:
        op.value = "e" + std::to_string(t.index);
        if (applied) elements[op.key].push_back(op.value);
        break;
    }
    switch (s.fate) {
      case SyntheticFate::kOk: op.outcome = Outcome::kOk; break;
      case SyntheticFate::kFail: op.outcome = Outcome::kFail; break;
      case SyntheticFate::kIndeterminateApplied:
      case SyntheticFate::kIndeterminateSkipped: op.outcome = Outcome::kIndeterminate; break;
    }
    if (op.outcome != Outcome::kOk) {
      op.read_value.reset();
      op.cas_applied = false;
      op.incr_result = 0;
    }
  }

  SyntheticHistory out;
  std::stable_sort(timed.begin(), timed.end(),
                   [](const Timed& a, const Timed& b) { return a.invoke < b.invoke; });
  for (const Timed& t : timed) out.history.add(std::move(ops[t.index]));
  for (auto& [key, value] : values) {
    if (value) out.final_state.values[key] = value;
  }
  for (auto& [key, list] : elements) out.final_state.elements[key] = list;
  // Keys that were touched but never set still have a (nil) final read.
  for (const Operation& op : out.history.ops()) {
    if (op.kind == OpKind::kAppend) {
      out.final_state.elements.try_emplace(op.key);
    } else {
      out.final_state.values.try_emplace(op.key, std::nullopt);
    }
  }
  return out;
}

std::vector<SyntheticStep> random_steps(core::Random& random, const SyntheticOptions& options) {
  KEEL_ASSERT(options.clients > 0);
  uint32_t keys = options.register_keys + options.counter_keys + options.append_keys;
  KEEL_ASSERT(keys > 0);
  std::vector<SyntheticStep> steps;
  steps.reserve(options.steps);
  for (uint64_t i = 0; i < options.steps; ++i) {
    SyntheticStep s;
    s.client = static_cast<uint32_t>(random.uniform(0, options.clients - 1));
    s.key = static_cast<uint32_t>(random.uniform(0, keys - 1));
    if (s.key < options.register_keys) {
      if (random.chance(options.cas_fraction)) {
        s.kind = OpKind::kCas;
      } else {
        s.kind = random.chance(0.5) ? OpKind::kRead : OpKind::kWrite;
      }
    } else if (s.key < options.register_keys + options.counter_keys) {
      s.kind = random.chance(0.5) ? OpKind::kRead : OpKind::kIncr;
    } else {
      s.kind = OpKind::kAppend;
    }
    s.choice = static_cast<uint32_t>(random.uniform(0, 1000));
    s.delta = random.uniform_i64(1, std::max<int64_t>(1, options.delta_max));
    s.think = random.uniform_duration(core::Duration::zero(), options.think_max);
    s.lead = random.uniform_duration(core::Duration::zero(), options.latency_max);
    s.lag = random.uniform_duration(core::Duration::zero(), options.latency_max);
    double roll = random.unit();
    if (roll < options.fail_fraction) {
      s.fate = SyntheticFate::kFail;
    } else if (roll < options.fail_fraction + options.indeterminate_fraction) {
      s.fate = random.chance(0.5) ? SyntheticFate::kIndeterminateApplied
                                  : SyntheticFate::kIndeterminateSkipped;
    }
    steps.push_back(s);
  }
  return steps;
}

}  // namespace keel::workloads
