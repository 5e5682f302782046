// physguard/batch/kalman_cusum_bank.hpp - many scalar Kalman filters (random walk or first-order
// lag), each with its NIS and a two-sided CUSUM on the normalised innovation, in one fused loop.
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
#include "../estimate/options.hpp"
#include "detail/bank_support.hpp"
#include "simd.hpp"

namespace physguard {
namespace batch {

/// Parameters and initial state of one channel of a KalmanCusumBank.
///
/// Model (one state x in the measured unit, measured directly):
///     x[k+1] = a x[k] + b u[k] + w,  Var w = q;     z[k] = x[k] + v,  Var v = r
/// Random walk: a = 1, b = 0, q = q_density * dt_s (RandomWalk::model / process_noise).
/// First-order lag: a = exp(-dt/tau), b = K (1 - a), q from FirstOrderLag::process_noise(dt_s);
/// take a, b and q from the signal/ classes so that the bank and the scalar filter agree exactly.
template <typename T>
struct KalmanCusumChannel {
  T a = T(1);
  T b = T(0);
  T q = T(0);            ///< discrete process-noise variance per step (unit^2)
  T r = T(1);            ///< measurement-noise variance (unit^2), > 0
  T x0 = T(0);           ///< initial state
  T p0 = T(1);           ///< initial variance, >= 0 (floored like KalmanFilter's)
  T cusum_k = T(0.5);    ///< CUSUM drift k (standard deviations), >= 0
  T cusum_h = T(5);      ///< CUSUM threshold h, > 0
};

/// The structure-of-arrays storage of a KalmanCusumBank: one array per field, `channels` elements
/// each, in memory the caller owns (or carve() cut from one block).
template <typename T>
struct KalmanCusumArrays {
  // parameters
  T* a = nullptr;
  T* b = nullptr;
  T* q = nullptr;
  T* r = nullptr;
  T* k = nullptr;
  T* h = nullptr;
  // state
  T* x = nullptr;
  T* p = nullptr;
  T* upper = nullptr;             ///< CUSUM S+
  T* lower = nullptr;             ///< CUSUM S-
  std::uint8_t* alarm = nullptr;  ///< 1 while the channel's CUSUM is in alarm
  std::uint32_t* refused = nullptr;  ///< samples refused so far, per channel
};

/// Optional per-step outputs (each pointer may be null; non-null ones get `channels` values).
/// Channels that were not sampled or whose sample was refused get 0.
template <typename T>
struct KalmanCusumOutputs {
  T* nis = nullptr;    ///< y^2 / S
  T* score = nullptr;  ///< max(S+, S-) after this step
};

/// A bank of independent one-state Kalman filters with NIS and a two-sided CUSUM, per channel
/// exactly what this scalar pipeline computes:
///
///     Pipeline<KalmanInnovationSource<T, 1, Nu>, CusumDetector<T>>   (default AlarmConfig)
///
/// i.e. per sampled channel: predict  x- = a x + b u,  P- = max(a^2 P + q, floor);  innovation
/// y = z - x-,  S = P- + r,  NIS = y^2 / S;  fuse (x+ = x- + P-/S y,  P+ = max(P- r / S, floor))
/// unless the NIS is outside the gate (reject_outside_gate) or the channel's CUSUM is in alarm (the
/// filter then coasts on its model); CUSUM on y / sqrt(S):  S+ = max(0, S+ + z - k),
/// S- = max(0, S- - z - k), alarm when max(S+, S-) > h.  Same operations in the same order as
/// KalmanFilter's scalar path (P+ = P r / s and 1/s for the NIS), so bank and scalar objects agree
/// to a few ulp (bit for bit when neither uses fused multiply-add).
///
/// step() is ONE pass over the channels in batches of batch::Batch<T> (SIMD) lanes; the remainder
/// channels run the same code one lane at a time.  A batch whose lanes are all sampled, finite,
/// fused and without alarm before or after (decided with one vector compare, see
/// detail::common_lanes) stores its results directly; any other batch works out the lane masks.
/// Per channel it reads z (and u, and the present flag), updates filter and CUSUM, and emits
/// Findings exactly when the pipeline would:
///   - alarm raised (state alarm) / cleared (state cleared), kind residual, detector "cusum";
///   - refused sample (NaN or inf in z or u, numerical failure), kind bad_input, status why,
///     cause sensor_fault: the channel's state is untouched and its refused() count goes up.
/// A channel whose present flag is 0 is not sampled this step: nothing changes, nothing is
/// emitted (the scalar pipeline is simply not called).  Other channels are never affected.
///
/// Memory: the bank never allocates; it works on KalmanCusumArrays (caller-owned views, or
/// carve() from one block; batch/host_storage.hpp has an owning wrapper for hosts).
/// Bytes per channel: 10 * sizeof(T) + 5.  Per channel-update: 3 divisions and 1 square root
/// (BankArithmetic::fast: 1 and 1), ~25 other floating-point operations.
///
/// `B` is the batch type (default batch::Batch<T>; FixedBatch<T, W> forces the generic-vector
/// backend, ArrayBatch<T, W> plain loops).
template <typename T, typename B = Batch<T>>
class KalmanCusumBank
    : public detail::KalmanBankBase<KalmanCusumBank<T, B>, T, B, KalmanCusumArrays<T>> {
  using Base = detail::KalmanBankBase<KalmanCusumBank<T, B>, T, B, KalmanCusumArrays<T>>;
  friend Base;
  friend detail::BankBase<KalmanCusumBank<T, B>, T, B, KalmanCusumArrays<T>>;

 public:
  using Scalar = T;
  using batch_type = B;
  using Arrays = KalmanCusumArrays<T>;
  using Channel = KalmanCusumChannel<T>;
  using Outputs = KalmanCusumOutputs<T>;
  static constexpr bool constant_gain = false;
  static constexpr const char* name = "cusum";

  /// The arrays in storage order: visit(pointer, elements per channel).
  template <typename Visit>
  static void for_each_array(Arrays& a, Visit&& visit) {
    visit(a.a, 1);
    visit(a.b, 1);
    visit(a.q, 1);
    visit(a.r, 1);
    visit(a.k, 1);
    visit(a.h, 1);
    visit(a.x, 1);
    visit(a.p, 1);
    visit(a.upper, 1);
    visit(a.lower, 1);
    visit(a.alarm, 1);
    visit(a.refused, 1);
  }

  /// A bank over `arrays` (each with `channels` elements).  Every channel starts as a default
  /// Channel; configure() each one.  `first_channel` is added to the index written into findings.
  KalmanCusumBank(std::size_t channels, const Arrays& arrays,
                  const EstimatorOptions<T>& options = EstimatorOptions<T>{},
                  BankArithmetic arithmetic = BankArithmetic::scalar_order,
                  std::size_t first_channel = 0, std::uint16_t detector_id = 0)
      : Base(channels, arrays, options, arithmetic, first_channel, detector_id) {
    for (std::size_t i = 0; i < this->n_; ++i) configure(i, Channel{});
  }

  /// Sets channel i's parameters and resets its state (x0, p0, CUSUM at zero, no alarm).
  void configure(std::size_t i, const Channel& c) noexcept {
    PHYSGUARD_ASSERT(i < this->n_, "channel index out of range");
    PHYSGUARD_ASSERT(is_finite(c.a) && is_finite(c.b) && is_finite(c.q) && c.q >= T(0),
                     "model a, b, q must be finite, q >= 0");
    PHYSGUARD_ASSERT(is_finite(c.r) && c.r > T(0), "measurement variance r must be > 0");
    PHYSGUARD_ASSERT(is_finite(c.x0) && is_finite(c.p0) && c.p0 >= T(0),
                     "x0 and p0 must be finite, p0 >= 0");
    Arrays& a = this->arr_;
    a.a[i] = c.a;
    a.b[i] = c.b;
    a.q[i] = c.q;
    a.r[i] = c.r;
    detail::configure_cusum(a, i, c.cusum_k, c.cusum_h);
    a.x[i] = c.x0;
    a.p[i] = c.p0 >= this->options_.variance_floor ? c.p0 : this->options_.variance_floor;
    a.alarm[i] = 0;
    a.refused[i] = 0;
  }

  /// One scan at time t: z[i] measured on channel i; u[i] the model input (null: u = 0, e.g.
  /// random walks); present[i] != 0 when channel i was sampled (null: all were).  Findings go to
  /// `sink` (a callable taking const Finding<T>&, or (const Finding<T>&, std::size_t index)).
  /// A time that does not advance refuses the whole scan (Status::time_backwards /
  /// time_repeated, nothing changes, counted in refused_scans()); otherwise returns Status::ok.
  template <typename Sink>
  Status step(Timestamp t, const T* z, const T* u, const std::uint8_t* present, Sink&& sink,
              const Outputs& out = Outputs{}) {
    return this->scan_lanes(t, z, u, present, sink, out, u != nullptr, present != nullptr);
  }

  T state(std::size_t i) const noexcept { return this->arr_.x[i]; }
  T variance(std::size_t i) const noexcept { return this->arr_.p[i]; }
  T cusum_upper(std::size_t i) const noexcept { return this->arr_.upper[i]; }
  T cusum_lower(std::size_t i) const noexcept { return this->arr_.lower[i]; }

 private:
  // Channels i .. i + lanes<V>() - 1: the whole update in one pass.  The common case (every lane
  // sampled, finite, fused, no alarm before or after) stores without selects; otherwise the lane
  // masks are worked out and the (rare) lanes that were refused or changed alarm state leave
  // through report(), out of line.
  template <typename V, bool HasU, bool HasMask, bool Fast, typename Sink, typename Out>
  PHYSGUARD_BATCH_INLINE void lanes_at(const Arrays& arr, const detail::UpdateConstants<T>& uc,
                                       std::size_t i, Timestamp t, const T* z, const T* u,
                                       const std::uint8_t* present, Sink& sink,
                                       const Out& out) {
    const V floor(uc.variance_floor);
    const V zv = load<V>(z + i);
    const V uv = HasU ? load<V>(u + i) : V(T(0));

    // predict (KalmanFilter::predict, Nx == 1): a^2 first; the floor keeps a NaN a NaN
    const V a = load<V>(arr.a + i);
    const V x = load<V>(arr.x + i);
    const V p = load<V>(arr.p + i);
    const V xp = HasU ? a * x + load<V>(arr.b + i) * uv : a * x;
    const V pp = batch::max(floor, (a * a) * p + load<V>(arr.q + i));

    // update (detail::joseph_update, Nx == Nz == 1, h = 1) and residual y / sqrt(S)
    const V r = load<V>(arr.r + i);
    const V y = zv - xp;
    const V s = pp + r;
    const auto in = detail::scalar_innovation<V, Fast>(y, s, pp);
    const V xn = xp + in.k_y;
    const V pn = batch::max(floor, Fast ? (pp * r) * in.inv_s : (pp * r) / s);

    // CUSUM (CusumDetector::update)
    const auto cu = detail::cusum_step(arr, i, in.zn);

    if (this->template common_case<V, HasMask>(uc, i, present, in.nis,
                                               detail::finite_probe(xn, pn),
                                               cu.score - cu.limit)) {
      store(xn, arr.x + i);
      store(pn, arr.p + i);
      detail::store_statistic(arr, i, cu);
      detail::write_outputs(out, i, in.nis, cu.score, true_mask<V>());
      return;
    }

    // The general case: the lane tests of KalmanInnovationSource + Pipeline.
    detail::UpdateChecks<V> ck;
    ck.in_ok = HasU ? finite(zv) && finite(uv) : finite(zv);
    ck.pred_ok = finite(xp) && finite(pp);
    ck.spd = s > V(T(0)) && finite(s);
    ck.nis_ok = finite(in.nis);
    ck.gated = detail::gate_rejects(in.nis, uc);
    ck.upd_ok = finite(xn) && finite(pn);
    this->template finish_lanes<V, HasMask>(t, i, present, ck, in.nis, cu, [&](const auto& ln) {
      store(select(ln.fuse, xn, select(ln.predicted, xp, x)), arr.x + i);
      store(select(ln.fuse, pn, select(ln.predicted, pp, p)), arr.p + i);
    }, sink, out);
  }

};

}  // namespace batch
}  // namespace physguard
