// physguard/detect/after_alarm.hpp - what a stateful statistic does after it has alarmed.
#pragma once

#include <cstdint>

namespace physguard {

/// Behaviour of a stateful statistic (CUSUM, EWMA, Page-Hinkley) after a sample that alarmed.
///
/// `keep_accumulating` (the default): the statistic carries on from where it is, so it stays above
/// its threshold for as long as the change persists and reports the change's direction and size;
/// latching, minimum duration and acknowledgement belong to the alarm logic, which calls `reset()`
/// when the operator acknowledges.  `restart`: the statistic returns to its zero state right after
/// reporting the alarm (the textbook set-up for average run length: one alarm = one run).
enum class AfterAlarm : std::uint8_t {
  keep_accumulating = 0,
  restart,
};

constexpr const char* to_string(AfterAlarm a) noexcept {
  switch (a) {
    case AfterAlarm::keep_accumulating: return "keep_accumulating";
    case AfterAlarm::restart: return "restart";
  }
  return "unknown";
}

}  // namespace physguard
