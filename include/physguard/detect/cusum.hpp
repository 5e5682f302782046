// physguard/detect/cusum.hpp - two-sided tabular CUSUM on a normalised residual.
#pragma once

#include <cstdint>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "after_alarm.hpp"
#include "arl.hpp"
#include "decision.hpp"

namespace physguard {

/// Two-sided tabular CUSUM (Page 1954) on a normalised residual z (zero mean, unit variance in
/// normal operation):
///
///     S+ = max(0, S+ + z - k),    S- = max(0, S- - z - k),    alarm when max(S+, S-) > h.
///
/// It detects a persistent shift of the residual's mean, optimally (in Lorden's sense) a shift of
/// +-2k standard deviations: k = 0.5 targets a one-sigma shift.  h sets the false-alarm rate:
/// threshold_for_arl(k, ARL0) solves Siegmund's approximation (see arl.hpp); k = 0.5, h = 4.77
/// gives ARL0 ~ 370.  average_run_length(k, h, shift) gives the mean detection delay of a shift.
///
/// Decision: score = max(S+, S-), threshold = h, direction +1 when S+ leads (upward shift), -1
/// when S- leads, 0 when both are zero.  After an alarm the sums keep accumulating until reset()
/// (default; the alarm logic latches) or restart at zero (AfterAlarm::restart).
/// sizeof == 4 * sizeof(T) + padding; cost per sample: a handful of adds and compares.
template <typename T>
class CusumDetector {
 public:
  static constexpr const char* name = "cusum";

  /// `drift_k` >= 0 (reference value, in standard deviations), `threshold_h` > 0.
  CusumDetector(T drift_k, T threshold_h,
                AfterAlarm after_alarm = AfterAlarm::keep_accumulating) noexcept
      : k_(drift_k), h_(threshold_h), after_alarm_(after_alarm) {
    PHYSGUARD_ASSERT(is_finite(drift_k) && drift_k >= T(0), "CUSUM drift k must be >= 0");
    PHYSGUARD_ASSERT(is_finite(threshold_h) && threshold_h > T(0), "CUSUM threshold h must be > 0");
  }

  /// One normalised residual.  NaN/inf is refused (Status::not_finite), state unchanged.
  Decision<T> update(T z) noexcept {
    if (!is_finite(z)) return refused<T>(Status::not_finite);
    const T up = upper_ + z - k_;
    const T down = lower_ - z - k_;
    upper_ = up > T(0) ? up : T(0);
    lower_ = down > T(0) ? down : T(0);
    Decision<T> d;
    d.threshold = h_;
    if (upper_ >= lower_) {
      d.score = upper_;
      d.direction = upper_ > T(0) ? std::int8_t{1} : std::int8_t{0};
    } else {
      d.score = lower_;
      d.direction = std::int8_t{-1};
    }
    d.alarm = d.score > h_;
    if (d.alarm && after_alarm_ == AfterAlarm::restart) reset();
    return d;
  }

  /// Back to the zero state (S+ = S- = 0).
  void reset() noexcept {
    upper_ = T(0);
    lower_ = T(0);
  }

  /// max(S+, S-).
  T statistic() const noexcept { return upper_ > lower_ ? upper_ : lower_; }
  T upper() const noexcept { return upper_; }  ///< S+
  T lower() const noexcept { return lower_; }  ///< S-
  T threshold() const noexcept { return h_; }
  T drift() const noexcept { return k_; }
  AfterAlarm after_alarm() const noexcept { return after_alarm_; }

  /// h giving the two-sided CUSUM an in-control ARL of target_arl samples (Siegmund's
  /// approximation, both sides combined as 1/ARL = 1/ARL+ + 1/ARL-, solved by bisection).
  static T threshold_for_arl(T drift_k, double target_arl) noexcept {
    return static_cast<T>(arl::cusum_threshold_for_arl(static_cast<double>(drift_k), target_arl));
  }
  /// Siegmund's ARL of the two-sided CUSUM when the residual's mean is `mean_shift` standard
  /// deviations (0: mean time between false alarms; otherwise the mean detection delay from the
  /// zero state).
  static double average_run_length(double drift_k, double threshold_h,
                                   double mean_shift = 0.0) noexcept {
    return arl::cusum_arl(drift_k, threshold_h, mean_shift);
  }

 private:
  T k_;
  T h_;
  T upper_ = T(0);
  T lower_ = T(0);
  AfterAlarm after_alarm_;
};

}  // namespace physguard
