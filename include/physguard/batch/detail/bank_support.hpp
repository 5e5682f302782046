// physguard/batch/detail/bank_support.hpp - what the channel banks share: carving one block into
// arrays, the scan-time guard and refusal counters, the loop over whole batches and remainder
// lanes, compile-time dispatch of run-time switches, the lane kernels that are the same in several
// banks (scalar innovation + NIS gate, CUSUM), and the (rare, out-of-line) finding emission.
// Internal: not part of the API.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <limits>
#include <type_traits>

#include "../../core/config.hpp"
#include "../../core/finding.hpp"
#include "../../core/numeric.hpp"
#include "../../core/status.hpp"
#include "../../core/time.hpp"
#include "../../estimate/options.hpp"
#include "../simd.hpp"

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

/// How a bank evaluates the divisions of its Kalman update.
enum class BankArithmetic : std::uint8_t {
  /// The scalar objects' operations in their order: 1/S, P r / S and y / sqrt(S) -- two
  /// divisions and a square root per update (one more division for the CUSUM's residual); bit-
  /// identical to the scalar pipeline when neither side contracts to fused multiply-add.
  scalar_order = 0,
  /// One division and one square root: P+ = (P r) (1/S) and y sqrt(1/S).  Each differs from the
  /// scalar_order value by at most 1-2 ulp per step (the differences do not grow: the covariance
  /// recursion is contractive); faster where the divider is the bottleneck.  Alarm decisions differ
  /// only when a score lies within a few ulp of its threshold.
  fast,
};

namespace detail {

/// Hands out 64-byte aligned arrays from one caller-provided block.  With a null base it only
/// counts the bytes needed (so bytes_needed() and carve() share one description of the layout).
///
/// Each array occupies an odd number of 64-byte lines: a bank reads element i of every array in
/// the same step, and arrays whose starts differ by a multiple of 4 KiB would put all those lines
/// into one set of the L1 cache (more arrays than it has ways: every step misses).
class ArrayCarver {
 public:
  static constexpr std::size_t alignment = 64;

  explicit ArrayCarver(void* base) noexcept : base_(static_cast<unsigned char*>(base)) {}

  template <typename U>
  U* take(std::size_t count) noexcept {
    U* p = base_ != nullptr ? reinterpret_cast<U*>(base_ + offset_) : nullptr;
    std::size_t lines = (count * sizeof(U) + alignment - 1) / alignment;
    if (lines % 2 == 0) ++lines;
    offset_ += lines * alignment;
    return p;
  }
  /// Bytes used so far (a multiple of the alignment).
  std::size_t bytes() const noexcept { return offset_; }

 private:
  unsigned char* base_;
  std::size_t offset_ = 0;
};

/// Calls f(std::bool_constant<b>...) for the run-time flags b...: one instantiation of the fused
/// loop per combination, so no flag is tested inside it.
template <typename F>
PHYSGUARD_BATCH_INLINE void with_flags(F&& f) {
  f();
}
template <typename F, typename... Rest>
PHYSGUARD_BATCH_INLINE void with_flags(F&& f, bool flag, Rest... rest) {
  if (flag)
    with_flags([&](auto... tail) { f(std::true_type{}, tail...); }, rest...);
  else
    with_flags([&](auto... tail) { f(std::false_type{}, tail...); }, rest...);
}

/// The batch type a lane kernel is called with (whole batches, then single remainder lanes).
template <typename V>
struct LaneTag {
  using type = V;
};

/// Calls f(i, LaneTag<B>) for every whole batch of channels [i, i + lanes<B>()), then
/// f(i, LaneTag<Single<T>>) for each channel left over.
template <typename B, typename F>
PHYSGUARD_BATCH_INLINE void for_each_batch(std::size_t n, F&& f) {
  constexpr std::size_t W = lanes<B>();
  std::size_t i = 0;
  for (; i + W <= n; i += W) f(i, LaneTag<B>{});
  for (; i < n; ++i) f(i, LaneTag<Single<typename B::value_type>>{});
}

/// Delivers a finding: to `sink(finding, index)` when the sink takes the full channel index
/// (banks may have more than 65536 channels; Finding::channel is 16 bits), else `sink(finding)`.
template <typename Sink, typename T>
inline void deliver(Sink& sink, const Finding<T>& f, std::size_t index) {
  if constexpr (std::is_invocable<Sink&, const Finding<T>&, std::size_t>::value) {
    sink(f, index);
  } else {
    (void)index;
    sink(f);
  }
}

// ---- lane kernels shared by several banks ---------------------------------------------------

/// Bank-wide constants of a scalar Kalman measurement update.
template <typename T>
struct UpdateConstants {
  T variance_floor;
  T inverse_gate;  ///< 1 / chi-square gate (1 dof)
  bool reject_outside_gate;
  /// The common-case shortcut (common_lanes()) relies on S = P + r > 0, which a positive floor
  /// guarantees; with a floor <= 0 every batch takes the general path.
  bool common_path;

