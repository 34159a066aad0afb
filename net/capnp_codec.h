// Cap'n Proto at the edge: encode a message to bytes, decode bytes to a
// reader, and turn Cap'n Proto's exceptions into Statuses.
//
// Decoding validates: a payload that is not a well-formed message, or that
// exceeds the traversal limit, is InvalidArgument — never an exception
// escaping into keel code.
#pragma once

#include <capnp/message.h>
#include <capnp/serialize.h>
#include <kj/exception.h>

#include <memory>
#include <string>

#include "core/bytes.h"
#include "core/status.h"

namespace keel::net {

// Words of a decoded message Cap'n Proto may traverse (8 MiB of data).
inline constexpr uint64_t kTraversalWordsMax = 1024 * 1024;

core::Bytes encode_message(capnp::MessageBuilder& builder);

// A decoded message. Owns an aligned copy of the bytes.
class DecodedMessage {
 public:
  // Errors: InvalidArgument when `bytes` is not a valid message.
  static core::Result<std::unique_ptr<DecodedMessage>> decode(core::ByteView bytes);

  // Reads the root as `T`. Errors: InvalidArgument on a malformed root.
  template <typename T>
  core::Result<typename T::Reader> root() {
    try {
      return reader_->getRoot<T>();
    } catch (const kj::Exception& e) {
      return core::invalid_argument(std::string("malformed message: ") + e.getDescription().cStr());
    }
  }

 private:
  DecodedMessage() = default;
  kj::Array<capnp::word> words_;
  std::unique_ptr<capnp::FlatArrayMessageReader> reader_;
};

// Runs `fn` (which reads fields of a decoded message), converting a Cap'n
// Proto exception raised by a malformed pointer into InvalidArgument.
template <typename Fn>
core::Status guard_decode(Fn&& fn) {
  try {
    return fn();
  } catch (const kj::Exception& e) {
    return core::invalid_argument(std::string("malformed message: ") + e.getDescription().cStr());
  }
}

}  // namespace keel::net
