// physguard/detect/invariant.hpp - a physical invariant over several signals (mass balance, ...).
#pragma once

#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <type_traits>
#include <utility>

#include "../detail/traits.hpp"
#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "decision.hpp"
#include "multi_input_decision.hpp"

namespace physguard {

/// What a stateful invariant functor returns: the residual, whether the samples were used, and
/// whether a residual could be formed yet.
///
/// `status`: ok or gap when the functor used the samples (and updated its own state); any other
/// status means it refused them and left its state exactly as it was.  `available` = false: the
/// samples were used but there is no residual yet (e.g. the first level sample of a derivative).
template <typename T>
struct InvariantResidual {
  T value = T(0);
  Status status = Status::ok;
  bool available = true;
};

namespace detail {
}  // namespace detail

/// Invariant check: a user-given relation over NSignals simultaneous samples that physics keeps at
/// zero, e.g. a mass balance inflow - outflow - area * dlevel/dt = 0, a pressure drop against a
/// flow through a known orifice, the sum of currents into a node.
///
///     score = |residual|,   alarm when score > tolerance for `persistence` consecutive updates.
///
/// `Functor` is called as f(const std::array<Sample<T>, NSignals>&) with samples that all passed
/// screen(), and returns either T (a stateless invariant: the residual) or InvariantResidual<T>
/// (stateful: derivatives, windows; it must leave its state unchanged when it returns a refusing
/// status).  The residual's unit is the tolerance's unit: return a normalised residual (residual /
/// its standard deviation) to set the tolerance in sigmas.  If the functor has reset(), reset()
/// calls it.  MassBalanceInvariant below is the worked example.
///
/// Cause (default suspected_attack, a constructor parameter): every signal is electrically fine,
/// yet together they violate physics; one of them is falsified.  A leak or a blocked line violates
/// a mass balance too: a plant that wants such findings labelled process_fault passes that.
///
/// Bad input: any sample refused by screen() refuses the update (status of the first, bit i of
/// refused_inputs for each refused input i), cause = sensor_fault, functor not called, state
/// unchanged.  A non-finite residual from a stateless functor is refused (numerical_failure).
/// time = the latest stamp of the samples.  Decision kind = plausibility.
template <typename T, int NSignals, typename Functor>
class InvariantCheck {
  static_assert(NSignals >= 1 && NSignals <= 32, "1..32 signals");

 public:
  static constexpr const char* name = "invariant";
  static constexpr int signals = NSignals;
  using Samples = std::array<Sample<T>, static_cast<std::size_t>(NSignals)>;

  /// `tolerance` > 0 in the residual's unit; `persistence` >= 1 consecutive exceedances.
  InvariantCheck(Functor invariant, T tolerance, int persistence = 1,
                 Cause cause = Cause::suspected_attack) noexcept
      : f_(std::move(invariant)), tolerance_(tolerance), persistence_(persistence), cause_(cause) {
    PHYSGUARD_ASSERT(is_finite(tolerance) && tolerance > T(0), "tolerance must be > 0");
    PHYSGUARD_ASSERT(persistence >= 1, "persistence must be >= 1");
  }

  MultiInputDecision<T> update(const Samples& s) noexcept {
    Timestamp t = s[0].time;
    Status first_bad = Status::ok;
    std::uint32_t bad = 0;
    for (int i = 0; i < NSignals; ++i) {
      const Sample<T>& x = s[static_cast<std::size_t>(i)];
      if (t < x.time) t = x.time;
      const Status st = screen(x);
      if (st != Status::ok) {
        if (first_bad == Status::ok) first_bad = st;
        bad |= 1u << static_cast<unsigned>(i);
      }
    }
    MultiInputDecision<T> d;
    if (bad != 0u) {
      static_cast<Decision<T>&>(d) = refused<T>(first_bad, t);
      d.refused_inputs = bad;
      return d;
    }
    InvariantResidual<T> r = evaluate(s);
    if (!is_used(r.status)) {
      static_cast<Decision<T>&>(d) = refused<T>(r.status, t);
      if (r.status == Status::time_backwards || r.status == Status::time_repeated)
        d.kind = FindingKind::timing;
      return d;
    }
    d.time = t;
    d.status = r.status;
    d.kind = FindingKind::plausibility;
    d.cause = cause_;
    d.threshold = tolerance_;
    if (!r.available) return d;
    residual_ = r.value;
    d.score = r.value < T(0) ? -r.value : r.value;
    d.direction = r.value > T(0) ? std::int8_t{1} : (r.value < T(0) ? std::int8_t{-1} : std::int8_t{0});
    if (d.score > tolerance_) {
      if (exceed_run_ < persistence_) ++exceed_run_;
    } else {
      exceed_run_ = 0;
    }
    d.alarm = exceed_run_ >= persistence_;
    return d;
  }

