#include "storage/log.h"

#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "sim/disk/sim_disk.h"
#include "tests/simdisk/manual_clock.h"

using keel::core::Bytes;
using keel::core::Code;
using keel::core::LogIndex;
using keel::core::OpenMode;
using keel::sim::DiskFaults;
using keel::sim::SimDisk;
using keel::storage::Log;
using keel::storage::LogOptions;
using keel::testing::FiberHarness;

namespace {

LogOptions small_segments() {
  LogOptions o;
  o.segment_bytes_max = 400;
  return o;
}

Bytes payload(uint64_t i, size_t len = 40) {
  Bytes b = "r" + std::to_string(i) + ":";
  while (b.size() < len) b += static_cast<char>('a' + (i + b.size()) % 26);
  b.resize(len);
  return b;
}

std::vector<Bytes> read_all(FiberHarness& h, Log& log) {
  auto r = h.run([&] { return log.read(log.first_index(), UINT64_MAX); });
  KEEL_ASSERT(r.is_ok());
  return *r;
}

std::unique_ptr<Log> open_log(FiberHarness& h, SimDisk& disk, LogOptions o = small_segments()) {
  auto r = h.run([&] { return Log::open(disk, "log", o); });
  INFO(r.status().to_string());
  REQUIRE(r.is_ok());
  return std::move(*r);
}

Bytes file_bytes(FiberHarness& h, SimDisk& disk, const std::string& path) {
  return h.run([&] {
    auto f = disk.open(path, OpenMode::kReadOnly);
    KEEL_ASSERT(f.is_ok());
    return *(*f)->read_at(0, *(*f)->size());
  });
}

}  // namespace

TEST_CASE("log: appends are read back across segments and after reopen", "[storage][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(1));
  auto log = open_log(h, disk);
  REQUIRE(log->first_index() == LogIndex(1));
  REQUIRE(log->last_index() == LogIndex(0));
  std::vector<Bytes> batch;
  for (uint64_t i = 1; i <= 30; ++i) batch.push_back(payload(i, i % 7 == 0 ? 0 : 40));
  REQUIRE(*h.run([&] { return log->append(batch); }) == LogIndex(1));
  REQUIRE(log->last_index() == LogIndex(30));
  REQUIRE(log->synced_index() < LogIndex(30));
  REQUIRE(log->segment_count() > 3);
  REQUIRE(read_all(h, *log) == batch);
  REQUIRE(h.run([&] { return log->sync(); }).is_ok());
  REQUIRE(log->synced_index() == LogIndex(30));

  // max_bytes bounds a read, but one record always comes back.
  auto part = h.run([&] { return log->read(LogIndex(8), 100); });
  REQUIRE(part->size() == 2);
  REQUIRE((*part)[0] == batch[7]);
  REQUIRE(h.run([&] { return log->read(LogIndex(5), 0); })->size() == 1);
  REQUIRE(h.run([&] { return log->read(LogIndex(31), 100); })->empty());
  REQUIRE(h.run([&] { return log->read(LogIndex(32), 100); }).status().code() == Code::kNotFound);
  REQUIRE(h.run([&] { return log->read(LogIndex(0), 100); }).status().code() == Code::kNotFound);

  log.reset();
  disk.crash();
  log = open_log(h, disk);
  REQUIRE(log->last_index() == LogIndex(30));
  REQUIRE(read_all(h, *log) == batch);
  REQUIRE(*h.run([&] { return log->append(std::vector<Bytes>{"next"}); }) == LogIndex(31));
}

TEST_CASE("log: truncate_suffix removes a divergent suffix durably", "[storage][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(2));
  DiskFaults keep_nothing;
  keep_nothing.crash_keep_probability = 0;
  keep_nothing.crash_tear_probability = 0;
  disk.set_faults(keep_nothing);
  auto log = open_log(h, disk);
  std::vector<Bytes> batch;
  for (uint64_t i = 1; i <= 20; ++i) batch.push_back(payload(i));
  REQUIRE(h.run([&] { return log->append(batch); }).is_ok());
  REQUIRE(h.run([&] { return log->sync(); }).is_ok());
  REQUIRE(h.run([&] { return log->truncate_suffix(LogIndex(8)); }).is_ok());
  REQUIRE(log->last_index() == LogIndex(7));
  REQUIRE(*h.run([&] { return log->append(std::vector<Bytes>{"new8", "new9"}); }) == LogIndex(8));
  // The new records are unsynced and this crash drops them; the old
  // suffix must not come back either.
  log.reset();
  disk.crash();
  log = open_log(h, disk);
  REQUIRE(log->last_index() == LogIndex(7));
  REQUIRE(read_all(h, *log) == std::vector<Bytes>(batch.begin(), batch.begin() + 7));
  REQUIRE(h.run([&] { return log->truncate_suffix(LogIndex(1)); }).is_ok());
  REQUIRE(log->last_index() == LogIndex(0));
  REQUIRE(log->segment_count() == 1);
}

