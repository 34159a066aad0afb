// RequestParser: the server side of RESP. Turns the bytes a client sends,
// in whatever chunks the stream delivers them, into complete commands.
//
// Accepts what redis-server accepts, so redis-cli and redis-benchmark work:
//   - multibulk requests: "*<n>\r\n" then n times "$<len>\r\n<len bytes>\r\n";
//     arguments are binary-safe (NUL, CR and LF may appear inside them);
//     "*0\r\n" and "*-1\r\n" are consumed and yield nothing, as in Redis;
//   - inline commands: one line ending in "\n" or "\r\n", split on blanks,
//     with Redis' quoting rules ("..." with \n \r \t \b \a \\ \" \xHH escapes,
//     '...' with \' only; a closing quote must be followed by a blank or the
//     end of the line); empty lines are skipped.
// Any number of commands may be pipelined in one chunk.
//
// Invariants:
//   - Memory grows only with bytes that arrived: a declared bulk length or
//     element count is checked against Limits and never reserved (element
//     vectors reserve at most kReserveElementsMax ahead).
//   - The outcome does not depend on chunking: feeding one byte at a time
//     yields the same commands and the same error as feeding all at once.
//   - After a protocol error the parser is poisoned: next() keeps returning
//     that error. The caller replies "-ERR <message>" and closes the
//     connection, as Redis does.
#pragma once

#include <cstddef>

#include "core/bytes.h"
#include "core/status.h"
#include "net/resp/value.h"

namespace keel::net::resp {

class RequestParser {
 public:
  explicit RequestParser(Limits limits = Limits());

  RequestParser(const RequestParser&) = delete;
  RequestParser& operator=(const RequestParser&) = delete;

  // Appends bytes received from the client. The caller bounds how much it
  // feeds before draining with next() (one read's worth at a time).
  void feed(core::ByteView bytes);

  // Parses the next complete command out of the fed bytes.
  //   true:  `argv` holds the command (its previous contents are replaced;
  //          argv is never empty).
  //   false: no complete command is buffered yet; feed more bytes.
  //   error: InvalidArgument whose message is the Redis error text without
  //          the "ERR " prefix, e.g. "Protocol error: invalid bulk length".
  //          Reply "-ERR " + message and close the connection.
  // Commands are returned in the order they were sent; call next() until it
  // returns false to drain a pipelined chunk.
  core::Result<bool> next(Argv& argv);

  // Bytes fed but not yet consumed into commands.
  size_t buffered_bytes() const { return buffer_.size() - pos_; }

  // True when no part of a command is pending: the client may close here
  // without having cut a request short.
  bool at_command_boundary() const { return state_ == State::kStart && buffered_bytes() == 0; }

 private:
  enum class State : unsigned char {
    kStart,       // before the first byte of a command
    kBulkHeader,  // expecting "$<len>\r\n" of the next argument
    kBulkData,    // expecting bulk_bytes_ bytes and "\r\n"
  };

  // What one parsing step achieved.
  enum class Step : unsigned char {
    kNeedMore,  // nothing consumed; more bytes must arrive
    kProgress,  // consumed a header or a skipped line; keep going
    kCommand,   // a command was delivered into argv
  };

  core::Result<Step> parse_inline(Argv& argv);
  core::Result<Step> parse_multibulk_header();
  core::Result<Step> parse_bulk_header();
  core::Result<Step> parse_bulk_data(Argv& argv);
  core::Status fail(std::string message);
  void consume(size_t n);
  void deliver(Argv& argv);

  Limits limits_;
  core::Bytes buffer_;
  size_t pos_ = 0;      // first unconsumed byte of buffer_
  size_t scanned_ = 0;  // bytes past pos_ known to hold no line end
  State state_ = State::kStart;
  size_t args_remaining_ = 0;
  size_t bulk_bytes_ = 0;
  size_t command_bytes_ = 0;
  Argv args_;
  core::Status error_;
};

// Splits one inline command line with Redis' quoting rules (see above).
// InvalidArgument "Protocol error: unbalanced quotes in request" on an
// unterminated quote or a closing quote followed by a non-blank.
core::Status split_inline(core::ByteView line, Argv& argv);

}  // namespace keel::net::resp
