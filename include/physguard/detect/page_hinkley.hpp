// physguard/detect/page_hinkley.hpp - Page-Hinkley test for a change in mean, learned baseline.
#pragma once

#include <cstdint>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "after_alarm.hpp"
#include "arl.hpp"
#include "decision.hpp"

namespace physguard {

/// Page-Hinkley test (Page 1954, Hinkley 1971) for a change in the mean of a raw signal x whose
/// normal mean is not known in advance: it learns the baseline mean m and accumulates deviations
/// from it, in x's own units,
///
///     e_t = x_t - m_{t-1}                      (deviation from the baseline *before* x_t)
///     U_t = max(0, U_{t-1} + e_t - delta)      (upward)
///     D_t = max(0, D_{t-1} - e_t - delta)      (downward),     alarm when max(U, D) > lambda.
///
/// U_t equals the classical form  m_t - min_{s<=t} m_s  with  m_t = sum (x_s - mean - delta).
/// Baseline: m is the running mean of the accepted samples (weight 1/n), or, with alpha > 0, an
/// exponentially forgetting mean (weight max(1/n, alpha)) that follows slow, legitimate changes.
/// `update(x, adapt = false)` still tests x but leaves m untouched: the alarm logic passes
/// adapt = false while the detector is in alarm, so an attacker cannot teach it the attack.
/// During the first `warmup_samples` samples (at least one) the test is not run, only m is learned
/// (a warm-up sample with adapt = false is refused with Status::not_initialised, state unchanged).
///
/// Relation to CUSUM: with a known mean (set_known_baseline(mu)) and z = (x - mu)/sigma, U and D
/// are exactly sigma times the upper and lower sums of CusumDetector with k = delta/sigma and
/// h = lambda/sigma, so the CUSUM ARL theory applies: threshold_for_arl(delta, ARL0, sigma).
/// With a learned baseline the ARL is somewhat shorter (m carries estimation noise ~ sigma/sqrt(n));
/// use a warm-up of a few hundred samples or alpha small enough (alpha << delta^2/sigma^2) for the
/// theory to hold approximately.
///
/// Decision: score = max(U, D), threshold = lambda, direction +1 (U leads) / -1 (D leads).
template <typename T>
class PageHinkleyDetector {
 public:
  static constexpr const char* name = "page_hinkley";

  /// `delta` >= 0 (allowed drift per sample, units of x), `threshold_lambda` > 0 (units of x),
  /// `alpha` in [0, 1) forgetting weight of the baseline (0: plain running mean).
  PageHinkleyDetector(T delta, T threshold_lambda, T alpha = T(0),
                      std::uint32_t warmup_samples = 1,
                      AfterAlarm after_alarm = AfterAlarm::keep_accumulating) noexcept
      : delta_(delta),
        lambda_(threshold_lambda),
        alpha_(alpha),
        warmup_(warmup_samples > 0 ? warmup_samples : 1u),
        after_alarm_(after_alarm) {
    PHYSGUARD_ASSERT(is_finite(delta) && delta >= T(0), "Page-Hinkley delta must be >= 0");
    PHYSGUARD_ASSERT(is_finite(threshold_lambda) && threshold_lambda > T(0),
                     "Page-Hinkley threshold must be > 0");
    PHYSGUARD_ASSERT(is_finite(alpha) && alpha >= T(0) && alpha < T(1),
                     "Page-Hinkley alpha must be in [0, 1)");
  }

  /// One raw sample.  `adapt` = false: test x against the frozen baseline without learning from
  /// it.  NaN/inf is refused (Status::not_finite), state unchanged.
  Decision<T> update(T x, bool adapt = true) noexcept {
    if (!is_finite(x)) return refused<T>(Status::not_finite);
    const bool testing = known_ || count_ >= warmup_;
    if (!testing && !adapt) {
      // Still learning its baseline but told not to learn: nothing to do with x.
      Decision<T> d = refused<T>(Status::not_initialised);
      d.kind = FindingKind::residual;
      d.cause = Cause::unknown;
      d.threshold = lambda_;
      return d;
    }
    Decision<T> d;
    d.threshold = lambda_;
    if (testing) {
      const T e = x - mean_;
      const T up = upper_ + e - delta_;
      const T down = lower_ - e - delta_;
      upper_ = up > T(0) ? up : T(0);
      lower_ = down > T(0) ? down : T(0);
    }
    if (!known_ && adapt) learn(x);
    if (upper_ >= lower_) {
      d.score = upper_;
      d.direction = upper_ > T(0) ? std::int8_t{1} : std::int8_t{0};
    } else {
      d.score = lower_;
      d.direction = std::int8_t{-1};
    }
    d.alarm = d.score > lambda_;
    if (d.alarm && after_alarm_ == AfterAlarm::restart) reset_statistic();
    return d;
  }

  /// Fixes the baseline at a known mean: from now on it is never learned (until reset()).
  void set_known_baseline(T mean) noexcept {
    PHYSGUARD_ASSERT(is_finite(mean), "baseline must be finite");
    mean_ = mean;
    known_ = true;
  }

  /// Clears U and D; keeps the baseline.
  void reset_statistic() noexcept {
    upper_ = T(0);
    lower_ = T(0);
  }
  /// Clears U, D and the learned baseline (a known baseline stays known).
  void reset() noexcept {
    reset_statistic();
    if (!known_) {
      mean_ = T(0);
      count_ = 0;
    }
  }

  /// max(U, D).
  T statistic() const noexcept { return upper_ > lower_ ? upper_ : lower_; }
  T upper() const noexcept { return upper_; }  ///< U
  T lower() const noexcept { return lower_; }  ///< D
  T threshold() const noexcept { return lambda_; }
  T delta() const noexcept { return delta_; }
  T alpha() const noexcept { return alpha_; }
  /// The baseline mean m.
  T baseline() const noexcept { return mean_; }
  /// Samples the baseline has learned from (saturates).
  std::uint32_t baseline_samples() const noexcept { return count_; }
  bool baseline_known() const noexcept { return known_; }

  /// lambda giving the (two-sided) test an in-control ARL of target_arl samples when the baseline
  /// is known and x has standard deviation sigma: sigma * h(k = delta/sigma) of the two-sided CUSUM
  /// (Siegmund).  For the one-sided test use arl::cusum_one_sided_threshold_for_arl.
  static T threshold_for_arl(T delta, double target_arl, T sigma = T(1)) noexcept {
    const double s = static_cast<double>(sigma);
    return static_cast<T>(s * arl::cusum_threshold_for_arl(static_cast<double>(delta) / s, target_arl));
  }
  /// ARL with a known baseline, for a mean shift of `mean_shift` (units of x).
  static double average_run_length(double delta, double threshold_lambda, double sigma = 1.0,
                                   double mean_shift = 0.0) noexcept {
    return arl::cusum_arl(delta / sigma, threshold_lambda / sigma, mean_shift / sigma);
  }

 private:
  void learn(T x) noexcept {
    if (count_ < 0xFFFFFFFFu) ++count_;
    const T w_mean = T(1) / static_cast<T>(count_);
    const T w = w_mean > alpha_ ? w_mean : alpha_;
    mean_ += w * (x - mean_);
  }

  T delta_;
  T lambda_;
  T alpha_;
  T mean_ = T(0);
  T upper_ = T(0);
  T lower_ = T(0);
  std::uint32_t count_ = 0;
  std::uint32_t warmup_;
  AfterAlarm after_alarm_;
  bool known_ = false;
};

}  // namespace physguard
