// physguard/detect/decision.hpp - the record every statistic and check returns per sample.
#pragma once

#include <cstdint>

#include "../core/finding.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"

namespace physguard {

/// Outcome of one update of a statistic (CUSUM, EWMA, ...) or a plausibility / consistency check.
///
/// `score` is the quantity tested and `threshold` what it was tested against; `alarm` is
/// score > threshold on this sample (alarm logic downstream decides what an operator sees).
/// When `status` is not ok the input was refused, the detector's state is unchanged and `alarm`
/// is false; `kind` and `cause` say what a Finding built from this decision is about.
template <typename T>
struct Decision {
  Timestamp time{};
  T score = T(0);
  T threshold = T(0);
  bool alarm = false;
  Status status = Status::ok;
  FindingKind kind = FindingKind::residual;
  Cause cause = Cause::unknown;
  std::int8_t direction = 0;  ///< +1 upward change, -1 downward, 0 not applicable

  /// A Finding describing this decision, for `channel` and the detector named `detector`
  /// (a string with static storage duration).
  Finding<T> to_finding(std::uint16_t channel, const char* detector, AlarmState state,
                        std::uint16_t detector_id = 0) const noexcept {
    Finding<T> f;
    f.time = time;
    f.channel = channel;
    f.detector_id = detector_id;
    f.detector = detector;
    f.kind = status == Status::ok ? kind : FindingKind::bad_input;
    f.cause = cause;
    f.state = state;
    f.status = status;
    f.score = score;
    f.threshold = threshold;
    return f;
  }
};

/// A refused input: the status says why; nothing else is meaningful.
template <typename T>
constexpr Decision<T> refused(Status why, Timestamp t = {}) noexcept {
  Decision<T> d;
  d.time = t;
  d.status = why;
  d.kind = FindingKind::bad_input;
  d.cause = Cause::sensor_fault;
  return d;
}

}  // namespace physguard