  UpdateConstants(const EstimatorOptions<T>& options, T inverse_gate_1dof) noexcept
      : variance_floor(options.variance_floor),
        inverse_gate(inverse_gate_1dof),
        reject_outside_gate(options.reject_outside_gate),
        common_path(options.variance_floor > T(0)) {}
};

/// Innovation of a scalar measurement with innovation variance s: what detail::joseph_update and
/// residual_of compute (1/s, NIS = y^2/s, residual y/sqrt(s)), per lane.  Only values: the lane
/// tests are made where they are needed (few on the common path, see common_lanes()).
template <typename V>
struct ScalarInnovation {
  V inv_s;
  V nis;
  V zn;          ///< normalised innovation y / sqrt(s)
  V k_y;         ///< gain times innovation for x+ = x- + k_y
};

/// `ph` is P H' (the prior variance of the measured state).  scalar_order: the scalar filter's
/// expressions (1/s, y y (1/s), (ph (1/s)) y, y / sqrt(s)).  fast: y/s is formed once and reused
/// (NIS = y (y/s), gain term ph (y/s)), and the square root runs beside the division instead of
/// after it (y/sqrt(s) = (y/s) sqrt(s)); each value within 1-2 ulp of the scalar_order one.
template <typename V, bool Fast>
PHYSGUARD_BATCH_INLINE ScalarInnovation<V> scalar_innovation(V y, V s, V ph) noexcept {
  using T = typename V::value_type;
  ScalarInnovation<V> r;
  r.inv_s = V(T(1)) / s;
  if (Fast) {
    const V y_s = y * r.inv_s;
    r.nis = y * y_s;
    r.zn = y_s * batch::sqrt(s);
    r.k_y = ph * y_s;
  } else {
    r.nis = y * y * r.inv_s;
    r.zn = y / batch::sqrt(s);
    r.k_y = ph * r.inv_s * y;
  }
  return r;
}

/// The lane tests of a scalar Kalman update (KalmanFilter's order), for the general path.
template <typename V>
struct UpdateChecks {
  mask_t<V> in_ok;    ///< measurement (and input) finite
  mask_t<V> pred_ok;  ///< prediction finite
  mask_t<V> spd;      ///< S > 0 and finite
  mask_t<V> nis_ok;   ///< NIS finite
  mask_t<V> gated;    ///< outside the gate with gating on: tested, not fused
  mask_t<V> upd_ok;   ///< updated state finite
};

/// Rejection test of the NIS: NIS / gate > 1 when gating is on (as KalmanFilter's test ratio).
template <typename V, typename T>
PHYSGUARD_BATCH_INLINE mask_t<V> gate_rejects(V nis, const UpdateConstants<T>& c) noexcept {
  return c.reject_outside_gate ? (nis * V(c.inverse_gate) > V(T(1))) : !true_mask<V>();
}

/// The common case of a scalar Kalman bank, decided with one compare per lane: the lanes whose
/// innovation passes the gate test (gating off: whose NIS is finite), whose updated state is
/// finite (`probe`, the sum of the updated values times zero, is 0 and not NaN) and whose
/// `excess` (statistic minus threshold, and anything else that must not be positive) is <= 0.
/// With a positive variance floor such a lane passes every test of UpdateChecks: NIS finite =>
/// y finite => z, u and the prediction finite; an infinite prior variance would make the gain a
/// NaN (inf * 0) and with it the updated state; S = P + r > 0, and S overflows only when P r does,
/// which makes the updated variance a NaN; |y / sqrt(S)| is about sqrt(NIS), finite.  So, when
/// the lane was sampled and not in alarm, the sample is used and fused and no finding is due.
template <typename V, typename T>
PHYSGUARD_BATCH_INLINE mask_t<V> common_lanes(V nis, V probe, V excess,
                                              const UpdateConstants<T>& c) noexcept {
  const V zero(T(0));
  // excess first: max(a, b) returns b when either is NaN, and only b can be NaN here
  const V gate_excess = c.reject_outside_gate ? nis * V(c.inverse_gate) - V(T(1)) : nis * zero;
  return probe + batch::max(excess, gate_excess) <= zero;
}

/// 0 when a and b are finite, NaN otherwise.
template <typename V>
PHYSGUARD_BATCH_INLINE V finite_probe(V a, V b) noexcept {
  using T = typename V::value_type;
  return a * V(T(0)) + b * V(T(0));
}

/// True when the L flag bytes at p are all zero (no lane in alarm).
template <std::size_t L>
PHYSGUARD_BATCH_INLINE bool all_zero(const std::uint8_t* p) noexcept {
  if constexpr (L % 8 == 0) {
    std::uint64_t acc = 0;
    for (std::size_t k = 0; k < L; k += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + k, 8);
      acc |= w;
    }
    return acc == 0;
  } else {
    unsigned acc = 0;
    for (std::size_t k = 0; k < L; ++k) acc |= p[k];
    return acc == 0;
  }
}
/// True when none of the L flag bytes at p is zero (every lane sampled).
template <std::size_t L>
PHYSGUARD_BATCH_INLINE bool none_zero(const std::uint8_t* p) noexcept {
  if constexpr (L % 8 == 0) {
    std::uint64_t has_zero = 0;
    for (std::size_t k = 0; k < L; k += 8) {
      std::uint64_t w;
      std::memcpy(&w, p + k, 8);
      has_zero |= (w - 0x0101010101010101ull) & ~w & 0x8080808080808080ull;
    }
    return has_zero == 0;
  } else {
    bool all = true;
    for (std::size_t k = 0; k < L; ++k) all = all && p[k] != 0;
    return all;
  }
}

