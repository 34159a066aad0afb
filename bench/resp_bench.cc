// resp_bench: throughput of keel's RESP codec.
//
// Measures (1) the server-side request parser on pipelined
// "SET key:NNNNNN value" multibulk requests, fed in 16 KiB chunks as a
// socket would deliver them, and (2) the reply writer on the replies such a
// pipeline produces (+OK, bulk strings, null, integer). Wall-clock timing is
// the point of a benchmark, so this program (not library code) reads
// std::chrono::steady_clock.
//
// Usage: resp_bench [commands]   (default 1000000)
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "net/resp/reply_writer.h"
#include "net/resp/request_parser.h"

namespace {

using keel::net::resp::append_request;
using keel::net::resp::Argv;
using keel::net::resp::Protocol;
using keel::net::resp::ReplyWriter;
using keel::net::resp::RequestParser;
using Clock = std::chrono::steady_clock;

constexpr size_t kChunkBytes = 16 * 1024;
constexpr int kRounds = 3;

double seconds_since(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

std::string make_pipeline(size_t commands) {
  std::string wire;
  char key[32];
  for (size_t i = 0; i < commands; ++i) {
    std::snprintf(key, sizeof(key), "key:%06zu", i % 1000000);
    Argv argv{"SET", key, "value"};
    append_request(wire, argv);
  }
  return wire;
}

// Best of kRounds: seconds to parse `wire` fed in kChunkBytes pieces.
double parse_seconds(const std::string& wire, size_t expected) {
  double best = 1e9;
  for (int round = 0; round < kRounds; ++round) {
    RequestParser parser;
    Argv argv;
    size_t parsed = 0;
    size_t key_bytes = 0;
    auto start = Clock::now();
    for (size_t at = 0; at < wire.size(); at += kChunkBytes) {
      parser.feed(std::string_view(wire).substr(at, kChunkBytes));
      while (true) {
        auto r = parser.next(argv);
        if (!r.is_ok()) {
          std::fprintf(stderr, "parse error: %s\n", r.status().to_string().c_str());
          std::exit(1);
        }
        if (!*r) break;
        ++parsed;
        key_bytes += argv[1].size();
      }
    }
    double s = seconds_since(start);
    if (parsed != expected || key_bytes == 0) {
      std::fprintf(stderr, "parsed %zu of %zu commands\n", parsed, expected);
      std::exit(1);
    }
    best = std::min(best, s);
  }
  return best;
}

// Best of kRounds: seconds to write `replies` replies of a GET/SET/INCR mix,
// draining the writer every 16 KiB as a connection would.
double write_seconds(size_t replies, Protocol protocol, size_t& bytes_out) {
  double best = 1e9;
  const std::string value(32, 'v');
  for (int round = 0; round < kRounds; ++round) {
    ReplyWriter writer(protocol);
    size_t bytes = 0;
    auto start = Clock::now();
    for (size_t i = 0; i < replies; ++i) {
      switch (i % 4) {
        case 0: writer.ok(); break;
        case 1: writer.bulk(value); break;
        case 2: writer.null(); break;
        default: writer.integer(static_cast<int64_t>(i)); break;
      }
      if (writer.size() >= kChunkBytes) {
        bytes += writer.size();
        writer.clear();
      }
    }
    bytes += writer.size();
    double s = seconds_since(start);
    best = std::min(best, s);
    bytes_out = bytes;
  }
  return best;
}

}  // namespace

int main(int argc, char** argv) {
  size_t commands = argc > 1 ? std::strtoull(argv[1], nullptr, 10) : 1000000;
  if (commands == 0) commands = 1;
  std::string wire = make_pipeline(commands);

  double ps = parse_seconds(wire, commands);
  std::printf("request parse: %zu pipelined SET commands, %.1f MB in %.3f s: %.0f MB/s, %.2f M commands/s\n",
              commands, wire.size() / 1e6, ps, wire.size() / 1e6 / ps, commands / 1e6 / ps);

  for (Protocol protocol : {Protocol::kResp2, Protocol::kResp3}) {
    size_t bytes = 0;
    double ws = write_seconds(commands, protocol, bytes);
    std::printf("reply write (RESP%d, +OK/$32/null/:int mix): %zu replies, %.1f MB in %.3f s: %.0f MB/s, %.2f M replies/s\n",
                protocol == Protocol::kResp2 ? 2 : 3, commands, bytes / 1e6, ws, bytes / 1e6 / ws,
                commands / 1e6 / ws);
  }
  return 0;
}
