#include "core/assert.h"

#include <cstdio>
#include <cstdlib>

namespace keel::core {

void assert_fail(const char* expr, const char* file, int line, const char* message) {
  std::fprintf(stderr, "KEEL_ASSERT failed: %s at %s:%d%s%s\n", expr, file, line,
               message != nullptr ? ": " : "", message != nullptr ? message : "");
  std::fflush(stderr);
  std::abort();
}

}  // namespace keel::core