TEST_CASE("log: truncate_prefix compacts whole segments and resets past the end", "[storage][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(3));
  auto log = open_log(h, disk);
  std::vector<Bytes> batch;
  for (uint64_t i = 1; i <= 30; ++i) batch.push_back(payload(i));
  REQUIRE(h.run([&] { return log->append(batch); }).is_ok());
  REQUIRE(h.run([&] { return log->sync(); }).is_ok());
  const size_t segments = log->segment_count();
  REQUIRE(h.run([&] { return log->truncate_prefix(LogIndex(17)); }).is_ok());
  REQUIRE(log->first_index() == LogIndex(17));
  REQUIRE(log->segment_count() < segments);
  REQUIRE(read_all(h, *log) == std::vector<Bytes>(batch.begin() + 16, batch.end()));
  REQUIRE(h.run([&] { return log->read(LogIndex(16), 10); }).status().code() == Code::kNotFound);
  log.reset();
  disk.crash();
  log = open_log(h, disk);
  REQUIRE(log->first_index() <= LogIndex(17));
  REQUIRE(log->last_index() == LogIndex(30));

  REQUIRE(h.run([&] { return log->truncate_prefix(LogIndex(100)); }).is_ok());
  REQUIRE(log->first_index() == LogIndex(100));
  REQUIRE(log->last_index() == LogIndex(99));
  REQUIRE(*h.run([&] { return log->append(std::vector<Bytes>{"a", "b"}); }) == LogIndex(100));
  REQUIRE(h.run([&] { return log->sync(); }).is_ok());
  log.reset();
  disk.crash();
  log = open_log(h, disk);
  REQUIRE(log->first_index() == LogIndex(100));
  REQUIRE(read_all(h, *log) == std::vector<Bytes>{"a", "b"});
  REQUIRE(log->segment_count() == 1);
}

TEST_CASE("log: a bit flip before the tail is Corruption naming file and offset", "[storage][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(4));
  auto log = open_log(h, disk);
  std::vector<Bytes> batch;
  for (uint64_t i = 1; i <= 30; ++i) batch.push_back(payload(i));
  REQUIRE(h.run([&] { return log->append(batch); }).is_ok());
  REQUIRE(h.run([&] { return log->sync(); }).is_ok());
  // Small records, each synced before the next, so that the last segment
  // holds several records and each proves its predecessors synced.
  for (int i = 0; i < 6; ++i) {
    REQUIRE(h.run([&] { return log->append(std::vector<Bytes>{"later"}); }).is_ok());
    REQUIRE(h.run([&] { return log->sync(); }).is_ok());
  }
  const std::vector<std::string> names = *disk.list("log");
  REQUIRE(names.size() >= 3);
  REQUIRE(file_bytes(h, disk, "log/" + names.back()).size() > 32 + 2 * 37);

  SECTION("in a completed segment") {
    // First record of the first segment starts after the 32-byte header.
    REQUIRE(disk.flip_bit("log/" + names[0], 32 + 40, 3));
    // Reads verify checksums too.
    auto r = h.run([&] { return log->read(LogIndex(1), UINT64_MAX); });
    REQUIRE(r.status().code() == Code::kCorruption);
    log.reset();
    auto reopened = h.run([&] { return Log::open(disk, "log", small_segments()); });
    REQUIRE(reopened.status().code() == Code::kCorruption);
    REQUIRE_THAT(reopened.status().message(), Catch::Contains(names[0]) && Catch::Contains("offset 32"));
  }
  SECTION("in the last segment, before a record that proves it was synced") {
    const std::string last = "log/" + names.back();
    const Bytes before = file_bytes(h, disk, last);
    REQUIRE(disk.flip_bit(last, 40, 1));
    log.reset();
    auto reopened = h.run([&] { return Log::open(disk, "log", small_segments()); });
    REQUIRE(reopened.status().code() == Code::kCorruption);
    REQUIRE_THAT(reopened.status().message(), Catch::Contains(names.back()) && Catch::Contains("offset 32"));
    // Nothing was truncated.
    REQUIRE(file_bytes(h, disk, last).size() == before.size());
  }
  SECTION("in the final record: a torn tail, truncated") {
    const std::string last = "log/" + names.back();
    const uint64_t size = file_bytes(h, disk, last).size();
    REQUIRE(disk.flip_bit(last, size - 1, 0));
    log.reset();
    log = open_log(h, disk);
    REQUIRE(log->last_index() == LogIndex(35));
    REQUIRE(read_all(h, *log).at(29) == batch.back());
  }
}

