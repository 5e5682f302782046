// physguard/consistency/response_model.hpp - setpoint or command to process variable through a
// first-order-plus-dead-time model: does the process still answer its input the way physics says?
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
#include "../signal/first_order_plus_dead_time.hpp"
#include "detail/inputs.hpp"

namespace physguard {

/// Parameters of ResponseModelChecker.  Units: input unit (setpoint / command), PV unit, seconds.
template <typename T>
struct ResponseModelParams {
  T gain = T(1);             ///< K: PV units per input unit (steady state)
  T time_constant_s = T(1);  ///< tau > 0, seconds
  T dead_time_s = T(0);      ///< theta >= 0, seconds (rounded to whole sample periods)
  T sample_period_s = T(1);  ///< Ts > 0: the model's step; scans should come about every Ts
  T noise_sigma = T(1);      ///< PV noise (plus model error) standard deviation, PV units (> 0)
  /// Slow bias tracking: time constant of the offset learner in seconds; 0 switches it off.
  /// Choose it much longer than the statistic's detection delay (hours for a CUSUM that finds a
  /// shift in minutes), or a slow drift attack is learned instead of detected.
  T bias_time_constant_s = T(0);
  T initial_bias = T(0);  ///< starting offset PV - model (PV units)
  /// Alignment on the first scan (and after a gap).  false (default): the model starts in steady
  /// state at K * input when the PV (minus the bias) lies within 3 noise sigmas of it, otherwise at
  /// PV - bias (bumpless: the process is in mid-transient).  true: always in steady state at
  /// K * input -- use it with bias tracking when a calibration offset larger than 3 sigma is
  /// expected at start-up; the bias then learns the offset within a few scans (warm-up).
  bool assume_steady_start = false;
  /// More whole sample periods than this between scans is a gap: the model is re-aligned to the
  /// PV (Status::gap, nothing tested).  >= 1.
  int max_catch_up_samples = 10;
  /// Cause reported with an alarm.  suspected_attack by default: the PV contradicts what the
  /// physics predicts for the commanded input (falsified PV, replayed recording, falsified
  /// command display).  Set process_fault where a slow process change (fouling, pump wear) is
  /// the likelier reading.
  Cause cause_on_alarm = Cause::suspected_attack;
};

/// Response-model check: the input u (setpoint or command) drives a first-order-plus-dead-time
/// model at the fixed sample period Ts,
///
///     y_model[k+1] = a y_model[k] + K (1 - a) u[k - d],
///     a = exp(-Ts / tau),   d = round(theta / Ts)
///
/// (FirstOrderPlusDeadTime), and the measured process variable y is compared with it:
///
///     r = y - y_model - b,      z = r / noise_sigma   ->  Statistic (CUSUM by default)
///
/// Time: the model runs on its own grid of whole periods.  A scan at t advances it by
/// n = round((t - model time) / Ts) steps with the last input held (n = 0 for a scan that came
/// early: the PV is compared with the current model output), so scan jitter does not accumulate.
/// More than max_catch_up_samples periods is a gap: re-alignment, Status::gap, no test.
///
/// Bias b (optional, bias_time_constant_s > 0): an average of y - y_model,
///     b += alpha (y - y_model - b),   alpha = max(1 / (n + 1), dt / (tau_b + dt)),
/// n = number of bias updates so far: a running mean over the first scans (so an offset present
/// at start-up is learned within a few scans instead of hours), an exponential average with time
/// constant tau_b once n > tau_b / dt.  Updated only when the statistic is not in alarm (an
/// attacker cannot teach it the attack), so a constant calibration offset between the PV
/// transmitter and the model does not drive the CUSUM into a false alarm.  The price: a change
/// slower than the averaging time is absorbed, not detected (and during the warm-up the
/// averaging time is short: a drift beginning right at start-up is partly learned); keep tau_b
/// long and rely on the statistic for anything faster.  Without tracking, a known offset can be
/// given as initial_bias.
///
/// Decision: score / threshold / alarm / direction of the statistic, kind = command_response,
/// cause = params.cause_on_alarm when alarming.  refused_inputs: bit 0 input, bit 1 PV.
/// Bad input (missing, bad, non-finite, time going back / repeated) is refused, state unchanged:
/// the model is advanced on a copy and committed only when the statistic accepted z.  A residual
/// that overflows is refused (numerical_failure); if the PV was moderate the model is re-aligned
/// to the scan, as after a gap (values near the type's limit must not wedge the check).
/// Cost per scan: n model steps (n ~ 1) plus the statistic.  No heap.  sizeof with CUSUM and
/// MaxDelaySamples = 16: 224 bytes (float), 400 (double) -- the delay line dominates.
template <typename T, int MaxDelaySamples, typename Statistic = CusumDetector<T>>
class ResponseModelChecker {
 public:
  static constexpr const char* name = "response_model";
  static constexpr int input_command = 0;
  static constexpr int input_process_variable = 1;
  using Result = MultiInputDecision<T>;
  using Model = FirstOrderPlusDeadTime<T, MaxDelaySamples>;

