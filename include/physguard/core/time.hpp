// physguard/core/time.hpp - timestamps, durations and a guard that checks a sample's time.
#pragma once

#include <cstdint>
#include <limits>

#include "status.hpp"

namespace physguard {

namespace detail {
// Saturating int64 arithmetic for time: hostile timestamps (near the int64 limits, or a "distant
// past" sentinel minus a far-future time) must not overflow, which would be undefined behaviour.
constexpr std::int64_t time_add(std::int64_t a, std::int64_t b) noexcept {
  if (b > 0 && a > std::numeric_limits<std::int64_t>::max() - b)
    return std::numeric_limits<std::int64_t>::max();
  if (b < 0 && a < std::numeric_limits<std::int64_t>::min() - b)
    return std::numeric_limits<std::int64_t>::min();
  return a + b;
}
constexpr std::int64_t time_sub(std::int64_t a, std::int64_t b) noexcept {
  if (b < 0 && a > std::numeric_limits<std::int64_t>::max() + b)
    return std::numeric_limits<std::int64_t>::max();
  if (b > 0 && a < std::numeric_limits<std::int64_t>::min() + b)
    return std::numeric_limits<std::int64_t>::min();
  return a - b;
}
}  // namespace detail

/// A span of time in integer microseconds (exact, wraps never in practice: +-292,000 years).
struct Duration {
  std::int64_t us = 0;

  static constexpr Duration from_us(std::int64_t micros) noexcept { return Duration{micros}; }
  static constexpr Duration from_ms(std::int64_t millis) noexcept { return Duration{millis * 1000}; }
  static constexpr Duration from_seconds(double seconds) noexcept {
    return Duration{static_cast<std::int64_t>(seconds * 1e6 + (seconds >= 0 ? 0.5 : -0.5))};
  }
  template <typename T = double>
  constexpr T seconds() const noexcept {
    return static_cast<T>(us) * static_cast<T>(1e-6);
  }
  constexpr bool is_zero() const noexcept { return us == 0; }

  friend constexpr Duration operator+(Duration a, Duration b) noexcept {
    return {detail::time_add(a.us, b.us)};
  }
  friend constexpr Duration operator-(Duration a, Duration b) noexcept {
    return {detail::time_sub(a.us, b.us)};
  }
  friend constexpr Duration operator*(Duration a, std::int64_t k) noexcept { return {a.us * k}; }
  friend constexpr bool operator==(Duration a, Duration b) noexcept { return a.us == b.us; }
  friend constexpr bool operator!=(Duration a, Duration b) noexcept { return a.us != b.us; }
  friend constexpr bool operator<(Duration a, Duration b) noexcept { return a.us < b.us; }
  friend constexpr bool operator<=(Duration a, Duration b) noexcept { return a.us <= b.us; }
  friend constexpr bool operator>(Duration a, Duration b) noexcept { return a.us > b.us; }
  friend constexpr bool operator>=(Duration a, Duration b) noexcept { return a.us >= b.us; }
};

/// A point in time: integer microseconds since an epoch the integrator chooses (Unix time on a
/// gateway, time since boot on a probe).  Integer so that long runs never lose resolution in float.
struct Timestamp {
  std::int64_t us = 0;

  static constexpr Timestamp from_us(std::int64_t micros) noexcept { return Timestamp{micros}; }
  static constexpr Timestamp from_ms(std::int64_t millis) noexcept { return Timestamp{millis * 1000}; }
  static constexpr Timestamp from_seconds(double seconds) noexcept {
    return Timestamp{Duration::from_seconds(seconds).us};
  }
  template <typename T = double>
  constexpr T seconds() const noexcept {
    return static_cast<T>(us) * static_cast<T>(1e-6);
  }

