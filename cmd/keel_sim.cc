// keel-sim: runs seeded simulations of a whole keel cluster and its clients.
//
//   keel-sim --seed 42                 one run; PASS/FAIL, digest, stats
//   keel-sim --seeds 1..500 --jobs 2   a sweep; each seed in its own child
//                                      process, so a failed assertion is a
//                                      reported failure, not a dead sweep
//   keel-sim --seed 42 --check-determinism   the run twice; digests compared
#include <fcntl.h>
#include <poll.h>
#include <sys/wait.h>
#include <unistd.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <chrono>
#include <cinttypes>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "sim/coverage.h"
#include "sim/replay.h"
#include "sim/run.h"
#include "sim/trace_diff.h"

namespace {

using keel::sim::RunOptions;
using keel::sim::RunResult;

// Set before each in-process run so that a failed assertion names its seed.
// A static is acceptable here: cmd/ is a composition root, and this is read
// only by the SIGABRT handler.
volatile sig_atomic_t g_current_seed_valid = 0;
uint64_t g_current_seed = 0;

void on_abort(int) {
  if (g_current_seed_valid != 0) {
    char buf[96];
    const int n = std::snprintf(buf, sizeof buf, "keel-sim: assertion failure with --seed %" PRIu64 "\n",
                                g_current_seed);
    if (n > 0) (void)!::write(2, buf, static_cast<size_t>(n));
  }
  std::signal(SIGABRT, SIG_DFL);
  std::abort();
}

bool parse_range(const std::string& text, uint64_t* from, uint64_t* to) {
  const size_t dots = text.find("..");
  if (dots == std::string::npos) return false;
  char* end = nullptr;
  *from = std::strtoull(text.c_str(), &end, 10);
  if (end != text.c_str() + dots) return false;
  *to = std::strtoull(text.c_str() + dots + 2, &end, 10);
  return *end == '\0' && *from <= *to;
}

void print_human(const RunResult& r, const RunOptions& options) {
  std::printf("%s seed=%" PRIu64 " workload=%s digest=%016" PRIx64 " events=%" PRIu64
              " sim=%.1fs wall=%.2fs (%.0fx) ops ok=%" PRIu64 " fail=%" PRIu64 " unknown=%" PRIu64 "\n",
              r.pass ? "PASS" : "FAIL", r.seed, r.workload.c_str(), r.digest, r.events, r.sim_seconds,
              r.wall_seconds, r.wall_seconds > 0 ? r.sim_seconds / r.wall_seconds : 0.0, r.ops_ok, r.ops_failed,
              r.ops_indeterminate);
  std::printf("  swarm: %s\n", r.swarm.c_str());
  std::string faults;
  for (auto& [k, v] : r.faults) faults += k + "=" + std::to_string(v) + " ";
  std::printf("  faults: %s\n", faults.empty() ? "none" : faults.c_str());
  for (auto& v : r.violations) std::printf("  VIOLATION: %s\n", v.c_str());
  if (!r.detail.empty()) std::printf("%s\n", r.detail.c_str());
  if (!r.pass) std::printf("  repro: %s\n", r.repro(options).c_str());
}

RunResult run_one(RunOptions options, uint64_t seed) {
  options.seed = seed;
  g_current_seed = seed;
  g_current_seed_valid = 1;
  RunResult r = keel::sim::run_simulation(options);
  g_current_seed_valid = 0;
  return r;
}

// Adds the "cover":{"mark":hits,...} object of one seed's JSON line to
// `seeds_hit` (seeds that hit each mark) and `hits` (total hits). Marks are
// plain text: no quote or backslash inside.
void add_coverage(const std::string& line, std::map<std::string, uint64_t>& seeds_hit,
                  std::map<std::string, uint64_t>& hits) {
  const std::string key = "\"cover\":{";
  size_t p = line.find(key);
  if (p == std::string::npos) return;
  p += key.size();
  while (p < line.size() && line[p] == '"') {
    const size_t end = line.find('"', p + 1);
    if (end == std::string::npos || end + 1 >= line.size() || line[end + 1] != ':') return;
    const std::string mark = line.substr(p + 1, end - p - 1);
    char* after = nullptr;
    const uint64_t n = std::strtoull(line.c_str() + end + 2, &after, 10);
    ++seeds_hit[mark];
    hits[mark] += n;
    p = static_cast<size_t>(after - line.c_str());
    if (p < line.size() && line[p] == ',') ++p;
  }
}

// Prints each mark with the seeds that hit it, required marks first; returns
// how many required marks no seed hit.
int print_coverage(const std::string& workload, uint64_t seeds, const std::map<std::string, uint64_t>& seeds_hit,
                   const std::map<std::string, uint64_t>& hits) {
  const std::vector<std::string> required = keel::sim::required_cover_marks(workload);
  int missing = 0;
  std::printf("coverage marks (seeds that hit each of %" PRIu64 ", total hits):\n", seeds);
  auto row = [&](const std::string& mark, bool is_required) {
    auto it = seeds_hit.find(mark);
    const uint64_t n = it == seeds_hit.end() ? 0 : it->second;
    const uint64_t total = n == 0 ? 0 : hits.at(mark);
    if (n == 0 && is_required) ++missing;
    std::printf("  %6" PRIu64 " %9" PRIu64 "  %s%s\n", n, total, mark.c_str(),
                n == 0 && is_required ? "   <- REQUIRED, NEVER HIT" : (is_required ? "" : "   (not required)"));
  };
  for (const std::string& mark : required) row(mark, true);
  for (const auto& [mark, n] : seeds_hit) {
    if (std::find(required.begin(), required.end(), mark) == required.end()) row(mark, false);
  }
  return missing;
}

// What --shrink needs of one candidate run, computed in a child process so
// that a failed assertion or a crash in the candidate is an outcome, not the
// end of the shrink.
struct Outcome {
  bool pass = true;
  std::string violation_class;  // "crashed" for a candidate that died
  uint64_t digest = 0;
  uint64_t ops = 0;
  std::optional<keel::sim::WorkloadShape> shape;
  std::vector<keel::sim::FaultEvent> plan;
};

Outcome run_candidate(const RunOptions& options, double timeout_s) {
  int fds[2];
  if (::pipe(fds) != 0) {
    std::perror("pipe");
    std::exit(2);
  }
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    const int null_fd = ::open("/dev/null", O_WRONLY);
    if (null_fd >= 0) ::dup2(null_fd, 2);
    const RunResult r = run_one(options, options.seed);
    keel::sim::Replay replay;
    replay.options = options;
    replay.options.fault_plan = r.fault_plan;
    replay.options.shape = r.shape;
    replay.digest = r.digest;
    replay.violation_class = r.pass ? "" : keel::sim::violation_class(r.violations.front());
    std::string text = std::to_string(r.ops_ok + r.ops_failed + r.ops_indeterminate) + "\n" +
                       (r.shape ? "shape\n" : "noshape\n") + keel::sim::write_replay(replay);
    size_t off = 0;
    while (off < text.size()) {
      const ssize_t n = ::write(fds[1], text.data() + off, text.size() - off);
      if (n <= 0) break;
      off += static_cast<size_t>(n);
    }
    ::_exit(0);
  }
  ::close(fds[1]);
  std::string out;
  char buf[65536];
  const auto started = std::chrono::steady_clock::now();
  bool timed_out = false;
  for (;;) {
    const double left = timeout_s - std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    pollfd p{fds[0], POLLIN, 0};
    if (::poll(&p, 1, left > 0 ? static_cast<int>(left * 1000) : 0) == 0) {
      ::kill(pid, SIGKILL);
      timed_out = true;
      break;
    }
    const ssize_t n = ::read(fds[0], buf, sizeof buf);
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  Outcome o;
  const size_t first = out.find('\n');
  const size_t second = first == std::string::npos ? std::string::npos : out.find('\n', first + 1);
  auto replay = second == std::string::npos ? keel::core::Result<keel::sim::Replay>(keel::core::internal_error("none"))
                                            : keel::sim::parse_replay(out.substr(second + 1));
  if (timed_out || !WIFEXITED(status) || !replay.is_ok()) {
    o.pass = false;
    o.violation_class = "crashed";
    return o;
  }
  o.ops = std::strtoull(out.c_str(), nullptr, 10);
  o.pass = replay->violation_class.empty();
  o.violation_class = replay->violation_class;
  o.digest = replay->digest;
  if (out.compare(first + 1, 5, "shape") == 0) o.shape = replay->options.shape;
  o.plan = *replay->options.fault_plan;
  return o;
}

// --shrink: reduces a failing run while it keeps failing with the same
// violation class: fewer faults (delta debugging over the fault plan), a
// shorter fault window, fewer clients, fewer nodes, fewer operations per
// client. Writes the result as a replay file.
int shrink(RunOptions options, const std::string& out_path, double timeout_s) {
  const auto started = std::chrono::steady_clock::now();
  int runs = 0;
  const Outcome original = run_candidate(options, timeout_s);
  ++runs;
  if (original.pass) {
    std::fprintf(stderr, "keel-sim: --seed %" PRIu64 " --workload %s passes: there is no failure to shrink\n",
                 options.seed, options.workload.c_str());
    return 2;
  }
  const std::string goal = original.violation_class;
  std::printf("shrinking seed %" PRIu64 " (%s): %zu faults, %" PRIu64 " operations, violation class '%s'\n",
              options.seed, options.workload.c_str(), original.plan.size(), original.ops, goal.c_str());
  // Pin what the seed drew, so that each step changes one thing.
  RunOptions best = options;
  best.fault_plan = original.plan;
  if (original.shape) {
    best.shape = original.shape;
    best.clients = original.shape->clients;
  }
  best.shape_swarm = false;
  Outcome best_outcome = original;
  auto attempt = [&](const RunOptions& candidate) {
    ++runs;
    const Outcome o = run_candidate(candidate, timeout_s);
    if (o.pass || o.violation_class != goal) return false;
    best = candidate;
    best_outcome = o;
    return true;
  };
  const size_t faults_before = best.fault_plan->size();
  const uint64_t ops_before = original.ops;
  const int clients_before = best.clients;
  const int nodes_before = best.nodes;
  const keel::core::Duration window_before = best.fault_window;
  bool progress = true;
  while (progress) {
    progress = false;
    // A shorter fault window: the faults after it go too.
    for (double factor : {0.5, 0.75, 0.9}) {
      RunOptions c = best;
      c.fault_window = keel::core::Duration::nanos(static_cast<int64_t>(best.fault_window.ns() * factor));
      if (c.fault_window < keel::core::Duration::millis(600)) continue;
      std::vector<keel::sim::FaultEvent> kept;
      for (const auto& e : *best.fault_plan) {
        if (e.at < keel::core::Instant() + c.fault_window) kept.push_back(e);
      }
      c.fault_plan = kept;
      if (attempt(c)) {
        progress = true;
        break;
      }
    }
    // Delta debugging over the faults: drop chunks, halving their size.
    for (size_t chunk = std::max<size_t>(1, best.fault_plan->size() / 2); chunk >= 1; chunk /= 2) {
      for (size_t at = 0; at < best.fault_plan->size();) {
        RunOptions c = best;
        auto& plan = *c.fault_plan;
        plan.erase(plan.begin() + static_cast<std::ptrdiff_t>(at),
                   plan.begin() + static_cast<std::ptrdiff_t>(std::min(plan.size(), at + chunk)));
        if (attempt(c)) {
          progress = true;
        } else {
          at += chunk;
        }
      }
      if (chunk == 1) break;
    }
    // Fewer clients, then fewer nodes (faults on removed nodes go too).
    while (best.clients > 1) {
      RunOptions c = best;
      --c.clients;
      if (c.shape) c.shape->clients = c.clients;
      if (!attempt(c)) break;
      progress = true;
    }
    while (best.nodes > 3) {
      RunOptions c = best;
      c.nodes -= 2;
      std::vector<keel::sim::FaultEvent> kept;
      for (const auto& e : *best.fault_plan) {
        bool uses_removed = false;
        for (const std::string& h : e.hosts) {
          if (h.size() > 1 && h[0] == 'n' && std::atoi(h.c_str() + 1) > c.nodes) uses_removed = true;
        }
        if (!uses_removed) kept.push_back(e);
      }
      c.fault_plan = kept;
      if (!attempt(c)) break;
      progress = true;
    }
    // Fewer operations per client: halve the cap while it still fails.
    const uint64_t per_client = std::max<uint64_t>(1, best_outcome.ops / static_cast<uint64_t>(std::max(1, best.clients)));
    uint64_t cap = best.ops_max == 0 ? per_client : best.ops_max;
    while (cap > 1) {
      RunOptions c = best;
      c.ops_max = cap / 2;
      if (!attempt(c)) break;
      cap = c.ops_max;
      progress = true;
    }
  }
  keel::sim::Replay replay;
  replay.options = best;
  replay.options.fault_plan = best_outcome.plan;
  if (best_outcome.shape) replay.options.shape = best_outcome.shape;
  replay.digest = best_outcome.digest;
  replay.violation_class = goal;
  const keel::core::Status saved = keel::sim::save_replay(out_path, replay);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  std::printf("shrunk in %d runs, %.1f wall s: faults %zu -> %zu, fault window %s -> %s, operations %" PRIu64
              " -> %" PRIu64 ", clients %d -> %d, nodes %d -> %d; still '%s'\n",
              runs, wall, faults_before, best_outcome.plan.size(), window_before.to_string().c_str(),
              best.fault_window.to_string().c_str(), ops_before, best_outcome.ops, clients_before, best.clients,
              nodes_before, best.nodes, goal.c_str());
  for (const auto& e : best_outcome.plan) std::printf("  fault %s\n", e.to_text().c_str());
  if (!saved.is_ok()) {
    std::fprintf(stderr, "keel-sim: %s\n", saved.to_string().c_str());
    return 2;
  }
  std::printf("replay written to %s; run it with: keel-sim --replay %s\n", out_path.c_str(), out_path.c_str());
  return 0;
}

int replay_file(const std::string& path, bool json) {
  auto replay = keel::sim::load_replay(path);
  if (!replay.is_ok()) {
    std::fprintf(stderr, "keel-sim: --replay %s\n", replay.status().message().c_str());
    return 2;
  }
  const RunResult r = run_one(replay->options, replay->options.seed);
  if (json) {
    std::printf("%s\n", r.to_json().c_str());
  } else {
    print_human(r, replay->options);
  }
  const std::string got = r.pass ? "" : keel::sim::violation_class(r.violations.front());
  if (r.digest != replay->digest || got != replay->violation_class) {
    std::printf("replay: NOT REPRODUCED: recorded digest %016" PRIx64 " '%s', got %016" PRIx64 " '%s'\n",
                replay->digest, replay->violation_class.c_str(), r.digest, got.c_str());
    return 3;
  }
  std::printf("replay: reproduced exactly (digest %016" PRIx64 "%s)\n", r.digest,
              got.empty() ? ", PASS" : (", FAIL: " + got).c_str());
  return r.pass ? 0 : 1;
}

struct Child {
  pid_t pid;
  uint64_t seed;
  int result_fd;
  std::string stderr_path;
  std::chrono::steady_clock::time_point started;
};

// Runs every seed of [from, to] in child processes, `jobs` at a time.
int sweep(const RunOptions& options, uint64_t from, uint64_t to, int jobs, bool json, double seed_timeout_s,
          bool require_cover) {
  std::map<std::string, uint64_t> cover_seeds;
  std::map<std::string, uint64_t> cover_hits;
  const uint64_t total = to - from + 1;
  uint64_t next = from;
  uint64_t done = 0;
  uint64_t events = 0;
  double sim_seconds = 0;
  std::vector<std::pair<uint64_t, std::string>> failures;
  std::deque<Child> running;
  const bool progress = ::isatty(2) != 0 && !json;
  const auto start = std::chrono::steady_clock::now();

  auto launch = [&](uint64_t seed) {
    int fds[2];
    if (::pipe(fds) != 0) {
      std::perror("pipe");
      std::exit(2);
    }
    char path[] = "/tmp/keel-sim-stderr-XXXXXX";
    const int err_fd = ::mkstemp(path);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      if (err_fd >= 0) ::dup2(err_fd, 2);
      RunResult r = run_one(options, seed);
      const std::string line = r.to_json() + "\n";
      (void)!::write(fds[1], line.data(), line.size());
      ::_exit(0);
    }
    ::close(fds[1]);
    if (err_fd >= 0) ::close(err_fd);
    running.push_back(Child{pid, seed, fds[0], path, std::chrono::steady_clock::now()});
  };

