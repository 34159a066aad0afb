#include "sim/timeline.h"

#include <algorithm>
#include <cerrno>
#include <cinttypes>
#include <cstdio>
#include <cstring>

#include "core/assert.h"
#include "core/trace.h"
#include "sim/run.h"

namespace keel::sim {

namespace {

const char* host_event_name(Timeline::HostEventKind kind) {
  switch (kind) {
    case Timeline::HostEventKind::kStart: return "start";
    case Timeline::HostEventKind::kCrash: return "crash";
    case Timeline::HostEventKind::kKill: return "kill";
    case Timeline::HostEventKind::kExit: return "exit";
    case Timeline::HostEventKind::kPause: return "pause";
    case Timeline::HostEventKind::kResume: return "resume";
  }
  return "?";
}

const char* scope_name(Timeline::FaultScope scope) {
  switch (scope) {
    case Timeline::FaultScope::kNetwork: return "network";
    case Timeline::FaultScope::kDisk: return "disk";
    case Timeline::FaultScope::kInstant: return "instant";
  }
  return "?";
}

// A JSON string that may sit inside a <script> element: besides the usual
// escapes, '<', '>' and '&' become \u escapes so that no "</script>" or
// "<!--" can appear in the blob.
void json_string(std::string& out, std::string_view text) {
  out += '"';
  size_t from = 0;
  for (size_t i = 0; i <= text.size(); ++i) {
    if (i < text.size() && text[i] != '<' && text[i] != '>' && text[i] != '&') continue;
    core::append_json_escaped(out, text.substr(from, i - from));
    if (i < text.size()) {
      char buf[8];
      std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(static_cast<unsigned char>(text[i])));
      out += buf;
    }
    from = i + 1;
  }
  out += '"';
}

void html_escaped(std::string& out, std::string_view text) {
  for (char c : text) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
}

std::string seconds_text(int64_t ns) {
  char buf[48];
  std::snprintf(buf, sizeof buf, "%.6f s", static_cast<double>(ns) / 1e9);
  return buf;
}

// The id of the first operation a violation's text names ("#12 c3 ..." as
// workloads::describe writes it), if any.
std::optional<uint64_t> operation_named(std::string_view text) {
  for (size_t i = text.find('#'); i != std::string_view::npos; i = text.find('#', i + 1)) {
    size_t j = i + 1;
    uint64_t id = 0;
    while (j < text.size() && text[j] >= '0' && text[j] <= '9' && j - i <= 18) id = id * 10 + (text[j++] - '0');
    if (j == i + 1) continue;
    if (j + 2 < text.size() && text[j] == ' ' && text[j + 1] == 'c' && text[j + 2] >= '0' && text[j + 2] <= '9') {
      return id;
    }
  }
  return std::nullopt;
}

struct ViolationPlace {
  int64_t t_ns;
  bool time_known;
  int64_t op;
};

// Where a violation belongs on the time axis: at the operation it names, at
// the moment an online checker stopped the run, or else at the end.
ViolationPlace place_violation(const Timeline& timeline, std::string_view text) {
  if (auto id = operation_named(text)) {
    for (const auto& op : timeline.operations()) {
      if (op.id == *id) return {op.invoke_ns, true, static_cast<int64_t>(op.id)};
    }
  }
  if (timeline.failure_ns()) return {*timeline.failure_ns(), true, -1};
  return {timeline.end_ns(), false, -1};
}

}  // namespace

uint32_t Timeline::lane(std::string_view name, Role role) {
  auto it = lane_by_name_.find(std::string(name));
  if (it != lane_by_name_.end()) return it->second;
  if (lanes_.size() >= kLanesMax) {
    ++dropped_;
    return static_cast<uint32_t>(lanes_.size() - 1);
  }
  const auto index = static_cast<uint32_t>(lanes_.size());
  lanes_.push_back(Lane{std::string(name), role});
  lane_by_name_.emplace(std::string(name), index);
  return index;
}

void Timeline::message(std::string_view from, std::string_view to, core::Instant sent, core::Instant arrived,
                       size_t bytes, bool lost) {
  Message m;
  m.from = lane(from);
  m.to = lane(to);
  m.sent_ns = sent.ns();
  m.arrived_ns = arrived.ns();
  m.bytes = static_cast<uint32_t>(std::min<size_t>(bytes, UINT32_MAX));
  m.lost = lost;
  ++messages_total_;
  if (messages_.size() < kMessagesMax) {
    messages_.push_back(m);
    return;
  }
  messages_[messages_next_] = m;
  messages_next_ = (messages_next_ + 1) % kMessagesMax;
}

std::vector<Timeline::Message> Timeline::messages() const {
  std::vector<Message> out;
  out.reserve(messages_.size());
  for (size_t i = 0; i < messages_.size(); ++i) out.push_back(messages_[(messages_next_ + i) % messages_.size()]);
  return out;
}

void Timeline::host_event(std::string_view host, HostEventKind kind, core::Instant at) {
  if (host_events_.size() >= kHostEventsMax) {
    ++dropped_;
    return;
  }
  host_events_.push_back(HostEvent{lane(host), at.ns(), kind});
}

void Timeline::fault(std::string kind, const std::vector<std::string>& hosts, const std::vector<std::string>& peers,
                     std::string detail, core::Instant begin, core::Instant planned_end, FaultScope scope) {
  if (faults_.size() >= kFaultsMax) {
    ++dropped_;
    return;
  }
  KEEL_ASSERT(planned_end >= begin);
  Fault f;
  f.kind = std::move(kind);
  for (const auto& h : hosts) f.lanes.push_back(lane(h));
  for (const auto& h : peers) f.peers.push_back(lane(h));
  f.detail = std::move(detail);
  f.begin_ns = begin.ns();
  f.end_ns = planned_end.ns();
  f.scope = scope;
  f.open = scope != FaultScope::kInstant;
  faults_.push_back(std::move(f));
}

void Timeline::close_faults(FaultScope scope, std::optional<uint32_t> lane, int64_t at_ns) {
  for (Fault& f : faults_) {
    if (!f.open || f.scope != scope) continue;
    if (lane && std::find(f.lanes.begin(), f.lanes.end(), *lane) == f.lanes.end()) continue;
    f.end_ns = std::max(f.begin_ns, std::min(f.end_ns, at_ns));
    f.open = false;
  }
}

void Timeline::network_healed(core::Instant at) { close_faults(FaultScope::kNetwork, std::nullopt, at.ns()); }

void Timeline::disk_restored(std::string_view host, core::Instant at) {
  close_faults(FaultScope::kDisk, lane(host), at.ns());
}

void Timeline::healed(core::Instant at) {
  heal_ns_ = at.ns();
  close_faults(FaultScope::kNetwork, std::nullopt, at.ns());
  close_faults(FaultScope::kDisk, std::nullopt, at.ns());
}

void Timeline::leader_change(std::string_view host, uint64_t term, bool leads, core::Instant at) {
  if (leader_changes_.size() >= kLeaderChangesMax) {
    ++dropped_;
    return;
  }
  leader_changes_.push_back(LeaderChange{lane(host, Role::kNode), at.ns(), term, leads});
}

