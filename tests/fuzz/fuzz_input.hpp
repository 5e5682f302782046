// tests/fuzz/fuzz_input.hpp - turns libFuzzer's bytes into a stream of typed values, biased
// towards hostile ones (NaN, +-inf, subnormals, values near the type's limits, zero).
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>

namespace physguard_fuzz {

class Input {
 public:
  Input(const std::uint8_t* data, std::size_t size) : p_(data), end_(data + size) {}
  bool empty() const { return p_ >= end_; }
  std::uint8_t byte() { return p_ < end_ ? *p_++ : 0; }
  std::uint32_t u32() {
    std::uint32_t v = 0;
    for (int i = 0; i < 4; ++i) v = (v << 8) | byte();
    return v;
  }
  std::int64_t i64() {
    std::uint64_t v = 0;
    for (int i = 0; i < 8; ++i) v = (v << 8) | byte();
    std::int64_t s;
    std::memcpy(&s, &v, sizeof s);
    return s;
  }
  /// A value: one tag byte picks a special value or reads raw bits / a moderate number.
  template <typename T>
  T value() {
    using L = std::numeric_limits<T>;
    switch (byte() % 16) {
      case 0: return L::quiet_NaN();
      case 1: return L::infinity();
      case 2: return -L::infinity();
      case 3: return L::denorm_min();
      case 4: return L::max();
      case 5: return L::lowest();
      case 6: return L::min();
      case 7: return T(0);
      case 8: {  // raw bits
        if constexpr (sizeof(T) == 4) {
          const std::uint32_t b = u32();
          T v;
          std::memcpy(&v, &b, sizeof v);
          return v;
        } else {
          const std::int64_t b = i64();
          T v;
          std::memcpy(&v, &b, sizeof v);
          return v;
        }
      }
      default:  // moderate: [-8, 8) in 1/4096 steps
        return static_cast<T>(static_cast<std::int32_t>(u32() % 65536u) - 32768) / T(4096);
    }
  }
  /// A time step: mostly forward, sometimes back, repeated, huge jumps, near the int64 limits.
  std::int64_t time_step_us() {
    switch (byte() % 8) {
      case 0: return -static_cast<std::int64_t>(u32() % 1000000u);
      case 1: return 0;
      case 2: return i64();
      case 3: return static_cast<std::int64_t>(u32()) * 1000000;  // very long gap
      default: return 1000 + static_cast<std::int64_t>(u32() % 200000u);
    }
  }

 private:
  const std::uint8_t* p_;
  const std::uint8_t* end_;
};

/// Saturating add for timestamps (keeps the fuzzer's own arithmetic free of UB).
inline std::int64_t add_sat(std::int64_t a, std::int64_t b) {
  if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b) return std::numeric_limits<std::int64_t>::max();
  if (b < 0 && a < std::numeric_limits<std::int64_t>::min() - b) return std::numeric_limits<std::int64_t>::min();
  return a + b;
}

}  // namespace physguard_fuzz

#define PHYSGUARD_FUZZ_CHECK(cond)                                                   \
  do {                                                                               \
    if (!(cond)) {                                                                   \
      std::fprintf(stderr, "invariant violated: %s at %s:%d\n", #cond, __FILE__, __LINE__); \
      std::abort();                                                                  \
    }                                                                                \
  } while (0)
