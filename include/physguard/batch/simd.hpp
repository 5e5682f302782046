// physguard/batch/simd.hpp - the thin batch type the channel banks are written in.
//
// A batch holds `lanes` values of one scalar type T; banks process their channels one batch at a
// time.  Three implementations, one interface (load, store, + - * /, compares, select, max, sqrt,
// finite, any, all):
//
//   - std::experimental::native_simd<T> (GCC >= 11 with <experimental/simd>): the widest vector
//     the target has (16 floats / 8 doubles with AVX-512, 8 / 4 with AVX2, 4 / 2 with SSE2).
//   - FixedBatch<T, W> as a GCC / clang generic vector (`vector_size`): the compiler maps it to
//     whatever SIMD the target has (clang, GCC without <experimental/simd>).
//   - FixedBatch<T, W> as a plain array with element-wise loops of compile-time length
//     (PHYSGUARD_NO_SIMD, other compilers, and the single remainder lanes of every bank).
//
// Macros (define before including any physguard header, or on the command line):
//   PHYSGUARD_NO_SIMD               no std::experimental::simd, no vector types: plain loops only
//   PHYSGUARD_BATCH_WIDTH_BYTES     bytes per batch of the FixedBatch backends (default: the
//                                   target's vector width, 64 with AVX-512, 32 with AVX, else 16)
//
// The operations used by the banks are the IEEE-754 basic operations (+ - * / sqrt, compares,
// selects, max), so every lane gives exactly what the same scalar expression gives (up to the
// compiler's choice of fused multiply-add, which -ffp-contract controls in both).
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#if !defined(PHYSGUARD_NO_SIMD) && defined(__GNUC__) && !defined(__clang__) && __GNUC__ >= 11
#if defined(__has_include)
#if __has_include(<experimental/simd>)
#define PHYSGUARD_BATCH_STDX 1
#endif
#endif
#endif
#if !defined(PHYSGUARD_BATCH_STDX)
#define PHYSGUARD_BATCH_STDX 0
#endif
#if PHYSGUARD_BATCH_STDX
// GCC 12's AVX-512 intrinsics headers trip -Wuninitialized / -Wmaybe-uninitialized on their own
// `__Y = __Y` placeholders once std::experimental::simd inlines them (GCC PR 105593, fixed in
// GCC 13); quiet them here, where the intrinsics headers are first included.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wuninitialized"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#endif
#include <experimental/simd>
#pragma GCC diagnostic pop
#endif

#if !defined(PHYSGUARD_NO_SIMD) && defined(__GNUC__)
#define PHYSGUARD_BATCH_VECTOR_EXT 1
#if defined(__SSE2__)
#include <immintrin.h>
#endif
#else
#define PHYSGUARD_BATCH_VECTOR_EXT 0
#endif

#if !defined(PHYSGUARD_BATCH_WIDTH_BYTES)
#if defined(__AVX512F__)
#define PHYSGUARD_BATCH_WIDTH_BYTES 64
#elif defined(__AVX__)
#define PHYSGUARD_BATCH_WIDTH_BYTES 32
#else
#define PHYSGUARD_BATCH_WIDTH_BYTES 16
#endif
#endif

#if defined(__GNUC__)
/// Out of line and laid out away from the hot code: the (rare) finding-emission path of a bank.
#define PHYSGUARD_BATCH_COLD __attribute__((noinline, cold))
#define PHYSGUARD_BATCH_UNLIKELY(x) __builtin_expect(!!(x), 0)
#else
#define PHYSGUARD_BATCH_COLD
#define PHYSGUARD_BATCH_UNLIKELY(x) (x)
#endif
// The lane kernels and the lambdas that carry them are inlined into the loop over the channels.
// PHYSGUARD_BATCH_NO_FORCE_INLINE leaves that to the compiler: the sanitizer build sets it, where
// forcing every flag combination inline under instrumentation costs minutes of compile time and
// checks nothing more.
#if defined(__GNUC__) && !defined(PHYSGUARD_BATCH_NO_FORCE_INLINE)
#define PHYSGUARD_BATCH_INLINE inline __attribute__((always_inline))
#define PHYSGUARD_BATCH_LAMBDA_INLINE __attribute__((always_inline))
#else
#define PHYSGUARD_BATCH_INLINE inline
#define PHYSGUARD_BATCH_LAMBDA_INLINE
#endif

