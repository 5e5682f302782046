// physguard/batch/steady_kalman_cusum_bank.hpp - many constant-gain (steady-state) scalar Kalman
// filters, each with its NIS and a two-sided CUSUM on the normalised innovation, in one fused
// loop without a single division or square root per update.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../estimate/options.hpp"
#include "../estimate/steady_state_kalman_filter.hpp"
#include "detail/bank_support.hpp"
#include "kalman_cusum_bank.hpp"
#include "simd.hpp"

namespace physguard {
namespace batch {

/// Parameters and initial state of one channel of a SteadyKalmanCusumBank.
///
/// Model as for KalmanCusumChannel (x[k+1] = a x[k] + b u[k] + w, z = x + v), but the filter runs
/// with its steady-state gain: `gain` K and innovation variance `s` S are the DARE's, fixed for a
/// fixed sample period.  set_filter() copies them from a SteadyStateKalmanFilter<T, 1, 1, Nu>, so
/// that the bank and the scalar filter use the same numbers.
template <typename T>
struct SteadyKalmanCusumChannel {
  T a = T(1);
  T b = T(0);
  T gain = T(0);         ///< steady Kalman gain K, in [0, 1] for a measured state
  T s = T(1);            ///< steady innovation variance S = P- + r (unit^2), > 0
  T x0 = T(0);           ///< initial state
  T cusum_k = T(0.5);    ///< CUSUM drift k (standard deviations), >= 0
  T cusum_h = T(5);      ///< CUSUM threshold h, > 0