/// Which lanes of a Kalman bank predicted, used the sample (statistic updated) and fused it, as
/// KalmanInnovationSource + Pipeline decide: a sampled, finite measurement whose prediction is
/// finite is predicted; it is used when S is positive definite, the NIS finite and either the
/// update finite or the sample gated out (|y / sqrt(S)| ~ sqrt(NIS) is then finite too); it is
/// fused unless gated out or the channel is in alarm (the filter coasts).
template <typename M>
struct UpdateLanes {
  M predicted;
  M used;
  M fuse;
};

template <typename V>
PHYSGUARD_BATCH_INLINE UpdateLanes<mask_t<V>> update_lanes(const mask_t<V>& sampled,
                                                           const UpdateChecks<V>& k,
                                                           const mask_t<V>& was_alarm) noexcept {
  UpdateLanes<mask_t<V>> r;
  r.predicted = sampled && k.in_ok && k.pred_ok;
  r.used = r.predicted && k.spd && k.nis_ok && (k.gated || k.upd_ok);
  r.fuse = r.used && !k.gated && !was_alarm;
  return r;
}

/// Why a sampled lane of a Kalman bank was refused (KalmanFilter's status order).
template <typename V>
inline Status kalman_refusal(const UpdateChecks<V>& k, int lane) noexcept {
  if (!k.in_ok[lane]) return Status::not_finite;
  if (k.pred_ok[lane] && !k.spd[lane]) return Status::not_positive_definite;
  return Status::numerical_failure;
}

/// Two-sided CUSUM step (CusumDetector::update) of the lanes at channel i, from a bank's arrays
/// `upper`, `lower`, `k` and `h`: S+ = max(0, S+ + z - k), S- = max(0, S- - z - k), score
/// max(S+, S-), limit h.  Same operations and ties as the scalar detector.
template <typename V>
struct CusumLanes {
  V upper0, lower0;  ///< before
  V upper, lower;    ///< after
  V score, limit;
};

