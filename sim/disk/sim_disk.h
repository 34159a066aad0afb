// SimDisk: the simulated disk of one simulated host.
//
// (Interface fixed here so that sim::World can own one per host; the
// implementation lives in sim/disk/sim_disk.cc.)
//
// Each file has a durable image plus the writes made since its last sync.
// crash() applies the crash model: each unsynced write is independently kept,
// dropped or torn (a prefix of it reaches the platter), chosen by the seeded
// Random; a create, rename or remove survives only if its directory was
// synced afterwards. Faults (set_faults): EIO on reads and writes, bit flips
// in durable data, ENOSPC past a byte budget, slow I/O.
//
// Model details: a file's contents (an inode) are shared by its name and
// every open handle; sync() makes the file's contents durable, sync_dir(d)
// makes the current set of names directly in d durable (so a rename across
// directories needs both directories synced). Directories themselves are
// durable as soon as make_dirs() returns. Writes issued while a sync() is
// sleeping may become durable with it, as on a real device. Paths are
// normalized ("a//b/" is "a/b", "" and "." are the root); ".." is refused.
// Determinism: ordered containers only, and every coin comes from the
// Random given at construction.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "core/env.h"
#include "core/random.h"

namespace keel::sim {

struct DiskFaults {
  double read_error_probability = 0;   // each read_at fails with IoError
  double write_error_probability = 0;  // each write/append/truncate fails with IoError
  // Each sync fails with IoError. As on Linux, what it would have written
  // is then settled as at a crash (each write kept, torn or dropped on the
  // device) while reads still see every write, and no later sync writes
  // the lost ones: only rewriting the data makes it durable.
  double sync_error_probability = 0;
  uint64_t capacity_bytes = UINT64_MAX;  // NoSpace beyond this many stored bytes
  core::Duration sync_latency_min = core::Duration::micros(100);
  core::Duration sync_latency_max = core::Duration::millis(2);
  double slow_io_probability = 0;  // a sync takes slow_io_latency instead
  core::Duration slow_io_latency = core::Duration::millis(200);
  // Crash model: each unsynced write is kept with probability
  // crash_keep_probability, else torn with crash_tear_probability, else
  // dropped. A torn write keeps a strict prefix of its bytes; with
  // tear_sector_bytes > 0 the prefix ends on a sector boundary of the file
  // (so whole sectors survive or vanish). Unsynced truncates are kept or
  // dropped with crash_keep_probability.
  double crash_keep_probability = 0.4;
  double crash_tear_probability = 0.3;
  uint64_t tear_sector_bytes = 0;
};

struct DiskStats {
  uint64_t reads = 0;
  uint64_t writes = 0;
  uint64_t syncs = 0;
  uint64_t injected_errors = 0;
  uint64_t bit_flips = 0;
  uint64_t crashes = 0;
  uint64_t torn_writes = 0;
  uint64_t dropped_writes = 0;
  uint64_t crash_points = 0;
};

class SimDisk : public core::Disk {
 public:
  // `clock` must outlive the disk; it is used to charge I/O latency (sync).
  SimDisk(core::Clock& clock, core::Random random);
  ~SimDisk() override;

  core::Result<std::unique_ptr<core::File>> open(const std::string& path, core::OpenMode mode) override;
  core::Status remove(const std::string& path) override;
  core::Status rename(const std::string& from, const std::string& to) override;
  core::Result<std::vector<std::string>> list(const std::string& dir) override;
  core::Status make_dirs(const std::string& dir) override;
  core::Status sync_dir(const std::string& dir) override;
  core::Result<bool> exists(const std::string& path) override;

  // Applies the crash model. Files opened before the crash fail every later
  // call with IoError ("stale handle"). Call only while no fiber of the
  // owning process can touch the disk (its fibers are dead).
  void crash();
  // A crash at an exact disk call: the `calls_from_now`-th mutating call
  // from now (write, append, truncate, file or directory sync, rename,
  // remove; counting from 1) and every call after it fail with IoError and
  // change nothing, and `on_reached` runs once, inside that call; it
  // should crash the host (from an event, not from the calling fiber), so
  // the program never learns more than a crash would tell it. crash() and
  // set_crash_point(0, {}) clear the point and restart a stopped device.
  void set_crash_point(uint64_t calls_from_now, std::function<void()> on_reached);
  // Mutating calls made so far (the counter crash points refer to).
  uint64_t mutating_calls() const;
  void set_faults(const DiskFaults& faults);
  const DiskFaults& faults() const;
  // Flips one random bit of one random durable byte (of a random file
  // matching `path_prefix`, if any). Returns false when no file has data.
  bool flip_random_bit(const std::string& path_prefix = "");
  // Flips bit `bit` (0..7) of the durable byte at `offset` of `path` (and of
  // its volatile view). Returns false if the file or byte does not exist.
  // For tests that need an exact fault.
  bool flip_bit(const std::string& path, uint64_t offset, int bit);
  const DiskStats& stats() const;
  // Total bytes held (volatile view), for capacity checks and reports.
  uint64_t used_bytes() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace keel::sim
