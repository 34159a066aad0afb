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
