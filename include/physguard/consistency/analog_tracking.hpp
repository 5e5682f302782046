// physguard/consistency/analog_tracking.hpp - position command versus position feedback through
// an actuator model (control valve, damper, variable-speed drive).
#pragma once

#include <cmath>
#include <cstdint>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detect/cusum.hpp"
#include "../detect/decision.hpp"
#include "../detect/multi_input_decision.hpp"
#include "../signal/first_order_lag.hpp"
#include "../signal/rate_limited_actuator.hpp"
#include "detail/inputs.hpp"

namespace physguard {

/// Parameters of AnalogTrackingChecker (units: the position unit of the command, e.g. % open,
/// and the feedback unit).
template <typename T>
struct AnalogTrackingParams {
  T max_rate_per_s = T(1);   ///< stroke speed limit, position units per second (> 0)
  T min_position = T(0);     ///< lower end stop, position units
  T max_position = T(100);   ///< upper end stop, position units
  T gain = T(1);             ///< feedback units per position unit (!= 0)
  T time_constant_s = T(1);  ///< positioner / feedback transmitter lag, seconds (> 0)
  T noise_sigma = T(1);      ///< feedback noise standard deviation, feedback units (> 0)
  /// The model counts as settled when |gain * clamp(command) - model output| <= settled_band
  /// (feedback units); 0 means 3 * noise_sigma.  Used only to name the cause of an alarm.
  T settled_band = T(0);
};

/// Analog command/feedback tracking.  The commanded position u drives an actuator model
///
///     position  = RateLimitedActuator(u)      (rate limit r, end stops)
///     y_model   = FirstOrderLag(position)     (gain K, time constant tau)
///
/// stepped exactly over the real time between scans.  A command that differs from the previous
/// scan's changed somewhere in between: the model holds the old command for the first half of
/// the interval and the new one for the second half (the midpoint is the unbiased guess; holding
/// either value for the whole interval biases the residual by up to rate * scan period during
/// every stroke, which a CUSUM accumulates).  The lag is driven by the actuator's mean position
/// over each interval (trapezoid rule) for the same reason.  The residual
///
///     r = feedback - y_model,      z = r / noise_sigma
///
/// goes into `Statistic` (any type with Decision<T> update(T) and reset(); CUSUM by default, so
/// that a small persistent offset is found as well as a jump).  On the first scan (and after
/// reset()) the model is aligned and nothing is tested: at rest on the command (position =
/// clamp(u), output = K position) when the feedback lies within settled_band of that, otherwise
/// on the measured feedback (position = feedback / K, clamped; output = feedback).
///
/// Cause, decided when an alarm begins and kept while it lasts: if the model was settled (the
/// command reached, |K clamp(u) - y_model| <= settled_band) the feedback moved on its own or is
/// falsified -> suspected_attack (uncommanded motion, spoofed position); if the model was still
/// moving the actuator failed to follow its command -> process_fault (stuck or sticky valve,
/// failed positioner, lost air supply).
///
/// Choosing the statistic: a command edge is only known to lie somewhere between two scans, so
/// while the actuator strokes the model may lead or lag by up to half a scan period, a residual
/// bias of up to K r Ts / 2 (r the rate limit, Ts the scan period).  Give the statistic an
/// allowance above that: for CUSUM, drift k >= K r Ts / noise_sigma (twice the worst bias).
///
/// Decision: score/threshold/alarm/direction of the statistic (direction = sign of the residual
/// for CUSUM), kind = command_response.  refused_inputs: bit 0 command, bit 1 feedback.  Missing,
/// bad or non-finite inputs and times going back / repeating are refused, state unchanged (the
/// model is advanced on copies and committed only when the statistic accepted z).  A residual
/// that overflows is refused (numerical_failure); if the feedback was moderate the model is
/// re-aligned to the scan (values near the type's limit must not wedge the check).
/// Cost per scan: one expm1 (two on a command change) plus the statistic.  sizeof with CUSUM:
/// 128 bytes (float), 224 (double).
template <typename T, typename Statistic = CusumDetector<T>>
class AnalogTrackingChecker {
 public:
  static constexpr const char* name = "analog_tracking";
  static constexpr int input_command = 0;
  static constexpr int input_feedback = 1;
  using Result = MultiInputDecision<T>;

