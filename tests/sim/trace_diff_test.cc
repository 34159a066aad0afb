// Trace diff (sim/trace_diff.h): identical traces, the first differing
// event, and the inputs it refuses.
#include "sim/trace_diff.h"

#include <catch2/catch.hpp>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "sim/run.h"

using keel::core::Code;
using keel::core::Duration;
using keel::sim::RunOptions;

namespace {

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("keel-trace-diff-test-" + name)).string();
}

// Writes the trace of one short run to `path`.
void write_trace(const std::string& path, uint64_t seed, const std::string& workload = "register") {
  RunOptions o;
  o.seed = seed;
  o.workload = workload;
  o.fault_window = Duration::seconds(5);
  o.trace_path = path;
  (void)keel::sim::run_simulation(o);
}

std::vector<std::string> read_lines(const std::string& path) {
  std::ifstream in(path);
  std::vector<std::string> lines;
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

void write_lines(const std::string& path, const std::vector<std::string>& lines) {
  std::ofstream out(path);
  for (const auto& line : lines) out << line << '\n';
}

bool is_event(const std::string& line) { return line.find("\",\"ev\":\"") != std::string::npos; }

}  // namespace

TEST_CASE("trace diff: two traces of one seed are identical", "[sim][unit]") {
  const std::string a = temp_path("same-a.jsonl");
  const std::string b = temp_path("same-b.jsonl");
  write_trace(a, 5);
  write_trace(b, 5);
  auto diff = keel::sim::diff_trace_files(a, b);
  REQUIRE(diff.is_ok());
  CHECK(diff->identical);
  CHECK(diff->events_compared > 20);
  CHECK(diff->report.find("identical") != std::string::npos);
  std::string report;
  CHECK(keel::sim::diff_traces(a, b, &report) == 0);
  std::filesystem::remove(a);
  std::filesystem::remove(b);
}

TEST_CASE("trace diff: a changed event is named by its event and line numbers", "[sim][unit]") {
  const std::string a = temp_path("planted-a.jsonl");
  const std::string b = temp_path("planted-b.jsonl");
  write_trace(a, 5);
  std::vector<std::string> lines = read_lines(a);
  REQUIRE(lines.size() > 40);
  // Plant a change in the 30th event; count events as the digest does.
  size_t event = 0;
  size_t planted_line = 0;
  for (size_t i = 0; i < lines.size(); ++i) {
    if (!is_event(lines[i])) continue;
    if (++event == 30) {
      const size_t t = lines[i].find("\"t_ns\":");
      REQUIRE(t == 1);
      lines[i].insert(t + 7, "1");  // a different time
      planted_line = i + 1;
      break;
    }
  }
  REQUIRE(planted_line != 0);
  write_lines(b, lines);

  auto diff = keel::sim::diff_trace_files(a, b);
  REQUIRE(diff.is_ok());
  CHECK_FALSE(diff->identical);
  CHECK(diff->event == 30);
  CHECK(diff->events_compared == 29);
  CHECK(diff->line_a == planted_line);
  CHECK(diff->line_b == planted_line);
  INFO(diff->report);
  CHECK(diff->report.find("event 30 ") != std::string::npos);
  CHECK(diff->report.find("line " + std::to_string(planted_line)) != std::string::npos);
  CHECK(diff->report.find("'t_ns'") != std::string::npos);
  // Context from both files, the differing line marked.
  CHECK(diff->report.find(a + " around it:") != std::string::npos);
  CHECK(diff->report.find(b + " around it:") != std::string::npos);
  CHECK(diff->report.find("> line " + std::to_string(planted_line)) != std::string::npos);
  std::string report;
  CHECK(keel::sim::diff_traces(a, b, &report) == 1);

  // Log lines are not events: changing one changes nothing.
  lines = read_lines(a);
  bool changed_log = false;
  for (auto& line : lines) {
    if (line.find("\"msg\":\"") != std::string::npos && !is_event(line)) {
      line.insert(line.size() - 2, " (edited)");
      changed_log = true;
      break;
    }
  }
  if (changed_log) {
    write_lines(b, lines);
    CHECK(keel::sim::diff_traces(a, b, &report) == 0);
  }

  // A trace cut short differs where it ends.
  lines = read_lines(a);
  lines.resize(lines.size() - 3);
  write_lines(b, lines);
  diff = keel::sim::diff_trace_files(a, b);
  REQUIRE(diff.is_ok());
  CHECK_FALSE(diff->identical);
  CHECK(diff->line_b == 0);
  CHECK(diff->report.find("ends after") != std::string::npos);
  std::filesystem::remove(a);
  std::filesystem::remove(b);
}

