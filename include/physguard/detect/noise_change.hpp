// physguard/detect/noise_change.hpp - noise level of a window against a baseline (replayed or
// synthetic values carry the wrong noise).
#pragma once

#include <cstdint>
#include <limits>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/statistics.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detail/sliding_window_stats.hpp"
#include "decision.hpp"

namespace physguard {

/// Which noise estimate a NoiseChangeCheck tests.
enum class NoiseStatistic : std::uint8_t {
  /// Sample variance of the window: q = (n - 1) s^2 / sigma0^2 ~ chi-square(n - 1).  Assumes the
  /// level is constant over the window (a residual, or a signal in steady state).
  window_variance = 0,
  /// Disjoint paired differences: q = sum (x_{k-2j} - x_{k-2j-1})^2 / (2 sigma0^2)
  /// ~ chi-square(n / 2).  Only needs the level to be constant over ONE sample period, so it works
  /// on a tank level that rises and falls; costs half the degrees of freedom.
  paired_differences,
};

constexpr const char* to_string(NoiseStatistic s) noexcept {
  switch (s) {
    case NoiseStatistic::window_variance: return "window_variance";
    case NoiseStatistic::paired_differences: return "paired_differences";
  }
  return "unknown";
}

/// Noise-change check: is the noise of the last `Window` samples the noise this sensor has?
///
/// An attacker who replays a constant, writes a smoothed or synthetic curve, or splices in a
/// recording from another sensor rarely reproduces the sensor's noise level: a model-generated
/// signal is too clean, a recording played through another channel too noisy.  With white Gaussian
/// noise of baseline variance sigma0^2 the statistic q (see NoiseStatistic) is chi-square with nu
/// degrees of freedom (nu = Window - 1, or Window / 2 for paired differences), so the two-sided
/// test
///
///     q < q_lo = chi2_{p/2}(nu)   (too quiet)   or   q > q_hi = chi2_{1-p/2}(nu)   (too noisy)
///
/// has false-alarm probability p per full window (an F-like variance-ratio test with the baseline
/// as reference).  Consecutive decisions share Window-1 samples, so alarms come in clumps; p is the
/// probability for any one window (e.g. every Window-th decision), not a per-sample rate.
///
/// Decision: score = test ratio max(q / q_hi, q_lo / q) (capped at 1/epsilon when q = 0),
/// threshold = 1, alarm = score > 1, direction +1 too noisy / -1 too quiet, kind = plausibility,
/// cause = suspected_attack (the samples are electrically fine; their statistics are not those of
/// the sensor).  A degrading sensor (a loose shield adds noise) gives the same picture.
///
/// Baseline: given (with_baseline) or learned (learning) from the test's own estimate pooled over
/// disjoint full windows of samples passed with adapt = true.  With a learned baseline the test is
/// an F test with nu_learn = pooled degrees of freedom in the denominator; the chi-square
/// thresholds are accurate when nu_learn >> nu (learn for >= 50 windows; shorter learning raises
/// the false-alarm rate).  A learning phase that sees no noise at all (a constant signal) starts
/// over.  After learning, `adaptation_weight` lambda (default 0: frozen) lets the baseline follow
/// slow changes: sigma0^2 <- (1 - lambda) sigma0^2 + lambda s^2_window on each sample passed with
/// adapt = true, but never while the check alarms or within Window samples after an alarm (the
/// window still holds alarm samples): an attacker cannot teach it the attack by raising it fast,
/// only by staying inside the thresholds for ~1/lambda samples, so keep lambda small or zero.
///
/// Timestamps going back or repeating are refused, state unchanged.  Until the window is full (or
/// while learning) decisions have score 0 and no alarm (ready() says when tests run).
/// sizeof ~ Window * 2 * sizeof(T) + 10 * sizeof(T) + 64 bytes; O(1) per sample.
template <typename T, int Window>
class NoiseChangeCheck {
  static_assert(Window >= 4, "a noise window needs at least four samples");

 public:
  static constexpr const char* name = "noise_change";
  static constexpr int window = Window;

  /// Known baseline noise variance `baseline_variance` > 0 (unit^2); false-alarm probability per
  /// window 0 < p < 1.
  static NoiseChangeCheck with_baseline(
      T baseline_variance, double false_alarm_probability,
      NoiseStatistic statistic = NoiseStatistic::window_variance) noexcept {
    PHYSGUARD_ASSERT(is_finite(baseline_variance) && baseline_variance > T(0),
                     "baseline variance must be > 0");
    return NoiseChangeCheck(baseline_variance, 0, false_alarm_probability, statistic, T(0));
  }

  /// Learns the baseline from `learning_samples` (>= Window) samples passed with adapt = true.
  /// `adaptation_weight` in [0, 1) per sample after learning (0: baseline frozen).
  static NoiseChangeCheck learning(int learning_samples, double false_alarm_probability,
                                   NoiseStatistic statistic = NoiseStatistic::window_variance,
                                   T adaptation_weight = T(0)) noexcept {
    PHYSGUARD_ASSERT(learning_samples >= Window, "learn for at least one window");
    return NoiseChangeCheck(T(0), learning_samples, false_alarm_probability, statistic,
                            adaptation_weight);
  }