  AnalogTrackingChecker(const AnalogTrackingParams<T>& params, const Statistic& statistic) noexcept
      : p_(params),
        actuator_(params.max_rate_per_s, params.min_position, params.max_position,
                  params.min_position),
        lag_(params.gain, params.time_constant_s, T(0)),
        statistic_(statistic) {
    PHYSGUARD_ASSERT(is_finite(params.gain) && params.gain != T(0), "gain must be finite, != 0");
    PHYSGUARD_ASSERT(is_finite(params.noise_sigma) && params.noise_sigma > T(0),
                     "noise sigma must be > 0");
    PHYSGUARD_ASSERT(is_finite(params.settled_band) && params.settled_band >= T(0),
                     "settled band must be >= 0");
    if (p_.settled_band == T(0)) p_.settled_band = T(3) * p_.noise_sigma;
  }

  Result update(const Sample<T>& command, const Sample<T>& feedback) noexcept {
    detail::consistency::InputScreen<Result> scr;
    scr.check(input_command, command);
    scr.check(input_feedback, feedback);
    const Timestamp t = detail::consistency::later(command.time, feedback.time);
    if (scr.any) {
      scr.result.time = t;
      return scr.result;
    }
    return update(t, command.value, feedback.value);
  }

  /// One scan at time `t`: commanded position and measured position feedback.
  Result update(Timestamp t, T command, T feedback) noexcept {
    std::uint32_t bad = 0;
    if (!is_finite(command)) bad |= 1u << input_command;
    if (!is_finite(feedback)) bad |= 1u << input_feedback;
    if (bad != 0) return detail::consistency::refused_value<Result>(Status::not_finite, t, bad);
    const Status ts = guard_.check(t);
    if (ts == Status::time_backwards || ts == Status::time_repeated)
      return detail::consistency::refused_time<Result>(ts, t);
    Result d;
    d.time = t;
    d.kind = FindingKind::command_response;
    if (!guard_.has_last()) {
      align(t, command, feedback);
      d.threshold = statistic_threshold();
      d.status = Status::ok;
      return d;
    }
    const T dt_s = detail::consistency::seconds<T>(t - guard_.last());
    RateLimitedActuator<T> actuator = actuator_;
    FirstOrderLag<T> lag = lag_;
    T model;
    if (command == command_) {
      model = advance(actuator, lag, command, dt_s);
    } else {
      // The command changed somewhere in the interval: take the midpoint (unbiased for an edge
      // anywhere between the scans).
      const T half = dt_s * T(0.5);
      advance(actuator, lag, command_, half);
      model = advance(actuator, lag, command, half);
    }
    const T residual = feedback - model;
    const T z = residual / p_.noise_sigma;
    if (!is_finite(z)) {
      // When the feedback itself is moderate the model is at fault (aligned to an extreme
      // feedback): it would overflow on every later scan too, so it is re-aligned to this scan,
      // the one exception to "state unchanged" (found by the hostile-input test).
      if (is_finite(T(2) * feedback / p_.noise_sigma)) align(t, command, feedback);
      return detail::consistency::refused_value<Result>(Status::numerical_failure, t);
    }
    const Decision<T> s = statistic_.update(z);
    if (s.status != Status::ok) return detail::consistency::refused_value<Result>(s.status, t);
    // Commit.
    actuator_ = actuator;
    lag_ = lag;
    const T target = p_.gain * clamp_position(command);
    const T gap = target - model;
    const bool settled = (gap < T(0) ? -gap : gap) <= p_.settled_band;
    if (s.alarm && !in_alarm_) cause_ = settled ? Cause::suspected_attack : Cause::process_fault;
    in_alarm_ = s.alarm;
    command_ = command;
    residual_ = residual;
    guard_.accept(t);

    d.score = s.score;
    d.threshold = s.threshold;
    d.alarm = s.alarm;
    d.direction = s.direction;
    d.status = Status::ok;
    d.cause = s.alarm ? cause_ : Cause::unknown;
    return d;
  }

