// tests/support/sanitizer.hpp - PHYSGUARD_TEST_ASAN is defined when the test is compiled with
// AddressSanitizer (the CI's clang pass, -O0 and instrumented: roughly 20x slower per step).
// Long-run tests use it to run fewer steps there; the g++ pass runs the full counts.
#pragma once

#if defined(__SANITIZE_ADDRESS__)
#define PHYSGUARD_TEST_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PHYSGUARD_TEST_ASAN 1
#endif
#endif