  ResponseModelChecker(const ResponseModelParams<T>& params, const Statistic& statistic) noexcept
      : p_(params),
        model_(params.gain, params.time_constant_s, params.dead_time_s, params.sample_period_s),
        statistic_(statistic),
        period_(Duration::from_seconds(static_cast<double>(params.sample_period_s))) {
    PHYSGUARD_ASSERT(is_finite(params.noise_sigma) && params.noise_sigma > T(0),
                     "noise sigma must be > 0");
    PHYSGUARD_ASSERT(is_finite(params.bias_time_constant_s) && params.bias_time_constant_s >= T(0),
                     "bias time constant must be >= 0");
    PHYSGUARD_ASSERT(is_finite(params.initial_bias), "initial bias must be finite");
    PHYSGUARD_ASSERT(params.max_catch_up_samples >= 1, "max catch-up samples must be >= 1");
    PHYSGUARD_ASSERT(period_.us > 0, "sample period must be >= 1 us");
    bias_ = params.initial_bias;
  }

  Result update(const Sample<T>& input, const Sample<T>& process_variable) noexcept {
    detail::consistency::InputScreen<Result> scr;
    scr.check(input_command, input);
    scr.check(input_process_variable, process_variable);
    const Timestamp t = detail::consistency::later(input.time, process_variable.time);
    if (scr.any) {
      scr.result.time = t;
      return scr.result;
    }
    return update(t, input.value, process_variable.value);
  }

