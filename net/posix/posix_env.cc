#include "net/posix/posix_env.h"

#include <errno.h>
#include <sys/random.h>

#include <csignal>
#include <string_view>

#include "core/assert.h"

namespace keel::posix {

core::Result<uint64_t> os_random_seed() {
  uint64_t seed = 0;
  char* p = reinterpret_cast<char*>(&seed);
  size_t got = 0;
  while (got < sizeof seed) {
    const ssize_t n = ::getrandom(p + got, sizeof seed - got, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      return core::io_error("getrandom: " + errno_text(errno));
    }
    got += static_cast<size_t>(n);
  }
  return seed;
}

core::Result<std::unique_ptr<PosixEnv>> PosixEnv::create(PosixEnvOptions options) {
  std::unique_ptr<PosixEnv> e(new PosixEnv());
  e->fibers_ = std::make_unique<core::Scheduler>(options.fiber_stack_bytes);
  e->loop_ = std::make_unique<EventLoop>(*e->fibers_);
  if (options.stop_on_signals) {
    EventLoop* loop = e->loop_.get();
    for (int signo : {SIGTERM, SIGINT}) {
      KEEL_TRY(loop->on_signal(signo, [loop](int) { loop->stop(); }));
    }
  }
  e->network_ = std::make_unique<PosixNetwork>(*e->loop_);
  KEEL_TRY_ASSIGN(e->disk_, PosixDisk::open(*e->loop_, options.data_dir, options.disk_threads));
  uint64_t seed = 0;
  if (options.seed.has_value()) {
    seed = *options.seed;
  } else {
    KEEL_TRY_ASSIGN(seed, os_random_seed());
  }
  e->random_ = std::make_unique<core::Random>(seed);
  e->trace_log_ = std::make_unique<core::TraceLog>();
  e->trace_log_->set_log_level(options.log_level);
  if (options.log_file != nullptr) {
    FILE* out = options.log_file;
    e->trace_log_->set_sink([out](std::string_view line) {
      // One write per line so lines from this process never interleave.
      std::string buf;
      buf.reserve(line.size() + 1);
      buf.append(line);
      buf.push_back('\n');
      std::fwrite(buf.data(), 1, buf.size(), out);
    });
  }
  e->tracer_ = std::make_unique<core::Tracer>(*e->trace_log_, options.trace_source, &e->loop_->clock());
  e->env_ = std::unique_ptr<core::Env>(new core::Env{
      core::ProcessId(0), options.node, e->loop_->clock(), *e->network_, *e->disk_, *e->random_, *e->fibers_,
      *e->tracer_});
  return e;
}

PosixEnv::~PosixEnv() {
  // Fibers first, while everything they may touch while unwinding exists.
  fibers_.reset();
  env_.reset();
  tracer_.reset();
  disk_.reset();
  network_.reset();
  loop_.reset();
}

}  // namespace keel::posix