  /// A, B, K, S and the state of a steady-state filter whose measurement is the state itself
  /// (C = 1, D = 0); the filter must be ok().
  template <int Nu>
  void set_filter(const SteadyStateKalmanFilter<T, 1, 1, Nu>& f) noexcept {
    PHYSGUARD_ASSERT(f.ok(), "the steady-state filter's DARE failed (status())");
    PHYSGUARD_ASSERT(f.model().C(0, 0) == T(1), "the bank measures the state itself: C = 1");
    a = f.model().A(0, 0);
    if constexpr (Nu > 0) {
      PHYSGUARD_ASSERT(f.model().D(0, 0) == T(0), "the bank has no feed-through: D = 0");
      b = f.model().B(0, 0);
    } else {
      b = T(0);
    }
    gain = f.gain()(0, 0);
    s = f.innovation_covariance()(0, 0);
    x0 = f.state()(0);
  }
};

/// The structure-of-arrays storage of a SteadyKalmanCusumBank (caller-owned, or carve()d).
template <typename T>
struct SteadyKalmanCusumArrays {
  // parameters
  T* a = nullptr;
  T* b = nullptr;
  T* gain = nullptr;
  T* inv_s = nullptr;  ///< 1 / S
  T* rs = nullptr;     ///< sqrt(S) (BankArithmetic::scalar_order) or 1 / sqrt(S) (fast)
  T* k = nullptr;
  T* h = nullptr;
  // state
  T* x = nullptr;
  T* upper = nullptr;
  T* lower = nullptr;
  std::uint8_t* alarm = nullptr;
  std::uint32_t* refused = nullptr;
};

/// A bank of independent constant-gain one-state Kalman filters with NIS and a two-sided CUSUM,
/// per channel exactly what this scalar pipeline computes:
///
///     Pipeline<SteadyStateInnovationSource<T, 1, Nu>, CusumDetector<T>>   (default AlarmConfig)
///
/// per sampled channel: x- = a x + b u;  y = z - x-;  NIS = y^2 (1/S);  x+ = x- + K y unless the
/// NIS is outside the gate (reject_outside_gate) or the channel is in alarm (coasting); CUSUM on
/// y / sqrt(S) as in KalmanCusumBank.  1/S and sqrt(S) are computed once, in configure(), the way
/// SteadyStateKalmanFilter and residual_of compute them, so the update has no square root and --
/// with BankArithmetic::fast, which multiplies by 1/sqrt(S) instead of dividing by sqrt(S) -- no
/// division: about 12 floating-point operations per channel.  With scalar_order, state, NIS and
/// CUSUM are bit-identical to the scalar objects' (without fused multiply-add); fast (NIS =
/// (y/sqrt(S))^2) keeps the state bit-identical while NIS and the CUSUM input move by 1-2 ulp,
/// so a gate decision can differ only for a NIS within a few ulp of the gate.
///
/// This is the time-varying KalmanCusumBank after its covariance has converged: use it when the
/// sample period is fixed and samples are rarely missing (after a missing sample the steady gain
/// is no longer optimal, as for SteadyStateKalmanFilter).  Findings, masks, refused samples, scan
/// times and storage as in KalmanCusumBank (detector name "cusum").  Bytes per channel:
/// 10 * sizeof(T) + 5.
template <typename T, typename B = Batch<T>>
class SteadyKalmanCusumBank
    : public detail::KalmanBankBase<SteadyKalmanCusumBank<T, B>, T, B, SteadyKalmanCusumArrays<T>> {
  using Base = detail::KalmanBankBase<SteadyKalmanCusumBank<T, B>, T, B, SteadyKalmanCusumArrays<T>>;
  friend Base;
  friend detail::BankBase<SteadyKalmanCusumBank<T, B>, T, B, SteadyKalmanCusumArrays<T>>;

 public:
  using Scalar = T;
  using batch_type = B;
  using Arrays = SteadyKalmanCusumArrays<T>;
  using Channel = SteadyKalmanCusumChannel<T>;
  using Outputs = KalmanCusumOutputs<T>;
  static constexpr bool constant_gain = true;
  static constexpr const char* name = "cusum";

  template <typename Visit>
  static void for_each_array(Arrays& a, Visit&& visit) {
    visit(a.a, 1);
    visit(a.b, 1);
    visit(a.gain, 1);
    visit(a.inv_s, 1);
    visit(a.rs, 1);
    visit(a.k, 1);
    visit(a.h, 1);
    visit(a.x, 1);
    visit(a.upper, 1);
    visit(a.lower, 1);
    visit(a.alarm, 1);
    visit(a.refused, 1);
  }

  /// A bank over `arrays` (each with `channels` elements).  `options` must be those of the scalar
  /// filters it replaces (gate probability, reject_outside_gate).  Every channel starts as a
  /// default Channel; configure() each one.
  SteadyKalmanCusumBank(std::size_t channels, const Arrays& arrays,
                        const EstimatorOptions<T>& options = EstimatorOptions<T>{},
                        BankArithmetic arithmetic = BankArithmetic::scalar_order,
                        std::size_t first_channel = 0, std::uint16_t detector_id = 0)
      : Base(channels, arrays, options, arithmetic, first_channel, detector_id) {
    for (std::size_t i = 0; i < this->n_; ++i) configure(i, Channel{});
  }

  /// Sets channel i's parameters and resets its state (x0, CUSUM at zero, no alarm).
  void configure(std::size_t i, const Channel& c) noexcept {
    PHYSGUARD_ASSERT(i < this->n_, "channel index out of range");
    PHYSGUARD_ASSERT(is_finite(c.a) && is_finite(c.b) && is_finite(c.gain) && is_finite(c.x0),
                     "model a, b, gain and x0 must be finite");
    PHYSGUARD_ASSERT(is_finite(c.s) && c.s > T(0), "innovation variance S must be finite, > 0");
    Arrays& a = this->arr_;
    a.a[i] = c.a;
    a.b[i] = c.b;
    a.gain[i] = c.gain;
    a.inv_s[i] = T(1) / c.s;  // SteadyStateKalmanFilter's inv_s_
    using std::sqrt;
    const T root = sqrt(c.s);  // residual_of's sqrt(S)
    a.rs[i] = this->arithmetic_ == BankArithmetic::fast ? T(1) / root : root;
    detail::configure_cusum(a, i, c.cusum_k, c.cusum_h);
    a.x[i] = c.x0;
    a.alarm[i] = 0;
    a.refused[i] = 0;
  }

  /// One scan at time t, as KalmanCusumBank::step (z, optional u, optional present mask, sink,
  /// optional outputs).  A time that does not advance refuses the whole scan.
  template <typename Sink>
  Status step(Timestamp t, const T* z, const T* u, const std::uint8_t* present, Sink&& sink,
              const Outputs& out = Outputs{}) {
    return this->scan_lanes(t, z, u, present, sink, out, u != nullptr, present != nullptr);
  }

  T state(std::size_t i) const noexcept { return this->arr_.x[i]; }
  T cusum_upper(std::size_t i) const noexcept { return this->arr_.upper[i]; }
  T cusum_lower(std::size_t i) const noexcept { return this->arr_.lower[i]; }

 private:
  template <typename V, bool HasU, bool HasMask, bool Fast, typename Sink, typename Out>
  PHYSGUARD_BATCH_INLINE void lanes_at(const Arrays& arr, const detail::UpdateConstants<T>& uc,
                                       std::size_t i, Timestamp t, const T* z, const T* u,
                                       const std::uint8_t* present, Sink& sink,
                                       const Out& out) {
    const V zv = load<V>(z + i);
    const V uv = HasU ? load<V>(u + i) : V(T(0));

    // SteadyStateKalmanFilter::predict / update, and residual_of's y / sqrt(S)
    const V x = load<V>(arr.x + i);
    const V xp = HasU ? load<V>(arr.a + i) * x + load<V>(arr.b + i) * uv : load<V>(arr.a + i) * x;
    const V y = zv - xp;
    // scalar_order: the scalar objects' y y (1/S) and y / sqrt(S); fast: zn = y (1/sqrt(S)) and
    // NIS = zn^2 (1-2 ulp from them, one load and one division fewer)
    const V zn = Fast ? y * load<V>(arr.rs + i) : y / load<V>(arr.rs + i);
    const V nis = Fast ? zn * zn : y * y * load<V>(arr.inv_s + i);
    const V xn = xp + load<V>(arr.gain + i) * y;

    const auto cu = detail::cusum_step(arr, i, zn);

    // Common case (see detail::common_lanes; S > 0 always holds here).
    if (this->template common_case<V, HasMask>(uc, i, present, nis, xn * V(T(0)),
                                               cu.score - cu.limit)) {
      store(xn, arr.x + i);
      detail::store_statistic(arr, i, cu);
      detail::write_outputs(out, i, nis, cu.score, true_mask<V>());
      return;
    }

    detail::UpdateChecks<V> ck;
    ck.in_ok = HasU ? finite(zv) && finite(uv) : finite(zv);
    ck.pred_ok = finite(xp);
    ck.spd = true_mask<V>();
    ck.nis_ok = finite(nis);
    ck.gated = detail::gate_rejects(nis, uc);
    ck.upd_ok = finite(xn);
    this->template finish_lanes<V, HasMask>(t, i, present, ck, nis, cu, [&](const auto& ln) {
      store(select(ln.fuse, xn, select(ln.predicted, xp, x)), arr.x + i);
    }, sink, out);
  }

};

}  // namespace batch
}  // namespace physguard