  /// Resets the statistic; the next scan re-aligns the model to the feedback.
  void reset() noexcept {
    statistic_.reset();
    guard_.reset();
    residual_ = T(0);
    command_ = T(0);
    in_alarm_ = false;
    cause_ = Cause::unknown;
  }

  /// Last residual feedback - model output (feedback units).
  T residual() const noexcept { return residual_; }
  T normalised_residual() const noexcept { return residual_ / p_.noise_sigma; }
  /// Model output after the last accepted scan (feedback units).
  T model_output() const noexcept { return lag_.output(); }
  /// Model actuator position after the last accepted scan (position units).
  T model_position() const noexcept { return actuator_.position(); }
  const Statistic& statistic() const noexcept { return statistic_; }
  const AnalogTrackingParams<T>& params() const noexcept { return p_; }
  bool initialised() const noexcept { return guard_.has_last(); }
  Timestamp last_time() const noexcept { return guard_.last(); }

 private:
  // Align the model: at rest on the command when the feedback agrees with it (within the settled
  // band: aligning to one noisy reading would start a transient the statistic sees), otherwise on
  // the feedback (start-up in the middle of a move).
  void align(Timestamp t, T command, T feedback) noexcept {
    const T at_rest = p_.gain * clamp_position(command);
    const T diff = feedback - at_rest;
    if ((diff < T(0) ? -diff : diff) <= p_.settled_band) {
      actuator_.reset(clamp_position(command));
      lag_.reset(at_rest);
    } else {
      // Clamped here: feedback / gain overflows for a feedback near the limit and a gain below 1,
      // and the actuator asserts on a non-finite position (it clamps finite ones the same way).
      actuator_.reset(clamp_position(feedback / p_.gain));
      lag_.reset(feedback);
    }
    command_ = command;
    residual_ = T(0);
    in_alarm_ = false;
    cause_ = Cause::unknown;
    guard_.accept(t);
  }

  // Actuator over dt, then the lag driven by the actuator's mean position over the interval.
  // The actuator moves at its rate limit until it reaches its (clamped) target and then rests,
  // so the mean is the trapezoid over the stroking part plus the end position over the rest:
  // exact for a position at rest and for a fast actuator that arrives early in the interval
  // (a plain trapezoid would halve a step), second-order accurate while stroking throughout.
  static T advance(RateLimitedActuator<T>& actuator, FirstOrderLag<T>& lag, T command,
                   T dt_s) noexcept {
    const T start = actuator.position();
    const T end = actuator.step(command, dt_s);
    const T travel = end > start ? end - start : start - end;
    const T stroke_s = travel / actuator.max_rate_per_s();
    T mean = T(0.5) * (start + end);
    if (dt_s > T(0) && stroke_s < dt_s) {
      const T f = stroke_s / dt_s;  // fraction of the interval spent moving
      mean = f * T(0.5) * (start + end) + (T(1) - f) * end;
    }
    return lag.step(mean, dt_s);
  }

  T clamp_position(T u) const noexcept {
    return u < p_.min_position ? p_.min_position : (u > p_.max_position ? p_.max_position : u);
  }
  T statistic_threshold() const noexcept { return threshold_of(statistic_, 0); }
  template <typename S>
  static auto threshold_of(const S& s, int) noexcept -> decltype(T(s.threshold())) {
    return T(s.threshold());
  }
  template <typename S>
  static T threshold_of(const S&, long) noexcept {
    return T(0);
  }

  AnalogTrackingParams<T> p_;
  RateLimitedActuator<T> actuator_;
  FirstOrderLag<T> lag_;
  Statistic statistic_;
  TimeGuard guard_;
  T command_ = T(0);
  T residual_ = T(0);
  bool in_alarm_ = false;
  Cause cause_ = Cause::unknown;
};

}  // namespace physguard
