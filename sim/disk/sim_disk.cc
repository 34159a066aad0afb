#include "sim/disk/sim_disk.h"

#include <algorithm>
#include <set>
#include <utility>

namespace keel::sim {

namespace {

using core::Bytes;
using core::ByteView;
using core::Result;
using core::Status;

// One unsynced change to a file's contents, in issue order.
struct PendingOp {
  enum class Kind : uint8_t { kWrite, kTruncate };
  Kind kind = Kind::kWrite;
  uint64_t offset = 0;  // write offset, or the new size for a truncate
  Bytes data;
};

void apply_write(Bytes& image, uint64_t offset, ByteView data) {
  if (image.size() < offset + data.size()) image.resize(offset + data.size(), '\0');
  image.replace(offset, data.size(), data.data(), data.size());
}

void apply_op(Bytes& image, const PendingOp& op) {
  if (op.kind == PendingOp::Kind::kTruncate) {
    image.resize(op.offset, '\0');
  } else {
    apply_write(image, op.offset, op.data);
  }
}

// A file's contents, shared by every name and handle that refers to it (an
// inode). `current` is what reads see: `durable` with `pending` applied.
struct Inode {
  uint64_t id = 0;
  Bytes durable;
  Bytes current;
  std::vector<PendingOp> pending;
};

// Normalizes a relative '/'-separated path: drops "." components, empty
// components and trailing slashes. "" names the root. ".." is refused.
Result<std::string> normalize(const std::string& path) {
  std::string out;
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find('/', i);
    if (j == std::string::npos) j = path.size();
    std::string part = path.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return core::invalid_argument("path '" + path + "' contains '..'");
    if (!out.empty()) out += '/';
    out += part;
  }
  return out;
}

std::string parent_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? std::string() : path.substr(0, slash);
}

std::string name_of(const std::string& path) {
  const size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

}  // namespace

// Everything the disk knows, shared with open handles so that a handle that
// outlives its SimDisk fails cleanly instead of dangling.
struct SimDiskState {
  SimDiskState(core::Clock& c, core::Random r) : clock(&c), random(std::move(r)) {}

  core::Clock* clock;
  core::Random random;
  DiskFaults faults;
  DiskStats stats;
  bool destroyed = false;
  // Bumped by crash(); handles from an earlier generation are stale.
  uint64_t generation = 0;
  uint64_t next_inode = 1;
  // Directories are durable as soon as they are made (a simplification: the
  // storage layer creates its directories once, before any data).
  std::set<std::string> dirs{""};
  // The namespace as the running process sees it, and as it would be found
  // after a crash (updated per directory by sync_dir).
  std::map<std::string, std::shared_ptr<Inode>> files;
  std::map<std::string, std::shared_ptr<Inode>> durable_files;

  // Crash points (SimDisk::set_crash_point): mutating calls so far, the
  // call at which the device stops, and whether it has stopped.
  uint64_t mutating_calls = 0;
  uint64_t crash_point = 0;
  bool stopped = false;
  std::function<void()> on_crash_point;

  // Counts one mutating call. Errors: IoError once the crash point is
  // reached (that call and every later one do nothing).
  Status count_call(const std::string& path) {
    if (stopped) return core::io_error("device stopped at its crash point: " + path);
    ++mutating_calls;
    if (crash_point == 0 || mutating_calls < crash_point) return Status::ok();
    stopped = true;
    ++stats.crash_points;
    if (on_crash_point) on_crash_point();
    return core::io_error("device stopped at its crash point: " + path);
  }

  bool inject(double probability) {
    if (probability <= 0 || !random.chance(probability)) return false;
    ++stats.injected_errors;
    return true;
  }

  uint64_t used_bytes() const {
    uint64_t total = 0;
    for (const auto& [path, inode] : files) total += inode->current.size();
    return total;
  }

  // Decides what of an inode's unsynced writes reached the device (the
  // crash model: each kept, torn or dropped) and folds that into its
  // durable image; the writes stop being pending.
  void settle_pending(Inode& inode) {
    const DiskFaults& f = faults;
    for (const PendingOp& op : inode.pending) {
      const double coin = random.unit();
      if (coin < f.crash_keep_probability) {
        apply_op(inode.durable, op);
        continue;
      }
      if (op.kind == PendingOp::Kind::kWrite && !op.data.empty() &&
          coin < f.crash_keep_probability + f.crash_tear_probability) {
        uint64_t kept = random.uniform(0, op.data.size() - 1);
        if (f.tear_sector_bytes > 0) {
          const uint64_t end = op.offset + kept;
          const uint64_t boundary = end - end % f.tear_sector_bytes;
          kept = boundary > op.offset ? boundary - op.offset : 0;
        }
        ++stats.torn_writes;
        if (kept > 0) apply_write(inode.durable, op.offset, ByteView(op.data).substr(0, kept));
        continue;
      }
      ++stats.dropped_writes;
    }
    inode.pending.clear();
  }

