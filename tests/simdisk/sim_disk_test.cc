#include "sim/disk/sim_disk.h"

#include <catch2/catch.hpp>
#include <rapidcheck.h>
#include <rapidcheck/catch.h>

#include <map>
#include <set>
#include <string>
#include <tuple>
#include <vector>

#include "tests/simdisk/manual_clock.h"

using keel::core::Bytes;
using keel::core::Code;
using keel::core::OpenMode;
using keel::sim::DiskFaults;
using keel::sim::SimDisk;
using keel::testing::FiberHarness;

namespace {

DiskFaults crash_faults(double keep, double tear, uint64_t sector = 0) {
  DiskFaults f;
  f.crash_keep_probability = keep;
  f.crash_tear_probability = tear;
  f.tear_sector_bytes = sector;
  return f;
}

// Reads a whole file, or returns "<code>" on error.
std::string slurp(SimDisk& disk, const std::string& path) {
  auto f = disk.open(path, OpenMode::kReadOnly);
  if (!f.is_ok()) return "<" + std::string(keel::core::code_name(f.status().code())) + ">";
  auto size = (*f)->size();
  auto data = (*f)->read_at(0, *size);
  return *data;
}

}  // namespace

TEST_CASE("simdisk: reads see writes and sync charges latency", "[simdisk][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(1));
  REQUIRE(h.run([&] { return disk.make_dirs("a/b"); }).is_ok());
  auto file = h.run([&] { return disk.open("a/b/f", OpenMode::kCreate); });
  REQUIRE(file.is_ok());
  REQUIRE(h.run([&] { return (*file)->append("hello"); }).is_ok());
  REQUIRE(h.run([&] { return (*file)->write_at(8, "xy"); }).is_ok());
  REQUIRE(*(*file)->size() == 10);
  REQUIRE(*h.run([&] { return (*file)->read_at(3, 100); }) == Bytes("lo\0\0\0xy", 7));
  const auto before = h.clock().now();
  REQUIRE(h.run([&] { return (*file)->sync(); }).is_ok());
  REQUIRE(h.clock().now() - before >= disk.faults().sync_latency_min);
  REQUIRE(*disk.list("a") == std::vector<std::string>{"b"});
  REQUIRE(*disk.list("a/b") == std::vector<std::string>{"f"});
  REQUIRE(disk.open("a/b/f", OpenMode::kCreateNew).status().code() == Code::kAlreadyExists);
  REQUIRE(disk.open("a/b/g", OpenMode::kReadWrite).status().code() == Code::kNotFound);
  REQUIRE(disk.open("zz/g", OpenMode::kCreate).status().code() == Code::kNotFound);
  REQUIRE(disk.stats().syncs == 1);
}

TEST_CASE("simdisk: a create survives a crash only after sync_dir", "[simdisk][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(2));
  disk.set_faults(crash_faults(1.0, 0.0));
  h.run([&] {
    auto f = disk.open("x", OpenMode::kCreate);
    KEEL_ASSERT((*f)->append("data").is_ok());
    KEEL_ASSERT((*f)->sync().is_ok());
  });
  disk.crash();
  REQUIRE_FALSE(*disk.exists("x"));

  h.run([&] {
    auto f = disk.open("x", OpenMode::kCreate);
    KEEL_ASSERT((*f)->append("data").is_ok());
    KEEL_ASSERT(disk.sync_dir("").is_ok());
  });
  // Keep-everything crash: the unsynced write survives as well.
  disk.crash();
  REQUIRE(slurp(disk, "x") == "data");
}

TEST_CASE("simdisk: unsynced writes are dropped or torn and synced ones stay", "[simdisk][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(3));
  auto f = h.run([&] { return disk.open("f", OpenMode::kCreate); });
  h.run([&] {
    KEEL_ASSERT(disk.sync_dir("").is_ok());
    KEEL_ASSERT((*f)->append("durable").is_ok());
    KEEL_ASSERT((*f)->sync().is_ok());
    KEEL_ASSERT((*f)->append("volatile").is_ok());
  });
  disk.set_faults(crash_faults(0.0, 0.0));
  disk.crash();
  REQUIRE(slurp(disk, "f") == "durable");
  REQUIRE(disk.stats().dropped_writes == 1);
  // The old handle is stale.
  REQUIRE(h.run([&] { return (*f)->append("z"); }).code() == Code::kIoError);

  // Torn at sector granularity: only whole 512-byte sectors survive.
  auto g = h.run([&] { return disk.open("f", OpenMode::kReadWrite); });
  h.run([&] { KEEL_ASSERT((*g)->write_at(0, Bytes(2000, 'q')).is_ok()); });
  disk.set_faults(crash_faults(0.0, 1.0, 512));
  disk.crash();
  const std::string after = slurp(disk, "f");
  REQUIRE(disk.stats().torn_writes == 1);
  const size_t q = after.find_first_not_of('q');
  const size_t torn_prefix = q == std::string::npos ? after.size() : q;
  REQUIRE(torn_prefix % 512 == 0);
  if (torn_prefix == 0) REQUIRE(after == "durable");
}