  /// One scan at time `t`: the input (setpoint / command) and the measured process variable.
  Result update(Timestamp t, T input, T process_variable) noexcept {
    std::uint32_t bad = 0;
    if (!is_finite(input)) bad |= 1u << input_command;
    if (!is_finite(process_variable)) bad |= 1u << input_process_variable;
    if (bad != 0) return detail::consistency::refused_value<Result>(Status::not_finite, t, bad);
    const Status ts = guard_.check(t);
    if (ts == Status::time_backwards || ts == Status::time_repeated)
      return detail::consistency::refused_time<Result>(ts, t);
    Result d;
    d.time = t;
    d.kind = FindingKind::command_response;
    d.threshold = threshold_of(statistic_, 0);
    if (!guard_.has_last()) {
      align(t, input, process_variable);
      d.status = Status::ok;
      return d;
    }
    // Whole periods since the model's grid point, rounded to nearest: (since + P/2) / P, written
    // without the addition, which overflows for a scan near the end of int64 time (found by fuzzing).
    const std::int64_t since = (t - model_time_).us;
    const std::int64_t n =
        since <= 0 ? 0
                   : since / period_.us + (since % period_.us >= period_.us - period_.us / 2 ? 1 : 0);
    if (n > p_.max_catch_up_samples) {
      align(t, input, process_variable);
      d.status = Status::gap;
      return d;
    }
    Model model = model_;
    for (std::int64_t i = 0; i < n; ++i) model.step(input_);
    const T raw = process_variable - model.output();
    const T residual = raw - bias_;
    const T z = residual / p_.noise_sigma;
    if (!is_finite(z)) {
      // When the PV itself is moderate the model is at fault (an extreme input in its delay line
      // or an extreme PV it was aligned to): it would overflow on every later scan too, so it is
      // re-aligned to this scan, the one exception to "state unchanged" (found by the
      // hostile-input test: one FLT_MAX input refused every later scan).
      if (is_finite(T(2) * process_variable / p_.noise_sigma)) align(t, input, process_variable);
      return detail::consistency::refused_value<Result>(Status::numerical_failure, t);
    }
    const Decision<T> s = statistic_.update(z);
    if (s.status != Status::ok) return detail::consistency::refused_value<Result>(s.status, t);
    // Commit.
    const T dt_s = detail::consistency::seconds<T>(t - guard_.last());
    model_ = model;
    model_time_ = model_time_ + period_ * n;
    if (p_.bias_time_constant_s > T(0) && !s.alarm) {
      const T ewma = dt_s / (p_.bias_time_constant_s + dt_s);
      const T mean = T(1) / static_cast<T>(bias_updates_ + 1);
      bias_ += (mean > ewma ? mean : ewma) * (raw - bias_);
      if (bias_updates_ < 0xffffffffu) ++bias_updates_;
    }
    input_ = input;
    residual_ = residual;
    guard_.accept(t);

    d.score = s.score;
    d.threshold = s.threshold;
    d.alarm = s.alarm;
    d.direction = s.direction;
    d.status = Status::ok;
    d.cause = s.alarm ? p_.cause_on_alarm : Cause::unknown;
    return d;
  }

  /// Resets the statistic and the bias (to initial_bias); the next scan re-aligns the model.
  void reset() noexcept {
    statistic_.reset();
    guard_.reset();
    bias_ = p_.initial_bias;
    bias_updates_ = 0;
    residual_ = T(0);
    input_ = T(0);
    model_time_ = Timestamp{};
  }

  /// Last residual y - y_model - b (PV units).
  T residual() const noexcept { return residual_; }
  T normalised_residual() const noexcept { return residual_ / p_.noise_sigma; }
  T model_output() const noexcept { return model_.output(); }
  /// Current offset estimate b (PV units).
  T bias() const noexcept { return bias_; }
  const Statistic& statistic() const noexcept { return statistic_; }
  const Model& model() const noexcept { return model_; }
  const ResponseModelParams<T>& params() const noexcept { return p_; }
  /// Time of the model's current grid point.
  Timestamp model_time() const noexcept { return model_time_; }
  bool initialised() const noexcept { return guard_.has_last(); }
  Timestamp last_time() const noexcept { return guard_.last(); }

 private:
  void align(Timestamp t, T input, T pv) noexcept {
    const T steady = p_.gain * input;
    const T diff = pv - bias_ - steady;
    const bool near = (diff < T(0) ? -diff : diff) <= T(3) * p_.noise_sigma;
    T y0 = p_.assume_steady_start || near ? steady : pv - bias_;
    if (!is_finite(y0)) y0 = pv;  // gain * input or pv - bias overflowed: never assert on data
    model_.reset(input, y0);
    input_ = input;
    residual_ = T(0);
    model_time_ = t;
    guard_.accept(t);
  }

  template <typename S>
  static auto threshold_of(const S& s, int) noexcept -> decltype(T(s.threshold())) {
    return T(s.threshold());
  }
  template <typename S>
  static T threshold_of(const S&, long) noexcept {
    return T(0);
  }

  ResponseModelParams<T> p_;
  Model model_;
  Statistic statistic_;
  Duration period_;
  TimeGuard guard_;
  Timestamp model_time_{};
  T input_ = T(0);
  T bias_ = T(0);
  T residual_ = T(0);
  std::uint32_t bias_updates_ = 0;
};

}  // namespace physguard