  void reset() noexcept {
    exceed_run_ = 0;
    residual_ = T(0);
    if constexpr (detail::has_reset<Functor>::value) f_.reset();
  }

  /// Signed residual of the last update that formed one.
  T residual() const noexcept { return residual_; }
  T tolerance() const noexcept { return tolerance_; }
  int exceed_run() const noexcept { return exceed_run_; }
  int persistence() const noexcept { return persistence_; }
  const Functor& invariant() const noexcept { return f_; }

 private:
  InvariantResidual<T> evaluate(const Samples& s) noexcept {
    using R = decltype(f_(s));
    if constexpr (std::is_same<std::decay_t<R>, InvariantResidual<T>>::value) {
      return f_(s);
    } else {
      static_assert(std::is_convertible<R, T>::value,
                    "the invariant returns T or InvariantResidual<T>");
      InvariantResidual<T> r;
      r.value = static_cast<T>(f_(s));
      if (!is_finite(r.value)) r.status = Status::numerical_failure;
      return r;
    }
  }

  Functor f_;
  T tolerance_;
  T residual_ = T(0);
  int persistence_;
  int exceed_run_ = 0;
  Cause cause_;
};

/// InvariantCheck with NSignals and the functor type deduced: make_invariant_check<T, N>(f, tol).
template <typename T, int NSignals, typename Functor>
InvariantCheck<T, NSignals, std::decay_t<Functor>> make_invariant_check(
    Functor&& invariant, T tolerance, int persistence = 1,
    Cause cause = Cause::suspected_attack) noexcept {
  return InvariantCheck<T, NSignals, std::decay_t<Functor>>(std::forward<Functor>(invariant),
                                                            tolerance, persistence, cause);
}

/// Mass balance of a tank with vertical walls (the worked example of an invariant):
///
///     r = (V_in - V_out - area_m2 * (L_k - L_{k-M})) / (t_k - t_{k-M})        [m^3/s]
///
/// over the last M = `Intervals` sampling intervals, with the net volume V_in - V_out integrated by
/// the trapezoidal rule from the flow samples, i.e. mean(inflow - outflow) - area * dlevel/dt.
/// In normal operation r is noise; a level that is falsified (a slow drift, a replayed level while
/// the pumps run), a flow meter that lies, or a leak make it biased.  Differentiating a noisy level
/// over one interval amplifies its noise by 1/dt: integrating over M intervals divides the level
/// term's noise by M and averages the flow noise, which is what makes a slow drift visible.
///
/// Signals (std::array index): level_m = 0 [m], inflow = 1 [m^3/s], outflow = 2 [m^3/s].
/// The level sample's time stamps the triple (the flows are read in the same scan).
///
/// Normalised mode (noise sigmas given): r is divided by its standard deviation under white
/// independent noise,
///     sigma_r^2 = (sigma_in^2 + sigma_out^2) * sum_j c_j^2 / T^2 + 2 area^2 sigma_level^2 / T^2
/// with T = t_k - t_{k-M} and c_j the trapezoid weight (seconds) of flow sample j (dt/2 at the
/// ends, dt inside), computed from the actual time stamps; the tolerance is then in sigmas
/// (e.g. 4.5).  Otherwise the tolerance is in m^3/s.
///
/// Time: a level time stamp going back or repeating is refused, state unchanged; a gap longer than
/// `max_gap` (if > 0) restarts the window (Status::gap): flows cannot be integrated across it.
/// A residual that overflows (values near the type's limit) is refused with numerical_failure and,
/// the one exception to "state unchanged", empties the window (the time is not accepted): an
/// extreme value already in the window would otherwise make every later sample overflow too.
/// The first M samples (and M after a gap) give no residual.  Cost O(M) per sample (the window is
/// re-summed, so no round-off accumulates); sizeof ~ (M + 1) * (2 sizeof(T) + 8) + 64 bytes.
template <typename T, int Intervals = 1>
class MassBalanceInvariant {
  static_assert(Intervals >= 1, "at least one interval");
  static constexpr int kSlots = Intervals + 1;

 public:
  static constexpr int level_m = 0;
  static constexpr int inflow = 1;
  static constexpr int outflow = 2;
  static constexpr int signals = 3;
  static constexpr int intervals = Intervals;

  /// Residual in m^3/s.  `area_m2` > 0 (cross-section of the tank).
  explicit MassBalanceInvariant(T area_m2, Duration max_gap = Duration{0}) noexcept
      : area_m2_(area_m2), guard_(max_gap) {
    PHYSGUARD_ASSERT(is_finite(area_m2) && area_m2 > T(0), "area must be > 0");
  }

