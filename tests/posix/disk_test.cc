#include "net/posix/posix_disk.h"

#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

#include "core/env.h"
#include "tests/posix/test_util.h"

using keel::core::Code;
using keel::core::Duration;
using keel::core::OpenMode;
using keel::posix::PosixDisk;
using keel::posix::testing::Rig;
using keel::posix::testing::run_fiber;
using keel::posix::testing::TempDir;

namespace {

std::unique_ptr<PosixDisk> open_disk(Rig& rig, const TempDir& dir, size_t threads = 2) {
  auto disk = PosixDisk::open(rig.loop, dir.path() + "/data", threads);
  REQUIRE(disk.is_ok());
  return std::move(disk).value();
}

}  // namespace

TEST_CASE("posix disk: write, append, read back, size, truncate", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir);
  run_fiber(rig.loop, [&] {
    auto file = disk->open("a.log", OpenMode::kCreateNew);
    REQUIRE(file.is_ok());
    auto& f = *file.value();
    REQUIRE(f.path() == "a.log");
    REQUIRE(f.append("hello ").is_ok());
    REQUIRE(f.append("world").is_ok());
    REQUIRE(f.write_at(0, "J").is_ok());
    REQUIRE(f.sync().is_ok());
    REQUIRE(f.size().value() == 11);
    REQUIRE(f.read_at(0, 100).value() == "Jello world");
    REQUIRE(f.read_at(6, 3).value() == "wor");
    REQUIRE(f.read_at(50, 3).value().empty());
    REQUIRE(f.truncate(5).is_ok());
    REQUIRE(f.size().value() == 5);
    REQUIRE(f.append("!").is_ok());
    REQUIRE(f.read_at(0, 100).value() == "Jello!");
    // A second handle sees the synced contents and appends at the real end.
    auto again = disk->open("a.log", OpenMode::kReadWrite);
    REQUIRE(again.is_ok());
    REQUIRE(again.value()->append("?").is_ok());
    REQUIRE(f.read_at(0, 100).value() == "Jello!?");
  });
}

TEST_CASE("posix disk: a large file round-trips", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir);
  run_fiber(rig.loop, [&] {
    std::string data(3 << 20, '\0');
    for (size_t i = 0; i < data.size(); ++i) data[i] = static_cast<char>((i * 2654435761u) >> 13);
    auto file = disk->open("big", OpenMode::kCreate);
    REQUIRE(file.is_ok());
    REQUIRE(file.value()->append(data).is_ok());
    REQUIRE(file.value()->sync().is_ok());
    auto back = file.value()->read_at(0, data.size() + 10);
    REQUIRE(back.is_ok());
    REQUIRE(back.value() == data);
  });
}

TEST_CASE("posix disk: open modes and errors map to codes", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir);
  run_fiber(rig.loop, [&] {
    auto missing = disk->open("nope", OpenMode::kReadOnly);
    REQUIRE(missing.status().code() == Code::kNotFound);
    REQUIRE(missing.status().message().find("nope") != std::string::npos);
    REQUIRE(missing.status().message().find("No such file") != std::string::npos);
    REQUIRE(disk->open("nope", OpenMode::kReadWrite).status().code() == Code::kNotFound);
    REQUIRE(disk->open("f", OpenMode::kCreate).is_ok());
    REQUIRE(disk->open("f", OpenMode::kCreate).is_ok());
    REQUIRE(disk->open("f", OpenMode::kCreateNew).status().code() == Code::kAlreadyExists);
    REQUIRE(disk->open("no/such/dir/f", OpenMode::kCreate).status().code() == Code::kNotFound);
    REQUIRE(disk->remove("nope").code() == Code::kNotFound);
    REQUIRE(disk->rename("nope", "other").code() == Code::kNotFound);
    REQUIRE(disk->list("nodir").status().code() == Code::kNotFound);
    REQUIRE(disk->sync_dir("nodir").code() == Code::kNotFound);
    // Writing through a read-only handle is a device-level refusal (EBADF).
    auto ro = disk->open("f", OpenMode::kReadOnly);
    REQUIRE(ro.is_ok());
    REQUIRE(ro.value()->append("x").code() == Code::kIoError);
    REQUIRE(ro.value()->size().value() == 0);
    REQUIRE(disk->make_dirs("d").is_ok());
    REQUIRE(disk->open("d", OpenMode::kReadOnly).status().code() == Code::kIoError);
  });
}

