// physguard/detect/stuck_at.hpp - frozen value or collapsed noise: a signal that stopped living.
#pragma once

#include <cstdint>
#include <limits>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detail/sliding_window_stats.hpp"
#include "decision.hpp"

namespace physguard {

/// Stuck-at check: a real sensor always shows noise (thermal, quantisation dither, process
/// turbulence); a frozen PLC register, a value forced in the PLC or a replayed constant does not.
/// Two tests on the accepted samples:
///
/// - frozen value: `run` = number of consecutive bit-identical values (1 for a fresh value).
///       frozen score = run / max_identical_samples           (alarm when > 1)
/// - collapsed variance: s^2 = unbiased sample variance of the last `Window` values
///   (detail::SlidingVariance: sliding Welford update, exact two-pass recomputation every Window
///   samples).  Tested once the window is full:
///       variance score = min_variance / s^2                  (alarm when > 1, i.e. s^2 < min_variance)
///
/// Decision: score = the larger of the two, threshold = 1, direction = -1 (the noise went away),
/// kind = plausibility, cause = suspected_attack: the signal is electrically fine, just implausibly
/// quiet.  A stuck mechanical sensor or a stalled communication task give the same picture; the
/// finding says "look at this channel", the staleness check tells a stalled transport apart.
/// The variance score is capped at 1/epsilon when s^2 is 0.
///
/// Choosing the parameters: min_variance well below the normal noise variance sigma^2 (e.g.
/// sigma^2 / 100: the sample variance of Window white-noise values falls below sigma^2 / 100 with a
/// probability that is negligible for Window >= 10, see chi_square_cdf(0.01 (W - 1), W - 1)).
/// max_identical_samples: with a quantisation step q and noise sigma, two consecutive readings
/// coincide with probability ~ q / (2 sqrt(pi) sigma) when q << sigma; pick N so that this
/// probability to the power N - 1 is negligible (e.g. < 1e-9).  For a coarse ADC on a quiet process
/// (q ~ sigma) use a longer run or 0 (off) and rely on the variance test.
/// min_variance = 0 switches the variance test off, max_identical_samples = 0 the run test.
///
/// Timestamps going back or repeating are refused (a re-delivered sample is not a frozen value),
/// state unchanged.  sizeof ~ Window * sizeof(T) + 4 * sizeof(T) + 40 bytes; O(1) per sample.
template <typename T, int Window>
class StuckAtCheck {
  static_assert(Window >= 2, "the variance window holds at least two samples");

 public:
  static constexpr const char* name = "stuck_at";
  static constexpr int window = Window;

  /// `min_variance` >= 0 in (unit)^2; `max_identical_samples` >= 2, or 0 to switch the run test off.
  explicit StuckAtCheck(T min_variance, int max_identical_samples = Window) noexcept
      : min_variance_(min_variance), max_identical_(max_identical_samples) {
    PHYSGUARD_ASSERT(is_finite(min_variance) && min_variance >= T(0), "min variance must be >= 0");
    PHYSGUARD_ASSERT(max_identical_samples == 0 || max_identical_samples >= 2,
                     "max identical samples must be 0 (off) or >= 2");
    PHYSGUARD_ASSERT(min_variance > T(0) || max_identical_samples > 0, "both tests switched off");
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
    guard_.accept(s.time);
    if (run_ > 0 && s.value == last_value_) {
      if (run_ < std::numeric_limits<std::int32_t>::max()) ++run_;
    } else {
      run_ = 1;
    }
    last_value_ = s.value;
    var_.push(s.value);

    Decision<T> d;
    d.time = s.time;
    d.kind = FindingKind::plausibility;
    d.cause = Cause::suspected_attack;
    d.threshold = T(1);
    d.direction = -1;
    frozen_score_ = max_identical_ > 0 ? static_cast<T>(run_) / static_cast<T>(max_identical_)
                                       : T(0);
    variance_score_ = T(0);
    if (min_variance_ > T(0) && var_.full()) {
      const T v = var_.variance();
      const T cap = T(1) / std::numeric_limits<T>::epsilon();
      variance_score_ = v * cap > min_variance_ ? min_variance_ / v : cap;
    }
    d.score = frozen_score_ > variance_score_ ? frozen_score_ : variance_score_;
    d.alarm = d.score > T(1);
    return d;
  }

  /// Empties the window and the run.
  void reset() noexcept {
    var_.reset();
    guard_.reset();
    last_value_ = T(0);
    run_ = 0;
    frozen_score_ = T(0);
    variance_score_ = T(0);
  }

  /// Consecutive identical values ending at the last accepted sample.
  std::int32_t identical_run() const noexcept { return run_; }
  /// Sample variance of the window (of the values seen so far while filling).
  T variance() const noexcept { return var_.variance(); }
  /// Samples in the window (Window once full).
  int count() const noexcept { return var_.count(); }
  bool frozen() const noexcept { return frozen_score_ > T(1); }
  bool variance_collapsed() const noexcept { return variance_score_ > T(1); }
  T min_variance() const noexcept { return min_variance_; }
  int max_identical_samples() const noexcept { return max_identical_; }

 private:
  detail::SlidingVariance<T, Window> var_;
  T min_variance_;
  T last_value_ = T(0);
  T frozen_score_ = T(0);
  T variance_score_ = T(0);
  TimeGuard guard_;
  int max_identical_;
  std::int32_t run_ = 0;
};

}  // namespace physguard
