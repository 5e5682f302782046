// physguard/consistency/setpoint_envelope.hpp - commanded setpoints against absolute limits, a rate
// limit and the ratio to the operator's usual value (the Oldsmar case).
#pragma once

#include <cstdint>
#include <limits>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detect/decision.hpp"
#include "../detect/multi_input_decision.hpp"
#include "detail/inputs.hpp"

namespace physguard {

/// The criteria of a SetpointEnvelope, as bits of SetpointDecision::violations.
enum class SetpointCriterion : std::uint8_t {
  limits = 1,  ///< outside [min_setpoint, max_setpoint]
  rate = 2,    ///< changed faster than the rate budget allows
  ratio = 4,   ///< too far (as a ratio) from the operator baseline
};

constexpr const char* to_string(SetpointCriterion c) noexcept {
  switch (c) {
    case SetpointCriterion::limits: return "limits";
    case SetpointCriterion::rate: return "rate";
    case SetpointCriterion::ratio: return "ratio";
  }
  return "unknown";
}

/// Parameters of a SetpointEnvelope (setpoint unit: ppm, m, degC, ...; times in seconds).
template <typename T>
struct SetpointEnvelopeParams {
  T min_setpoint = T(0);  ///< absolute lower limit (setpoint unit)
  T max_setpoint = T(1);  ///< absolute upper limit (setpoint unit), > min_setpoint
  /// Sustained rate limit, setpoint units per second; 0 switches the rate criterion off.
  T max_rate_per_s = T(0);
  /// Largest change allowed at once (setpoint units, >= 0): an operator types a new value, the
  /// setpoint steps.  The allowance refills at max_rate_per_s up to max_step.  0: a plain rate
  /// check |change| / dt <= max_rate_per_s.
  T max_step = T(0);
  /// Largest ratio max(sp, b) / min(sp, b) to the baseline b (> 1); 0 switches it off.  For
  /// positive quantities (concentrations, flows, absolute pressures).
  T max_ratio = T(0);
  /// Operator baseline (> 0) to start from; 0: the first setpoint inside the limits and above
  /// ratio_floor.  Configure it where the monitor may start while an attack is already running:
  /// a learned baseline trusts the first value it sees.
  T baseline = T(0);
  /// Time constant of the baseline learner, seconds; 0: the baseline is fixed.
  /// Use hours to days: a ramp slower than this is followed by the baseline.
  T baseline_time_constant_s = T(0);
  /// Denominator floor of the ratio (setpoint units, > 0): a setpoint <= 0 against a positive
  /// baseline gives ratio baseline / ratio_floor.
  T ratio_floor = T(1e-6);
};

/// The Decision of a SetpointEnvelope plus which criteria it violated and each criterion's score
/// (threshold 1 for all; 0 when the criterion is off or not yet applicable).
template <typename T>
struct SetpointDecision : MultiInputDecision<T> {
  std::uint8_t violations = 0;  ///< bits of SetpointCriterion
  T limit_score = T(0);
  T rate_score = T(0);
  T ratio_score = T(0);

