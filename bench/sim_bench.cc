// sim_bench: the simulator's own speed.
//
//   sim_bench [--reps N]
// Prints, each as the median of N repetitions:
//   - fiber switch: ns per Scheduler yield between two fibers, next to a
//     raw Boost.Context resume pair (the floor under our scheduler);
//   - events per wall second of a ping-pong between two simulated nodes over
//     a simulated stream, next to bare timer events with no fibers or network
//     (the floor under the network model);
//   - time acceleration of the demo under faults: simulated seconds per wall
//     second, over seeds 1..10;
//   - events per wall second and seeds per minute of the ISR partition
//     workload (isr-register, seeds 1..100) next to the Raft KV register
//     workload (seeds 1..10), 3 nodes, one process, no parallel jobs.
#include <algorithm>
#include <boost/context/fiber.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <vector>

#include "core/scheduler.h"
#include "sim/network.h"
#include "sim/run.h"
#include "sim/world.h"

namespace {

using keel::core::Duration;
using Clock = std::chrono::steady_clock;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

double scheduler_switch_ns(int switches) {
  keel::core::Scheduler s;
  for (int f = 0; f < 2; ++f) {
    s.spawn(keel::core::ProcessId(1), "pinger", [&s, switches] {
      for (int i = 0; i < switches / 2; ++i) s.yield();
    });
  }
  const auto t = Clock::now();
  s.run_ready();
  return seconds_since(t) * 1e9 / switches;
}

double raw_context_switch_ns(int switches) {
  namespace ctx = boost::context;
  int n = 0;
  ctx::fiber f([&n, switches](ctx::fiber&& main) {
    while (n < switches) {
      ++n;
      main = std::move(main).resume();
    }
    return std::move(main);
  });
  const auto t = Clock::now();
  while (f) f = std::move(f).resume();
  // Each loop turn is two switches: into the fiber and back.
  return seconds_since(t) * 1e9 / (2.0 * switches);
}

double pingpong_events_per_second(int round_trips) {
  keel::sim::World w(1);
  int done = 0;
  auto server = w.add_host("n1", [&](keel::core::Env& env) {
    auto l = env.net.listen(keel::core::Address{"n1", 7000});
    auto s = (*l)->accept();
    char buf[8];
    for (;;) {
      auto r = (*s)->read(buf, sizeof buf);
      if (!r.is_ok() || *r == 0) return;
      if (!(*s)->write(std::string_view(buf, *r)).is_ok()) return;
    }
  });
  auto client = w.add_host("n2", [&](keel::core::Env& env) {
    env.sleep_for(Duration::millis(1));
    auto s = env.net.connect(keel::core::Address{"n1", 7000}, Duration::seconds(1));
    char buf[8] = {};
    for (int i = 0; i < round_trips; ++i) {
      if (!(*s)->write(std::string_view(buf, 1)).is_ok()) return;
      if (!(*s)->read(buf, 1).is_ok()) return;
      ++done;
    }
  });
  w.network().options().split_probability = 0;
  w.start(server);
  w.start(client);
  const auto t = Clock::now();
  w.run_until(keel::core::Instant() + Duration::seconds(1'000'000), [&] { return done == round_trips; });
  const double wall = seconds_since(t);
  return static_cast<double>(w.events_run()) / wall;
}

double bare_events_per_second(int events) {
  keel::sim::World w(1);
  int fired = 0;
  std::function<void()> tick = [&] {
    if (++fired < events) w.after(Duration::micros(1), tick);
  };
  w.after(Duration::micros(1), tick);
  const auto t = Clock::now();
  w.run_until(keel::core::Instant() + Duration::seconds(1'000'000));
  return static_cast<double>(w.events_run()) / seconds_since(t);
}

struct SweepRate {
  double events_per_second = 0;
  double seeds_per_minute = 0;
};

// Seeds 1..n of `workload` on 3 nodes, one after another in this process.
SweepRate sweep(const char* workload, uint64_t n) {
  uint64_t events = 0;
  const auto t = Clock::now();
  for (uint64_t seed = 1; seed <= n; ++seed) {
    keel::sim::RunOptions o;
    o.seed = seed;
    o.workload = workload;
    events += keel::sim::run_simulation(o).events;
  }
  const double wall = seconds_since(t);
  return {static_cast<double>(events) / wall, static_cast<double>(n) * 60.0 / wall};
}

}  // namespace

int main(int argc, char** argv) {
  int reps = 5;
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], "--reps") == 0) reps = std::max(1, std::atoi(argv[i + 1]));
  }
  std::vector<double> sched, raw, ping, bare, accel, seeds_per_min;
  std::vector<double> isr_eps, isr_spm, raft_eps, raft_spm;
  for (int r = 0; r < reps; ++r) {
    sched.push_back(scheduler_switch_ns(4'000'000));
    raw.push_back(raw_context_switch_ns(4'000'000));
    ping.push_back(pingpong_events_per_second(300'000));
    bare.push_back(bare_events_per_second(2'000'000));
    double sim = 0;
    double wall = 0;
    const auto t = Clock::now();
    for (uint64_t seed = 1; seed <= 10; ++seed) {
      keel::sim::RunOptions o;
      o.seed = seed;
      const auto result = keel::sim::run_simulation(o);
      sim += result.sim_seconds;
      wall += result.wall_seconds;
    }
    accel.push_back(sim / wall);
    seeds_per_min.push_back(10 * 60.0 / seconds_since(t));
    // Partition replication (the ISR model) next to one Raft group's KV
    // cluster, both the register workload on 3 nodes with 20 s of faults.
    const SweepRate isr = sweep("isr-register", 100);
    const SweepRate raft = sweep("register", 10);
    isr_eps.push_back(isr.events_per_second);
    isr_spm.push_back(isr.seeds_per_minute);
    raft_eps.push_back(raft.events_per_second);
    raft_spm.push_back(raft.seeds_per_minute);
  }
  std::printf("sim_bench (median of %d)\n", reps);
  std::printf("  fiber switch (Scheduler::yield)      %8.1f ns   raw Boost.Context resume %6.1f ns   ratio %.2f\n",
              median(sched), median(raw), median(sched) / median(raw));
  std::printf("  ping-pong events/s (2 sim nodes)     %10.0f   bare timer events/s %10.0f   ratio %.2f\n",
              median(ping), median(bare), median(ping) / median(bare));
  std::printf("  demo under faults: %.0f simulated s per wall s, %.0f seeds/min (20 s fault window + heal)\n",
              median(accel), median(seeds_per_min));
  std::printf("  isr-register, 3 nodes, one process:  %10.0f events/s %7.0f seeds/min   "
              "register (Raft) %10.0f events/s %6.0f seeds/min\n",
              median(isr_eps), median(isr_spm), median(raft_eps), median(raft_spm));
  return 0;
}
