// The timeline page (sim/timeline.h): what the recorder keeps, the JSON the
// page embeds, and that recording leaves a run unchanged.
#include "sim/timeline.h"

#include <catch2/catch.hpp>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "sim/run.h"

using keel::core::Duration;
using keel::core::Instant;
using keel::sim::RunOptions;
using keel::sim::RunResult;
using keel::sim::Timeline;

namespace {

// A small JSON reader for checking the embedded blob's structure.
struct Json {
  enum class Type { kNull, kBool, kNumber, kString, kArray, kObject };
  Type type = Type::kNull;
  bool boolean = false;
  double number = 0;
  std::string text;
  std::vector<Json> items;
  std::vector<std::pair<std::string, Json>> members;

  const Json* get(const std::string& key) const {
    for (const auto& [k, v] : members) {
      if (k == key) return &v;
    }
    return nullptr;
  }
  const Json& at(const std::string& key) const {
    const Json* v = get(key);
    INFO("missing key " << key);
    REQUIRE(v != nullptr);
    return *v;
  }
};

class JsonReader {
 public:
  explicit JsonReader(const std::string& text) : text_(text) {}

  // False if the text is not one JSON value.
  bool read(Json* out) {
    if (!value(out)) return false;
    space();
    return pos_ == text_.size();
  }

 private:
  void space() {
    while (pos_ < text_.size() && std::isspace(static_cast<unsigned char>(text_[pos_]))) ++pos_;
  }
  bool eat(char c) {
    space();
    if (pos_ < text_.size() && text_[pos_] == c) {
      ++pos_;
      return true;
    }
    return false;
  }
  bool string(std::string* out) {
    if (!eat('"')) return false;
    while (pos_ < text_.size()) {
      const char c = text_[pos_++];
      if (c == '"') return true;
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        *out += c;
        continue;
      }
      if (pos_ >= text_.size()) return false;
      const char e = text_[pos_++];
      if (e == 'u') {
        if (pos_ + 4 > text_.size()) return false;
        const unsigned code = static_cast<unsigned>(std::stoul(text_.substr(pos_, 4), nullptr, 16));
        *out += code < 0x80 ? static_cast<char>(code) : '?';
        pos_ += 4;
      } else if (std::string("\"\\/bfnrt").find(e) != std::string::npos) {
        *out += e == 'n' ? '\n' : e == 't' ? '\t' : e == 'r' ? '\r' : e == 'b' ? '\b' : e == 'f' ? '\f' : e;
      } else {
        return false;
      }
    }
    return false;
  }
  bool value(Json* out) {
    space();
    if (pos_ >= text_.size()) return false;
    const char c = text_[pos_];
    if (c == '{') {
      out->type = Json::Type::kObject;
      ++pos_;
      if (eat('}')) return true;
      do {
        std::string key;
        space();
        if (!string(&key) || !eat(':')) return false;
        Json v;
        if (!value(&v)) return false;
        out->members.emplace_back(std::move(key), std::move(v));
      } while (eat(','));
      return eat('}');
    }
    if (c == '[') {
      out->type = Json::Type::kArray;
      ++pos_;
      if (eat(']')) return true;
      do {
        Json v;
        if (!value(&v)) return false;
        out->items.push_back(std::move(v));
      } while (eat(','));
      return eat(']');
    }
    if (c == '"') {
      out->type = Json::Type::kString;
      return string(&out->text);
    }
    for (const char* word : {"true", "false", "null"}) {
      if (text_.compare(pos_, std::strlen(word), word) == 0) {
        pos_ += std::strlen(word);
        out->type = word[0] == 'n' ? Json::Type::kNull : Json::Type::kBool;
        out->boolean = word[0] == 't';
        return true;
      }
    }
    size_t used = 0;
    try {
      out->number = std::stod(text_.substr(pos_, 32), &used);
    } catch (const std::exception&) {
      return false;
    }
    out->type = Json::Type::kNumber;
    pos_ += used;
    return used > 0;
  }