  // Charges the latency of one sync. May suspend.
  void charge_sync() {
    core::Duration d = random.uniform_duration(faults.sync_latency_min, faults.sync_latency_max);
    if (faults.slow_io_probability > 0 && random.chance(faults.slow_io_probability)) d = faults.slow_io_latency;
    clock->sleep_for(d);
  }
};

namespace {

class SimFile : public core::File {
 public:
  SimFile(std::shared_ptr<SimDiskState> state, std::shared_ptr<Inode> inode, std::string path, bool writable)
      : state_(std::move(state)),
        inode_(std::move(inode)),
        path_(std::move(path)),
        generation_(state_->generation),
        writable_(writable) {}

  Result<Bytes> read_at(uint64_t offset, size_t len) override {
    KEEL_TRY(check_live());
    if (state_->stopped) return core::io_error("device stopped at its crash point: " + path_);
    ++state_->stats.reads;
    if (state_->inject(state_->faults.read_error_probability)) return core::io_error("injected read error: " + path_);
    const Bytes& cur = inode_->current;
    if (offset >= cur.size()) return Bytes();
    return cur.substr(offset, std::min<uint64_t>(len, cur.size() - offset));
  }

  Status write_at(uint64_t offset, ByteView data) override {
    KEEL_TRY(check_writable());
    KEEL_TRY(state_->count_call(path_));
    ++state_->stats.writes;
    if (state_->inject(state_->faults.write_error_probability)) return core::io_error("injected write error: " + path_);
    const uint64_t end = offset + data.size();
    const uint64_t growth = end > inode_->current.size() ? end - inode_->current.size() : 0;
    if (growth > 0 && state_->used_bytes() + growth > state_->faults.capacity_bytes) {
      return core::no_space("disk full writing " + path_);
    }
    PendingOp op{PendingOp::Kind::kWrite, offset, Bytes(data)};
    apply_op(inode_->current, op);
    inode_->pending.push_back(std::move(op));
    return Status::ok();
  }

  Status append(ByteView data) override {
    KEEL_TRY(check_live());
    return write_at(inode_->current.size(), data);
  }

  Status sync() override {
    KEEL_TRY(check_live());
    KEEL_TRY(state_->count_call(path_));
    ++state_->stats.syncs;
    if (state_->inject(state_->faults.sync_error_probability)) {
      // As Linux does since 4.13: the failed write-back marks the pages
      // clean. What reached the device is settled now (each write kept,
      // torn or dropped, as in a crash); reads still see every write, and
      // no later sync will write the lost ones.
      state_->settle_pending(*inode_);
      return core::io_error("injected sync error: " + path_);
    }
    state_->charge_sync();
    // A crash while the fiber slept kills the fiber before it gets here; a
    // stale handle is still refused for clarity.
    KEEL_TRY(check_live());
    // Writes issued while the sync was in flight may become durable too,
    // as on a real device.
    for (const PendingOp& op : inode_->pending) apply_op(inode_->durable, op);
    inode_->pending.clear();
    return Status::ok();
  }

  Status truncate(uint64_t size) override {
    KEEL_TRY(check_writable());
    KEEL_TRY(state_->count_call(path_));
    ++state_->stats.writes;
    if (state_->inject(state_->faults.write_error_probability)) return core::io_error("injected truncate error: " + path_);
    const uint64_t growth = size > inode_->current.size() ? size - inode_->current.size() : 0;
    if (growth > 0 && state_->used_bytes() + growth > state_->faults.capacity_bytes) {
      return core::no_space("disk full extending " + path_);
    }
    PendingOp op{PendingOp::Kind::kTruncate, size, Bytes()};
    apply_op(inode_->current, op);
    inode_->pending.push_back(std::move(op));
    return Status::ok();
  }

  Result<uint64_t> size() override {
    KEEL_TRY(check_live());
    return static_cast<uint64_t>(inode_->current.size());
  }

  const std::string& path() const override { return path_; }

 private:
  Status check_live() const {
    if (state_->destroyed || state_->generation != generation_) {
      return core::io_error("stale handle (disk crashed since open): " + path_);
    }
    return Status::ok();
  }
  Status check_writable() const {
    KEEL_TRY(check_live());
    if (!writable_) return core::io_error("file opened read-only: " + path_);
    return Status::ok();
  }

  std::shared_ptr<SimDiskState> state_;
  std::shared_ptr<Inode> inode_;
  std::string path_;
  uint64_t generation_;
  bool writable_;
};

}  // namespace

struct SimDisk::Impl {
  std::shared_ptr<SimDiskState> state;
};

