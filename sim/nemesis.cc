#include "sim/nemesis.h"

#include <algorithm>
#include <cstdio>

#include "core/assert.h"
#include "sim/network.h"
#include "sim/timeline.h"

namespace keel::sim {

using core::Duration;
using core::Instant;

namespace {

// "n1 n3": host names for the timeline page's fault details.
std::string joined(const std::vector<std::string>& names) {
  std::string out;
  for (const auto& n : names) out += (out.empty() ? "" : " ") + n;
  return out;
}

std::string percent(double probability) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f%%", probability * 100);
  return buf;
}

}  // namespace

const char* fault_name(FaultKind kind) {
  switch (kind) {
    case FaultKind::kPartition: return "partition";
    case FaultKind::kIsolate: return "isolate";
    case FaultKind::kOneWay: return "one_way";
    case FaultKind::kClog: return "clog";
    case FaultKind::kReset: return "reset";
    case FaultKind::kCrash: return "crash";
    case FaultKind::kKill: return "kill";
    case FaultKind::kPause: return "pause";
    case FaultKind::kDiskErrors: return "disk_errors";
    case FaultKind::kSlowDisk: return "slow_disk";
    case FaultKind::kClockDrift: return "clock_drift";
    case FaultKind::kBitFlip: return "bit_flip";
    case FaultKind::kCrashAtDiskCall: return "crash_at_disk_call";
  }
  return "?";
}

std::vector<FaultKind> all_fault_kinds() {
  std::vector<FaultKind> all;
  for (int k = 0; k <= static_cast<int>(FaultKind::kCrashAtDiskCall); ++k) all.push_back(static_cast<FaultKind>(k));
  return all;
}

std::vector<FaultKind> fault_kinds_without_bit_flips() {
  std::vector<FaultKind> kinds = all_fault_kinds();
  std::erase(kinds, FaultKind::kBitFlip);
  return kinds;
}

SwarmConfig SwarmConfig::draw(core::Random& random, const std::vector<FaultKind>& allowed) {
  SwarmConfig c;
  if (allowed.empty()) return c;
  while (c.mean_interval.empty()) {
    for (FaultKind k : allowed) {
      if (random.chance(0.5)) {
        // From a fault every 100 ms to one every 5 s.
        c.mean_interval[k] = Duration::millis(static_cast<int64_t>(random.uniform(100, 5000)));
      }
    }
  }
  return c;
}

std::string SwarmConfig::describe() const {
  std::string out;
  for (auto& [k, d] : mean_interval) {
    if (!out.empty()) out += ",";
    out += fault_name(k);
    out += "/";
    out += std::to_string(d.ms());
    out += "ms";
  }
  return out.empty() ? "none" : out;
}

Nemesis::Nemesis(World& world, std::vector<HostId> nodes, std::vector<HostId> everyone, SwarmConfig swarm,
                 core::Random random)
    : world_(world), nodes_(std::move(nodes)), everyone_(std::move(everyone)), swarm_(std::move(swarm)),
      random_(random) {
  KEEL_ASSERT(!nodes_.empty());
  for (HostId h : nodes_) normal_disk_[h] = world_.disk(h).faults();
}

std::vector<std::string> Nemesis::names(const std::vector<HostId>& hosts) const {
  std::vector<std::string> out;
  for (HostId h : hosts) out.push_back(world_.host_name(h));
  return out;
}

HostId Nemesis::pick_node() { return nodes_[random_.uniform(0, nodes_.size() - 1)]; }

void Nemesis::schedule(Instant start, Instant end) {
  for (auto& [kind, mean] : swarm_.mean_interval) {
    const FaultKind k = kind;
    world_.at(start + random_.exponential(mean), [this, k, end] { arm(k, end); });
  }
  world_.at(end, [this] { heal(); });
}

void Nemesis::arm(FaultKind kind, Instant end) {
  if (healed_ || world_.now() >= end) return;
  inject(kind);
  const Duration next = random_.exponential(swarm_.mean_interval.at(kind));
  world_.after(next, [this, kind, end] { arm(kind, end); });
}

