// PosixEnv: the complete production core::Env, built by a composition root
// (keeld's main, real-process tests and benchmarks).
//
// It owns, in construction order: the Scheduler, the EventLoop (with its
// PosixClock), PosixNetwork, PosixDisk rooted at the data directory (with its
// worker threads), a Random seeded from getrandom(2), a TraceLog whose sink
// writes JSON lines to a FILE* (stderr by default), and the process's
// Tracer. env() hands node code the references.
//
// Shutdown: the destructor first destroys every fiber (unwinding their
// stacks while the loop, network and disk still exist, so Streams and Files
// they own close cleanly), then the rest in reverse order.
//
// Threading: construct, run() and destroy on one thread (the loop's); stop()
// is thread-safe. Call loop().on_signal() before starting other threads.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>

#include "core/env.h"
#include "core/ids.h"
#include "core/random.h"
#include "core/scheduler.h"
#include "core/status.h"
#include "core/trace.h"
#include "net/posix/event_loop.h"
#include "net/posix/posix_disk.h"
#include "net/posix/posix_network.h"

namespace keel::posix {

struct PosixEnvOptions {
  // Root of the Disk; created with its parents if absent.
  std::string data_dir;
  core::NodeId node{0};
  // Source name stamped on trace events and log lines ("n1", "keeld").
  std::string trace_source = "keeld";
  // Where log and trace JSON lines go; not owned. Null disables the sink.
  FILE* log_file = stderr;
  core::LogLevel log_level = core::LogLevel::kInfo;
  size_t disk_threads = WorkerPool::kThreadsDefault;
  size_t fiber_stack_bytes = core::Scheduler::kStackBytesDefault;
  // Fixed seed for the root Random (tests); getrandom(2) when absent.
  std::optional<uint64_t> seed;
  // Install SIGTERM and SIGINT handlers that call stop().
  bool stop_on_signals = false;
};

class PosixEnv {
 public:
  // Errors: those of PosixDisk::open and EventLoop::on_signal.
  static core::Result<std::unique_ptr<PosixEnv>> create(PosixEnvOptions options);
  ~PosixEnv();
  PosixEnv(const PosixEnv&) = delete;
  PosixEnv& operator=(const PosixEnv&) = delete;

  core::Env& env() { return *env_; }
  core::Scheduler& fibers() { return *fibers_; }
  EventLoop& loop() { return *loop_; }
  PosixClock& clock() { return loop_->clock(); }
  PosixNetwork& network() { return *network_; }
  PosixDisk& disk() { return *disk_; }
  core::Random& random() { return *random_; }
  core::TraceLog& trace_log() { return *trace_log_; }
  core::Tracer& tracer() { return *tracer_; }

  // Runs the loop until stop(). Precondition: not called from a fiber.
  void run() { loop_->run(); }
  // Thread-safe.
  void stop() { loop_->stop(); }

 private:
  PosixEnv() = default;

  std::unique_ptr<core::Scheduler> fibers_;
  std::unique_ptr<EventLoop> loop_;
  std::unique_ptr<PosixNetwork> network_;
  std::unique_ptr<PosixDisk> disk_;
  std::unique_ptr<core::Random> random_;
  std::unique_ptr<core::TraceLog> trace_log_;
  std::unique_ptr<core::Tracer> tracer_;
  std::unique_ptr<core::Env> env_;
};

// 64 bits from getrandom(2). Errors: IoError.
core::Result<uint64_t> os_random_seed();

}  // namespace keel::posix
