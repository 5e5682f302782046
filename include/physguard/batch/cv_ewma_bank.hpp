// physguard/batch/cv_ewma_bank.hpp - many constant-velocity Kalman filters (position measured),
// each with its NIS and a two-sided EWMA chart on the normalised innovation, in one fused loop.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detect/ewma.hpp"
#include "../estimate/options.hpp"
#include "detail/bank_support.hpp"
#include "simd.hpp"

namespace physguard {
namespace batch {

/// Parameters and initial state of one channel of a CvEwmaBank.
///
/// Model: state (position p, velocity v), A = [[1, dt], [0, 1]], Q = [[q00, q01], [q01, q11]],
/// position measured with variance r.  set_model() takes dt and Q from signal/ConstantVelocity
/// so that bank and scalar filter use the same numbers.
template <typename T>
struct CvEwmaChannel {
  T dt_s = T(1);
  T q00 = T(0);
  T q01 = T(0);
  T q11 = T(0);
  T r = T(1);
  T x0 = T(0);   ///< initial position
  T v0 = T(0);   ///< initial velocity
  T p00 = T(1);  ///< initial covariance (position variance)
  T p01 = T(0);
  T p11 = T(1);  ///< initial velocity variance
  T ewma_lambda = T(0.1);  ///< in (0, 1]
  T ewma_L = T(3);         ///< control-limit width in sigma_Z, > 0

  /// dt and Q from a ConstantVelocity process (any type with process_noise(dt_s) -> 2x2).
  template <typename Process>
  void set_model(const Process& process, T dt) {
    dt_s = dt;
    const auto Q = process.process_noise(dt);
    q00 = Q(0, 0);
    q01 = Q(0, 1);
    q11 = Q(1, 1);
  }
};

/// Structure-of-arrays storage of a CvEwmaBank (caller-owned, or carve()d from one block).
template <typename T>
struct CvEwmaArrays {
  // parameters
  T* dt = nullptr;
  T* q00 = nullptr;
  T* q01 = nullptr;
  T* q11 = nullptr;
  T* r = nullptr;
  T* lambda = nullptr;
  T* L = nullptr;
  T* asymptotic_variance = nullptr;  ///< lambda / (2 - lambda)
  T* retain_squared = nullptr;       ///< (1 - lambda)^2
  T* asymptotic_limit = nullptr;     ///< L sqrt(lambda / (2 - lambda))
  // state
  T* x0 = nullptr;
  T* x1 = nullptr;
  T* p00 = nullptr;
  T* p01 = nullptr;
  T* p11 = nullptr;
  T* ewma = nullptr;   ///< Z
  T* decay = nullptr;  ///< (1 - lambda)^(2t)
  std::uint8_t* alarm = nullptr;
  std::uint32_t* refused = nullptr;
};

/// Optional per-step outputs (null pointers are skipped); 0 for channels not used this step.
template <typename T>
struct CvEwmaOutputs {
  T* nis = nullptr;
  T* score = nullptr;  ///< |Z|
};

/// A bank of constant-velocity Kalman filters with NIS and EWMA, per channel exactly what
///
///     Pipeline<KalmanInnovationSource<T, 2, 0>, EwmaDetector<T>>   (default AlarmConfig)
///
/// computes: predict with A and Q; y = z - position, S = P00 + r, NIS = y^2 / S; fuse in Joseph
/// form (the same operations as detail::joseph_update_general for H = [1 0]), P conditioned as
/// detail::condition_covariance does it (symmetric, diagonal floored, correlation clamped to
/// [-1, 1]) after the prediction and after the update; unless outside the NIS gate or the channel
/// is in alarm (coasting).  EWMA Z = lambda y/sqrt(S) + (1 - lambda) Z, alarm when |Z| > L
/// sigma_Z(t) (exact limits) or L sigma_Z(inf) (asymptotic limits, one setting for the whole
/// bank).  AfterAlarm is keep_accumulating.  Findings, masks, refused samples, storage and
/// BankArithmetic as in KalmanCusumBank (detector name "ewma"; with fast arithmetic x and P stay
/// bit-identical to scalar_order, only NIS and the EWMA input y/sqrt(S) differ by 1-2 ulp).
/// Per channel-update: 1 division (2 in scalar_order), 1 square root (2 with exact limits until
/// (1 - lambda)^(2t) has decayed below a quarter ulp of 1), ~55 other operations; 17 * sizeof(T)
/// + 5 bytes of storage per channel.
template <typename T, typename B = Batch<T>>
class CvEwmaBank : public detail::KalmanBankBase<CvEwmaBank<T, B>, T, B, CvEwmaArrays<T>> {
  using Base = detail::KalmanBankBase<CvEwmaBank<T, B>, T, B, CvEwmaArrays<T>>;
  friend Base;
  friend detail::BankBase<CvEwmaBank<T, B>, T, B, CvEwmaArrays<T>>;