TEST_CASE("trace diff: traces of different seeds are an error, not a difference", "[sim][unit]") {
  const std::string a = temp_path("seed1.jsonl");
  const std::string b = temp_path("seed2.jsonl");
  write_trace(a, 1);
  write_trace(b, 2);
  auto diff = keel::sim::diff_trace_files(a, b);
  REQUIRE_FALSE(diff.is_ok());
  CHECK(diff.status().code() == Code::kInvalidArgument);
  CHECK(diff.status().message() == "traces of different runs: seed 1 workload register vs seed 2 workload register");
  std::string report;
  CHECK(keel::sim::diff_traces(a, b, &report) == 2);
  CHECK(report.find("traces of different runs") != std::string::npos);
  write_trace(b, 1, "counter");
  diff = keel::sim::diff_trace_files(a, b);
  REQUIRE_FALSE(diff.is_ok());
  CHECK(diff.status().message() == "traces of different runs: seed 1 workload register vs seed 1 workload counter");
  std::filesystem::remove(a);
  std::filesystem::remove(b);
}

TEST_CASE("trace diff: missing, empty and non-trace files are errors naming the file", "[sim][unit]") {
  const std::string good = temp_path("good.jsonl");
  write_trace(good, 3);
  const std::string bad = temp_path("bad.jsonl");
  std::string report;

  const std::string missing = temp_path("no-such-file.jsonl");
  std::filesystem::remove(missing);
  auto diff = keel::sim::diff_trace_files(missing, good);
  REQUIRE_FALSE(diff.is_ok());
  CHECK(diff.status().code() == Code::kNotFound);
  CHECK(diff.status().message().find(missing) != std::string::npos);
  CHECK(keel::sim::diff_traces(good, missing, &report) == 2);
  CHECK(report.find(missing) != std::string::npos);

  struct Case {
    const char* what;
    std::string text;
  };
  const std::vector<Case> cases = {
      {"garbage", "\x7f" "ELF\x02\x01 binary garbage\n"},
      {"empty", ""},
      {"JSON that is no trace", "{\"name\":\"x\"}\n"},
      {"an event first, but not run.start", "{\"t_ns\":0,\"src\":\"world\",\"ev\":\"host.start\",\"host\":\"n1\"}\n"},
      {"a log line first", "{\"t_ns\":0,\"src\":\"n1\",\"level\":\"info\",\"msg\":\"hello\"}\n"},
      {"a broken line later",
       "{\"t_ns\":0,\"src\":\"world\",\"ev\":\"run.start\",\"seed\":3,\"workload\":\"register\"}\n{\"t_ns\":5,\"src\n"},
  };
  for (const Case& c : cases) {
    INFO(c.what);
    std::ofstream(bad, std::ios::binary) << c.text;
    diff = keel::sim::diff_trace_files(good, bad);
    REQUIRE_FALSE(diff.is_ok());
    CHECK(diff.status().code() == Code::kInvalidArgument);
    CHECK(diff.status().message().find(bad + " is not a keel trace") != std::string::npos);
    CHECK(keel::sim::diff_traces(bad, good, &report) == 2);
  }
  // A directory cannot be read as a trace.
  diff = keel::sim::diff_trace_files(good, std::filesystem::temp_directory_path().string());
  REQUIRE_FALSE(diff.is_ok());
  std::filesystem::remove(good);
  std::filesystem::remove(bad);
}
