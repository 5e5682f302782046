// physguard/estimate/timed_filter.hpp - Kalman filter on timestamped samples: variable time step,
// time going backwards or repeating, gaps.
#pragma once

#include <cstdint>
#include <type_traits>

#include <Eigen/Core>

#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detail/kalman_update.hpp"
#include "../signal/state_space.hpp"
#include "innovation.hpp"
#include "kalman_filter.hpp"
#include "options.hpp"

namespace physguard {

/// What TimedKalmanFilter does when a sample arrives more than `max_gap` after the previous one.
enum class GapPolicy : std::uint8_t {
  /// Predict across the whole gap with model(dt) and process_noise(dt): the covariance grows as
  /// the process model says (exact for a correct linear time-invariant process).
  inflate,
  /// Keep the state estimate as it was, reset the covariance to the initial P0 and fuse the new
  /// sample: for models not to be trusted over long horizons (drifting plants, stopped pumps).
  reinitialise,
};

/// Options of TimedKalmanFilter, on top of the estimator options.
struct TimedFilterOptions {
  /// Gap detection: a sample more than this after the previous accepted one is handled by
  /// `gap_policy` and reported as Status::gap.  Zero (the default) disables gap handling.
  Duration max_gap{0};
  GapPolicy gap_policy = GapPolicy::inflate;
};

/// Kalman filter driven by timestamped samples, for irregular sampling and time faults.
///
/// `Process` is a "discretisable process": a type with
///
///     using Scalar = T;
///     static constexpr int state_dim, input_dim, output_dim;
///     LinearStateSpace<T, state_dim, input_dim, output_dim> model(T dt_s) const;
///     Eigen::Matrix<T, state_dim, state_dim> process_noise(T dt_s) const;
///
/// (signal/ provides such processes).  `model(0)` must be valid: it is called once at construction
/// to obtain C and D, which must not depend on dt (A and B and the process noise may).
///
/// `step(t, z, u)` checks t with a TimeGuard, predicts over dt = t - t_prev (computed from the
/// integer microsecond timestamps; dt_s = us / 1e6, correctly rounded for |us| < 2^24 in float and
/// < 2^53 in double) with model(dt) and process_noise(dt), holding u over the interval (zero-order
/// hold), then fuses z.  The returned Innovation carries `time` = t.
///
/// - The first step has no previous time: (x0, P0) is taken as the prior AT that sample, which is
///   fused without a prediction.  Use the constructor with t0 to date the prior instead.
/// - t earlier than / equal to the previous accepted time: Status::time_backwards /
///   Status::time_repeated; nothing changes (state, covariance and time are bit-identical).
/// - A NaN or infinite present measurement component or input: Status::not_finite; nothing changes
///   and the time is not accepted, so the next sample predicts over the whole interval.
/// - A prediction the filter refuses (the Process's model(dt) or process_noise(dt) not finite, or
///   a negative variance in process_noise(dt): not_finite / invalid_argument; an overflow:
///   numerical_failure): that status, nothing changes, the time is not accepted.  The library's
///   processes never give a negative variance; a user Process must not either, or every later
///   sample is refused the same way until it is fixed.
/// - Gap (dt > max_gap): handled by the GapPolicy, then z is fused; the record says Status::gap
///   when it was fused.  If the measurement after a gap is not fused (gate, missing) the record
///   gives that reason and `gap_count()` still counts the gap.
/// - Empty mask: a pure prediction to t (Status::missing, time accepted).  Gate rejection: the
///   prediction to t stands, the measurement is not fused (Status::rejected_by_gate).
/// - No heap; the object is a plain value.
template <typename Process, int Nz = Process::output_dim>
class TimedKalmanFilter {
  static_assert(Nz == Process::output_dim,
                "the measurement dimension is the process's output_dim");

 public:
  using Scalar = typename Process::Scalar;
  using T = Scalar;
  static constexpr int state_dim = Process::state_dim;
  static constexpr int measurement_dim = Nz;
  static constexpr int input_dim = Process::input_dim;
  using Filter = KalmanFilter<T, state_dim, Nz, input_dim>;
  using Model = typename Filter::Model;
  using StateVector = typename Filter::StateVector;
  using StateMatrix = typename Filter::StateMatrix;
  using InputVector = typename Filter::InputVector;
  using InputMatrix = typename Filter::InputMatrix;
  using MeasurementVector = typename Filter::MeasurementVector;
  using MeasurementCovariance = typename Filter::MeasurementCovariance;
  using Record = Innovation<T, Nz>;
  using Options = EstimatorOptions<T>;

  static_assert(std::is_same<decltype(std::declval<const Process&>().model(T(0))), Model>::value,
                "Process::model(dt_s) must return LinearStateSpace<T, state_dim, input_dim, "
                "output_dim>");
  static_assert(std::is_same<decltype(std::declval<const Process&>().process_noise(T(0))),
                             StateMatrix>::value,
                "Process::process_noise(dt_s) must return Eigen::Matrix<T, state_dim, state_dim>");

