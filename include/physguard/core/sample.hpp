// physguard/core/sample.hpp - one raw I/O sample: time, value, quality.
#pragma once

#include <cstdint>

#include "numeric.hpp"
#include "status.hpp"
#include "time.hpp"

namespace physguard {

/// Quality of a sample as the acquisition reports it (in the spirit of OPC UA / IEC 61850 quality).
enum class Quality : std::uint8_t {
  good = 0,
  uncertain,  ///< usable, but the source has doubts (e.g. NE43 saturation band)
  bad,        ///< the source knows the value is wrong (wire break, ADC fault)
  missing,    ///< no value was acquired this period
};

constexpr const char* to_string(Quality q) noexcept {
  switch (q) {
    case Quality::good: return "good";
    case Quality::uncertain: return "uncertain";
    case Quality::bad: return "bad";
    case Quality::missing: return "missing";
  }
  return "unknown";
}

/// One sample of one channel.
template <typename T>
struct Sample {
  Timestamp time{};
  T value{};
  Quality quality = Quality::good;
};

/// First-line screening of a sample that every detector applies: missing, bad, non-finite.
/// Returns Status::ok when the value may be used.
template <typename T>
constexpr Status screen(const Sample<T>& s) noexcept {
  if (s.quality == Quality::missing) return Status::missing;
  if (s.quality == Quality::bad) return Status::bad_quality;
  if (!is_finite(s.value)) return Status::not_finite;
  return Status::ok;
}

}  // namespace physguard