  const std::string& text_;
  size_t pos_ = 0;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string temp_path(const std::string& name) {
  return (std::filesystem::temp_directory_path() / ("keel-timeline-test-" + name)).string();
}

// The JSON blob of a page, parsed.
Json embedded_json(const std::string& page) {
  const std::string open = "<script type=\"application/json\" id=\"timeline-data\">";
  const size_t from = page.find(open);
  REQUIRE(from != std::string::npos);
  const size_t begin = from + open.size();
  const size_t end = page.find("</script>", begin);
  REQUIRE(end != std::string::npos);
  Json json;
  REQUIRE(JsonReader(page.substr(begin, end - begin)).read(&json));
  REQUIRE(json.type == Json::Type::kObject);
  return json;
}

RunOptions options(const std::string& workload, uint64_t seed, const std::string& bug = "") {
  RunOptions o;
  o.seed = seed;
  o.workload = workload;
  o.fault_window = Duration::seconds(6);
  o.bug = bug;
  return o;
}

}  // namespace

TEST_CASE("timeline: recording a page changes neither the run nor its digest", "[sim][unit]") {
  for (const char* workload : {"register", "demo"}) {
    for (uint64_t seed = 1; seed <= 3; ++seed) {
      RunOptions plain = options(workload, seed);
      RunOptions recorded = plain;
      recorded.timeline_path = temp_path("digest.html");
      const RunResult a = keel::sim::run_simulation(plain);
      const RunResult b = keel::sim::run_simulation(recorded);
      INFO("keel-sim --seed " << seed << " --workload " << workload << " --fault-seconds 6");
      REQUIRE(a.digest == b.digest);
      REQUIRE(a.events == b.events);
      REQUIRE(a.pass == b.pass);
      REQUIRE(a.ops_ok == b.ops_ok);
      REQUIRE(a.violations == b.violations);
      // Every fault the nemesis counted is on the page (crashes, kills and
      // pauses as host events; a reset only when a connection was open).
      const Json json = embedded_json(read_file(recorded.timeline_path));
      std::map<std::string, uint64_t> on_page;
      for (const Json& f : json.at("faults").items) ++on_page[f.at("kind").text];
      for (const auto& [kind, count] : b.faults) {
        INFO("fault kind " << kind);
        if (kind == "reset") {
          CHECK(on_page[kind] <= count);
        } else if (kind != "crash" && kind != "kill" && kind != "pause" && kind != "crash_at_disk_call") {
          CHECK(on_page[kind] == count);
        }
      }
      std::filesystem::remove(recorded.timeline_path);
    }
  }
}