template <typename V, typename Arrays>
PHYSGUARD_BATCH_INLINE CusumLanes<V> cusum_step(const Arrays& arr, std::size_t i, V z) noexcept {
  using T = typename V::value_type;
  const V zero(T(0));
  const V k = load<V>(arr.k + i);
  CusumLanes<V> r;
  r.upper0 = load<V>(arr.upper + i);
  r.lower0 = load<V>(arr.lower + i);
  r.upper = batch::max(r.upper0 + z - k, zero);  // up > 0 ? up : 0
  r.lower = batch::max(r.lower0 - z - k, zero);
  r.score = batch::max(r.lower, r.upper);        // upper >= lower ? upper : lower
  r.limit = load<V>(arr.h + i);
  return r;
}

/// Stores the CUSUM sums of the lanes in `used` (the others keep theirs).  (Exact: unused, for a
/// uniform call with the EWMA's.)
template <bool Exact = false, typename V, typename Arrays>
PHYSGUARD_BATCH_INLINE void store_statistic(const Arrays& arr, std::size_t i,
                                            const CusumLanes<V>& c,
                                            const mask_t<V>& used) noexcept {
  store(select(used, c.upper, c.upper0), arr.upper + i);
  store(select(used, c.lower, c.lower0), arr.lower + i);
}
/// Stores the CUSUM sums of every lane.
template <bool Exact = false, typename V, typename Arrays>
PHYSGUARD_BATCH_INLINE void store_statistic(const Arrays& arr, std::size_t i,
                                            const CusumLanes<V>& c) noexcept {
  store(c.upper, arr.upper + i);
  store(c.lower, arr.lower + i);
}

/// EWMA step (EwmaDetector::update) of the lanes at channel i, from a bank's arrays `lambda`,
/// `ewma` (Z), `asymptotic_limit` and, with exact limits, `decay` ((1 - lambda)^(2t)),
/// `retain_squared`, `L`, `asymptotic_variance`: Z = lambda z + (1 - lambda) Z0, score |Z|, limit
/// L sqrt(av (1 - d)) (exact) or L sqrt(av) (asymptotic).  Once d is below a quarter ulp of 1,
/// 1 - d rounds to 1 and the exact limit is the asymptotic one bit for bit: d is then stored as 0
/// and the square root skipped.
template <typename V>
struct EwmaLanes {
  V lambda, Z0, Z, score;
  V d0, d;  ///< decay before / after (exact limits; 0 otherwise)
  V limit;
};

template <typename V, bool Exact, typename Arrays>
PHYSGUARD_BATCH_INLINE EwmaLanes<V> ewma_step(const Arrays& arr, std::size_t i, V zn) noexcept {
  using T = typename V::value_type;
  const V zero(T(0));
  EwmaLanes<V> e;
  e.lambda = load<V>(arr.lambda + i);
  e.Z0 = load<V>(arr.ewma + i);
  e.Z = e.lambda * zn + (V(T(1)) - e.lambda) * e.Z0;
  e.d0 = zero;
  e.d = zero;
  e.limit = load<V>(arr.asymptotic_limit + i);
  if (Exact) {
    e.d0 = load<V>(arr.decay + i);
    const V decayed = e.d0 * load<V>(arr.retain_squared + i);
    e.d = select(decayed < V(std::numeric_limits<T>::epsilon() / T(4)), zero, decayed);
    if (any(e.d != zero))
      e.limit = load<V>(arr.L + i) *
                batch::sqrt(load<V>(arr.asymptotic_variance + i) * (V(T(1)) - e.d));
  }
  e.score = batch::max(-e.Z, e.Z);  // |Z| (Z < 0 ? -Z : Z)
  return e;
}

