// physguard/detect/threshold.hpp - the stateless "bad data" test |z| > h on a normalised residual.
#pragma once

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "arl.hpp"
#include "decision.hpp"

namespace physguard {

/// Shewhart-type test on a normalised residual z (zero mean, unit variance in normal operation,
/// e.g. y / sqrt(S) of a scalar Kalman innovation): alarm when |z| > h.
///
/// The decision depends on the current sample only; it catches large, sudden errors (spikes,
/// wrong scaling, a replaced value far from the model) but is blind to small persistent shifts
/// (use CUSUM or EWMA for those).  With z ~ N(0,1) each sample alarms with probability
/// p = 2 (1 - Phi(h)) and the run length is geometric: ARL0 = 1/p (h = 3.29 for ARL0 = 1000).
/// Decision: score = |z|, threshold = h, direction = sign of z.  sizeof == 2 * sizeof(T).
template <typename T>
class ThresholdDetector {
 public:
  static constexpr const char* name = "threshold";

  /// `threshold_h` > 0, in units of the residual's standard deviation.
  explicit ThresholdDetector(T threshold_h) noexcept : h_(threshold_h) {
    PHYSGUARD_ASSERT(is_finite(threshold_h) && threshold_h > T(0), "threshold must be > 0");
  }

  /// Tests one normalised residual.  NaN/inf is refused (Status::not_finite).
  Decision<T> update(T z) noexcept {
    if (!is_finite(z)) return refused<T>(Status::not_finite);
    Decision<T> d;
    last_score_ = z < T(0) ? -z : z;
    d.score = last_score_;
    d.threshold = h_;
    d.alarm = last_score_ > h_;
    d.direction = z > T(0) ? std::int8_t{1} : (z < T(0) ? std::int8_t{-1} : std::int8_t{0});
    return d;
  }

  /// Forgets the last score (there is no other state).
  void reset() noexcept { last_score_ = T(0); }

  /// |z| of the last accepted sample.
  T statistic() const noexcept { return last_score_; }
  T threshold() const noexcept { return h_; }

  /// h with ARL0 = arl for z ~ N(0,1): h = Phi^-1(1 - 1/(2 arl)).  arl > 1.
  static T threshold_for_arl(double arl) noexcept {
    return static_cast<T>(arl::gaussian_threshold_for_arl(arl));
  }
  /// ARL of the test with threshold h when z ~ N(mean_shift, 1) (mean_shift = 0: ARL0).
  static double average_run_length(double h, double mean_shift = 0.0) noexcept {
    return arl::gaussian_threshold_arl(h, mean_shift);
  }

 private:
  T h_;
  T last_score_ = T(0);
};

}  // namespace physguard
