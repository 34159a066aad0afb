// The KV workloads' generators, and the workloads run end to end against an
// in-process stand-in for a Redis server (one std::map, answering at once),
// with and without a planted state-machine bug, through the real RespClient
// and checkers. No cluster, no faults: only the inputs the generators produce
// and the outputs the clients record are under test.
#include "workloads/kv_workloads.h"

#include <catch2/catch.hpp>

#include <map>
#include <set>

#include "core/trace.h"
#include "net/resp/reply_writer.h"
#include "net/resp/request_parser.h"
#include "tests/simdisk/manual_clock.h"
#include "workloads/linearizability.h"

using namespace keel;
using namespace keel::workloads;

namespace {

// The state-machine bugs the workloads must expose (the same as the mutants
// tests/mutants/38-40 plant in node/commands.cc, and the prefix compare).
enum class Bug { kNone, kIncrWraps, kIfEqPrefix, kIfEqComparesNewValue, kAppendOldLength };

// GET, SET [IFEQ expected], INCRBY and APPEND on one map, as Redis answers
// them, except for `bug`.
class FakeStore {
 public:
  explicit FakeStore(Bug bug) : bug_(bug) {}

  void execute(const net::resp::Argv& argv, net::resp::ReplyWriter& out) {
    const std::string name = argv[0];
    if (name == "GET" && argv.size() == 2) {
      auto it = data_.find(argv[1]);
      if (it == data_.end()) {
        out.null();
      } else {
        out.bulk(it->second);
      }
    } else if (name == "SET" && argv.size() == 3) {
      data_[argv[1]] = argv[2];
      out.ok();
    } else if (name == "SET" && argv.size() == 5 && argv[3] == "IFEQ") {
      auto it = data_.find(argv[1]);
      bool write = it != data_.end() && it->second == argv[4];
      if (bug_ == Bug::kIfEqPrefix) write = it != data_.end() && it->second.starts_with(argv[4]);
      if (bug_ == Bug::kIfEqComparesNewValue) write = it != data_.end() && it->second == argv[2];
      if (write) {
        data_[argv[1]] = argv[2];
        out.ok();
      } else {
        out.null();
      }
    } else if (name == "INCRBY" && argv.size() == 3) {
      const int64_t current = data_.contains(argv[1]) ? std::stoll(data_[argv[1]]) : 0;
      const int64_t delta = std::stoll(argv[2]);
      int64_t sum = 0;
      if (__builtin_add_overflow(current, delta, &sum)) {
        if (bug_ != Bug::kIncrWraps) {
          out.error("ERR increment or decrement would overflow");
          return;
        }
        sum = static_cast<int64_t>(static_cast<uint64_t>(current) + static_cast<uint64_t>(delta));
      }
      data_[argv[1]] = std::to_string(sum);
      out.integer(sum);
    } else if (name == "APPEND" && argv.size() == 3) {
      std::string& value = data_[argv[1]];
      const auto before = static_cast<int64_t>(value.size());
      value += argv[2];
      out.integer(bug_ == Bug::kAppendOldLength ? before : static_cast<int64_t>(value.size()));
    } else {
      out.error("ERR unknown command '" + name + "'");
    }
  }

 private:
  Bug bug_;
  std::map<std::string, std::string> data_;
};

// A connection to the store: each complete request is executed when written,
// so its reply is always there to read.
class FakeStream : public core::Stream {
 public:
  explicit FakeStream(FakeStore& store) : store_(store) {}

  core::Result<size_t> read(char* buf, size_t len) override {
    if (closed_) return core::cancelled("closed");
    if (replies_.empty()) return core::unavailable("no reply pending");
    const size_t n = std::min(len, replies_.size());
    std::copy_n(replies_.bytes().data(), n, buf);
    replies_.consume(n);
    return n;
  }
  core::Status write(core::ByteView data) override {
    if (closed_) return core::cancelled("closed");
    parser_.feed(data);
    net::resp::Argv argv;
    for (;;) {
      auto more = parser_.next(argv);
      if (!more.is_ok()) return more.status();
      if (!*more) return core::Status::ok();
      store_.execute(argv, replies_);
    }
  }
  void close() override { closed_ = true; }
  core::Address peer() const override { return core::Address{"store", 6379}; }

 private:
  FakeStore& store_;
  net::resp::RequestParser parser_;
  net::resp::ReplyWriter replies_;
  bool closed_ = false;
};

class FakeNetwork : public core::Network {
 public:
  explicit FakeNetwork(FakeStore& store) : store_(store) {}
  core::Result<std::unique_ptr<core::Listener>> listen(const core::Address&) override {
    return core::unavailable("the fake network only connects");
  }
  core::Result<std::unique_ptr<core::Stream>> connect(const core::Address&, core::Duration) override {
    return std::unique_ptr<core::Stream>(std::make_unique<FakeStream>(store_));
  }