/// Stores Z (and, with exact limits, the decay) of the lanes in `used`.
template <bool Exact, typename V, typename Arrays>
PHYSGUARD_BATCH_INLINE void store_statistic(const Arrays& arr, std::size_t i,
                                            const EwmaLanes<V>& e,
                                            const mask_t<V>& used) noexcept {
  store(select(used, e.Z, e.Z0), arr.ewma + i);
  if (Exact) store(select(used, e.d, e.d0), arr.decay + i);
}
/// Stores Z (and the decay) of every lane.
template <bool Exact, typename V, typename Arrays>
PHYSGUARD_BATCH_INLINE void store_statistic(const Arrays& arr, std::size_t i,
                                            const EwmaLanes<V>& e) noexcept {
  store(e.Z, arr.ewma + i);
  if (Exact) store(e.d, arr.decay + i);
}

/// The per-channel CUSUM constants of a bank (drift k, threshold h), sums reset to zero.
template <typename T, typename Arrays>
inline void configure_cusum(Arrays& a, std::size_t i, T k, T h) noexcept {
  PHYSGUARD_ASSERT(is_finite(k) && k >= T(0), "CUSUM k must be >= 0");
  PHYSGUARD_ASSERT(is_finite(h) && h > T(0), "CUSUM h must be > 0");
  a.k[i] = k;
  a.h[i] = h;
  a.upper[i] = T(0);
  a.lower[i] = T(0);
}

/// The per-channel EWMA constants of a bank, with EwmaDetector's constructor's expressions.
template <typename T, typename Arrays>
inline void configure_ewma(Arrays& a, std::size_t i, T lambda, T L) noexcept {
  PHYSGUARD_ASSERT(is_finite(lambda) && lambda > T(0) && lambda <= T(1),
                   "EWMA lambda must be in (0, 1]");
  PHYSGUARD_ASSERT(is_finite(L) && L > T(0), "EWMA L must be > 0");
  using std::sqrt;
  a.lambda[i] = lambda;
  a.L[i] = L;
  a.asymptotic_variance[i] = lambda / (T(2) - lambda);
  a.retain_squared[i] = (T(1) - lambda) * (T(1) - lambda);
  a.asymptotic_limit[i] = L * sqrt(a.asymptotic_variance[i]);
  a.ewma[i] = T(0);
  a.decay[i] = T(1);
}

// ---- findings -------------------------------------------------------------------------------

/// What happened in the lanes of one batch, gathered only when something did (refused samples,
/// alarm edges); kept in plain arrays so the emission code runs out of line.
template <typename T, std::size_t L>
struct LaneEvents {
  bool refused[L];
  bool changed[L];
  bool raised[L];
  Status status[L];  ///< refused lanes: why; changed lanes: the decision's status (ok, gap)
  T score[L];
  T threshold[L];
};

/// No per-step outputs requested: write_outputs() does nothing (scan_lanes() passes this when
/// both output pointers are null).
struct NoOutputs {};

template <typename V>
PHYSGUARD_BATCH_INLINE void write_outputs(const NoOutputs&, std::size_t, V, V,
                                          const mask_t<V>&) noexcept {}

/// Writes the optional per-step outputs (null pointers skipped): NIS and score of the lanes in
/// `used`, 0 elsewhere.
template <typename V, typename Outputs>
PHYSGUARD_BATCH_INLINE void write_outputs(const Outputs& out, std::size_t i, V nis, V score,
                                          const mask_t<V>& used) noexcept {
  using T = typename V::value_type;
  if (out.nis) store(select(used, nis, V(T(0))), out.nis + i);
  if (out.score) store(select(used, score, V(T(0))), out.score + i);
}

/// The state every bank keeps besides its arrays, the parts of its interface that are the same in
/// all banks, the loop over the channels and the finding emission.  Derived::for_each_array(
/// Arrays&, visit) lists the arrays in storage order, calling visit(pointer, elements per channel);
/// B is the batch type.
template <typename Derived, typename T, typename B, typename ArraysT>
class BankBase {
 public:
  using Arrays = ArraysT;

  /// Bytes of one block that carve() cuts into the arrays of `channels` channels.
  static std::size_t bytes_needed(std::size_t channels) noexcept {
    Arrays a;
    return carve_into(nullptr, channels, a);
  }
  /// Cuts the arrays out of `memory` (bytes_needed(channels) bytes; 64-byte alignment is best).
  static Arrays carve(void* memory, std::size_t channels) noexcept {
    Arrays a;
    carve_into(memory, channels, a);
    return a;
  }