TEST_CASE("timeline: a run's page has a lane per host and its JSON parses back", "[sim][unit]") {
  RunOptions o = options("register", 1);
  o.timeline_path = temp_path("run.html");
  const RunResult r = keel::sim::run_simulation(o);
  INFO("keel-sim --seed 1 --workload register --fault-seconds 6");
  REQUIRE(r.pass);
  const std::string page = read_file(o.timeline_path);
  std::filesystem::remove(o.timeline_path);
  REQUIRE(page.rfind("<!DOCTYPE html>", 0) == 0);
  // Self-contained: nothing is fetched.
  CHECK(page.find("http://") == std::string::npos);
  CHECK(page.find("https://") == std::string::npos);
  CHECK(page.find(" src=") == std::string::npos);
  CHECK(page.find("<link") == std::string::npos);
  CHECK(page.find("id=\"violations\"") != std::string::npos);

  const Json json = embedded_json(page);
  CHECK(json.at("seed").number == 1);
  CHECK(json.at("workload").text == "register");
  CHECK(json.at("pass").boolean);
  const double end_ns = json.at("end_ns").number;
  REQUIRE(end_ns > 0);

  // A lane for every host: the nodes first, then the clients (as many as
  // the seed drew) and the checker.
  const Json& lanes = json.at("lanes");
  std::vector<std::string> names;
  for (const Json& lane : lanes.items) names.push_back(lane.at("name").text);
  REQUIRE(names.size() >= 5);
  std::vector<std::string> expected = {"n1", "n2", "n3"};
  for (size_t c = 1; c + 4 <= names.size(); ++c) expected.push_back("c" + std::to_string(c));
  expected.push_back("checker");
  CHECK(names == expected);
  for (size_t i = 0; i < lanes.items.size(); ++i) {
    CHECK(lanes.items[i].at("role").text == (i < 3 ? "node" : "client"));
  }
  const double lane_count = static_cast<double>(lanes.items.size());

  // Messages: [from, to, sent, arrived, bytes, lost] between known lanes.
  const Json& messages = json.at("messages");
  REQUIRE(!messages.items.empty());
  CHECK(json.at("messages_total").number == static_cast<double>(messages.items.size()));
  CHECK_FALSE(json.at("messages_capped").boolean);
  std::set<std::pair<int, int>> links;
  for (const Json& m : messages.items) {
    REQUIRE(m.items.size() == 6);
    REQUIRE(m.items[0].number < lane_count);
    REQUIRE(m.items[1].number < lane_count);
    REQUIRE(m.items[2].number <= m.items[3].number);
    REQUIRE(m.items[3].number <= end_ns);
    links.insert({static_cast<int>(m.items[0].number), static_cast<int>(m.items[1].number)});
  }
  CHECK(links.count({0, 1}) + links.count({0, 2}) + links.count({1, 0}) + links.count({2, 0}) > 0);

  // Every host starts at 0; host events name known lanes and kinds.
  const std::set<std::string> kinds = {"start", "crash", "kill", "exit", "pause", "resume"};
  size_t starts = 0;
  for (const Json& e : json.at("host_events").items) {
    REQUIRE(e.items.size() == 3);
    REQUIRE(e.items[0].number < lane_count);
    REQUIRE(kinds.count(e.items[2].text) == 1);
    starts += e.items[2].text == "start" && e.items[1].number == 0 ? 1 : 0;
  }
  CHECK(starts == names.size());

  for (const Json& f : json.at("faults").items) {
    REQUIRE(f.at("begin_ns").number <= f.at("end_ns").number);
    REQUIRE(f.at("end_ns").number <= end_ns);
    REQUIRE(!f.at("kind").text.empty());
  }
  CHECK(json.at("heal_ns").type == Json::Type::kNumber);
  // Leaders: [lane, at, term, leads] on node lanes; someone led term 1 or later.
  const Json& leaders = json.at("leaders");
  REQUIRE(!leaders.items.empty());
  for (const Json& l : leaders.items) {
    REQUIRE(l.items.size() == 4);
    REQUIRE(l.items[0].number < 3);
    REQUIRE(l.items[2].number >= 1);
  }
  // Operations: [lane, id, client, kind, key, input, result, outcome,
  // invoke, complete] on client lanes, as many as the run counted.
  const Json& ops = json.at("ops");
  CHECK(ops.items.size() == r.ops_ok + r.ops_failed + r.ops_indeterminate);
  const std::set<std::string> outcomes = {"ok", "fail", "indeterminate", "pending"};
  for (const Json& op : ops.items) {
    REQUIRE(op.items.size() == 10);
    REQUIRE(op.items[0].number >= 3);
    REQUIRE(op.items[0].number < lane_count - 1);
    REQUIRE(outcomes.count(op.items[7].text) == 1);
    REQUIRE(op.items[8].number <= end_ns);
    if (op.items[7].text != "pending") REQUIRE(op.items[8].number <= op.items[9].number);
  }
  CHECK(json.at("violations").items.empty());
}