TEST_CASE("posix disk: rename replaces atomically and sync_dir succeeds", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir);
  run_fiber(rig.loop, [&] {
    REQUIRE(disk->make_dirs("snap/tmp").is_ok());
    REQUIRE(disk->make_dirs("snap/tmp").is_ok());
    {
      auto f = disk->open("snap/current", OpenMode::kCreate);
      REQUIRE(f.value()->append("old").is_ok());
      auto g = disk->open("snap/tmp/next", OpenMode::kCreateNew);
      REQUIRE(g.value()->append("new").is_ok());
      REQUIRE(g.value()->sync().is_ok());
    }
    REQUIRE(disk->rename("snap/tmp/next", "snap/current").is_ok());
    REQUIRE(disk->sync_dir("snap").is_ok());
    REQUIRE(disk->sync_dir("snap/tmp").is_ok());
    REQUIRE(disk->sync_dir("").is_ok());
    REQUIRE_FALSE(disk->exists("snap/tmp/next").value());
    REQUIRE(disk->exists("snap/current").value());
    auto f = disk->open("snap/current", OpenMode::kReadOnly);
    REQUIRE(f.value()->read_at(0, 10).value() == "new");
    REQUIRE(disk->remove("snap/current").is_ok());
    REQUIRE_FALSE(disk->exists("snap/current").value());
    REQUIRE(disk->remove("snap/tmp").is_ok());
    REQUIRE_FALSE(disk->exists("snap/tmp").value());
  });
}

TEST_CASE("posix disk: list returns sorted names", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir);
  run_fiber(rig.loop, [&] {
    for (const char* name : {"c", "a", "b10", "b2", "sub/x"}) {
      if (std::string(name) == "sub/x") REQUIRE(disk->make_dirs("sub").is_ok());
      REQUIRE(disk->open(name, OpenMode::kCreateNew).is_ok());
    }
    REQUIRE(disk->list("").value() == std::vector<std::string>{"a", "b10", "b2", "c", "sub"});
    REQUIRE(disk->list(".").value() == disk->list("").value());
    REQUIRE(disk->list("sub").value() == std::vector<std::string>{"x"});
    REQUIRE(disk->list("sub/").value() == std::vector<std::string>{"x"});
  });
}

TEST_CASE("posix disk: paths escaping the root are rejected", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir);
  run_fiber(rig.loop, [&] {
    REQUIRE(disk->open("/etc/passwd", OpenMode::kReadOnly).status().code() == Code::kInvalidArgument);
    REQUIRE(disk->open("../x", OpenMode::kCreate).status().code() == Code::kInvalidArgument);
    REQUIRE(disk->open("a/../../x", OpenMode::kCreate).status().code() == Code::kInvalidArgument);
    REQUIRE(disk->make_dirs("a/..").code() == Code::kInvalidArgument);
    REQUIRE(disk->list("..").status().code() == Code::kInvalidArgument);
    REQUIRE(disk->exists("/tmp").status().code() == Code::kInvalidArgument);
    REQUIRE(disk->rename("x", "../y").code() == Code::kInvalidArgument);
    REQUIRE(disk->remove("").code() == Code::kInvalidArgument);
    // "." and empty components are harmless.
    REQUIRE(disk->open("./a//b", OpenMode::kCreate).status().code() == Code::kNotFound);
    REQUIRE(disk->make_dirs("./a//").is_ok());
    REQUIRE(disk->open("./a//b", OpenMode::kCreate).is_ok());
    REQUIRE(disk->exists("a/b").value());
  });
  // Nothing was created outside the root.
  struct stat st;
  REQUIRE(::stat((dir.path() + "/x").c_str(), &st) != 0);
}

TEST_CASE("posix disk: concurrent appends from many fibers do not overlap", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir, 4);
  std::unique_ptr<keel::core::File> file;
  run_fiber(rig.loop, [&] { file = std::move(disk->open("log", OpenMode::kCreate)).value(); });
  constexpr int kFibers = 16;
  constexpr int kRecords = 50;
  int finished = 0;
  for (int i = 0; i < kFibers; ++i) {
    rig.fibers.spawn(keel::core::ProcessId(0), "appender", [&, i] {
      for (int r = 0; r < kRecords; ++r) {
        const std::string rec(100, static_cast<char>('A' + i));
        REQUIRE(file->append(rec).is_ok());
      }
      ++finished;
    });
  }
  REQUIRE(rig.loop.run_until([&] { return finished == kFibers; }, Duration::seconds(20)));
  run_fiber(rig.loop, [&] {
    auto all = file->read_at(0, 1 << 20).value();
    REQUIRE(all.size() == size_t{kFibers} * kRecords * 100);
    std::vector<int> counts(kFibers, 0);
    for (size_t off = 0; off < all.size(); off += 100) {
      const char c = all[off];
      REQUIRE(all.substr(off, 100) == std::string(100, c));
      ++counts[c - 'A'];
    }
    for (int c : counts) REQUIRE(c == kRecords);
  });
}

