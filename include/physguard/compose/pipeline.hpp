// physguard/compose/pipeline.hpp - residual source -> statistic -> decision -> alarm logic -> Finding.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

#include "../detail/traits.hpp"
#include "../core/finding.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detect/decision.hpp"
#include "alarm_logic.hpp"
#include "sources.hpp"

namespace physguard {

/// The optional Finding a pipeline produces per input (no std::optional needed on firmware).
template <typename T>
struct FindingOut {
  bool has = false;
  Finding<T> finding{};

  explicit constexpr operator bool() const noexcept { return has; }
};

/// Options of a Pipeline that concern the statistic (the alarm logic has AlarmConfig).
struct PipelineOptions {
  /// On acknowledge(), reset the statistic's accumulated sum: calls `reset_statistic()` when the
  /// statistic has one (Page-Hinkley: keeps the learned baseline), else `reset()`.  Meant for
  /// accumulating statistics (CUSUM, EWMA with AfterAlarm::keep_accumulating) whose sum would
  /// otherwise take long to decay after the change is gone.  Off by default: a plain reset() may
  /// also forget a learned baseline.
  bool reset_statistic_on_acknowledge = false;
  /// Cause written into findings whose statistic does not know one (a residual statistic cannot
  /// tell a falsified sensor from a leak).  The integrator who knows the plant may say, e.g.,
  /// suspected_attack for a residual between two independent measurements.  Refused inputs keep
  /// their own cause (sensor_fault, ...).
  Cause alarm_cause = Cause::unknown;
};

namespace detail {

/// Converts to bool and to nothing else: detects `update(x, bool adapt)` without matching
/// `update(x, int dof)` (WindowedChiSquareDetector) by accident.
struct ExactBool {
  template <typename U, typename = std::enable_if_t<std::is_same<U, bool>::value>>
  operator U() const noexcept {
    return true;
  }
};

template <typename Box, typename X, typename = void>
struct takes_adapt_flag : std::false_type {};
template <typename Box, typename X>
struct takes_adapt_flag<Box, X,
                        std::void_t<decltype(std::declval<Box&>().update(std::declval<const X&>(),
                                                                         ExactBool{}))>>
    : std::true_type {};

template <typename Box, typename X>
decltype(auto) update_maybe_adapt(Box& box, const X& x, bool adapt) {
  if constexpr (takes_adapt_flag<Box, X>::value) {
    return box.update(x, adapt);
  } else {
    (void)adapt;
    return box.update(x);
  }
}

template <typename D>
struct decision_scalar {
  // Decision<T> or any record derived from it (MultiInputDecision, SetpointDecision, ...).
  using type = std::decay_t<decltype(std::declval<const D&>().score)>;
  static_assert(std::is_base_of<Decision<type>, D>::value,
                "a statistic's update() must return Decision<T> or a type derived from it");
};

template <typename S, typename = void>
struct has_reset_statistic : std::false_type {};
template <typename S>
struct has_reset_statistic<S, std::void_t<decltype(std::declval<S&>().reset_statistic())>>
    : std::true_type {};
}  // namespace detail

/// True when Box::update(const X&, bool adapt) exists (an adaptive statistic or source).
template <typename Box, typename X>
constexpr bool takes_adapt_flag_v = detail::takes_adapt_flag<Box, X>::value;

/// A detector: residual source -> statistic -> alarm logic, composed statically (no virtual call,
/// no heap; sizeof = sizeof(Source) + sizeof(Statistic) + sizeof(AlarmLogic) + a Decision).
///
/// Per input: the source maps it to the statistic's input (or refuses it); the statistic is
/// called with `update(x, adapt)` when it takes an adapt flag, where adapt = !alarm.in_alarm()
/// (a detector stops learning its baseline while it is in alarm, so an attacker cannot teach it
/// the attack), else with `update(x)`; the decision's time is set from the source; the alarm logic
/// says whether a Finding is due.  A refused input leaves the statistic untouched (it is not even
/// called when the source refused it or its time lies before the last accepted one) and yields a
/// bad_input finding.
///
/// Requirements: Source as in sources.hpp; Statistic has `static constexpr const char* name` and
/// `Decision<T> update(const Source::value_type&)` (optionally with a trailing `bool adapt`).
template <typename Source, typename Statistic>
class Pipeline {
 public:
  using source_type = Source;
  using statistic_type = Statistic;
  using input_type = typename Source::input_type;
  using value_type = typename Source::value_type;
  using decision_type = std::decay_t<decltype(detail::update_maybe_adapt(
      std::declval<Statistic&>(), std::declval<const value_type&>(), true))>;
  using Scalar = typename detail::decision_scalar<decision_type>::type;
  using Finding = physguard::Finding<Scalar>;
  using Out = FindingOut<Scalar>;