  std::size_t size() const noexcept { return n_; }
  /// Samples of channel i refused so far.
  std::uint32_t refused(std::size_t i) const noexcept { return arr_.refused[i]; }
  /// Refused samples over all channels.
  std::uint64_t total_refused() const noexcept { return total_refused_; }
  /// Scans refused because their time did not advance.
  std::uint32_t refused_scans() const noexcept { return refused_scans_; }
  const Arrays& arrays() const noexcept { return arr_; }

 protected:
  BankBase(std::size_t channels, const Arrays& arrays, std::size_t first_channel,
           std::uint16_t detector_id) noexcept
      : n_(channels), arr_(arrays), first_channel_(first_channel), detector_id_(detector_id) {
    bool all_given = true;
    Arrays copy = arrays;
    Derived::for_each_array(copy, [&](auto*& p, std::size_t) { all_given = all_given && p; });
    PHYSGUARD_ASSERT(all_given, "every array of a bank must be given");
  }

  /// Checks and accepts the scan time.  A time that does not advance refuses the whole scan:
  /// returns false with `status` time_backwards / time_repeated (counted in refused_scans()).
  bool begin_scan(Timestamp t, Status& status) noexcept {
    status = guard_.check(t);
    if (status == Status::time_backwards || status == Status::time_repeated) {
      ++refused_scans_;
      return false;
    }
    guard_.accept(t);
    status = Status::ok;
    return true;
  }

  /// Calls kernel(arrays, i, LaneTag<V>) for every batch of channels (V = B) and then for each
  /// remaining channel (V = Single<T>), in one pass.  The kernel gets a local copy of the array
  /// pointers: no store in the loop can alias them, so they stay in registers.
  template <typename Kernel>
  PHYSGUARD_BATCH_INLINE void scan(Kernel&& kernel) {
    const Arrays arr = arr_;
    for_each_batch<B>(n_, [&](std::size_t i, auto tag)
                              PHYSGUARD_BATCH_LAMBDA_INLINE { kernel(arr, i, tag); });
  }

  /// Counts a refused sample of channel c.
  void count_refused(std::size_t c) noexcept {
    ++arr_.refused[c];
    ++total_refused_;
  }

  /// A finding as Pipeline + default AlarmLogic emit it for a refused sample.
  template <typename Sink>
  void emit_refused(Sink& sink, Timestamp t, std::size_t c, std::uint16_t detector_offset,
                    const char* detector, Status why, bool in_alarm) {
    Finding<T> f;
    f.time = t;
    f.channel = static_cast<std::uint16_t>(first_channel_ + c);
    f.detector_id = static_cast<std::uint16_t>(detector_id_ + detector_offset);
    f.detector = detector;
    f.kind = FindingKind::bad_input;
    f.cause = Cause::sensor_fault;
    f.state = in_alarm ? AlarmState::alarm : AlarmState::normal;
    f.status = why;
    deliver(sink, f, first_channel_ + c);
  }

  /// A finding as Pipeline + default AlarmLogic emit it when the alarm condition appears (state
  /// alarm) or goes away (state cleared).
  template <typename Sink>
  void emit_edge(Sink& sink, Timestamp t, std::size_t c, std::uint16_t detector_offset,
                 const char* detector, FindingKind kind, Cause cause, bool raised, T score,
                 T threshold, Status status = Status::ok) {
    Finding<T> f;
    f.time = t;
    f.channel = static_cast<std::uint16_t>(first_channel_ + c);
    f.detector_id = static_cast<std::uint16_t>(detector_id_ + detector_offset);
    f.detector = detector;
    f.kind = kind;
    f.cause = cause;
    f.state = raised ? AlarmState::alarm : AlarmState::cleared;
    f.status = status;
    f.score = score;
    f.threshold = threshold;
    deliver(sink, f, first_channel_ + c);
  }

