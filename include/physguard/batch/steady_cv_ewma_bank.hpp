// physguard/batch/steady_cv_ewma_bank.hpp - many constant-gain (steady-state) constant-velocity
// Kalman filters, each with its NIS and a two-sided EWMA chart on the normalised innovation, in
// one fused loop without covariance arithmetic.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detect/ewma.hpp"
#include "../estimate/options.hpp"
#include "../estimate/steady_state_kalman_filter.hpp"
#include "cv_ewma_bank.hpp"
#include "detail/bank_support.hpp"
#include "simd.hpp"

namespace physguard {
namespace batch {

/// Parameters and initial state of one channel of a SteadyCvEwmaBank: A = [[1, dt], [0, 1]],
/// position measured, steady gain (k0, k1) and innovation variance s from the DARE.  set_filter()
/// copies them from a SteadyStateKalmanFilter<T, 2, 1>, so that bank and scalar filter agree.
template <typename T>
struct SteadyCvEwmaChannel {
  T dt_s = T(1);
  T k0 = T(0);   ///< steady gain, position
  T k1 = T(0);   ///< steady gain, velocity
  T s = T(1);    ///< steady innovation variance S, > 0
  T x0 = T(0);   ///< initial position
  T v0 = T(0);   ///< initial velocity
  T ewma_lambda = T(0.1);  ///< in (0, 1]
  T ewma_L = T(3);         ///< control-limit width in sigma_Z, > 0

