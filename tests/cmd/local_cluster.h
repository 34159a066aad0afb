// Process-test helpers: real keeld nodes on loopback, and a small blocking
// RESP client that talks to them over a plain POSIX socket.
//
// LocalCluster forks and execs build/cmd/keeld once per node, each with its
// own data directory under a fresh /tmp directory; ports come from the test
// process id so that parallel ctest runs do not collide. The destructor
// kills every node (SIGKILL) and removes the directory.
//
// RespConnection is deliberately simple and synchronous: it writes raw
// bytes (well-formed or not) and reads replies with a deadline, so a test
// can tell "answered", "closed by the server" and "no answer in time"
// apart. Replies are parsed with net::resp::ReplyParser and also kept as
// the exact bytes the server sent.
//
// Header-only: tests/CMakeLists.txt builds every tests/cmd/*_test.cc into
// one binary, and each of them may include this.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "core/env.h"
#include "net/resp/reply_parser.h"

namespace keel::testing {

inline std::string build_dir() { return KEEL_BUILD_DIR; }

// Milliseconds on the test's own clock (tests may use real time).
inline int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

inline void sleep_ms(int ms) { ::usleep(static_cast<useconds_t>(ms) * 1000); }

// Raises this process's soft RLIMIT_NOFILE to its hard limit; returns the
// soft limit now in force.
inline rlim_t raise_open_files_limit() {
  rlimit rl{};
  REQUIRE(::getrlimit(RLIMIT_NOFILE, &rl) == 0);
  if (rl.rlim_cur < rl.rlim_max) {
    rl.rlim_cur = rl.rlim_max;
    REQUIRE(::setrlimit(RLIMIT_NOFILE, &rl) == 0);
  }
  return rl.rlim_cur;
}

// A multibulk request, as redis-cli sends one.
inline std::string encode_command(const std::vector<std::string>& argv) {
  std::string out = "*" + std::to_string(argv.size()) + "\r\n";
  for (const std::string& arg : argv) out += "$" + std::to_string(arg.size()) + "\r\n" + arg + "\r\n";
  return out;
}

// A blocking client connection to 127.0.0.1:<port>.
class RespConnection {
 public:
  struct Reply {
    enum class Kind { kValue, kClosed, kTimeout, kBadReply };
    Kind kind = Kind::kTimeout;
    net::resp::Value value;
    std::string raw;  // the reply's exact bytes (kValue only)

    bool ok() const { return kind == Kind::kValue; }
    // For failure messages and simple checks: the raw reply, or what
    // happened instead.
    std::string describe() const {
      switch (kind) {
        case Kind::kValue: return raw;
        case Kind::kClosed: return "<closed>";
        case Kind::kTimeout: return "<timeout>";
        case Kind::kBadReply: return "<bad reply>";
      }
      return "?";
    }
  };

  RespConnection() = default;
  // Connects (blocking, loopback); connected() says whether it worked.
  explicit RespConnection(uint16_t port) { connect(port); }
  ~RespConnection() { close(); }
  RespConnection(RespConnection&& other) noexcept { *this = std::move(other); }
  RespConnection& operator=(RespConnection&& other) noexcept {
    if (this != &other) {
      close();
      fd_ = other.fd_;
      other.fd_ = -1;
      received_ = std::move(other.received_);
      fed_ = other.fed_;
      consumed_ = other.consumed_;
      parser_ = std::move(other.parser_);
    }
    return *this;
  }

