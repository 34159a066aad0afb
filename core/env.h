// The environment interfaces: everything a node touches outside its memory.
//
// A node reaches time, the network, the disk and randomness only through an
// Env, passed explicitly. Two implementations exist: sim/ (one thread, virtual
// time, seeded faults) and net/posix/ (epoll, the monotonic clock, real
// files). Node code never asks which one it has.
//
// Every call documented "May suspend" parks only the calling fiber; the OS
// thread goes on running other fibers. Such calls must be made from a fiber.
// After a call that may suspend, re-check any state another fiber may have
// changed.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "core/bytes.h"
#include "core/ids.h"
#include "core/random.h"
#include "core/scheduler.h"
#include "core/status.h"
#include "core/time.h"
#include "core/trace.h"

namespace keel::core {

struct TimerIdTag {};
using TimerId = StrongId<TimerIdTag>;

// Clock: the process's notion of time. The simulator's clocks drift within a
// configured bound; production reads CLOCK_MONOTONIC.
class Clock {
 public:
  explicit Clock(Scheduler& fibers) : fibers_(fibers) {}
  virtual ~Clock() = default;

  virtual Instant now() const = 0;
  // Calls `fn` from the event loop (never inside a fiber) once now() >= at,
  // unless cancelled first. `fn` must not suspend; it typically unparks a
  // fiber. Timers of a crashed process never fire.
  virtual TimerId schedule(Instant at, std::function<void()> fn) = 0;
  // Cancelling a timer that fired or was cancelled already is a no-op.
  virtual void cancel(TimerId id) = 0;

  // Parks the calling fiber until now() >= at. May suspend.
  void sleep_until(Instant at);
  // May suspend.
  void sleep_for(Duration d) { sleep_until(now() + d); }

  Scheduler& fibers() const { return fibers_; }

 private:
  Scheduler& fibers_;
};

// A host and port. Hosts are IPv4 literals or names in production; the
// simulator names nodes "n1", "n2", ... and clients "c1", ....
struct Address {
  std::string host;
  uint16_t port = 0;

  std::string to_string() const { return host + ":" + std::to_string(port); }
  // Parses "host:port"; InvalidArgument on anything else.
  static Result<Address> parse(std::string_view text);
  auto operator<=>(const Address&) const = default;
};

// Stream: a reliable, ordered byte stream (TCP-like). Bytes may arrive in
// chunks of any size. Destroying a Stream closes it.
class Stream {
 public:
  virtual ~Stream() = default;
  // Reads at least 1 and at most `len` bytes into `buf`; returns 0 at an
  // orderly end of stream. Errors: Unavailable (connection broken or reset),
  // Cancelled (closed locally). May suspend.
  virtual Result<size_t> read(char* buf, size_t len) = 0;
  // Queues all of `data` for sending; may wait for buffer space. Errors:
  // Unavailable, Cancelled. May suspend.
  virtual Status write(ByteView data) = 0;
  // Closes both directions. A fiber blocked in read() or write() on this
  // stream returns Cancelled. Idempotent; never suspends.
  virtual void close() = 0;
  virtual Address peer() const = 0;
};

class Listener {
 public:
  virtual ~Listener() = default;
  // Waits for the next incoming connection. Errors: Cancelled once closed.
  // May suspend.
  virtual Result<std::unique_ptr<Stream>> accept() = 0;
  // Stops listening; wakes a fiber blocked in accept(). Never suspends.
  virtual void close() = 0;
  virtual Address address() const = 0;
};

class Network {
 public:
  virtual ~Network() = default;
  // Errors: AlreadyExists (address in use), InvalidArgument.
  virtual Result<std::unique_ptr<Listener>> listen(const Address& address) = 0;
  // Errors: Unavailable (refused, unreachable), DeadlineExceeded. May suspend.
  virtual Result<std::unique_ptr<Stream>> connect(const Address& address, Duration timeout) = 0;
};

enum class OpenMode : uint8_t {
  kReadOnly,   // must exist
  kReadWrite,  // must exist
  kCreate,     // read-write; created if absent
  kCreateNew,  // read-write; AlreadyExists if present
};

// File: positional I/O. Writes are volatile until sync(); the simulator's
// crash model keeps, drops or tears each unsynced write independently.
class File {
 public:
  virtual ~File() = default;
  // Reads up to `len` bytes at `offset`; fewer only at end of file.
  // Errors: IoError. May suspend.
  virtual Result<Bytes> read_at(uint64_t offset, size_t len) = 0;
  // Errors: IoError, NoSpace. May suspend.
  virtual Status write_at(uint64_t offset, ByteView data) = 0;
  // Writes at the current end of file. Errors: IoError, NoSpace. May suspend.
  virtual Status append(ByteView data) = 0;
  // Makes every earlier write and the file size durable (fdatasync).
  // Errors: IoError. May suspend.
  virtual Status sync() = 0;
  // Errors: IoError. May suspend.
  virtual Status truncate(uint64_t size) = 0;
  virtual Result<uint64_t> size() = 0;
  virtual const std::string& path() const = 0;
};

// Disk: a directory tree rooted at the process's data directory. Paths are
// relative, '/'-separated. Creating, renaming or removing a file is durable
// only after sync_dir() of its parent directory.
class Disk {
 public:
  virtual ~Disk() = default;
  // Errors: NotFound, AlreadyExists, IoError. May suspend.
  virtual Result<std::unique_ptr<File>> open(const std::string& path, OpenMode mode) = 0;
  // Errors: NotFound, IoError. May suspend.
  virtual Status remove(const std::string& path) = 0;
  // Atomically replaces `to` with `from`. Errors: NotFound, IoError.
  // May suspend.
  virtual Status rename(const std::string& from, const std::string& to) = 0;
  // Names (not paths) of the entries in `dir`, sorted. Errors: NotFound.
  virtual Result<std::vector<std::string>> list(const std::string& dir) = 0;
  // Creates `dir` and its parents; succeeds if present. May suspend.
  virtual Status make_dirs(const std::string& dir) = 0;
  // Makes the entries of `dir` durable. Errors: IoError. May suspend.
  virtual Status sync_dir(const std::string& dir) = 0;
  virtual Result<bool> exists(const std::string& path) = 0;
};

// Env: one per process. References only; the composition root (keel-sim's
// harness or keeld's main) owns the implementations and outlives the node.
struct Env {
  ProcessId process;
  NodeId node;
  Clock& clock;
  Network& net;
  Disk& disk;
  Random& random;
  Scheduler& fibers;
  Tracer& trace;

  // Spawns a fiber belonging to this process.
  FiberId spawn(std::string name, std::function<void()> fn) {
    return fibers.spawn(process, std::move(name), std::move(fn));
  }
  Instant now() const { return clock.now(); }
  // May suspend.
  void sleep_for(Duration d) { clock.sleep_for(d); }
};

}  // namespace keel::core
