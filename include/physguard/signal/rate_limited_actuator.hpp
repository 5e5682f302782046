// physguard/signal/rate_limited_actuator.hpp - actuator with limited travel speed and end stops
// (valve stem, damper, variable-speed drive ramp).
#pragma once

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"

namespace physguard {

/// Actuator that moves towards its command at no more than `max_rate_per_s` (position units per
/// second) and stays within [min_position, max_position]:
///
///     target   = clamp(command, min_position, max_position)
///     x[k+1]   = x[k] + clamp(target - x[k], -r dt, +r dt)
///
/// (exact for a command held over dt).  `rate_limited()` says whether the last step was limited
/// by the rate, `saturated()` whether the command lay outside the travel range.  Units are the
/// caller's (% open, mm of stem travel, ...).  A step with a non-finite command or dt, or dt < 0,
/// is refused (position unchanged; status()).  No heap.
template <typename T>
class RateLimitedActuator {
 public:
  using Scalar = T;

  RateLimitedActuator(T max_rate_per_s, T min_position, T max_position, T initial_position)
      : rate_(max_rate_per_s), min_(min_position), max_(max_position) {
    PHYSGUARD_ASSERT(is_finite(rate_) && rate_ > T(0), "maximum rate must be finite and > 0");
    PHYSGUARD_ASSERT(is_finite(min_) && is_finite(max_) && min_ < max_,
                     "position range must be finite with min < max");
    reset(initial_position);
  }

  /// Hold `command` for dt_s seconds; returns the position at the end.
  T step(T command, T dt_s) {
    if (!is_finite(command)) {
      status_ = Status::not_finite;
      return x_;
    }
    if (!is_finite(dt_s) || dt_s < T(0)) {
      status_ = Status::invalid_argument;
      return x_;
    }
    saturated_ = command < min_ || command > max_;
    const T target = command < min_ ? min_ : (command > max_ ? max_ : command);
    const T max_move = rate_ * dt_s;
    const T move = target - x_;
    rate_limited_ = move > max_move || move < -max_move;
    x_ = move > max_move ? x_ + max_move : (move < -max_move ? x_ - max_move : target);
    status_ = Status::ok;
    return x_;
  }

  T position() const { return x_; }
  bool rate_limited() const { return rate_limited_; }
  bool saturated() const { return saturated_; }
  Status status() const { return status_; }

  /// Position set to `position` clamped into the travel range.
  void reset(T position) {
    PHYSGUARD_ASSERT(is_finite(position), "position must be finite");
    x_ = position < min_ ? min_ : (position > max_ ? max_ : position);
    rate_limited_ = false;
    saturated_ = false;
    status_ = Status::ok;
  }

  T max_rate_per_s() const { return rate_; }
  T min_position() const { return min_; }
  T max_position() const { return max_; }

 private:
  T rate_;
  T min_;
  T max_;
  T x_ = T(0);
  bool rate_limited_ = false;
  bool saturated_ = false;
  Status status_ = Status::ok;
};

}  // namespace physguard
