#include "sim/replay.h"

#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <vector>

#include "core/bytes.h"

namespace keel::sim {

namespace {

constexpr const char* kMagic = "keel-replay 1";
constexpr uint64_t kChecksumSeed = 0x6b65656c2d72706cull;  // "keel-rpl"
// A replay is a small file; anything larger is not one.
constexpr size_t kReplayBytesMax = 64 * 1024 * 1024;

std::string hex64(uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "%016" PRIx64, v);
  return buf;
}

}  // namespace

std::string violation_class(const std::string& violation) {
  const size_t colon = violation.find(':');
  return colon == std::string::npos ? violation : violation.substr(0, colon);
}

std::string write_replay(const Replay& replay) {
  const RunOptions& o = replay.options;
  WorkloadShape shape = o.shape.value_or(WorkloadShape{});
  if (!o.shape) shape.clients = o.clients;
  std::string out = std::string(kMagic) + "\n";
  out += "seed " + std::to_string(o.seed) + "\n";
  out += "workload " + o.workload + "\n";
  out += "nodes " + std::to_string(o.nodes) + "\n";
  out += "clients " + std::to_string(shape.clients) + "\n";
  out += "keys " + std::to_string(shape.keys) + "\n";
  out += "read_percent " + std::to_string(shape.read_percent) + "\n";
  out += "cas_percent " + std::to_string(shape.cas_percent) + "\n";
  out += "think_us " + std::to_string(shape.think_us) + "\n";
  out += "wander_percent " + std::to_string(shape.wander_percent) + "\n";
  out += "ops_max " + std::to_string(o.ops_max) + "\n";
  out += "fault_ns " + std::to_string(o.fault_window.ns()) + "\n";
  out += "liveness_ns " + std::to_string(o.liveness_window.ns()) + "\n";
  out += std::string("faults ") + (o.faults ? "on" : "off") + "\n";
  out += "bug " + (o.bug.empty() ? std::string("-") : o.bug) + "\n";
  out += "digest " + hex64(replay.digest) + "\n";
  out += "violation " + (replay.violation_class.empty() ? std::string("-") : replay.violation_class) + "\n";
  if (o.fault_plan) {
    for (const FaultEvent& e : *o.fault_plan) out += "fault " + e.to_text() + "\n";
  }
  out += "end " + hex64(core::checksum64(out, kChecksumSeed)) + "\n";
  return out;
}

