// KEEL_ASSERT: invariants that hold in every build.
//
// Assertions are never compiled out (no NDEBUG dependence). A failure prints
// the file, line and expression to stderr and aborts the process. keel-sim
// runs every seed in its own child process and reports an abort as a found
// bug together with the seed that reproduces it; keeld dies loudly rather
// than carry on with broken state.
//
// Split compound conditions (KEEL_ASSERT(a); KEEL_ASSERT(b);) so that a
// failure names the exact clause.
#pragma once

namespace keel::core {

[[noreturn]] void assert_fail(const char* expr, const char* file, int line, const char* message);

}  // namespace keel::core

#define KEEL_ASSERT(cond)                                               \
  do {                                                                  \
    if (__builtin_expect(!(cond), 0))                                   \
      ::keel::core::assert_fail(#cond, __FILE__, __LINE__, nullptr);    \
  } while (0)

// KEEL_ASSERT_MSG(cond, "why it must hold").
#define KEEL_ASSERT_MSG(cond, msg)                                      \
  do {                                                                  \
    if (__builtin_expect(!(cond), 0))                                   \
      ::keel::core::assert_fail(#cond, __FILE__, __LINE__, (msg));      \
  } while (0)

#define KEEL_UNREACHABLE() ::keel::core::assert_fail("unreachable", __FILE__, __LINE__, nullptr)
