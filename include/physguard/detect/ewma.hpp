// physguard/detect/ewma.hpp - two-sided EWMA chart on a normalised residual.
#pragma once

#include <cmath>
#include <cstdint>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "after_alarm.hpp"
#include "arl.hpp"
#include "decision.hpp"

namespace physguard {

/// Control limits of an EWMA chart.
enum class EwmaLimits : std::uint8_t {
  exact = 0,   ///< L sigma_Z(t), sigma_Z(t)^2 = lambda/(2-lambda) (1 - (1-lambda)^(2t)): narrow at start
  asymptotic,  ///< L sigma_Z(inf) from the first sample (the set-up the ARL theory assumes)
};

/// Two-sided EWMA chart (Roberts 1959) on a normalised residual z (zero mean, unit variance):
///
///     Z_t = lambda z_t + (1 - lambda) Z_{t-1},  Z_0 = 0,    alarm when |Z_t| > L sigma_Z(t).
///
/// Small lambda (0.05-0.2) averages over about 2/lambda samples and detects small persistent
/// shifts (0.5-1 sigma) quickly; lambda = 1 is the Shewhart test |z| > L.  The width L follows from
/// a target ARL0 by threshold_for_arl(lambda, ARL0), the Markov-chain approximation of Brook & Evans
/// / Lucas & Saccucci (arl.hpp), which assumes asymptotic limits; exact (time-varying) limits are
/// narrower during the first ~1/lambda samples, which catches a change present from the start
/// sooner and lowers ARL0 (measured at a target of 300: -10 % for lambda = 0.05, -2..-5 % for 0.1,
/// < 1 % for 0.2).  Use EwmaLimits::asymptotic when the false-alarm rate must match the theory.
///
/// Decision: score = |Z_t|, threshold = L sigma_Z(t) (the control limit the sample was tested
/// against), direction = sign of Z_t.  sizeof ~ 7 * sizeof(T).  Per sample: a few multiply-adds
/// and, with exact limits, one sqrt.
template <typename T>
class EwmaDetector {
 public:
  static constexpr const char* name = "ewma";

  /// `lambda` in (0, 1], `threshold_L` > 0 (in units of sigma_Z).
  EwmaDetector(T lambda, T threshold_L, EwmaLimits limits = EwmaLimits::exact,
               AfterAlarm after_alarm = AfterAlarm::keep_accumulating) noexcept
      : lambda_(lambda),
        L_(threshold_L),
        asymptotic_variance_(lambda / (T(2) - lambda)),
        retain_squared_((T(1) - lambda) * (T(1) - lambda)),
        limits_(limits),
        after_alarm_(after_alarm) {
    PHYSGUARD_ASSERT(is_finite(lambda) && lambda > T(0) && lambda <= T(1),
                     "EWMA lambda must be in (0, 1]");
    PHYSGUARD_ASSERT(is_finite(threshold_L) && threshold_L > T(0), "EWMA L must be > 0");
    asymptotic_limit_ = L_ * std::sqrt(asymptotic_variance_);
    reset();
  }

  /// One normalised residual.  NaN/inf is refused (Status::not_finite), state unchanged.
  Decision<T> update(T z) noexcept {
    if (!is_finite(z)) return refused<T>(Status::not_finite);
    Z_ = lambda_ * z + (T(1) - lambda_) * Z_;
    if (limits_ == EwmaLimits::exact) {
      decay_ *= retain_squared_;  // (1-lambda)^(2t); underflows harmlessly to 0
      limit_ = L_ * std::sqrt(asymptotic_variance_ * (T(1) - decay_));
    } else {
      limit_ = asymptotic_limit_;
    }
    Decision<T> d;
    d.score = Z_ < T(0) ? -Z_ : Z_;
    d.threshold = limit_;
    d.alarm = d.score > limit_;
    d.direction = Z_ > T(0) ? std::int8_t{1} : (Z_ < T(0) ? std::int8_t{-1} : std::int8_t{0});
    if (d.alarm && after_alarm_ == AfterAlarm::restart) reset();
    return d;
  }

  /// Back to Z = 0 and, with exact limits, to the narrow start-up limits.
  void reset() noexcept {
    Z_ = T(0);
    decay_ = T(1);
    limit_ = limits_ == EwmaLimits::exact ? T(0) : asymptotic_limit_;
  }

  /// Z_t (signed).
  T statistic() const noexcept { return Z_; }
  /// L, in units of sigma_Z.
  T threshold() const noexcept { return L_; }
  /// L sigma_Z(t): the limit the last sample was tested against (0 before the first with exact limits).
  T control_limit() const noexcept { return limit_; }
  /// L sigma_Z(inf).
  T asymptotic_control_limit() const noexcept { return asymptotic_limit_; }
  T lambda() const noexcept { return lambda_; }
  EwmaLimits limits() const noexcept { return limits_; }
  AfterAlarm after_alarm() const noexcept { return after_alarm_; }

  /// L giving an in-control ARL of target_arl (asymptotic limits, Markov chain with `States` cells;
  /// configuration time, 8 * States^2 bytes of stack).
  template <int States = 81>
  static T threshold_for_arl(T lambda, double target_arl) noexcept {
    return static_cast<T>(
        arl::ewma_threshold_for_arl<States>(static_cast<double>(lambda), target_arl));
  }
  /// ARL (asymptotic limits, zero start) when the residual's mean is `mean_shift` sigma.
  template <int States = 81>
  static double average_run_length(double lambda, double threshold_L,
                                   double mean_shift = 0.0) noexcept {
    return arl::ewma_arl<States>(lambda, threshold_L, mean_shift);
  }

 private:
  T lambda_;
  T L_;
  T asymptotic_variance_;
  T retain_squared_;
  T asymptotic_limit_ = T(0);
  T Z_ = T(0);
  T decay_ = T(1);
  T limit_ = T(0);
  EwmaLimits limits_;
  AfterAlarm after_alarm_;
};

}  // namespace physguard