  /// dt, K, S and the state of a steady-state constant-velocity filter (A = [[1, dt], [0, 1]],
  /// C = [1 0], as signal/ConstantVelocity gives them); the filter must be ok().
  void set_filter(const SteadyStateKalmanFilter<T, 2, 1, 0>& f) noexcept {
    const auto& A = f.model().A;
    const auto& C = f.model().C;
    PHYSGUARD_ASSERT(f.ok(), "the steady-state filter's DARE failed (status())");
    PHYSGUARD_ASSERT(A(0, 0) == T(1) && A(1, 0) == T(0) && A(1, 1) == T(1),
                     "constant-velocity model: A = [[1, dt], [0, 1]]");
    PHYSGUARD_ASSERT(C(0, 0) == T(1) && C(0, 1) == T(0), "position measured: C = [1 0]");
    (void)C;
    dt_s = A(0, 1);
    k0 = f.gain()(0, 0);
    k1 = f.gain()(1, 0);
    s = f.innovation_covariance()(0, 0);
    x0 = f.state()(0);
    v0 = f.state()(1);
  }
};

/// Structure-of-arrays storage of a SteadyCvEwmaBank (caller-owned, or carve()d from one block).
template <typename T>
struct SteadyCvEwmaArrays {
  // parameters
  T* dt = nullptr;
  T* k0 = nullptr;
  T* k1 = nullptr;
  T* inv_s = nullptr;  ///< 1 / S
  T* rs = nullptr;     ///< sqrt(S) (BankArithmetic::scalar_order) or 1 / sqrt(S) (fast)
  T* lambda = nullptr;
  T* L = nullptr;
  T* asymptotic_variance = nullptr;
  T* retain_squared = nullptr;
  T* asymptotic_limit = nullptr;
  // state
  T* x0 = nullptr;
  T* x1 = nullptr;
  T* ewma = nullptr;
  T* decay = nullptr;
  std::uint8_t* alarm = nullptr;
  std::uint32_t* refused = nullptr;
};

/// A bank of constant-gain constant-velocity Kalman filters with NIS and EWMA, per channel exactly
/// what
///
///     Pipeline<SteadyStateInnovationSource<T, 2, 0>, EwmaDetector<T>>   (default AlarmConfig)
///
/// computes: x- = (p + dt v, v);  y = z - p-;  NIS = y^2 (1/S);  x+ = x- + K y unless outside the
/// gate or in alarm (coasting); EWMA on y / sqrt(S) with exact or asymptotic limits as CvEwmaBank.
/// 1/S and sqrt(S) (or 1/sqrt(S) with BankArithmetic::fast) are computed in configure(): the
/// update has no division (fast) and no square root once the exact limit has converged, about 15
/// floating-point operations.  With scalar_order, state, NIS and EWMA are bit-identical to the
/// scalar objects' (without fused multiply-add); fast moves NIS and the EWMA input by 1-2
/// ulp.  The steady gain assumes a fixed sample period and few missing samples, as for
/// SteadyStateKalmanFilter.  Findings, masks, refused samples and storage as in CvEwmaBank
/// (detector name "ewma").  Bytes per channel: 14 * sizeof(T) + 5.
template <typename T, typename B = Batch<T>>
class SteadyCvEwmaBank
    : public detail::KalmanBankBase<SteadyCvEwmaBank<T, B>, T, B, SteadyCvEwmaArrays<T>> {
  using Base = detail::KalmanBankBase<SteadyCvEwmaBank<T, B>, T, B, SteadyCvEwmaArrays<T>>;
  friend Base;
  friend detail::BankBase<SteadyCvEwmaBank<T, B>, T, B, SteadyCvEwmaArrays<T>>;

 public:
  using Scalar = T;
  using batch_type = B;
  using Arrays = SteadyCvEwmaArrays<T>;
  using Channel = SteadyCvEwmaChannel<T>;
  using Outputs = CvEwmaOutputs<T>;
  static constexpr bool constant_gain = true;
  static constexpr const char* name = "ewma";

  template <typename Visit>
  static void for_each_array(Arrays& a, Visit&& visit) {
    T** fields[] = {&a.dt, &a.k0, &a.k1, &a.inv_s, &a.rs, &a.lambda, &a.L,
                    &a.asymptotic_variance, &a.retain_squared, &a.asymptotic_limit,
                    &a.x0, &a.x1, &a.ewma, &a.decay};
    for (T** f : fields) visit(*f, 1);
    visit(a.alarm, 1);
    visit(a.refused, 1);
  }

  SteadyCvEwmaBank(std::size_t channels, const Arrays& arrays,
                   const EstimatorOptions<T>& options = EstimatorOptions<T>{},
                   EwmaLimits limits = EwmaLimits::exact,
                   BankArithmetic arithmetic = BankArithmetic::scalar_order,
                   std::size_t first_channel = 0, std::uint16_t detector_id = 0)
      : Base(channels, arrays, options, arithmetic, first_channel, detector_id), limits_(limits) {
    for (std::size_t i = 0; i < this->n_; ++i) configure(i, Channel{});
  }

  /// Sets channel i's parameters and resets its state (x0, v0, EWMA at 0, no alarm).
  void configure(std::size_t i, const Channel& c) noexcept {
    PHYSGUARD_ASSERT(i < this->n_, "channel index out of range");
    PHYSGUARD_ASSERT(is_finite(c.dt_s) && is_finite(c.k0) && is_finite(c.k1) &&
                         is_finite(c.x0) && is_finite(c.v0),
                     "dt, gain and initial state must be finite");
    PHYSGUARD_ASSERT(is_finite(c.s) && c.s > T(0), "innovation variance S must be finite, > 0");
    Arrays& a = this->arr_;
    a.dt[i] = c.dt_s;
    a.k0[i] = c.k0;
    a.k1[i] = c.k1;
    a.inv_s[i] = T(1) / c.s;
    using std::sqrt;
    const T root = sqrt(c.s);
    a.rs[i] = this->arithmetic_ == BankArithmetic::fast ? T(1) / root : root;
    detail::configure_ewma(a, i, c.ewma_lambda, c.ewma_L);
    a.x0[i] = c.x0;
    a.x1[i] = c.v0;
    a.alarm[i] = 0;
    a.refused[i] = 0;
  }

  /// One scan at time t (see CvEwmaBank::step).
  template <typename Sink>
  Status step(Timestamp t, const T* z, const std::uint8_t* present, Sink&& sink,
              const Outputs& out = Outputs{}) {
    return this->scan_lanes(t, z, nullptr, present, sink, out, present != nullptr,
                            limits_ == EwmaLimits::exact);
  }

  T position(std::size_t i) const noexcept { return this->arr_.x0[i]; }
  T velocity(std::size_t i) const noexcept { return this->arr_.x1[i]; }
  T ewma(std::size_t i) const noexcept { return this->arr_.ewma[i]; }
  EwmaLimits limits() const noexcept { return limits_; }

 private:
  template <typename V, bool HasMask, bool Exact, bool Fast, typename Sink, typename Out>
  PHYSGUARD_BATCH_INLINE void lanes_at(const Arrays& arr, const detail::UpdateConstants<T>& uc,
                                       std::size_t i, Timestamp t, const T* z,
                                       const T* /*u*/, const std::uint8_t* present, Sink& sink,
                                       const Out& out) {
    const V zv = load<V>(z + i);
    const V x0 = load<V>(arr.x0 + i);
    const V x1 = load<V>(arr.x1 + i);
    // SteadyStateKalmanFilter: x- = A x (1 x0 + dt x1, 0 x0 + 1 x1), y = z - C x- (C = [1 0])
    const V xp0 = x0 + load<V>(arr.dt + i) * x1;
    const V xp1 = x1;
    const V y = zv - xp0;
    // scalar_order: the scalar objects' y y (1/S) and y / sqrt(S); fast: zn = y (1/sqrt(S)) and
    // NIS = zn^2 (1-2 ulp from them, one load and one division fewer)
    const V zn = Fast ? y * load<V>(arr.rs + i) : y / load<V>(arr.rs + i);
    const V nis = Fast ? zn * zn : y * y * load<V>(arr.inv_s + i);
    const V xn0 = xp0 + load<V>(arr.k0 + i) * y;
    const V xn1 = xp1 + load<V>(arr.k1 + i) * y;
    const auto e = detail::ewma_step<V, Exact>(arr, i, zn);

    if (this->template common_case<V, HasMask>(uc, i, present, nis,
                                               detail::finite_probe(xn0, xn1),
                                               e.score - e.limit)) {
      store(xn0, arr.x0 + i);
      store(xn1, arr.x1 + i);
      detail::store_statistic<Exact>(arr, i, e);
      detail::write_outputs(out, i, nis, e.score, true_mask<V>());
      return;
    }

    detail::UpdateChecks<V> ck;
    ck.in_ok = finite(zv);
    ck.pred_ok = finite(xp0) && finite(xp1);
    ck.spd = true_mask<V>();
    ck.nis_ok = finite(nis);
    ck.gated = detail::gate_rejects(nis, uc);
    ck.upd_ok = finite(xn0) && finite(xn1);
    this->template finish_lanes<V, HasMask, Exact>(t, i, present, ck, nis, e, [&](const auto& ln) {
      store(select(ln.fuse, xn0, select(ln.predicted, xp0, x0)), arr.x0 + i);
      store(select(ln.fuse, xn1, select(ln.predicted, xp1, x1)), arr.x1 + i);
    }, sink, out);
  }

  EwmaLimits limits_;
};

}  // namespace batch
}  // namespace physguard