 private:
  FakeStore& store_;
};

// The workloads never touch the disk.
class NoDisk : public core::Disk {
 public:
  core::Result<std::unique_ptr<core::File>> open(const std::string&, core::OpenMode) override {
    return none();
  }
  core::Status remove(const std::string&) override { return none(); }
  core::Status rename(const std::string&, const std::string&) override { return none(); }
  core::Result<std::vector<std::string>> list(const std::string&) override { return none(); }
  core::Status make_dirs(const std::string&) override { return none(); }
  core::Status sync_dir(const std::string&) override { return none(); }
  core::Result<bool> exists(const std::string&) override { return none(); }

 private:
  static core::Status none() { return core::unavailable("no disk"); }
};

struct Run {
  History history;
  FinalState final_state;
  LinearizabilityResult linearizability;
  DurabilityResult durability;
};

// Three clients of `workload` against a fake store with `bug`, `ops_max`
// operations each on two keys, then the final reads and both checkers.
Run run_workload(KvWorkload workload, Bug bug, uint64_t seed, uint64_t ops_max = 300) {
  keel::testing::FiberHarness harness;
  FakeStore store(bug);
  FakeNetwork net(store);
  NoDisk disk;
  core::Random random(seed);
  core::TraceLog log;
  core::Tracer tracer(log, "kv-workloads-test", &harness.clock());
  core::Env env{core::ProcessId(1), core::NodeId(1), harness.clock(), net, disk,
                random, harness.fibers(), tracer};
  const std::vector<core::Address> nodes{core::Address{"store", 6379}};
  constexpr uint32_t kClients = 3;

  KvClientConfig config;
  config.workload = workload;
  config.keys = 2;
  config.ops_max = ops_max;
  config.clients_stride = kClients;
  Run run;
  bool read_ok = harness.run([&] {
    uint32_t finished = 0;
    for (uint32_t c = 1; c <= kClients; ++c) {
      env.spawn("client", [&, c] {
        KvClientConfig mine = config;
        mine.first_client_id = c;
        RespClient client(env, nodes);
        run_kv_client(env, client, run.history, mine, [&] { return env.now(); }, [] { return false; });
        ++finished;
      });
    }
    while (finished < kClients) env.sleep_for(core::Duration::millis(10));
    RespClient reader(env, nodes);
    auto state = read_final_state(env, reader, config, [] { return false; });
    if (!state.is_ok()) return false;
    run.final_state = std::move(*state);
    return true;
  });
  REQUIRE(read_ok);
  run.linearizability = check_linearizability(run.history);
  run.durability = check_durability(run.history, run.final_state);
  return run;
}

}  // namespace

TEST_CASE("kv workloads: register writes extend the value last read, uniquely and boundedly",
          "[workloads][unit]") {
  core::Random random(1);
  const std::optional<std::string> seen = "c2-7";
  int extended = 0;
  for (int i = 0; i < 1000; ++i) {
    const std::string tag = "c1-" + std::to_string(i);
    const std::string value = register_write_value(random, seen, tag, 30);
    if (value == tag) continue;
    REQUIRE(value == "c2-7." + tag);
    ++extended;
  }
  // 30 % of 1000, give or take the dice.
  REQUIRE(extended > 220);
  REQUIRE(extended < 380);

  // Nothing read yet, or nothing to extend by: the plain tag.
  REQUIRE(register_write_value(random, std::nullopt, "c1-1", 100) == "c1-1");
  REQUIRE(register_write_value(random, seen, "c1-1", 0) == "c1-1");
  // Too long once extended: the plain tag.
  const std::string fits(kRegisterValueBytesMax - 5, 'v');
  REQUIRE(register_write_value(random, fits, "c1-1", 100) == fits + ".c1-1");
  REQUIRE(register_write_value(random, fits + "x", "c1-1", 100) == "c1-1");
}

