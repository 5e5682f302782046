// physguard/compose/estimator_sources.hpp - residual sources built on estimators' innovations.
#pragma once

#include <cmath>
#include <cstdint>

#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../estimate/innovation.hpp"
#include "../estimate/kalman_filter.hpp"
#include "../estimate/steady_state_kalman_filter.hpp"
#include "sources.hpp"

namespace physguard {

/// Which residual an estimator source emits.
enum class InnovationOutput : std::uint8_t {
  normalized = 0,  ///< y / sqrt(S) (scalar measurements only): ~N(0,1) for a consistent filter
  nis,             ///< y' S^-1 y: chi-square with dof degrees of freedom
};

namespace detail {
/// Residual of an innovation record; ok and rejected_by_gate records carry a valid y and S
/// (a measurement outside the gate is exactly what a detector must see), anything else is refused.
template <typename T, int Nz>
SourceResult<T> residual_of(const Innovation<T, Nz>& rec, Timestamp t, InnovationOutput out) noexcept {
  SourceResult<T> r;
  r.time = t;
  if (rec.status != Status::ok && rec.status != Status::rejected_by_gate) {
    r.status = rec.status;
    return r;
  }
  if constexpr (Nz == 1) {
    if (out == InnovationOutput::normalized) {
      r.value = rec.y(0) / std::sqrt(rec.S(0, 0));
    } else {
      r.value = rec.nis;
    }
  } else {
    (void)out;
    r.value = rec.nis;
  }
  if (!is_finite(r.value)) r.status = Status::numerical_failure;
  return r;
}
}  // namespace detail

/// Takes the Innovation record an estimator already produced (for example when the estimator is
/// shared by several detectors) and emits its normalised innovation (Nz == 1) or its NIS.
template <typename T, int Nz>
class InnovationSource {
 public:
  using input_type = Innovation<T, Nz>;
  using value_type = T;

  explicit InnovationSource(InnovationOutput output = Nz == 1 ? InnovationOutput::normalized
                                                              : InnovationOutput::nis) noexcept
      : output_(output) {
    PHYSGUARD_ASSERT(Nz == 1 || output == InnovationOutput::nis,
                     "normalised innovation needs a scalar measurement; use NIS");
  }

  SourceResult<T> update(const Innovation<T, Nz>& rec) const noexcept {
    return detail::residual_of(rec, rec.time, output_);
  }

  InnovationOutput output() const noexcept { return output_; }

 private:
  InnovationOutput output_;
};

/// A scalar-measurement linear filter in front of a statistic: per Sample it screens the value and
/// its time (a refused sample leaves the filter untouched), predicts one step (with the input set
/// by set_input()), fuses the measurement and emits y / sqrt(S) or the NIS.
///
/// While the pipeline reports an alarm (adapt == false) the filter predicts but does not fuse: it
/// coasts on its model instead of being dragged along by a falsified signal.  A measurement outside
/// the filter's gate is not fused either but still reported (status rejected_by_gate in the record).
/// No heap; sizeof is that of the filter plus a few words.
///
/// `FilterT` is any filter with one measurement and the KalmanFilter interface (predict(u),
/// update(z), evaluate(z), InputVector, MeasurementVector): KalmanInnovationSource and
/// SteadyStateInnovationSource below name the two linear ones.
template <typename FilterT>
class FilterInnovationSource {
 public:
  using Filter = FilterT;
  using T = typename Filter::Scalar;
  using input_type = Sample<T>;
  using value_type = T;
  using Record = Innovation<T, 1>;

  /// `max_gap`: samples arriving later than this after the previous one pass with Status::gap
  /// (0: no gap check).  Time going backwards or repeating is refused.
  explicit FilterInnovationSource(const Filter& filter,
                                  InnovationOutput output = InnovationOutput::normalized,
                                  Duration max_gap = Duration{0}) noexcept
      : filter_(filter), guard_(max_gap), output_(output), u_(Filter::InputVector::Zero()) {}

  SourceResult<T> update(const Sample<T>& s) { return update(s, true); }

  SourceResult<T> update(const Sample<T>& s, bool adapt) {
    SourceResult<T> r;
    r.time = s.time;
    r.status = screen(s);
    if (r.status != Status::ok) return r;
    const Status time_status = guard_.check(s.time);
    if (!is_used(time_status)) {
      r.status = time_status;
      return r;
    }
    // Work on a copy and commit only a usable result: a refused sample (an innovation that is
    // not finite, for instance) leaves the filter, its clock and last_innovation() untouched.
    Filter next = filter_;
    const Status predicted = next.predict(u_);
    if (predicted != Status::ok) {
      r.status = predicted;
      return r;
    }
    typename Filter::MeasurementVector z;
    z(0) = s.value;
    Record rec = adapt ? next.update(z) : next.evaluate(z);
    rec.time = s.time;
    r = detail::residual_of(rec, s.time, output_);
    if (r.status != Status::ok) return r;
    filter_ = next;
    guard_.accept(s.time);
    last_ = rec;
    if (time_status == Status::gap) r.status = Status::gap;
    return r;
  }

  /// Input used by the following predictions (control input of the model).
  void set_input(const typename Filter::InputVector& u) noexcept { u_ = u; }

  const Filter& filter() const noexcept { return filter_; }
  Filter& filter() noexcept { return filter_; }
  /// The innovation record of the last measurement that reached the filter.
  const Record& last_innovation() const noexcept { return last_; }
  InnovationOutput output() const noexcept { return output_; }

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW

 private:
  Filter filter_;
  TimeGuard guard_;
  InnovationOutput output_;
  typename Filter::InputVector u_;
  Record last_{};
};

/// FilterInnovationSource over the time-varying KalmanFilter<T, Nx, 1, Nu>.
template <typename T, int Nx, int Nu = 0>
class KalmanInnovationSource : public FilterInnovationSource<KalmanFilter<T, Nx, 1, Nu>> {
 public:
  using FilterInnovationSource<KalmanFilter<T, Nx, 1, Nu>>::FilterInnovationSource;
};

/// FilterInnovationSource over the constant-gain SteadyStateKalmanFilter<T, Nx, 1, Nu> (fixed
/// sample period: the gain is the DARE's).
template <typename T, int Nx, int Nu = 0>
class SteadyStateInnovationSource
    : public FilterInnovationSource<SteadyStateKalmanFilter<T, Nx, 1, Nu>> {
 public:
  using FilterInnovationSource<SteadyStateKalmanFilter<T, Nx, 1, Nu>>::FilterInnovationSource;
};

}  // namespace physguard
