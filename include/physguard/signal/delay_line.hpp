// physguard/signal/delay_line.hpp - fixed-capacity ring buffer of past samples (pure dead time).
#pragma once

#include <array>
#include <cstddef>

#include "../core/config.hpp"

namespace physguard {

/// The last `Capacity` values pushed, in a ring buffer on the stack (no heap, O(1) per push).
///
/// `delayed(n)` is the value pushed n pushes ago: delayed(0) is the newest, delayed(Capacity - 1)
/// the oldest still held.  A pure dead time of d samples is `push(u); y = delayed(d);` and needs
/// Capacity >= d + 1.  Before Capacity values have been pushed, the unfilled slots hold the value
/// of the last fill()/reset() (zero initially).
template <typename T, int Capacity>
class DelayLine {
  static_assert(Capacity > 0, "DelayLine needs a positive capacity");

 public:
  explicit DelayLine(T initial = T(0)) { fill(initial); }

  static constexpr int capacity() { return Capacity; }

  void push(T value) {
    head_ = head_ + 1 == Capacity ? 0 : head_ + 1;
    buffer_[static_cast<std::size_t>(head_)] = value;
  }

  /// Value pushed `samples` pushes ago, 0 <= samples < Capacity.
  T delayed(int samples) const {
    PHYSGUARD_ASSERT(samples >= 0 && samples < Capacity, "delay exceeds the delay line capacity");
    int i = head_ - samples;
    if (i < 0) i += Capacity;
    return buffer_[static_cast<std::size_t>(i)];
  }

  T newest() const { return buffer_[static_cast<std::size_t>(head_)]; }
  T oldest() const { return delayed(Capacity - 1); }

  /// Every slot holds `value` (as if it had been pushed Capacity times).
  void fill(T value) {
    buffer_.fill(value);
    head_ = 0;
  }
  void reset() { fill(T(0)); }

 private:
  std::array<T, static_cast<std::size_t>(Capacity)> buffer_{};
  int head_ = 0;
};

}  // namespace physguard