TEST_CASE("posix disk: disk I/O does not stop another fiber's timers", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir);
  bool io_done = false;
  int ticks_during_io = 0;
  rig.fibers.spawn(keel::core::ProcessId(0), "io", [&] {
    auto f = disk->open("f", OpenMode::kCreate);
    const std::string chunk(1 << 20, 'z');
    for (int i = 0; i < 32; ++i) {
      REQUIRE(f.value()->append(chunk).is_ok());
      REQUIRE(f.value()->sync().is_ok());
    }
    io_done = true;
  });
  rig.fibers.spawn(keel::core::ProcessId(0), "ticker", [&] {
    while (!io_done) {
      rig.loop.clock().sleep_for(Duration::millis(1));
      if (!io_done) ++ticks_during_io;
    }
  });
  const auto start = rig.loop.now();
  REQUIRE(rig.loop.run_until([&] { return io_done && rig.fibers.fiber_count() == 0; }, Duration::seconds(30)));
  const auto elapsed = rig.loop.now() - start;
  INFO("I/O took " << elapsed.to_string() << ", ticks " << ticks_during_io);
  // If the loop blocked during each call, the ticker would advance at most
  // once per call (64 calls); with a free loop it ticks about once per ms.
  REQUIRE(ticks_during_io >= 5);
  REQUIRE(ticks_during_io >= elapsed.ms() / 4);
}

TEST_CASE("posix disk: a slow worker job leaves the loop free for timers", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir);
  bool job_done = false;
  int ticks = 0;
  rig.fibers.spawn(keel::core::ProcessId(0), "slow", [&] {
    // Stands in for a slow fsync: 200 ms of blocking on a worker thread.
    disk->pool().run([] { ::usleep(200 * 1000); });
    job_done = true;
  });
  rig.fibers.spawn(keel::core::ProcessId(0), "ticker", [&] {
    while (!job_done) {
      rig.loop.clock().sleep_for(Duration::millis(1));
      ++ticks;
    }
  });
  REQUIRE(rig.loop.run_until([&] { return rig.fibers.fiber_count() == 0; }, Duration::seconds(10)));
  INFO("ticks " << ticks);
  // A blocked loop would tick once or twice; a free one about 180 times.
  REQUIRE(ticks >= 50);
}

TEST_CASE("posix disk: killing fibers mid-call cancels queued jobs and waits for running ones", "[posix][unit]") {
  TempDir dir;
  Rig rig;
  auto disk = open_disk(rig, dir, 1);
  std::atomic<int> finished_jobs{0};
  bool cancelled_job_ran = false;
  // With one worker, the first job runs (slowly) and the second stays queued.
  rig.fibers.spawn(keel::core::ProcessId(1), "running", [&] {
    char on_stack[64] = {};
    disk->pool().run([&] {
      ::usleep(50 * 1000);
      // Writes into the dying fiber's stack: only safe if the unwind waits.
      on_stack[0] = 'x';
      finished_jobs.fetch_add(1);
    });
    FAIL("the killed fiber must not return from run()");
  });
  rig.fibers.spawn(keel::core::ProcessId(1), "queued", [&] {
    disk->pool().run([&] { cancelled_job_ran = true; });
    FAIL("the killed fiber must not return from run()");
  });
  rig.loop.run_for(Duration::millis(10));
  REQUIRE(disk->pool().in_flight() == 2);
  rig.fibers.kill_group(keel::core::ProcessId(1));
  REQUIRE(finished_jobs.load() == 1);
  // The running job's completion arrives later and frees its slot.
  REQUIRE(rig.loop.run_until([&] { return disk->pool().in_flight() == 0; }, Duration::seconds(5)));
  REQUIRE_FALSE(cancelled_job_ran);
  run_fiber(rig.loop, [&] {
    REQUIRE(disk->open("after", OpenMode::kCreate).is_ok());
  });
  REQUIRE_FALSE(cancelled_job_ran);
}
