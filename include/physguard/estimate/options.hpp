// physguard/estimate/options.hpp - options shared by the Kalman-type estimators.
#pragma once

#include "../core/statistics.hpp"

namespace physguard {

/// Options of every Kalman-type estimator.
template <typename T>
struct EstimatorOptions {
  /// Probability mass inside the innovation gate under a correct model.  The gate on the NIS for
  /// m measured components is the chi-square quantile of this probability with m degrees of freedom
  /// (1 - 1e-6 gives about 4.9 sigma for a scalar measurement).
  double gate_probability = 1.0 - 1e-6;
  /// Reject (do not fuse) measurements whose NIS lies outside the gate.  Rejecting keeps a falsified
  /// measurement from dragging the state along; the record still reports y, S, NIS and test ratio.
  bool reject_outside_gate = true;
  /// Lower bound applied to each diagonal element of P after every step.
  T variance_floor = T(1e-12);
};

namespace detail {

/// NIS gates for 1..Nz present components, computed once at construction.
template <typename T, int Nz>
struct NisGates {
  T values[Nz] = {};
  T inverses[Nz] = {};

  NisGates() = default;
  explicit NisGates(double gate_probability) {
    for (int m = 1; m <= Nz; ++m) {
      const double g = stats::chi_square_quantile(gate_probability, static_cast<double>(m));
      values[m - 1] = static_cast<T>(g);
      inverses[m - 1] = static_cast<T>(1.0 / g);
    }
  }
  /// Gate on the NIS when `dof` components (1..Nz) are present.
  T for_dof(int dof) const noexcept { return values[dof - 1]; }
  /// 1 / gate, so the per-sample test ratio is a multiplication.
  T inverse_for_dof(int dof) const noexcept { return inverses[dof - 1]; }
};

}  // namespace detail
}  // namespace physguard
