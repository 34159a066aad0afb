// World: the deterministic simulator's kernel.
//
// One thread, one seed, one event queue ordered by (virtual time, sequence
// number). Between events the world runs every ready fiber; when no fiber is
// ready it jumps virtual time to the next event. Nothing here reads a real
// clock or the OS: a run is a pure function of its seed and options.
//
// Hosts are the simulated machines (nodes and clients). A host keeps its name,
// network address, clock (with drift) and disk across crashes; each start of
// its program is a new incarnation with a fresh ProcessId, so events, timers
// and fibers of a dead incarnation can never touch the next one.
//
// Invariants: virtual time never goes backwards; an event owned by a dead or
// crashed incarnation never runs; a paused host's fibers do not run and its
// timers are held until it resumes.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <unordered_set>
#include <vector>

#include "core/env.h"
#include "core/random.h"
#include "core/scheduler.h"
#include "core/trace.h"
#include "sim/disk/sim_disk.h"

namespace keel::sim {

class SimNetwork;
class HostNetwork;
class Timeline;
class World;

struct HostIdTag {};
using HostId = core::StrongId<HostIdTag, uint32_t>;

struct WorldOptions {
  // Bound on each host's clock rate error, in parts per million.
  int64_t clock_drift_ppm_max = 200;
  // Fiber stack size for every simulated process.
  size_t stack_bytes = core::Scheduler::kStackBytesDefault;
};

// A host's clock: virtual time seen through the host's rate error and offset.
class HostClock : public core::Clock {
 public:
  HostClock(World& world, HostId host, int64_t drift_ppm, int64_t offset_ns);
  core::Instant now() const override;
  core::TimerId schedule(core::Instant at, std::function<void()> fn) override;
  void cancel(core::TimerId id) override;
  int64_t drift_ppm() const { return drift_ppm_; }
  void set_drift_ppm(int64_t ppm);
  // The world time at which this clock reads `local`.
  core::Instant to_world(core::Instant local) const;

 private:
  World& world_;
  HostId host_;
  int64_t drift_ppm_;
  int64_t offset_ns_;
  // Rebasing keeps now() continuous when the drift changes.
  int64_t base_world_ns_ = 0;
  int64_t base_local_ns_ = 0;
};

using ProgramFn = std::function<void(core::Env&)>;

enum class HostState : uint8_t { kDown, kUp, kPaused };

class World {
 public:
  World(uint64_t seed, WorldOptions options = {});
  ~World();
  World(const World&) = delete;
  World& operator=(const World&) = delete;

  uint64_t seed() const { return seed_; }
  core::Instant now() const { return now_; }
  core::Random& random() { return random_; }
  core::Scheduler& scheduler() { return scheduler_; }
  core::TraceLog& trace_log() { return trace_log_; }
  core::Tracer& tracer() { return tracer_; }
  SimNetwork& network() { return *network_; }
  const WorldOptions& options() const { return options_; }
  // The recorder of the timeline page, or null (the default). The world, the
  // network and the nemesis report to it; recording changes nothing in the
  // run (sim/timeline.h). Not owned; must outlive the run.
  void set_timeline(Timeline* timeline) { timeline_ = timeline; }
  Timeline* timeline() const { return timeline_; }

  // --- Events -------------------------------------------------------------
  // Runs `fn` on the loop (not in a fiber) at world time `at` (clamped to
  // now). With a non-zero `owner`, the event is dropped if that incarnation
  // has died by then, and held while its host is paused.
  uint64_t at(core::Instant at, std::function<void()> fn, core::ProcessId owner = core::ProcessId());
  uint64_t after(core::Duration d, std::function<void()> fn, core::ProcessId owner = core::ProcessId()) {
    return at(now_ + d, std::move(fn), owner);
  }
  void cancel(uint64_t event_id);

  // Runs fibers and events until no event is left before `deadline`; time
  // then stands at `deadline` (or at the last event, if `stop` returned
  // true). `stop` is checked after each event.
  void run_until(core::Instant deadline, const std::function<bool()>& stop = nullptr);
  void run_for(core::Duration d, const std::function<bool()>& stop = nullptr) { run_until(now_ + d, stop); }
  uint64_t events_run() const { return events_run_; }
  size_t events_pending() const { return queue_.size() - cancelled_.size(); }

  // --- Hosts --------------------------------------------------------------
  // Adds a host named `name` (also its network host name, e.g. "n1") whose
  // program is `program`; it starts down. Clock drift is drawn within the
  // bound unless `drift_ppm` is given.
  HostId add_host(const std::string& name, ProgramFn program, std::optional<int64_t> drift_ppm = std::nullopt);
  size_t host_count() const { return hosts_.size(); }
  const std::string& host_name(HostId h) const;
  HostId host_by_name(const std::string& name) const;  // HostId(0) if none
  HostState host_state(HostId h) const;
  core::ProcessId process(HostId h) const;  // current incarnation, 0 if down
  bool alive(core::ProcessId p) const;
  SimDisk& disk(HostId h);
  HostClock& clock(HostId h);
  // The env of the current incarnation. Precondition: host is up or paused.
  core::Env& env(HostId h);

  // Starts a new incarnation running the host's program in a fiber "main".
  void start(HostId h);
  // Power loss: kills every fiber of the host (stack unwinding), resets its
  // connections, drops its timers and applies the disk crash model.
  void crash(HostId h);
  // SIGKILL: like crash(), but the disk keeps every write (the kernel's
  // page cache survives the process).
  void kill(HostId h);
  // Called (from the loop) when a host's program returns: the process has
  // exited. The harness may restart it, as a supervisor would.
  void set_on_exit(std::function<void(HostId)> fn) { on_exit_ = std::move(fn); }
  // Crash followed by start, as one step.
  void restart(HostId h);
  void pause(HostId h);
  void resume(HostId h);

 private:
  friend class HostClock;
  struct Event {
    int64_t at_ns;
    uint64_t seq;
    core::ProcessId owner;
    std::function<void()> fn;
  };
  // Heap order: earliest (time, sequence) on top.
  struct Later {
    bool operator()(const Event& a, const Event& b) const {
      return a.at_ns != b.at_ns ? a.at_ns > b.at_ns : a.seq > b.seq;
    }
  };
  struct Host;

  Host& host(HostId h);
  const Host& host(HostId h) const;
  void run_fibers();
  void stop_process(HostId h, bool power_loss, const char* why);
  void fire(Event& event);

  uint64_t seed_;
  WorldOptions options_;
  core::Random random_;
  core::Instant now_;
  core::Scheduler scheduler_;
  core::TraceLog trace_log_;
  std::unique_ptr<core::Clock> world_clock_;
  core::Tracer tracer_;
  std::unique_ptr<SimNetwork> network_;

  std::vector<Event> queue_;  // a binary heap under Later
  // Cancelled events stay in the heap and are skipped when they surface;
  // this set is only looked up, never iterated.
  std::unordered_set<uint64_t> cancelled_;
  uint64_t next_seq_ = 1;
  uint64_t events_run_ = 0;

  std::vector<std::unique_ptr<Host>> hosts_;  // index = HostId - 1
  uint32_t next_process_ = 1;
  std::set<core::ProcessId> alive_;
  // Events of paused hosts, replayed in order on resume.
  std::map<core::ProcessId, std::vector<Event>> held_;
  std::function<void(HostId)> on_exit_;
  Timeline* timeline_ = nullptr;
};

}  // namespace keel::sim
