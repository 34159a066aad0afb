#include "sim/run.h"

#include <chrono>
#include <cinttypes>
#include <cstdio>
#include <optional>

#include "core/assert.h"
#include "sim/network.h"
#include "sim/timeline.h"

namespace keel::sim {

using core::Duration;
using core::Instant;

std::string RunResult::to_json() const {
  std::string out = "{\"seed\":" + std::to_string(seed);
  out += ",\"workload\":\"";
  core::append_json_escaped(out, workload);
  out += "\",\"result\":\"";
  out += pass ? "pass" : "fail";
  char digest_hex[32];
  std::snprintf(digest_hex, sizeof digest_hex, "%016" PRIx64, digest);
  out += "\",\"digest\":\"";
  out += digest_hex;
  out += "\",\"events\":" + std::to_string(events);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.3f", sim_seconds);
  out += ",\"sim_seconds\":";
  out += buf;
  std::snprintf(buf, sizeof buf, "%.3f", wall_seconds);
  out += ",\"wall_seconds\":";
  out += buf;
  out += ",\"swarm\":\"";
  core::append_json_escaped(out, swarm);
  out += "\",\"faults\":{";
  bool first = true;
  for (auto& [k, v] : faults) {
    if (!first) out += ",";
    first = false;
    out += "\"" + k + "\":" + std::to_string(v);
  }
  out += "},\"ops\":{\"ok\":" + std::to_string(ops_ok) + ",\"fail\":" + std::to_string(ops_failed) +
         ",\"indeterminate\":" + std::to_string(ops_indeterminate) + "}";
  out += ",\"violations\":[";
  first = true;
  for (auto& v : violations) {
    if (!first) out += ",";
    first = false;
    out += "\"";
    core::append_json_escaped(out, v);
    out += "\"";
  }
  out += "],\"cover\":{";
  first = true;
  for (auto& [mark, hits] : coverage) {
    if (!first) out += ",";
    first = false;
    out += "\"";
    core::append_json_escaped(out, mark);
    out += "\":" + std::to_string(hits);
  }
  out += "}}";
  return out;
}

std::string RunResult::repro(const RunOptions& options) const {
  std::string cmd = "keel-sim --seed " + std::to_string(seed) + " --workload " + options.workload +
                    " --nodes " + std::to_string(options.nodes);
  if (!options.faults) cmd += " --no-faults";
  if (!options.bug.empty()) cmd += " --bug " + options.bug;
  return cmd;
}

RunResult run_simulation(const RunOptions& options) {
  const auto wall_start = std::chrono::steady_clock::now();
  RunResult result;
  result.seed = options.seed;
  result.workload = options.workload;

  auto scenario = make_scenario(options.workload);
  KEEL_ASSERT_MSG(scenario != nullptr, "unknown workload (validate before calling run_simulation)");

  World world(options.seed);
  FILE* trace_file = nullptr;
  if (!options.trace_path.empty()) {
    trace_file = std::fopen(options.trace_path.c_str(), "w");
    if (trace_file != nullptr) {
      world.trace_log().set_log_level(core::LogLevel::kDebug);
      world.trace_log().set_sink([trace_file](std::string_view line) {
        std::fwrite(line.data(), 1, line.size(), trace_file);
        std::fputc('\n', trace_file);
      });
    } else {
      result.violation("cannot open trace file " + options.trace_path);
    }
  }
  world.tracer().event("run.start", {{"seed", options.seed}, {"workload", options.workload}});

  // The timeline only listens: the run is the same with and without it.
  std::unique_ptr<Timeline> timeline;
  if (!options.timeline_path.empty()) {
    timeline = std::make_unique<Timeline>();
    world.set_timeline(timeline.get());
    // Through the world's pointer, which is cleared before the timeline
    // goes: the scenario keeps the listener for as long as it lives.
    scenario->set_leader_listener([&world, &scenario](core::NodeId node, core::Term term, bool leads) {
      Timeline* t = world.timeline();
      const std::vector<HostId> nodes = scenario->nodes();
      if (t == nullptr || node.value() == 0 || node.value() > nodes.size()) return;
      t->leader_change(world.host_name(nodes[node.value() - 1]), term.value(), leads, world.now());
    });
  }

  scenario->setup(world, options);
  if (timeline != nullptr) {
    // Lanes in page order: the nodes, then the clients and other hosts.
    for (HostId h : scenario->nodes()) timeline->lane(world.host_name(h), Timeline::Role::kNode);
    for (HostId h : scenario->hosts()) timeline->lane(world.host_name(h), Timeline::Role::kClient);
  }
  core::Random nemesis_random = world.random().fork("nemesis");
  SwarmConfig swarm;
  if (options.faults) swarm = SwarmConfig::draw(nemesis_random, scenario->allowed_faults());
  result.swarm = swarm.describe();
  Nemesis nemesis(world, scenario->nodes(), scenario->hosts(), swarm, nemesis_random.fork("inject"));
  // A process that exits is restarted by its supervisor after a pause.
  world.set_on_exit([&world](HostId h) {
    world.after(Duration::millis(500), [&world, h] {
      if (world.host_state(h) == HostState::kDown) world.start(h);
    });
  });
  for (HostId h : scenario->hosts()) world.start(h);

  const Instant heal_at = Instant() + options.fault_window;
  // The seed's own plan, or the one given (a replay, a shrink step).
  if (options.fault_plan) {
    if (options.faults) result.fault_plan = *options.fault_plan;
  } else {
    result.fault_plan = nemesis.plan(Instant() + Duration::millis(500), heal_at);
  }
  bool plan_ok = true;
  for (const FaultEvent& e : result.fault_plan) plan_ok = plan_ok && nemesis.valid(e);
  if (plan_ok) {
    nemesis.schedule(result.fault_plan, heal_at);
  } else {
    result.violation("the fault plan names a host this run does not have");
    nemesis.schedule({}, heal_at);
  }
  world.run_until(heal_at, [&] { return scenario->failed(); });
  if (!scenario->failed()) {
    nemesis.heal();
    scenario->on_healed(world);
    world.run_until(heal_at + options.liveness_window, [&] { return scenario->finished() || scenario->failed(); });
  }
  // An online checker stops the run at the event that broke an invariant.
  const std::optional<Instant> failed_at = scenario->failed() ? std::optional<Instant>(world.now()) : std::nullopt;
  if (!scenario->finished() && !scenario->failed()) {
    result.violation("liveness: the workload did not finish within " + options.liveness_window.to_string() +
                     " after the faults healed");
  }
  scenario->report(world, result);

  // A scenario may inject faults of its own (and report them).
  for (const auto& [kind, count] : nemesis.counts()) result.faults[kind] += count;
  for (const auto& [mark, hits] : world.trace_log().coverage().hits()) result.coverage[mark] = hits;
  result.digest = world.trace_log().digest();
  result.events = world.events_run();
  result.sim_seconds = static_cast<double>(world.now().ns()) / 1e9;
  result.wall_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - wall_start).count();
  if (trace_file != nullptr) {
    world.trace_log().set_sink(nullptr);
    std::fclose(trace_file);
  }
  if (timeline != nullptr) {
    world.set_timeline(nullptr);
    timeline->finish(world.now(), failed_at);
    if (const workloads::History* history = scenario->history()) {
      timeline->add_operations(*history, [&](workloads::ClientId c) { return scenario->client_host(c, options); });
    }
    const core::Status written = write_timeline_html(*timeline, result, options.timeline_path);
    if (!written.is_ok()) result.violation("cannot write the timeline page: " + written.to_string());
  }
  return result;
}

}  // namespace keel::sim
