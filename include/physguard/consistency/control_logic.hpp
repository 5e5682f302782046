// physguard/consistency/control_logic.hpp - the actuator state a control rule demands versus the
// state the field reports.
#pragma once

#include <cstdint>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detect/decision.hpp"
#include "../detect/multi_input_decision.hpp"
#include "detail/inputs.hpp"

namespace physguard {

/// Which side of the band switches the actuator ON.
enum class HysteresisSense : std::uint8_t {
  on_below_low = 0,  ///< ON below the low level, OFF above the high level (fill pump, heater)
  on_above_high,     ///< ON above the high level, OFF below the low level (drain pump, cooler)
};

/// The actuator state the rule demands.
enum class ExpectedState : std::uint8_t {
  unknown = 0,  ///< not known yet (inside the band since start-up): any state is accepted
  off,
  on,
};

/// What the checker found on one sample.
enum class ControlLogicCondition : std::uint8_t {
  unknown_state = 0,  ///< expected state not known yet: nothing to compare
  consistent,         ///< reported state == expected state
  switching,          ///< they differ, for no longer than the switching tolerance
  violated,           ///< ALARM: they differ for longer than the tolerance
};

constexpr const char* to_string(HysteresisSense s) noexcept {
  switch (s) {
    case HysteresisSense::on_below_low: return "on_below_low";
    case HysteresisSense::on_above_high: return "on_above_high";
  }
  return "unknown";
}
constexpr const char* to_string(ExpectedState s) noexcept {
  switch (s) {
    case ExpectedState::unknown: return "unknown";
    case ExpectedState::off: return "off";
    case ExpectedState::on: return "on";
  }
  return "unknown";
}
constexpr const char* to_string(ControlLogicCondition c) noexcept {
  switch (c) {
    case ControlLogicCondition::unknown_state: return "unknown_state";
    case ControlLogicCondition::consistent: return "consistent";
    case ControlLogicCondition::switching: return "switching";
    case ControlLogicCondition::violated: return "violated";
  }
  return "unknown";
}

/// Decision of a control-logic check plus the expected state and the condition.
/// refused_inputs: bit 0 the measured level, bit 1 the reported actuator state.
template <typename T>
struct ControlLogicDecision : MultiInputDecision<T> {
  ExpectedState expected = ExpectedState::unknown;
  ControlLogicCondition condition = ControlLogicCondition::unknown_state;
};

/// Hysteresis (two-point, on/off) control rule check.  A level controller with sense
/// on_below_low switches its pump ON when the level x falls below `low_level`, OFF when it rises
/// above `high_level`, and holds its state in between (on_above_high: the other way round).  The
/// checker runs the same rule on the measured level and compares the expected state with the
/// state the field reports (contactor feedback, "running" bit):
///
///   expected = ON-side state   if x < low - margin           (on_below_low: ON)
///            = OFF-side state  if x > high + margin
///            = hold            otherwise
///
/// `level_margin` (>= 0, level units) covers the difference between what the controller's own
/// sensor saw and what this checker sees (noise, a second transmitter): within margin of a
/// threshold the controller may or may not have switched, so there the state the threshold
/// switches TO is accepted and adopted (near low: ON for on_below_low) and the other one only if
/// it is the held state.  Choose it around 3-4 noise sigmas (plus any known offset).
///
/// Unknown initial state: at start-up inside the band the held state is unknown; the checker
/// stays silent (ExpectedState::unknown) until the level has been beyond a threshold (or in a
/// margin zone with the matching state reported).  No false alarm from not knowing the history.
///
/// A mismatch must last longer than `switch_tolerance` (controller scan, contactor and feedback
/// delays) before it alarms: score = mismatch duration / tolerance (lower bound from the first
/// scan that showed it), threshold 1.  kind = control_logic, cause = suspected_attack (a forced
/// output or altered PLC logic; a welded contactor looks the same), direction +1 when the
/// actuator runs although it should not (e.g. pump forced ON above the OFF level), -1 when it
/// stands although it should run.
///
/// Bad input (missing / bad / non-finite level, missing / bad state, time going back or
/// repeated) is refused, state unchanged.  Level and state are taken from one scan; time = the
/// later stamp.  sizeof == 64 bytes (float), 72 (double); O(1).
template <typename T>
class HysteresisRuleChecker {
 public:
  static constexpr const char* name = "hysteresis_rule";
  static constexpr int input_level = 0;
  static constexpr int input_state = 1;
  using Result = ControlLogicDecision<T>;