  bool connect(uint16_t port) {
    close();
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd_ < 0) return false;
    sockaddr_in sa{};
    sa.sin_family = AF_INET;
    sa.sin_port = htons(port);
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd_, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) != 0) {
      close();
      return false;
    }
    const int one = 1;
    ::setsockopt(fd_, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    parser_ = std::make_unique<net::resp::ReplyParser>();
    received_.clear();
    fed_ = consumed_ = 0;
    return true;
  }
  bool connected() const { return fd_ >= 0; }
  int fd() const { return fd_; }

  void close() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
  }

  // Writes all of `bytes`. False if the connection broke.
  bool send_raw(std::string_view bytes) {
    size_t done = 0;
    while (done < bytes.size()) {
      const ssize_t n = ::send(fd_, bytes.data() + done, bytes.size() - done, MSG_NOSIGNAL);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      done += static_cast<size_t>(n);
    }
    return true;
  }

  // The next reply, or kClosed / kTimeout if none arrives first.
  Reply read_reply(int timeout_ms = 5000) {
    Reply r;
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
      if (parser_ == nullptr) {
        r.kind = Reply::Kind::kClosed;
        return r;
      }
      auto next = parser_->next();
      if (!next.is_ok()) {
        r.kind = Reply::Kind::kBadReply;
        return r;
      }
      if (*next) {
        const size_t end = fed_ - parser_->buffered_bytes();
        r.kind = Reply::Kind::kValue;
        r.value = std::move(**next);
        r.raw = received_.substr(consumed_, end - consumed_);
        consumed_ = end;
        return r;
      }
      const int got = receive(deadline);
      if (got == 0) {
        r.kind = Reply::Kind::kClosed;
        return r;
      }
      if (got < 0) {
        r.kind = Reply::Kind::kTimeout;
        return r;
      }
    }
  }

  // Sends one command and reads its reply.
  Reply call(const std::vector<std::string>& argv, int timeout_ms = 5000) {
    if (!send_raw(encode_command(argv))) {
      Reply r;
      r.kind = Reply::Kind::kClosed;
      return r;
    }
    return read_reply(timeout_ms);
  }

  // Waits for the server to close the connection (EOF or reset); bytes that
  // arrive meanwhile stay buffered for read_reply(). False on timeout.
  bool wait_closed(int timeout_ms = 5000) {
    const int64_t deadline = now_ms() + timeout_ms;
    for (;;) {
      const int got = receive(deadline);
      if (got == 0) return true;
      if (got < 0) return false;
    }
  }

 private:
  // Reads what is available before `deadline_ms` into the parser: > 0 bytes
  // read, 0 the server closed (EOF or reset), -1 timed out.
  int receive(int64_t deadline_ms) {
    if (fd_ < 0) return 0;
    for (;;) {
      const int64_t left = deadline_ms - now_ms();
      if (left <= 0) return -1;
      pollfd p{fd_, POLLIN, 0};
      const int ready = ::poll(&p, 1, static_cast<int>(left));
      if (ready < 0 && errno == EINTR) continue;
      if (ready <= 0) return -1;
      char buf[16 * 1024];
      const ssize_t n = ::recv(fd_, buf, sizeof buf, 0);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return 0;
      received_.append(buf, static_cast<size_t>(n));
      fed_ += static_cast<size_t>(n);
      parser_->feed(core::ByteView(buf, static_cast<size_t>(n)));
      return static_cast<int>(n);
    }
  }

  int fd_ = -1;
  std::string received_;
  size_t fed_ = 0;
  size_t consumed_ = 0;
  std::unique_ptr<net::resp::ReplyParser> parser_;
};

// The value of "field:" in an INFO reply's text, or "" if absent.
inline std::string info_field(const std::string& info, const std::string& field) {
  std::istringstream lines(info);
  std::string line;
  while (std::getline(lines, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.rfind(field + ":", 0) == 0) return line.substr(field.size() + 1);
  }
  return "";
}

// True if nothing listens on or is bound to 127.0.0.1:port right now.
inline bool port_is_free(uint16_t port) {
  const int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) return false;
  sockaddr_in sa{};
  sa.sin_family = AF_INET;
  sa.sin_port = htons(port);
  sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  const int one = 1;
  // As keeld binds: a socket of an old connection in TIME_WAIT is no obstacle.
  ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
  const bool free = ::bind(fd, reinterpret_cast<const sockaddr*>(&sa), sizeof sa) == 0;
  ::close(fd);
  return free;
}

// The base of the ports for one test's servers: nodes at +1 to +9, a
// redis-server beside them at +101 to +104 (a node's client port + 100).
// Derived from the process id so that parallel test runs do not collide,
// kept below the kernel's ephemeral range (where outgoing connections take
// their local ports), and checked to be free.
inline uint16_t pick_port_base() {
  unsigned ephemeral_low = 32768;
  if (FILE* f = std::fopen("/proc/sys/net/ipv4/ip_local_port_range", "r")) {
    if (std::fscanf(f, "%u", &ephemeral_low) != 1) ephemeral_low = 32768;
    std::fclose(f);
  }
  const unsigned low = 10000;
  const unsigned slots = ephemeral_low > low + 1000 ? (ephemeral_low - low - 200) / 10 : 2000;
  const unsigned pid = static_cast<unsigned>(::getpid());
  for (unsigned attempt = 0; attempt < 64; ++attempt) {
    const auto base = static_cast<uint16_t>(low + ((pid + attempt * 7919) % slots) * 10);
    bool free = true;
    for (uint16_t i = 1; i <= 9 && free; ++i) free = port_is_free(static_cast<uint16_t>(base + i));
    for (uint16_t i = 101; i <= 104 && free; ++i) free = port_is_free(static_cast<uint16_t>(base + i));
    if (free) return base;
  }
  FAIL("no free block of ports");
  return 0;
}

