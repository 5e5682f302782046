// physguard/detail/sliding_window_stats.hpp - O(1) sliding-window variance and paired-difference
// sums with periodic exact recomputation (internal; used by detect/stuck_at and noise_change).
#pragma once

#include <array>
#include <cstddef>

namespace physguard {
namespace detail {

/// Mean and sum of squared deviations M2 of the last `Window` values.
///
/// Filling: Welford's update.  Sliding (replace x_old by x_new, n fixed):
///     mean' = mean + (x_new - x_old) / n
///     M2'   = M2 + (x_new - x_old) (x_new - mean' + x_old - mean)
/// which never subtracts two large sums of squares.  Round-off still accumulates slowly, so M2 and
/// the mean are recomputed exactly (two passes over the buffer) every `Window` pushes; M2 is
/// clamped at 0.  Cost O(1) per push, O(Window) once per Window pushes.
template <typename T, int Window>
class SlidingVariance {
  static_assert(Window >= 2, "a variance needs a window of at least two samples");

 public:
  void push(T x) noexcept {
    if (count_ < Window) {
      ++count_;
      const T delta = x - mean_;
      mean_ += delta / static_cast<T>(count_);
      m2_ += delta * (x - mean_);
    } else {
      const T old = buf_[static_cast<std::size_t>(head_)];
      const T new_mean = mean_ + (x - old) / static_cast<T>(Window);
      m2_ += (x - old) * (x - new_mean + old - mean_);
      mean_ = new_mean;
    }
    buf_[static_cast<std::size_t>(head_)] = x;
    if (++head_ == Window) head_ = 0;
    if (++since_exact_ >= Window) recompute();
    if (m2_ < T(0)) m2_ = T(0);
  }

  void reset() noexcept {
    buf_.fill(T(0));
    mean_ = T(0);
    m2_ = T(0);
    head_ = 0;
    count_ = 0;
    since_exact_ = 0;
  }

  int count() const noexcept { return count_; }
  bool full() const noexcept { return count_ == Window; }
  T mean() const noexcept { return mean_; }
  /// Sum of squared deviations from the window mean, (n - 1) s^2.
  T m2() const noexcept { return m2_; }
  /// Unbiased sample variance s^2 (0 with fewer than two values).
  T variance() const noexcept { return count_ > 1 ? m2_ / static_cast<T>(count_ - 1) : T(0); }

 private:
  void recompute() noexcept {
    since_exact_ = 0;
    T sum = T(0);
    for (int i = 0; i < count_; ++i) sum += buf_[static_cast<std::size_t>(i)];
    const T mean = sum / static_cast<T>(count_);
    T m2 = T(0);
    for (int i = 0; i < count_; ++i) {
      const T e = buf_[static_cast<std::size_t>(i)] - mean;
      m2 += e * e;
    }
    mean_ = mean;
    m2_ = m2;
  }

  std::array<T, static_cast<std::size_t>(Window)> buf_{};
  T mean_ = T(0);
  T m2_ = T(0);
  int head_ = 0;
  int count_ = 0;
  int since_exact_ = 0;
};

/// Sum of squared disjoint paired differences over the last `Window` values:
///
///     P = sum over j of (x_{k-2j} - x_{k-2j-1})^2,   j = 0 .. Window/2 - 1   (k the newest index)
///
/// For white noise of variance sigma^2 around a level that is constant over one sample period,
/// each difference is N(0, 2 sigma^2) and the pairs share no sample, so P / (2 sigma^2) is exactly
/// chi-square with pairs() = Window/2 degrees of freedom, whatever slow trend the level follows.
/// Kept as two running sums of squared consecutive differences split by index parity; recomputed
/// exactly every Window pushes.
template <typename T, int Window>
class PairedDifferenceSum {
  static_assert(Window >= 2, "paired differences need a window of at least two samples");
  static constexpr int kDiffs = Window - 1;

 public:
  void push(T x) noexcept {
    if (has_last_) {
      const T d = x - last_;
      const T d2 = d * d;
      const int new_parity = parity_ ^ 1;
      if (count_ == kDiffs) {
        // The oldest difference (index newest - kDiffs) leaves the window.
        sums_[new_parity ^ (kDiffs & 1)] -= diffs_[static_cast<std::size_t>(head_)];
      } else {
        ++count_;
      }
      parity_ = new_parity;
      diffs_[static_cast<std::size_t>(head_)] = d2;
      sums_[parity_] += d2;
      if (++head_ == kDiffs) head_ = 0;
      if (++since_exact_ >= Window) recompute();
      if (sums_[0] < T(0)) sums_[0] = T(0);
      if (sums_[1] < T(0)) sums_[1] = T(0);
    }
    last_ = x;
    has_last_ = true;
  }

  void reset() noexcept {
    diffs_.fill(T(0));
    sums_[0] = sums_[1] = T(0);
    last_ = T(0);
    has_last_ = false;
    head_ = 0;
    count_ = 0;
    parity_ = 0;
    since_exact_ = 0;
  }

  /// Values now in the window (differences + 1).
  int count() const noexcept { return has_last_ ? count_ + 1 : 0; }
  bool full() const noexcept { return count_ == kDiffs; }
  /// Number of disjoint pairs in the sum (Window/2 when full).
  int pairs() const noexcept { return (count_ + 1) / 2; }
  /// P: sum of the squared disjoint paired differences ending at the newest value.
  T sum() const noexcept { return sums_[parity_]; }

 private:
  void recompute() noexcept {
    since_exact_ = 0;
    // diffs_[head_ - 1] is the newest (parity_), going back alternates parity.
    T s[2] = {T(0), T(0)};
    int idx = head_;
    int p = parity_;
    for (int i = 0; i < count_; ++i) {
      idx = idx == 0 ? kDiffs - 1 : idx - 1;
      s[p] += diffs_[static_cast<std::size_t>(idx)];
      p ^= 1;
    }
    sums_[0] = s[0];
    sums_[1] = s[1];
  }

  std::array<T, static_cast<std::size_t>(Window - 1)> diffs_{};
  T sums_[2] = {T(0), T(0)};
  T last_ = T(0);
  bool has_last_ = false;
  int head_ = 0;
  int count_ = 0;
  int parity_ = 0;
  int since_exact_ = 0;
};

}  // namespace detail
}  // namespace physguard