SimDisk::SimDisk(core::Clock& clock, core::Random random) : impl_(std::make_unique<Impl>()) {
  impl_->state = std::make_shared<SimDiskState>(clock, std::move(random));
}

SimDisk::~SimDisk() { impl_->state->destroyed = true; }

core::Result<std::unique_ptr<core::File>> SimDisk::open(const std::string& raw, core::OpenMode mode) {
  SimDiskState& s = *impl_->state;
  KEEL_TRY_ASSIGN(const std::string path, normalize(raw));
  if (path.empty() || s.dirs.count(path) != 0) return core::invalid_argument("'" + raw + "' is a directory");
  if (s.stopped) return core::io_error("device stopped at its crash point: " + path);
  auto it = s.files.find(path);
  std::shared_ptr<Inode> inode;
  if (it != s.files.end()) {
    if (mode == core::OpenMode::kCreateNew) return core::already_exists("file exists: " + path);
    inode = it->second;
  } else {
    if (mode == core::OpenMode::kReadOnly || mode == core::OpenMode::kReadWrite) {
      return core::not_found("no such file: " + path);
    }
    if (s.dirs.count(parent_of(path)) == 0) return core::not_found("no such directory: " + parent_of(path));
    inode = std::make_shared<Inode>();
    inode->id = s.next_inode++;
    s.files.emplace(path, inode);
  }
  return std::unique_ptr<core::File>(
      std::make_unique<SimFile>(impl_->state, std::move(inode), path, mode != core::OpenMode::kReadOnly));
}

core::Status SimDisk::remove(const std::string& raw) {
  SimDiskState& s = *impl_->state;
  KEEL_TRY_ASSIGN(const std::string path, normalize(raw));
  KEEL_TRY(s.count_call(path));
  if (s.files.erase(path) != 0) return Status::ok();
  if (!path.empty() && s.dirs.count(path) != 0) {
    const std::string prefix = path + "/";
    auto f = s.files.lower_bound(prefix);
    auto d = s.dirs.lower_bound(prefix);
    const bool has_files = f != s.files.end() && f->first.compare(0, prefix.size(), prefix) == 0;
    const bool has_dirs = d != s.dirs.end() && d->compare(0, prefix.size(), prefix) == 0;
    if (has_files || has_dirs) return core::io_error("directory not empty: " + path);
    // Durable files that vanished from the namespace would otherwise come
    // back at a crash into a directory that no longer exists.
    for (auto it = s.durable_files.lower_bound(prefix);
         it != s.durable_files.end() && it->first.compare(0, prefix.size(), prefix) == 0;) {
      it = s.durable_files.erase(it);
    }
    s.dirs.erase(path);
    return Status::ok();
  }
  return core::not_found("no such file: " + path);
}

core::Status SimDisk::rename(const std::string& raw_from, const std::string& raw_to) {
  SimDiskState& s = *impl_->state;
  KEEL_TRY_ASSIGN(const std::string from, normalize(raw_from));
  KEEL_TRY_ASSIGN(const std::string to, normalize(raw_to));
  KEEL_TRY(s.count_call(from));
  auto it = s.files.find(from);
  if (it == s.files.end()) {
    if (s.dirs.count(from) != 0) return core::invalid_argument("renaming directories is not supported: " + from);
    return core::not_found("no such file: " + from);
  }
  if (s.dirs.count(parent_of(to)) == 0) return core::not_found("no such directory: " + parent_of(to));
  if (to.empty() || s.dirs.count(to) != 0) return core::invalid_argument("rename target is a directory: " + to);
  if (from == to) return Status::ok();
  std::shared_ptr<Inode> inode = it->second;
  s.files.erase(it);
  s.files[to] = std::move(inode);
  return Status::ok();
}

core::Result<std::vector<std::string>> SimDisk::list(const std::string& raw) {
  SimDiskState& s = *impl_->state;
  KEEL_TRY_ASSIGN(const std::string dir, normalize(raw));
  if (s.dirs.count(dir) == 0) return core::not_found("no such directory: " + dir);
  std::set<std::string> names;
  for (const auto& [path, inode] : s.files) {
    if (parent_of(path) == dir) names.insert(name_of(path));
  }
  for (const std::string& d : s.dirs) {
    if (!d.empty() && parent_of(d) == dir) names.insert(name_of(d));
  }
  return std::vector<std::string>(names.begin(), names.end());
}

core::Status SimDisk::make_dirs(const std::string& raw) {
  SimDiskState& s = *impl_->state;
  KEEL_TRY_ASSIGN(const std::string dir, normalize(raw));
  std::string prefix;
  size_t i = 0;
  while (i <= dir.size() && !dir.empty()) {
    size_t j = dir.find('/', i);
    if (j == std::string::npos) j = dir.size();
    prefix = dir.substr(0, j);
    if (s.files.count(prefix) != 0) return core::already_exists("a file is in the way: " + prefix);
    s.dirs.insert(prefix);
    i = j + 1;
  }
  return Status::ok();
}

