// Real browser: the timeline page of a failing seed (sim/timeline.h) opened
// in headless Chromium. The page's script must run to its end without an
// error (it sets <body data-ready="1"> last; window.onerror writes into
// #script-error and sets data-error), build the lane labels and filters,
// and the violation must be on the page. The page and a screenshot stay in
// <build>/timeline-browser-test/ for a person to look at.
//
// Chromium is required: ci/install-deps.sh installs Debian's `chromium`.
#include <sys/wait.h>

#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "sim/run.h"

using keel::core::Duration;
using keel::sim::RunOptions;
using keel::sim::RunResult;

namespace {

std::string artifact_dir() {
  const std::string dir = std::string(KEEL_BUILD_DIR) + "/timeline-browser-test";
  std::filesystem::create_directories(dir);
  return dir;
}

bool have_chromium() { return std::system("command -v chromium >/dev/null 2>&1") == 0; }

// stdout of `command` (stderr is dropped: Chromium is chatty there).
std::string output_of(const std::string& command, int* exit_code) {
  FILE* p = ::popen((command + " 2>/dev/null </dev/null").c_str(), "r");
  REQUIRE(p != nullptr);
  std::string out;
  char buf[8192];
  while (size_t n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
  const int status = ::pclose(p);
  *exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return out;
}

std::string chromium(const std::string& args) {
  return "timeout 180 chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage --no-first-run "
         "--hide-scrollbars --user-data-dir=" +
         artifact_dir() + "/profile-" + std::to_string(::getpid()) + " " + args;
}

// The DOM after the page's scripts ran.
std::string dump_dom(const std::string& page) {
  int code = 0;
  const std::string dom = output_of(chromium("--virtual-time-budget=5000 --dump-dom file://" + page), &code);
  INFO("chromium --dump-dom exit code " << code);
  REQUIRE(code == 0);
  REQUIRE(dom.find("</html>") != std::string::npos);
  return dom;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The text of the element that opens with `open_tag`, up to its closing tag.
std::string element_text(const std::string& dom, const std::string& open_tag) {
  const size_t at = dom.find(open_tag);
  if (at == std::string::npos) return "<missing " + open_tag + ">";
  const size_t from = dom.find('>', at) + 1;
  return dom.substr(from, dom.find("</div>", from) - from);
}

// The value of attribute `name` on the first element that has it.
std::string attribute(const std::string& dom, const std::string& name) {
  const std::string key = " " + name + "=\"";
  const size_t at = dom.find(key);
  if (at == std::string::npos) return "<no " + name + ">";
  const size_t from = at + key.size();
  return dom.substr(from, dom.find('"', from) - from);
}

// Drives the page as a person would, then reports on <body>: a tooltip found
// by moving over the lanes, the view before and after zooming with the
// buttons and the wheel, and whether hiding lane n1 hid its label.
constexpr const char* kInteraction = R"JS(
<script>
setTimeout(function () {
  var body = document.body.dataset;
  var canvas = document.getElementById('canvas'), rect = canvas.getBoundingClientRect();
  var tip = document.getElementById('tooltip');
  var labels = document.querySelectorAll('.lane-label');
  for (var i = 0; i < labels.length && !body.tooltip; i++) {
    var y = labels[i].getBoundingClientRect().top + labels[i].offsetHeight / 2;
    for (var x = 2; x < rect.width && !body.tooltip; x += 3) {
      canvas.dispatchEvent(new MouseEvent('mousemove', { clientX: rect.left + x, clientY: y, bubbles: true }));
      if (!tip.hidden && tip.textContent) body.tooltip = tip.textContent.split('\n')[0];
    }
  }
  body.before = document.getElementById('view-range').textContent;
  document.getElementById('zoom-in').click();
  document.getElementById('zoom-in').click();
  canvas.dispatchEvent(new WheelEvent('wheel', { deltaY: -200, clientX: rect.left + rect.width / 3,
                                                 clientY: rect.top + 60, bubbles: true, cancelable: true }));
  document.getElementById('show-messages').click();
  document.querySelector('.lane-toggle[data-lane="n1"]').click();
  setTimeout(function () {
    body.after = document.getElementById('view-range').textContent;
    body.n1hidden = document.getElementById('lane-n1').style.display === 'none' ? 'yes' : 'no';
    body.interacted = '1';
  }, 500);
}, 0);
</script>
)JS";

RunOptions failing_options(uint64_t seed) {
  RunOptions o;
  o.seed = seed;
  o.workload = "register";
  o.fault_window = Duration::seconds(8);
  o.bug = "commit-without-quorum";
  return o;
}

}  // namespace

TEST_CASE("timeline page: Chromium renders a failing seed's page with its violation and no script error",
          "[cmd][slow]") {
  if (!have_chromium()) {
    FAIL("chromium is not installed: run ci/install-deps.sh (it installs Debian's chromium package)");
  }
  uint64_t seed = 0;
  for (uint64_t s = 1; s <= 30 && seed == 0; ++s) {
    if (!keel::sim::run_simulation(failing_options(s)).pass) seed = s;
  }
  REQUIRE(seed != 0);
  const std::string dir = artifact_dir();
  const std::string page = dir + "/failing.html";
  RunOptions o = failing_options(seed);
  o.timeline_path = page;
  const RunResult r = keel::sim::run_simulation(o);
  INFO("keel-sim --seed " << seed << " --workload register --bug commit-without-quorum --fault-seconds 8 --timeline "
                          << page);
  REQUIRE_FALSE(r.pass);

  const std::string dom = dump_dom(page);
  // The script ran to its end, and nothing reported an error.
  CHECK(dom.find("data-ready=\"1\"") != std::string::npos);
  CHECK(dom.find("data-error") == std::string::npos);
  CHECK(element_text(dom, "<div id=\"script-error\"").empty());
  // Elements only the script creates: a label and a filter box per lane.
  for (const char* host : {"n1", "n2", "n3", "c1", "checker"}) {
    INFO("lane " << host);
    CHECK(dom.find("id=\"lane-" + std::string(host) + "\"") != std::string::npos);
    CHECK(dom.find("<span class=\"name\">" + std::string(host) + "</span>") != std::string::npos);
    CHECK(dom.find("class=\"lane-toggle\" data-lane=\"" + std::string(host) + "\"") != std::string::npos);
  }
  CHECK(dom.find("id=\"view-range\">view ") != std::string::npos);
  CHECK(dom.find(" messages as ") != std::string::npos);
  // The violations, the first one reachable as #violation.
  CHECK(dom.find("id=\"violations\"") != std::string::npos);
  CHECK(dom.find("id=\"violation\"") != std::string::npos);
  CHECK(dom.find("id=\"violation-0\"") != std::string::npos);

  // A screenshot for people; a blank or missing one means nothing rendered.
  const std::string png = dir + "/failing.png";
  std::filesystem::remove(png);
  int code = 0;
  output_of(chromium("--virtual-time-budget=5000 --window-size=1600,1000 --screenshot=" + png + " file://" + page),
            &code);
  CHECK(code == 0);
  REQUIRE(std::filesystem::exists(png));
  CHECK(std::filesystem::file_size(png) > 20 * 1024);
}

TEST_CASE("timeline page: zoom, filters and tooltips respond in Chromium", "[cmd][slow]") {
  if (!have_chromium()) {
    FAIL("chromium is not installed: run ci/install-deps.sh (it installs Debian's chromium package)");
  }
  const std::string dir = artifact_dir();
  RunOptions o;
  o.seed = 3;
  o.workload = "register";
  o.fault_window = Duration::seconds(3);
  o.timeline_path = dir + "/interactive.html";
  (void)keel::sim::run_simulation(o);
  const std::string driven = dir + "/interactive-driven.html";
  std::ofstream(driven, std::ios::binary) << read_file(o.timeline_path) << kInteraction;

  const std::string dom = dump_dom(driven);
  CHECK(dom.find("data-error") == std::string::npos);
  CHECK(element_text(dom, "<div id=\"script-error\"").empty());
  REQUIRE(attribute(dom, "data-interacted") == "1");
  INFO("view before: " << attribute(dom, "data-before") << "\nview after: " << attribute(dom, "data-after"));
  CHECK(attribute(dom, "data-tooltip").rfind("t = ", 0) == 0);
  // Zoomed in: a narrower view; messages hidden: no arrow count.
  CHECK(attribute(dom, "data-before").find(" messages as ") != std::string::npos);
  CHECK(attribute(dom, "data-after").rfind("view ", 0) == 0);
  CHECK(attribute(dom, "data-after") != attribute(dom, "data-before"));
  CHECK(attribute(dom, "data-after").find(" messages") == std::string::npos);
  CHECK(attribute(dom, "data-n1hidden") == "yes");
}

TEST_CASE("timeline page: a script error on the page is caught and shown", "[cmd][slow]") {
  // The check above is only worth something if an error would show: break
  // the embedded JSON and look for the report.
  if (!have_chromium()) {
    FAIL("chromium is not installed: run ci/install-deps.sh (it installs Debian's chromium package)");
  }
  const std::string dir = artifact_dir();
  RunOptions o;
  o.seed = 1;
  o.workload = "demo";
  o.fault_window = Duration::seconds(2);
  o.timeline_path = dir + "/good.html";
  (void)keel::sim::run_simulation(o);
  std::string text = read_file(o.timeline_path);
  const std::string blob = "id=\"timeline-data\">{";
  const size_t at = text.find(blob);
  REQUIRE(at != std::string::npos);
  text.insert(at + blob.size(), "not json ");
  const std::string broken = dir + "/broken.html";
  std::ofstream(broken, std::ios::binary) << text;

  const std::string dom = dump_dom(broken);
  CHECK(dom.find("data-ready=\"1\"") == std::string::npos);
  CHECK(dom.find("data-error=\"1\"") != std::string::npos);
  CHECK(element_text(dom, "<div id=\"script-error\"").find("script error") != std::string::npos);
}

TEST_CASE("timeline page: keel-sim --timeline writes the page", "[cmd][slow]") {
  // keel-sim takes --timeline once cmd/keel_sim.cc wires it to
  // RunOptions::timeline_path.
  const std::string keel_sim = std::string(KEEL_BUILD_DIR) + "/cmd/keel-sim";
  int code = 0;
  const std::string help = output_of(keel_sim + " --help", &code);
  if (help.find("--timeline") == std::string::npos) {
    WARN("keel-sim has no --timeline flag yet: skipped");
    return;
  }
  const std::string page = artifact_dir() + "/cli.html";
  std::filesystem::remove(page);
  output_of(keel_sim + " --seed 3 --workload register --fault-seconds 3 --timeline " + page, &code);
  CHECK((code == 0 || code == 1));  // the run's verdict; 2 or a signal is a broken command
  const std::string text = read_file(page);
  CHECK(text.rfind("<!DOCTYPE html>", 0) == 0);
  CHECK(text.find("id=\"timeline-data\"") != std::string::npos);
  CHECK(text.find("id=\"violations\"") != std::string::npos);
}