TEST_CASE("log: foreign versions and truncated headers and stray files are refused intact", "[storage][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(5));
  {
    auto log = open_log(h, disk);
    REQUIRE(h.run([&] { return log->append(std::vector<Bytes>{"one", "two"}); }).is_ok());
    REQUIRE(h.run([&] { return log->sync(); }).is_ok());
  }
  const std::string seg = "log/00000000000000000001.log";
  const Bytes original = file_bytes(h, disk, seg);
  auto reopen_status = [&] { return h.run([&] { return Log::open(disk, "log", small_segments()); }).status(); };
  auto rewrite = [&](const std::string& path, const Bytes& bytes) {
    h.run([&] {
      auto f = disk.open(path, OpenMode::kCreate);
      KEEL_ASSERT((*f)->truncate(0).is_ok());
      KEEL_ASSERT((*f)->append(bytes).is_ok());
      KEEL_ASSERT((*f)->sync().is_ok());
    });
  };

  SECTION("another format version") {
    // Version 2 with a valid header checksum: a file from a newer build.
    Bytes header = original.substr(0, 8);
    keel::core::put_u32(header, 2);
    header += original.substr(12, 12);
    keel::core::put_u64(header, keel::core::checksum64(header, 0x6b65656c2d686472ull));
    rewrite(seg, header + original.substr(32));
    const auto s = reopen_status();
    REQUIRE(s.code() == Code::kFailedPrecondition);
    REQUIRE_THAT(s.message(), Catch::Contains("version 2"));
    REQUIRE(file_bytes(h, disk, seg).size() == original.size());
  }
  SECTION("a truncated header") {
    rewrite(seg, original.substr(0, 20));
    const auto s = reopen_status();
    REQUIRE(s.code() == Code::kCorruption);
    REQUIRE_THAT(s.message(), Catch::Contains("truncated segment header"));
    REQUIRE(file_bytes(h, disk, seg).size() == 20);
  }
  SECTION("a garbage file") {
    rewrite("log/notes.txt", "hello");
    const auto s = reopen_status();
    REQUIRE(s.code() == Code::kFailedPrecondition);
    REQUIRE_THAT(s.message(), Catch::Contains("notes.txt"));
    REQUIRE(file_bytes(h, disk, seg) == original);
    REQUIRE(file_bytes(h, disk, "log/notes.txt") == "hello");
  }
  SECTION("garbage with a segment's name") {
    rewrite("log/00000000000000000009.log", Bytes(100, 'x'));
    REQUIRE(reopen_status().code() == Code::kCorruption);
    REQUIRE(file_bytes(h, disk, seg) == original);
  }
}

namespace {

// What the log must hold: every record ever appended at an index still in
// the log (compacted ones too, which may reappear after a crash).
struct LogModel {
  std::map<uint64_t, Bytes> records;
  uint64_t first = 1;
  uint64_t last = 0;
  uint64_t synced = 0;
  // Set by a reset (truncate_prefix past the end): no record below it may
  // ever come back.
  uint64_t floor = 1;
};

// Whether the recovered log (first index, records) is allowed by `m`.
bool allowed(const LogModel& m, uint64_t first, const std::vector<Bytes>& got) {
  const uint64_t last = first + got.size() - 1;
  if (first > m.first || first < m.floor) return false;
  if (last < m.synced || last > m.last) return false;
  for (uint64_t i = first; i <= last; ++i) {
    auto it = m.records.find(i);
    if (it == m.records.end() || it->second != got[i - first]) return false;
  }
  return true;
}

}  // namespace

