#include "sim/nemesis.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
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

std::optional<FaultKind> parse_fault_kind(std::string_view name) {
  for (FaultKind k : all_fault_kinds()) {
    if (name == fault_name(k)) return k;
  }
  return std::nullopt;
}

std::string FaultEvent::to_text() const {
  std::string out = std::to_string(at.ns()) + " " + fault_name(kind) + " " + std::to_string(hold.ns()) + " " +
                    std::to_string(value) + " ";
  if (hosts.empty()) out += "-";
  for (size_t i = 0; i < hosts.size(); ++i) out += (i == 0 ? "" : ",") + hosts[i];
  out += " ";
  if (odds.empty()) out += "-";
  for (size_t i = 0; i < odds.size(); ++i) {
    char buf[40];
    std::snprintf(buf, sizeof buf, "%s%.17g", i == 0 ? "" : ",", odds[i]);
    out += buf;
  }
  return out;
}

namespace {

std::vector<std::string> split(std::string_view text, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  for (;;) {
    const size_t end = text.find(sep, start);
    out.emplace_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return out;
    start = end + 1;
  }
}

}  // namespace

core::Result<FaultEvent> FaultEvent::parse(std::string_view text) {
  const std::vector<std::string> fields = split(text, ' ');
  const auto bad = [&](const std::string& why) {
    return core::invalid_argument("fault event '" + std::string(text) + "': " + why);
  };
  if (fields.size() != 6) return bad("expected 6 fields");
  FaultEvent e;
  const std::optional<int64_t> at_ns = core::parse_i64(fields[0]);
  if (!at_ns || *at_ns < 0) return bad("bad time");
  auto kind = parse_fault_kind(fields[1]);
  if (!kind) return bad("unknown fault kind");
  const std::optional<int64_t> hold_ns = core::parse_i64(fields[2]);
  if (!hold_ns || *hold_ns < 0) return bad("bad hold");
  const std::optional<int64_t> value = core::parse_i64(fields[3]);
  if (!value) return bad("bad value");
  e.at = Instant() + Duration::nanos(*at_ns);
  e.kind = *kind;
  e.hold = Duration::nanos(*hold_ns);
  e.value = *value;
  if (fields[4] != "-") e.hosts = split(fields[4], ',');
  if (fields[5] != "-") {
    for (const std::string& p : split(fields[5], ',')) {
      char* end = nullptr;
      const double v = std::strtod(p.c_str(), &end);
      if (p.empty() || *end != '\0' || !(v >= 0 && v <= 1)) return bad("bad odds");
      e.odds.push_back(v);
    }
  }
  const size_t hosts_needed = e.kind == FaultKind::kReset                                   ? 0
                              : e.kind == FaultKind::kOneWay || e.kind == FaultKind::kClog ? 2
                              : e.kind == FaultKind::kPartition                            ? e.hosts.size()
                                                                                           : 1;
  if (e.hosts.size() != hosts_needed || (e.kind == FaultKind::kPartition && e.hosts.empty())) {
    return bad("wrong number of hosts");
  }
  const size_t odds_needed = e.kind == FaultKind::kDiskErrors ? 3 : e.kind == FaultKind::kSlowDisk ? 1 : 0;
  if (e.odds.size() != odds_needed) return bad("wrong number of odds");
  if (e.kind == FaultKind::kCrashAtDiskCall && e.value < 1) return bad("a crash point counts from 1");
  return e;
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
  // A scenario without hosts (a model run on the event queue alone) gets a
  // nemesis with no faults to draw.
  KEEL_ASSERT(!nodes_.empty() || swarm_.mean_interval.empty());
  for (HostId h : nodes_) normal_disk_[h] = world_.disk(h).faults();
  for (HostId h : everyone_) by_name_[world_.host_name(h)] = h;
  for (HostId h : nodes_) by_name_[world_.host_name(h)] = h;
}

std::vector<std::string> Nemesis::names(const std::vector<HostId>& hosts) const {
  std::vector<std::string> out;
  for (HostId h : hosts) out.push_back(world_.host_name(h));
  return out;
}

HostId Nemesis::pick_node() { return nodes_[random_.uniform(0, nodes_.size() - 1)]; }

HostId Nemesis::host(const std::string& name) const {
  auto it = by_name_.find(name);
  KEEL_ASSERT_MSG(it != by_name_.end(), "fault plan names an unknown host (validate plans before running them)");
  return it->second;
}

bool Nemesis::valid(const FaultEvent& e) const {
  for (const std::string& name : e.hosts) {
    if (by_name_.count(name) == 0) return false;
  }
  return true;
}

