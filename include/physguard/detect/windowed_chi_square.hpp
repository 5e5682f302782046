// physguard/detect/windowed_chi_square.hpp - sum of NIS over a sliding window.
#pragma once

#include <array>
#include <cmath>
#include <cstdint>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/statistics.hpp"
#include "../core/status.hpp"
#include "../estimate/innovation.hpp"
#include "arl.hpp"
#include "decision.hpp"

namespace physguard {

/// Sliding-window chi-square test on the normalised innovation squared (NIS) of an estimator:
///
///     S_t = sum of the last `Window` NIS values,    alarm when S_t > h.
///
/// With a consistent filter each NIS is chi-square with d (= measurement components) degrees of
/// freedom and independent over time, so a full window is chi-square with D = Window * d degrees of
/// freedom.  The window sum detects a model mismatch or an attack that raises the innovations a
/// little over many samples (too small for a per-sample gate, too short-lived or too variable in
/// direction for CUSUM on one component).
///
/// Threshold and false alarms: the per-window exceedance probability is p = 1 - F_D(h), but the
/// ARL is NOT 1/p: consecutive windows share Window-1 terms, so exceedances come in clumps.
/// threshold_for_arl() solves ARL ~ 1/u with the up-crossing probability u (Poisson clumping,
/// arl.hpp), which errs on the safe side: the real ARL0 is 1.05x (Window 5) to 1.25x (Window 10)
/// to 1.5x (Window 20) the target -- fewer false alarms than asked for, a little detection power
/// given away; checked against simulation in the tests.  conservative_threshold_for_arl() uses the
/// union bound p = 1/(2 ARL), which guarantees ARL0 >= target (5x or more in practice).
///
/// Samples with a different number of degrees of freedom (a partly masked measurement) and the
/// first Window-1 samples (window not yet full) give a total D different from the nominal
/// Window * dof_per_sample; the threshold is then moved to the same tail probability for D with the
/// Wilson-Hilferty approximation, calibrated to be exact at the nominal D.
///
/// The running sum is recomputed from the buffer every `Window` samples, so float round-off cannot
/// accumulate.  Decision: score = S_t, threshold = h for the current D, direction = +1.
/// sizeof ~ Window * (sizeof(T) + 1) + 6 * sizeof(T); cost per sample O(1), O(Window) once per
/// Window samples.
template <typename T, int Window>
class WindowedChiSquareDetector {
  static_assert(Window >= 1, "the window holds at least one sample");
  static_assert(Window <= 65535, "window too long for the dof bookkeeping");

 public:
  static constexpr const char* name = "windowed_chi_square";
  static constexpr int window = Window;

  /// `threshold` > 0 on the sum of a full window; `dof_per_sample` in [1, 255].
  explicit WindowedChiSquareDetector(T threshold, int dof_per_sample = 1) noexcept
      : h_(threshold), dof_(dof_per_sample) {
    PHYSGUARD_ASSERT(is_finite(threshold) && threshold > T(0), "threshold must be > 0");
    PHYSGUARD_ASSERT(dof_per_sample >= 1 && dof_per_sample <= 255, "dof must be in [1, 255]");
    const double D = static_cast<double>(Window) * dof_per_sample;
    const double c = 2.0 / (9.0 * D);
    wh_z_ = (std::cbrt(static_cast<double>(threshold) / D) - 1.0 + c) / std::sqrt(c);
    reset();
  }

  /// One NIS value with the configured degrees of freedom.
  Decision<T> update(T nis) noexcept { return update(nis, dof_); }

  /// One NIS value with `dof` degrees of freedom (1..255).  Refused, state unchanged: NaN/inf
  /// (not_finite), nis < 0 (out_of_range), dof outside [1, 255] (invalid_argument).
  Decision<T> update(T nis, int dof) noexcept {
    if (!is_finite(nis)) return refused<T>(Status::not_finite);
    if (nis < T(0)) return refused<T>(Status::out_of_range);
    if (dof < 1 || dof > 255) return refused<T>(Status::invalid_argument);
    if (count_ == Window) {
      sum_ -= values_[head_];
      dof_sum_ -= dofs_[head_];
    } else {
      ++count_;
    }
    values_[head_] = nis;
    dofs_[head_] = static_cast<std::uint8_t>(dof);
    sum_ += nis;
    dof_sum_ += dof;
    if (++head_ == Window) {
      head_ = 0;
      T exact = T(0);  // fresh sum: no accumulated round-off
      for (int i = 0; i < Window; ++i) exact += values_[static_cast<std::size_t>(i)];
      sum_ = exact;
    }
    if (sum_ < T(0)) sum_ = T(0);
    if (dof_sum_ != cached_dof_sum_) {
      cached_dof_sum_ = dof_sum_;
      cached_threshold_ = threshold_for_total_dof(dof_sum_);
    }
    Decision<T> d;
    d.score = sum_;
    d.threshold = cached_threshold_;
    d.alarm = sum_ > cached_threshold_;
    d.direction = 1;
    return d;
  }

