#include "net/capnp_codec.h"

#include <cstring>

namespace keel::net {

core::Bytes encode_message(capnp::MessageBuilder& builder) {
  kj::Array<capnp::word> words = capnp::messageToFlatArray(builder);
  kj::ArrayPtr<const char> bytes = words.asChars();
  return core::Bytes(bytes.begin(), bytes.size());
}

core::Result<std::unique_ptr<DecodedMessage>> DecodedMessage::decode(core::ByteView bytes) {
  if (bytes.size() % sizeof(capnp::word) != 0 || bytes.empty()) {
    return core::invalid_argument("message length is not a whole number of words");
  }
  std::unique_ptr<DecodedMessage> m(new DecodedMessage());
  m->words_ = kj::heapArray<capnp::word>(bytes.size() / sizeof(capnp::word));
  std::memcpy(m->words_.begin(), bytes.data(), bytes.size());
  capnp::ReaderOptions options;
  options.traversalLimitInWords = kTraversalWordsMax;
  options.nestingLimit = 64;
  try {
    m->reader_ = std::make_unique<capnp::FlatArrayMessageReader>(m->words_.asPtr(), options);
  } catch (const kj::Exception& e) {
    return core::invalid_argument(std::string("malformed message: ") + e.getDescription().cStr());
  }
  return m;
}

}  // namespace keel::net
