// Real-disk crash test: a child process writes through the log (on
// PosixDisk) and RocksKvEngine, reporting what it synced and persisted
// through a pipe, and is killed with SIGKILL mid-stream. The parent then
// reopens both and checks that every reported record is in the log and that
// the engine holds exactly the state at its durable applied index. Three
// rounds run on the same data directory, so each child also exercises
// recovery (engine replay from the log) after the previous kill.
//
// The child is this same test binary, re-executed (fork + exec, which is
// safe in a process that already runs RocksDB threads) to run the hidden
// test case below; its data directory arrives on stdin and its reports go
// to file descriptor 3.
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <filesystem>
#include <map>
#include <memory>
#include <sstream>
#include <string>

#include "core/scheduler.h"
#include "net/posix/event_loop.h"
#include "net/posix/posix_disk.h"
#include "storage/log.h"
#include "storage/rocksdb/rocks_kv_engine.h"

using keel::core::Bytes;
using keel::core::LogIndex;
using keel::storage::Log;
using keel::storage::RocksKvEngine;
using keel::storage::WriteBatch;

namespace {

constexpr int kReportFd = 3;
constexpr uint64_t kRecordsPerSync = 10;
constexpr uint64_t kSyncsPerPersist = 5;
constexpr const char* kChildTestName = "storage: crash child (run by the SIGKILL test)";

Bytes record_for(uint64_t index) {
  Bytes b = "rec-" + std::to_string(index) + "-";
  b.resize(100, '.');
  return b;
}
std::string key_for(uint64_t index) { return "k" + std::to_string(index % 37); }
std::string value_for(uint64_t index) { return "v" + std::to_string(index); }

// The engine state after applying records 1..applied.
std::map<Bytes, Bytes> expected_state(uint64_t applied) {
  std::map<Bytes, Bytes> m;
  for (uint64_t i = 1; i <= applied; ++i) m[key_for(i)] = value_for(i);
  return m;
}

void report(const std::string& line) {
  const std::string text = line + "\n";
  KEEL_ASSERT(::write(kReportFd, text.data(), text.size()) == static_cast<ssize_t>(text.size()));
}

// Applies records (from, to] to the engine as one batch.
keel::core::Status apply(RocksKvEngine& engine, uint64_t from, uint64_t to) {
  WriteBatch b;
  for (uint64_t i = from + 1; i <= to; ++i) b.put(key_for(i), value_for(i));
  return engine.write_batch(b, LogIndex(to));
}

void child_main(const std::string& dir) {
  keel::core::Scheduler fibers;
  keel::posix::EventLoop loop(fibers);
  auto disk = keel::posix::PosixDisk::open(loop, dir + "/data");
  KEEL_ASSERT(disk.is_ok());
  keel::storage::RocksKvOptions options;
  options.clock = &loop.clock();
  auto engine = RocksKvEngine::open(dir + "/rocks", options);
  KEEL_ASSERT(engine.is_ok());
  fibers.spawn(keel::core::ProcessId(0), "writer", [&] {
    auto opened = Log::open(**disk, "log");
    if (!opened.is_ok()) {
      report("E " + opened.status().to_string());
      _exit(2);
    }
    Log& log = **opened;
    // Recovery: replay what the log holds past the engine's applied index.
    uint64_t applied = (*engine)->applied_index().value();
    for (uint64_t i = applied + 1; i <= log.last_index().value(); ++i) {
      auto rec = log.read(LogIndex(i), 1);
      KEEL_ASSERT(rec.is_ok());
      KEEL_ASSERT(rec->at(0) == record_for(i));
      KEEL_ASSERT(apply(**engine, i - 1, i).is_ok());
    }
    applied = log.last_index().value();
    report("R " + std::to_string(applied));
    for (uint64_t round = 1;; ++round) {
      std::vector<Bytes> batch;
      const uint64_t first = log.last_index().value() + 1;
      for (uint64_t i = 0; i < kRecordsPerSync; ++i) batch.push_back(record_for(first + i));
      KEEL_ASSERT(log.append(batch).is_ok());
      KEEL_ASSERT(log.sync().is_ok());
      report("L " + log.synced_index().to_string());
      KEEL_ASSERT(apply(**engine, applied, log.last_index().value()).is_ok());
      applied = log.last_index().value();
      if (round % kSyncsPerPersist == 0) {
        KEEL_ASSERT((*engine)->persist().is_ok());
        report("P " + std::to_string(applied));
      }
    }
  });
  loop.run_until([] { return false; });
}

struct ChildReport {
  uint64_t synced = 0;
  uint64_t persisted = 0;
  uint64_t syncs = 0;
  std::string error;
};

// Runs one child, kills it after `syncs_before_kill` sync reports, and
// returns what it reported.
ChildReport run_child(const std::string& dir, uint64_t syncs_before_kill) {
  int to_child[2];
  int from_child[2];
  REQUIRE(::pipe(to_child) == 0);
  REQUIRE(::pipe(from_child) == 0);
  const std::string self = std::filesystem::read_symlink("/proc/self/exe").string();
  const pid_t pid = ::fork();
  REQUIRE(pid >= 0);
  if (pid == 0) {
    // Only async-signal-safe calls until exec.
    ::dup2(to_child[0], 0);
    ::dup2(from_child[1], kReportFd);
    const int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, 1);
    ::close(to_child[1]);
    ::close(from_child[0]);
    ::execl(self.c_str(), self.c_str(), kChildTestName, static_cast<char*>(nullptr));
    ::_exit(127);
  }
  ::close(to_child[0]);
  ::close(from_child[1]);
  REQUIRE(::write(to_child[1], dir.data(), dir.size()) == static_cast<ssize_t>(dir.size()));
  ::close(to_child[1]);

