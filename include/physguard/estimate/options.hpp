// physguard/estimate/options.hpp - options shared by the Kalman-type estimators.
#pragma once

#include <limits>

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

/// Precomputed NIS gates of an estimator with Nz measured components: `gate[m-1]` is the chi-square
/// quantile of the gate probability with m degrees of freedom (m = 1..Nz present components) and
/// `inverse_gate[m-1]` its reciprocal (the per-sample test ratio is NIS * inverse_gate).
///
/// The estimators' usual constructors compute these in double with stats::chi_square_quantile,
/// which links lgamma, erf, pow, log, exp and software double arithmetic (~20 KB) into a
/// Cortex-M image for a computation done once.  Firmware passes a table instead (KalmanFilter's
/// table constructor), written as constants that were computed on the host with
/// `for_probability(p)`; the filter then behaves bit-identically to one built with
/// `options.gate_probability = p`, and chi_square_quantile is never referenced.
template <typename T, int Nz>
struct NisGateTable {
  static_assert(Nz >= 1, "NisGateTable: at least one measured component");
  T gate[Nz];
  T inverse_gate[Nz];

  /// The table for a gate probability 0 < p < 1 (host side: evaluates chi_square_quantile in
  /// double, exactly as the estimators' constructors do).
  static NisGateTable for_probability(double gate_probability) noexcept {
    NisGateTable t{};
    for (int m = 1; m <= Nz; ++m) {
      const double g = stats::chi_square_quantile(gate_probability, static_cast<double>(m));
      t.gate[m - 1] = static_cast<T>(g);
      t.inverse_gate[m - 1] = static_cast<T>(1.0 / g);
    }
    return t;
  }
  /// Every gate positive and finite, every inverse positive, finite and within 1e-3 of 1/gate (so a
  /// table with a forgotten or swapped inverse is caught at construction).
  bool valid() const noexcept {
    for (int i = 0; i < Nz; ++i) {
      const T g = gate[i];
      const T ig = inverse_gate[i];
      if (!(g > T(0)) || !(ig > T(0)) || !(g <= std::numeric_limits<T>::max()) ||
          !(ig <= std::numeric_limits<T>::max()))
        return false;
      const T product = g * ig;
      if (!(product > T(0.999) && product < T(1.001))) return false;
    }
    return true;
  }
};

namespace detail {

/// NIS gates for 1..Nz present components, computed once at construction.
template <typename T, int Nz>
struct NisGates {
  T values[Nz] = {};
  T inverses[Nz] = {};

  NisGates() = default;
  explicit NisGates(double gate_probability)
      : NisGates(NisGateTable<T, Nz>::for_probability(gate_probability)) {}
  /// From a precomputed table (no chi-square evaluation: nothing of libm is referenced).
  explicit NisGates(const NisGateTable<T, Nz>& table) noexcept {
    for (int i = 0; i < Nz; ++i) {
      values[i] = table.gate[i];
      inverses[i] = table.inverse_gate[i];
    }
  }
  /// Gate on the NIS when `dof` components (1..Nz) are present.
  T for_dof(int dof) const noexcept { return values[dof - 1]; }
  /// 1 / gate, so the per-sample test ratio is a multiplication.
  T inverse_for_dof(int dof) const noexcept { return inverses[dof - 1]; }
};

}  // namespace detail
}  // namespace physguard