// Batches are passed by value to always-inline functions: the compilers' notes that passing
// vectors wider than the target's registers changes the ABI do not concern them.
#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Wpsabi"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wpsabi"
#endif

namespace physguard {
namespace batch {

/// Signed integer of T's width: one mask lane of a FixedBatch (all ones / all zeros).
template <typename T>
using lane_int_t = std::conditional_t<sizeof(T) == 4, std::int32_t, std::int64_t>;

/// How a batch type is loaded: BatchTraits<B>::load(p), load_flags(p), true_mask().
template <typename B>
struct BatchTraits;

template <typename B>
using mask_t = typename B::mask_type;

template <typename B>
constexpr std::size_t lanes() noexcept {
  return B::size();
}
/// W values of B from memory (any alignment).
template <typename B, typename T>
PHYSGUARD_BATCH_INLINE B load(const T* p) noexcept {
  return BatchTraits<B>::load(p);
}
/// Lanes whose byte in `flags` is non-zero.
template <typename B>
PHYSGUARD_BATCH_INLINE mask_t<B> load_flags(const std::uint8_t* flags) noexcept {
  return BatchTraits<B>::load_flags(flags);
}
template <typename B>
PHYSGUARD_BATCH_INLINE mask_t<B> true_mask() noexcept {
  return BatchTraits<B>::true_mask();
}

// ---- plain arrays ---------------------------------------------------------------------------

/// Mask of an ArrayBatch: one all-ones / all-zeros integer of T's width per lane.
template <typename T, int W>
struct ArrayMask {
  using Int = lane_int_t<T>;
  Int v[W];

  static constexpr std::size_t size() noexcept { return static_cast<std::size_t>(W); }
  bool operator[](int j) const noexcept { return v[j] != 0; }
  friend ArrayMask operator&&(const ArrayMask& a, const ArrayMask& b) noexcept {
    ArrayMask r;
    for (int j = 0; j < W; ++j) r.v[j] = a.v[j] & b.v[j];
    return r;
  }
  friend ArrayMask operator||(const ArrayMask& a, const ArrayMask& b) noexcept {
    ArrayMask r;
    for (int j = 0; j < W; ++j) r.v[j] = a.v[j] | b.v[j];
    return r;
  }
  friend ArrayMask operator!(const ArrayMask& a) noexcept {
    ArrayMask r;
    for (int j = 0; j < W; ++j) r.v[j] = ~a.v[j];
    return r;
  }
  friend ArrayMask operator!=(const ArrayMask& a, const ArrayMask& b) noexcept {
    ArrayMask r;
    for (int j = 0; j < W; ++j) r.v[j] = a.v[j] ^ b.v[j];
    return r;
  }
};

/// W values of T with element-wise arithmetic in plain loops.
template <typename T, int W>
struct ArrayBatch {
  using value_type = T;
  using mask_type = ArrayMask<T, W>;
  using Int = lane_int_t<T>;
  static constexpr std::size_t size() noexcept { return static_cast<std::size_t>(W); }

  T v[W];

