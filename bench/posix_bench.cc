// posix_bench: costs of the production Env's building blocks.
//
//   fiber switch   core::Scheduler::yield between two fibers (ns per yield;
//                  each yield is one fiber-to-fiber hand-off through the loop)
//   ping-pong      round trips per second between two fibers over one
//                  loopback TCP connection on the EventLoop (64-byte messages)
//   pool call      round trip of an empty job through the disk WorkerPool
//                  (submit, worker, eventfd completion, unpark): the per-call
//                  overhead every "May suspend" PosixDisk call pays
//   inline fstat   File::size(), which runs on the loop thread
//   append 4 KiB   File::append without sync (page cache), end to end
//
// Usage: posix_bench [scale] — scale multiplies the iteration counts
// (default 1).
#include <stdlib.h>
#include <time.h>

#include <cstdio>
#include <string>

#include "core/scheduler.h"
#include "net/posix/event_loop.h"
#include "net/posix/posix_disk.h"
#include "net/posix/posix_network.h"

using keel::core::Duration;
using keel::core::Instant;
using keel::core::ProcessId;
using keel::core::Scheduler;
using keel::posix::EventLoop;
using keel::posix::monotonic_now;

namespace {

void bench_fiber_switch(long iterations) {
  Scheduler fibers;
  for (int f = 0; f < 2; ++f) {
    fibers.spawn(ProcessId(0), "yielder", [&fibers, iterations] {
      for (long i = 0; i < iterations; ++i) fibers.yield();
    });
  }
  const Instant start = monotonic_now();
  fibers.run_ready();
  const Duration took = monotonic_now() - start;
  const double yields = 2.0 * static_cast<double>(iterations);
  std::printf("fiber switch:  %.1f ns per yield (%ld yields per fiber, %.3f s)\n",
              static_cast<double>(took.ns()) / yields, iterations, took.seconds_f());
}

void bench_ping_pong(long round_trips) {
  Scheduler fibers;
  EventLoop loop(fibers);
  keel::posix::PosixNetwork net(loop);
  auto listener = std::move(net.listen({"127.0.0.1", 0})).value();
  constexpr size_t kMessageBytes = 64;
  bool done = false;
  Duration took;
  fibers.spawn(ProcessId(0), "ponger", [&] {
    auto conn = std::move(listener->accept()).value();
    char buf[kMessageBytes];
    for (;;) {
      size_t got = 0;
      while (got < kMessageBytes) {
        auto n = conn->read(buf + got, kMessageBytes - got);
        if (!n.is_ok() || n.value() == 0) return;
        got += n.value();
      }
      if (!conn->write(keel::core::ByteView(buf, kMessageBytes)).is_ok()) return;
    }
  });
  fibers.spawn(ProcessId(0), "pinger", [&] {
    auto conn = std::move(net.connect(listener->address(), Duration::seconds(5))).value();
    const std::string msg(kMessageBytes, 'p');
    char buf[kMessageBytes];
    const Instant start = monotonic_now();
    for (long i = 0; i < round_trips; ++i) {
      if (!conn->write(msg).is_ok()) std::abort();
      size_t got = 0;
      while (got < kMessageBytes) {
        auto n = conn->read(buf + got, kMessageBytes - got);
        if (!n.is_ok() || n.value() == 0) std::abort();
        got += n.value();
      }
    }
    took = monotonic_now() - start;
    done = true;
  });
  loop.run_until([&] { return done; });
  std::printf("ping-pong:     %.0f round trips/s, %.1f us per round trip (%ld x %zu B)\n",
              static_cast<double>(round_trips) / took.seconds_f(),
              static_cast<double>(took.ns()) / 1000.0 / static_cast<double>(round_trips), round_trips,
              kMessageBytes);
  listener->close();
  loop.run_until([&] { return fibers.fiber_count() == 0; }, Duration::seconds(1));
}

void bench_disk(long calls) {
  char tmpl[] = "/tmp/keel-posix-bench-XXXXXX";
  const char* dir = ::mkdtemp(tmpl);
  if (dir == nullptr) std::abort();
  Scheduler fibers;
  EventLoop loop(fibers);
  {
    auto disk = std::move(keel::posix::PosixDisk::open(loop, dir, 2)).value();
    bool done = false;
    fibers.spawn(ProcessId(0), "disk", [&] {
      Instant start = monotonic_now();
      for (long i = 0; i < calls; ++i) disk->pool().run([] {});
      Duration took = monotonic_now() - start;
      std::printf("pool call:     %.1f us per empty job round trip (%ld calls)\n",
                  static_cast<double>(took.ns()) / 1000.0 / static_cast<double>(calls), calls);
      auto file = std::move(disk->open("f", keel::core::OpenMode::kCreate)).value();
      start = monotonic_now();
      uint64_t sum = 0;
      for (long i = 0; i < calls; ++i) sum += file->size().value();
      took = monotonic_now() - start;
      std::printf("inline fstat:  %.2f us per File::size (%ld calls, sum %llu)\n",
                  static_cast<double>(took.ns()) / 1000.0 / static_cast<double>(calls), calls,
                  static_cast<unsigned long long>(sum));
      const std::string block(4096, 'b');
      start = monotonic_now();
      for (long i = 0; i < calls; ++i) {
        if (!file->append(block).is_ok()) std::abort();
      }
      took = monotonic_now() - start;
      std::printf("append 4 KiB:  %.1f us per call, unsynced (%ld calls)\n",
                  static_cast<double>(took.ns()) / 1000.0 / static_cast<double>(calls), calls);
      (void)disk->remove("f");
      done = true;
    });
    loop.run_until([&] { return done; });
  }
  ::rmdir(dir);
}

}  // namespace

int main(int argc, char** argv) {
  const long scale = argc > 1 ? std::atol(argv[1]) : 1;
  if (scale <= 0) {
    std::fprintf(stderr, "usage: posix_bench [scale>0]\n");
    return 2;
  }
  bench_fiber_switch(2000000 * scale);
  bench_ping_pong(50000 * scale);
  bench_disk(20000 * scale);
  return 0;
}