TEST_CASE("simdisk: rename and remove need sync_dir to be durable", "[simdisk][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(4));
  disk.set_faults(crash_faults(1.0, 0.0));
  h.run([&] {
    KEEL_ASSERT(disk.make_dirs("d").is_ok());
    auto f = disk.open("d/a", OpenMode::kCreate);
    KEEL_ASSERT((*f)->append("A").is_ok());
    KEEL_ASSERT((*f)->sync().is_ok());
    KEEL_ASSERT(disk.sync_dir("d").is_ok());
    KEEL_ASSERT(disk.rename("d/a", "d/b").is_ok());
  });
  REQUIRE(*disk.list("d") == std::vector<std::string>{"b"});
  disk.crash();
  REQUIRE(*disk.list("d") == std::vector<std::string>{"a"});
  h.run([&] {
    KEEL_ASSERT(disk.rename("d/a", "d/b").is_ok());
    KEEL_ASSERT(disk.sync_dir("d").is_ok());
    KEEL_ASSERT(disk.remove("d/b").is_ok());
  });
  disk.crash();
  REQUIRE(slurp(disk, "d/b") == "A");
  REQUIRE(disk.remove("d").code() == Code::kIoError);
}

TEST_CASE("simdisk: injected faults give the documented errors", "[simdisk][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(5));
  auto f = h.run([&] { return disk.open("f", OpenMode::kCreate); });
  REQUIRE(h.run([&] { return (*f)->append("abc"); }).is_ok());

  DiskFaults faults;
  faults.read_error_probability = 1.0;
  disk.set_faults(faults);
  REQUIRE(h.run([&] { return (*f)->read_at(0, 3); }).status().code() == Code::kIoError);

  faults = DiskFaults();
  faults.write_error_probability = 1.0;
  disk.set_faults(faults);
  REQUIRE(h.run([&] { return (*f)->append("d"); }).code() == Code::kIoError);
  REQUIRE(h.run([&] { return (*f)->truncate(0); }).code() == Code::kIoError);
  REQUIRE(*(*f)->size() == 3);

  faults = DiskFaults();
  faults.sync_error_probability = 1.0;
  faults.crash_keep_probability = 0;
  faults.crash_tear_probability = 0;
  disk.set_faults(faults);
  REQUIRE(h.run([&] { return (*f)->sync(); }).code() == Code::kIoError);
  REQUIRE(h.run([&] { return disk.sync_dir(""); }).code() == Code::kIoError);

  faults = DiskFaults();
  faults.capacity_bytes = 10;
  disk.set_faults(faults);
  REQUIRE(h.run([&] { return (*f)->append("1234567"); }).is_ok());
  REQUIRE(h.run([&] { return (*f)->append("x"); }).code() == Code::kNoSpace);
  REQUIRE(h.run([&] { return (*f)->write_at(0, "overwrite"); }).is_ok());
  REQUIRE(disk.used_bytes() == 10);

  faults = DiskFaults();
  faults.slow_io_probability = 1.0;
  disk.set_faults(faults);
  const auto before = h.clock().now();
  REQUIRE(h.run([&] { return (*f)->sync(); }).is_ok());
  REQUIRE(h.clock().now() - before == faults.slow_io_latency);
  REQUIRE(disk.stats().injected_errors == 5);
}

TEST_CASE("simdisk: flip_random_bit changes exactly one stored bit", "[simdisk][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(6));
  REQUIRE_FALSE(disk.flip_random_bit());
  const Bytes original(300, '\x5a');
  h.run([&] {
    auto f = disk.open("seg", OpenMode::kCreate);
    KEEL_ASSERT((*f)->append(original).is_ok());
    KEEL_ASSERT((*f)->sync().is_ok());
  });
  REQUIRE_FALSE(disk.flip_random_bit("other"));
  REQUIRE(disk.flip_random_bit("se"));
  const std::string after = slurp(disk, "seg");
  REQUIRE(after.size() == original.size());
  int differing_bits = 0;
  for (size_t i = 0; i < after.size(); ++i) {
    differing_bits += __builtin_popcount(static_cast<unsigned char>(after[i] ^ original[i]));
  }
  REQUIRE(differing_bits == 1);
  REQUIRE(disk.flip_bit("seg", 7, 0));
  REQUIRE_FALSE(disk.flip_bit("seg", 300, 0));
  REQUIRE(disk.stats().bit_flips == 2);
}