  ArrayBatch() noexcept = default;
  ArrayBatch(T s) noexcept {  // NOLINT: broadcast, like simd
    for (int j = 0; j < W; ++j) v[j] = s;
  }
  T operator[](int j) const noexcept { return v[j]; }

#define PHYSGUARD_BATCH_BINOP(op)                                                   \
  friend ArrayBatch operator op(const ArrayBatch& a, const ArrayBatch& b) noexcept { \
    ArrayBatch r;                                                                   \
    for (int j = 0; j < W; ++j) r.v[j] = a.v[j] op b.v[j];                          \
    return r;                                                                       \
  }
  PHYSGUARD_BATCH_BINOP(+)
  PHYSGUARD_BATCH_BINOP(-)
  PHYSGUARD_BATCH_BINOP(*)
  PHYSGUARD_BATCH_BINOP(/)
#undef PHYSGUARD_BATCH_BINOP
  friend ArrayBatch operator-(const ArrayBatch& a) noexcept {
    ArrayBatch r;
    for (int j = 0; j < W; ++j) r.v[j] = -a.v[j];
    return r;
  }
#define PHYSGUARD_BATCH_CMP(op)                                                       \
  friend mask_type operator op(const ArrayBatch& a, const ArrayBatch& b) noexcept {   \
    mask_type r;                                                                      \
    for (int j = 0; j < W; ++j) r.v[j] = a.v[j] op b.v[j] ? Int(-1) : Int(0);         \
    return r;                                                                         \
  }
  PHYSGUARD_BATCH_CMP(<)
  PHYSGUARD_BATCH_CMP(<=)
  PHYSGUARD_BATCH_CMP(>)
  PHYSGUARD_BATCH_CMP(>=)
  PHYSGUARD_BATCH_CMP(==)
  PHYSGUARD_BATCH_CMP(!=)
#undef PHYSGUARD_BATCH_CMP
};

template <typename T, int W>
struct BatchTraits<ArrayBatch<T, W>> {
  using B = ArrayBatch<T, W>;
  static PHYSGUARD_BATCH_INLINE B load(const T* p) noexcept {
    B r;
    for (int j = 0; j < W; ++j) r.v[j] = p[j];
    return r;
  }
  static PHYSGUARD_BATCH_INLINE mask_t<B> load_flags(const std::uint8_t* flags) noexcept {
    mask_t<B> r;
    for (int j = 0; j < W; ++j) r.v[j] = flags[j] != 0 ? -1 : 0;
    return r;
  }
  static PHYSGUARD_BATCH_INLINE mask_t<B> true_mask() noexcept {
    mask_t<B> r;
    for (int j = 0; j < W; ++j) r.v[j] = -1;
    return r;
  }
};

template <typename T, int W>
PHYSGUARD_BATCH_INLINE void store(const ArrayBatch<T, W>& b, T* p) noexcept {
  for (int j = 0; j < W; ++j) p[j] = b.v[j];
}
template <typename T, int W>
PHYSGUARD_BATCH_INLINE ArrayBatch<T, W> select(const ArrayMask<T, W>& m, const ArrayBatch<T, W>& a,
                                               const ArrayBatch<T, W>& b) noexcept {
  ArrayBatch<T, W> r;
  for (int j = 0; j < W; ++j) r.v[j] = m.v[j] ? a.v[j] : b.v[j];
  return r;
}
/// a > b ? a : b per lane (the x86 max instruction's rule: a NaN in a gives b, one in b gives b).
template <typename T, int W>
PHYSGUARD_BATCH_INLINE ArrayBatch<T, W> max(const ArrayBatch<T, W>& a,
                                            const ArrayBatch<T, W>& b) noexcept {
  ArrayBatch<T, W> r;
  for (int j = 0; j < W; ++j) r.v[j] = a.v[j] > b.v[j] ? a.v[j] : b.v[j];
  return r;
}
template <typename T, int W>
PHYSGUARD_BATCH_INLINE bool any(const ArrayMask<T, W>& m) noexcept {
  typename ArrayMask<T, W>::Int acc = 0;
  for (int j = 0; j < W; ++j) acc |= m.v[j];
  return acc != 0;
}
template <typename T, int W>
PHYSGUARD_BATCH_INLINE bool all(const ArrayMask<T, W>& m) noexcept {
  typename ArrayMask<T, W>::Int acc = -1;
  for (int j = 0; j < W; ++j) acc &= m.v[j];
  return acc != 0;
}
template <typename T, int W>
PHYSGUARD_BATCH_INLINE ArrayBatch<T, W> sqrt(const ArrayBatch<T, W>& a) noexcept {
  ArrayBatch<T, W> r;
  for (int j = 0; j < W; ++j) r.v[j] = std::sqrt(a.v[j]);
  return r;
}
/// Lanes whose value is finite (neither NaN nor +-inf).
template <typename T, int W>
PHYSGUARD_BATCH_INLINE ArrayMask<T, W> finite(const ArrayBatch<T, W>& a) noexcept {
  ArrayMask<T, W> r;
  for (int j = 0; j < W; ++j)
    r.v[j] = (a.v[j] < T(0) ? -a.v[j] : a.v[j]) <= std::numeric_limits<T>::max() ? -1 : 0;
  return r;
}

// ---- GCC / clang generic vectors ------------------------------------------------------------
#if PHYSGUARD_BATCH_VECTOR_EXT

/// Mask of a VectorBatch: a vector of all-ones / all-zeros integers of T's width.
template <typename T, int W>
struct VectorMask {
  using Int = lane_int_t<T>;
  typedef Int Vec __attribute__((vector_size(W * sizeof(Int))));
  Vec v;