  ChildReport r;
  std::string pending;
  bool killed = false;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::read(from_child[0], buf, sizeof(buf));
    if (n <= 0) break;
    pending.append(buf, static_cast<size_t>(n));
    size_t nl;
    while ((nl = pending.find('\n')) != std::string::npos) {
      const std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line[0] == 'L') {
        r.synced = std::stoull(line.substr(2));
        ++r.syncs;
      } else if (line[0] == 'P') {
        r.persisted = std::stoull(line.substr(2));
      } else if (line[0] == 'E') {
        r.error = line;
      }
    }
    if (!killed && (r.syncs >= syncs_before_kill || !r.error.empty())) {
      ::kill(pid, SIGKILL);
      killed = true;
    }
  }
  ::close(from_child[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  INFO("child error: " << r.error);
  REQUIRE(r.error.empty());
  REQUIRE(WIFSIGNALED(status));
  REQUIRE(WTERMSIG(status) == SIGKILL);
  return r;
}

}  // namespace

TEST_CASE(kChildTestName, "[.][storage]") {
  std::string dir;
  char buf[512];
  ssize_t n;
  while ((n = ::read(0, buf, sizeof(buf))) > 0) dir.append(buf, static_cast<size_t>(n));
  REQUIRE(!dir.empty());
  child_main(dir);
}

TEST_CASE("storage: SIGKILL mid-stream keeps every synced record and a consistent engine", "[storage][unit]") {
  char tmpl[] = "/tmp/keel-storage-crash-XXXXXX";
  REQUIRE(::mkdtemp(tmpl) != nullptr);
  const std::string dir = tmpl;
  uint64_t floor_synced = 0;
  for (uint64_t round = 0; round < 3; ++round) {
    const ChildReport r = run_child(dir, 20 + 25 * round);
    INFO("round " << round << ": synced " << r.synced << ", persisted " << r.persisted);
    REQUIRE(r.synced > floor_synced);
    floor_synced = r.synced;

    // The log holds every reported record, intact.
    keel::core::Scheduler fibers;
    keel::posix::EventLoop loop(fibers);
    auto disk = keel::posix::PosixDisk::open(loop, dir + "/data");
    REQUIRE(disk.is_ok());
    std::string log_error;
    uint64_t log_last = 0;
    bool done = false;
    fibers.spawn(keel::core::ProcessId(0), "check", [&] {
      auto log = Log::open(**disk, "log");
      if (!log.is_ok()) {
        log_error = log.status().to_string();
      } else {
        log_last = (*log)->last_index().value();
        auto all = (*log)->read(LogIndex(1), UINT64_MAX);
        if (!all.is_ok()) {
          log_error = all.status().to_string();
        } else {
          for (uint64_t i = 1; i <= all->size(); ++i) {
            if ((*all)[i - 1] != record_for(i)) log_error = "record " + std::to_string(i) + " differs";
          }
        }
      }
      done = true;
    });
    REQUIRE(loop.run_until([&] { return done; }, keel::core::Duration::seconds(30)));
    INFO("log: " << log_error);
    REQUIRE(log_error.empty());
    REQUIRE(log_last >= r.synced);

    // The engine is exactly the state at its durable applied index.
    auto engine = RocksKvEngine::open(dir + "/rocks");
    REQUIRE(engine.is_ok());
    const uint64_t applied = (*engine)->applied_index().value();
    REQUIRE(applied >= r.persisted);
    REQUIRE(applied <= log_last);
    auto contents = (*engine)->scan("", "", keel::storage::kScanLimitMax);
    REQUIRE(contents.is_ok());
    std::map<Bytes, Bytes> got;
    for (const auto& e : *contents) got[e.key] = e.value;
    REQUIRE(got == expected_state(applied));
    REQUIRE((*engine)->close().is_ok());
  }
  std::filesystem::remove_all(dir);
}
