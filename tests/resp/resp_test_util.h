// Helpers shared by the RESP codec tests: drive a parser over a byte string
// cut into given chunks and collect everything it yields.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "core/bytes.h"
#include "core/status.h"
#include "net/resp/reply_parser.h"
#include "net/resp/request_parser.h"
#include "net/resp/value.h"

namespace keel::net::resp::testing {

// What a parser produced from one input: the commands (or replies) and the
// error that stopped it, if any.
struct RequestOutcome {
  std::vector<Argv> commands;
  std::optional<core::Status> error;
  bool operator==(const RequestOutcome&) const = default;
};

struct ReplyOutcome {
  std::vector<Value> replies;
  std::optional<core::Status> error;
  bool operator==(const ReplyOutcome&) const = default;
};

// Feeds `input` in chunks of `chunk` bytes (0: all at once), draining after
// each chunk.
inline RequestOutcome parse_requests(core::ByteView input, size_t chunk = 0, Limits limits = Limits()) {
  RequestParser parser(limits);
  RequestOutcome out;
  if (chunk == 0) chunk = input.size() == 0 ? 1 : input.size();
  for (size_t at = 0; at < input.size() && !out.error; at += chunk) {
    parser.feed(input.substr(at, chunk));
    Argv argv;
    while (true) {
      auto r = parser.next(argv);
      if (!r.is_ok()) {
        out.error = r.status();
        break;
      }
      if (!*r) break;
      out.commands.push_back(argv);
    }
  }
  return out;
}

inline ReplyOutcome parse_replies(core::ByteView input, size_t chunk = 0, Limits limits = Limits()) {
  ReplyParser parser(limits);
  ReplyOutcome out;
  if (chunk == 0) chunk = input.size() == 0 ? 1 : input.size();
  for (size_t at = 0; at < input.size() && !out.error; at += chunk) {
    parser.feed(input.substr(at, chunk));
    while (true) {
      auto r = parser.next();
      if (!r.is_ok()) {
        out.error = r.status();
        break;
      }
      if (!r->has_value()) break;
      out.replies.push_back(std::move(**r));
    }
  }
  return out;
}

inline std::string error_message(const RequestOutcome& o) { return o.error ? o.error->message() : "<none>"; }
inline std::string error_message(const ReplyOutcome& o) { return o.error ? o.error->message() : "<none>"; }

}  // namespace keel::net::resp::testing