  static constexpr std::size_t size() noexcept { return static_cast<std::size_t>(W); }
  bool operator[](int j) const noexcept { return v[j] != 0; }
  friend VectorMask operator&&(const VectorMask& a, const VectorMask& b) noexcept {
    return {a.v & b.v};
  }
  friend VectorMask operator||(const VectorMask& a, const VectorMask& b) noexcept {
    return {a.v | b.v};
  }
  friend VectorMask operator!(const VectorMask& a) noexcept { return {~a.v}; }
  friend VectorMask operator!=(const VectorMask& a, const VectorMask& b) noexcept {
    return {a.v ^ b.v};
  }
};

/// W values of T as one generic vector: the compiler emits the target's SIMD instructions.
template <typename T, int W>
struct VectorBatch {
  using value_type = T;
  using mask_type = VectorMask<T, W>;
  typedef T Vec __attribute__((vector_size(W * sizeof(T))));
  static constexpr std::size_t size() noexcept { return static_cast<std::size_t>(W); }

  Vec v;

  VectorBatch() noexcept = default;
  VectorBatch(T s) noexcept : v(s - Vec{}) {}  // NOLINT: broadcast, like simd
  static VectorBatch of(Vec x) noexcept {
    VectorBatch r;
    r.v = x;
    return r;
  }
  T operator[](int j) const noexcept { return v[j]; }

