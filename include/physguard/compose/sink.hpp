// physguard/compose/sink.hpp - where findings go (firmware-safe sinks: fixed capacity, no heap).
//
// A sink is any callable with `void operator()(const Finding<T>&)`: a lambda, a function object,
// one of the types below.  Host-only sinks (std::vector) live in compose/host_sinks.hpp.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>

#include "../core/config.hpp"
#include "../core/finding.hpp"

namespace physguard {

/// Keeps the last N findings in a ring buffer.  When full, the oldest is overwritten and counted
/// in overwritten(): a finding is never lost without a trace.  Read with size()/operator[] (oldest
/// first) or drain with pop().  No heap; sizeof ~ N * sizeof(Finding<T>) + 16.
template <typename T, std::size_t N>
class FindingRing {
  static_assert(N >= 1, "a ring holds at least one finding");

 public:
  void operator()(const Finding<T>& f) noexcept {
    if (size_ == N) {
      ++overwritten_;
      head_ = (head_ + 1) % N;
      --size_;
    }
    buffer_[(head_ + size_) % N] = f;
    ++size_;
    ++total_;
  }

  /// The i-th retained finding, oldest first (i < size()).
  const Finding<T>& operator[](std::size_t i) const noexcept {
    PHYSGUARD_ASSERT(i < size_, "ring index out of range");
    return buffer_[(head_ + i) % N];
  }

  /// Removes the oldest finding into `out`; false when empty.
  bool pop(Finding<T>& out) noexcept {
    if (size_ == 0) return false;
    out = buffer_[head_];
    head_ = (head_ + 1) % N;
    --size_;
    return true;
  }

  /// Forgets the retained findings (the counters stay).
  void clear() noexcept {
    head_ = 0;
    size_ = 0;
  }

  std::size_t size() const noexcept { return size_; }
  bool empty() const noexcept { return size_ == 0; }
  static constexpr std::size_t capacity() noexcept { return N; }
  /// Findings overwritten before anyone read them.
  std::uint32_t overwritten() const noexcept { return overwritten_; }
  /// Findings ever delivered (retained + popped + overwritten).
  std::uint32_t total() const noexcept { return total_; }

 private:
  std::array<Finding<T>, N> buffer_{};
  std::size_t head_ = 0;
  std::size_t size_ = 0;
  std::uint32_t overwritten_ = 0;
  std::uint32_t total_ = 0;
};

/// Counts findings, in total and by kind and by state.  Accepts Finding<float> and Finding<double>.
class CountingSink {
 public:
  template <typename T>
  void operator()(const Finding<T>& f) noexcept {
    ++total_;
    const auto k = static_cast<std::size_t>(f.kind);
    const auto s = static_cast<std::size_t>(f.state);
    if (k < by_kind_.size()) ++by_kind_[k];
    if (s < by_state_.size()) ++by_state_[s];
  }

  std::uint32_t count() const noexcept { return total_; }
  std::uint32_t count(FindingKind k) const noexcept {
    const auto i = static_cast<std::size_t>(k);
    return i < by_kind_.size() ? by_kind_[i] : 0u;
  }
  std::uint32_t count(AlarmState s) const noexcept {
    const auto i = static_cast<std::size_t>(s);
    return i < by_state_.size() ? by_state_[i] : 0u;
  }
  void reset() noexcept { *this = CountingSink{}; }

 private:
  std::uint32_t total_ = 0;
  std::array<std::uint32_t, 8> by_kind_{};   // FindingKind has 8 values
  std::array<std::uint32_t, 4> by_state_{};  // AlarmState has 4 values
};

/// Refers to a sink owned elsewhere (a Monitor stores its sink by value; give it a SinkRef to keep
/// the sink outside).  The referenced sink must outlive the SinkRef.
template <typename Sink>
class SinkRef {
 public:
  explicit SinkRef(Sink& sink) noexcept : sink_(&sink) {}
  template <typename T>
  void operator()(const Finding<T>& f) const {
    (*sink_)(f);
  }
  Sink& get() const noexcept { return *sink_; }

 private:
  Sink* sink_;
};

template <typename Sink>
SinkRef<Sink> sink_ref(Sink& sink) noexcept {
  return SinkRef<Sink>(sink);
}

}  // namespace physguard