  constexpr bool violated(SetpointCriterion c) const noexcept {
    return (violations & static_cast<std::uint8_t>(c)) != 0;
  }
};

/// Setpoint envelope: every commanded setpoint sp (from the HMI, SCADA or a historian tag) is
/// checked against three criteria, each scored with threshold 1:
///
///   limits  score = 1 + max(sp - max, min - sp) / (max - min)           (> 1 outside [min, max])
///   rate    score = |sp - sp_prev| / A,  A = min(cap, A_prev + r dt),   cap = max(max_step, r dt)
///           (a token budget: steps up to max_step at once, sustained change at most r per second;
///           with max_step = 0 this is |change| / (r dt), a plain rate check).  The change spends
///           the budget.
///   ratio   score = (max(sp, b) / min(sp, b)) / max_ratio,   min floored at ratio_floor
///
/// The baseline b is configured, or the first setpoint inside the limits, and optionally learned
/// as an exponential average b += alpha (sp - b), alpha = dt / (tau_b + dt) -- but only while no
/// criterion alarms, so an attacker's value never becomes "normal".  After an alarm the
/// baseline stays where it was until the setpoint comes back or the operator calls
/// set_baseline() (a legitimate new operating point) or reset().
///
/// The Oldsmar case (2021): sodium hydroxide 100 ppm -> 11,100 ppm trips all three criteria at
/// once (above any sane max, a 11,000 ppm step against a budget of a few ppm, ratio 111).
///
/// Decision: score = the largest criterion score, threshold 1, alarm = any criterion > 1,
/// kind = setpoint, cause = suspected_attack (the value is electrically fine but operationally
/// absurd: a remote intruder or a grave operator error -- the finding asks a human either way),
/// direction = sign(sp - baseline) (sign of the change before a baseline exists).
/// Missing / bad / non-finite setpoints and times going back or repeating are refused, state
/// unchanged.  sizeof == 72 bytes (float), 120 (double); O(1) per sample.
template <typename T>
class SetpointEnvelope {
 public:
  static constexpr const char* name = "setpoint_envelope";
  using Result = SetpointDecision<T>;

  explicit SetpointEnvelope(const SetpointEnvelopeParams<T>& params) noexcept
      : p_(params), baseline_(params.baseline) {
    PHYSGUARD_ASSERT(is_finite(params.min_setpoint) && is_finite(params.max_setpoint) &&
                         params.min_setpoint < params.max_setpoint,
                     "setpoint limits need min < max");
    PHYSGUARD_ASSERT(is_finite(params.max_rate_per_s) && params.max_rate_per_s >= T(0),
                     "max rate must be >= 0");
    PHYSGUARD_ASSERT(is_finite(params.max_step) && params.max_step >= T(0),
                     "max step must be >= 0");
    PHYSGUARD_ASSERT(
        is_finite(params.max_ratio) && (params.max_ratio == T(0) || params.max_ratio > T(1)),
        "max ratio must be 0 (off) or > 1");
    PHYSGUARD_ASSERT(is_finite(params.baseline) && params.baseline >= T(0),
                     "baseline must be >= 0");
    PHYSGUARD_ASSERT(
        is_finite(params.baseline_time_constant_s) && params.baseline_time_constant_s >= T(0),
        "baseline time constant must be >= 0");
    PHYSGUARD_ASSERT(is_finite(params.ratio_floor) && params.ratio_floor > T(0),
                     "ratio floor must be > 0");
    has_baseline_ = params.baseline > T(0);
  }

  Result update(const Sample<T>& setpoint) noexcept {
    const Status st = screen(setpoint);
    if (st != Status::ok) return detail::consistency::refused_value<Result>(st, setpoint.time, 1u);
    return update(setpoint.time, setpoint.value);
  }