TEST_CASE("log: recovery after any crash yields the synced prefix plus whole later records", "[storage][prop]") {
  rc::prop("log crash recovery", [] {
    const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
    const double keep = *rc::gen::element(0.0, 0.5, 1.0);
    const double tear = *rc::gen::element(0.0, 0.5, 1.0);
    const uint64_t sector = *rc::gen::element<uint64_t>(0, 64, 512);
    // (kind, amount, size)
    const auto ops = *rc::gen::container<std::vector<std::tuple<int, int, int>>>(
        rc::gen::tuple(rc::gen::inRange(0, 10), rc::gen::inRange(0, 8), rc::gen::inRange(0, 120)));
    const size_t crash_after_fires = *rc::gen::inRange<size_t>(0, 200);

    FiberHarness h;
    SimDisk disk(h.clock(), keel::core::Random(seed));
    DiskFaults faults;
    faults.crash_keep_probability = keep;
    faults.crash_tear_probability = std::min(tear, 1.0 - keep);
    faults.tear_sector_bytes = sector;
    disk.set_faults(faults);

    LogModel model;
    // The models the crash may land between: before and after the op that
    // was interrupted (equal when the crash falls between ops).
    LogModel before = model;
    uint64_t unique = 0;
    std::unique_ptr<Log> log;
    bool failed = false;
    const bool finished = h.run_until_crash(
        [&] {
          auto opened = Log::open(disk, "log", small_segments());
          if (!opened.is_ok()) {
            failed = true;
            return;
          }
          log = std::move(*opened);
          for (const auto& [kind, amount, size] : ops) {
            before = model;
            if (kind < 5) {
              std::vector<Bytes> batch;
              for (int i = 0; i <= amount; ++i) batch.push_back(payload(++unique, static_cast<size_t>(size)));
              // Record the intent first: a crash inside append leaves
              // `model` as the "after" state.
              for (size_t i = 0; i < batch.size(); ++i) model.records[model.last + 1 + i] = batch[i];
              model.last += batch.size();
              if (!log->append(batch).is_ok()) failed = true;
            } else if (kind < 8) {
              model.synced = model.last;
              if (!log->sync().is_ok()) failed = true;
            } else if (kind == 8) {
              const uint64_t from = model.first + static_cast<uint64_t>(amount) % (model.last - model.first + 2);
              for (uint64_t i = from; i <= model.last; ++i) model.records.erase(i);
              model.last = from - 1;
              model.synced = std::min(model.synced, model.last);
              if (!log->truncate_suffix(LogIndex(from)).is_ok()) failed = true;
            } else {
              const uint64_t to = model.first + static_cast<uint64_t>(amount) % (model.last - model.first + 4);
              if (to > model.last + 1) {
                model.records.clear();
                model.last = to - 1;
                model.synced = to - 1;
                model.floor = to;
              }
              model.first = std::max(model.first, to);
              if (!log->truncate_prefix(LogIndex(to)).is_ok()) failed = true;
            }
            if (failed) return;
            KEEL_ASSERT(log->last_index() == LogIndex(model.last));
            KEEL_ASSERT(log->first_index() == LogIndex(model.first));
          }
          before = model;
        },
        crash_after_fires);
    RC_ASSERT(!failed);
    RC_TAG(finished ? "crash after the last op" : "crash inside an op");
    log.reset();
    disk.crash();

    auto reopened = h.run([&] { return Log::open(disk, "log", small_segments()); });
    if (!reopened.is_ok()) RC_FAIL(reopened.status().to_string());
    Log& recovered = **reopened;
    auto got = h.run([&] { return recovered.read(recovered.first_index(), UINT64_MAX); });
    RC_ASSERT(got.is_ok());
    const uint64_t first = recovered.first_index().value();
    RC_ASSERT(recovered.last_index().value() == first + got->size() - 1);
    // A crash inside a truncation may leave part of the old records, even
    // below what was synced before it.
    LogModel relaxed = before;
    relaxed.synced = std::min(before.synced, model.synced);
    RC_ASSERT(allowed(model, first, *got) || allowed(relaxed, first, *got));
    // The recovered log takes appends again.
    const LogIndex next = recovered.last_index().next();
    RC_ASSERT(*h.run([&] { return recovered.append(std::vector<Bytes>{"after"}); }) == next);
    RC_ASSERT(h.run([&] { return recovered.read(next, 1); })->at(0) == "after");
  });
}

