// storage_bench: the storage layer on the real disk.
//
//   storage_bench [--dir D] [--reps N] [--batches B] [--batch-records R]
//
// Log append throughput with group commit (R records appended, then one
// sync, B times) through storage::Log on PosixDisk, for 100-byte and 4 KiB
// records, side by side with the physical baseline: a plain loop that
// write()s the same payload bytes in the same batches to one file and calls
// fdatasync() once per batch. The two alternate batch by batch within each
// repetition so that they see the same disk weather; medians of N
// repetitions and the per-repetition throughput ratio are printed. Then RocksKvEngine put and get operations per second
// (WAL off, as in production).
//
// Files are created under a fresh directory inside D (default /tmp) and
// removed at the end.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "core/random.h"
#include "core/scheduler.h"
#include "net/posix/event_loop.h"
#include "net/posix/posix_disk.h"
#include "storage/log.h"
#include "storage/rocksdb/rocks_kv_engine.h"

namespace {

using Clock = std::chrono::steady_clock;
using keel::core::Bytes;
using keel::core::ByteView;

double median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

[[noreturn]] void die(const std::string& what) {
  std::fprintf(stderr, "storage_bench: %s\n", what.c_str());
  std::exit(1);
}

struct Options {
  std::string dir = "/tmp";
  int reps = 5;
  int batches = 300;
  int batch_records = 32;
};

std::vector<Bytes> make_batch(size_t record_bytes, int records) {
  std::vector<Bytes> batch;
  for (int i = 0; i < records; ++i) batch.emplace_back(record_bytes, static_cast<char>('a' + i % 26));
  return batch;
}

struct Timings {
  double log_seconds = 0;
  double baseline_seconds = 0;
};

// One repetition: `batches` rounds, each timing one append(batch) + sync()
// through the log and then the same payload bytes written with write() +
// fdatasync() to a plain file. Interleaving batch by batch gives both the
// same disk conditions on a shared machine.
Timings interleaved_run(const std::string& root, const std::vector<Bytes>& batch, int batches) {
  keel::core::Scheduler fibers;
  keel::posix::EventLoop loop(fibers);
  auto disk = keel::posix::PosixDisk::open(loop, root);
  if (!disk.is_ok()) die(disk.status().to_string());
  std::vector<ByteView> views(batch.begin(), batch.end());
  Bytes joined;
  for (const Bytes& r : batch) joined += r;
  const std::string baseline_path = root + "/baseline.dat";
  const int fd = ::open(baseline_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd < 0) die("open " + baseline_path + ": " + std::strerror(errno));
  if (::fsync(fd) != 0) die("fsync");
  Timings t;
  bool done = false;
  std::string error;
  fibers.spawn(keel::core::ProcessId(0), "bench", [&] {
    auto log = keel::storage::Log::open(**disk, "log");
    if (!log.is_ok()) {
      error = log.status().to_string();
      done = true;
      return;
    }
    for (int b = 0; b < batches && error.empty(); ++b) {
      auto start = Clock::now();
      auto r = (*log)->append(views);
      if (!r.is_ok()) error = r.status().to_string();
      const keel::core::Status s = (*log)->sync();
      if (!s.is_ok()) error = s.to_string();
      t.log_seconds += seconds_since(start);
      // The baseline blocks the loop's thread, which is fine here: nothing
      // else runs.
      start = Clock::now();
      if (::write(fd, joined.data(), joined.size()) != static_cast<ssize_t>(joined.size())) die("write");
      if (::fdatasync(fd) != 0) die("fdatasync");
      t.baseline_seconds += seconds_since(start);
    }
    done = true;
  });
  loop.run_until([&] { return done; });
  ::close(fd);
  if (!error.empty()) die(error);
  return t;
}

void bench_log(const Options& o, const std::string& work, size_t record_bytes) {
  const std::vector<Bytes> batch = make_batch(record_bytes, o.batch_records);
  std::vector<double> log_s;
  std::vector<double> base_s;
  std::vector<double> ratios;
  for (int rep = 0; rep < o.reps; ++rep) {
    const std::string root = work + "/log-" + std::to_string(record_bytes) + "-" + std::to_string(rep);
    const Timings t = interleaved_run(root, batch, o.batches);
    log_s.push_back(t.log_seconds);
    base_s.push_back(t.baseline_seconds);
    ratios.push_back(t.baseline_seconds / t.log_seconds);
    std::filesystem::remove_all(root);
  }
  const double records = static_cast<double>(o.batches) * o.batch_records;
  const double mb = records * static_cast<double>(record_bytes) / 1e6;
  const double lm = median(log_s);
  const double bm = median(base_s);
  std::printf("log append %zu B records, %d per sync, %d syncs per rep, median of %d reps:\n", record_bytes,
              o.batch_records, o.batches, o.reps);
  std::printf("  keel log (PosixDisk)    : %9.0f records/s %8.2f MB/s %7.0f syncs/s\n", records / lm, mb / lm,
              o.batches / lm);
  std::printf("  write()+fdatasync() loop: %9.0f records/s %8.2f MB/s %7.0f syncs/s\n", records / bm, mb / bm,
              o.batches / bm);
  std::printf("  throughput ratio keel/baseline: median %.2f (min %.2f, max %.2f)\n", median(ratios),
              *std::min_element(ratios.begin(), ratios.end()), *std::max_element(ratios.begin(), ratios.end()));
}

void bench_rocks(const Options& o, const std::string& work) {
  constexpr int kKeys = 200000;
  const Bytes value(100, 'v');
  auto key_of = [](uint64_t i) {
    char buf[32];
    std::snprintf(buf, sizeof(buf), "key%013llu", static_cast<unsigned long long>(i));
    return Bytes(buf);
  };
  std::vector<double> put_s;
  std::vector<double> get_s;
  for (int rep = 0; rep < o.reps; ++rep) {
    const std::string path = work + "/rocks-" + std::to_string(rep);
    auto engine = keel::storage::RocksKvEngine::open(path);
    if (!engine.is_ok()) die(engine.status().to_string());
    keel::core::Random random(42 + static_cast<uint64_t>(rep));
    auto t = Clock::now();
    for (int i = 0; i < kKeys; ++i) {
      if (!(*engine)->put(key_of(random.uniform(0, kKeys - 1)), value).is_ok()) die("put");
    }
    put_s.push_back(seconds_since(t));
    if (!(*engine)->persist().is_ok()) die("persist");
    t = Clock::now();
    for (int i = 0; i < kKeys; ++i) {
      if (!(*engine)->get(key_of(random.uniform(0, kKeys - 1))).is_ok()) die("get");
    }
    get_s.push_back(seconds_since(t));
    if (!(*engine)->close().is_ok()) die("close");
    engine->reset();
    std::filesystem::remove_all(path);
  }
  std::printf("rocks_kv_engine, %d random keys, 100 B values, median of %d:\n", kKeys, o.reps);
  std::printf("  put: %10.0f ops/s\n", kKeys / median(put_s));
  std::printf("  get: %10.0f ops/s\n", kKeys / median(get_s));
}

}  // namespace

int main(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto next = [&]() -> std::string {
      if (i + 1 >= argc) die("missing value after " + a);
      return argv[++i];
    };
    if (a == "--dir") {
      o.dir = next();
    } else if (a == "--reps") {
      o.reps = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--batches") {
      o.batches = std::max(1, std::atoi(next().c_str()));
    } else if (a == "--batch-records") {
      o.batch_records = std::max(1, std::atoi(next().c_str()));
    } else {
      die("usage: storage_bench [--dir D] [--reps N] [--batches B] [--batch-records R]");
    }
  }
  std::string work = o.dir + "/keel-storage-bench-XXXXXX";
  if (::mkdtemp(work.data()) == nullptr) die("mkdtemp under " + o.dir + ": " + std::strerror(errno));
  bench_log(o, work, 100);
  bench_log(o, work, 4096);
  bench_rocks(o, work);
  std::filesystem::remove_all(work);
  return 0;
}