 public:
  using Scalar = T;
  using batch_type = B;
  using Arrays = CvEwmaArrays<T>;
  using Channel = CvEwmaChannel<T>;
  using Outputs = CvEwmaOutputs<T>;
  static constexpr bool constant_gain = false;
  static constexpr const char* name = "ewma";

  /// The arrays in storage order: visit(pointer, elements per channel).
  template <typename Visit>
  static void for_each_array(Arrays& a, Visit&& visit) {
    T** fields[] = {&a.dt, &a.q00, &a.q01, &a.q11, &a.r, &a.lambda, &a.L,
                    &a.asymptotic_variance, &a.retain_squared, &a.asymptotic_limit,
                    &a.x0, &a.x1, &a.p00, &a.p01, &a.p11, &a.ewma, &a.decay};
    for (T** f : fields) visit(*f, 1);
    visit(a.alarm, 1);
    visit(a.refused, 1);
  }

  CvEwmaBank(std::size_t channels, const Arrays& arrays,
             const EstimatorOptions<T>& options = EstimatorOptions<T>{},
             EwmaLimits limits = EwmaLimits::exact,
             BankArithmetic arithmetic = BankArithmetic::scalar_order,
             std::size_t first_channel = 0, std::uint16_t detector_id = 0)
      : Base(channels, arrays, options, arithmetic, first_channel, detector_id), limits_(limits) {
    for (std::size_t i = 0; i < this->n_; ++i) configure(i, Channel{});
  }

  /// Sets channel i's parameters and resets its state.
  void configure(std::size_t i, const Channel& c) noexcept {
    PHYSGUARD_ASSERT(i < this->n_, "channel index out of range");
    PHYSGUARD_ASSERT(is_finite(c.r) && c.r > T(0), "measurement variance r must be > 0");
    PHYSGUARD_ASSERT(is_finite(c.dt_s) && is_finite(c.q00) && is_finite(c.q01) &&
                         is_finite(c.q11) && c.q00 >= T(0) && c.q11 >= T(0),
                     "dt and Q must be finite, the variances q00, q11 >= 0");
    PHYSGUARD_ASSERT(is_finite(c.x0) && is_finite(c.v0) && is_finite(c.p00) && is_finite(c.p01) &&
                         is_finite(c.p11) && c.p00 >= T(0) && c.p11 >= T(0),
                     "x0, v0 and P0 must be finite, the variances p00, p11 >= 0");
    Arrays& a = this->arr_;
    const T floor = this->options_.variance_floor;
    a.dt[i] = c.dt_s;
    a.q00[i] = c.q00;
    a.q01[i] = c.q01;
    a.q11[i] = c.q11;
    a.r[i] = c.r;
    detail::configure_ewma(a, i, c.ewma_lambda, c.ewma_L);
    a.x0[i] = c.x0;
    a.x1[i] = c.v0;
    a.p00[i] = c.p00 >= floor ? c.p00 : floor;
    a.p01[i] = c.p01;
    a.p11[i] = c.p11 >= floor ? c.p11 : floor;
    a.alarm[i] = 0;
    a.refused[i] = 0;
  }

  /// One scan at time t (see KalmanCusumBank::step; there is no model input here).
  template <typename Sink>
  Status step(Timestamp t, const T* z, const std::uint8_t* present, Sink&& sink,
              const Outputs& out = Outputs{}) {
    return this->scan_lanes(t, z, nullptr, present, sink, out, present != nullptr,
                            limits_ == EwmaLimits::exact);
  }