  /// One sample.  `adapt` = false: use the sample for testing only, never for the baseline (pass
  /// false while the process is in a state the baseline must not learn, or while any detector on
  /// this channel is in alarm).
  Decision<T> update(const Sample<T>& s, bool adapt = true) noexcept {
    const Status st = screen(s);
    if (st != Status::ok) return refused<T>(st, s.time);
    const Status ts = guard_.check(s.time);
    if (ts == Status::time_backwards || ts == Status::time_repeated) {
      Decision<T> d = refused<T>(ts, s.time);
      d.kind = FindingKind::timing;
      return d;
    }
    guard_.accept(s.time);
    if (statistic_ == NoiseStatistic::window_variance)
      var_.push(s.value);
    else
      pairs_.push(s.value);
    const bool full = statistic_ == NoiseStatistic::window_variance ? var_.full() : pairs_.full();
    adapt_run_ = adapt ? (adapt_run_ < Window ? adapt_run_ + 1 : 1) : 0;
    if (samples_since_alarm_ < Window) ++samples_since_alarm_;

    Decision<T> d;
    d.time = s.time;
    d.kind = FindingKind::plausibility;
    d.cause = Cause::suspected_attack;
    d.threshold = T(1);

    if (!ready()) {
      // Learning: pool every full window made entirely of adapt samples, windows disjoint.
      if (full && adapt && adapt_run_ == Window) {
        pooled_sum_ += static_cast<double>(window_sum());
        pooled_dof_ += nu_;
        learned_samples_ += Window;
        if (learned_samples_ >= learning_samples_) {
          const double v = pooled_sum_ / (norm_ * pooled_dof_);
          if (v > 0.0 && is_finite(v)) {
            baseline_ = static_cast<T>(v);
          } else {  // no noise at all while learning: start over
            pooled_sum_ = 0.0;
            pooled_dof_ = 0;
            learned_samples_ = 0;
          }
        }
      }
      return d;
    }
    if (!full) return d;

    // q = window_sum / (norm * sigma0^2) ~ chi-square(nu)
    q_ = window_sum() / (static_cast<T>(norm_) * baseline_);
    const T cap = T(1) / std::numeric_limits<T>::epsilon();
    const T upper = q_ / q_hi_;
    const T lower = q_ * cap > q_lo_ ? q_lo_ / q_ : cap;
    if (upper >= lower) {
      d.score = upper;
      d.direction = 1;
    } else {
      d.score = lower;
      d.direction = -1;
    }
    d.alarm = d.score > T(1);
    if (d.alarm) {
      samples_since_alarm_ = 0;
    } else if (adapt && lambda_ > T(0) && samples_since_alarm_ >= Window) {
      const T s2 = window_sum() / static_cast<T>(norm_ * nu_);
      baseline_ = (T(1) - lambda_) * baseline_ + lambda_ * s2;
    }
    return d;
  }

  /// Empties the window; forgets a learned baseline (a given baseline is kept).
  void reset() noexcept {
    var_.reset();
    pairs_.reset();
    guard_.reset();
    q_ = T(0);
    adapt_run_ = 0;
    samples_since_alarm_ = Window;
    if (learning_samples_ > 0) {
      baseline_ = T(0);
      pooled_sum_ = 0.0;
      pooled_dof_ = 0;
      learned_samples_ = 0;
    } else {
      baseline_ = given_baseline_;
    }
  }

  /// True once a baseline is known (given, or learning finished).
  bool ready() const noexcept { return baseline_ > T(0); }
  /// Baseline noise variance sigma0^2 (0 while learning).
  T baseline_variance() const noexcept { return baseline_; }
  /// The chi-square statistic q of the last full window.
  T statistic() const noexcept { return q_; }
  /// Current noise variance estimate of the window (s^2, or P / (2 nu) for paired differences).
  T window_variance() const noexcept { return window_sum() / static_cast<T>(norm_ * nu_); }
  /// Degrees of freedom nu of q for a full window.
  int dof() const noexcept { return nu_; }
  /// Lower and upper thresholds on q.
  T lower_threshold() const noexcept { return q_lo_; }
  T upper_threshold() const noexcept { return q_hi_; }
  double false_alarm_probability() const noexcept { return p_; }
  NoiseStatistic statistic_kind() const noexcept { return statistic_; }

  /// Degrees of freedom of q for a full window of the given statistic.
  static constexpr int dof_for(NoiseStatistic statistic) noexcept {
    return statistic == NoiseStatistic::window_variance ? Window - 1 : Window / 2;
  }

 private:
  NoiseChangeCheck(T baseline, int learning_samples, double p, NoiseStatistic statistic,
                   T lambda) noexcept
      : given_baseline_(baseline),
        baseline_(baseline),
        lambda_(lambda),
        p_(p),
        norm_(statistic == NoiseStatistic::window_variance ? 1 : 2),
        nu_(dof_for(statistic)),
        learning_samples_(learning_samples),
        statistic_(statistic) {
    PHYSGUARD_ASSERT(p > 0.0 && p < 1.0, "false-alarm probability must be in (0, 1)");
    PHYSGUARD_ASSERT(is_finite(lambda) && lambda >= T(0) && lambda < T(1),
                     "adaptation weight must be in [0, 1)");
    q_lo_ = static_cast<T>(stats::chi_square_quantile(0.5 * p, nu_));
    q_hi_ = static_cast<T>(stats::chi_square_quantile(1.0 - 0.5 * p, nu_));
  }

  // (n - 1) s^2, or P = sum of squared paired differences.
  T window_sum() const noexcept {
    return statistic_ == NoiseStatistic::window_variance ? var_.m2() : pairs_.sum();
  }

  detail::SlidingVariance<T, Window> var_;
  detail::PairedDifferenceSum<T, Window> pairs_;
  TimeGuard guard_;
  double pooled_sum_ = 0.0;
  T given_baseline_;
  T baseline_;
  T lambda_;
  T q_lo_ = T(0);
  T q_hi_ = T(0);
  T q_ = T(0);
  double p_;
  int norm_;
  int nu_;
  int learning_samples_;
  int learned_samples_ = 0;
  int pooled_dof_ = 0;
  int adapt_run_ = 0;
  int samples_since_alarm_ = Window;
  NoiseStatistic statistic_;
};

}  // namespace physguard