  /// Alarm logic of a one-detector bank (default AlarmConfig: the alarm follows the decision) for
  /// the batch at channel i: lanes sampled but not taken are refused (status refusal(lane)), taken
  /// lanes whose alarm differs from was_alarm changed.  Only when a lane did, the events go to
  /// report(), out of line, after adjust(events) (a bank's own touches: scores, statuses).
  template <typename V, typename Sink, typename Refusal, typename Adjust>
  PHYSGUARD_BATCH_INLINE void alarm_logic(Timestamp t, std::size_t i, const mask_t<V>& sampled,
                                          const mask_t<V>& taken, const mask_t<V>& was_alarm,
                                          const mask_t<V>& alarm, V score, V threshold,
                                          Sink& sink, FindingKind kind, Cause cause_on_alarm,
                                          Refusal&& refusal, Adjust&& adjust) {
    const mask_t<V> refused = sampled && !taken;
    const mask_t<V> changed = taken && (alarm != was_alarm);
    if (PHYSGUARD_BATCH_UNLIKELY(any(refused || changed))) {
      LaneEvents<T, lanes<V>()> ev;
      for (std::size_t j = 0; j < lanes<V>(); ++j) {
        const int l = static_cast<int>(j);
        ev.refused[j] = refused[l];
        ev.changed[j] = changed[l];
        ev.raised[j] = alarm[l];
        ev.status[j] = ev.refused[j] ? refusal(l) : Status::ok;
      }
      store(score, ev.score);
      store(threshold, ev.threshold);
      adjust(ev);
      report(t, i, ev, sink, kind, cause_on_alarm);
    }
  }

  /// Findings of the batch at channel i of a one-detector bank: refused samples (counted) and
  /// alarm edges (alarm flag updated; cause `cause_on_alarm` when raised, unknown when cleared).
  template <typename Sink, std::size_t L>
  PHYSGUARD_BATCH_COLD void report(Timestamp t, std::size_t i, const LaneEvents<T, L>& ev,
                                   Sink& sink, FindingKind kind, Cause cause_on_alarm) {
    for (std::size_t j = 0; j < L; ++j) {
      const std::size_t c = i + j;
      if (ev.refused[j]) {
        count_refused(c);
        emit_refused(sink, t, c, 0, Derived::name, ev.status[j], arr_.alarm[c] != 0);
      } else if (ev.changed[j]) {
        arr_.alarm[c] = ev.raised[j] ? 1 : 0;
        emit_edge(sink, t, c, 0, Derived::name, kind, ev.raised[j] ? cause_on_alarm : Cause::unknown,
                  ev.raised[j], ev.score[j], ev.threshold[j], ev.status[j]);
      }
    }
  }

  std::size_t n_;
  Arrays arr_;
  std::size_t first_channel_;
  std::uint16_t detector_id_;
  TimeGuard guard_{};
  std::uint64_t total_refused_ = 0;
  std::uint32_t refused_scans_ = 0;

 private:
  static std::size_t carve_into(void* memory, std::size_t n, Arrays& a) noexcept {
    ArrayCarver c(memory);
    Derived::for_each_array(a, [&](auto*& p, std::size_t per_channel) {
      p = c.take<std::remove_reference_t<decltype(*p)>>(n * per_channel);
    });
    return c.bytes();
  }
};

/// What the Kalman banks share beyond BankBase: estimator options, arithmetic setting, NIS gate,
/// the alarm-flag accessor and the scan driver.  Derived::constant_gain is true for the
/// steady-state banks (S > 0 by construction: their common path does not rest on a variance
/// floor).
template <typename Derived, typename T, typename B, typename ArraysT>
class KalmanBankBase : public BankBase<Derived, T, B, ArraysT> {
 public:
  bool in_alarm(std::size_t i) const noexcept { return this->arr_.alarm[i] != 0; }
  /// NIS gate (chi-square quantile, 1 dof) and the options it came from.
  T gate() const noexcept { return gates_.for_dof(1); }
  const EstimatorOptions<T>& options() const noexcept { return options_; }
  BankArithmetic arithmetic() const noexcept { return arithmetic_; }

 protected:
  KalmanBankBase(std::size_t channels, const ArraysT& arrays, const EstimatorOptions<T>& options,
                 BankArithmetic arithmetic, std::size_t first_channel,
                 std::uint16_t detector_id) noexcept
      : BankBase<Derived, T, B, ArraysT>(channels, arrays, first_channel, detector_id),
        options_(options),
        arithmetic_(arithmetic),
        gates_(options.gate_probability) {}

