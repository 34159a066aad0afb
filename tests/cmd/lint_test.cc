#include <sys/wait.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>

namespace {

std::string source_dir() { return KEEL_SOURCE_DIR; }

int run(const std::string& cmd) {
  const int status = std::system(cmd.c_str());
  return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

}  // namespace

TEST_CASE("lint: the tree is clean and a planted violation fails", "[ci][unit]") {
  const std::string lint = "python3 " + source_dir() + "/ci/lint_determinism.py";
  REQUIRE(run(lint + " > /dev/null") == 0);

  char dir[] = "/tmp/keel-lint-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string root = dir;
  REQUIRE(run("mkdir -p " + root + "/core " + root + "/sim") == 0);
  // Allowed in sim/, banned in core/.
  std::ofstream(root + "/sim/ok.cc") << "#include <thread>\nvoid f() { std::thread t; }\n";
  REQUIRE(run(lint + " --root " + root + " > /dev/null") == 0);
  for (const char* planted : {"int f() { return std::rand(); }\n",
                              "#include <chrono>\nauto t = std::chrono::steady_clock::now();\n",
                              "void f() { try { g(); } catch (...) { } }\n",
                              "#include <fstream>\n",
                              "const char* h = getenv(\"HOME\");\n"}) {
    std::ofstream(root + "/core/bad.cc") << planted;
    INFO(planted);
    REQUIRE(run(lint + " --root " + root + " > /dev/null") == 1);
  }
  // A catch-all that rethrows is fine.
  std::ofstream(root + "/core/bad.cc") << "void f() { try { g(); } catch (...) { cleanup(); throw; } }\n";
  REQUIRE(run(lint + " --root " + root + " > /dev/null") == 0);
  REQUIRE(run("rm -rf " + root) == 0);
}

TEST_CASE("lint: includes point down only, and only sim/ and cmd/ name concrete implementations", "[ci][unit]") {
  const std::string lint = "python3 " + source_dir() + "/ci/lint_determinism.py";
  char dir[] = "/tmp/keel-lint-XXXXXX";
  REQUIRE(::mkdtemp(dir) != nullptr);
  const std::string root = dir;
  REQUIRE(run("mkdir -p " + root + "/core " + root + "/consensus " + root + "/node " + root + "/sim " + root +
              "/net/posix") == 0);
  std::ofstream(root + "/consensus/ok.cc") << "#include \"core/ids.h\"\n#include \"consensus/raft.h\"\n";
  std::ofstream(root + "/sim/ok.cc") << "#include \"node/kv_node.h\"\n#include \"net/posix/event_loop.h\"\n";
  std::ofstream(root + "/net/posix/ok.cc") << "#include \"net/posix/event_loop.h\"\n";
  REQUIRE(run(lint + " --root " + root + " > /dev/null") == 0);
  const std::pair<const char*, const char*> planted[] = {
      {"/core/up.cc", "#include \"consensus/raft.h\"\n"},         // core includes nothing of the project
      {"/consensus/up.cc", "#include \"node/raft_node.h\"\n"},    // consensus is below node
      {"/consensus/io.cc", "#include \"storage/log.h\"\n"},       // consensus does no I/O
      {"/node/posix.cc", "#include \"net/posix/event_loop.h\"\n"},  // a concrete Env outside the roots
      {"/node/sim.cc", "#include \"sim/world.h\"\n"},             // node never sees the simulator
  };
  for (const auto& [file, text] : planted) {
    std::ofstream(root + file) << text;
    INFO(file << ": " << text);
    REQUIRE(run(lint + " --root " + root + " > /dev/null") == 1);
    REQUIRE(run(std::string("rm ") + root + file) == 0);
  }
  REQUIRE(run("rm -rf " + root) == 0);
}