core::Status SimDisk::sync_dir(const std::string& raw) {
  SimDiskState& s = *impl_->state;
  KEEL_TRY_ASSIGN(const std::string dir, normalize(raw));
  if (s.dirs.count(dir) == 0) return core::not_found("no such directory: " + dir);
  KEEL_TRY(s.count_call(dir));
  ++s.stats.syncs;
  if (s.inject(s.faults.sync_error_probability)) return core::io_error("injected sync error: " + dir);
  s.charge_sync();
  // The directory may have changed while the fiber slept; record what it
  // holds now, which includes everything done before the call.
  if (s.dirs.count(dir) == 0) return Status::ok();
  for (auto it = s.durable_files.begin(); it != s.durable_files.end();) {
    if (parent_of(it->first) == dir && s.files.count(it->first) == 0) {
      it = s.durable_files.erase(it);
    } else {
      ++it;
    }
  }
  for (const auto& [path, inode] : s.files) {
    if (parent_of(path) == dir) s.durable_files[path] = inode;
  }
  return Status::ok();
}

core::Result<bool> SimDisk::exists(const std::string& raw) {
  SimDiskState& s = *impl_->state;
  KEEL_TRY_ASSIGN(const std::string path, normalize(raw));
  return s.files.count(path) != 0 || s.dirs.count(path) != 0;
}

void SimDisk::set_crash_point(uint64_t calls_from_now, std::function<void()> on_reached) {
  SimDiskState& s = *impl_->state;
  s.stopped = false;
  s.crash_point = calls_from_now == 0 ? 0 : s.mutating_calls + calls_from_now;
  s.on_crash_point = std::move(on_reached);
}

uint64_t SimDisk::mutating_calls() const { return impl_->state->mutating_calls; }

void SimDisk::crash() {
  SimDiskState& s = *impl_->state;
  ++s.stats.crashes;
  s.stopped = false;
  s.crash_point = 0;
  s.on_crash_point = nullptr;
  ++s.generation;
  // Each surviving inode once, in path order, so coin flips are
  // deterministic.
  std::set<uint64_t> done;
  for (auto& [path, inode] : s.durable_files) {
    if (!done.insert(inode->id).second) continue;
    s.settle_pending(*inode);
    inode->current = inode->durable;
  }
  s.files = s.durable_files;
}

void SimDisk::set_faults(const DiskFaults& faults) {
  KEEL_ASSERT(faults.sync_latency_min <= faults.sync_latency_max);
  impl_->state->faults = faults;
}

const DiskFaults& SimDisk::faults() const { return impl_->state->faults; }

namespace {

// Flips one bit of the durable image and rebuilds the volatile view, so the
// next read sees the flip unless an unsynced write covers that byte.
void flip_in(Inode& inode, uint64_t offset, int bit) {
  inode.durable[offset] = static_cast<char>(inode.durable[offset] ^ (1 << bit));
  Bytes current = inode.durable;
  for (const PendingOp& op : inode.pending) apply_op(current, op);
  inode.current = std::move(current);
}

}  // namespace

bool SimDisk::flip_random_bit(const std::string& path_prefix) {
  SimDiskState& s = *impl_->state;
  std::vector<Inode*> candidates;
  std::set<uint64_t> seen;
  for (auto& [path, inode] : s.files) {
    if (path.compare(0, path_prefix.size(), path_prefix) != 0) continue;
    if (inode->durable.empty() || !seen.insert(inode->id).second) continue;
    candidates.push_back(inode.get());
  }
  if (candidates.empty()) return false;
  Inode& victim = *candidates[s.random.uniform(0, candidates.size() - 1)];
  flip_in(victim, s.random.uniform(0, victim.durable.size() - 1), static_cast<int>(s.random.uniform(0, 7)));
  ++s.stats.bit_flips;
  return true;
}

bool SimDisk::flip_bit(const std::string& raw, uint64_t offset, int bit) {
  KEEL_ASSERT(bit >= 0);
  KEEL_ASSERT(bit < 8);
  SimDiskState& s = *impl_->state;
  auto path = normalize(raw);
  if (!path.is_ok()) return false;
  auto it = s.files.find(*path);
  if (it == s.files.end() || offset >= it->second->durable.size()) return false;
  flip_in(*it->second, offset, bit);
  ++s.stats.bit_flips;
  return true;
}

const DiskStats& SimDisk::stats() const { return impl_->state->stats; }

uint64_t SimDisk::used_bytes() const { return impl_->state->used_bytes(); }

}  // namespace keel::sim