TEST_CASE("timeline: a failing run's page lists and places its violations", "[sim][unit]") {
  uint64_t failing = 0;
  for (uint64_t seed = 1; seed <= 30 && failing == 0; ++seed) {
    if (!keel::sim::run_simulation(options("register", seed, "commit-without-quorum")).pass) failing = seed;
  }
  REQUIRE(failing != 0);
  RunOptions o = options("register", failing, "commit-without-quorum");
  o.timeline_path = temp_path("failing.html");
  const RunResult r = keel::sim::run_simulation(o);
  INFO("keel-sim --seed " << failing << " --workload register --bug commit-without-quorum --fault-seconds 6");
  REQUIRE_FALSE(r.pass);
  const std::string page = read_file(o.timeline_path);
  std::filesystem::remove(o.timeline_path);
  CHECK(page.find("id=\"violations\"") != std::string::npos);
  CHECK(page.find("id=\"violation\"") != std::string::npos);
  for (size_t i = 0; i < r.violations.size(); ++i) {
    CHECK(page.find("id=\"violation-" + std::to_string(i) + "\"") != std::string::npos);
  }
  CHECK(page.find("FAIL") != std::string::npos);

  const Json json = embedded_json(page);
  CHECK_FALSE(json.at("pass").boolean);
  const Json& violations = json.at("violations");
  REQUIRE(violations.items.size() == r.violations.size());
  // The online checker stopped the run: the violations sit at that moment.
  REQUIRE(json.at("failure_ns").type == Json::Type::kNumber);
  for (size_t i = 0; i < r.violations.size(); ++i) {
    const Json& v = violations.items[i];
    CHECK(v.at("text").text == r.violations[i]);
    CHECK(v.at("time_known").boolean);
    CHECK(v.at("t_ns").number == json.at("failure_ns").number);
  }
}