  /// One scan at time t.  A time that does not advance refuses it (begin_scan()); otherwise
  /// Derived::lanes_at<V, flags..., fast>(arrays, constants, i, t, z, u, present, sink, out) runs
  /// for every batch, the run-time `flags` and the arithmetic setting (last) turned into
  /// compile-time arguments: one instantiation of the fused loop per combination, no flag tested
  /// inside it.  (u is null for banks without a model input.)
  template <typename Sink, typename Outputs, typename... Flags>
  Status scan_lanes(Timestamp t, const T* z, const T* u, const std::uint8_t* present, Sink& sink,
                    const Outputs& out, Flags... flags) {
    Status status;
    if (!this->begin_scan(t, status)) return status;
    UpdateConstants<T> uc(options_, gates_.inverse_for_dof(1));
    if (Derived::constant_gain) uc.common_path = true;
    Derived& self = static_cast<Derived&>(*this);
    // Without outputs (the common use) the loop carries no output code at all: two instantiations
    // rather than a test per batch, which measurably slows the lightest banks.
    const auto run = [&](const auto& o) {
      with_flags(
          [&](auto... f) {
            this->scan([&](const ArraysT& arr, std::size_t i, auto tag)
                           PHYSGUARD_BATCH_LAMBDA_INLINE {
                             self.template lanes_at<typename decltype(tag)::type,
                                                    decltype(f)::value...>(arr, uc, i, t, z, u,
                                                                           present, sink, o);
                           });
          },
          flags..., arithmetic_ == BankArithmetic::fast);
    };
    if (out.nis == nullptr && out.score == nullptr)
      run(NoOutputs{});
    else
      run(out);
    return Status::ok;
  }

  /// The common case of one batch (see common_lanes()): every lane sampled, not in alarm, used,
  /// fused, and no alarm raised.
  template <typename V, bool HasMask>
  PHYSGUARD_BATCH_INLINE bool common_case(const UpdateConstants<T>& uc, std::size_t i,
                                          const std::uint8_t* present, V nis, V probe,
                                          V excess) const noexcept {
    constexpr std::size_t L = lanes<V>();
    return uc.common_path && all(common_lanes(nis, probe, excess, uc)) &&
           all_zero<L>(this->arr_.alarm + i) && (!HasMask || none_zero<L>(present + i));
  }

  /// The general case of one batch after the lane tests `ck`: works out which lanes predicted,
  /// used and fused the sample (update_lanes), has store_state(lanes) store the filter state,
  /// stores the statistic `st` (CusumLanes or EwmaLanes) of the used lanes, writes the outputs,
  /// and runs the alarm logic (refused samples, alarm edges, findings).
  template <typename V, bool HasMask, bool Exact = false, typename Statistic, typename StoreState,
            typename Sink, typename Outputs>
  PHYSGUARD_BATCH_INLINE void finish_lanes(Timestamp t, std::size_t i,
                                           const std::uint8_t* present,
                                           const UpdateChecks<V>& ck, V nis,
                                           const Statistic& st, StoreState&& store_state,
                                           Sink& sink, const Outputs& out) {
    const mask_t<V> sampled = HasMask ? load_flags<V>(present + i) : true_mask<V>();
    const mask_t<V> was_alarm = load_flags<V>(this->arr_.alarm + i);
    const auto ln = update_lanes(sampled, ck, was_alarm);
    store_state(ln);
    store_statistic<Exact>(this->arr_, i, st, ln.used);
    write_outputs(out, i, nis, st.score, ln.used);
    this->alarm_logic(t, i, sampled, ln.used, was_alarm, ln.used && (st.score > st.limit),
                      st.score, st.limit, sink, FindingKind::residual, Cause::unknown,
                      [&](int l) { return kalman_refusal(ck, l); }, [](auto&) {});
  }

  EstimatorOptions<T> options_;
  BankArithmetic arithmetic_;
  physguard::detail::NisGates<T, 1> gates_;
};

}  // namespace detail
}  // namespace batch
}  // namespace physguard

#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif
