#include "sim/world.h"

#include <algorithm>

#include "core/assert.h"
#include "sim/network.h"
#include "sim/timeline.h"

namespace keel::sim {

using core::Duration;
using core::Instant;
using core::ProcessId;

namespace {

// The world's own clock: virtual time without drift, used by the nemesis,
// the harness and client hosts that need no drift.
class WorldClock : public core::Clock {
 public:
  WorldClock(World& world, core::Scheduler& sched) : core::Clock(sched), world_(world) {}
  Instant now() const override { return world_.now(); }
  core::TimerId schedule(Instant at, std::function<void()> fn) override {
    return core::TimerId(world_.at(at, std::move(fn)));
  }
  void cancel(core::TimerId id) override { world_.cancel(id.value()); }

 private:
  World& world_;
};

}  // namespace

struct World::Host {
  HostId id;
  std::string name;
  ProgramFn program;
  HostState state = HostState::kDown;
  ProcessId process;
  std::unique_ptr<HostClock> clock;
  std::unique_ptr<SimDisk> disk;
  std::unique_ptr<HostNetwork> net;
  std::unique_ptr<core::Random> random;
  std::unique_ptr<core::Tracer> tracer;
  std::unique_ptr<core::Env> env;
  uint32_t incarnations = 0;
};

HostClock::HostClock(World& world, HostId host, int64_t drift_ppm, int64_t offset_ns)
    : core::Clock(world.scheduler()), world_(world), host_(host), drift_ppm_(drift_ppm), offset_ns_(offset_ns) {}

Instant HostClock::now() const {
  const __int128 elapsed = world_.now().ns() - base_world_ns_;
  const __int128 local = elapsed * (1'000'000 + drift_ppm_) / 1'000'000;
  return Instant::from_nanos(offset_ns_ + base_local_ns_ + static_cast<int64_t>(local));
}

Instant HostClock::to_world(Instant local) const {
  const __int128 local_elapsed = local.ns() - offset_ns_ - base_local_ns_;
  // Round up so that at the returned world time now() >= local.
  const __int128 rate = 1'000'000 + drift_ppm_;
  __int128 world_elapsed = (local_elapsed * 1'000'000 + rate - 1) / rate;
  if (world_elapsed < 0) world_elapsed = 0;
  return Instant::from_nanos(base_world_ns_ + static_cast<int64_t>(world_elapsed));
}

void HostClock::set_drift_ppm(int64_t ppm) {
  const Instant local = now();
  base_world_ns_ = world_.now().ns();
  base_local_ns_ = local.ns() - offset_ns_;
  drift_ppm_ = ppm;
}

core::TimerId HostClock::schedule(Instant at, std::function<void()> fn) {
  const ProcessId owner = world_.process(host_);
  KEEL_ASSERT_MSG(owner.value() != 0, "a timer needs a running process");
  return core::TimerId(world_.at(to_world(at), std::move(fn), owner));
}

void HostClock::cancel(core::TimerId id) { world_.cancel(id.value()); }

World::World(uint64_t seed, WorldOptions options)
    : seed_(seed),
      options_(options),
      random_(seed),
      scheduler_(options.stack_bytes),
      world_clock_(std::make_unique<WorldClock>(*this, scheduler_)),
      tracer_(trace_log_, "world", world_clock_.get()),
      network_(std::make_unique<SimNetwork>(*this, random_.fork("network"))) {}

World::~World() {
  // Unwind every fiber while the hosts' objects they reference still exist.
  for (auto& h : hosts_) {
    if (h->process.value() != 0) scheduler_.kill_group(h->process);
  }
}

uint64_t World::at(Instant when, std::function<void()> fn, ProcessId owner) {
  if (when < now_) when = now_;
  const uint64_t seq = next_seq_++;
  queue_.push_back(Event{when.ns(), seq, owner, std::move(fn)});
  std::push_heap(queue_.begin(), queue_.end(), Later());
  return seq;
}

void World::cancel(uint64_t event_id) {
  if (event_id != 0 && event_id < next_seq_) cancelled_.insert(event_id);
}

void World::run_fibers() {
  while (scheduler_.has_runnable()) scheduler_.run_ready();
}

void World::fire(Event& event) {
  if (event.owner.value() != 0) {
    if (alive_.count(event.owner) == 0) return;
    auto held = held_.find(event.owner);
    if (held != held_.end()) {
      held->second.push_back(std::move(event));
      return;
    }
  }
  ++events_run_;
  event.fn();
}

void World::run_until(Instant deadline, const std::function<bool()>& stop) {
  run_fibers();
  while (!queue_.empty()) {
    if (queue_.front().at_ns > deadline.ns()) break;
    std::pop_heap(queue_.begin(), queue_.end(), Later());
    Event event = std::move(queue_.back());
    queue_.pop_back();
    if (!cancelled_.empty()) {
      auto it = cancelled_.find(event.seq);
      if (it != cancelled_.end()) {
        cancelled_.erase(it);
        continue;
      }
    }
    KEEL_ASSERT(event.at_ns >= now_.ns());
    now_ = Instant::from_nanos(event.at_ns);
    fire(event);
    run_fibers();
    if (stop && stop()) return;
  }
  if (deadline > now_) now_ = deadline;
}

World::Host& World::host(HostId h) {
  KEEL_ASSERT(h.value() >= 1);
  KEEL_ASSERT(h.value() <= hosts_.size());
  return *hosts_[h.value() - 1];
}

const World::Host& World::host(HostId h) const {
  KEEL_ASSERT(h.value() >= 1);
  KEEL_ASSERT(h.value() <= hosts_.size());
  return *hosts_[h.value() - 1];
}

HostId World::add_host(const std::string& name, ProgramFn program, std::optional<int64_t> drift_ppm) {
  KEEL_ASSERT_MSG(host_by_name(name).value() == 0, "host names must be unique");
  auto h = std::make_unique<Host>();
  h->id = HostId(static_cast<uint32_t>(hosts_.size() + 1));
  h->name = name;
  h->program = std::move(program);
  core::Random host_random = random_.fork("host", h->id.value());
  const int64_t ppm = drift_ppm ? *drift_ppm
                                : host_random.uniform_i64(-options_.clock_drift_ppm_max, options_.clock_drift_ppm_max);
  // Each host's clock starts at a different reading: nothing may compare
  // instants across hosts.
  const int64_t offset = static_cast<int64_t>(host_random.uniform(0, 1'000'000'000));
  h->clock = std::make_unique<HostClock>(*this, h->id, ppm, offset);
  h->disk = std::make_unique<SimDisk>(*h->clock, host_random.fork("disk"));
  h->net = network_->host_view(name);
  h->random = std::make_unique<core::Random>(host_random.fork("process"));
  h->tracer = std::make_unique<core::Tracer>(trace_log_, name, h->clock.get());
  hosts_.push_back(std::move(h));
  return hosts_.back()->id;
}

const std::string& World::host_name(HostId h) const { return host(h).name; }

HostId World::host_by_name(const std::string& name) const {
  for (const auto& h : hosts_) {
    if (h->name == name) return h->id;
  }
  return HostId(0);
}

HostState World::host_state(HostId h) const { return host(h).state; }
ProcessId World::process(HostId h) const { return host(h).process; }
bool World::alive(ProcessId p) const { return alive_.count(p) != 0; }
SimDisk& World::disk(HostId h) { return *host(h).disk; }
HostClock& World::clock(HostId h) { return *host(h).clock; }

core::Env& World::env(HostId h) {
  Host& x = host(h);
  KEEL_ASSERT(x.env != nullptr);
  return *x.env;
}

void World::start(HostId id) {
  Host& h = host(id);
  KEEL_ASSERT(h.state == HostState::kDown);
  h.process = ProcessId(next_process_++);
  h.state = HostState::kUp;
  ++h.incarnations;
  alive_.insert(h.process);
  h.net->bind(h.process);
  // Each incarnation draws from its own stream, so a restart does not
  // replay the choices of the previous life.
  *h.random = random_.fork("host", h.id.value()).fork("incarnation", h.incarnations);
  h.env = std::make_unique<core::Env>(core::Env{
      h.process, core::NodeId(h.id.value()), *h.clock, *h.net, *h.disk, *h.random, scheduler_, *h.tracer});
  tracer_.event("host.start", {{"host", h.name}, {"process", h.process.value()}});
  if (timeline_ != nullptr) timeline_->host_event(h.name, Timeline::HostEventKind::kStart, now_);
  core::Env* env = h.env.get();
  ProgramFn program = h.program;
  const ProcessId process = h.process;
  scheduler_.spawn(h.process, h.name + ".main", [this, program, env, id, process] {
    program(*env);
    // The program returned: the process exits once this fiber is gone.
    after(Duration::zero(), [this, id, process] {
      if (host(id).process != process) return;
      stop_process(id, false, "host.exit");
      if (on_exit_) on_exit_(id);
    });
  });
}

void World::crash(HostId id) { stop_process(id, true, "host.crash"); }

void World::kill(HostId id) { stop_process(id, false, "host.kill"); }

void World::stop_process(HostId id, bool power_loss, const char* why) {
  Host& h = host(id);
  if (h.state == HostState::kDown) return;
  tracer_.event(why, {{"host", h.name}, {"process", h.process.value()}});
  if (timeline_ != nullptr) {
    const auto kind = power_loss                            ? Timeline::HostEventKind::kCrash
                      : std::string_view(why) == "host.exit" ? Timeline::HostEventKind::kExit
                                                              : Timeline::HostEventKind::kKill;
    timeline_->host_event(h.name, kind, now_);
  }
  const ProcessId dead = h.process;
  alive_.erase(dead);
  held_.erase(dead);
  scheduler_.set_paused(dead, false);
  if (power_loss) {
    // The machine is gone: its peers see resets, not orderly closes.
    network_->crash_host(h.name);
    scheduler_.kill_group(dead);
  } else {
    // The process died but its kernel lives: sockets owned by unwinding
    // fibers close in order; whatever is left is reset.
    scheduler_.kill_group(dead);
    network_->crash_host(h.name);
  }
  h.net->unbind();
  if (power_loss) {
    h.disk->crash();
  } else {
    h.disk->set_crash_point(0, nullptr);
  }
  h.env.reset();
  h.process = ProcessId();
  h.state = HostState::kDown;
}

void World::restart(HostId id) {
  crash(id);
  start(id);
}

void World::pause(HostId id) {
  Host& h = host(id);
  if (h.state != HostState::kUp) return;
  tracer_.event("host.pause", {{"host", h.name}});
  if (timeline_ != nullptr) timeline_->host_event(h.name, Timeline::HostEventKind::kPause, now_);
  h.state = HostState::kPaused;
  scheduler_.set_paused(h.process, true);
  held_[h.process];
}

void World::resume(HostId id) {
  Host& h = host(id);
  if (h.state != HostState::kPaused) return;
  tracer_.event("host.resume", {{"host", h.name}});
  if (timeline_ != nullptr) timeline_->host_event(h.name, Timeline::HostEventKind::kResume, now_);
  h.state = HostState::kUp;
  scheduler_.set_paused(h.process, false);
  auto held = held_.find(h.process);
  if (held == held_.end()) return;
  std::vector<Event> events = std::move(held->second);
  held_.erase(held);
  // Held timers fire now, in their original order. They keep their
  // sequence numbers: those are the ids callers cancel them by.
  for (Event& e : events) {
    e.at_ns = now_.ns();
    queue_.push_back(std::move(e));
    std::push_heap(queue_.begin(), queue_.end(), Later());
  }
}

}  // namespace keel::sim
