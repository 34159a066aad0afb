// keeld's configuration as an operator meets it: a TOML file, flags that
// override it, and clear refusals (exit code 2, the setting named) for a
// misspelt key, a wrong type or an out-of-range value.
#include <catch2/catch.hpp>
#include <fstream>
#include <string>

#include "tests/cmd/local_cluster.h"

namespace {

using keel::testing::Keeld;
using keel::testing::read_file;
using keel::testing::RespConnection;
using keel::testing::TempDir;

void write_file(const std::string& path, const std::string& text) {
  std::ofstream out(path);
  out << text;
}

}  // namespace

TEST_CASE("keeld config: a TOML file sets the node up and flags override it", "[cmd][slow]") {
  TempDir dir;
  const uint16_t base = keel::testing::pick_port_base();
  const std::string file = dir.path() + "/node.toml";
  write_file(file, "id = 1\nlisten = \"127.0.0.1:" + std::to_string(base + 1) + "\"\npeer_listen = \"127.0.0.1:" +
                       std::to_string(base + 2) + "\"\ndata_dir = \"" + dir.path() + "/n1\"\ntick_ms = 20\n" +
                       "requirepass = \"from-file\"\nmaxclients = 50\n");
  // The flag wins over the file's listen address; the rest comes from the file.
  Keeld keeld({"--config", file, "--listen", "127.0.0.1:" + std::to_string(base + 3)}, dir.path() + "/log");
  RespConnection c;
  for (int i = 0; i < 500 && !c.connect(static_cast<uint16_t>(base + 3)); ++i) keel::testing::sleep_ms(10);
  REQUIRE(c.connected());
  CHECK(c.call({"PING"}).describe().rfind("-NOAUTH", 0) == 0);
  CHECK(c.call({"AUTH", "from-file"}).describe() == "+OK\r\n");
  CHECK(c.call({"PING"}).describe() == "+PONG\r\n");
  CHECK(!RespConnection(static_cast<uint16_t>(base + 1)).connected());
}

TEST_CASE("keeld config: unknown keys, wrong types and bad values are refused with exit code 2", "[cmd][slow]") {
  TempDir dir;
  struct Case {
    std::string toml;
    std::string message;
  };
  const Case cases[] = {
      {"listn = \"127.0.0.1:6379\"\n", "unknown setting 'listn'"},
      {"id = \"one\"\n", "id must be an integer"},
      {"id = 0\n", "id must be an integer in [1, 1000000]"},
      {"tick_ms = 100000\n", "tick_ms must be an integer"},
      {"listen = 6379\n", "listen must be a string"},
      {"maxclients = -1\n", "maxclients must be an integer"},
      {"listen = \"127.0.0.1:6379\"\nlisten = \"x\"\n", "node.toml"},  // not TOML: a key defined twice
      {"peers = \"1=127.0.0.1:7379,1=127.0.0.1:7380\"\n", "twice"},
      {"listen = \"nowhere\"\n", "nowhere"},
      {"acks = \"2\"\n", "acks must be all or 1, not '2'"},
      {"acks = 1\n", "acks must be a string"},
      {"partitions = 20000\n", "partitions must be an integer in [0, 16384]"},
      {"replication_factor = 2\nmin_insync_replicas = 3\n", "--min-insync-replicas 3 is more than --replication-factor 2"},
  };
  for (const Case& k : cases) {
    INFO(k.toml);
    const std::string file = dir.path() + "/node.toml";
    const std::string log = dir.path() + "/log";
    write_file(file, k.toml);
    std::remove(log.c_str());
    Keeld keeld({"--config", file, "--data-dir", dir.path() + "/n1"}, log);
    CHECK(keeld.wait_exit(10000) == 2);
    CHECK(read_file(log).find(k.message) != std::string::npos);
  }
}