struct LocalNode {
  int id;
  uint16_t client_port;
  uint16_t peer_port;
  std::string data_dir;
  pid_t pid = -1;
};

struct LocalClusterOptions {
  // Appended to every node's command line.
  std::vector<std::string> extra_args;
  // When > 0, nodes start with RLIMIT_NOFILE (soft and hard) set to this.
  rlim_t open_files_max = 0;
};

class LocalCluster {
 public:
  static constexpr int kNodesMax = 4;

  explicit LocalCluster(int n, LocalClusterOptions options = {}) : options_(std::move(options)) {
    REQUIRE(n >= 1);
    REQUIRE(n <= kNodesMax);
    char dir[] = "/tmp/keel-cluster-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    root_ = dir;
    const uint16_t base = pick_port_base();
    for (int i = 1; i <= n; ++i) {
      nodes_.push_back(LocalNode{i, static_cast<uint16_t>(base + i), static_cast<uint16_t>(base + 5 + i),
                                 root_ + "/n" + std::to_string(i)});
    }
    for (auto& node : nodes_) start(node);
  }
  ~LocalCluster() {
    for (auto& node : nodes_) stop(node, SIGKILL);
    std::system(("rm -rf " + root_).c_str());
  }
  LocalCluster(const LocalCluster&) = delete;
  LocalCluster& operator=(const LocalCluster&) = delete;

  void start(LocalNode& node) {
    std::string peers;
    for (auto& n : nodes_) {
      if (!peers.empty()) peers += ",";
      peers += std::to_string(n.id) + "=127.0.0.1:" + std::to_string(n.peer_port);
    }
    const std::string bin = build_dir() + "/cmd/keeld";
    const std::string log = log_path(node);
    const std::string id = std::to_string(node.id);
    const std::string listen = "127.0.0.1:" + std::to_string(node.client_port);
    const std::string peer = "127.0.0.1:" + std::to_string(node.peer_port);
    std::vector<std::string> args = {"keeld",       "--id",        id,          "--listen", listen,
                                     "--peer-listen", peer,        "--peers",   peers,      "--data-dir",
                                     node.data_dir, "--tick-ms",   "20",        "--log-level", "warn"};
    args.insert(args.end(), options_.extra_args.begin(), options_.extra_args.end());
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    node.pid = ::fork();
    if (node.pid == 0) {
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      if (options_.open_files_max > 0) {
        rlimit rl{options_.open_files_max, options_.open_files_max};
        if (::setrlimit(RLIMIT_NOFILE, &rl) != 0) std::_Exit(126);
      }
      ::execv(bin.c_str(), argv.data());
      std::_Exit(127);
    }
  }
  void stop(LocalNode& node, int sig) {
    if (node.pid <= 0) return;
    ::kill(node.pid, SIGCONT);
    ::kill(node.pid, sig);
    int status = 0;
    ::waitpid(node.pid, &status, 0);
    node.pid = -1;
  }
  // True if the node's process is still running. One that exited is
  // reaped and marked stopped (pid -1), so its pid is never signalled later.
  bool alive(LocalNode& node) {
    if (node.pid <= 0) return false;
    int status = 0;
    if (::waitpid(node.pid, &status, WNOHANG) == 0) return true;
    node.pid = -1;
    return false;
  }

