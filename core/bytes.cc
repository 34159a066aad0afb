#include "core/bytes.h"

#include <xxhash.h>

namespace keel::core {

uint64_t checksum64(ByteView data, uint64_t seed) {
  return XXH3_64bits_withSeed(data.data(), data.size(), seed);
}

}  // namespace keel::core
