// examples/firmware/sizes_main_target.cpp - the sizeof table on the Cortex-M4F (run under qemu).
#include "semihosting.hpp"
#include "sizes.hpp"

extern "C" int firmware_main() {
  auto out = [](const char* s) { semihosting::write(s); };
  sizes::print_table(out);
  return 0;
}
