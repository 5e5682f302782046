// Must NOT link: newlib's printf formats floating point with an allocating dtoa (_malloc_r).
#include <cstdio>

extern "C" int firmware_main() {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%f", 1.5);
  return buf[0] == '1' ? 0 : 1;
}