  /// One estimator update record: uses rec.nis and rec.dof, and stamps the decision with rec.time.
  /// Records that were fused (ok, gap) and records the estimator rejected at its gate
  /// (rejected_by_gate: their NIS is finite and is exactly the evidence this test exists for) are
  /// tested; any other status (missing, not_finite, not_positive_definite, ...) is passed on as a
  /// refused decision with that status, state unchanged.
  template <int Nz>
  Decision<T> update(const Innovation<T, Nz>& rec) noexcept {
    if (!is_used(rec.status) && rec.status != Status::rejected_by_gate)
      return refused<T>(rec.status, rec.time);
    if (rec.dof == 0) return refused<T>(Status::missing, rec.time);
    Decision<T> d = update(rec.nis, static_cast<int>(rec.dof));
    d.time = rec.time;
    return d;
  }

  /// Empties the window.
  void reset() noexcept {
    values_.fill(T(0));
    dofs_.fill(0);
    sum_ = T(0);
    head_ = 0;
    count_ = 0;
    dof_sum_ = 0;
    cached_dof_sum_ = 0;
    cached_threshold_ = T(0);
  }

  /// The window sum S_t.
  T statistic() const noexcept { return sum_; }
  /// Threshold on a full window of the nominal degrees of freedom.
  T threshold() const noexcept { return h_; }
  /// Threshold for the degrees of freedom now in the window (== threshold() when full, nominal).
  T current_threshold() const noexcept { return cached_threshold_; }
  int dof_per_sample() const noexcept { return dof_; }
  /// Degrees of freedom of the samples now in the window.
  int window_dof() const noexcept { return dof_sum_; }
  /// Samples now in the window (Window once full).
  int count() const noexcept { return count_; }

  /// Threshold for an in-control ARL of target_arl (Poisson-clumping approximation, arl.hpp).
  static T threshold_for_arl(int dof_per_sample, double target_arl) noexcept {
    return static_cast<T>(
        arl::windowed_chi_square_threshold_for_arl(Window, dof_per_sample, target_arl));
  }
  /// Threshold that guarantees ARL0 >= target_arl (union bound; conservative).
  static T conservative_threshold_for_arl(int dof_per_sample, double target_arl) noexcept {
    return static_cast<T>(arl::windowed_chi_square_conservative_threshold_for_arl(
        Window, dof_per_sample, target_arl));
  }
  /// Threshold exceeded by a single full window with probability p (NOT an ARL of 1/p).
  static T threshold_for_probability(int dof_per_sample, double p) noexcept {
    return static_cast<T>(
        stats::chi_square_quantile(1.0 - p, static_cast<double>(Window) * dof_per_sample));
  }
  /// Approximate in-control ARL for threshold h (Poisson clumping; exact for Window = 1).
  static double average_run_length(int dof_per_sample, double threshold) noexcept {
    return arl::windowed_chi_square_arl(Window, dof_per_sample, threshold);
  }

 private:
  // Same tail probability as h at the nominal D, for D total degrees of freedom (Wilson-Hilferty).
  T threshold_for_total_dof(int total) const noexcept {
    if (total == static_cast<int>(Window) * dof_) return h_;
    if (total <= 0) return T(0);
    const double c = 2.0 / (9.0 * total);
    const double t = 1.0 - c + wh_z_ * std::sqrt(c);
    return t > 0.0 ? static_cast<T>(total * t * t * t) : T(0);
  }

  std::array<T, static_cast<std::size_t>(Window)> values_{};
  std::array<std::uint8_t, static_cast<std::size_t>(Window)> dofs_{};
  T h_;
  T sum_ = T(0);
  T cached_threshold_ = T(0);
  double wh_z_ = 0.0;
  int dof_;
  int head_ = 0;
  int count_ = 0;
  int dof_sum_ = 0;
  int cached_dof_sum_ = 0;
};

}  // namespace physguard
