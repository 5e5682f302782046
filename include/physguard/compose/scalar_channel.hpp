// physguard/compose/scalar_channel.hpp - the compact per-channel detector for firmware: a 1-state
// Kalman filter, a CUSUM on its normalised innovation and k-of-n alarm logic, with the
// configuration kept apart (const, in flash, shared by every channel of the same kind) so that the
// RAM per channel is only the state.
#pragma once

#include <cmath>
#include <cstdint>

#include <Eigen/Core>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detail/kalman_update.hpp"
#include "../detect/cusum.hpp"
#include "../detect/decision.hpp"
#include "../estimate/options.hpp"
#include "pipeline.hpp"

namespace physguard {

/// Configuration of a ScalarChannel: a literal type, so `constexpr ScalarChannelConfig<float>`
/// lives in flash and is shared by all channels of one kind.
///
/// Model: x[k+1] = a x[k] + w, w ~ N(0, q);  z[k] = c x[k] + v, v ~ N(0, r)  (one scan per step).
/// `nis_gate`: the filter's NIS gate (chi-square quantile with 1 dof, e.g. 23.93 for 1 - 1e-6;
/// stats::chi_square_quantile computes it on the host, so the firmware needs no libm for it).
/// CUSUM: drift k and threshold h on y / sqrt(S).  Alarm: at least `alarm_k` of the last
/// `alarm_n` (<= 32) decisions alarm; it clears when fewer do and the score is at or below
/// clear_fraction * h (hysteresis).
template <typename T>
struct ScalarChannelConfig {
  T a = T(1);
  T c = T(1);
  T q = T(0);
  T r = T(1);
  T x0 = T(0);
  T p0 = T(1);
  T nis_gate = T(23.928);
  T variance_floor = T(1e-12);
  T cusum_k = T(0.5);
  T cusum_h = T(5);
  T clear_fraction = T(1);
  std::uint8_t alarm_k = 1;
  std::uint8_t alarm_n = 1;
  bool reject_outside_gate = true;
};

/// What one ScalarChannel::update did.
template <typename T>
struct ScalarChannelResult {
  FindingOut<T> out{};      ///< a Finding when the alarm state changed or the sample was refused
  Decision<T> decision{};   ///< the CUSUM decision (or the refusal)
  T nis = T(0);             ///< NIS of the innovation (0 when the filter was not reached)
  Status filter_status = Status::missing;  ///< status of the filter's innovation record
};

/// One scalar channel: screen -> time check -> 1-state Kalman predict + Joseph update (the shared
/// detail::joseph_update) -> y/sqrt(S) -> CusumDetector -> k-of-n alarm with hysteresis -> Finding.
///
/// It gives the same findings as Pipeline<KalmanInnovationSource<T, 1>, CusumDetector<T>> with an
/// AlarmConfig{k, n, clear_fraction} (no warning level, on-delay, latch or hold-off; a test checks
/// the equivalence), including the baseline freeze: while in alarm the filter predicts but does not
/// fuse.  Bad input (missing, bad quality, NaN/inf, time going back or repeating) yields a
/// bad_input finding and leaves the state bit-identical.  No heap, no libm, no virtual call.
/// sizeof: 56 bytes for float (<= 128 asserted in the firmware example); cost per sample ~ 25 flops,
/// three divisions and one square root.
template <typename T>
class ScalarChannel {
 public:
  static constexpr const char* name = "scalar_channel";
  using Config = ScalarChannelConfig<T>;

  explicit ScalarChannel(const Config& cfg, std::uint16_t channel = 0) noexcept
      : cusum_(cfg.cusum_k, cfg.cusum_h), channel_(channel) {
    PHYSGUARD_ASSERT(cfg.alarm_n >= 1 && cfg.alarm_n <= 32, "k-of-n: n must be in [1, 32]");
    PHYSGUARD_ASSERT(cfg.alarm_k >= 1 && cfg.alarm_k <= cfg.alarm_n, "k-of-n: k in [1, n]");
    PHYSGUARD_ASSERT(is_finite(cfg.q) && cfg.q >= T(0) && is_finite(cfg.r) && cfg.r > T(0),
                     "noise variances: q >= 0, r > 0");
    PHYSGUARD_ASSERT(is_finite(cfg.nis_gate) && cfg.nis_gate > T(0), "NIS gate must be > 0");
    reset(cfg);
  }

  /// Back to the configured prior, alarm state normal.
  void reset(const Config& cfg) noexcept {
    PHYSGUARD_ASSERT(is_finite(cfg.x0) && is_finite(cfg.p0) && cfg.p0 >= T(0),
                     "prior: x0 and p0 must be finite, p0 >= 0");
    x_(0) = cfg.x0;
    P_(0) = cfg.p0 < cfg.variance_floor ? cfg.variance_floor : cfg.p0;
    cusum_.reset();
    last_ = Timestamp{};
    window_ = 0;
    stable_ = AlarmState::normal;
    reported_ = AlarmState::normal;
    has_last_ = false;
    active_ = false;
  }

