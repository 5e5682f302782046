// physguard/detect/rate_check.hpp - rate of change between consecutive samples beyond physics.
#pragma once

#include <cstdint>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "decision.hpp"

namespace physguard {

/// Rate of change between consecutive accepted samples, from their timestamps:
///
///     rate = (x_k - x_{k-1}) / (t_k - t_{k-1})  [unit/s],     alarm when |rate| > max_rate_per_s.
///
/// A process with inertia cannot move faster than its physics allows (a 10 m^2 tank filled by a
/// 0.02 m^3/s pump rises at most 2 mm/s); a jump beyond that in a signal that is electrically fine
/// is a value injection or a switch to replayed data.  Choose max_rate_per_s above the physical
/// maximum PLUS the rate that noise alone produces between two samples: with white noise sigma
/// and period dt the noise rate has standard deviation sqrt(2) sigma / dt, so add k sqrt(2) sigma
/// / dt (k = 4..5) to the physical limit.
///
/// Cause: suspected_attack (the sample passed screening, the jump is physically impossible).  An
/// intermittent contact also produces jumps; a RangeCheck on the same channel separates the
/// spikes that leave the range (sensor fault) from those that stay plausible.
///
/// Time: a sample whose time goes back is refused (time_backwards), one with the same time as the
/// previous (no rate can be formed) is refused (time_repeated); state unchanged in both cases.  If
/// `max_gap` > 0 and a sample comes more than max_gap after the previous one, the rate over the gap
/// says little: the sample only restarts the reference (Status::gap, no alarm).  The reference is
/// the previous accepted sample, also when that one alarmed (one alarm per jump).
///
/// Decision: score = |rate|, threshold = max_rate_per_s, direction = sign of the change,
/// kind = plausibility.  The first sample gives score 0 (no rate yet; has_reference() says so).
/// sizeof ~ 3 * sizeof(T) + 40 bytes.
template <typename T>
class RateCheck {
 public:
  static constexpr const char* name = "rate";

  /// `max_rate_per_s` > 0 in the channel's unit per second; `max_gap` 0 disables the gap rule.
  explicit RateCheck(T max_rate_per_s, Duration max_gap = Duration{0}) noexcept
      : max_rate_(max_rate_per_s), guard_(max_gap) {
    PHYSGUARD_ASSERT(is_finite(max_rate_per_s) && max_rate_per_s > T(0), "max rate must be > 0");
    PHYSGUARD_ASSERT(max_gap.us >= 0, "max gap must be >= 0");
  }

  Decision<T> update(const Sample<T>& s) noexcept {
    const Status st = screen(s);
    if (st != Status::ok) return refused<T>(st, s.time);
    const Status ts = guard_.check(s.time);
    if (ts == Status::time_backwards || ts == Status::time_repeated) {
      Decision<T> d = refused<T>(ts, s.time);
      d.kind = FindingKind::timing;
      return d;
    }
    Decision<T> d;
    d.time = s.time;
    d.kind = FindingKind::plausibility;
    d.cause = Cause::suspected_attack;
    d.threshold = max_rate_;
    d.status = ts;  // ok or gap
    if (guard_.has_last() && ts == Status::ok) {
      const T dt_s = guard_.elapsed(s.time).template seconds<T>();
      const T rate = (s.value - last_value_) / dt_s;
      d.score = rate < T(0) ? -rate : rate;
      d.direction = rate > T(0) ? std::int8_t{1} : (rate < T(0) ? std::int8_t{-1} : std::int8_t{0});
      d.alarm = d.score > max_rate_;
      last_rate_ = rate;
    } else {
      last_rate_ = T(0);
    }
    last_value_ = s.value;
    guard_.accept(s.time);
    return d;
  }

  /// Forgets the reference sample.
  void reset() noexcept {
    guard_.reset();
    last_value_ = T(0);
    last_rate_ = T(0);
  }

  /// Signed rate of the last accepted sample (0 for the first one or after a gap).
  T rate() const noexcept { return last_rate_; }
  T threshold() const noexcept { return max_rate_; }
  bool has_reference() const noexcept { return guard_.has_last(); }
  T last_value() const noexcept { return last_value_; }
  Timestamp last_time() const noexcept { return guard_.last(); }

 private:
  T max_rate_;
  T last_value_ = T(0);
  T last_rate_ = T(0);
  TimeGuard guard_;
};

}  // namespace physguard
