// Helpers for the net/posix tests: temporary directories and running a test
// body as a fiber on a real EventLoop.
#pragma once

#include <ftw.h>
#include <stdlib.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <functional>
#include <string>

#include "core/scheduler.h"
#include "net/posix/event_loop.h"

namespace keel::posix::testing {

// A fresh directory under /tmp, removed with its contents on destruction.
class TempDir {
 public:
  TempDir() {
    char tmpl[] = "/tmp/keel-posix-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    REQUIRE(made != nullptr);
    path_ = made;
  }
  ~TempDir() {
    ::nftw(
        path_.c_str(),
        [](const char* p, const struct stat*, int, struct FTW*) { return ::remove(p); }, 16,
        FTW_DEPTH | FTW_PHYS);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A Scheduler and its EventLoop. Leftover fibers (from a failed test) are
// killed before the loop goes away.
struct Rig {
  core::Scheduler fibers;
  EventLoop loop{fibers};
  ~Rig() { fibers.kill_group(core::ProcessId(0)); }
};

// Spawns `body` as a fiber and runs the loop until it returns; fails the
// test if it has not finished within `timeout`.
inline void run_fiber(EventLoop& loop, std::function<void()> body,
                      core::Duration timeout = core::Duration::seconds(20)) {
  bool done = false;
  loop.fibers().spawn(core::ProcessId(0), "test-body", [&] {
    body();
    done = true;
  });
  REQUIRE(loop.run_until([&] { return done; }, timeout));
}

}  // namespace keel::posix::testing
