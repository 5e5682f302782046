// examples/firmware/semihosting.hpp - Arm semihosting calls (console output and exit) for a
// Cortex-M under a debugger or qemu (-semihosting-config enable=on,target=native).
#pragma once

#include <cstdint>

namespace semihosting {

inline int call(int op, const void* arg) noexcept {
  register int r0 __asm__("r0") = op;
  register const void* r1 __asm__("r1") = arg;
  __asm__ volatile("bkpt 0xab" : "+r"(r0) : "r"(r1) : "memory");
  return r0;
}

/// SYS_WRITE0: a NUL-terminated string to the host console.
inline void write(const char* s) noexcept { call(0x04, s); }

/// SYS_EXIT: ends the emulation; qemu exits with 0 for ApplicationExit, 1 otherwise.
[[noreturn]] inline void exit(bool success) noexcept {
  const std::uintptr_t reason = success ? 0x20026u /* ADP_Stopped_ApplicationExit */
                                        : 0x20023u /* ADP_Stopped_RunTimeErrorUnknown */;
  call(0x18, reinterpret_cast<const void*>(reason));
  for (;;) {
  }
}

}  // namespace semihosting