namespace {

// The model of one file's contents for the crash property.
struct ModelInode {
  Bytes durable;
  Bytes current;
  struct Op {
    bool truncate;
    uint64_t offset;  // or new size
    Bytes data;
  };
  std::vector<Op> pending;
};

// Whether `got` is a contents the crash model allows for `m`: every byte is
// the durable byte, a byte of some unsynced write covering it, or a zero of
// a hole; without unsynced truncates nothing durable is lost.
bool allowed_after_crash(const ModelInode& m, const Bytes& got) {
  if (m.pending.empty()) return got == m.durable;
  uint64_t longest = m.durable.size();
  bool truncated = false;
  uint64_t smallest_truncate = UINT64_MAX;
  for (const auto& op : m.pending) {
    if (op.truncate) {
      truncated = true;
      smallest_truncate = std::min(smallest_truncate, op.offset);
      longest = std::max(longest, op.offset);
    } else {
      longest = std::max<uint64_t>(longest, op.offset + op.data.size());
    }
  }
  if (got.size() > longest) return false;
  if (!truncated && got.size() < m.durable.size()) return false;
  for (uint64_t p = 0; p < got.size(); ++p) {
    const char c = got[p];
    if (p < m.durable.size() && m.durable[p] == c) continue;
    if (c == '\0' && (p >= m.durable.size() || p >= smallest_truncate)) continue;
    bool from_write = false;
    for (const auto& op : m.pending) {
      if (!op.truncate && p >= op.offset && p < op.offset + op.data.size() && op.data[p - op.offset] == c) {
        from_write = true;
        break;
      }
    }
    if (!from_write) return false;
  }
  return true;
}

void model_apply(Bytes& image, const ModelInode::Op& op) {
  if (op.truncate) {
    image.resize(op.offset, '\0');
  } else {
    if (image.size() < op.offset + op.data.size()) image.resize(op.offset + op.data.size(), '\0');
    image.replace(op.offset, op.data.size(), op.data);
  }
}

}  // namespace