  /// Residual normalised by its standard deviation from the flow noise sigmas [m^3/s] and the
  /// level noise sigma [m] (all >= 0, not all 0).
  MassBalanceInvariant(T area_m2, T inflow_sigma_m3_per_s, T outflow_sigma_m3_per_s,
                       T level_sigma_m, Duration max_gap = Duration{0}) noexcept
      : area_m2_(area_m2),
        flow_var_(inflow_sigma_m3_per_s * inflow_sigma_m3_per_s +
                  outflow_sigma_m3_per_s * outflow_sigma_m3_per_s),
        level_var_(level_sigma_m * level_sigma_m),
        normalised_(true),
        guard_(max_gap) {
    PHYSGUARD_ASSERT(is_finite(area_m2) && area_m2 > T(0), "area must be > 0");
    PHYSGUARD_ASSERT(is_finite(flow_var_) && is_finite(level_var_) && inflow_sigma_m3_per_s >= T(0)
                         && outflow_sigma_m3_per_s >= T(0) && level_sigma_m >= T(0) &&
                         flow_var_ + level_var_ > T(0),
                     "noise sigmas must be >= 0 and not all 0");
  }

  InvariantResidual<T> operator()(const std::array<Sample<T>, 3>& s) noexcept {
    InvariantResidual<T> r;
    const Timestamp t = s[level_m].time;
    const Status ts = guard_.check(t);
    if (ts == Status::time_backwards || ts == Status::time_repeated) {
      r.status = ts;
      r.available = false;
      return r;
    }
    // Kept to undo the update should the residual not be finite (state unchanged on refusal).
    const TimeGuard old_guard = guard_;
    const int old_head = head_;
    const int old_count = count_;
    const std::size_t slot0 = static_cast<std::size_t>(head_);
    const Timestamp old_time = times_[slot0];
    const T old_level = levels_[slot0];
    const T old_flow = net_flow_[slot0];
    if (ts == Status::gap) count_ = 0;
    guard_.accept(t);
    r.status = ts;
    times_[slot0] = t;
    levels_[slot0] = s[level_m].value;
    net_flow_[slot0] = s[inflow].value - s[outflow].value;
    if (++head_ == kSlots) head_ = 0;
    if (count_ < kSlots) ++count_;
    if (count_ < kSlots) {
      r.available = false;
      return r;
    }
    // head_ now points at the oldest slot; walk oldest -> newest.
    T volume = T(0);
    T weight_sq = T(0);  // sum of squared trapezoid weights of the flow samples [s^2]
    T carry = T(0);      // weight of the current flow sample from the interval before it
    int idx = head_;
    for (int i = 0; i < Intervals; ++i) {
      const int next = idx + 1 == kSlots ? 0 : idx + 1;
      const T dt = (times_[static_cast<std::size_t>(next)] - times_[static_cast<std::size_t>(idx)])
                       .template seconds<T>();
      volume += T(0.5) * dt *
                (net_flow_[static_cast<std::size_t>(idx)] + net_flow_[static_cast<std::size_t>(next)]);
      const T w = carry + T(0.5) * dt;
      weight_sq += w * w;
      carry = T(0.5) * dt;
      idx = next;
    }
    weight_sq += carry * carry;
    const std::size_t newest = static_cast<std::size_t>(idx);
    const std::size_t oldest = static_cast<std::size_t>(head_);
    const T span_s = (times_[newest] - times_[oldest]).template seconds<T>();
    const T dlevel = levels_[newest] - levels_[oldest];
    r.value = (volume - area_m2_ * dlevel) / span_s;
    if (normalised_) {
      const T var = (flow_var_ * weight_sq + T(2) * area_m2_ * area_m2_ * level_var_) /
                    (span_s * span_s);
      r.value /= std::sqrt(var);
    }
    if (!is_finite(r.value)) {
      guard_ = old_guard;
      head_ = old_head;
      count_ = old_count;
      times_[slot0] = old_time;
      levels_[slot0] = old_level;
      net_flow_[slot0] = old_flow;
      // The window cannot be combined with this sample: one side holds a value near the type's
      // limit.  Keeping the window would refuse every later sample against the same extreme
      // value (an accepted FLT_MAX level wedged the check for good, found by the hostile-input
      // test), so the window is emptied: the next M samples give no residual.
      count_ = 0;
      r.status = Status::numerical_failure;
      r.available = false;
    }
    return r;
  }

  void reset() noexcept {
    guard_.reset();
    head_ = 0;
    count_ = 0;
  }

  T area_m2() const noexcept { return area_m2_; }
  bool normalised() const noexcept { return normalised_; }

 private:
  std::array<Timestamp, kSlots> times_{};
  std::array<T, kSlots> levels_{};
  std::array<T, kSlots> net_flow_{};
  T area_m2_;
  T flow_var_ = T(0);
  T level_var_ = T(0);
  bool normalised_ = false;
  TimeGuard guard_;
  int head_ = 0;
  int count_ = 0;
};

/// InvariantCheck over a MassBalanceInvariant: signals {level_m, inflow, outflow}.
template <typename T, int Intervals = 1>
using MassBalanceCheck = InvariantCheck<T, 3, MassBalanceInvariant<T, Intervals>>;

}  // namespace physguard
