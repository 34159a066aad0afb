// Property tests: histories that are linearizable by construction are always
// accepted, and provably impossible mutations of them are always rejected.
#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include "workloads/durability.h"
#include "workloads/linearizability.h"
#include "workloads/synthetic.h"

using keel::core::Duration;
using namespace keel::workloads;

namespace {

// Keys 0 and 1 are registers, 2 a counter, 3 a set of unique appends.
constexpr uint32_t kCounterKey = 2;
constexpr uint32_t kAppendKey = 3;

rc::Gen<SyntheticStep> gen_step() {
  return rc::gen::map(
      rc::gen::tuple(rc::gen::inRange<uint32_t>(0, 4), rc::gen::inRange<uint32_t>(0, 4),
                     rc::gen::inRange(0, 100), rc::gen::inRange<uint32_t>(0, 1000),
                     rc::gen::inRange<int64_t>(1, 5), rc::gen::inRange(0, 50),
                     rc::gen::inRange(0, 300), rc::gen::inRange(0, 300), rc::gen::inRange(0, 100)),
      [](const auto& t) {
        auto [client, key, kind_roll, choice, delta, think, lead, lag, fate_roll] = t;
        SyntheticStep s;
        s.client = client;
        s.key = key;
        if (key == kAppendKey) {
          s.kind = OpKind::kAppend;
        } else if (key == kCounterKey) {
          s.kind = kind_roll < 50 ? OpKind::kRead : OpKind::kIncr;
        } else {
          s.kind = kind_roll < 40 ? OpKind::kRead : kind_roll < 75 ? OpKind::kWrite : OpKind::kCas;
        }
        s.choice = choice;
        s.delta = delta;
        s.think = Duration::micros(think);
        s.lead = Duration::micros(lead);
        s.lag = Duration::micros(lag);
        s.fate = fate_roll < 80   ? SyntheticFate::kOk
                 : fate_roll < 87 ? SyntheticFate::kFail
                 : fate_roll < 94 ? SyntheticFate::kIndeterminateApplied
                                  : SyntheticFate::kIndeterminateSkipped;
        return s;
      });
}

// A random script of up to 80 steps (fields drawn at full size so that even
// the first, smallest cases mix keys, kinds and fates), followed by `extra`:
// steps a property needs to be non-vacuous, run by a client of their own.
SyntheticHistory gen_history(std::vector<SyntheticStep> extra = {}) {
  size_t n = *rc::gen::inRange<size_t>(1, 80);
  auto steps = *rc::gen::container<std::vector<SyntheticStep>>(n, rc::gen::resize(100, gen_step()));
  for (SyntheticStep& e : extra) {
    e.client = 99;
    e.think = Duration::micros(*rc::gen::inRange(1, 50));
    e.lead = Duration::micros(*rc::gen::inRange(0, 300));
    e.lag = Duration::micros(*rc::gen::inRange(0, 300));
    steps.push_back(e);
  }
  return build_linearizable_history(steps);
}

SyntheticStep step(uint32_t key, OpKind kind) {
  SyntheticStep s;
  s.key = key;
  s.kind = kind;
  return s;
}

// Copies `h` with operation `id` replaced by `op`.
History with_op(const History& h, OpId id, const Operation& op) {
  History out;
  for (const Operation& o : h.ops()) out.add(o.id == id ? op : o);
  return out;
}

std::vector<OpId> ok_reads(const History& h, bool counter) {
  std::vector<OpId> ids;
  std::string counter_key = "k" + std::to_string(kCounterKey);
  for (const Operation& op : h.ops()) {
    if (op.kind != OpKind::kRead || op.outcome != Outcome::kOk) continue;
    if ((op.key == counter_key) == counter) ids.push_back(op.id);
  }
  return ids;
}

}  // namespace

TEST_CASE("checkers: histories linearizable by construction pass both checkers",
          "[workloads][prop]") {
  rc::prop("linearizable histories are accepted", [] {
    SyntheticHistory s = gen_history();
    LinearizabilityResult lin = check_linearizability(s.history);
    RC_LOG() << lin.summary() << s.history.dump();
    RC_ASSERT(lin.verdict == Verdict::kPass);
    LinearizabilityOptions no_prune;
    no_prune.prune_unobserved_writes = false;
    RC_ASSERT(check_linearizability(s.history, no_prune).verdict == Verdict::kPass);
    DurabilityResult dur = check_durability(s.history, s.final_state);
    RC_LOG() << dur.summary();
    RC_ASSERT(dur.verdict == Verdict::kPass);
  });
}