void Timeline::add_operations(const workloads::History& history,
                              const std::function<std::string(workloads::ClientId)>& host_of) {
  using workloads::OpKind;
  using workloads::Outcome;
  for (const workloads::Operation& op : history.ops()) {
    if (operations_.size() >= kOperationsMax) {
      ++dropped_;
      continue;
    }
    Operation o;
    o.lane = lane(host_of(op.client));
    o.id = op.id;
    o.client = op.client.value();
    o.kind = std::string(workloads::op_kind_name(op.kind));
    o.key = workloads::quote_bytes(op.key);
    switch (op.kind) {
      case OpKind::kRead: break;
      case OpKind::kWrite:
      case OpKind::kAppend: o.input = workloads::quote_bytes(op.value); break;
      case OpKind::kCas: o.input = workloads::quote_bytes(op.expected) + "->" + workloads::quote_bytes(op.value); break;
      case OpKind::kIncr: o.input = std::to_string(op.delta); break;
    }
    o.outcome = std::string(workloads::outcome_name(op.outcome));
    if (op.outcome == Outcome::kOk) {
      switch (op.kind) {
        case OpKind::kRead: o.result = op.read_value ? workloads::quote_bytes(*op.read_value) : "nil"; break;
        case OpKind::kCas: o.result = op.cas_applied ? "applied" : "not applied"; break;
        case OpKind::kIncr: o.result = std::to_string(op.incr_result); break;
        case OpKind::kWrite:
        case OpKind::kAppend: o.result = "OK"; break;
      }
    } else {
      o.result = o.outcome;
    }
    o.invoke_ns = op.invoke_time.ns();
    o.complete_ns = op.outcome == Outcome::kPending ? -1 : op.complete_time.ns();
    operations_.push_back(std::move(o));
  }
}

void Timeline::finish(core::Instant end, std::optional<core::Instant> failure) {
  end_ns_ = end.ns();
  if (failure) failure_ns_ = failure->ns();
  for (Fault& f : faults_) {
    if (!f.open) continue;
    f.end_ns = std::max(f.begin_ns, std::min(f.end_ns, end_ns_));
    f.open = false;
  }
}

std::string timeline_json(const Timeline& timeline, const RunResult& result) {
  std::string out;
  const std::vector<Timeline::Message> messages = timeline.messages();
  out.reserve(4096 + messages.size() * 40 + timeline.operations().size() * 96);
  auto number = [&out](auto v) { out += std::to_string(v); };
  auto optional_number = [&out](const std::optional<int64_t>& v) {
    out += v ? std::to_string(*v) : std::string("null");
  };
  auto lane_list = [&](const std::vector<uint32_t>& lanes) {
    out += '[';
    for (size_t i = 0; i < lanes.size(); ++i) {
      if (i != 0) out += ',';
      number(lanes[i]);
    }
    out += ']';
  };

  out += "{\"version\":1,\"seed\":";
  number(result.seed);
  out += ",\"workload\":";
  json_string(out, result.workload);
  out += ",\"pass\":";
  out += result.pass ? "true" : "false";
  char digest_hex[32];
  std::snprintf(digest_hex, sizeof digest_hex, "%016" PRIx64, result.digest);
  out += ",\"digest\":";
  json_string(out, digest_hex);
  out += ",\"events\":";
  number(result.events);
  out += ",\"end_ns\":";
  number(timeline.end_ns());
  out += ",\"heal_ns\":";
  optional_number(timeline.heal_ns());
  out += ",\"failure_ns\":";
  optional_number(timeline.failure_ns());
  out += ",\"swarm\":";
  json_string(out, result.swarm);
  out += ",\"faults_count\":{";
  bool first = true;
  for (const auto& [kind, count] : result.faults) {
    if (!first) out += ',';
    first = false;
    json_string(out, kind);
    out += ':';
    number(count);
  }
  out += "},\"ops_count\":{\"ok\":";
  number(result.ops_ok);
  out += ",\"fail\":";
  number(result.ops_failed);
  out += ",\"indeterminate\":";
  number(result.ops_indeterminate);
  out += "}";

  out += ",\"lanes\":[";
  for (size_t i = 0; i < timeline.lanes().size(); ++i) {
    const auto& lane = timeline.lanes()[i];
    if (i != 0) out += ',';
    out += "{\"name\":";
    json_string(out, lane.name);
    out += ",\"role\":";
    out += lane.role == Timeline::Role::kNode ? "\"node\"}" : "\"client\"}";
  }
  out += "]";

  out += ",\"messages\":[";
  for (size_t i = 0; i < messages.size(); ++i) {
    const auto& m = messages[i];
    if (i != 0) out += ',';
    out += '[';
    number(m.from);
    out += ',';
    number(m.to);
    out += ',';
    number(m.sent_ns);
    out += ',';
    number(m.arrived_ns);
    out += ',';
    number(m.bytes);
    out += m.lost ? ",1]" : ",0]";
  }
  out += "],\"messages_total\":";
  number(timeline.messages_total());
  out += ",\"messages_capped\":";
  out += timeline.messages_total() > messages.size() ? "true" : "false";
  out += ",\"dropped\":";
  number(timeline.dropped());

  out += ",\"host_events\":[";
  for (size_t i = 0; i < timeline.host_events().size(); ++i) {
    const auto& e = timeline.host_events()[i];
    if (i != 0) out += ',';
    out += '[';
    number(e.lane);
    out += ',';
    number(e.at_ns);
    out += ",\"";
    out += host_event_name(e.kind);
    out += "\"]";
  }
  out += "]";

  out += ",\"faults\":[";
  for (size_t i = 0; i < timeline.faults().size(); ++i) {
    const auto& f = timeline.faults()[i];
    if (i != 0) out += ',';
    out += "{\"kind\":";
    json_string(out, f.kind);
    out += ",\"lanes\":";
    lane_list(f.lanes);
    out += ",\"peers\":";
    lane_list(f.peers);
    out += ",\"detail\":";
    json_string(out, f.detail);
    out += ",\"begin_ns\":";
    number(f.begin_ns);
    out += ",\"end_ns\":";
    number(f.end_ns);
    out += ",\"scope\":\"";
    out += scope_name(f.scope);
    out += "\"}";
  }
  out += "]";

  out += ",\"leaders\":[";
  for (size_t i = 0; i < timeline.leader_changes().size(); ++i) {
    const auto& l = timeline.leader_changes()[i];
    if (i != 0) out += ',';
    out += '[';
    number(l.lane);
    out += ',';
    number(l.at_ns);
    out += ',';
    number(l.term);
    out += l.leads ? ",1]" : ",0]";
  }
  out += "]";

  out += ",\"ops\":[";
  for (size_t i = 0; i < timeline.operations().size(); ++i) {
    const auto& o = timeline.operations()[i];
    if (i != 0) out += ',';
    out += '[';
    number(o.lane);
    out += ',';
    number(o.id);
    out += ',';
    number(o.client);
    for (const std::string* s : {&o.kind, &o.key, &o.input, &o.result, &o.outcome}) {
      out += ',';
      json_string(out, *s);
    }
    out += ',';
    number(o.invoke_ns);
    out += ',';
    number(o.complete_ns);
    out += ']';
  }
  out += "]";

  out += ",\"violations\":[";
  for (size_t i = 0; i < result.violations.size(); ++i) {
    const ViolationPlace place = place_violation(timeline, result.violations[i]);
    if (i != 0) out += ',';
    out += "{\"text\":";
    json_string(out, result.violations[i]);
    out += ",\"t_ns\":";
    number(place.t_ns);
    out += ",\"time_known\":";
    out += place.time_known ? "true" : "false";
    out += ",\"op\":";
    number(place.op);
    out += '}';
  }
  out += "]}";
  return out;
}