  std::vector<core::Address> addresses() const {
    std::vector<core::Address> out;
    for (auto& n : nodes_) out.push_back(core::Address{"127.0.0.1", n.client_port});
    return out;
  }
  std::vector<LocalNode>& nodes() { return nodes_; }
  std::string log_path(const LocalNode& node) const { return node.data_dir + ".log"; }
  std::string log_text(const LocalNode& node) const {
    std::ifstream in(log_path(node));
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  // The node's INFO text, or "" if it does not answer.
  static std::string info(const LocalNode& node, const std::string& section = "replication") {
    RespConnection c(node.client_port);
    if (!c.connected()) return "";
    auto r = c.call({"INFO", section}, 2000);
    if (!r.ok() || r.value.type != net::resp::Type::kBulkString) return "";
    return r.value.str;
  }

  // The node's CLUSTER <sub> text (INFO, NODES), or "" if it does not
  // answer.
  static std::string cluster_command(const LocalNode& node, const std::string& sub) {
    RespConnection c(node.client_port);
    if (!c.connected()) return "";
    auto r = c.call({"CLUSTER", sub}, 2000);
    if (!r.ok() || r.value.type != net::resp::Type::kBulkString) return "";
    return r.value.str;
  }
  static std::string cluster_info(const LocalNode& node) { return cluster_command(node, "INFO"); }

  // One Raft group (--partitions 0): waits until one running node reports
  // raft_role:leader and every other running node names that node's client
  // address as the leader's (so a follower answers writes with -MOVED to
  // it). The leader's index in nodes(), or -1 on timeout.
  // Partitioned (the default): waits until every running node reports
  // cluster_state:ok, no offline partition, and every stopped node (and
  // only those) as failed, then returns the first running node's index.
  int wait_for_leader(int timeout_ms = 15000) {
    const int64_t deadline = now_ms() + timeout_ms;
    // Nodes started and not stopped by the test; if one of them exits
    // (e.g. it could not bind its port) there is no point in waiting.
    std::vector<LocalNode*> expected;
    for (auto& n : nodes_) {
      if (n.pid > 0) expected.push_back(&n);
    }
    while (now_ms() < deadline) {
      bool all_running = true;
      for (LocalNode* n : expected) all_running = alive(*n) && all_running;
      if (!all_running) break;
      if (!expected.empty() && !info_field(info(*expected.front()), "partitions_led").empty()) {
        bool ready = true;
        for (LocalNode* n : expected) {
          ready = ready && info_field(cluster_info(*n), "cluster_state") == "ok" &&
                  info_field(info(*n, "partitions"), "offline_partitions") == "0";
          // Every stopped node is known to have failed (it leads nothing),
          // every running one not.
          const std::string nodes = cluster_command(*n, "NODES");
          for (const LocalNode& other : nodes_) {
            const size_t at = nodes.find(":" + std::to_string(other.client_port) + "@");
            const std::string line = at == std::string::npos ? "" : nodes.substr(at, nodes.find('\n', at) - at);
            const bool failed = line.find(",fail") != std::string::npos;
            ready = ready && !line.empty() && failed == (other.pid <= 0);
          }
        }
        if (ready) return static_cast<int>(expected.front() - nodes_.data());
        sleep_ms(50);
        continue;
      }
      int leader = -1;
      for (size_t i = 0; i < nodes_.size(); ++i) {
        if (nodes_[i].pid > 0 && info_field(info(nodes_[i]), "raft_role") == "leader") leader = static_cast<int>(i);
      }
      if (leader >= 0) {
        const std::string address = "127.0.0.1:" + std::to_string(nodes_[leader].client_port);
        bool agreed = true;
        for (size_t i = 0; i < nodes_.size() && agreed; ++i) {
          if (static_cast<int>(i) == leader || nodes_[i].pid <= 0) continue;
          agreed = info_field(info(nodes_[i]), "raft_leader_address") == address;
        }
        if (agreed) return leader;
      }
      sleep_ms(50);
    }
    for (auto& n : nodes_) {
      std::string log = log_text(n);
      if (log.size() > 2000) log = log.substr(log.size() - 2000);
      UNSCOPED_INFO("node " << n.id << " (pid " << n.pid << ", " << (alive(n) ? "running" : "not running or stopped")
                            << ") INFO replication:\n" << info(n) << "log tail:\n" << log);
    }
    return -1;
  }

 private:
  LocalClusterOptions options_;
  std::string root_;
  std::vector<LocalNode> nodes_;
};

// A redis-server on loopback, for differential tests. started() is false
// when redis-server is not installed or does not answer.
class RedisServer {
 public:
  explicit RedisServer(uint16_t port) : port_(port) {
    pid_ = ::fork();
    if (pid_ == 0) {
      // Not the test's pipes: a reader of the test's output must see EOF.
      FILE* out = std::freopen("/dev/null", "w", stdout);
      FILE* err = std::freopen("/dev/null", "w", stderr);
      (void)out;
      (void)err;
      const std::string p = std::to_string(port);
      ::execlp("redis-server", "redis-server", "--port", p.c_str(), "--bind", "127.0.0.1", "--save", "",
               "--appendonly", "no", "--logfile", "/dev/null", static_cast<char*>(nullptr));
      std::_Exit(127);
    }
    const int64_t deadline = now_ms() + 5000;
    while (!started_ && now_ms() < deadline) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return;
      }
      RespConnection c(port_);
      started_ = c.connected() && c.call({"PING"}, 1000).raw == "+PONG\r\n";
      if (!started_) sleep_ms(50);
    }
  }
  ~RedisServer() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
  }
  RedisServer(const RedisServer&) = delete;
  RedisServer& operator=(const RedisServer&) = delete;

  bool started() const { return started_; }
  uint16_t port() const { return port_; }

 private:
  uint16_t port_;
  pid_t pid_ = -1;
  bool started_ = false;
};