void Nemesis::inject(FaultKind kind) {
  ++counts_[fault_name(kind)];
  SimNetwork& net = world_.network();
  const Duration hold = Duration::millis(static_cast<int64_t>(random_.uniform(50, 3000)));
  switch (kind) {
    case FaultKind::kPartition: {
      std::vector<HostId> side;
      for (HostId h : nodes_) {
        if (random_.chance(0.5)) side.push_back(h);
      }
      if (side.empty() || side.size() == nodes_.size()) side = {pick_node()};
      net.partition(names(side), names(nodes_));
      if (Timeline* timeline = world_.timeline()) {
        std::vector<HostId> rest;
        for (HostId h : nodes_) {
          if (std::find(side.begin(), side.end(), h) == side.end()) rest.push_back(h);
        }
        timeline->fault("partition", names(side), names(rest), joined(names(side)) + " | " + joined(names(rest)),
                        world_.now(), world_.now() + hold, Timeline::FaultScope::kNetwork);
      }
      world_.after(hold, [this, &net] {
        if (!healed_) net.heal();
      });
      break;
    }
    case FaultKind::kIsolate: {
      const HostId h = pick_node();
      net.partition(names({h}), names(everyone_));
      if (Timeline* timeline = world_.timeline()) {
        timeline->fault("isolate", {world_.host_name(h)}, {}, world_.host_name(h) + " cut off from every host",
                        world_.now(), world_.now() + hold, Timeline::FaultScope::kNetwork);
      }
      world_.after(hold, [this, &net] {
        if (!healed_) net.heal();
      });
      break;
    }
    case FaultKind::kOneWay: {
      const HostId a = pick_node();
      HostId b = pick_node();
      if (a == b) b = everyone_[random_.uniform(0, everyone_.size() - 1)];
      net.block(world_.host_name(a), world_.host_name(b));
      if (Timeline* timeline = world_.timeline()) {
        timeline->fault("one_way", {world_.host_name(a)}, {world_.host_name(b)},
                        world_.host_name(a) + " -> " + world_.host_name(b) + " blocked", world_.now(),
                        world_.now() + hold, Timeline::FaultScope::kNetwork);
      }
      world_.after(hold, [this, &net] {
        if (!healed_) net.heal();
      });
      break;
    }
    case FaultKind::kClog: {
      const HostId a = pick_node();
      const HostId b = everyone_[random_.uniform(0, everyone_.size() - 1)];
      const Duration extra = Duration::millis(static_cast<int64_t>(random_.uniform(10, 1000)));
      net.clog(world_.host_name(a), world_.host_name(b), extra, world_.now() + hold);
      if (Timeline* timeline = world_.timeline()) {
        timeline->fault("clog", {world_.host_name(a)}, {world_.host_name(b)},
                        world_.host_name(a) + " <-> " + world_.host_name(b) + " +" + extra.to_string() + " latency",
                        world_.now(), world_.now() + hold, Timeline::FaultScope::kNetwork);
      }
      break;
    }
    case FaultKind::kReset:
      net.reset_random_connection();
      break;
    case FaultKind::kCrash:
    case FaultKind::kKill: {
      const HostId h = pick_node();
      if (world_.host_state(h) == HostState::kDown) break;
      if (kind == FaultKind::kCrash) {
        world_.crash(h);
      } else {
        world_.kill(h);
      }
      world_.after(hold, [this, h] {
        if (!healed_ && world_.host_state(h) == HostState::kDown) world_.start(h);
      });
      break;
    }
    case FaultKind::kPause: {
      const HostId h = pick_node();
      if (world_.host_state(h) != HostState::kUp) break;
      world_.pause(h);
      world_.after(hold, [this, h] {
        if (!healed_) world_.resume(h);
      });
      break;
    }
    case FaultKind::kDiskErrors: {
      const HostId h = pick_node();
      DiskFaults f = world_.disk(h).faults();
      f.read_error_probability = random_.unit() * 0.05;
      f.write_error_probability = random_.unit() * 0.05;
      f.sync_error_probability = random_.unit() * 0.05;
      world_.disk(h).set_faults(f);
      if (Timeline* timeline = world_.timeline()) {
        timeline->fault(fault_name(kind), {world_.host_name(h)}, {},
                        "EIO on " + percent(f.read_error_probability) + " of reads, " +
                            percent(f.write_error_probability) + " of writes, " + percent(f.sync_error_probability) +
                            " of syncs",
                        world_.now(), world_.now() + hold, Timeline::FaultScope::kDisk);
      }
      world_.after(hold, [this, h] {
        if (healed_) return;
        world_.disk(h).set_faults(normal_disk_.at(h));
        if (Timeline* timeline = world_.timeline()) timeline->disk_restored(world_.host_name(h), world_.now());
      });
      break;
    }
    case FaultKind::kSlowDisk: {
      const HostId h = pick_node();
      DiskFaults f = world_.disk(h).faults();
      f.slow_io_probability = 0.2 + random_.unit() * 0.8;
      f.slow_io_latency = Duration::millis(static_cast<int64_t>(random_.uniform(20, 500)));
      world_.disk(h).set_faults(f);
      if (Timeline* timeline = world_.timeline()) {
        timeline->fault(fault_name(kind), {world_.host_name(h)}, {},
                        percent(f.slow_io_probability) + " of I/O slowed by " + f.slow_io_latency.to_string(),
                        world_.now(), world_.now() + hold, Timeline::FaultScope::kDisk);
      }
      world_.after(hold, [this, h] {
        if (healed_) return;
        world_.disk(h).set_faults(normal_disk_.at(h));
        if (Timeline* timeline = world_.timeline()) timeline->disk_restored(world_.host_name(h), world_.now());
      });
      break;
    }
    case FaultKind::kClockDrift: {
      const HostId h = pick_node();
      const int64_t bound = world_.options().clock_drift_ppm_max;
      world_.clock(h).set_drift_ppm(random_.uniform_i64(-bound, bound));
      if (Timeline* timeline = world_.timeline()) {
        timeline->fault("clock_drift", {world_.host_name(h)}, {},
                        "clock rate error now " + std::to_string(world_.clock(h).drift_ppm()) + " ppm", world_.now(),
                        world_.now(), Timeline::FaultScope::kInstant);
      }
      break;
    }
    case FaultKind::kBitFlip: {
      const HostId h = pick_node();
      world_.disk(h).flip_random_bit();
      if (Timeline* timeline = world_.timeline()) {
        timeline->fault("bit_flip", {world_.host_name(h)}, {}, "a bit of durable data flipped", world_.now(),
                        world_.now(), Timeline::FaultScope::kInstant);
      }
      break;
    }
    case FaultKind::kCrashAtDiskCall: {
      const HostId h = pick_node();
      if (world_.host_state(h) == HostState::kDown) break;
      const uint64_t calls = random_.uniform(1, 200);
      world_.disk(h).set_crash_point(calls, [this, h, hold] {
        // Reached inside the node's own disk call: the crash itself runs
        // as the next event, so no fiber destroys its own stack.
        world_.after(Duration::zero(), [this, h, hold] {
          if (healed_ || world_.host_state(h) == HostState::kDown) return;
          world_.crash(h);
          world_.after(hold, [this, h] {
            if (!healed_ && world_.host_state(h) == HostState::kDown) world_.start(h);
          });
        });
      });
      break;
    }
  }
}

void Nemesis::heal() {
  if (healed_) return;
  healed_ = true;
  world_.tracer().event("nemesis.heal");
  if (Timeline* timeline = world_.timeline()) timeline->healed(world_.now());
  world_.network().heal();
  for (HostId h : nodes_) {
    world_.disk(h).set_faults(normal_disk_.at(h));
    world_.disk(h).set_crash_point(0, nullptr);
    if (world_.host_state(h) == HostState::kPaused) world_.resume(h);
    if (world_.host_state(h) == HostState::kDown) world_.start(h);
  }
}

}  // namespace keel::sim
