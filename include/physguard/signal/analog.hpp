// physguard/signal/analog.hpp - analog channel conditioning: 4-20 mA current loops with NAMUR
// NE43 signal bands, and ADC quantisation.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"

namespace physguard {

/// Classification of a loop current by the NAMUR NE43 signal bands.
enum class LoopFault : std::uint8_t {
  none = 0,        ///< 4.0 <= I <= 20.0 mA: in the measuring range
  under_range,     ///< 3.8 <= I < 4.0 mA: valid, below the range (process below range_low)
  over_range,      ///< 20.0 < I <= 20.5 mA: valid, above the range (process above range_high)
  ambiguous_low,   ///< 3.6 < I < 3.8 mA: neither measurement nor failure signal -> bad
  ambiguous_high,  ///< 20.5 < I < 21.0 mA: neither measurement nor failure signal -> bad
  wire_break,      ///< I <= 3.6 mA: failure low (wire break, or the transmitter signals failure)
  short_circuit,   ///< I >= 21.0 mA: failure high (short circuit, or the transmitter signals failure)
  not_finite,      ///< the reading itself is NaN or infinite (acquisition fault)
};

constexpr const char* to_string(LoopFault f) noexcept {
  switch (f) {
    case LoopFault::none: return "none";
    case LoopFault::under_range: return "under_range";
    case LoopFault::over_range: return "over_range";
    case LoopFault::ambiguous_low: return "ambiguous_low";
    case LoopFault::ambiguous_high: return "ambiguous_high";
    case LoopFault::wire_break: return "wire_break";
    case LoopFault::short_circuit: return "short_circuit";
    case LoopFault::not_finite: return "not_finite";
  }
  return "unknown";
}

/// Signal band limits in mA.  The defaults are NAMUR NE43; change them for transmitters that use
/// other failure currents.  Must satisfy failure_low < measure_low <= range_low_mA < range_high_mA
/// <= measure_high < failure_high.
template <typename T>
struct LoopBands {
  T failure_low_mA = T(3.6);    ///< I <= this: failure low
  T measure_low_mA = T(3.8);    ///< lowest current that still carries a measurement
  T range_low_mA = T(4.0);      ///< current of range_low (0 %)
  T range_high_mA = T(20.0);    ///< current of range_high (100 %)
  T measure_high_mA = T(20.5);  ///< highest current that still carries a measurement
  T failure_high_mA = T(21.0);  ///< I >= this: failure high
};

/// One converted loop reading: the sample for the detectors plus the band classification.
template <typename T>
struct LoopReading {
  Sample<T> sample{};               ///< value in engineering units, quality from the band
  LoopFault fault = LoopFault::none;
  Status status = Status::ok;       ///< ok when the value may be used (good or uncertain)
  Cause cause = Cause::unknown;     ///< sensor_fault for the failure / ambiguous bands and NaN
  T current_mA{};                   ///< the raw current
};

/// 4–20 mA input converted to engineering units, classified by the NAMUR NE43 bands:
///
///     value = range_low + (I - 4 mA) / 16 mA * (range_high - range_low)
///
///     I <= 3.6             wire_break      quality bad        status out_of_range  cause sensor_fault
///     3.6 < I < 3.8        ambiguous_low   quality bad        status out_of_range  cause sensor_fault
///     3.8 <= I < 4.0       under_range     quality uncertain  status ok
///     4.0 <= I <= 20.0     none            quality good       status ok
///     20.0 < I <= 20.5     over_range      quality uncertain  status ok
///     20.5 < I < 21.0      ambiguous_high  quality bad        status out_of_range  cause sensor_fault
///     I >= 21.0            short_circuit   quality bad        status out_of_range  cause sensor_fault
///     NaN / inf            not_finite      quality bad        status not_finite    cause sensor_fault
///
/// The ambiguous zones are treated as bad: NE43 gives them no meaning, so a value there is either a
/// transmitter drifting out of its own limits or a failure signal being approached.  In the
/// saturation bands the value is extrapolated linearly (e.g. 3.8 mA is 1.25 % below range_low)
/// and flagged uncertain.  For bad readings the value is still the linear conversion of a finite
/// current (NaN for a non-finite one) for diagnostics; detectors ignore it (screen()).  Reversed
/// ranges (range_high < range_low) are allowed.  Stateless, no heap.
template <typename T>
class CurrentLoopInput {
 public:
  using Scalar = T;