  T position(std::size_t i) const noexcept { return this->arr_.x0[i]; }
  T velocity(std::size_t i) const noexcept { return this->arr_.x1[i]; }
  /// Covariance entry (row, col) of channel i (P is stored symmetric: p00, p01, p11).
  T covariance(std::size_t i, int row, int col) const noexcept {
    const Arrays& a = this->arr_;
    return row == 0 ? (col == 0 ? a.p00[i] : a.p01[i]) : (col == 0 ? a.p01[i] : a.p11[i]);
  }
  /// EWMA statistic Z (signed).
  T ewma(std::size_t i) const noexcept { return this->arr_.ewma[i]; }
  EwmaLimits limits() const noexcept { return limits_; }

 private:
  /// Predicted and updated filter of one batch.  Clamp: apply condition_covariance's correlation
  /// clamp (the common path runs without it and checks that it would not have acted).
  template <typename V>
  struct Filter {
    V xp0, xp1, pp00, pp01, pp11;  // prediction
    V y, s;
    detail::ScalarInnovation<V> in;
    V xn0, xn1, pn00, pn01, pn11;  // update
  };

  template <typename V, bool Fast, bool Clamp>
  PHYSGUARD_BATCH_INLINE static Filter<V> filter(const Arrays& arr, std::size_t i, V z, V floor,
                                                 V x0, V x1, V p00, V p01, V p11) noexcept {
    Filter<V> f;
    // predict: x- = A x, P- = (A P) A' + Q (KalmanFilter::predict's products; the two
    // off-diagonal entries are equal because P and Q are symmetric), then conditioned
    const V dt = load<V>(arr.dt + i);
    f.xp0 = x0 + dt * x1;
    f.xp1 = x1;
    const V ap00 = p00 + dt * p01;
    const V ap01 = p01 + dt * p11;
    f.pp00 = batch::max(floor, (ap00 + ap01 * dt) + load<V>(arr.q00 + i));
    f.pp11 = batch::max(floor, p11 + load<V>(arr.q11 + i));
    f.pp01 = ap01 + load<V>(arr.q01 + i);
    if (Clamp) f.pp01 = clamp_correlation(f.pp01, f.pp00, f.pp11);

    // update: detail::joseph_update_general with H = [1 0], Nz = 1
    const V r = load<V>(arr.r + i);
    f.y = z - f.xp0;
    f.s = f.pp00 + r;
    f.in = detail::scalar_innovation<V, Fast>(f.y, f.s, f.pp00);
    const V k0 = f.pp00 * f.in.inv_s;
    const V k1 = f.pp01 * f.in.inv_s;
    // K y in the scalar order in both modes: the velocity integrates any difference (its error
    // decays slowly), so the state stays bit-identical and fast only touches NIS and residual
    f.xn0 = f.xp0 + k0 * f.y;
    f.xn1 = f.xp1 + k1 * f.y;
    const V w00 = f.pp00 - k0 * f.pp00;
    const V w01 = f.pp01 - k0 * f.pp01;
    const V w10 = f.pp01 - k1 * f.pp00;
    const V w11 = f.pp11 - k1 * f.pp01;
    const V kr0 = k0 * r;
    const V kr1 = k1 * r;
    const V n00 = (w00 - w00 * k0) + kr0 * k0;
    const V n01 = (w01 - w00 * k1) + kr0 * k1;
    const V n10 = (w10 - w10 * k0) + kr1 * k0;
    const V n11 = (w11 - w10 * k1) + kr1 * k1;
    f.pn01 = V(T(0.5)) * (n01 + n10);
    f.pn00 = batch::max(floor, n00);
    f.pn11 = batch::max(floor, n11);
    if (Clamp) f.pn01 = clamp_correlation(f.pn01, f.pn00, f.pn11);
    return f;
  }