  while (done < total) {
    while (static_cast<int>(running.size()) < jobs && next <= to) launch(next++);
    Child child = running.front();
    running.pop_front();
    std::string out;
    char buf[4096];
    bool timed_out = false;
    for (;;) {
      // A seed that runs past its wall-clock budget is killed and reported.
      const double left = seed_timeout_s - std::chrono::duration<double>(std::chrono::steady_clock::now() - child.started).count();
      pollfd p{child.result_fd, POLLIN, 0};
      const int ready = ::poll(&p, 1, left > 0 ? static_cast<int>(left * 1000) : 0);
      if (ready == 0) {
        ::kill(child.pid, SIGKILL);
        timed_out = true;
        break;
      }
      const ssize_t n = ::read(child.result_fd, buf, sizeof buf);
      if (n <= 0) break;
      out.append(buf, static_cast<size_t>(n));
    }
    ::close(child.result_fd);
    int status = 0;
    ::waitpid(child.pid, &status, 0);
    ++done;
    const bool crashed = timed_out || !WIFEXITED(status) || WEXITSTATUS(status) != 0 || out.empty();
    std::string tail;
    if (FILE* f = std::fopen(child.stderr_path.c_str(), "r")) {
      std::string all;
      while (size_t n = std::fread(buf, 1, sizeof buf, f)) all.append(buf, n);
      std::fclose(f);
      tail = all.size() > 600 ? all.substr(all.size() - 600) : all;
    }
    ::unlink(child.stderr_path.c_str());
    RunOptions o = options;
    o.seed = child.seed;
    RunResult repro_only;
    repro_only.seed = child.seed;
    if (crashed) {
      std::string why = timed_out ? "timed out after " + std::to_string(static_cast<int>(seed_timeout_s)) + " wall seconds"
                        : WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                              : "no result";
      failures.push_back({child.seed, "crashed (" + why + "): " + tail + "\n    repro: " + repro_only.repro(o)});
      if (json) {
        std::printf("{\"seed\":%" PRIu64 ",\"result\":\"fail\",\"violations\":[\"crashed: %s\"]}\n", child.seed,
                    why.c_str());
      }
    } else {
      if (json) std::fputs(out.c_str(), stdout);
      add_coverage(out, cover_seeds, cover_hits);
      if (out.find("\"result\":\"fail\"") != std::string::npos) {
        failures.push_back({child.seed, out.substr(0, out.size() - 1) + "\n    repro: " + repro_only.repro(o)});
      }
      const size_t e = out.find("\"events\":");
      if (e != std::string::npos) events += std::strtoull(out.c_str() + e + 9, nullptr, 10);
      const size_t s = out.find("\"sim_seconds\":");
      if (s != std::string::npos) sim_seconds += std::strtod(out.c_str() + s + 14, nullptr);
    }
    if (progress) {
      const int width = 40;
      const int filled = static_cast<int>(width * done / total);
      std::fprintf(stderr, "\r[%.*s%*s] %" PRIu64 "/%" PRIu64 " seeds, %zu failed", filled,
                   "########################################", width - filled, "", done, total, failures.size());
      std::fflush(stderr);
    }
  }
  if (progress) std::fputc('\n', stderr);
  const double wall = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!json) {
    std::printf("%" PRIu64 " seeds, %zu failed, %" PRIu64 " events, %.0f simulated s in %.1f wall s (%.1f seeds/min)\n",
                total, failures.size(), events, sim_seconds, wall, wall > 0 ? total * 60.0 / wall : 0.0);
    for (auto& [seed, text] : failures) std::printf("FAIL seed %" PRIu64 ": %s\n", seed, text.c_str());
  }
  const int missing = json ? 0 : print_coverage(options.workload, total, cover_seeds, cover_hits);
  if (require_cover && missing > 0) {
    std::printf("coverage: %d required mark(s) never hit in %" PRIu64 " seeds of %s\n", missing, total,
                options.workload.c_str());
    return 1;
  }
  return failures.empty() ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"keel-sim: seeded simulation of a keel cluster under faults"};
  RunOptions options;
  std::string seed_text;
  std::string seeds_text;
  int jobs = 1;
  bool json = false;
  bool check_determinism = false;
  bool no_faults = false;
  double fault_seconds = options.fault_window.seconds_f();
  double liveness_seconds = options.liveness_window.seconds_f();
  auto* seed_opt = app.add_option("--seed", options.seed, "run one seed");
  app.add_option("--seeds", seeds_text, "run a range of seeds, A..B (each in a child process)");
  app.add_option("--jobs", jobs, "child processes at once in a sweep")->check(CLI::Range(1, 64));
  app.add_flag("--json", json, "print one JSON object per seed");
  app.add_flag("--check-determinism", check_determinism, "run each seed twice and compare digests");
  std::string workloads;
  for (auto& w : keel::sim::workload_names()) workloads += (workloads.empty() ? "" : "|") + w;
  app.add_option("--workload", options.workload, "workload: " + workloads);
  app.add_option("--nodes", options.nodes, "cluster size")->check(CLI::Range(1, 9));
  app.add_option("--clients", options.clients, "client hosts")->check(CLI::Range(1, 64));
  app.add_flag("--no-faults", no_faults, "run without the nemesis");
  app.add_option("--fault-seconds", fault_seconds, "simulated seconds of faults")->check(CLI::Range(0.0, 3600.0));
  app.add_option("--liveness-seconds", liveness_seconds, "simulated seconds allowed after the heal")
      ->check(CLI::Range(1.0, 3600.0));
  app.add_option("--trace", options.trace_path, "write the event trace as JSON lines to FILE");
  app.add_option("--bug", options.bug, "test only: enable a planted protocol bug");
  double seed_timeout = 300;
  app.add_option("--seed-timeout", seed_timeout, "in a sweep, wall seconds a seed may run before it is killed and failed")
      ->check(CLI::Range(1.0, 86400.0));
  std::string replay_path;
  app.add_option("--replay", replay_path, "run a replay file (written by --shrink) exactly");
  bool do_shrink = false;
  app.add_flag("--shrink", do_shrink, "reduce a failing --seed to a smaller failing run, written as a replay file");
  std::string shrink_out;
  app.add_option("--shrink-out", shrink_out, "where --shrink writes its replay (default keel-replay-<seed>.txt)");
  std::vector<std::string> diff_paths;
  app.add_option("--diff", diff_paths, "name the first event where two --trace files differ")->expected(2);
  app.add_option("--timeline", options.timeline_path, "write the run as a self-contained HTML timeline to FILE");
  bool require_cover = false;
  app.add_flag("--require-cover", require_cover, "in a sweep, fail if a required coverage mark is never hit");
  bool list_workloads = false;
  app.add_flag("--list-workloads", list_workloads, "print the workload names, one per line");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // --help and --version exit 0; every usage error exits 2.
    return app.exit(e) == 0 ? 0 : 2;
  }
  if (list_workloads) {
    for (auto& w : keel::sim::workload_names()) std::printf("%s\n", w.c_str());
    return 0;
  }
  (void)seed_opt;
  if (!diff_paths.empty()) {
    auto diff = keel::sim::diff_trace_files(diff_paths[0], diff_paths[1]);
    if (!diff.is_ok()) {
      std::fprintf(stderr, "keel-sim: --diff: %s\n", diff.status().message().c_str());
      return 2;
    }
    std::printf("%s", diff->report.c_str());
    if (!diff->report.empty() && diff->report.back() != '\n') std::printf("\n");
    return diff->identical ? 0 : 1;
  }
  if (!replay_path.empty()) {
    std::signal(SIGABRT, on_abort);
    return replay_file(replay_path, json);
  }
  options.faults = !no_faults;
  options.fault_window = keel::core::Duration::millis(static_cast<int64_t>(fault_seconds * 1000));
  options.liveness_window = keel::core::Duration::millis(static_cast<int64_t>(liveness_seconds * 1000));
  if (keel::sim::make_scenario(options.workload) == nullptr) {
    std::fprintf(stderr, "keel-sim: unknown workload '%s' (choose %s)\n", options.workload.c_str(), workloads.c_str());
    return 2;
  }
  std::signal(SIGABRT, on_abort);

  if (!options.timeline_path.empty() && !seeds_text.empty()) {
    std::fprintf(stderr, "keel-sim: --timeline draws one run: use it with --seed, not --seeds\n");
    return 2;
  }
  if (do_shrink) {
    if (!seeds_text.empty()) {
      std::fprintf(stderr, "keel-sim: --shrink takes one --seed, not --seeds\n");
      return 2;
    }
    const std::string out = shrink_out.empty() ? "keel-replay-" + std::to_string(options.seed) + ".txt" : shrink_out;
    return shrink(options, out, seed_timeout);
  }
  if (!seeds_text.empty()) {
    uint64_t from = 0;
    uint64_t to = 0;
    if (!parse_range(seeds_text, &from, &to)) {
      std::fprintf(stderr, "keel-sim: --seeds takes A..B with A <= B, got '%s'\n", seeds_text.c_str());
      return 2;
    }
    if (check_determinism) {
      int bad = 0;
      for (uint64_t s = from; s <= to; ++s) {
        const RunResult a = run_one(options, s);
        const RunResult b = run_one(options, s);
        if (a.digest != b.digest || a.events != b.events) {
          std::printf("NONDETERMINISTIC seed %" PRIu64 ": %016" PRIx64 " vs %016" PRIx64 "\n", s, a.digest, b.digest);
          ++bad;
        }
      }
      std::printf("determinism: %" PRIu64 " seeds, %d differ\n", to - from + 1, bad);
      if (bad != 0) return 1;
    }
    return sweep(options, from, to, jobs, json, seed_timeout, require_cover);
  }

  const RunResult r = run_one(options, options.seed);
  if (json) {
    std::printf("%s\n", r.to_json().c_str());
  } else {
    print_human(r, options);
  }
  int rc = r.pass ? 0 : 1;
  if (check_determinism) {
    const RunResult again = run_one(options, options.seed);
    const bool same = again.digest == r.digest && again.events == r.events;
    std::printf("determinism: %s (%016" PRIx64 " / %016" PRIx64 ")\n", same ? "same digest" : "DIGESTS DIFFER",
                r.digest, again.digest);
    if (!same) rc = 1;
  }
  return rc;
}
