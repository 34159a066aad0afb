// keel-sim's command line: sweeps, coverage marks, and what bad input gets.
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <string>

namespace {

struct Ran {
  int exit_code = -1;
  std::string output;
};

// Runs `args` after the keel-sim binary through the shell, stdout and
// stderr together.
Ran keel_sim(const std::string& args) {
  const std::string cmd = std::string(KEEL_BUILD_DIR) + "/cmd/keel-sim " + args + " 2>&1";
  Ran out;
  FILE* p = ::popen(cmd.c_str(), "r");
  REQUIRE(p != nullptr);
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.output.append(buf, n);
  const int status = ::pclose(p);
  out.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

}  // namespace

TEST_CASE("keel-sim: a sweep reports its coverage marks", "[cmd][unit]") {
  const Ran r = keel_sim("--workload register --seeds 1..4 --jobs 2 --fault-seconds 8");
  INFO(r.output);
  CHECK(r.exit_code == 0);
  CHECK(r.output.find("coverage marks") != std::string::npos);
  CHECK(r.output.find("raft: vote refused") != std::string::npos);
}

TEST_CASE("keel-sim: --require-cover fails a sweep that never reaches a required mark", "[cmd][unit]") {
  // Without faults nothing is ever truncated, installed or stepped down.
  const Ran r = keel_sim("--workload register --seeds 1..2 --jobs 2 --no-faults --require-cover");
  INFO(r.output);
  CHECK(r.exit_code == 1);
  CHECK(r.output.find("REQUIRED, NEVER HIT") != std::string::npos);
  CHECK(r.output.find("required mark(s) never hit") != std::string::npos);
}

namespace {

std::string temp_path(const std::string& name) {
  return "/tmp/keel-sim-cli-" + std::to_string(::getpid()) + "-" + name;
}

void write_text(const std::string& path, const std::string& text) {
  FILE* f = std::fopen(path.c_str(), "w");
  REQUIRE(f != nullptr);
  std::fwrite(text.data(), 1, text.size(), f);
  std::fclose(f);
}

std::string read_text(const std::string& path) {
  std::string out;
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return out;
  char buf[4096];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) out.append(buf, n);
  std::fclose(f);
  return out;
}

}  // namespace

TEST_CASE("keel-sim: --shrink reduces a failing seed and --replay reproduces it exactly", "[cmd][sim]") {
  const std::string replay = temp_path("shrunk.txt");
  const Ran shrunk =
      keel_sim("--seed 4 --workload register --bug commit-without-quorum --shrink --shrink-out " + replay);
  INFO(shrunk.output);
  REQUIRE(shrunk.exit_code == 0);
  CHECK(shrunk.output.find("shrunk in") != std::string::npos);
  // The reduced run keeps at most a handful of the seed's faults.
  const std::string text = read_text(replay);
  size_t faults = 0;
  for (size_t p = text.find("\nfault "); p != std::string::npos; p = text.find("\nfault ", p + 1)) ++faults;
  CHECK(faults <= 5);
  const Ran replayed = keel_sim("--replay " + replay);
  INFO(replayed.output);
  CHECK(replayed.exit_code == 1);
  CHECK(replayed.output.find("replay: reproduced exactly") != std::string::npos);
  std::remove(replay.c_str());
}

TEST_CASE("keel-sim: bad input to --replay, --diff and --shrink gets a clear error", "[cmd][unit]") {
  SECTION("a seed that passes has nothing to shrink") {
    const Ran r = keel_sim("--seed 1 --workload register --no-faults --fault-seconds 2 --shrink --shrink-out " +
                           temp_path("none.txt"));
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("passes: there is no failure to shrink") != std::string::npos);
  }
  SECTION("a foreign file is not a replay") {
    const std::string path = temp_path("foreign.txt");
    write_text(path, "hello\nworld\n");
    const Ran r = keel_sim("--replay " + path);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("not a keel replay file") != std::string::npos);
    std::remove(path.c_str());
  }
  SECTION("a damaged replay is refused") {
    const std::string path = temp_path("damaged.txt");
    const Ran shrunk = keel_sim("--seed 4 --workload register --bug commit-without-quorum --shrink --shrink-out " + path);
    REQUIRE(shrunk.exit_code == 0);
    std::string text = read_text(path);
    const size_t at = text.find("seed 4");
    REQUIRE(at != std::string::npos);
    text[at + 5] = '5';
    write_text(path, text);
    const Ran r = keel_sim("--replay " + path);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("damaged") != std::string::npos);
    std::remove(path.c_str());
  }
  SECTION("a missing replay file") {
    const Ran r = keel_sim("--replay " + temp_path("missing.txt"));
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("cannot read") != std::string::npos);
  }
  SECTION("traces of different seeds") {
    const std::string a = temp_path("a.jsonl");
    const std::string b = temp_path("b.jsonl");
    REQUIRE(keel_sim("--seed 1 --workload register --fault-seconds 2 --trace " + a).exit_code == 0);
    REQUIRE(keel_sim("--seed 2 --workload register --fault-seconds 2 --trace " + b).exit_code == 0);
    const Ran r = keel_sim("--diff " + a + " " + b);
    INFO(r.output);
    CHECK(r.exit_code == 2);
    CHECK(r.output.find("different runs") != std::string::npos);
    const Ran same = keel_sim("--diff " + a + " " + a);
    INFO(same.output);
    CHECK(same.exit_code == 0);
    std::remove(a.c_str());
    std::remove(b.c_str());
  }
}