// Reads a process's memory counter from /proc/<pid>/status ("VmRSS",
// "VmSize"), in KiB; -1 if unreadable.
inline int64_t process_memory_kib(pid_t pid, const std::string& field) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) return std::strtoll(line.c_str() + field.size() + 1, nullptr, 10);
  }
  return -1;
}

// Open descriptors of a process (entries of /proc/<pid>/fd); -1 if unreadable.
inline int open_fd_count(pid_t pid) {
  const std::string cmd = "ls /proc/" + std::to_string(pid) + "/fd 2>/dev/null | wc -l";
  FILE* p = ::popen(cmd.c_str(), "r");
  if (p == nullptr) return -1;
  int n = -1;
  if (std::fscanf(p, "%d", &n) != 1) n = -1;
  ::pclose(p);
  return n;
}

inline std::string keeld_path() { return std::string(KEEL_BUILD_DIR) + "/cmd/keeld"; }

// A temporary directory, removed with everything in it.
class TempDir {
 public:
  TempDir() {
    char dir[] = "/tmp/keel-test-XXXXXX";
    REQUIRE(::mkdtemp(dir) != nullptr);
    path_ = dir;
  }
  ~TempDir() { std::system(("rm -rf " + path_).c_str()); }
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

// A child process running keeld with `args`, stderr into `log`; killed and
// reaped on destruction.
class Keeld {
 public:
  Keeld(const std::vector<std::string>& args, const std::string& log) {
    pid_ = ::fork();
    REQUIRE(pid_ >= 0);
    if (pid_ == 0) {
      FILE* f = std::freopen(log.c_str(), "a", stderr);
      (void)f;
      std::vector<char*> argv;
      static char name[] = "keeld";
      argv.push_back(name);
      for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
      argv.push_back(nullptr);
      ::execv(keeld_path().c_str(), argv.data());
      std::_Exit(127);
    }
  }
  ~Keeld() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      int status = 0;
      ::waitpid(pid_, &status, 0);
    }
  }
  // Waits for the process to exit on its own; its exit code, or -1 if it
  // is still running after `timeout_ms`.
  int wait_exit(int timeout_ms) {
    for (int waited = 0; waited <= timeout_ms; waited += 10) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
      }
      sleep_ms(10);
    }
    return -1;
  }
  // Sends SIGTERM and returns the exit code (keeld stops cleanly on it).
  int terminate() {
    ::kill(pid_, SIGTERM);
    return wait_exit(10000);
  }

 private:
  pid_t pid_ = -1;
};

// Connects to 127.0.0.1:port, sends `request`, and reads until the server
// closes. Empty if the connection could not be made. Blocking, with a
// receive timeout so a silent server cannot hang the test.
inline std::string tcp_exchange(uint16_t port, const std::string& request) {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return {};
  timeval tv{5, 0};
  ::setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    ::close(fd);
    return {};
  }
  size_t sent = 0;
  while (sent < request.size()) {
    const ssize_t n = ::send(fd, request.data() + sent, request.size() - sent, MSG_NOSIGNAL);
    if (n <= 0) break;
    sent += static_cast<size_t>(n);
  }
  std::string reply;
  char buf[4096];
  for (;;) {
    const ssize_t n = ::recv(fd, buf, sizeof buf, 0);
    if (n <= 0) break;
    reply.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return reply;
}

inline std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

}  // namespace keel::testing