  /// (x0, P0) is the prior at the first sample's time.
  TimedKalmanFilter(const Process& process, const MeasurementCovariance& R, const StateVector& x0,
                    const StateMatrix& P0, const TimedFilterOptions& timing = TimedFilterOptions{},
                    const Options& options = Options{})
      : process_(process),
        kf_(process.model(T(0)), StateMatrix::Zero(), R, x0, P0, options),
        P0_(kf_.covariance()),
        guard_(timing.max_gap.us > 0 ? timing.max_gap : Duration{0}),
        timing_(timing) {}

  /// (x0, P0) is the prior at time t0: the first sample predicts from t0.
  TimedKalmanFilter(const Process& process, const MeasurementCovariance& R, Timestamp t0,
                    const StateVector& x0, const StateMatrix& P0,
                    const TimedFilterOptions& timing = TimedFilterOptions{},
                    const Options& options = Options{})
      : TimedKalmanFilter(process, R, x0, P0, timing, options) {
    guard_.accept(t0);
  }

  /// Predict to t and fuse the full measurement z (input u held since the previous sample).
  Record step(Timestamp t, const MeasurementVector& z,
              const InputVector& u = InputVector::Zero()) {
    return step(t, z, all_present(Nz), u);
  }

  /// Predict to t and fuse the components of z whose bit is set in `mask` (0: predict only).
  Record step(Timestamp t, const MeasurementVector& z, MeasurementMask mask,
              const InputVector& u = InputVector::Zero()) {
    Record rec;
    rec.time = t;
    const Status time_status = guard_.check(t);
    if (time_status == Status::time_backwards || time_status == Status::time_repeated) {
      rec.status = time_status;
      return rec;
    }
    if (!detail::present_finite(z, mask) || !all_finite(u)) {
      rec.status = Status::not_finite;
      return rec;
    }
    const bool gap = time_status == Status::gap;
    // Predict and update a copy; commit it (and the time) only when the sample is usable, so a
    // refused sample leaves the filter exactly as it was.
    Filter next = kf_;
    if (guard_.has_last()) {
      const T dt_s = to_seconds(guard_.elapsed(t));
      if (gap && timing_.gap_policy == GapPolicy::reinitialise) {
        (void)next.reset(next.state(), P0_);
        hold_input(next, u);
      } else {
        const Model m = process_.model(dt_s);
        const StateMatrix Q = process_.process_noise(dt_s);
        const Status ps = next.predict(u, m.A, m.B, Q);
        if (ps != Status::ok) {  // nothing changed: the time is not accepted either
          rec.status = ps;
          return rec;
        }
      }
    } else {
      hold_input(next, u);  // first sample: no interval to predict over
    }
    const Record upd = next.update(z, mask);
    if (upd.status == Status::not_finite || upd.status == Status::numerical_failure ||
        upd.status == Status::not_positive_definite) {
      rec.status = upd.status;
      return rec;
    }
    kf_ = next;
    guard_.accept(t);
    if (gap) ++gap_count_;
    rec.y = upd.y;
    rec.S = upd.S;
    rec.nis = upd.nis;
    rec.gate = upd.gate;
    rec.test_ratio = upd.test_ratio;
    rec.dof = upd.dof;
    rec.accepted = upd.accepted;
    rec.status = (gap && upd.accepted) ? Status::gap : upd.status;
    return rec;
  }

  /// Forget the time reference and restart from (x0, P0), taken as the prior at the next sample.
  /// Non-finite x0 or P0 is refused with not_finite, a negative variance in P0 with
  /// invalid_argument; nothing changes.
  Status reset(const StateVector& x0, const StateMatrix& P0) {
    const Status s = kf_.reset(x0, P0);
    if (s == Status::ok) guard_.reset();
    return s;
  }
  /// Restart from (x0, P0) as the prior at time t0.
  Status reset(Timestamp t0, const StateVector& x0, const StateMatrix& P0) {
    const Status s = reset(x0, P0);
    if (s == Status::ok) guard_.accept(t0);
    return s;
  }

  const StateVector& state() const noexcept { return kf_.state(); }
  const StateMatrix& covariance() const noexcept { return kf_.covariance(); }
  /// The wrapped fixed-model filter (its model is model(dt) of the last prediction).
  const Filter& filter() const noexcept { return kf_; }
  const Process& process() const noexcept { return process_; }
  const TimedFilterOptions& timing() const noexcept { return timing_; }
  /// Time of the last accepted sample (valid when has_time()).
  Timestamp last_time() const noexcept { return guard_.last(); }
  bool has_time() const noexcept { return guard_.has_last(); }
  /// Number of gaps handled by the gap policy since construction.
  std::uint32_t gap_count() const noexcept { return gap_count_; }

  /// dt in seconds from an exact integer duration: one correctly rounded division.
  static T to_seconds(Duration d) noexcept { return static_cast<T>(d.us) / T(1e6); }

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW

 private:
  // Zero-length prediction (A = I, B = 0, Q = 0): leaves x and P exactly as they are and makes u
  // the input whose feedthrough D u enters the next innovation.
  static void hold_input(Filter& f, const InputVector& u) {
    (void)f.predict(u, StateMatrix::Identity(), InputMatrix::Zero(), StateMatrix::Zero());
  }

  Process process_;
  Filter kf_;
  StateMatrix P0_;
  TimeGuard guard_;
  TimedFilterOptions timing_;
  std::uint32_t gap_count_ = 0;
};

}  // namespace physguard