TEST_CASE("simdisk: after a crash every file is an outcome the model allows", "[simdisk][prop]") {
  rc::prop("crash outcomes", [] {
    const uint64_t seed = *rc::gen::arbitrary<uint64_t>();
    const double keep = *rc::gen::element(0.0, 0.3, 0.7, 1.0);
    const double tear = *rc::gen::element(0.0, 0.5, 1.0);
    const uint64_t sector = *rc::gen::element<uint64_t>(0, 16, 512);
    // (kind, file, offset, length, byte)
    const auto ops = *rc::gen::container<std::vector<std::tuple<int, int, int, int, int>>>(
        rc::gen::tuple(rc::gen::inRange(0, 8), rc::gen::inRange(0, 3), rc::gen::inRange(0, 1500),
                       rc::gen::inRange(0, 700), rc::gen::inRange(1, 255)));

    FiberHarness h;
    SimDisk disk(h.clock(), keel::core::Random(seed));
    disk.set_faults(crash_faults(keep, std::min(tear, 1.0 - keep), sector));
    std::vector<ModelInode> inodes;
    std::map<std::string, size_t> names;    // current namespace
    std::map<std::string, size_t> durable;  // namespace after a crash
    auto name = [](int i) { return "d/f" + std::to_string(i); };
    auto inode_of = [&](const std::string& n) -> ModelInode& {
      auto it = names.find(n);
      if (it == names.end()) {
        inodes.emplace_back();
        it = names.emplace(n, inodes.size() - 1).first;
      }
      return inodes[it->second];
    };

    h.run([&] { KEEL_ASSERT(disk.make_dirs("d").is_ok()); });
    for (const auto& [kind, file, offset, length, byte] : ops) {
      const std::string n = name(file);
      switch (kind) {
        case 0:
        case 1:
        case 2: {  // write_at / append
          ModelInode& m = inode_of(n);
          const uint64_t at = kind == 2 ? m.current.size() : static_cast<uint64_t>(offset);
          ModelInode::Op op{false, at, Bytes(static_cast<size_t>(length), static_cast<char>(byte))};
          const bool ok = h.run([&] {
            auto f = disk.open(n, OpenMode::kCreate);
            return kind == 2 ? (*f)->append(op.data).is_ok() : (*f)->write_at(at, op.data).is_ok();
          });
          RC_ASSERT(ok);
          model_apply(m.current, op);
          m.pending.push_back(std::move(op));
          break;
        }
        case 3: {  // truncate
          ModelInode& m = inode_of(n);
          ModelInode::Op op{true, static_cast<uint64_t>(offset / 2), Bytes()};
          RC_ASSERT(h.run([&] { return (*disk.open(n, OpenMode::kCreate))->truncate(op.offset).is_ok(); }));
          model_apply(m.current, op);
          m.pending.push_back(std::move(op));
          break;
        }
        case 4: {  // sync
          ModelInode& m = inode_of(n);
          RC_ASSERT(h.run([&] { return (*disk.open(n, OpenMode::kCreate))->sync().is_ok(); }));
          m.durable = m.current;
          m.pending.clear();
          break;
        }
        case 5: {  // rename
          const std::string to = name((file + 1) % 3);
          const bool ok = h.run([&] { return disk.rename(n, to).is_ok(); });
          RC_ASSERT(ok == (names.count(n) != 0));
          if (ok) {
            const size_t id = names[n];
            names.erase(n);
            names[to] = id;
          }
          break;
        }
        case 6: {  // remove
          const bool ok = h.run([&] { return disk.remove(n).is_ok(); });
          RC_ASSERT(ok == (names.erase(n) != 0));
          break;
        }
        default:  // sync_dir
          RC_ASSERT(h.run([&] { return disk.sync_dir("d").is_ok(); }));
          durable = names;
          break;
      }
      RC_ASSERT(*disk.list("d") == [&] {
        std::vector<std::string> v;
        for (const auto& [k, id] : names) v.push_back(k.substr(2));
        return v;
      }());
    }

    disk.crash();
    std::vector<std::string> expected_names;
    for (const auto& [k, id] : durable) expected_names.push_back(k.substr(2));
    RC_ASSERT(*disk.list("d") == expected_names);
    for (const auto& [k, id] : durable) {
      const std::string got = slurp(disk, k);
      RC_ASSERT(allowed_after_crash(inodes[id], got));
      // With keep-everything the result is exactly the volatile view.
      if (keep == 1.0) RC_ASSERT(got == inodes[id].current);
    }
  });
}

TEST_CASE("simdisk: writes a failed sync lost stay visible but no later sync saves them", "[simdisk][unit]") {
  FiberHarness h;
  SimDisk disk(h.clock(), keel::core::Random(5));
  auto f = h.run([&] { return disk.open("f", OpenMode::kCreate); });
  h.run([&] {
    KEEL_ASSERT(disk.sync_dir("").is_ok());
    KEEL_ASSERT((*f)->append("kept").is_ok());
    KEEL_ASSERT((*f)->sync().is_ok());
    KEEL_ASSERT((*f)->append("-lost").is_ok());
  });
  // The failed sync drops what it would have written (keep 0, tear 0).
  DiskFaults failing = crash_faults(0.0, 0.0);
  failing.sync_error_probability = 1.0;
  disk.set_faults(failing);
  REQUIRE(h.run([&] { return (*f)->sync(); }).code() == Code::kIoError);
  disk.set_faults(crash_faults(1.0, 0.0));
  REQUIRE(slurp(disk, "f") == "kept-lost");
  // A later sync succeeds and writes only what came after the failure.
  h.run([&] {
    KEEL_ASSERT((*f)->append("+new").is_ok());
    KEEL_ASSERT((*f)->sync().is_ok());
  });
  REQUIRE(slurp(disk, "f") == "kept-lost+new");
  disk.crash();
  // On the device: "kept", a hole where "-lost" was, then "+new".
  REQUIRE(slurp(disk, "f") == std::string("kept") + std::string(5, '\0') + "+new");
  // Rewriting the bytes is what makes them durable.
  auto g = h.run([&] { return disk.open("f", OpenMode::kReadWrite); });
  h.run([&] {
    KEEL_ASSERT((*g)->write_at(4, "-back").is_ok());
    KEEL_ASSERT((*g)->sync().is_ok());
  });
  disk.crash();
  REQUIRE(slurp(disk, "f") == "kept-back+new");
}