  /// Differences and offsets saturate at the int64 limits instead of overflowing.
  friend constexpr Duration operator-(Timestamp a, Timestamp b) noexcept {
    return {detail::time_sub(a.us, b.us)};
  }
  friend constexpr Timestamp operator+(Timestamp a, Duration d) noexcept {
    return {detail::time_add(a.us, d.us)};
  }
  friend constexpr Timestamp operator-(Timestamp a, Duration d) noexcept {
    return {detail::time_sub(a.us, d.us)};
  }
  friend constexpr bool operator==(Timestamp a, Timestamp b) noexcept { return a.us == b.us; }
  friend constexpr bool operator!=(Timestamp a, Timestamp b) noexcept { return a.us != b.us; }
  friend constexpr bool operator<(Timestamp a, Timestamp b) noexcept { return a.us < b.us; }
  friend constexpr bool operator<=(Timestamp a, Timestamp b) noexcept { return a.us <= b.us; }
  friend constexpr bool operator>(Timestamp a, Timestamp b) noexcept { return a.us > b.us; }
  friend constexpr bool operator>=(Timestamp a, Timestamp b) noexcept { return a.us >= b.us; }
};

/// Checks the time of each incoming sample against the previous accepted one.
///
/// `check()` does not change the guard; `accept()` records a time as the new reference.  A sample
/// whose time goes back (or repeats) is refused with Status::time_backwards / time_repeated; one
/// that arrives after more than `max_gap` is let through with Status::gap so that the caller can
/// re-initialise or inflate its uncertainty, and say so in a Finding.
class TimeGuard {
 public:
  constexpr TimeGuard() noexcept = default;
  constexpr explicit TimeGuard(Duration max_gap) noexcept : max_gap_(max_gap) {}

  constexpr Status check(Timestamp t) const noexcept {
    if (!has_last_) return Status::ok;
    if (t < last_) return Status::time_backwards;
    if (t == last_) return Status::time_repeated;
    if (max_gap_.us > 0 && (t - last_) > max_gap_) return Status::gap;
    return Status::ok;
  }
  /// Time elapsed since the last accepted sample (zero before the first).
  constexpr Duration elapsed(Timestamp t) const noexcept {
    return has_last_ ? t - last_ : Duration{0};
  }
  constexpr void accept(Timestamp t) noexcept {
    last_ = t;
    has_last_ = true;
  }
  constexpr void reset() noexcept { has_last_ = false; }
  constexpr bool has_last() const noexcept { return has_last_; }
  constexpr Timestamp last() const noexcept { return last_; }
  constexpr Duration max_gap() const noexcept { return max_gap_; }

 private:
  Timestamp last_{};
  Duration max_gap_{0};  // 0: no gap check
  bool has_last_ = false;
};

/// Extends a free-running unsigned hardware counter (a 32-bit microsecond timer that wraps every
/// 71.6 minutes, say) to a monotonic 64-bit Timestamp.  Call `extend()` at least once per wrap.
template <typename Counter>
class CounterUnwrapper {
  static_assert(!std::numeric_limits<Counter>::is_signed, "hardware counters are unsigned");

 public:
  /// `us_per_tick`: the counter's resolution in microseconds.
  constexpr explicit CounterUnwrapper(std::int64_t us_per_tick = 1) noexcept
      : us_per_tick_(us_per_tick) {}

  constexpr Timestamp extend(Counter raw) noexcept {
    if (has_last_) {
      // Unsigned subtraction wraps exactly once per counter wrap.
      const Counter delta = static_cast<Counter>(raw - last_raw_);
      ticks_ += static_cast<std::int64_t>(delta);
    } else {
      ticks_ = static_cast<std::int64_t>(raw);
      has_last_ = true;
    }
    last_raw_ = raw;
    return Timestamp{ticks_ * us_per_tick_};
  }

 private:
  std::int64_t ticks_ = 0;
  std::int64_t us_per_tick_ = 1;
  Counter last_raw_ = 0;
  bool has_last_ = false;
};

}  // namespace physguard
