// Must NOT link: operator new is wrapped and __wrap__Znwj is never defined.
#include <physguard/detect/cusum.hpp>

// The pointer escapes through a volatile global, so the compiler cannot elide the allocation.
physguard::CusumDetector<float>* volatile escaped = nullptr;

extern "C" int firmware_main() {
  escaped = new physguard::CusumDetector<float>(0.5f, 5.0f);
  return escaped->update(1.0f).alarm ? 1 : 0;
}