TEST_CASE("log: a random bit flip is never returned as data", "[storage][prop]") {
  rc::prop("bit flips are detected", [] {
    const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
    const auto batches = *rc::gen::nonEmpty(rc::gen::container<std::vector<std::pair<int, int>>>(
        rc::gen::pair(rc::gen::inRange(1, 6), rc::gen::inRange(0, 90))));
    FiberHarness h;
    SimDisk disk(h.clock(), keel::core::Random(seed));
    std::vector<Bytes> written;
    // Every batch is synced, and each later record witnesses the earlier.
    h.run([&] {
      auto log = Log::open(disk, "log", small_segments());
      KEEL_ASSERT(log.is_ok());
      for (const auto& [count, size] : batches) {
        std::vector<Bytes> batch;
        for (int i = 0; i < count; ++i) {
          batch.push_back(payload(written.size() + 1, static_cast<size_t>(size)));
          written.push_back(batch.back());
        }
        KEEL_ASSERT((*log)->append(batch).is_ok());
        KEEL_ASSERT((*log)->sync().is_ok());
      }
    });
    RC_ASSERT(disk.flip_random_bit("log/"));
    auto reopened = h.run([&] { return Log::open(disk, "log", small_segments()); });
    if (!reopened.is_ok()) {
      const Code code = reopened.status().code();
      RC_ASSERT(code == Code::kCorruption || code == Code::kFailedPrecondition);
      RC_TAG("refused at open");
      return;
    }
    auto got = h.run([&] { return (*reopened)->read((*reopened)->first_index(), UINT64_MAX); });
    if (!got.is_ok()) {
      RC_ASSERT(got.status().code() == Code::kCorruption);
      RC_TAG("refused at read");
      return;
    }
    // Otherwise the flip hit the unwitnessed tail, which was cut: what
    // remains is an exact prefix, short of at most the last batch.
    RC_ASSERT((*reopened)->first_index() == LogIndex(1));
    RC_ASSERT(got->size() < written.size());
    RC_ASSERT(got->size() + static_cast<size_t>(batches.back().first) >= written.size());
    RC_ASSERT(std::equal(got->begin(), got->end(), written.begin()));
    RC_TAG("tail truncated");
  });
}

TEST_CASE("log: records a failed sync left only in the cache are made durable by reopening", "[storage][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(11));
  {
    auto log = open_log(h, disk);
    h.run([&] {
      KEEL_ASSERT(log->append(std::vector<Bytes>{payload(1), payload(2)}).is_ok());
      KEEL_ASSERT(log->sync().is_ok());
      KEEL_ASSERT(log->append(std::vector<Bytes>{payload(3)}).is_ok());
    });
    // The sync fails and the device drops record 3, while the cache still
    // shows it (as Linux does after a failed fsync).
    DiskFaults failing;
    failing.sync_error_probability = 1.0;
    failing.crash_keep_probability = 0;
    failing.crash_tear_probability = 0;
    disk.set_faults(failing);
    REQUIRE(h.run([&] { return log->sync(); }).code() == Code::kIoError);
    disk.set_faults(DiskFaults());
  }
  // The process restarts (the cache survives): recovery reads record 3 and
  // must make it durable before counting it synced.
  {
    auto log = open_log(h, disk);
    REQUIRE(log->last_index() == LogIndex(3));
    REQUIRE(log->synced_index() == LogIndex(3));
  }
  DiskFaults power_loss;
  power_loss.crash_keep_probability = 0;
  power_loss.crash_tear_probability = 0;
  disk.set_faults(power_loss);
  disk.crash();
  auto log = open_log(h, disk);
  REQUIRE(log->last_index() == LogIndex(3));
  REQUIRE(read_all(h, *log) == std::vector<Bytes>{payload(1), payload(2), payload(3)});
}