  /// One commanded setpoint at time `t`.
  Result update(Timestamp t, T setpoint) noexcept {
    if (!is_finite(setpoint))
      return detail::consistency::refused_value<Result>(Status::not_finite, t, 1u);
    const Status ts = guard_.check(t);
    if (ts == Status::time_backwards || ts == Status::time_repeated)
      return detail::consistency::refused_time<Result>(ts, t);
    Result d;
    d.time = t;
    d.kind = FindingKind::setpoint;
    d.threshold = T(1);
    d.status = Status::ok;

    // Limits.
    const T span = p_.max_setpoint - p_.min_setpoint;
    const T above = setpoint - p_.max_setpoint;
    const T below = p_.min_setpoint - setpoint;
    d.limit_score = T(1) + (above > below ? above : below) / span;

    // Rate (token budget).
    T budget = budget_;
    T dt_s = T(0);
    if (guard_.has_last()) {
      dt_s = detail::consistency::seconds<T>(t - guard_.last());
      if (p_.max_rate_per_s > T(0)) {
        const T refill = p_.max_rate_per_s * dt_s;
        const T cap = p_.max_step > refill ? p_.max_step : refill;
        budget = budget + refill;
        if (budget > cap) budget = cap;
        const T change = setpoint - last_setpoint_;
        const T magnitude = change < T(0) ? -change : change;
        d.rate_score = budget > T(0) ? magnitude / budget
                                     : (magnitude > T(0) ? std::numeric_limits<T>::max() : T(0));
        budget = magnitude < budget ? budget - magnitude : T(0);
      }
    }

    // Ratio to the baseline.
    if (p_.max_ratio > T(0) && has_baseline_) d.ratio_score = ratio(setpoint) / p_.max_ratio;

    if (d.limit_score > T(1)) d.violations |= static_cast<std::uint8_t>(SetpointCriterion::limits);
    if (d.rate_score > T(1)) d.violations |= static_cast<std::uint8_t>(SetpointCriterion::rate);
    if (d.ratio_score > T(1)) d.violations |= static_cast<std::uint8_t>(SetpointCriterion::ratio);
    d.alarm = d.violations != 0;
    d.score = d.limit_score;
    if (d.rate_score > d.score) d.score = d.rate_score;
    if (d.ratio_score > d.score) d.score = d.ratio_score;
    if (d.alarm) d.cause = Cause::suspected_attack;
    const T reference = has_baseline_ ? baseline_ : (guard_.has_last() ? last_setpoint_ : setpoint);
    d.direction = setpoint > reference ? std::int8_t{1}
                                       : (setpoint < reference ? std::int8_t{-1} : std::int8_t{0});

    // Commit: baseline (initialise or learn, frozen while in alarm), budget, reference.
    if (!d.alarm) {
      if (!has_baseline_) {
        // Learn from the first setpoint above ratio_floor: a zero setpoint (pump off, dosing
        // stopped) would make every later ratio huge and freeze the baseline at 0.
        if (setpoint > p_.ratio_floor) {
          baseline_ = setpoint;
          has_baseline_ = true;
        }
      } else if (p_.baseline_time_constant_s > T(0) && dt_s > T(0)) {
        baseline_ += dt_s / (p_.baseline_time_constant_s + dt_s) * (setpoint - baseline_);
      }
    }
    budget_ = budget;
    last_setpoint_ = setpoint;
    guard_.accept(t);
    return d;
  }

  /// Back to the configured state: baseline as configured (or none), full rate budget, no
  /// reference setpoint.
  void reset() noexcept {
    guard_.reset();
    baseline_ = p_.baseline;
    has_baseline_ = p_.baseline > T(0);
    budget_ = p_.max_step;
    last_setpoint_ = T(0);
  }

  /// The operator confirms a new operating point: the baseline becomes `baseline` (> 0).
  void set_baseline(T baseline) noexcept {
    PHYSGUARD_ASSERT(is_finite(baseline) && baseline > T(0), "baseline must be > 0");
    baseline_ = baseline;
    has_baseline_ = true;
  }

  T baseline() const noexcept { return baseline_; }
  bool has_baseline() const noexcept { return has_baseline_; }
  /// Remaining change allowance of the rate criterion (setpoint units).
  T rate_budget() const noexcept { return budget_; }
  T last_setpoint() const noexcept { return last_setpoint_; }
  const SetpointEnvelopeParams<T>& params() const noexcept { return p_; }
  Timestamp last_time() const noexcept { return guard_.last(); }

 private:
  T ratio(T sp) const noexcept {
    const T hi = sp > baseline_ ? sp : baseline_;
    T lo = sp > baseline_ ? baseline_ : sp;
    if (lo < p_.ratio_floor) lo = p_.ratio_floor;
    return hi / lo;
  }

  SetpointEnvelopeParams<T> p_;
  TimeGuard guard_;
  T baseline_;
  T budget_ = p_.max_step;
  T last_setpoint_ = T(0);
  bool has_baseline_ = false;
};

}  // namespace physguard