  CurrentLoopInput(T range_low, T range_high, const LoopBands<T>& bands = LoopBands<T>{})
      : low_(range_low), high_(range_high), bands_(bands) {
    PHYSGUARD_ASSERT(is_finite(low_) && is_finite(high_) && low_ != high_,
                     "engineering range must be finite and non-empty");
    PHYSGUARD_ASSERT(bands_.failure_low_mA < bands_.measure_low_mA &&
                         bands_.measure_low_mA <= bands_.range_low_mA &&
                         bands_.range_low_mA < bands_.range_high_mA &&
                         bands_.range_high_mA <= bands_.measure_high_mA &&
                         bands_.measure_high_mA < bands_.failure_high_mA,
                     "loop bands must be ordered");
  }

  /// Classify and convert a current in mA taken at time t.
  LoopReading<T> convert(T current_mA, Timestamp t = Timestamp{}) const {
    LoopReading<T> r;
    r.current_mA = current_mA;
    r.sample.time = t;
    r.fault = classify(current_mA);
    r.sample.value = r.fault == LoopFault::not_finite ? std::numeric_limits<T>::quiet_NaN()
                                                      : to_engineering(current_mA);
    switch (r.fault) {
      case LoopFault::none:
        r.sample.quality = Quality::good;
        break;
      case LoopFault::under_range:
      case LoopFault::over_range:
        r.sample.quality = Quality::uncertain;
        break;
      case LoopFault::not_finite:
        r.sample.quality = Quality::bad;
        r.status = Status::not_finite;
        r.cause = Cause::sensor_fault;
        break;
      case LoopFault::ambiguous_low:
      case LoopFault::ambiguous_high:
      case LoopFault::wire_break:
      case LoopFault::short_circuit:
        r.sample.quality = Quality::bad;
        r.status = Status::out_of_range;
        r.cause = Cause::sensor_fault;
        break;
    }
    return r;
  }

  /// NE43 band of a current (no conversion).
  LoopFault classify(T current_mA) const {
    if (!is_finite(current_mA)) return LoopFault::not_finite;
    if (current_mA <= bands_.failure_low_mA) return LoopFault::wire_break;
    if (current_mA < bands_.measure_low_mA) return LoopFault::ambiguous_low;
    if (current_mA < bands_.range_low_mA) return LoopFault::under_range;
    if (current_mA <= bands_.range_high_mA) return LoopFault::none;
    if (current_mA <= bands_.measure_high_mA) return LoopFault::over_range;
    if (current_mA < bands_.failure_high_mA) return LoopFault::ambiguous_high;
    return LoopFault::short_circuit;
  }

  /// Linear map mA -> engineering units (no classification).
  T to_engineering(T current_mA) const {
    return low_ + (current_mA - bands_.range_low_mA) /
                      (bands_.range_high_mA - bands_.range_low_mA) * (high_ - low_);
  }
  /// Linear map engineering units -> mA (for simulation and loop checks).
  T to_current_mA(T value) const {
    return bands_.range_low_mA +
           (value - low_) / (high_ - low_) * (bands_.range_high_mA - bands_.range_low_mA);
  }

  T range_low() const { return low_; }
  T range_high() const { return high_; }
  const LoopBands<T>& bands() const { return bands_; }

