// Must NOT link: malloc is wrapped and __wrap_malloc is never defined.
#include <cstdlib>

extern "C" int firmware_main() {
  void* volatile p = std::malloc(64);
  return p != nullptr ? 0 : 1;
}