core::Result<Replay> parse_replay(const std::string& text) {
  if (text.rfind(std::string(kMagic) + "\n", 0) != 0) {
    return core::invalid_argument("not a keel replay file (it must begin with '" + std::string(kMagic) + "')");
  }
  const size_t end_at = text.rfind("\nend ");
  if (end_at == std::string::npos) return core::invalid_argument("replay file is cut short: no 'end' line");
  const std::string body = text.substr(0, end_at + 1);
  std::string tail = text.substr(end_at + 5);
  if (!tail.empty() && tail.back() == '\n') tail.pop_back();
  const std::optional<uint64_t> recorded = tail.size() == 16 ? core::parse_u64(tail, 16) : std::nullopt;
  if (!recorded) return core::invalid_argument("replay file's 'end' line is damaged");
  if (*recorded != core::checksum64(body, kChecksumSeed)) {
    return core::invalid_argument("replay file is damaged: its checksum does not match its contents");
  }
  Replay r;
  r.options.fault_plan.emplace();
  WorkloadShape shape;
  std::map<std::string, std::string> seen;
  size_t line_no = 1;
  size_t pos = body.find('\n') + 1;
  while (pos < body.size()) {
    const size_t nl = body.find('\n', pos);
    const std::string line = body.substr(pos, nl - pos);
    pos = nl + 1;
    ++line_no;
    const size_t space = line.find(' ');
    const std::string key = line.substr(0, space);
    const std::string value = space == std::string::npos ? std::string() : line.substr(space + 1);
    const auto bad = [&](const std::string& why) {
      return core::invalid_argument("replay file line " + std::to_string(line_no) + " ('" + line + "'): " + why);
    };
    if (key == "fault") {
      auto e = FaultEvent::parse(value);
      if (!e.is_ok()) return bad(e.status().message());
      r.options.fault_plan->push_back(std::move(*e));
      continue;
    }
    if (!seen.emplace(key, value).second) return bad("repeated key");
    const std::optional<uint64_t> unsigned_value = value.empty() || value[0] == '-' ? std::nullopt : core::parse_u64(value);
    const std::optional<int64_t> signed_value = core::parse_i64(value);
    const uint64_t u = unsigned_value.value_or(0);
    const int64_t i = signed_value.value_or(0);
    if (key == "seed") {
      if (!unsigned_value) return bad("bad seed");
      r.options.seed = u;
    } else if (key == "workload") {
      if (make_scenario(value) == nullptr) return bad("unknown workload");
      r.options.workload = value;
    } else if (key == "nodes" || key == "clients" || key == "keys") {
      if (!unsigned_value || u < 1 || u > 64) return bad("out of range");
      (key == "nodes" ? r.options.nodes : key == "clients" ? shape.clients : shape.keys) = static_cast<int>(u);
    } else if (key == "read_percent" || key == "cas_percent" || key == "wander_percent") {
      if (!signed_value || i < -1 || i > 100) return bad("out of range");
      (key == "read_percent" ? shape.read_percent : key == "cas_percent" ? shape.cas_percent : shape.wander_percent) =
          static_cast<int>(i);
    } else if (key == "think_us") {
      if (!signed_value || i < 0) return bad("out of range");
      shape.think_us = i;
    } else if (key == "ops_max") {
      if (!unsigned_value) return bad("bad number");
      r.options.ops_max = u;
    } else if (key == "fault_ns" || key == "liveness_ns") {
      if (!signed_value || i < 0) return bad("bad duration");
      (key == "fault_ns" ? r.options.fault_window : r.options.liveness_window) = core::Duration::nanos(i);
    } else if (key == "faults") {
      if (value != "on" && value != "off") return bad("expected on or off");
      r.options.faults = value == "on";
    } else if (key == "bug") {
      r.options.bug = value == "-" ? std::string() : value;
    } else if (key == "digest") {
      const std::optional<uint64_t> digest = value.size() == 16 ? core::parse_u64(value, 16) : std::nullopt;
      if (!digest) return bad("bad digest");
      r.digest = *digest;
    } else if (key == "violation") {
      r.violation_class = value == "-" ? std::string() : value;
    } else {
      return bad("unknown key");
    }
  }
  for (const char* required : {"seed", "workload", "nodes", "fault_ns", "liveness_ns", "digest"}) {
    if (seen.count(required) == 0) return core::invalid_argument(std::string("replay file lacks '") + required + "'");
  }
  r.options.clients = shape.clients;
  r.options.shape = shape;
  r.options.shape_swarm = false;
  return r;
}

core::Status save_replay(const std::string& path, const Replay& replay) {
  FILE* f = std::fopen(path.c_str(), "w");
  if (f == nullptr) return core::io_error("cannot write " + path);
  const std::string text = write_replay(replay);
  const bool ok = std::fwrite(text.data(), 1, text.size(), f) == text.size();
  if (std::fclose(f) != 0 || !ok) return core::io_error("cannot write " + path);
  return core::Status::ok();
}

core::Result<Replay> load_replay(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "r");
  if (f == nullptr) return core::not_found("cannot read " + path);
  std::string text;
  char buf[65536];
  while (size_t n = std::fread(buf, 1, sizeof buf, f)) {
    text.append(buf, n);
    if (text.size() > kReplayBytesMax) {
      std::fclose(f);
      return core::invalid_argument(path + " is too large to be a replay file");
    }
  }
  std::fclose(f);
  auto r = parse_replay(text);
  if (!r.is_ok()) return core::invalid_argument(path + ": " + r.status().message());
  return r;
}

}  // namespace keel::sim