TEST_CASE("checkers: a read of a value never written is rejected", "[workloads][prop]") {
  rc::prop("mutated read is rejected", [] {
    bool counter = *rc::gen::arbitrary<bool>();
    SyntheticHistory s = gen_history({step(counter ? kCounterKey : 0, OpKind::kRead)});
    std::vector<OpId> reads = ok_reads(s.history, counter);
    RC_ASSERT(!reads.empty());
    Operation op = s.history.op(reads[*rc::gen::inRange<size_t>(0, reads.size())]);
    // No counter in these histories gets near 999999; "phantom" is never written.
    op.read_value = counter ? "999999" : "phantom";
    History mutated = with_op(s.history, op.id, op);
    LinearizabilityResult lin = check_linearizability(mutated);
    RC_LOG() << lin.summary();
    RC_ASSERT(lin.verdict == Verdict::kFail);
  });
}

TEST_CASE("checkers: a read of a value written only later is rejected", "[workloads][prop]") {
  rc::prop("read from the future is rejected", [] {
    SyntheticHistory s = gen_history({step(0, OpKind::kRead), step(0, OpKind::kWrite)});
    // Pairs (read, write on its key invoked after the read completed).
    std::vector<std::pair<OpId, OpId>> pairs;
    for (OpId r : ok_reads(s.history, false)) {
      for (const Operation& w : s.history.ops()) {
        if (w.key == s.history.op(r).key && (w.kind == OpKind::kWrite || w.kind == OpKind::kCas) &&
            w.invoke_time > s.history.op(r).complete_time) {
          pairs.emplace_back(r, w.id);
        }
      }
    }
    RC_ASSERT(!pairs.empty());  // the appended read-then-write is one
    auto [read_id, write_id] = pairs[*rc::gen::inRange<size_t>(0, pairs.size())];
    // Values are unique per step, so a value first written after the read
    // completed cannot be what it saw.
    Operation op = s.history.op(read_id);
    op.read_value = s.history.op(write_id).value;
    LinearizabilityResult lin = check_linearizability(with_op(s.history, op.id, op));
    RC_LOG() << lin.summary();
    RC_ASSERT(lin.verdict == Verdict::kFail);
  });
}

TEST_CASE("checkers: an impossible increment result is rejected", "[workloads][prop]") {
  rc::prop("mutated incr is rejected", [] {
    SyntheticHistory s = gen_history({step(kCounterKey, OpKind::kIncr)});
    std::vector<OpId> incrs;
    for (const Operation& op : s.history.ops()) {
      if (op.kind == OpKind::kIncr && op.outcome == Outcome::kOk) incrs.push_back(op.id);
    }
    RC_ASSERT(!incrs.empty());
    Operation op = s.history.op(incrs[*rc::gen::inRange<size_t>(0, incrs.size())]);
    op.incr_result += 1000;  // more than all deltas together
    LinearizabilityResult lin = check_linearizability(with_op(s.history, op.id, op));
    RC_ASSERT(lin.verdict == Verdict::kFail);
  });
}

TEST_CASE("checkers: dropping an acknowledged append is a durability failure", "[workloads][prop]") {
  rc::prop("lost append is detected", [] {
    SyntheticHistory s = gen_history({step(kAppendKey, OpKind::kAppend)});
    std::vector<const Operation*> acked;
    for (const Operation& op : s.history.ops()) {
      if (op.kind == OpKind::kAppend && op.outcome == Outcome::kOk) acked.push_back(&op);
    }
    RC_ASSERT(!acked.empty());
    const Operation* victim = acked[*rc::gen::inRange<size_t>(0, acked.size())];
    std::vector<std::string>& set = s.final_state.elements[victim->key];
    std::erase(set, victim->value);
    RC_ASSERT(check_durability(s.history, s.final_state).verdict == Verdict::kFail);
  });
}
