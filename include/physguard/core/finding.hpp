// physguard/core/finding.hpp - the record a detector emits when something is worth telling.
#pragma once

#include <cstdint>

#include "status.hpp"
#include "time.hpp"

namespace physguard {

/// What a finding is about.
enum class FindingKind : std::uint8_t {
  bad_input = 0,        ///< a sample was refused (NaN, out of range, time going back, ...)
  residual,             ///< a model residual statistic crossed its threshold
  plausibility,         ///< range / rate / stuck-at / noise / redundancy / invariant check failed
  command_response,     ///< a command did not produce the response it must (or motion without command)
  setpoint,             ///< a commanded setpoint left its envelope
  control_logic,        ///< an actuator state contradicts the control logic
  timing,               ///< staleness, gaps, timestamps going back
  communication,        ///< the data source itself (connection lost, garbage registers)
};

/// The most likely explanation, as far as the detector can tell.
enum class Cause : std::uint8_t {
  unknown = 0,
  sensor_fault,      ///< the signal itself is broken (wire break, NE43 fault band, NaN from the ADC)
  suspected_attack,  ///< the signal is electrically fine but contradicts physics or commands
  process_fault,     ///< the process misbehaves (pump fails to deliver, valve stuck)
  communication,     ///< transport problem between probe / PLC / gateway
};

/// Alarm state carried by a finding (the state after the sample that produced it).
enum class AlarmState : std::uint8_t {
  normal = 0,   ///< informational (e.g. an input refused) or a return to normal
  warning,      ///< warning level crossed
  alarm,        ///< alarm level crossed
  cleared,      ///< alarm condition went away (latched alarms stay until acknowledged)
};

constexpr const char* to_string(FindingKind k) noexcept {
  switch (k) {
    case FindingKind::bad_input: return "bad_input";
    case FindingKind::residual: return "residual";
    case FindingKind::plausibility: return "plausibility";
    case FindingKind::command_response: return "command_response";
    case FindingKind::setpoint: return "setpoint";
    case FindingKind::control_logic: return "control_logic";
    case FindingKind::timing: return "timing";
    case FindingKind::communication: return "communication";
  }
  return "unknown";
}

constexpr const char* to_string(Cause c) noexcept {
  switch (c) {
    case Cause::unknown: return "unknown";
    case Cause::sensor_fault: return "sensor_fault";
    case Cause::suspected_attack: return "suspected_attack";
    case Cause::process_fault: return "process_fault";
    case Cause::communication: return "communication";
  }
  return "unknown";
}

constexpr const char* to_string(AlarmState s) noexcept {
  switch (s) {
    case AlarmState::normal: return "normal";
    case AlarmState::warning: return "warning";
    case AlarmState::alarm: return "alarm";
    case AlarmState::cleared: return "cleared";
  }
  return "unknown";
}

/// One finding.  A plain value type (trivially copyable, no heap): firmware keeps a few in a ring
/// buffer, a gateway formats them with physguard/fmt.hpp and ships them.
///
/// `detector` points at a string with static storage duration (the detector's type name such as
/// "cusum"), so copying a Finding never allocates.
template <typename T>
struct Finding {
  Timestamp time{};
  std::uint16_t channel = 0;        ///< channel index the integrator assigned
  std::uint16_t detector_id = 0;    ///< index of the detector within its Monitor (0 when standalone)
  const char* detector = "";        ///< static name of the detector type
  FindingKind kind = FindingKind::residual;
  Cause cause = Cause::unknown;
  AlarmState state = AlarmState::normal;
  Status status = Status::ok;       ///< for bad_input findings: why the sample was refused
  T score{};                        ///< the statistic that was tested
  T threshold{};                    ///< the threshold it was tested against
};

}  // namespace physguard