FaultEvent Nemesis::draw(FaultKind kind, Instant at) {
  FaultEvent e;
  e.at = at;
  e.kind = kind;
  e.hold = Duration::millis(static_cast<int64_t>(random_.uniform(50, 3000)));
  const auto node = [this] { return world_.host_name(pick_node()); };
  switch (kind) {
    case FaultKind::kPartition: {
      std::vector<HostId> side;
      for (HostId h : nodes_) {
        if (random_.chance(0.5)) side.push_back(h);
      }
      if (side.empty() || side.size() == nodes_.size()) side = {pick_node()};
      // Clients land on either side too: some keep talking to a leader the
      // others have deposed, while the others write through the new one.
      for (HostId h : everyone_) {
        if (std::find(nodes_.begin(), nodes_.end(), h) == nodes_.end() && random_.chance(0.5)) side.push_back(h);
      }
      e.hosts = names(side);
      break;
    }
    case FaultKind::kIsolate:
    case FaultKind::kCrash:
    case FaultKind::kKill:
    case FaultKind::kPause:
    case FaultKind::kBitFlip:
      e.hosts = {node()};
      break;
    case FaultKind::kOneWay: {
      const HostId a = pick_node();
      HostId b = pick_node();
      if (a == b) b = everyone_[random_.uniform(0, everyone_.size() - 1)];
      e.hosts = {world_.host_name(a), world_.host_name(b)};
      break;
    }
    case FaultKind::kClog: {
      const HostId a = pick_node();
      const HostId b = everyone_[random_.uniform(0, everyone_.size() - 1)];
      e.hosts = {world_.host_name(a), world_.host_name(b)};
      e.value = static_cast<int64_t>(random_.uniform(10, 1000));
      break;
    }
    case FaultKind::kReset:
      break;
    case FaultKind::kDiskErrors:
      e.hosts = {node()};
      e.odds = {random_.unit() * 0.05, random_.unit() * 0.05, random_.unit() * 0.05};
      break;
    case FaultKind::kSlowDisk:
      e.hosts = {node()};
      e.odds = {0.2 + random_.unit() * 0.8};
      e.value = static_cast<int64_t>(random_.uniform(20, 500));
      break;
    case FaultKind::kClockDrift: {
      e.hosts = {node()};
      const int64_t bound = world_.options().clock_drift_ppm_max;
      e.value = random_.uniform_i64(-bound, bound);
      break;
    }
    case FaultKind::kCrashAtDiskCall:
      e.hosts = {node()};
      e.value = static_cast<int64_t>(random_.uniform(1, 200));
      break;
  }
  return e;
}

std::vector<FaultEvent> Nemesis::plan(Instant start, Instant end) {
  std::vector<FaultEvent> events;
  for (auto& [kind, mean] : swarm_.mean_interval) {
    for (Instant t = start + random_.exponential(mean); t < end; t = t + random_.exponential(mean)) {
      events.push_back(draw(kind, t));
    }
  }
  std::stable_sort(events.begin(), events.end(), [](const FaultEvent& a, const FaultEvent& b) { return a.at < b.at; });
  return events;
}

void Nemesis::schedule(std::vector<FaultEvent> events, Instant end) {
  for (FaultEvent& e : events) {
    KEEL_ASSERT(valid(e));
    if (e.at >= end) continue;
    world_.at(e.at, [this, e = std::move(e)] {
      if (!healed_) inject(e);
    });
  }
  world_.at(end, [this] { heal(); });
}

void Nemesis::inject(const FaultEvent& e) {
  const FaultKind kind = e.kind;
  ++counts_[fault_name(kind)];
  SimNetwork& net = world_.network();
  const Duration hold = e.hold;
  switch (kind) {
    case FaultKind::kPartition: {
      std::vector<HostId> side;
      for (const std::string& name : e.hosts) side.push_back(host(name));
      net.partition(names(side), names(everyone_));
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
      const HostId h = host(e.hosts.at(0));
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
      const HostId a = host(e.hosts.at(0));
      const HostId b = host(e.hosts.at(1));
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
      const HostId a = host(e.hosts.at(0));
      const HostId b = host(e.hosts.at(1));
      const Duration extra = Duration::millis(e.value);
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
      const HostId h = host(e.hosts.at(0));
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
      const HostId h = host(e.hosts.at(0));
      if (world_.host_state(h) != HostState::kUp) break;
      world_.pause(h);
      world_.after(hold, [this, h] {
        if (!healed_) world_.resume(h);
      });
      break;
    }
    case FaultKind::kDiskErrors: {
      const HostId h = host(e.hosts.at(0));
      DiskFaults f = world_.disk(h).faults();
      f.read_error_probability = e.odds.at(0);
      f.write_error_probability = e.odds.at(1);
      f.sync_error_probability = e.odds.at(2);
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
      const HostId h = host(e.hosts.at(0));
      DiskFaults f = world_.disk(h).faults();
      f.slow_io_probability = e.odds.at(0);
      f.slow_io_latency = Duration::millis(e.value);
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
      const HostId h = host(e.hosts.at(0));
      world_.clock(h).set_drift_ppm(e.value);
      if (Timeline* timeline = world_.timeline()) {
        timeline->fault("clock_drift", {world_.host_name(h)}, {},
                        "clock rate error now " + std::to_string(world_.clock(h).drift_ppm()) + " ppm", world_.now(),
                        world_.now(), Timeline::FaultScope::kInstant);
      }
      break;
    }
    case FaultKind::kBitFlip: {
      const HostId h = host(e.hosts.at(0));
      world_.disk(h).flip_random_bit();
      if (Timeline* timeline = world_.timeline()) {
        timeline->fault("bit_flip", {world_.host_name(h)}, {}, "a bit of durable data flipped", world_.now(),
                        world_.now(), Timeline::FaultScope::kInstant);
      }
      break;
    }
    case FaultKind::kCrashAtDiskCall: {
      const HostId h = host(e.hosts.at(0));
      if (world_.host_state(h) == HostState::kDown) break;
      world_.disk(h).set_crash_point(static_cast<uint64_t>(e.value), [this, h, hold] {
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
