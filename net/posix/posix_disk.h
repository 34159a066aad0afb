// PosixDisk: the production core::Disk, a directory tree on a real file
// system rooted at the process's data directory.
//
// Paths are relative to the root and '/'-separated; empty and "." components
// are ignored, so "" and "." name the root itself. Absolute paths and ".."
// components are rejected with InvalidArgument, so a Disk never reaches
// outside its root (symbolic links inside the root are followed, not
// checked).
//
// Which thread runs what:
//   - Calls the interface marks "May suspend" (open, remove, rename,
//     make_dirs, sync_dir; File::read_at, write_at, append, sync, truncate)
//     run on the WorkerPool; the calling fiber parks until the completion
//     comes back through the loop's eventfd. They must be called from a fiber.
//   - Calls the interface promises never suspend (list, exists, File::size)
//     run inline on the loop's thread: they are metadata reads (getdents,
//     stat, fstat) that the kernel normally serves from its caches in about a
//     microsecond, far below the cost of a round trip through the pool.
//   Measured with bench/posix_bench on the 2-core development VM under a
//   load average of about 10: an empty job's round trip through the pool
//   (submit, worker wake-up, eventfd completion, unpark) costs 25-75 us; an
//   inline fstat 0.5-1.4 us; an unsynced 4 KiB append 40 us end to end. The
//   pool's cost is noise next to an fdatasync (milliseconds), which is what
//   it exists for.
//
// Errors: errno is mapped to a Status whose message names the operation,
// the relative path and strerror: ENOENT and ENOTDIR -> NotFound, EEXIST ->
// AlreadyExists, ENOSPC and EDQUOT -> NoSpace, anything else -> IoError.
//
// File::append writes at an end-of-file offset cached on the loop's thread
// (read by fstat at open, then advanced by every append, write_at past the
// end and truncate), so concurrent appends from several fibers get disjoint
// ranges in the order they were called even when two workers run them.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "core/status.h"
#include "net/posix/event_loop.h"
#include "net/posix/worker_pool.h"

namespace keel::posix {

// The Status for errno `err` from `op` on `path` (see the header comment).
core::Status errno_status(int err, std::string_view op, std::string_view path);

class PosixDisk final : public core::Disk {
 public:
  // Opens (creating it and its parents if absent) the directory `root` and
  // starts `worker_threads` disk workers. Blocks the calling thread: call it
  // at start-up, before the loop runs. Errors: InvalidArgument (empty root),
  // IoError, NotFound.
  static core::Result<std::unique_ptr<PosixDisk>> open(EventLoop& loop, std::string root,
                                                       size_t worker_threads = WorkerPool::kThreadsDefault);
  // Precondition: no fiber is inside a call on this Disk or its Files.
  ~PosixDisk() override;

  // May suspend.
  core::Result<std::unique_ptr<core::File>> open(const std::string& path, core::OpenMode mode) override;
  // Removes a file or an empty directory. May suspend.
  core::Status remove(const std::string& path) override;
  // rename(2): atomic replacement of `to`. May suspend.
  core::Status rename(const std::string& from, const std::string& to) override;
  // Inline on the loop's thread. Never suspends.
  core::Result<std::vector<std::string>> list(const std::string& dir) override;
  // May suspend.
  core::Status make_dirs(const std::string& dir) override;
  // fsync of the directory. May suspend.
  core::Status sync_dir(const std::string& dir) override;
  // Inline on the loop's thread. Never suspends.
  core::Result<bool> exists(const std::string& path) override;

  // The absolute root directory.
  const std::string& root() const { return root_; }
  WorkerPool& pool() { return pool_; }
  EventLoop& loop() { return loop_; }

  // The absolute path for relative `path`, or InvalidArgument.
  core::Result<std::string> resolve(const std::string& path) const;

 private:
  PosixDisk(EventLoop& loop, std::string root, size_t worker_threads);

  EventLoop& loop_;
  std::string root_;
  WorkerPool pool_;
};

}  // namespace keel::posix