  /// One sample; `cfg` must be the configuration the channel was constructed with.
  ScalarChannelResult<T> update(const Config& cfg, const Sample<T>& s) noexcept {
    ScalarChannelResult<T> res;
    Status st = screen(s);
    if (st == Status::ok && has_last_ && !(s.time > last_))
      st = s.time < last_ ? Status::time_backwards : Status::time_repeated;
    if (st != Status::ok) return refuse(res, st, s.time);

    // Predict and update on copies: nothing is committed until the sample is known to be usable,
    // so a refused sample leaves the channel exactly as it was.
    const T x_pred = cfg.a * x_(0);
    T p_pred = (cfg.a * cfg.a) * P_(0) + cfg.q;
    p_pred = p_pred < cfg.variance_floor ? cfg.variance_floor : p_pred;  // NaN stays NaN
    if (!is_finite(x_pred) || !is_finite(p_pred)) return refuse(res, Status::numerical_failure, s.time);

    // Measurement update (Joseph form, shared code) or, in alarm, evaluation only.
    const Eigen::Matrix<T, 1, 1> H = Eigen::Matrix<T, 1, 1>::Constant(cfg.c);
    const Eigen::Matrix<T, 1, 1> R = Eigen::Matrix<T, 1, 1>::Constant(cfg.r);
    const Eigen::Matrix<T, 1, 1> y = Eigen::Matrix<T, 1, 1>::Constant(s.value - cfg.c * x_pred);
    detail::NisGates<T, 1> gates;
    gates.values[0] = cfg.nis_gate;
    gates.inverses[0] = T(1) / cfg.nis_gate;
    EstimatorOptions<T> options;
    options.reject_outside_gate = cfg.reject_outside_gate;
    options.variance_floor = cfg.variance_floor;
    const bool adapt = !in_alarm();
    Eigen::Matrix<T, 1, 1> x = Eigen::Matrix<T, 1, 1>::Constant(x_pred);
    Eigen::Matrix<T, 1, 1> P = Eigen::Matrix<T, 1, 1>::Constant(p_pred);
    const Innovation<T, 1> rec = detail::joseph_update(x, P, y, H, R, all_present(1), gates, options);
    res.filter_status = rec.status;
    if (rec.status != Status::ok && rec.status != Status::rejected_by_gate)
      return refuse(res, rec.status, s.time);
    res.nis = rec.nis;
    const T z = rec.y(0) / std::sqrt(rec.S(0, 0));
    if (!is_finite(z)) return refuse(res, Status::numerical_failure, s.time);
    // The sample is usable: commit the time and the estimate (in alarm only the prediction).
    has_last_ = true;
    last_ = s.time;
    x_(0) = adapt ? x(0) : x_pred;
    P_(0) = adapt ? P(0) : p_pred;

    Decision<T> d = cusum_.update(z);
    d.time = s.time;
    res.decision = d;

    // k-of-n alarm with hysteresis (AlarmLogic's rules without warning, delay, latch, hold-off).
    const std::uint32_t mask =
        cfg.alarm_n >= 32 ? ~std::uint32_t{0} : ((std::uint32_t{1} << cfg.alarm_n) - 1u);
    window_ = ((window_ << 1) | (d.alarm ? 1u : 0u)) & mask;
    const bool candidate = popcount(window_) >= cfg.alarm_k;
    const bool above_clear = d.alarm || d.score > cfg.clear_fraction * d.threshold;
    if (active_) {
      if (!candidate && !above_clear) active_ = false;
    } else if (candidate) {
      active_ = true;
    }
    stable_ = active_ ? AlarmState::alarm : AlarmState::normal;
    if (stable_ != reported_) {
      const AlarmState state =
          (stable_ == AlarmState::normal && reported_ == AlarmState::alarm) ? AlarmState::cleared
                                                                            : stable_;
      reported_ = stable_;
      res.out.has = true;
      res.out.finding = d.to_finding(channel_, name, state);
    }
    return res;
  }

  /// True while the alarm is active or any of the last n decisions alarmed: the filter does not
  /// fuse (the attacker cannot teach it the attack).
  bool in_alarm() const noexcept { return stable_ == AlarmState::alarm || window_ != 0u; }
  AlarmState state() const noexcept { return stable_; }
  T state_estimate() const noexcept { return x_(0); }
  T variance() const noexcept { return P_(0); }
  const CusumDetector<T>& cusum() const noexcept { return cusum_; }
  std::uint16_t channel() const noexcept { return channel_; }

 private:
  static int popcount(std::uint32_t v) noexcept {
    v = v - ((v >> 1) & 0x55555555u);
    v = (v & 0x33333333u) + ((v >> 2) & 0x33333333u);
    return static_cast<int>((((v + (v >> 4)) & 0x0f0f0f0fu) * 0x01010101u) >> 24);
  }

  ScalarChannelResult<T>& refuse(ScalarChannelResult<T>& res, Status st, Timestamp t) const noexcept {
    res.decision = refused<T>(st, t);
    res.out.has = true;
    res.out.finding = res.decision.to_finding(channel_, name, stable_);
    return res;
  }

  Eigen::Matrix<T, 1, 1> x_;
  Eigen::Matrix<T, 1, 1> P_;
  CusumDetector<T> cusum_;
  Timestamp last_{};
  std::uint32_t window_ = 0;
  std::uint16_t channel_ = 0;
  AlarmState stable_ = AlarmState::normal;
  AlarmState reported_ = AlarmState::normal;
  bool has_last_ = false;
  bool active_ = false;
};

}  // namespace physguard