  friend VectorBatch operator+(VectorBatch a, VectorBatch b) noexcept { return of(a.v + b.v); }
  friend VectorBatch operator-(VectorBatch a, VectorBatch b) noexcept { return of(a.v - b.v); }
  friend VectorBatch operator*(VectorBatch a, VectorBatch b) noexcept { return of(a.v * b.v); }
  friend VectorBatch operator/(VectorBatch a, VectorBatch b) noexcept { return of(a.v / b.v); }
  friend VectorBatch operator-(VectorBatch a) noexcept { return of(-a.v); }
  friend mask_type operator<(VectorBatch a, VectorBatch b) noexcept { return {a.v < b.v}; }
  friend mask_type operator<=(VectorBatch a, VectorBatch b) noexcept { return {a.v <= b.v}; }
  friend mask_type operator>(VectorBatch a, VectorBatch b) noexcept { return {a.v > b.v}; }
  friend mask_type operator>=(VectorBatch a, VectorBatch b) noexcept { return {a.v >= b.v}; }
  friend mask_type operator==(VectorBatch a, VectorBatch b) noexcept { return {a.v == b.v}; }
  friend mask_type operator!=(VectorBatch a, VectorBatch b) noexcept { return {a.v != b.v}; }
};

template <typename T, int W>
struct BatchTraits<VectorBatch<T, W>> {
  using B = VectorBatch<T, W>;
  static PHYSGUARD_BATCH_INLINE B load(const T* p) noexcept {
    B r;
    std::memcpy(&r.v, p, sizeof(r.v));
    return r;
  }
  static PHYSGUARD_BATCH_INLINE mask_t<B> load_flags(const std::uint8_t* flags) noexcept {
    typedef std::uint8_t Bytes __attribute__((vector_size(W)));
    using MV = typename mask_t<B>::Vec;
    Bytes bytes;
    std::memcpy(&bytes, flags, sizeof(bytes));
    return {__builtin_convertvector(bytes, MV) != MV{}};
  }
  static PHYSGUARD_BATCH_INLINE mask_t<B> true_mask() noexcept {
    using MV = typename mask_t<B>::Vec;
    return {MV{} == MV{}};
  }
};

template <typename T, int W>
PHYSGUARD_BATCH_INLINE void store(const VectorBatch<T, W>& b, T* p) noexcept {
  std::memcpy(p, &b.v, sizeof(b.v));
}
template <typename T, int W>
PHYSGUARD_BATCH_INLINE VectorBatch<T, W> select(const VectorMask<T, W>& m, VectorBatch<T, W> a,
                                                VectorBatch<T, W> b) noexcept {
  return VectorBatch<T, W>::of(m.v ? a.v : b.v);
}
/// a > b ? a : b per lane (the x86 max instruction's rule: a NaN in a gives b, one in b gives b).
template <typename T, int W>
PHYSGUARD_BATCH_INLINE VectorBatch<T, W> max(VectorBatch<T, W> a, VectorBatch<T, W> b) noexcept {
  return VectorBatch<T, W>::of(a.v > b.v ? a.v : b.v);
}
template <typename T, int W>
PHYSGUARD_BATCH_INLINE bool any(const VectorMask<T, W>& m) noexcept {
  std::uint64_t words[sizeof(m.v) / 8];
  std::memcpy(words, &m.v, sizeof(m.v));
  std::uint64_t acc = 0;
  for (std::uint64_t w : words) acc |= w;
  return acc != 0;
}
template <typename T, int W>
PHYSGUARD_BATCH_INLINE bool all(const VectorMask<T, W>& m) noexcept {
  return !any(!m);
}
/// Square root per lane: the target's vector instruction where this header knows it (a loop over
/// std::sqrt vectorises only with -fno-math-errno).
template <typename T, int W>
PHYSGUARD_BATCH_INLINE VectorBatch<T, W> sqrt(VectorBatch<T, W> a) noexcept {
  using V = typename VectorBatch<T, W>::Vec;
#if defined(__AVX512F__)
  if constexpr (sizeof(V) == 64 && sizeof(T) == 4)
    return VectorBatch<T, W>::of(reinterpret_cast<V>(_mm512_sqrt_ps(reinterpret_cast<__m512>(a.v))));
  if constexpr (sizeof(V) == 64 && sizeof(T) == 8)
    return VectorBatch<T, W>::of(reinterpret_cast<V>(_mm512_sqrt_pd(reinterpret_cast<__m512d>(a.v))));
#endif
#if defined(__AVX__)
  if constexpr (sizeof(V) == 32 && sizeof(T) == 4)
    return VectorBatch<T, W>::of(reinterpret_cast<V>(_mm256_sqrt_ps(reinterpret_cast<__m256>(a.v))));
  if constexpr (sizeof(V) == 32 && sizeof(T) == 8)
    return VectorBatch<T, W>::of(reinterpret_cast<V>(_mm256_sqrt_pd(reinterpret_cast<__m256d>(a.v))));
#endif
#if defined(__SSE2__)
  if constexpr (sizeof(V) == 16 && sizeof(T) == 4)
    return VectorBatch<T, W>::of(reinterpret_cast<V>(_mm_sqrt_ps(reinterpret_cast<__m128>(a.v))));
  if constexpr (sizeof(V) == 16 && sizeof(T) == 8)
    return VectorBatch<T, W>::of(reinterpret_cast<V>(_mm_sqrt_pd(reinterpret_cast<__m128d>(a.v))));
#endif
  VectorBatch<T, W> r;
  for (int j = 0; j < W; ++j) r.v[j] = std::sqrt(a.v[j]);
  return r;
}
/// Lanes whose value is finite: |x| <= max compared on the bit patterns (NaN patterns are larger).
template <typename T, int W>
PHYSGUARD_BATCH_INLINE VectorMask<T, W> finite(VectorBatch<T, W> a) noexcept {
  using MV = typename VectorMask<T, W>::Vec;
  using Int = lane_int_t<T>;
  const Int magnitude = std::numeric_limits<Int>::max();  // all bits but the sign
  T max_value = std::numeric_limits<T>::max();
  Int max_bits;
  std::memcpy(&max_bits, &max_value, sizeof(max_bits));
  const MV bits = reinterpret_cast<MV>(a.v) & magnitude;
  return {bits <= max_bits};
}

#endif  // PHYSGUARD_BATCH_VECTOR_EXT

/// W values of T: a generic vector where the compiler has them, else a plain array.
template <typename T, int W>
using FixedBatch = std::conditional_t<PHYSGUARD_BATCH_VECTOR_EXT && (W > 1),
#if PHYSGUARD_BATCH_VECTOR_EXT
                                      VectorBatch<T, (W > 1 ? W : 2)>,
#else
                                      ArrayBatch<T, W>,
#endif
                                      ArrayBatch<T, W>>;

/// One lane: what the banks use for the channels left over after the last full batch.
template <typename T>
using Single = ArrayBatch<T, 1>;

// ---- std::experimental::simd ----------------------------------------------------------------
#if PHYSGUARD_BATCH_STDX
namespace stdx = std::experimental;
/// The batch type of the banks: native_simd<T>.
template <typename T>
using Batch = stdx::native_simd<T>;
/// Name of the backend in use.
constexpr const char* backend_name() noexcept { return "std::experimental::simd"; }

template <typename T, typename Abi>
struct BatchTraits<stdx::simd<T, Abi>> {
  using B = stdx::simd<T, Abi>;
  static PHYSGUARD_BATCH_INLINE B load(const T* p) noexcept { return B(p, stdx::element_aligned); }
  static PHYSGUARD_BATCH_INLINE mask_t<B> load_flags(const std::uint8_t* flags) noexcept {
    // bytes -> integers of T's width (one zero-extending load), compare in the integer domain,
    // then reinterpret the mask (free: same lane count and mask register / vector width)
    using IntBatch = stdx::rebind_simd_t<lane_int_t<T>, B>;
    const IntBatch wide(flags, stdx::element_aligned);
    return stdx::__proposed::static_simd_cast<B>(wide != IntBatch(0));
  }
  static PHYSGUARD_BATCH_INLINE mask_t<B> true_mask() noexcept { return mask_t<B>(true); }
};

template <typename T, typename Abi>
PHYSGUARD_BATCH_INLINE void store(const stdx::simd<T, Abi>& b, T* p) noexcept {
  b.copy_to(p, stdx::element_aligned);
}
template <typename T, typename Abi>
PHYSGUARD_BATCH_INLINE stdx::simd<T, Abi> select(const stdx::simd_mask<T, Abi>& m,
                                                 const stdx::simd<T, Abi>& a,
                                                 const stdx::simd<T, Abi>& b) noexcept {
  stdx::simd<T, Abi> r = b;
  stdx::where(m, r) = a;
  return r;
}
/// a > b ? a : b per lane (libstdc++'s definition of max; the x86 max instruction's rule).
template <typename T, typename Abi>
PHYSGUARD_BATCH_INLINE stdx::simd<T, Abi> max(const stdx::simd<T, Abi>& a,
                                              const stdx::simd<T, Abi>& b) noexcept {
  return stdx::max(a, b);
}
template <typename T, typename Abi>
PHYSGUARD_BATCH_INLINE bool any(const stdx::simd_mask<T, Abi>& m) noexcept {
  return stdx::any_of(m);
}
template <typename T, typename Abi>
PHYSGUARD_BATCH_INLINE bool all(const stdx::simd_mask<T, Abi>& m) noexcept {
  return stdx::all_of(m);
}
template <typename T, typename Abi>
PHYSGUARD_BATCH_INLINE stdx::simd<T, Abi> sqrt(const stdx::simd<T, Abi>& a) noexcept {
  return stdx::sqrt(a);
}
template <typename T, typename Abi>
PHYSGUARD_BATCH_INLINE stdx::simd_mask<T, Abi> finite(const stdx::simd<T, Abi>& a) noexcept {
  return stdx::isfinite(a);  // one vfpclass with AVX-512DQ, an and + compare elsewhere
}
#else
/// The batch type of the banks: a FixedBatch of PHYSGUARD_BATCH_WIDTH_BYTES bytes.
template <typename T>
using Batch = FixedBatch<T, (PHYSGUARD_BATCH_WIDTH_BYTES / static_cast<int>(sizeof(T)) > 0
                                 ? PHYSGUARD_BATCH_WIDTH_BYTES / static_cast<int>(sizeof(T))
                                 : 1)>;
constexpr const char* backend_name() noexcept {
  return PHYSGUARD_BATCH_VECTOR_EXT ? "generic vectors" : "plain loops";
}
#endif

}  // namespace batch
}  // namespace physguard

#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