TEST_CASE("timeline: operations carry their op, key, value, result and client host", "[sim][unit]") {
  using keel::workloads::ClientId;
  keel::workloads::History history;
  const auto w = history.invoke_write(ClientId(1), "k1", "v1", Instant::from_nanos(1000));
  history.complete_write(w, Instant::from_nanos(5000));
  const auto r = history.invoke_read(ClientId(2), "k1", Instant::from_nanos(2000));
  history.complete_read(r, Instant::from_nanos(6000), std::string("v1"));
  const auto c = history.invoke_cas(ClientId(4), "k2", "a", "b", Instant::from_nanos(3000));
  history.indeterminate(c, Instant::from_nanos(9000));
  const auto p = history.invoke_incr(ClientId(3), "k3", 5, Instant::from_nanos(4000));
  (void)p;

  Timeline timeline;
  timeline.lane("n1", Timeline::Role::kNode);
  timeline.add_operations(history, [](ClientId id) { return "c" + std::to_string((id.value() - 1) % 3 + 1); });
  timeline.finish(Instant::from_nanos(10'000), std::nullopt);
  const auto& ops = timeline.operations();
  REQUIRE(ops.size() == 4);
  CHECK(timeline.lanes()[ops[0].lane].name == "c1");
  CHECK(timeline.lanes()[ops[2].lane].name == "c1");  // client 4 ran on c1 too
  CHECK(ops[0].kind == "write");
  CHECK(ops[0].key == "\"k1\"");
  CHECK(ops[0].input == "\"v1\"");
  CHECK(ops[0].result == "OK");
  CHECK(ops[0].outcome == "ok");
  CHECK(ops[1].result == "\"v1\"");
  CHECK(ops[2].input == "\"a\"->\"b\"");
  CHECK(ops[2].outcome == "indeterminate");
  CHECK(ops[3].outcome == "pending");
  CHECK(ops[3].complete_ns == -1);

  RunResult result;
  result.violation("C1 linearizability: #1 c2 read \"k1\" [2.000us, 6.000us] ok -> \"v1\" is wrong");
  const Json json = embedded_json(keel::sim::timeline_html(timeline, result));
  const Json& op = json.at("ops").items.at(0);
  CHECK(op.items[3].text == "write");
  CHECK(op.items[4].text == "\"k1\"");
  CHECK(op.items[8].number == 1000);
  CHECK(op.items[9].number == 5000);
  // A violation that names an operation is placed at it.
  const Json& v = json.at("violations").items.at(0);
  CHECK(v.at("op").number == 1);
  CHECK(v.at("t_ns").number == 2000);
  CHECK(v.at("time_known").boolean);
}

TEST_CASE("timeline: faults end at the heal that lifts them, or at the run's end", "[sim][unit]") {
  Timeline t;
  auto at = [](int64_t ms) { return Instant::from_nanos(ms * 1'000'000); };
  t.fault("partition", {"n1"}, {"n2", "n3"}, "n1 | n2 n3", at(10), at(500), Timeline::FaultScope::kNetwork);
  t.fault("clog", {"n2"}, {"c1"}, "slow", at(20), at(30), Timeline::FaultScope::kNetwork);
  t.fault("disk_errors", {"n3"}, {}, "EIO", at(40), at(900), Timeline::FaultScope::kDisk);
  t.fault("slow_disk", {"n1"}, {}, "slow", at(50), at(5000), Timeline::FaultScope::kDisk);
  t.fault("reset", {"n1", "c2"}, {}, "reset", at(60), at(60), Timeline::FaultScope::kInstant);
  t.network_healed(at(100));  // lifts the partition early; the clog had ended
  t.disk_restored("n3", at(200));
  t.finish(at(1000), std::nullopt);
  const auto& f = t.faults();
  REQUIRE(f.size() == 5);
  CHECK(f[0].end_ns == at(100).ns());
  CHECK(f[1].end_ns == at(30).ns());
  CHECK(f[2].end_ns == at(200).ns());
  CHECK(f[3].end_ns == at(1000).ns());
  CHECK(f[4].end_ns == at(60).ns());
  for (const auto& fault : f) CHECK_FALSE(fault.open);
}

TEST_CASE("timeline: message arrows keep the newest kMessagesMax and the page says so", "[sim][unit]") {
  Timeline t;
  const size_t extra = 10;
  for (size_t i = 0; i < Timeline::kMessagesMax + extra; ++i) {
    const auto sent = Instant::from_nanos(static_cast<int64_t>(i) * 10);
    t.message("n1", "n2", sent, sent + Duration::nanos(5), 100, false);
  }
  const auto kept = t.messages();
  REQUIRE(kept.size() == Timeline::kMessagesMax);
  CHECK(t.messages_total() == Timeline::kMessagesMax + extra);
  CHECK(kept.front().sent_ns == static_cast<int64_t>(extra) * 10);
  CHECK(kept.back().sent_ns == static_cast<int64_t>(Timeline::kMessagesMax + extra - 1) * 10);
  t.finish(Instant::from_nanos(static_cast<int64_t>(Timeline::kMessagesMax + extra) * 10), std::nullopt);
  const Json json = embedded_json(keel::sim::timeline_html(t, RunResult()));
  CHECK(json.at("messages_capped").boolean);
  CHECK(json.at("messages").items.size() == Timeline::kMessagesMax);
}

TEST_CASE("timeline: text from the run cannot break out of the page's script or markup", "[sim][unit]") {
  Timeline t;
  t.lane("n1</script><b>", Timeline::Role::kNode);
  t.finish(Instant::from_nanos(1000), std::nullopt);
  RunResult result;
  result.violation("R1 </script><script>window.pwned=1</script> & <b>bold</b>");
  const std::string page = keel::sim::timeline_html(t, result);
  // Exactly the two script elements and the JSON blob close a script.
  size_t closes = 0;
  for (size_t i = page.find("</script>"); i != std::string::npos; i = page.find("</script>", i + 1)) ++closes;
  CHECK(closes == 3);
  CHECK(page.find("<b>bold</b>") == std::string::npos);
  CHECK(page.find("&lt;b&gt;bold&lt;/b&gt;") != std::string::npos);
  const Json json = embedded_json(page);
  CHECK(json.at("lanes").items.at(0).at("name").text == "n1</script><b>");
  CHECK(json.at("violations").items.at(0).at("text").text == result.violations[0]);
}

TEST_CASE("timeline: an unwritable path is an error, not a crash", "[sim][unit]") {
  Timeline t;
  t.finish(Instant::from_nanos(1), std::nullopt);
  const auto s = keel::sim::write_timeline_html(t, RunResult(), "/nonexistent-dir/x/run.html");
  CHECK(s.code() == keel::core::Code::kIoError);
}
