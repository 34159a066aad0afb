// linearizability_bench: how fast the workloads/ checkers digest histories.
//
// Builds synthetic histories that are linearizable by construction (10
// clients, 5 register keys, overlapping operations; optionally counters and
// indeterminate outcomes), checks them, and prints operations checked per
// second. Wall-clock timing is the point of a benchmark, so this program (not
// library code) reads std::chrono::steady_clock.
//
//   linearizability_bench [ops_per_client=1000] [seed=1]
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/random.h"
#include "workloads/durability.h"
#include "workloads/linearizability.h"
#include "workloads/synthetic.h"

namespace {

using keel::workloads::SyntheticOptions;

void run(const char* name, const SyntheticOptions& options, uint64_t seed) {
  keel::core::Random random(seed);
  auto steps = keel::workloads::random_steps(random, options);
  auto synthetic = keel::workloads::build_linearizable_history(steps);

  auto start = std::chrono::steady_clock::now();
  auto lin = keel::workloads::check_linearizability(synthetic.history);
  auto middle = std::chrono::steady_clock::now();
  auto dur = keel::workloads::check_durability(synthetic.history, synthetic.final_state);
  auto end = std::chrono::steady_clock::now();

  double lin_s = std::chrono::duration<double>(middle - start).count();
  double dur_s = std::chrono::duration<double>(end - middle).count();
  uint64_t memo = 0;
  for (const auto& k : lin.keys) memo += k.memo_entries;
  std::printf("%-28s ops=%-7zu lin=%s %8.3f ms %10.0f ops/s  steps=%-9llu memo=%-8llu  "
              "durability=%s %.3f ms\n",
              name, synthetic.history.size(),
              std::string(keel::workloads::verdict_name(lin.verdict)).c_str(), lin_s * 1e3,
              static_cast<double>(synthetic.history.size()) / lin_s,
              static_cast<unsigned long long>(lin.search_steps),
              static_cast<unsigned long long>(memo),
              std::string(keel::workloads::verdict_name(dur.verdict)).c_str(), dur_s * 1e3);
  if (lin.verdict != keel::workloads::Verdict::kPass) std::printf("%s", lin.summary().c_str());
}

}  // namespace

int main(int argc, char** argv) {
  uint64_t per_client = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000;
  uint64_t seed = argc > 2 ? std::strtoull(argv[2], nullptr, 10) : 1;

  SyntheticOptions base;
  base.clients = 10;
  base.register_keys = 5;
  base.steps = base.clients * per_client;
  run("register", base, seed);

  SyntheticOptions wide = base;
  wide.register_keys = 1;
  run("register, 1 key", wide, seed);

  SyntheticOptions faults = base;
  faults.fail_fraction = 0.05;
  faults.indeterminate_fraction = 0.05;
  run("register, 5% indeterminate", faults, seed);

  SyntheticOptions counters = base;
  counters.register_keys = 0;
  counters.counter_keys = 5;
  run("counter", counters, seed);

  SyntheticOptions counter_faults = counters;
  counter_faults.indeterminate_fraction = 0.05;
  run("counter, 5% indeterminate", counter_faults, seed);

  // Unanswered increments with different deltas are not interchangeable, so
  // each adds a branch the search must keep: the hard case for counters.
  SyntheticOptions mixed = counter_faults;
  mixed.delta_max = 5;
  mixed.indeterminate_fraction = 0.02;
  run("counter 1..5, 2% indeterm.", mixed, seed);
  return 0;
}
