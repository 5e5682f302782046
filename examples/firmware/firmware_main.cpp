// examples/firmware/firmware_main.cpp - the probe firmware: runs the shared scenario on a
// Cortex-M4F and prints its findings through semihosting.
//
// Integration shown here (see docs/embedded.md):
//   - PHYSGUARD_NO_STDIO / PHYSGUARD_NO_MALLOC on the command line; the link wraps malloc and
//     operator new so that any heap use is a link error;
//   - an assertion handler of our own (set_assert_handler) that reports and stops the probe;
//   - the clock: a free-running 32-bit microsecond counter extended by CounterUnwrapper.
#include <cstdint>

#include <physguard/core/config.hpp>
#include <physguard/core/time.hpp>

#include "scenario.hpp"
#include "semihosting.hpp"

namespace {

scenario::Detectors detectors;  // static storage: counted in .bss / .data

[[noreturn]] void on_assert(const char* expression, const char* message, const char*, int) {
  semihosting::write("ASSERT ");
  semihosting::write(expression);
  semihosting::write(": ");
  semihosting::write(message);
  semihosting::write("\n");
  semihosting::exit(false);
}

// Self-check of the clock path: a 32-bit microsecond timer wraps every 71.6 minutes; the unwrapper
// must keep time monotonic across the wrap.
bool clock_wraps_cleanly() {
  physguard::CounterUnwrapper<std::uint32_t> clock;
  const physguard::Timestamp a = clock.extend(0xFFFFFF00u);
  const physguard::Timestamp b = clock.extend(0x00000100u);  // wrapped
  return (b - a).us == 0x200;
}

}  // namespace

// Called by Reset_Handler (startup.cpp) once .data, .bss and the static constructors are set up.
extern "C" int firmware_main() {
  physguard::set_assert_handler(on_assert);
  if (!clock_wraps_cleanly()) {
    semihosting::write("clock unwrapper failed\n");
    return 1;
  }
  auto out = [](const char* s) { semihosting::write(s); };
  scenario::run(detectors, out);
  semihosting::write("DONE\n");
  return 0;
}
