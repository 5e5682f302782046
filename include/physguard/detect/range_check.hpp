// physguard/detect/range_check.hpp - value outside the physically possible range of a channel.
#pragma once

#include <cstdint>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "decision.hpp"

namespace physguard {

/// Physically possible range [min, max] of one channel (a tank level cannot be below the bottom or
/// above the overflow, a pH lies in [0, 14], a valve position in [0, 100] %).
///
///     score = distance outside the range / (max - min)      (0 inside the range)
///
/// The distance is normalised by the span so that one threshold works across channels of any unit:
/// score 0.01 means "1 % of the span outside".  `margin_fraction` (default 0) is the threshold on
/// that score: a value is tolerated up to margin_fraction * (max - min) beyond either limit (room
/// for calibration error and noise at the limits).  alarm = score > margin_fraction.
///
/// Cause: sensor_fault.  A value the process cannot physically take means the measurement chain is
/// broken (wire break below 4 mA mapped to a negative level, ADC saturation, wrong scaling).  An
/// attacker could write such a value too, but it would be an unsubtle one; the usual reason is a
/// broken signal.  kind = plausibility, direction +1 above max, -1 below min.
///
/// Stateless apart from the last score.  sizeof == 4 * sizeof(T).
template <typename T>
class RangeCheck {
 public:
  static constexpr const char* name = "range";

  /// `min` < `max` in the channel's unit; `margin_fraction` >= 0 as a fraction of (max - min).
  RangeCheck(T min, T max, T margin_fraction = T(0)) noexcept
      : min_(min), max_(max), margin_(margin_fraction) {
    PHYSGUARD_ASSERT(is_finite(min) && is_finite(max) && min < max, "range needs min < max");
    PHYSGUARD_ASSERT(is_finite(margin_fraction) && margin_fraction >= T(0), "margin must be >= 0");
  }

  /// Tests one sample.  Missing, bad-quality or non-finite samples are refused (screen()).
  Decision<T> update(const Sample<T>& s) noexcept {
    const Status st = screen(s);
    if (st != Status::ok) return refused<T>(st, s.time);
    Decision<T> d;
    d.time = s.time;
    d.kind = FindingKind::plausibility;
    d.cause = Cause::sensor_fault;
    d.threshold = margin_;
    const T span = max_ - min_;
    if (s.value > max_) {
      d.score = (s.value - max_) / span;
      d.direction = 1;
    } else if (s.value < min_) {
      d.score = (min_ - s.value) / span;
      d.direction = -1;
    }
    d.alarm = d.score > margin_;
    last_score_ = d.score;
    return d;
  }

  /// Forgets the last score (there is no other state).
  void reset() noexcept { last_score_ = T(0); }

  T statistic() const noexcept { return last_score_; }
  T threshold() const noexcept { return margin_; }
  T min() const noexcept { return min_; }
  T max() const noexcept { return max_; }

 private:
  T min_;
  T max_;
  T margin_;
  T last_score_ = T(0);
};

}  // namespace physguard