 private:
  T low_;
  T high_;
  LoopBands<T> bands_;
};

/// A Finding (kind bad_input) describing a reading that was not good: cause, status, the current
/// as the score and the violated band limit as the threshold.  `detector` is "current_loop".
/// Meaningful for readings whose fault is not LoopFault::none.
template <typename T>
Finding<T> make_finding(const LoopReading<T>& r, const LoopBands<T>& bands,
                        std::uint16_t channel = 0) {
  Finding<T> f;
  f.time = r.sample.time;
  f.channel = channel;
  f.detector = "current_loop";
  f.kind = FindingKind::bad_input;
  f.cause = r.cause;
  f.status = r.status;
  f.state = r.sample.quality == Quality::bad ? AlarmState::alarm : AlarmState::warning;
  f.score = r.current_mA;
  switch (r.fault) {
    case LoopFault::none: f.state = AlarmState::normal; f.threshold = T(0); break;
    case LoopFault::under_range: f.threshold = bands.range_low_mA; break;
    case LoopFault::over_range: f.threshold = bands.range_high_mA; break;
    case LoopFault::ambiguous_low: f.threshold = bands.measure_low_mA; break;
    case LoopFault::ambiguous_high: f.threshold = bands.measure_high_mA; break;
    case LoopFault::wire_break: f.threshold = bands.failure_low_mA; break;
    case LoopFault::short_circuit: f.threshold = bands.failure_high_mA; break;
    case LoopFault::not_finite: f.threshold = T(0); break;
  }
  return f;
}

/// Result of quantising a value to an ADC code.
struct AdcCode {
  std::uint32_t code = 0;
  bool saturated = false;     ///< the value lay outside [full_scale_min, full_scale_max]: clamped
  Status status = Status::ok; ///< not_finite for NaN/inf (code 0, saturated)
};

/// Ideal `bits`-bit ADC (1..31 bits) over [full_scale_min, full_scale_max]:
///
///     step Δ = (max - min) / (2^bits - 1),   code k <-> value min + k Δ   (k = 0 .. 2^bits - 1)
///
/// value -> code rounds to the nearest code (error <= Δ/2 inside the range), clamps outside it and
/// flags saturation.  For a signal that moves over many codes the rounding error is uniform on
/// [-Δ/2, Δ/2]: variance Δ²/12 (`noise_variance()`, to add to a Kalman filter's R).  A code at a
/// rail may be saturated: `to_sample` marks it uncertain; a code above the largest is bad.
template <typename T>
class AdcQuantiser {
 public:
  using Scalar = T;

  AdcQuantiser(int bits, T full_scale_min, T full_scale_max)
      : bits_(bits), min_(full_scale_min), max_(full_scale_max) {
    PHYSGUARD_ASSERT(bits >= 1 && bits <= 31, "ADC resolution must be 1..31 bits");
    PHYSGUARD_ASSERT(is_finite(min_) && is_finite(max_) && min_ < max_,
                     "full scale must be finite with min < max");
    max_code_ = (std::uint32_t{1} << bits) - 1u;
    step_ = (max_ - min_) / static_cast<T>(max_code_);
  }

  /// Value of a code (codes above max_code() are clamped to it).
  T to_value(std::uint32_t code) const {
    if (code >= max_code_) return max_;
    return min_ + static_cast<T>(code) * step_;
  }

  /// Nearest code of a value; clamped and flagged outside the full scale.
  AdcCode to_code(T value) const {
    AdcCode c;
    if (!is_finite(value)) {
      c.status = Status::not_finite;
      c.saturated = true;
      return c;
    }
    if (value <= min_) {
      c.saturated = value < min_;
      return c;
    }
    if (value >= max_) {
      c.code = max_code_;
      c.saturated = value > max_;
      return c;
    }
    const T k = std::floor((value - min_) / step_ + T(0.5));
    c.code = k >= static_cast<T>(max_code_) ? max_code_ : static_cast<std::uint32_t>(k);
    return c;
  }

  /// value -> nearest representable value (what the ADC would report).
  T quantise(T value) const { return to_value(to_code(value).code); }

  /// A raw code as a sample: rails (0 and max_code()) uncertain, codes above max_code() bad.
  Sample<T> to_sample(std::uint32_t code, Timestamp t = Timestamp{}) const {
    Sample<T> s;
    s.time = t;
    s.value = to_value(code);
    s.quality = code > max_code_ ? Quality::bad
                                 : (code == 0 || code == max_code_ ? Quality::uncertain
                                                                   : Quality::good);
    return s;
  }

  T step_size() const { return step_; }
  /// Δ² / 12: variance of the rounding error.
  T noise_variance() const { return step_ * step_ / T(12); }
  std::uint32_t max_code() const { return max_code_; }
  int bits() const { return bits_; }
  T full_scale_min() const { return min_; }
  T full_scale_max() const { return max_; }

 private:
  int bits_;
  T min_;
  T max_;
  std::uint32_t max_code_ = 0;
  T step_ = T(0);
};

}  // namespace physguard
