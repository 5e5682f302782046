// Positive control of the heap guard: a physguard detector on the stack links fine.
#include <physguard/detect/cusum.hpp>

extern "C" int firmware_main() {
  physguard::CusumDetector<float> cusum(0.5f, 5.0f);
  return cusum.update(1.0f).alarm ? 1 : 0;
}