TEST_CASE("kv workloads: the register workload writes prefix-extended values",
          "[workloads][unit]") {
  Run run = run_workload(KvWorkload::kRegister, Bug::kNone, 11);
  INFO(run.linearizability.summary());
  INFO(run.durability.summary());
  REQUIRE(run.linearizability.verdict == Verdict::kPass);
  REQUIRE(run.durability.verdict == Verdict::kPass);

  std::set<std::string> written;
  std::set<std::string> read_values;
  size_t writes = 0;
  size_t extended = 0;
  size_t stale_prefix_cas = 0;
  for (const Operation& op : run.history.ops()) {
    if (op.kind == OpKind::kRead && op.read_value) read_values.insert(*op.read_value);
    if (op.kind == OpKind::kWrite || op.kind == OpKind::kCas) {
      // Every write's value is unique, and none is too long.
      REQUIRE(written.insert(op.value).second);
      REQUIRE(op.value.size() <= kRegisterValueBytesMax);
    }
    if (op.kind == OpKind::kWrite) {
      ++writes;
      const size_t dot = op.value.rfind('.');
      if (dot != std::string::npos) {
        // An extension of a value its client read earlier.
        REQUIRE(read_values.contains(op.value.substr(0, dot)));
        ++extended;
      }
    }
    // A cas whose expected value is a strict prefix of some value written
    // before: what a prefix compare would wrongly accept.
    if (op.kind == OpKind::kCas) {
      for (const std::string& w : written) {
        if (w.size() > op.expected.size() && w.starts_with(op.expected + ".")) {
          ++stale_prefix_cas;
          break;
        }
      }
    }
  }
  INFO("writes " << writes << ", extended " << extended << ", cas with a stale prefix "
                 << stale_prefix_cas);
  REQUIRE(extended * 100 > writes * 15);
  REQUIRE(extended * 100 < writes * 45);
  REQUIRE(stale_prefix_cas > 10);
}

TEST_CASE("kv workloads: counter deltas near the int64 limits overflow some increments",
          "[workloads][unit]") {
  core::Random random(3);
  int large = 0;
  for (int i = 0; i < 10000; ++i) {
    const int64_t delta = counter_delta(random, 3);
    if (delta >= 1 && delta <= 5) continue;
    ++large;
    const bool near_max = delta >= INT64_MAX - static_cast<int64_t>(kLargeDeltaSlackMax);
    const bool near_min = delta >= INT64_MIN + static_cast<int64_t>(kLargeDeltaSlackMax) + 2 &&
                          delta <= INT64_MIN + 2 * static_cast<int64_t>(kLargeDeltaSlackMax) + 2;
    REQUIRE((near_max || near_min));
  }
  REQUIRE(large > 200);
  REQUIRE(large < 400);

  Run run = run_workload(KvWorkload::kCounter, Bug::kNone, 5);
  INFO(run.linearizability.summary());
  INFO(run.durability.summary());
  REQUIRE(run.linearizability.verdict == Verdict::kPass);
  REQUIRE(run.durability.verdict == Verdict::kPass);
  size_t overflowed_up = 0;
  size_t overflowed_down = 0;
  for (const Operation& op : run.history.ops()) {
    if (op.kind != OpKind::kIncr || op.outcome != Outcome::kFail) continue;
    if (op.delta > 5) ++overflowed_up;
    if (op.delta < 0) ++overflowed_down;
  }
  REQUIRE(overflowed_up > 0);
  REQUIRE(overflowed_down > 0);
}

TEST_CASE("kv workloads: unique appends record the length APPEND returned", "[workloads][unit]") {
  Run run = run_workload(KvWorkload::kUniqueWrites, Bug::kNone, 7);
  INFO(run.durability.summary());
  REQUIRE(run.durability.verdict == Verdict::kPass);
  size_t appends = 0;
  for (const Operation& op : run.history.ops()) {
    REQUIRE(op.kind == OpKind::kAppend);
    REQUIRE(op.outcome == Outcome::kOk);
    REQUIRE(op.append_length.has_value());
    ++appends;
  }
  REQUIRE(appends == 900);
  REQUIRE(run.durability.acknowledged_writes == 900);
}

TEST_CASE("kv workloads: the checkers catch a store that wraps INCRBY around int64",
          "[workloads][unit]") {
  Run run = run_workload(KvWorkload::kCounter, Bug::kIncrWraps, 5);
  INFO(run.linearizability.summary());
  REQUIRE(run.linearizability.verdict == Verdict::kFail);
}

TEST_CASE("kv workloads: the checkers catch a store whose IFEQ accepts a prefix",
          "[workloads][unit]") {
  Run run = run_workload(KvWorkload::kRegister, Bug::kIfEqPrefix, 11);
  INFO(run.linearizability.summary());
  REQUIRE(run.linearizability.verdict == Verdict::kFail);
  Run other = run_workload(KvWorkload::kRegister, Bug::kIfEqComparesNewValue, 11);
  INFO(other.linearizability.summary());
  REQUIRE(other.linearizability.verdict == Verdict::kFail);
}

TEST_CASE("kv workloads: the checkers catch a store whose APPEND returns the old length",
          "[workloads][unit]") {
  Run run = run_workload(KvWorkload::kUniqueWrites, Bug::kAppendOldLength, 7);
  INFO(run.durability.summary());
  REQUIRE(run.durability.verdict == Verdict::kFail);
  REQUIRE(run.durability.summary().find("returned length") != std::string::npos);
}