  static constexpr const char* name = Statistic::name;
  static constexpr bool adaptive_statistic = takes_adapt_flag_v<Statistic, value_type>;
  static constexpr bool adaptive_source = takes_adapt_flag_v<Source, input_type>;

  Pipeline(Source source, Statistic statistic,
           const AlarmConfig<Scalar>& alarm = AlarmConfig<Scalar>{}, std::uint16_t channel = 0,
           PipelineOptions options = PipelineOptions{}) noexcept(
      std::is_nothrow_move_constructible<Source>::value &&
      std::is_nothrow_move_constructible<Statistic>::value)
      : source_(std::move(source)),
        statistic_(std::move(statistic)),
        alarm_(alarm),
        options_(options),
        channel_(channel) {}

  /// One input.  Returns a Finding when the alarm state changed or the input was refused.
  Out update(const input_type& in) {
    const bool adapt = !alarm_.in_alarm();
    const SourceResult<value_type> r = detail::update_maybe_adapt(source_, in, adapt);
    decision_type d;
    if (is_used(r.status) && !alarm_.accepts_time(r.time)) {
      // Time going backwards: refused before the statistic sees the value, so a replayed old
      // sample cannot move its sum (the finding is the one the alarm logic used to give).
      static_cast<Decision<Scalar>&>(d) = refused<Scalar>(Status::time_backwards, r.time);
      d.cause = Cause::unknown;
    } else if (is_used(r.status)) {
      d = detail::update_maybe_adapt(statistic_, r.value, adapt);
      d.time = r.time;
      if (d.status == Status::ok && r.status == Status::gap) d.status = Status::gap;
    } else {
      // Keep the derived record's own fields default; the common part says why it was refused.
      static_cast<Decision<Scalar>&>(d) = refused<Scalar>(r.status, r.time);
    }
    last_ = d;
    return emit(d, alarm_.update(d));
  }

  /// Operator acknowledgement (see AlarmLogic::acknowledge).  Returns a Finding when a latched
  /// alarm is released by it.
  Out acknowledge(Timestamp t) {
    const bool was_alarm = alarm_.state() == AlarmState::alarm;
    if (was_alarm && options_.reset_statistic_on_acknowledge) {
      if constexpr (detail::has_reset_statistic<Statistic>::value) {
        statistic_.reset_statistic();
      } else if constexpr (detail::has_reset<Statistic>::value) {
        statistic_.reset();
      }
    }
    decision_type d = last_;
    d.time = t;
    return emit(d, alarm_.acknowledge(t));
  }

  /// Sets the channel and the detector index written into findings (a Monitor does this).
  void bind(std::uint16_t channel, std::uint16_t detector_id = 0) noexcept {
    channel_ = channel;
    detector_id_ = detector_id;
  }

  std::uint16_t channel() const noexcept { return channel_; }
  std::uint16_t detector_id() const noexcept { return detector_id_; }
  AlarmState state() const noexcept { return alarm_.state(); }
  bool in_alarm() const noexcept { return alarm_.in_alarm(); }
  /// The last decision (time, score, threshold, status) of the statistic.
  const decision_type& last_decision() const noexcept { return last_; }
  const Source& source() const noexcept { return source_; }
  Source& source() noexcept { return source_; }
  const Statistic& statistic() const noexcept { return statistic_; }
  Statistic& statistic() noexcept { return statistic_; }
  const AlarmLogic<Scalar>& alarm() const noexcept { return alarm_; }
  AlarmLogic<Scalar>& alarm() noexcept { return alarm_; }
  const PipelineOptions& options() const noexcept { return options_; }

 private:
  Out emit(const decision_type& d, const AlarmOutput& o) const noexcept {
    Out out;
    if (!o.changed) return out;
    out.has = true;
    out.finding = d.to_finding(channel_, name, o.state, detector_id_);
    out.finding.status = o.status;
    out.finding.kind = is_used(o.status) ? d.kind : FindingKind::bad_input;
    if (is_used(o.status) && out.finding.cause == Cause::unknown)
      out.finding.cause = options_.alarm_cause;
    if (!is_used(o.status) && d.status != o.status) {
      // refused by the alarm logic itself (time going backwards): say so
      out.finding.cause = Cause::unknown;
    }
    return out;
  }

  Source source_;
  Statistic statistic_;
  AlarmLogic<Scalar> alarm_;
  decision_type last_{};
  PipelineOptions options_;
  std::uint16_t channel_ = 0;
  std::uint16_t detector_id_ = 0;
};

/// Builds a Pipeline with deduced types.
template <typename Source, typename Statistic, typename T>
Pipeline<Source, Statistic> make_pipeline(Source source, Statistic statistic,
                                          const AlarmConfig<T>& alarm, std::uint16_t channel = 0,
                                          PipelineOptions options = PipelineOptions{}) {
  return Pipeline<Source, Statistic>(std::move(source), std::move(statistic), alarm, channel,
                                     options);
}

}  // namespace physguard