  /// condition_covariance's clamp |P01| <= sqrt(P00 P11); the square root only where it acts.
  template <typename V>
  PHYSGUARD_BATCH_INLINE static V clamp_correlation(V p01, V p00, V p11) noexcept {
    const V bound2 = p00 * p11;
    const mask_t<V> over = p01 * p01 > bound2;
    if (!any(over)) return p01;
    const V b = batch::sqrt(bound2);
    return select(over, select(p01 > V(T(0)), b, -b), p01);
  }

  template <typename V, bool HasMask, bool Exact, bool Fast, typename Sink, typename Out>
  PHYSGUARD_BATCH_INLINE void lanes_at(const Arrays& arr, const detail::UpdateConstants<T>& uc,
                                       std::size_t i, Timestamp t, const T* z,
                                       const T* /*u*/, const std::uint8_t* present, Sink& sink,
                                       const Out& out) {
    const V zero(T(0));
    const V floor(uc.variance_floor);
    const V zv = load<V>(z + i);
    const V x0 = load<V>(arr.x0 + i);
    const V x1 = load<V>(arr.x1 + i);
    const V p00 = load<V>(arr.p00 + i);
    const V p01 = load<V>(arr.p01 + i);
    const V p11 = load<V>(arr.p11 + i);
    const auto f = filter<V, Fast, false>(arr, i, zv, floor, x0, x1, p00, p01, p11);

    // EWMA (EwmaDetector::update)
    const auto e = detail::ewma_step<V, Exact>(arr, i, f.in.zn);

    // The common case (see detail::common_lanes), and no correlation clamp acting.
    const V clamp_excess = batch::max(f.pp01 * f.pp01 - f.pp00 * f.pp11,
                                      f.pn01 * f.pn01 - f.pn00 * f.pn11);
    const V probe = detail::finite_probe(f.xn0 + f.xn1, f.pn00 + f.pn11);
    if (this->template common_case<V, HasMask>(uc, i, present, f.in.nis, probe,
                                               batch::max(e.score - e.limit, clamp_excess))) {
      store(f.xn0, arr.x0 + i);
      store(f.xn1, arr.x1 + i);
      store(f.pn00, arr.p00 + i);
      store(f.pn01, arr.p01 + i);
      store(f.pn11, arr.p11 + i);
      detail::store_statistic<Exact>(arr, i, e);
      detail::write_outputs(out, i, f.in.nis, e.score, true_mask<V>());
      return;
    }

    // The general case, with the correlation clamp and the lane tests.
    const auto g = filter<V, Fast, true>(arr, i, zv, floor, x0, x1, p00, p01, p11);
    detail::UpdateChecks<V> ck;
    ck.in_ok = finite(zv);
    ck.pred_ok = finite(g.xp0) && finite(g.xp1) && finite(g.pp00) && finite(g.pp01) &&
                 finite(g.pp11);
    ck.spd = g.s > zero && finite(g.s);
    ck.nis_ok = finite(g.in.nis);
    ck.gated = detail::gate_rejects(g.in.nis, uc);
    ck.upd_ok = finite(g.xn0) && finite(g.xn1) && finite(g.pn00) && finite(g.pn01) &&
                finite(g.pn11);
    // the EWMA again on the clamped filter's residual (same limit and decay)
    auto eg = e;
    eg.Z = e.lambda * g.in.zn + (V(T(1)) - e.lambda) * e.Z0;
    eg.score = batch::max(-eg.Z, eg.Z);
    this->template finish_lanes<V, HasMask, Exact>(t, i, present, ck, g.in.nis, eg,
                                                   [&](const auto& ln) {
      store(select(ln.fuse, g.xn0, select(ln.predicted, g.xp0, x0)), arr.x0 + i);
      store(select(ln.fuse, g.xn1, select(ln.predicted, g.xp1, x1)), arr.x1 + i);
      store(select(ln.fuse, g.pn00, select(ln.predicted, g.pp00, p00)), arr.p00 + i);
      store(select(ln.fuse, g.pn01, select(ln.predicted, g.pp01, p01)), arr.p01 + i);
      store(select(ln.fuse, g.pn11, select(ln.predicted, g.pp11, p11)), arr.p11 + i);
    }, sink, out);
  }

  EwmaLimits limits_;
};

}  // namespace batch
}  // namespace physguard