namespace {

// The page's style and script. The script reads the JSON blob, builds the
// lane labels and filters, and draws on a canvas (an SVG element per arrow
// would not stay responsive at 200,000 arrows).
constexpr const char* kStyle = R"CSS(
:root { --bg:#fbfbfd; --fg:#1d2330; --muted:#667085; --line:#d0d5dd; --lane-a:#ffffff; --lane-b:#f3f5f9; }
* { box-sizing: border-box; }
body { margin:0; font:13px/1.4 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif; color:var(--fg); background:var(--bg); }
header { padding:10px 16px 6px; border-bottom:1px solid var(--line); background:#fff; position:sticky; top:0; z-index:5; }
h1 { font-size:17px; margin:0 0 4px; font-weight:600; }
h1 .verdict { display:inline-block; padding:1px 8px; border-radius:4px; font-size:13px; vertical-align:2px; margin-left:6px; color:#fff; }
.verdict.pass { background:#1e8e3e; } .verdict.fail { background:#d93025; }
.summary { color:var(--muted); margin:1px 0; }
.summary b { color:var(--fg); font-weight:600; }
#violations { margin:6px 0; border:1px solid #f1b0ab; background:#fdf0ef; border-radius:6px; padding:4px 10px; max-height:150px; overflow:auto; }
#violations.none { border-color:#b7e1c1; background:#eef8f0; color:#1e6b33; }
#violations h2 { font-size:13px; margin:2px 0; color:#a50e0e; }
#violations ol { margin:0; padding-left:22px; }
#violations li { cursor:pointer; margin:1px 0; }
#violations li:hover { text-decoration:underline; }
#violations .when { color:var(--muted); margin-left:6px; white-space:nowrap; }
#script-error { color:#fff; background:#a50e0e; padding:4px 8px; border-radius:4px; white-space:pre-wrap; margin:4px 0; }
#script-error:empty { display:none; }
.controls { display:flex; flex-wrap:wrap; align-items:center; gap:6px 14px; margin-top:6px; }
.controls button { font:inherit; padding:1px 9px; border:1px solid var(--line); border-radius:4px; background:#fff; cursor:pointer; }
.controls button:hover { background:#eef2f7; }
.controls label { white-space:nowrap; cursor:pointer; }
.group { display:flex; align-items:center; gap:6px; }
.group-title { color:var(--muted); }
#lane-filter { display:flex; flex-wrap:wrap; gap:2px 10px; }
#view-range { color:var(--muted); font-variant-numeric:tabular-nums; }
#notice { color:#8a5a00; margin-top:3px; }
#notice:empty { display:none; }
#chart { display:flex; position:relative; margin:0 0 0 0; }
#lane-labels { width:110px; flex:none; position:relative; border-right:1px solid var(--line); background:#fff; }
.lane-label { position:absolute; left:0; right:0; padding:0 8px; display:flex; flex-direction:column; justify-content:center; border-bottom:1px solid #eceff3; overflow:hidden; }
.lane-label .name { font-weight:600; font-size:13px; }
.lane-label .role { color:var(--muted); font-size:11px; }
.lane-label.node .name { color:#1a56b0; }
#plot { flex:1; position:relative; min-width:0; }
#canvas { display:block; width:100%; cursor:grab; }
#canvas.dragging { cursor:grabbing; }
#tooltip { position:fixed; z-index:10; pointer-events:none; background:#1d2330; color:#fff; padding:6px 9px; border-radius:5px; font-size:12px; max-width:520px; box-shadow:0 2px 8px rgba(0,0,0,.25); white-space:pre-wrap; }
#tooltip[hidden] { display:none; }
#legend { display:flex; flex-wrap:wrap; gap:4px 14px; padding:8px 16px; color:var(--muted); border-top:1px solid var(--line); }
#legend .sw { display:inline-block; width:14px; height:10px; border-radius:2px; vertical-align:-1px; margin-right:4px; }
)CSS";

constexpr const char* kErrorHook = R"JS(
window.keelErrors = [];
window.onerror = function (message, source, line, column) {
  var text = 'script error: ' + message + ' (line ' + line + ':' + column + ')';
  window.keelErrors.push(text);
  var box = document.getElementById('script-error');
  if (box) box.textContent += text + '\n';
  if (document.body) document.body.dataset.error = '1';
  return false;
};
)JS";

constexpr const char* kScript = R"JS(
(function () {
'use strict';
var D = JSON.parse(document.getElementById('timeline-data').textContent);
var LANE_H = 46, AXIS_H = 26, PAD_R = 12;
var canvas = document.getElementById('canvas');
var ctx = canvas.getContext('2d');
var labels = document.getElementById('lane-labels');
var tooltip = document.getElementById('tooltip');
var rangeText = document.getElementById('view-range');
var endNs = Math.max(D.end_ns, 1);

// ---- data -------------------------------------------------------------
var lanes = D.lanes.map(function (l, i) { return { name: l.name, role: l.role, index: i, visible: true, y: 0 }; });
var msgs = D.messages.slice().sort(function (a, b) { return a[2] - b[2]; });
var maxLatency = 0;
msgs.forEach(function (m) { maxLatency = Math.max(maxLatency, m[3] - m[2]); });
var ops = D.ops.map(function (o) {
  return { lane: o[0], id: o[1], client: o[2], kind: o[3], key: o[4], input: o[5], result: o[6], outcome: o[7],
           invoke: o[8], complete: o[9] };
});
var opsByLane = lanes.map(function () { return []; });
ops.forEach(function (o) { if (opsByLane[o.lane]) opsByLane[o.lane].push(o); });
opsByLane.forEach(function (list) { list.sort(function (a, b) { return a.invoke - b.invoke; }); });
var opById = {};
ops.forEach(function (o) { opById[o.id] = o; });

// Host states as intervals: down from a crash, kill or exit to the next
// start; paused from a pause to the resume (or the host going down).
var states = [];
(function () {
  var byLane = lanes.map(function () { return []; });
  D.host_events.forEach(function (e) { if (byLane[e[0]]) byLane[e[0]].push(e); });
  byLane.forEach(function (events, lane) {
    events.sort(function (a, b) { return a[1] - b[1]; });
    var down = null, paused = null;
    events.forEach(function (e) {
      var t = e[1], kind = e[2];
      if (kind === 'start') {
        if (down) { states.push({ lane: lane, kind: 'down', why: down.why, begin: down.t, end: t }); down = null; }
        states.push({ lane: lane, kind: 'mark', why: 'start', begin: t, end: t });
      } else if (kind === 'pause') {
        paused = { t: t };
      } else if (kind === 'resume') {
        if (paused) { states.push({ lane: lane, kind: 'paused', why: 'pause', begin: paused.t, end: t }); paused = null; }
      } else {
        if (paused) { states.push({ lane: lane, kind: 'paused', why: 'pause', begin: paused.t, end: t }); paused = null; }
        if (!down) down = { t: t, why: kind };
      }
    });
    if (paused) states.push({ lane: lane, kind: 'paused', why: 'pause', begin: paused.t, end: endNs });
    if (down) states.push({ lane: lane, kind: 'down', why: down.why, begin: down.t, end: endNs });
  });
})();

// Leadership: from "became leader" to its step-down, the host going down,
// or the end.
var leaderships = [];
(function () {
  var changes = D.leaders.slice().sort(function (a, b) { return a[1] - b[1]; });
  var open = {};
  function downAfter(lane, t) {
    var best = endNs;
    states.forEach(function (s) { if (s.lane === lane && s.kind === 'down' && s.begin >= t && s.begin < best) best = s.begin; });
    return best;
  }
  changes.forEach(function (c) {
    var lane = c[0], t = c[1], term = c[2], leads = c[3] === 1;
    var cur = open[lane];
    if (cur) { cur.end = Math.min(t, downAfter(lane, cur.begin)); delete open[lane]; }
    if (leads) { cur = { lane: lane, term: term, begin: t, end: endNs }; open[lane] = cur; leaderships.push(cur); }
  });
  Object.keys(open).forEach(function (k) { var c = open[k]; c.end = downAfter(c.lane, c.begin); });
})();

var violations = D.violations.map(function (v, i) { return { index: i, text: v.text, t: v.t_ns, known: v.time_known, op: v.op }; });

// ---- view ---------------------------------------------------------------
var view = { t0: 0, t1: endNs * 1.02 };
var show = { messages: true, operations: true, faults: true, leaders: true };
var width = 800, height = 200, hover = null;

function plotWidth() { return Math.max(100, width - PAD_R); }
function x(t) { return (t - view.t0) / (view.t1 - view.t0) * plotWidth(); }
function tAt(px) { return view.t0 + px / plotWidth() * (view.t1 - view.t0); }
function laneY(i) { return lanes[i].y; }
function laneMid(i) { return lanes[i].y + LANE_H / 2; }
function visibleLane(i) { return lanes[i] !== undefined && lanes[i].visible; }

// A time or duration for tooltips: microsecond precision from 1 s up.
function fmt(ns) {
  var a = Math.abs(ns);
  if (a >= 1e9) return (ns / 1e9).toFixed(6) + ' s';
  if (a >= 1e6) return (ns / 1e6).toFixed(3) + ' ms';
  if (a >= 1e3) return (ns / 1e3).toFixed(1) + ' \u00b5s';
  return Math.round(ns) + ' ns';
}
// A short duration: trailing zeros dropped ("1.5 s", "200 ms").
function fmtSpan(ns) {
  return ns === 0 ? '0' : fmt(ns).replace(/\.(\d*?)0+ /, function (m, d) { return (d ? '.' + d : '') + ' '; });
}
// An axis label at multiples of `step`: as many decimals as the step needs,
// in one unit for the whole axis.
function axisLabel(t, step) {
  var unit = view.t1 >= 1e9 ? [1e9, 's'] : view.t1 >= 1e6 ? [1e6, 'ms'] : view.t1 >= 1e3 ? [1e3, '\u00b5s'] : [1, 'ns'];
  var decimals = Math.max(0, Math.min(9, -Math.floor(Math.log10(step / unit[0]) + 1e-9)));
  return t === 0 ? '0' : (t / unit[0]).toFixed(decimals) + ' ' + unit[1];
}

function layout() {
  // Lanes share the window's height (within bounds), so a small cluster
  // gets roomy lanes and a large one stays scannable.
  var shown = lanes.filter(function (l) { return l.visible; }).length;
  var top = document.getElementById('chart').getBoundingClientRect().top + window.scrollY;
  var room = window.innerHeight - top - document.getElementById('legend').offsetHeight - AXIS_H - 12;
  LANE_H = Math.max(40, Math.min(72, Math.floor(room / Math.max(shown, 1))));
  var y = AXIS_H;
  lanes.forEach(function (l) { if (l.visible) { l.y = y; y += LANE_H; } else { l.y = -1000; } });
  height = y + 4;
  width = document.getElementById('plot').clientWidth || 800;
  var dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(width * dpr);
  canvas.height = Math.round(height * dpr);
  canvas.style.height = height + 'px';
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  labels.style.height = height + 'px';
  lanes.forEach(function (l) {
    l.label.style.display = l.visible ? '' : 'none';
    l.label.style.top = l.y + 'px';
    l.label.style.height = LANE_H + 'px';
  });
}

// ---- drawing ------------------------------------------------------------
var FAULT_COLORS = { partition: '#e8590c', isolate: '#c2255c', one_way: '#f08c00', clog: '#ae3ec9',
                     reset: '#495057', disk_errors: '#7048e8', slow_disk: '#9c6644', clock_drift: '#0c8599',
                     bit_flip: '#e03131' };
var OUTCOME_COLORS = { ok: '#2f9e44', fail: '#e03131', indeterminate: '#f59f00', pending: '#868e96' };

function faultColor(kind) { return FAULT_COLORS[kind] || '#868e96'; }

function niceStep(span, px) {
  var target = span / Math.max(2, px / 110);
  var pow = Math.pow(10, Math.floor(Math.log10(target)));
  var steps = [1, 2, 5, 10];
  for (var i = 0; i < steps.length; i++) if (steps[i] * pow >= target) return steps[i] * pow;
  return 10 * pow;
}

function drawAxis() {
  var span = view.t1 - view.t0, step = niceStep(span, plotWidth());
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, AXIS_H);
  ctx.strokeStyle = '#d0d5dd';
  ctx.beginPath(); ctx.moveTo(0, AXIS_H - 0.5); ctx.lineTo(width, AXIS_H - 0.5); ctx.stroke();
  ctx.fillStyle = '#475467';
  ctx.font = '11px system-ui, sans-serif';
  ctx.textBaseline = 'middle';
  for (var t = Math.ceil(view.t0 / step) * step; t <= view.t1; t += step) {
    var px = Math.round(x(t)) + 0.5;
    ctx.strokeStyle = '#98a2b3';
    ctx.beginPath(); ctx.moveTo(px, AXIS_H - 6); ctx.lineTo(px, AXIS_H); ctx.stroke();
    ctx.strokeStyle = 'rgba(152,162,179,0.22)';
    ctx.beginPath(); ctx.moveTo(px, AXIS_H); ctx.lineTo(px, height); ctx.stroke();
    ctx.fillText(axisLabel(t, step), px + 3, AXIS_H / 2 - 1);
  }
}

function drawLanes() {
  var n = 0;
  lanes.forEach(function (l) {
    if (!l.visible) return;
    ctx.fillStyle = l.role === 'node' ? (n % 2 ? '#eef3fb' : '#f5f8fd') : (n % 2 ? '#f3f4f6' : '#fafafa');
    ctx.fillRect(0, l.y, width, LANE_H);
    ctx.strokeStyle = '#e4e7ec';
    ctx.beginPath(); ctx.moveTo(0, l.y + LANE_H - 0.5); ctx.lineTo(width, l.y + LANE_H - 0.5); ctx.stroke();
    n++;
  });
  // The run's end: nothing happens past it.
  var xe = x(D.end_ns);
  if (xe < width) { ctx.fillStyle = 'rgba(16,24,40,0.06)'; ctx.fillRect(Math.max(0, xe), AXIS_H, width - xe, height - AXIS_H); }
}

function span(begin, end) {
  var a = x(begin), b = x(end);
  if (b < 0 || a > width) return null;
  a = Math.max(-2, a); b = Math.min(width + 2, b);
  return [a, Math.max(b - a, 1.5)];
}

function hatch(color) {
  var p = document.createElement('canvas');
  p.width = p.height = 8;
  var c = p.getContext('2d');
  c.strokeStyle = color; c.lineWidth = 2;
  c.beginPath(); c.moveTo(0, 8); c.lineTo(8, 0); c.stroke();
  return ctx.createPattern(p, 'repeat');
}
var downPattern = null, pausePattern = null;

function drawStates() {
  downPattern = downPattern || hatch('rgba(52,64,84,0.45)');
  pausePattern = pausePattern || hatch('rgba(245,159,0,0.55)');
  states.forEach(function (s) {
    if (!visibleLane(s.lane)) return;
    var y = laneY(s.lane);
    if (s.kind === 'mark') {
      var px = x(s.begin);
      if (px < -5 || px > width + 5) return;
      ctx.fillStyle = '#2f9e44';
      ctx.beginPath(); ctx.moveTo(px, y + 3); ctx.lineTo(px + 6, y + 3); ctx.lineTo(px, y + 11); ctx.closePath(); ctx.fill();
      return;
    }
    var r = span(s.begin, s.end);
    if (!r) return;
    ctx.fillStyle = s.kind === 'down' ? 'rgba(52,64,84,0.16)' : 'rgba(245,159,0,0.12)';
    ctx.fillRect(r[0], y + 1, r[1], LANE_H - 2);
    ctx.fillStyle = s.kind === 'down' ? downPattern : pausePattern;
    ctx.fillRect(r[0], y + 1, r[1], LANE_H - 2);
    ctx.fillStyle = s.kind === 'down' ? '#344054' : '#b25e00';
    ctx.fillRect(r[0], y + 1, 2, LANE_H - 2);
    if (r[1] > 46) {
      ctx.font = 'bold 11px system-ui, sans-serif';
      ctx.fillText(s.kind === 'down' ? s.why : 'paused', Math.max(r[0], 0) + 5, y + LANE_H - 9);
    }
  });
}

function drawFaults() {
  D.faults.forEach(function (f) {
    var color = faultColor(f.kind);
    if (f.scope === 'instant') {
      var px = x(f.begin_ns);
      if (px < -5 || px > width + 5) return;
      f.lanes.concat(f.peers).forEach(function (lane) {
        if (!visibleLane(lane)) return;
        var y = laneY(lane);
        ctx.strokeStyle = color; ctx.lineWidth = 2;
        ctx.beginPath(); ctx.moveTo(px - 4, y + 4); ctx.lineTo(px + 4, y + 12); ctx.moveTo(px + 4, y + 4); ctx.lineTo(px - 4, y + 12); ctx.stroke();
        ctx.lineWidth = 1;
      });
      return;
    }
    var r = span(f.begin_ns, f.end_ns);
    if (!r) return;
    if (f.scope === 'disk') {
      f.lanes.forEach(function (lane) {
        if (!visibleLane(lane)) return;
        ctx.fillStyle = color;
        ctx.globalAlpha = 0.75;
        ctx.fillRect(r[0], laneY(lane) + LANE_H - 7, r[1], 5);
        ctx.globalAlpha = 1;
      });
      return;
    }
    f.lanes.forEach(function (lane) {
      if (!visibleLane(lane)) return;
      var y = laneY(lane);
      ctx.fillStyle = color; ctx.globalAlpha = 0.20; ctx.fillRect(r[0], y + 1, r[1], LANE_H - 2);
      ctx.globalAlpha = 0.9; ctx.fillRect(r[0], y + 1, r[1], 3);
      ctx.globalAlpha = 1;
      if (r[1] > 60) {
        ctx.fillStyle = color;
        ctx.font = 'bold 10px system-ui, sans-serif';
        ctx.fillText(f.kind.replace('_', '-'), Math.max(r[0], 0) + 4, y + 11);
      }
    });
    f.peers.forEach(function (lane) {
      if (!visibleLane(lane)) return;
      ctx.fillStyle = color; ctx.globalAlpha = 0.08; ctx.fillRect(r[0], laneY(lane) + 1, r[1], LANE_H - 2);
      ctx.globalAlpha = 0.6; ctx.fillRect(r[0], laneY(lane) + 1, r[1], 1);
      ctx.globalAlpha = 1;
    });
  });
}

function drawLeaders() {
  // Leaderships are in time order; a label that would overlap the previous
  // one on its lane is left out (the tooltip still has it).
  var labelEnd = {};
  leaderships.forEach(function (l) {
    if (!visibleLane(l.lane)) return;
    var y = laneY(l.lane);
    var r = span(l.begin, l.end);
    if (r) {
      // Above the disk-fault strip at the lane's bottom.
      ctx.fillStyle = 'rgba(26,86,176,0.6)';
      ctx.fillRect(r[0], y + LANE_H - 10, r[1], 2);
    }
    var px = x(l.begin);
    if (px < -30 || px > width + 5) return;
    ctx.fillStyle = '#1a56b0';
    ctx.beginPath();
    ctx.moveTo(px, y + 14); ctx.lineTo(px - 5, y + 22); ctx.lineTo(px, y + 30); ctx.lineTo(px + 5, y + 22); ctx.closePath();
    ctx.fill();
    ctx.font = 'bold 10px system-ui, sans-serif';
    var label = 'L t' + l.term;
    if (labelEnd[l.lane] !== undefined && px + 7 < labelEnd[l.lane] + 3) return;
    ctx.fillText(label, px + 7, y + 22);
    labelEnd[l.lane] = px + 7 + ctx.measureText(label).width;
  });
}

function firstMessageFrom(t) {
  var lo = 0, hi = msgs.length;
  while (lo < hi) { var mid = (lo + hi) >> 1; if (msgs[mid][2] < t) lo = mid + 1; else hi = mid; }
  return lo;
}

function visibleMessages(fn) {
  var start = firstMessageFrom(view.t0 - maxLatency);
  for (var i = start; i < msgs.length; i++) {
    var m = msgs[i];
    if (m[2] > view.t1) break;
    if (m[3] < view.t0 || !visibleLane(m[0]) || !visibleLane(m[1])) continue;
    fn(m);
  }
}

// Beyond this many arrows per pixel of width, single arrows blur into a
// smear: traffic is drawn per lane as a histogram of messages sent instead.
var TRAFFIC_DENSITY = 4;
function trafficMode(count) { return count / plotWidth() > TRAFFIC_DENSITY; }

function drawTraffic() {
  var binPx = 2, bins = Math.ceil(width / binPx);
  var sent = lanes.map(function () { return new Float64Array(bins); });
  visibleMessages(function (m) {
    var b = Math.floor(x(m[2]) / binPx);
    if (b >= 0 && b < bins) sent[m[0]][b]++;
  });
  var max = 1;
  sent.forEach(function (a) { for (var b = 0; b < bins; b++) if (a[b] > max) max = a[b]; });
  lanes.forEach(function (l, i) {
    if (!l.visible) return;
    var mid = laneMid(i), half = (LANE_H - 12) / 2;
    ctx.fillStyle = l.role === 'node' ? '#3b5bdb' : '#0b7285';
    ctx.globalAlpha = 0.35;
    for (var b = 0; b < bins; b++) {
      if (sent[i][b] === 0) continue;
      var h = Math.max(1, Math.sqrt(sent[i][b] / max) * half);
      ctx.fillRect(b * binPx, mid - h, binPx, 2 * h);
    }
  });
  ctx.globalAlpha = 1;
}

function countMessages() {
  var count = 0;
  visibleMessages(function () { count++; });
  return count;
}

// The delivered messages go under the faults and operations, the lost ones
// over them. The denser the arrows, the fainter each: a zoomed-out view
// shows where traffic is, a zoomed-in one each message.
function drawMessages(lost, count) {
  var density = count / plotWidth();
  var alpha = Math.min(0.6, Math.max(0.03, 0.6 / Math.max(density, 0.01)));
  var arrows = count < 3000;
  ctx.lineWidth = 1;
  var groups = { node: [], client: [], lost: [] };
  visibleMessages(function (m) {
    if (m[5]) { if (lost) groups.lost.push(m); }
    else if (lost) return;
    else if (lanes[m[0]].role === 'node' && lanes[m[1]].role === 'node') groups.node.push(m);
    else groups.client.push(m);
  });
  [['node', '#3b5bdb'], ['client', '#0b7285'], ['lost', '#e03131']].forEach(function (g) {
    var list = groups[g[0]];
    if (list.length === 0) return;
    ctx.strokeStyle = g[1];
    ctx.fillStyle = g[1];
    ctx.globalAlpha = g[0] === 'lost' ? Math.max(alpha, 0.6) : alpha;
    ctx.beginPath();
    list.forEach(function (m) {
      var x0 = x(m[2]), y0 = laneMid(m[0]), x1 = x(m[3]), y1 = laneMid(m[1]);
      ctx.moveTo(x0, y0); ctx.lineTo(x1, y1);
    });
    ctx.stroke();
    if (arrows) {
      ctx.beginPath();
      list.forEach(function (m) {
        var x0 = x(m[2]), y0 = laneMid(m[0]), x1 = x(m[3]), y1 = laneMid(m[1]);
        var dx = x1 - x0, dy = y1 - y0, len = Math.sqrt(dx * dx + dy * dy);
        if (len < 10) return;
        var ux = dx / len, uy = dy / len;
        ctx.moveTo(x1, y1);
        ctx.lineTo(x1 - 7 * ux + 3 * uy, y1 - 7 * uy - 3 * ux);
        ctx.lineTo(x1 - 7 * ux - 3 * uy, y1 - 7 * uy + 3 * ux);
        ctx.closePath();
      });
      ctx.fill();
    }
    ctx.globalAlpha = 1;
  });
}

function drawOps() {
  lanes.forEach(function (l, lane) {
    if (!l.visible) return;
    var list = opsByLane[lane];
    var y = l.y + LANE_H / 2 - 7;
    list.forEach(function (o) {
      var end = o.complete < 0 ? endNs : o.complete;
      var r = span(o.invoke, end);
      if (!r) return;
      var color = OUTCOME_COLORS[o.outcome] || '#868e96';
      ctx.fillStyle = color;
      ctx.globalAlpha = 0.85;
      ctx.fillRect(r[0], y, Math.max(r[1] - 0.5, 1), 14);
      ctx.globalAlpha = 1;
      if (o.outcome !== 'ok' && r[1] > 3) {
        ctx.strokeStyle = '#fff';
        ctx.strokeRect(r[0] + 0.5, y + 0.5, r[1] - 1.5, 13);
      }
      if (r[1] > 70) {
        ctx.fillStyle = '#fff';
        ctx.font = '10px system-ui, sans-serif';
        ctx.save();
        ctx.beginPath(); ctx.rect(r[0], y, r[1], 14); ctx.clip();
        ctx.fillText(o.kind + ' ' + o.key + (o.input ? ' ' + o.input : '') + ' \u2192 ' + o.result, Math.max(r[0], 0) + 3, y + 7.5);
        ctx.restore();
      }
    });
  });
}

function drawMarkers() {
  if (D.heal_ns !== null) {
    var hx = x(D.heal_ns);
    if (hx >= 0 && hx <= width) {
      ctx.strokeStyle = '#1e8e3e'; ctx.setLineDash([5, 4]);
      ctx.beginPath(); ctx.moveTo(hx, AXIS_H); ctx.lineTo(hx, height); ctx.stroke(); ctx.setLineDash([]);
      ctx.fillStyle = '#1e8e3e'; ctx.font = 'bold 10px system-ui, sans-serif';
      ctx.fillText('heal', hx + 3, AXIS_H + 8);
    }
  }
  // Violations at one moment share a line and a label.
  var byTime = {};
  violations.forEach(function (v) { (byTime[v.t] = byTime[v.t] || []).push(v); });
  Object.keys(byTime).forEach(function (key, row) {
    var group = byTime[key], v = group[0];
    var vx = x(v.t);
    if (vx < -2 || vx > width + 2) return;
    var selected = group.some(function (g) { return g.index === selectedViolation; });
    ctx.strokeStyle = '#d93025'; ctx.lineWidth = selected ? 3 : 2;
    if (!v.known) ctx.setLineDash([3, 3]);
    ctx.beginPath(); ctx.moveTo(vx, AXIS_H); ctx.lineTo(vx, height); ctx.stroke();
    ctx.setLineDash([]); ctx.lineWidth = 1;
    var label = '\u26a0 ' + (group.length === 1 ? 'violation ' + v.index
                                                 : 'violations ' + v.index + '\u2013' + group[group.length - 1].index);
    if (!v.known) label += ' (time unknown)';
    ctx.font = 'bold 11px system-ui, sans-serif';
    var w = ctx.measureText(label).width;
    var lx = vx + 4 + w > width ? vx - 6 - w : vx + 4, ly = AXIS_H + 10 + 14 * (row % 3);
    ctx.fillStyle = 'rgba(255,255,255,0.85)';
    ctx.fillRect(lx - 2, ly - 7, w + 4, 14);
    ctx.fillStyle = '#d93025';
    ctx.fillText(label, lx, ly);
  });
  violations.forEach(function (v) {
    if (v.op >= 0 && opById[v.op] && visibleLane(opById[v.op].lane)) {
      var o = opById[v.op], r = span(o.invoke, o.complete < 0 ? endNs : o.complete);
      if (r) { ctx.strokeStyle = '#d93025'; ctx.lineWidth = 2; ctx.strokeRect(r[0] - 2, laneMid(o.lane) - 10, r[1] + 4, 20); ctx.lineWidth = 1; }
    }
  });
}

var selectedViolation = -1;
var drawn = { messages: 0 };

function draw() {
  ctx.clearRect(0, 0, width, height);
  drawn.messages = show.messages ? countMessages() : 0;
  drawLanes();
  drawAxis();
  if (show.messages) {
    if (trafficMode(drawn.messages)) drawTraffic(); else drawMessages(false, drawn.messages);
  }
  drawStates();
  if (show.faults) drawFaults();
  if (show.leaders) drawLeaders();
  if (show.messages) drawMessages(true, drawn.messages);
  if (show.operations) drawOps();
  drawMarkers();
  showRange(drawn.messages);
}

// The view's range and, if messages are shown, how many arrows are in it
// (counted here unless `count` is given).
function showRange(count) {
  if (show.messages && count === undefined) count = countMessages();
  rangeText.textContent = 'view ' + fmt(view.t0) + ' \u2013 ' + fmt(view.t1) + ' (' + fmtSpan(view.t1 - view.t0) + ')' +
      (!show.messages ? '' : ', ' + count.toLocaleString('en') + ' messages' +
                             (trafficMode(count) ? ' as traffic per lane (zoom in for arrows)' : ' as arrows'));
}

// The view is kept in the address (#view=<from s>-<to s>), so a zoomed-in
// page can be reloaded or shared as it is.
var hashTimer = null;
function saveView() {
  if (hashTimer !== null) window.clearTimeout(hashTimer);
  hashTimer = window.setTimeout(function () {
    hashTimer = null;
    try {
      window.history.replaceState(null, '', '#view=' + (view.t0 / 1e9).toFixed(9) + '-' + (view.t1 / 1e9).toFixed(9));
    } catch (e) { /* some browsers refuse for file: pages; the view just is not kept */ }
  }, 400);
}
function loadView() {
  var m = /view=([0-9.]+)-([0-9.]+)/.exec(window.location.hash);
  if (!m) return;
  var t0 = Number(m[1]) * 1e9, t1 = Number(m[2]) * 1e9;
  if (t1 > t0) { view.t0 = t0; view.t1 = t1; clampView(); }
}

var pending = false;
// Draws at the next frame. The controls' state (the view range) shows at
// once; a timer stands in for a frame that does not come (a throttled tab,
// a headless browser on virtual time).
function redraw() {
  showRange();
  if (pending) return;
  pending = true;
  var run = function () {
    if (!pending) return;
    pending = false;
    draw();
    saveView();
  };
  window.requestAnimationFrame(run);
  window.setTimeout(run, 100);
}

// ---- interaction ----------------------------------------------------------
function clampView() {
  var span = view.t1 - view.t0, full = endNs * 1.02;
  span = Math.min(Math.max(span, 1000), full);
  if (view.t0 < 0) view.t0 = 0;
  if (view.t0 + span > full) view.t0 = full - span;
  view.t1 = view.t0 + span;
}

function zoom(factor, center) {
  if (center === undefined) center = (view.t0 + view.t1) / 2;
  view.t0 = center - (center - view.t0) * factor;
  view.t1 = center + (view.t1 - center) * factor;
  clampView();
  redraw();
}

function focusOn(t, spanNs) {
  view.t0 = t - spanNs / 2; view.t1 = t + spanNs / 2;
  clampView();
  redraw();
}

document.getElementById('zoom-in').addEventListener('click', function () { zoom(0.5); });
document.getElementById('zoom-out').addEventListener('click', function () { zoom(2); });
document.getElementById('zoom-fit').addEventListener('click', function () { view.t0 = 0; view.t1 = endNs * 1.02; redraw(); });
canvas.addEventListener('wheel', function (e) {
  e.preventDefault();
  var rect = canvas.getBoundingClientRect();
  if (e.shiftKey || Math.abs(e.deltaX) > Math.abs(e.deltaY)) {
    var d = (e.shiftKey ? e.deltaY : e.deltaX) / plotWidth() * (view.t1 - view.t0);
    view.t0 += d; view.t1 += d; clampView(); redraw();
    return;
  }
  zoom(Math.exp(e.deltaY * 0.0025), tAt(e.clientX - rect.left));
}, { passive: false });
document.addEventListener('keydown', function (e) {
  if (e.target && e.target.tagName === 'INPUT' && e.target.type === 'text') return;
  if (e.key === '+' || e.key === '=') zoom(0.5);
  else if (e.key === '-') zoom(2);
});

var drag = null;
canvas.addEventListener('mousedown', function (e) {
  drag = { x: e.clientX, t0: view.t0, t1: view.t1 };
  canvas.classList.add('dragging');
});
window.addEventListener('mouseup', function () { drag = null; canvas.classList.remove('dragging'); });
window.addEventListener('mousemove', function (e) {
  if (drag) {
    var d = (drag.x - e.clientX) / plotWidth() * (drag.t1 - drag.t0);
    view.t0 = drag.t0 + d; view.t1 = drag.t1 + d; clampView(); redraw();
    tooltip.hidden = true;
    return;
  }
  if (e.target !== canvas) { tooltip.hidden = true; return; }
  var rect = canvas.getBoundingClientRect();
  var text = hitTest(e.clientX - rect.left, e.clientY - rect.top);
  if (!text) { tooltip.hidden = true; return; }
  tooltip.textContent = text;
  tooltip.hidden = false;
  var tx = e.clientX + 14, ty = e.clientY + 14;
  if (tx + tooltip.offsetWidth > window.innerWidth - 4) tx = e.clientX - tooltip.offsetWidth - 10;
  if (ty + tooltip.offsetHeight > window.innerHeight - 4) ty = e.clientY - tooltip.offsetHeight - 10;
  tooltip.style.left = tx + 'px';
  tooltip.style.top = ty + 'px';
});
canvas.addEventListener('mouseleave', function () { tooltip.hidden = true; });

function laneAt(py) {
  for (var i = 0; i < lanes.length; i++) if (lanes[i].visible && py >= lanes[i].y && py < lanes[i].y + LANE_H) return i;
  return -1;
}

function segmentDistance(px, py, x0, y0, x1, y1) {
  var dx = x1 - x0, dy = y1 - y0, len2 = dx * dx + dy * dy;
  var k = len2 > 0 ? Math.max(0, Math.min(1, ((px - x0) * dx + (py - y0) * dy) / len2)) : 0;
  var cx = x0 + k * dx - px, cy = y0 + k * dy - py;
  return Math.sqrt(cx * cx + cy * cy);
}

function hitTest(px, py) {
  var lane = laneAt(py);
  var t = tAt(px), slack = 4 / plotWidth() * (view.t1 - view.t0);
  var lines = [];
  for (var vi = 0; vi < violations.length; vi++) {
    if (Math.abs(x(violations[vi].t) - px) <= 4) lines.push('VIOLATION ' + vi + (violations[vi].known ? ' at ' : ' (time unknown; end of run) ') + fmt(violations[vi].t) + '\n' + violations[vi].text);
  }
  if (lane >= 0) {
    var name = lanes[lane].name;
    var mid = laneMid(lane);
    if (show.operations && Math.abs(py - mid) <= 9) {
      opsByLane[lane].forEach(function (o) {
        var end = o.complete < 0 ? endNs : o.complete;
        if (o.invoke - slack <= t && t <= end + slack) {
          lines.push('op #' + o.id + ' on ' + name + ' (client ' + o.client + '): ' + o.kind + ' ' + o.key + (o.input ? ' ' + o.input : '') +
                     '\nresult: ' + o.result + '   outcome: ' + o.outcome +
                     '\ninvoked ' + fmt(o.invoke) + ', ' + (o.complete < 0 ? 'never completed' : 'completed ' + fmt(o.complete) + ' (took ' + fmt(o.complete - o.invoke) + ')'));
        }
      });
    }
    if (show.leaders) {
      leaderships.forEach(function (l) {
        if (l.lane === lane && Math.abs(x(l.begin) - px) <= 6) lines.push(name + ' became leader of term ' + l.term + ' at ' + fmt(l.begin) + (l.end < endNs ? ', led until ' + fmt(l.end) : ''));
      });
    }
    states.forEach(function (s) {
      if (s.lane !== lane) return;
      if (s.kind === 'mark') { if (Math.abs(x(s.begin) - px) <= 5 && py - lanes[lane].y < 14) lines.push(name + ' started at ' + fmt(s.begin)); return; }
      if (s.begin <= t && t <= s.end) lines.push(name + ' ' + (s.kind === 'down' ? 'down (' + s.why + ')' : 'paused') + ' ' + fmt(s.begin) + ' \u2013 ' + fmt(s.end));
    });
    if (show.faults) {
      D.faults.forEach(function (f) {
        var on = f.lanes.indexOf(lane) >= 0 || f.peers.indexOf(lane) >= 0;
        if (!on) return;
        var inside = f.scope === 'instant' ? Math.abs(x(f.begin_ns) - px) <= 5 : f.begin_ns - slack <= t && t <= f.end_ns + slack;
        if (inside) lines.push('fault ' + f.kind + ': ' + f.detail + '\n  ' + fmt(f.begin_ns) + (f.scope === 'instant' ? '' : ' \u2013 ' + fmt(f.end_ns) + ' (' + fmt(f.end_ns - f.begin_ns) + ')'));
      });
    }
  }
  // In the traffic view no single arrow can be pointed at.
  if (show.messages && lines.length < 3 && !trafficMode(drawn.messages)) {
    var best = null, bestD = 4;
    visibleMessages(function (m) {
      var d = segmentDistance(px, py, x(m[2]), laneMid(m[0]), x(m[3]), laneMid(m[1]));
      if (d < bestD) { bestD = d; best = m; }
    });
    if (best) {
      lines.push('message ' + lanes[best[0]].name + ' \u2192 ' + lanes[best[1]].name + ', ' + best[4] + ' bytes' + (best[5] ? ', LOST (broken connection or partition)' : '') +
                 '\n  sent ' + fmt(best[2]) + ', ' + (best[5] ? 'dropped ' : 'arrived ') + fmt(best[3]) + ' (' + fmt(best[3] - best[2]) + ')');
    }
  }
  if (lines.length === 0) return null;
  return 't = ' + fmt(t) + (lane >= 0 ? '   lane ' + lanes[lane].name : '') + '\n' + lines.slice(0, 8).join('\n');
}

// ---- controls ---------------------------------------------------------------
['messages', 'operations', 'faults', 'leaders'].forEach(function (what) {
  var box = document.getElementById('show-' + what);
  box.checked = show[what];
  box.addEventListener('change', function () { show[what] = box.checked; redraw(); });
});

var laneFilter = document.getElementById('lane-filter');
lanes.forEach(function (l) {
  var label = document.createElement('div');
  label.className = 'lane-label ' + l.role;
  label.dataset.lane = l.name;
  label.id = 'lane-' + l.name;
  var n = document.createElement('span'); n.className = 'name'; n.textContent = l.name;
  var r = document.createElement('span'); r.className = 'role'; r.textContent = l.role;
  label.appendChild(n); label.appendChild(r);
  labels.appendChild(label);
  l.label = label;

  var item = document.createElement('label');
  var box = document.createElement('input');
  box.type = 'checkbox'; box.checked = true; box.className = 'lane-toggle'; box.dataset.lane = l.name;
  box.addEventListener('change', function () { l.visible = box.checked; layout(); redraw(); });
  item.appendChild(box);
  item.appendChild(document.createTextNode(' ' + l.name));
  laneFilter.appendChild(item);
});

Array.prototype.forEach.call(document.querySelectorAll('#violations li[data-index]'), function (li) {
  li.addEventListener('click', function () {
    var v = violations[Number(li.dataset.index)];
    selectedViolation = v.index;
    focusOn(v.t, Math.min(endNs, 400e6));
  });
});

if (D.messages_capped) {
  var first = msgs.length ? msgs[0][2] : 0;
  document.getElementById('notice').textContent = 'Message arrows capped: the page holds the last ' + msgs.length.toLocaleString('en') +
      ' of ' + D.messages_total.toLocaleString('en') + ' messages; none are drawn before ' + fmt(first) + '.';
}

window.addEventListener('resize', function () { layout(); redraw(); });
loadView();
layout();
draw();
document.body.dataset.ready = '1';
})();
)JS";

void append_violations(std::string& out, const Timeline& timeline, const RunResult& result) {
  if (result.violations.empty()) {
    out += "<div id=\"violations\" class=\"none\">No violations: every checker passed.</div>\n";
    return;
  }
  out += "<div id=\"violations\"><h2>" + std::to_string(result.violations.size()) +
         (result.violations.size() == 1 ? " violation" : " violations") +
         " (click one to jump to it on the timeline)</h2><ol>\n";
  for (size_t i = 0; i < result.violations.size(); ++i) {
    const ViolationPlace place = place_violation(timeline, result.violations[i]);
    out += "<li class=\"violation\" id=\"violation-" + std::to_string(i) + "\" data-index=\"" + std::to_string(i) +
           "\" data-t-ns=\"" + std::to_string(place.t_ns) + "\">";
    // The first violation is also reachable as #violation (one id per element,
    // so it is the text inside the first item).
    out += i == 0 ? "<span id=\"violation\">" : "<span>";
    html_escaped(out, result.violations[i]);
    out += "</span><span class=\"when\">";
    out += place.time_known ? "at " + seconds_text(place.t_ns) : "time unknown (shown at the end)";
    out += "</span></li>\n";
  }
  out += "</ol></div>\n";
}

}  // namespace

std::string timeline_html(const Timeline& timeline, const RunResult& result) {
  const std::string json = timeline_json(timeline, result);
  std::string out;
  out.reserve(json.size() + 64 * 1024);
  char digest_hex[32];
  std::snprintf(digest_hex, sizeof digest_hex, "%016" PRIx64, result.digest);

  out += "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n";
  out += "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>keel-sim timeline: seed ";
  out += std::to_string(result.seed) + " ";
  html_escaped(out, result.workload);
  out += result.pass ? " PASS" : " FAIL";
  out += "</title>\n<style>";
  out += kStyle;
  out += "</style>\n<script>";
  out += kErrorHook;
  out += "</script>\n</head>\n<body>\n<header>\n";
  out += "<h1>keel-sim timeline &mdash; seed " + std::to_string(result.seed) + ", workload ";
  html_escaped(out, result.workload);
  out += result.pass ? " <span class=\"verdict pass\">PASS</span>" : " <span class=\"verdict fail\">FAIL</span>";
  out += "</h1>\n<div class=\"summary\">digest <b>";
  out += digest_hex;
  out += "</b> &middot; <b>" + std::to_string(result.events) + "</b> events &middot; <b>" +
         seconds_text(timeline.end_ns()) + "</b> simulated &middot; ops ok <b>" + std::to_string(result.ops_ok) +
         "</b> fail <b>" + std::to_string(result.ops_failed) + "</b> indeterminate <b>" +
         std::to_string(result.ops_indeterminate) + "</b> &middot; " + std::to_string(timeline.messages_total()) +
         " messages</div>\n<div class=\"summary\">swarm: ";
  html_escaped(out, result.swarm);
  out += " &middot; faults injected: ";
  if (result.faults.empty()) out += "none";
  for (const auto& [kind, count] : result.faults) {
    html_escaped(out, kind);
    out += "=" + std::to_string(count) + " ";
  }
  out += "</div>\n";
  append_violations(out, timeline, result);
  out += "<div id=\"script-error\"></div>\n";
  out += R"HTML(<div class="controls">
<span class="group"><span class="group-title">zoom</span><button id="zoom-in" title="zoom in (+, mouse wheel)">+</button><button id="zoom-out" title="zoom out (-)">&minus;</button><button id="zoom-fit" title="the whole run">fit</button></span>
<span class="group"><span class="group-title">show</span>
<label><input type="checkbox" id="show-messages" checked> messages</label>
<label><input type="checkbox" id="show-operations" checked> operations</label>
<label><input type="checkbox" id="show-faults" checked> faults</label>
<label><input type="checkbox" id="show-leaders" checked> leaders</label></span>
<span class="group"><span class="group-title">lanes</span><span id="lane-filter"></span></span>
<span id="view-range"></span>
</div>
<div id="notice"></div>
</header>
<div id="chart"><div id="lane-labels"></div><div id="plot"><canvas id="canvas"></canvas></div></div>
<div id="legend">
<span><span class="sw" style="background:#2f9e44"></span>op ok</span>
<span><span class="sw" style="background:#e03131"></span>op failed</span>
<span><span class="sw" style="background:#f59f00"></span>op indeterminate</span>
<span><span class="sw" style="background:#868e96"></span>op pending</span>
<span><span class="sw" style="background:#3b5bdb"></span>node&harr;node message</span>
<span><span class="sw" style="background:#0b7285"></span>client&harr;node message</span>
<span><span class="sw" style="background:#e03131;height:3px"></span>lost message</span>
<span><span class="sw" style="background:#e8590c;opacity:.5"></span>partition</span>
<span><span class="sw" style="background:#c2255c;opacity:.5"></span>isolate</span>
<span><span class="sw" style="background:#f08c00;opacity:.5"></span>one-way</span>
<span><span class="sw" style="background:#ae3ec9;opacity:.5"></span>clog</span>
<span><span class="sw" style="background:#7048e8"></span>disk errors</span>
<span><span class="sw" style="background:#9c6644"></span>slow disk</span>
<span><span class="sw" style="background:repeating-linear-gradient(45deg,#aab 0 2px,#eee 2px 5px)"></span>host down</span>
<span><span class="sw" style="background:repeating-linear-gradient(45deg,#f5b342 0 2px,#fff5e0 2px 5px)"></span>paused</span>
<span>&#9670; L tN: became leader of term N</span>
<span>&#9650; green: host started</span>
<span>&times;: reset / clock drift / bit flip</span>
<span>drag to pan, wheel to zoom, shift+wheel to scroll</span>
</div>
<div id="tooltip" hidden></div>
<script type="application/json" id="timeline-data">)HTML";
  out += json;
  out += "</script>\n<script>";
  out += kScript;
  out += "</script>\n</body>\n</html>\n";
  return out;
}

core::Status write_timeline_html(const Timeline& timeline, const RunResult& result, const std::string& path) {
  const std::string page = timeline_html(timeline, result);
  FILE* file = std::fopen(path.c_str(), "w");
  if (file == nullptr) return core::io_error("cannot open " + path + ": " + std::strerror(errno));
  const size_t written = std::fwrite(page.data(), 1, page.size(), file);
  const bool closed = std::fclose(file) == 0;
  if (written != page.size() || !closed) return core::io_error("cannot write " + path + ": " + std::strerror(errno));
  return core::Status::ok();
}

}  // namespace keel::sim
