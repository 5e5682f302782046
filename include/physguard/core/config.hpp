// physguard/core/config.hpp - configuration macros, the assert hook and the no-malloc switch.
//
// Firmware integrators configure physguard with these macros (define them before including any
// physguard header, or on the compiler command line):
//
//   PHYSGUARD_ASSERT(cond, msg)   replace the assertion entirely (for example with your RTOS's).
//   PHYSGUARD_DISABLE_ASSERTS     compile assertions out.
//   PHYSGUARD_NO_MALLOC           forbid every Eigen heap allocation at compile time (EIGEN_NO_MALLOC).
//   PHYSGUARD_NO_STDIO            the default assert handler does not print (no stdio pulled in).
//
// At run time, `physguard::set_assert_handler()` installs a handler of your own (log the file and
// line to flash, reset the probe, ...).  Tests turn on EIGEN_RUNTIME_NO_MALLOC and use
// `physguard::NoMallocScope` to prove that the per-sample path never touches the heap.
#pragma once

#if defined(PHYSGUARD_NO_MALLOC) && !defined(EIGEN_NO_MALLOC)
#define EIGEN_NO_MALLOC
#endif

#if !defined(PHYSGUARD_NO_STDIO)
#include <cstdio>
#endif
#include <cstdlib>

#define PHYSGUARD_VERSION_MAJOR 0
#define PHYSGUARD_VERSION_MINOR 1
#define PHYSGUARD_VERSION_PATCH 0

namespace physguard {

/// Signature of an assertion handler: the failed expression, a message, the file and the line.
/// A handler must not return (the caller's invariants no longer hold); the default aborts.
using AssertHandler = void (*)(const char* expression, const char* message, const char* file,
                               int line);

namespace detail {
[[noreturn]] inline void default_assert_handler(const char* expression, const char* message,
                                                const char* file, int line) {
#if !defined(PHYSGUARD_NO_STDIO)
  std::fprintf(stderr, "physguard: assertion failed: %s (%s) at %s:%d\n", expression, message,
               file, line);
#else
  (void)expression;
  (void)message;
  (void)file;
  (void)line;
#endif
  std::abort();
}

inline AssertHandler& assert_handler_slot() noexcept {
  static AssertHandler handler = nullptr;
  return handler;
}

[[noreturn]] inline void assert_fail(const char* expression, const char* message, const char* file,
                                     int line) {
  if (AssertHandler handler = assert_handler_slot()) handler(expression, message, file, line);
  // A user handler that returns is a bug in the handler: abort anyway.
  default_assert_handler(expression, message, file, line);
}
}  // namespace detail

/// Install an assertion handler; returns the previous one (nullptr means the default).
inline AssertHandler set_assert_handler(AssertHandler handler) noexcept {
  AssertHandler previous = detail::assert_handler_slot();
  detail::assert_handler_slot() = handler;
  return previous;
}

}  // namespace physguard

#if !defined(PHYSGUARD_ASSERT)
#if defined(PHYSGUARD_DISABLE_ASSERTS)
#define PHYSGUARD_ASSERT(cond, msg) ((void)0)
#else
#define PHYSGUARD_ASSERT(cond, msg) \
  ((cond) ? (void)0 : ::physguard::detail::assert_fail(#cond, msg, __FILE__, __LINE__))
#endif
#endif

#if defined(EIGEN_RUNTIME_NO_MALLOC)
#include <Eigen/Core>
namespace physguard {
/// RAII guard for tests: inside its scope any Eigen heap allocation triggers an Eigen assertion.
/// Only available when EIGEN_RUNTIME_NO_MALLOC is defined (tests define it).
class NoMallocScope {
 public:
  NoMallocScope() noexcept : previous_(Eigen::internal::is_malloc_allowed()) {
    Eigen::internal::set_is_malloc_allowed(false);
  }
  ~NoMallocScope() { Eigen::internal::set_is_malloc_allowed(previous_); }
  NoMallocScope(const NoMallocScope&) = delete;
  NoMallocScope& operator=(const NoMallocScope&) = delete;

 private:
  bool previous_;
};
}  // namespace physguard
#endif
