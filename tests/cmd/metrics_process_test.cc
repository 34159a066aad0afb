// A real keeld process with --metrics-listen: scraped over a plain POSIX
// socket, as Prometheus would, and the flag's validation.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/cmd/local_cluster.h"

namespace {

using keel::testing::Keeld;
using keel::testing::read_file;
using keel::testing::tcp_exchange;
using keel::testing::TempDir;

std::string http_get(uint16_t port, const std::string& path) {
  return tcp_exchange(port, "GET " + path + " HTTP/1.1\r\nHost: 127.0.0.1:" + std::to_string(port) +
                            "\r\nUser-Agent: keel-test\r\n\r\n");
}

bool has_line(const std::string& text, const std::string& line) {
  return text.find("\n" + line + "\n") != std::string::npos;
}


}  // namespace

TEST_CASE("metrics process: a single keeld (one Raft group) serves /metrics and reports itself leader", "[cmd][slow]") {
  TempDir dir;
  // Ports from the process id, apart from those the cluster test uses, so
  // parallel test runs do not collide.
  // Free ports below the kernel's range for outgoing connections.
  const uint16_t base = keel::testing::pick_port_base();
  const uint16_t resp_port = base;
  const uint16_t peer_port = base + 1;
  const uint16_t metrics_port = base + 2;
  const std::string log = dir.path() + "/keeld.log";
  Keeld keeld({"--id", "1", "--listen", "127.0.0.1:" + std::to_string(resp_port), "--peer-listen",
               "127.0.0.1:" + std::to_string(peer_port), "--metrics-listen",
               "127.0.0.1:" + std::to_string(metrics_port), "--data-dir", dir.path() + "/n1", "--tick-ms", "20",
               "--log-level", "warn", "--partitions", "0"},
              log);

  // Scrape until the node has elected itself.
  std::string reply;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < give_up) {
    reply = http_get(metrics_port, "/metrics");
    if (has_line(reply, "keel_raft_is_leader 1")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO("last reply:\n" << reply << "\nkeeld log:\n" << read_file(log));
  REQUIRE(has_line(reply, "keel_raft_is_leader 1"));
  REQUIRE(reply.rfind("HTTP/1.1 200 OK\r\n", 0) == 0);
  REQUIRE(reply.find("\r\nContent-Type: text/plain; version=0.0.4; charset=utf-8\r\n") != std::string::npos);
  REQUIRE(reply.find("\r\nConnection: close\r\n") != std::string::npos);
  const size_t body_at = reply.find("\r\n\r\n") + 4;
  REQUIRE(reply.find("\r\nContent-Length: " + std::to_string(reply.size() - body_at) + "\r\n") !=
          std::string::npos);
  REQUIRE(has_line(reply, "# TYPE keel_raft_is_leader gauge"));
  REQUIRE(has_line(reply, "keel_up 1"));
  REQUIRE(has_line(reply, "keel_node_id 1"));
  REQUIRE(has_line(reply, "keel_raft_leader_id 1"));
  REQUIRE(has_line(reply, "keel_keys 0"));

  // A write through RESP shows in the next scrape (it is applied before
  // its reply).
  REQUIRE(tcp_exchange(resp_port, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nQUIT\r\n") == "+OK\r\n+OK\r\n");
  reply = http_get(metrics_port, "/metrics");
  REQUIRE(has_line(reply, "keel_keys 1"));
  REQUIRE(has_line(reply, "keel_commands_processed_total 2"));

  REQUIRE(http_get(metrics_port, "/nope").rfind("HTTP/1.1 404 Not Found\r\n", 0) == 0);
  REQUIRE(tcp_exchange(metrics_port, "hello\r\n\r\n").rfind("HTTP/1.1 400 Bad Request\r\n", 0) == 0);
  REQUIRE(keeld.terminate() == 0);
}

TEST_CASE("metrics process: a partitioned keeld reports each partition it leads, its HW and ISR", "[cmd][slow]") {
  TempDir dir;
  const uint16_t base = keel::testing::pick_port_base();
  const uint16_t resp_port = base;
  const uint16_t metrics_port = base + 2;
  const std::string log = dir.path() + "/keeld.log";
  Keeld keeld({"--id", "1", "--listen", "127.0.0.1:" + std::to_string(resp_port), "--peer-listen",
               "127.0.0.1:" + std::to_string(base + 1), "--metrics-listen", "127.0.0.1:" + std::to_string(metrics_port),
               "--data-dir", dir.path() + "/n1", "--tick-ms", "20", "--log-level", "warn", "--partitions", "8"},
              log);
  std::string reply;
  const auto give_up = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (std::chrono::steady_clock::now() < give_up) {
    reply = http_get(metrics_port, "/metrics");
    if (has_line(reply, "keel_partition_is_leader{partition=\"7\"} 1")) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  INFO("last reply:\n" << reply << "\nkeeld log:\n" << read_file(log));
  for (int p = 0; p < 8; ++p) {
    REQUIRE(has_line(reply, "keel_partition_is_leader{partition=\"" + std::to_string(p) + "\"} 1"));
    REQUIRE(has_line(reply, "keel_partition_isr_size{partition=\"" + std::to_string(p) + "\"} 1"));
  }
  REQUIRE(has_line(reply, "keel_controller_leader_id 1"));
  REQUIRE(has_line(reply, "keel_node_incarnation 1"));
  // "k" hashes to slot 7629: partition 7629 * 8 / 16384 = 3. A write moves
  // its HW and log end past the leader's epoch start record.
  std::string before_hw;
  for (size_t at = reply.find("keel_partition_high_watermark{partition=\"3\"} "); at != std::string::npos;) {
    before_hw = reply.substr(at, reply.find('\n', at) - at);
    break;
  }
  REQUIRE(!before_hw.empty());
  // Wait for the partition to serve (its leader commits its epoch start).
  std::string set_reply;
  for (int i = 0; i < 200; ++i) {
    set_reply = tcp_exchange(resp_port, "*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\nv\r\n*1\r\n$4\r\nQUIT\r\n");
    if (set_reply == "+OK\r\n+OK\r\n") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(25));
  }
  REQUIRE(set_reply == "+OK\r\n+OK\r\n");
  reply = http_get(metrics_port, "/metrics");
  INFO("after the write:\n" << reply);
  CHECK(reply.find(before_hw + "\n") == std::string::npos);
  REQUIRE(keeld.terminate() == 0);
}

TEST_CASE("metrics process: keeld refuses a malformed --metrics-listen with exit code 2", "[cmd][slow]") {
  TempDir dir;
  for (const char* bad : {"localhost", "127.0.0.1:0", "127.0.0.1:99999", "127.0.0.1:6379"}) {
    INFO(bad);
    const std::string log = dir.path() + "/bad.log";
    std::remove(log.c_str());
    Keeld keeld({"--listen", "127.0.0.1:6379", "--metrics-listen", bad, "--data-dir", dir.path() + "/n1"}, log);
    REQUIRE(keeld.wait_exit(10000) == 2);
    REQUIRE(read_file(log).find("--metrics-listen") != std::string::npos);
  }
}