  /// `low_level` < `high_level` (level units, with high - low > 2 level_margin),
  /// `switch_tolerance` > 0, `level_margin` >= 0.
  HysteresisRuleChecker(T low_level, T high_level, HysteresisSense sense, Duration switch_tolerance,
                        T level_margin = T(0)) noexcept
      : low_(low_level),
        high_(high_level),
        margin_(level_margin),
        tolerance_(switch_tolerance),
        sense_(sense) {
    PHYSGUARD_ASSERT(is_finite(low_level) && is_finite(high_level) && low_level < high_level,
                     "hysteresis needs low < high");
    PHYSGUARD_ASSERT(is_finite(level_margin) && level_margin >= T(0) &&
                         T(2) * level_margin < high_level - low_level,
                     "level margin must be >= 0 and less than half the band");
    PHYSGUARD_ASSERT(switch_tolerance.us > 0, "switch tolerance must be > 0");
  }

  Result update(const Sample<T>& level, const Sample<bool>& actuator_on) noexcept {
    detail::consistency::InputScreen<Result> scr;
    scr.check(input_level, level);
    scr.check(input_state, actuator_on);
    const Timestamp t = detail::consistency::later(level.time, actuator_on.time);
    if (scr.any) {
      scr.result.time = t;
      return scr.result;
    }
    return update(t, level.value, actuator_on.value);
  }

  /// One scan at time `t`: the measured level and the reported actuator state (true = ON).
  Result update(Timestamp t, T level, bool actuator_on) noexcept {
    if (!is_finite(level))
      return detail::consistency::refused_value<Result>(Status::not_finite, t, 1u << input_level);
    const Status ts = guard_.check(t);
    if (ts == Status::time_backwards || ts == Status::time_repeated)
      return detail::consistency::refused_time<Result>(ts, t);
    const ExpectedState low_side =
        sense_ == HysteresisSense::on_below_low ? ExpectedState::on : ExpectedState::off;
    const ExpectedState high_side =
        sense_ == HysteresisSense::on_below_low ? ExpectedState::off : ExpectedState::on;
    const ExpectedState reported = actuator_on ? ExpectedState::on : ExpectedState::off;

    ExpectedState expected = expected_;
    if (level < low_ - margin_) {
      expected = low_side;
    } else if (level > high_ + margin_) {
      expected = high_side;
    } else if (level <= low_ + margin_) {
      if (reported == low_side) expected = low_side;  // the controller may have switched
    } else if (level >= high_ - margin_) {
      if (reported == high_side) expected = high_side;
    }

    Result d;
    d.time = t;
    d.kind = FindingKind::control_logic;
    d.threshold = T(1);
    d.status = Status::ok;
    d.expected = expected;
    if (expected == ExpectedState::unknown) {
      d.condition = ControlLogicCondition::unknown_state;
      mismatch_ = false;
    } else if (expected == reported) {
      d.condition = ControlLogicCondition::consistent;
      mismatch_ = false;
    } else {
      if (!mismatch_) {
        mismatch_ = true;
        mismatch_since_ = t;
      }
      const Duration lasted = t - mismatch_since_;
      d.score = static_cast<T>(static_cast<double>(lasted.us) / static_cast<double>(tolerance_.us));
      d.direction = actuator_on ? std::int8_t{1} : std::int8_t{-1};
      if (lasted > tolerance_) {
        d.condition = ControlLogicCondition::violated;
        d.alarm = true;
        d.cause = Cause::suspected_attack;
      } else {
        d.condition = ControlLogicCondition::switching;
      }
    }
    expected_ = expected;
    guard_.accept(t);
    return d;
  }

  /// Back to the unknown initial state.
  void reset() noexcept {
    guard_.reset();
    expected_ = ExpectedState::unknown;
    mismatch_ = false;
    mismatch_since_ = Timestamp{};
  }

  ExpectedState expected() const noexcept { return expected_; }
  T low_level() const noexcept { return low_; }
  T high_level() const noexcept { return high_; }
  T level_margin() const noexcept { return margin_; }
  HysteresisSense sense() const noexcept { return sense_; }
  Duration switch_tolerance() const noexcept { return tolerance_; }
  Timestamp last_time() const noexcept { return guard_.last(); }

 private:
  T low_;
  T high_;
  T margin_;
  Duration tolerance_;
  TimeGuard guard_;
  Timestamp mismatch_since_{};
  HysteresisSense sense_;
  ExpectedState expected_ = ExpectedState::unknown;
  bool mismatch_ = false;
};

}  // namespace physguard
