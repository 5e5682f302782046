// physguard/batch/plausibility_bank.hpp - range, rate and stuck-at (frozen value) checks for many
// channels in one fused loop.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "detail/bank_support.hpp"
#include "simd.hpp"

namespace physguard {
namespace batch {

/// Parameters of one channel of a PlausibilityBank (units of the channel's value).
template <typename T>
struct PlausibilityChannel {
  T min = T(0);                 ///< physically possible range [min, max], min < max
  T max = T(1);
  T margin_fraction = T(0);     ///< RangeCheck margin, fraction of (max - min), >= 0
  T max_rate_per_s = T(1);      ///< RateCheck limit (unit/s), > 0
  int max_identical_samples = 0;  ///< StuckAtCheck run test: >= 2, or 0 (off)
};

/// Structure-of-arrays storage of a PlausibilityBank.
template <typename T>
struct PlausibilityArrays {
  // parameters
  T* min = nullptr;
  T* max = nullptr;
  T* margin = nullptr;
  T* max_rate = nullptr;
  T* max_identical = nullptr;  ///< as T (0: run test off)
  // state
  T* last_value = nullptr;
  T* run = nullptr;                  ///< consecutive identical values
  std::int64_t* last_time_us = nullptr;
  std::uint8_t* has_reference = nullptr;
  std::uint8_t* alarm = nullptr;     ///< bit 0 range, bit 1 rate, bit 2 stuck-at
  std::uint32_t* refused = nullptr;
};

/// Range, rate and stuck-at checks, per channel exactly what these three scalar pipelines give
/// (default AlarmConfig, detector ids detector_id + 0, + 1, + 2):
///
///     Pipeline<PassThrough<Sample<T>>, RangeCheck<T>>          score = distance outside / span
///     Pipeline<PassThrough<Sample<T>>, RateCheck<T>>           score = |dx / dt|   (no gap rule)
///     Pipeline<PassThrough<Sample<T>>, StuckAtCheck<T, W>>     run test only (min_variance = 0)
///
/// The variance test of StuckAtCheck (a sliding window per channel) is not in the bank: use the
/// scalar StuckAtCheck for channels that need it.  The identical-run count saturates at 2^24
/// (float) / 2^31 - 1 (double) where StuckAtCheck's saturates at 2^31 - 1 (the frozen score differs
/// only after 16.7 million identical float samples).
///
/// A NaN / infinite value is refused by all three checks: three bad_input findings (one per
/// detector, in the order range, rate, stuck_at), state untouched, refused() + 1.  Findings of a
/// channel come in that same order.  Masks, time, storage as in KalmanCusumBank.
template <typename T, typename B = Batch<T>>
class PlausibilityBank
    : public detail::BankBase<PlausibilityBank<T, B>, T, B, PlausibilityArrays<T>> {
  using Base = detail::BankBase<PlausibilityBank<T, B>, T, B, PlausibilityArrays<T>>;

 public:
  using Scalar = T;
  using batch_type = B;
  using Arrays = PlausibilityArrays<T>;
  using Channel = PlausibilityChannel<T>;
  static constexpr const char* range_name = "range";
  static constexpr const char* rate_name = "rate";
  static constexpr const char* stuck_name = "stuck_at";
  static constexpr std::uint8_t range_bit = 1;
  static constexpr std::uint8_t rate_bit = 2;
  static constexpr std::uint8_t stuck_bit = 4;

  /// The arrays in storage order: visit(pointer, elements per channel).
  template <typename Visit>
  static void for_each_array(Arrays& a, Visit&& visit) {
    T** fields[] = {&a.min, &a.max, &a.margin, &a.max_rate, &a.max_identical, &a.last_value,
                    &a.run};
    for (T** f : fields) visit(*f, 1);
    visit(a.last_time_us, 1);
    visit(a.has_reference, 1);
    visit(a.alarm, 1);
    visit(a.refused, 1);
  }

  PlausibilityBank(std::size_t channels, const Arrays& arrays, std::size_t first_channel = 0,
                   std::uint16_t detector_id = 0)
      : Base(channels, arrays, first_channel, detector_id) {
    for (std::size_t i = 0; i < this->n_; ++i) configure(i, Channel{});
  }

  void configure(std::size_t i, const Channel& c) noexcept {
    PHYSGUARD_ASSERT(i < this->n_, "channel index out of range");
    PHYSGUARD_ASSERT(is_finite(c.min) && is_finite(c.max) && c.min < c.max,
                     "range needs min < max");
    PHYSGUARD_ASSERT(is_finite(c.margin_fraction) && c.margin_fraction >= T(0),
                     "margin must be >= 0");
    PHYSGUARD_ASSERT(is_finite(c.max_rate_per_s) && c.max_rate_per_s > T(0),
                     "max rate must be > 0");
    PHYSGUARD_ASSERT(c.max_identical_samples == 0 || c.max_identical_samples >= 2,
                     "max identical samples must be 0 (off) or >= 2");
    Arrays& a = this->arr_;
    a.min[i] = c.min;
    a.max[i] = c.max;
    a.margin[i] = c.margin_fraction;
    a.max_rate[i] = c.max_rate_per_s;
    a.max_identical[i] = static_cast<T>(c.max_identical_samples);
    a.last_value[i] = T(0);
    a.run[i] = T(0);
    a.last_time_us[i] = 0;
    a.has_reference[i] = 0;
    a.alarm[i] = 0;
    a.refused[i] = 0;
  }

  /// One scan at time t: value[i] of channel i, present[i] != 0 when sampled (null: all).
  template <typename Sink>
  Status step(Timestamp t, const T* value, const std::uint8_t* present, Sink&& sink) {
    Status status;
    if (!this->begin_scan(t, status)) return status;
    detail::with_flags(
        [&](auto has_mask) {
          this->scan([&](const Arrays& arr, std::size_t i, auto tag)
                         PHYSGUARD_BATCH_LAMBDA_INLINE {
                           lanes_at<typename decltype(tag)::type, decltype(has_mask)::value>(
                               arr, i, t, value, present, sink);
                         });
        },
        present != nullptr);
    return Status::ok;
  }

  bool in_alarm(std::size_t i, std::uint8_t check_bit) const noexcept {
    return (this->arr_.alarm[i] & check_bit) != 0;
  }
  T identical_run(std::size_t i) const noexcept { return this->arr_.run[i]; }
  T last_value(std::size_t i) const noexcept { return this->arr_.last_value[i]; }

 private:
  static constexpr T run_cap() noexcept {
    return sizeof(T) == 4 ? T(16777216) : T(2147483647);
  }

  /// Scores of one batch (what the three scalar checks compute).
  template <typename V>
  struct Scores {
    V range, margin, rate, max_rate, stuck;
  };

  template <typename V, bool HasMask, typename Sink>
  PHYSGUARD_BATCH_INLINE void lanes_at(const Arrays& arr, std::size_t i, Timestamp t,
                                       const T* value, const std::uint8_t* present, Sink& sink) {
    using M = mask_t<V>;
    constexpr std::size_t L = lanes<V>();
    const V zero(T(0));
    const V one(T(1));
    const V v = load<V>(value + i);
    Scores<V> sc;

    // range (RangeCheck::update): distance outside [min, max] over the span
    const V lo = load<V>(arr.min + i);
    const V hi = load<V>(arr.max + i);
    const V outside = select(v > hi, v - hi, select(v < lo, lo - v, zero));
    sc.range = outside / (hi - lo);
    sc.margin = load<V>(arr.margin + i);

    // rate (RateCheck::update, no gap rule): dt from each channel's last accepted time
    T dt_lanes[L];
    for (std::size_t j = 0; j < L; ++j)
      dt_lanes[j] = static_cast<T>(t.us - arr.last_time_us[i + j]) * static_cast<T>(1e-6);
    const V last = load<V>(arr.last_value + i);
    const V rate = (v - last) / load<V>(dt_lanes);
    const V rate_abs = batch::max(-rate, rate);  // rate < 0 ? -rate : rate
    sc.max_rate = load<V>(arr.max_rate + i);

    // stuck-at, run test (StuckAtCheck::update with min_variance = 0)
    const V run0 = load<V>(arr.run + i);
    const V run_inc = select(run0 < V(run_cap()), run0 + one, run0);
    const V run = select(run0 > zero && v == last, run_inc, one);
    const V max_id = load<V>(arr.max_identical + i);
    const V frozen = select(max_id > zero, run / max_id, zero);
    sc.stuck = batch::max(frozen, zero);  // frozen > 0 ? frozen : 0

    // The common case: every lane sampled, finite, with a reference, no check in alarm before
    // or after (the rate score is 0 without a reference, so that is part of the test).
    const V excess = batch::max(batch::max(sc.range - sc.margin, rate_abs - sc.max_rate),
                                sc.stuck - one);
    if (all(v * zero + excess <= zero) && detail::none_zero<L>(arr.has_reference + i) &&
        detail::all_zero<L>(arr.alarm + i) && (!HasMask || detail::none_zero<L>(present + i))) {
      store(v, arr.last_value + i);
      store(run, arr.run + i);
      for (std::size_t j = 0; j < L; ++j) arr.last_time_us[i + j] = t.us;
      return;
    }

    // The general case.
    const M sampled = HasMask ? load_flags<V>(present + i) : true_mask<V>();
    const M used = sampled && finite(v);
    const M has_ref = load_flags<V>(arr.has_reference + i);
    sc.rate = select(has_ref, rate_abs, zero);
    const M alarms[3] = {used && (sc.range > sc.margin),
                         used && has_ref && (rate_abs > sc.max_rate), used && (sc.stuck > one)};
    store(select(used, v, last), arr.last_value + i);
    store(select(used, run, run0), arr.run + i);
    // time and reference: only for accepted samples
    for (std::size_t j = 0; j < L; ++j) {
      if (used[static_cast<int>(j)]) {
        arr.last_time_us[i + j] = t.us;
        arr.has_reference[i + j] = 1;
      }
    }
    const std::uint8_t bits[3] = {range_bit, rate_bit, stuck_bit};
    M changed = !true_mask<V>();
    M was[3];
    for (int d = 0; d < 3; ++d) {
      was[d] = load_bit<V>(arr, i, bits[d]);
      changed = changed || (alarms[d] != was[d]);
    }
    const M refused = sampled && !used;
    changed = used && changed;
    if (PHYSGUARD_BATCH_UNLIKELY(any(refused || changed))) {
      const Scores<V> scores = sc;  // a copy: only the rare path takes an address
      report_lanes(t, i, refused, changed, alarms, scores, sink);
    }
  }

  /// Findings of one batch, in the scalar order per channel: range, rate, stuck_at.
  template <typename M, typename V, typename Sink>
  PHYSGUARD_BATCH_COLD void report_lanes(Timestamp t, std::size_t i, const M& refused,
                                         const M& changed, const M (&alarms)[3],
                                         const Scores<V>& sc, Sink& sink) {
    constexpr std::size_t L = lanes<V>();
    const char* names[3] = {range_name, rate_name, stuck_name};
    const std::uint8_t bits[3] = {range_bit, rate_bit, stuck_bit};
    const Cause causes[3] = {Cause::sensor_fault, Cause::suspected_attack,
                             Cause::suspected_attack};
    T scores[3][L], thresholds[3][L];
    store(sc.range, scores[0]);
    store(sc.rate, scores[1]);
    store(sc.stuck, scores[2]);
    store(sc.margin, thresholds[0]);
    store(sc.max_rate, thresholds[1]);
    for (std::size_t j = 0; j < L; ++j) thresholds[2][j] = T(1);
    for (std::size_t j = 0; j < L; ++j) {
      const int l = static_cast<int>(j);
      const std::size_t c = i + j;
      const std::uint8_t flags = this->arr_.alarm[c];
      if (refused[l]) {
        this->count_refused(c);
        for (std::uint16_t d = 0; d < 3; ++d)
          this->emit_refused(sink, t, c, d, names[d], Status::not_finite, (flags & bits[d]) != 0);
      } else if (changed[l]) {
        std::uint8_t now = flags;
        for (std::uint16_t d = 0; d < 3; ++d) {
          const bool raised = alarms[d][l];
          if (raised == ((flags & bits[d]) != 0)) continue;
          now = static_cast<std::uint8_t>(now ^ bits[d]);
          this->emit_edge(sink, t, c, d, names[d], FindingKind::plausibility, causes[d], raised,
                          scores[d][j], thresholds[d][j]);
        }
        this->arr_.alarm[c] = now;
      }
    }
  }

  template <typename V>
  static mask_t<V> load_bit(const Arrays& arr, std::size_t i, std::uint8_t bit) noexcept {
    std::uint8_t bits[lanes<V>()];
    for (std::size_t j = 0; j < lanes<V>(); ++j)
      bits[j] = static_cast<std::uint8_t>(arr.alarm[i + j] & bit);
    return load_flags<V>(bits);
  }
};

}  // namespace batch
}  // namespace physguard
