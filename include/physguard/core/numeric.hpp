// physguard/core/numeric.hpp - small numeric helpers that work without <cmath> surprises on
// firmware toolchains and under -ffast-math-like flags.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

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

/// True when every coefficient of a plain Eigen matrix or array (anything with `Scalar`, `size()`
/// and contiguous `data()`) is finite.
///
/// Branch-free (every coefficient is read): the exponent field of each one plus one carries into
/// the top bit exactly when it is all ones (infinity or NaN), and those bits are or-ed together.
/// Compilers vectorise this loop, which an early-exit loop prevents; the matrices checked per
/// sample are small, so reading all of them costs less than the branches did.
template <typename Derived>
bool all_finite(const Derived& m) noexcept {
  using T = typename Derived::Scalar;
  static_assert(std::is_floating_point_v<T> && std::numeric_limits<T>::is_iec559 &&
                    (sizeof(T) == 4 || sizeof(T) == 8),
                "all_finite: IEEE 754 float or double coefficients");
  using Bits = std::conditional_t<sizeof(T) == 4, std::uint32_t, std::uint64_t>;
  constexpr int mantissa_bits = std::numeric_limits<T>::digits - 1;
  constexpr Bits exponent_mask = static_cast<Bits>(~Bits(0) >> 1) & ~((Bits(1) << mantissa_bits) - 1);
  constexpr Bits exponent_one = Bits(1) << mantissa_bits;
  const T* data = m.data();
  Bits acc = 0;
  for (decltype(m.size()) i = 0; i < m.size(); ++i) {
    Bits bits;
    std::memcpy(&bits, data + i, sizeof bits);
    acc |= (bits & exponent_mask) + exponent_one;
  }
  return (acc >> (sizeof(Bits) * 8 - 1)) == 0;
}

/// True when every diagonal coefficient of a square covariance matrix (a variance) is >= 0; false
/// for a negative or NaN variance.  Off-diagonal terms are not checked (a full positive
/// semi-definiteness test costs a factorisation; the filters condition P after every step).
template <typename Derived>
bool variances_nonnegative(const Derived& m) noexcept {
  using T = typename Derived::Scalar;
  bool ok = true;
  for (decltype(m.rows()) i = 0; i < m.rows(); ++i) ok &= m.coeff(i, i) >= T(0);
  return ok;
}

}  // namespace physguard
