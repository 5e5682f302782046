// physguard/core/numeric.hpp - small numeric helpers that work without <cmath> surprises on
// firmware toolchains and under -ffast-math-like flags.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

namespace physguard {

/// True for a finite number.  Checks the bit pattern, so it still works when the compiler is told
/// to assume there are no NaNs (-ffinite-math-only), which firmware builds sometimes use.
inline bool is_finite(float v) noexcept {
  std::uint32_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return (bits & 0x7f800000u) != 0x7f800000u;
}
inline bool is_finite(double v) noexcept {
  std::uint64_t bits;
  std::memcpy(&bits, &v, sizeof bits);
  return (bits & 0x7ff0000000000000ull) != 0x7ff0000000000000ull;
}

/// True when every coefficient of an Eigen expression (or anything with .size() and operator()(i))
/// is finite.
template <typename Derived>
bool all_finite(const Derived& m) noexcept {
  for (decltype(m.size()) i = 0; i < m.size(); ++i)
    if (!is_finite(m.data()[i])) return false;
  return true;
}

}  // namespace physguard
