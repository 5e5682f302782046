// physguard/estimate/steady_state_kalman_filter.hpp - Kalman filter with a constant gain from the
// discrete algebraic Riccati equation.
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../detail/kalman_update.hpp"
#include "../signal/state_space.hpp"
#include "innovation.hpp"
#include "options.hpp"
#include "riccati.hpp"

namespace physguard {

/// Steady-state (constant-gain) Kalman filter for x[k+1] = A x[k] + B u[k] + w,
/// z[k] = C x[k] + D u[k] + v, w ~ N(0, Q), v ~ N(0, R), with a fixed sample period.
///
/// At construction the filtering DARE is solved (solve_dare) for the steady prior covariance P;
/// the gain K = P C' S^-1, the innovation covariance S = C P C' + R, the Cholesky factor L of S and
/// the NIS gates are then fixed.  Each sample costs one state prediction (Nx^2 + Nx Nu), one
/// innovation (Nz Nx + Nz Nu), one triangular solve for the NIS (Nz^2 / 2) and one gain product
/// (Nx Nz): no covariance arithmetic at all.  This is the time-varying KalmanFilter after its
/// covariance has converged, and the cheap workhorse for firmware and large gateway banks.
///
/// - `status()` is the DARE's outcome.  When it is not ok (non-detectable model, bad R, ...)
///   every predict()/update() is refused with that status and the state stays at x0.
/// - `update(z)` fuses a full measurement and returns an Innovation record (y, the constant S,
///   NIS = |L^-1 y|^2, gate, test ratio, accepted, status).  A NaN or infinite value is refused
///   with Status::not_finite; a measurement outside the gate with Status::rejected_by_gate when
///   EstimatorOptions::reject_outside_gate; in both cases the state is unchanged.
/// - Partial measurements: the constant gain is optimal only for the full measurement vector it
///   was computed for, and after a skipped component the true covariance is no longer the steady
///   one.  `update(z, mask)` therefore fuses only a full mask.  An empty mask returns
///   Status::missing (a pure prediction step, as for the time-varying filter).  A partial mask is
///   NOT fused either: it returns Status::missing with accepted = false and the state unchanged,
///   but the record still carries y, S, NIS and test ratio of the present components (against the
///   steady S, which under-states the spread after earlier skipped updates), so that a detector
///   downstream keeps seeing residuals.  Use KalmanFilter when partial measurements are common.
/// - No heap after construction; the object is a plain value.
template <typename T, int Nx, int Nz, int Nu = 0>
class SteadyStateKalmanFilter {
 public:
  using Scalar = T;
  static constexpr int state_dim = Nx;
  static constexpr int measurement_dim = Nz;
  static constexpr int input_dim = Nu;
  using Model = LinearStateSpace<T, Nx, Nu, Nz>;
  using StateVector = Eigen::Matrix<T, Nx, 1>;
  using StateMatrix = Eigen::Matrix<T, Nx, Nx>;
  using InputVector = Eigen::Matrix<T, Nu, 1>;
  using MeasurementVector = Eigen::Matrix<T, Nz, 1>;
  using MeasurementCovariance = Eigen::Matrix<T, Nz, Nz>;
  using GainMatrix = Eigen::Matrix<T, Nx, Nz>;
  using Record = Innovation<T, Nz>;
  using Options = EstimatorOptions<T>;
  using Solution = DareResult<T, Nx, Nz>;

  /// Solves the DARE for (model.A, model.C, Q, R); check `status()` afterwards.
  SteadyStateKalmanFilter(const Model& model, const StateMatrix& Q, const MeasurementCovariance& R,
                          const StateVector& x0 = StateVector::Zero(),
                          const Options& options = Options{},
                          const DareOptions<T>& dare_options = DareOptions<T>{})
      : SteadyStateKalmanFilter(model, R, solve_dare(model.A, model.C, Q, R, dare_options), x0,
                                options) {}

  /// From a DARE solution computed elsewhere (once for many identical channels, or offline for a
  /// probe that should not solve at boot).  The solution must belong to (model.A, model.C, ., R).
  SteadyStateKalmanFilter(const Model& model, const MeasurementCovariance& R,
                          const Solution& solution, const StateVector& x0 = StateVector::Zero(),
                          const Options& options = Options{})
      : model_(model),
        R_(R),
        solution_(solution),
        x_(x0),
        u_last_(InputVector::Zero()),
        options_(options),
        gates_(options.gate_probability),
        status_(solution.status) {
    // Steady posterior covariance, Joseph form: (I - K C) P (I - K C)' + K R K'.
    StateMatrix IKC = StateMatrix::Identity();
    IKC -= solution_.K * model_.C;
    P_post_ = IKC * solution_.P * IKC.transpose() + solution_.K * R_ * solution_.K.transpose();
    detail::condition_covariance(P_post_, options_.variance_floor);
    // Cholesky factor of the constant S, used for every NIS.
    const Eigen::LLT<MeasurementCovariance> llt(solution_.S);
    if (llt.info() != Eigen::Success || !all_finite(llt.matrixL().toDenseMatrix())) {
      if (status_ == Status::ok) status_ = Status::numerical_failure;
      L_.setIdentity();
    } else {
      L_ = llt.matrixL();
      // Scalar measurement: NIS = y^2 / S as one multiplication by the reciprocal of the checked
      // positive scalar S (this is not the matrix inverse the design rules out).
      inv_s_ = T(1) / solution_.S(0, 0);
    }
    if (status_ == Status::ok && !all_finite(x_)) status_ = Status::invalid_argument;
  }

  /// Outcome of the construction (the DARE's status, or invalid_argument for a non-finite x0).
  Status status() const noexcept { return status_; }
  bool ok() const noexcept { return status_ == Status::ok; }

  /// Time update with zero input.
  Status predict() { return predict(InputVector::Zero()); }

  /// Time update x = A x + B u.  A non-finite u is refused (Status::not_finite).
  Status predict(const InputVector& u) {
    if (status_ != Status::ok) return status_;
    if (!all_finite(u)) return Status::not_finite;
    StateVector x_new = model_.A * x_;
    if constexpr (Nu > 0) x_new.noalias() += model_.B * u;
    if (!all_finite(x_new)) return Status::numerical_failure;
    x_ = x_new;
    u_last_ = u;
    return Status::ok;
  }

  /// Measurement update with the full measurement vector.
  Record update(const MeasurementVector& z) {
    Record rec;
    if (status_ != Status::ok) {
      rec.status = status_;
      return rec;
    }
    if (!all_finite(z)) {
      rec.status = Status::not_finite;
      return rec;
    }
    rec.y = innovation(z);
    rec.S = solution_.S;
    rec.dof = static_cast<std::uint8_t>(Nz);
    if constexpr (Nz == 1) {
      rec.nis = rec.y(0) * rec.y(0) * inv_s_;
    } else {
      const MeasurementVector w = L_.template triangularView<Eigen::Lower>().solve(rec.y);
      rec.nis = w.squaredNorm();
    }
    rec.gate = gates_.for_dof(Nz);
    rec.test_ratio = rec.nis * gates_.inverse_for_dof(Nz);
    if (!is_finite(rec.nis)) {
      rec.status = Status::numerical_failure;
      return rec;
    }
    if (options_.reject_outside_gate && rec.test_ratio > T(1)) {
      rec.status = Status::rejected_by_gate;
      return rec;
    }
    StateVector x_new = x_;
    x_new.noalias() += solution_.K * rec.y;
    if (!all_finite(x_new)) {
      rec.status = Status::numerical_failure;
      return rec;
    }
    x_ = x_new;
    rec.accepted = true;
    rec.status = Status::ok;
    return rec;
  }

  /// Measurement update; only a full mask is fused (see the class comment for partial masks).
  Record update(const MeasurementVector& z, MeasurementMask mask) {
    const MeasurementMask full = all_present(Nz);
    if ((mask & full) == full) return update(z);
    Record rec;
    if (status_ != Status::ok) {
      rec.status = status_;
      return rec;
    }
    const int dof = detail::count_present<Nz>(mask);
    if (dof == 0) {
      rec.status = Status::missing;
      return rec;
    }
    if (!detail::present_finite(z, mask)) {
      rec.status = Status::not_finite;
      return rec;
    }
    // Diagnostic only: innovation of the present components against the steady S.
    MeasurementVector zz = z;
    for (int i = 0; i < Nz; ++i)
      if (!((mask >> i) & 1u)) zz(i) = T(0);  // a NaN in a missing component must not spread
    rec.y = innovation(zz);
    rec.S = solution_.S;
    detail::apply_mask(rec.y, rec.S, mask);
    const detail::InnovationSolver<T, Nz> solver(rec.S);
    const bool inside = detail::assess(rec, solver, dof, gates_, options_.reject_outside_gate);
    if (inside) rec.status = Status::missing;  // not fused: the constant gain needs every component
    rec.accepted = false;
    return rec;
  }

  /// Innovation record of a measurement against the current prediction, without fusing it.
  Record evaluate(const MeasurementVector& z) const {
    SteadyStateKalmanFilter copy = *this;
    Record rec = copy.update(z);
    rec.accepted = false;
    return rec;
  }

  /// Replace the state estimate (the covariance is the steady one by construction).  A non-finite
  /// x0 is refused with not_finite and the filter keeps its state.
  Status reset(const StateVector& x0) {
    if (!all_finite(x0)) return Status::not_finite;
    x_ = x0;
    u_last_.setZero();
    return Status::ok;
  }

  const StateVector& state() const noexcept { return x_; }
  /// Constant gain K = P C' S^-1.
  const GainMatrix& gain() const noexcept { return solution_.K; }
  /// Steady prior covariance P (the DARE solution): the covariance after predict().
  const StateMatrix& prior_covariance() const noexcept { return solution_.P; }
  /// Steady posterior covariance (I - K C) P (I - K C)' + K R K': the covariance after update().
  const StateMatrix& posterior_covariance() const noexcept { return P_post_; }
  /// Constant innovation covariance S = C P C' + R.
  const MeasurementCovariance& innovation_covariance() const noexcept { return solution_.S; }
  /// The full DARE result (iterations, residual norm, ...).
  const Solution& solution() const noexcept { return solution_; }
  const Model& model() const noexcept { return model_; }
  const MeasurementCovariance& measurement_noise() const noexcept { return R_; }
  const Options& options() const noexcept { return options_; }
  /// The NIS gate used when `dof` components are present.
  T gate(int dof = Nz) const noexcept { return gates_.for_dof(dof); }

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW

 private:
  MeasurementVector innovation(const MeasurementVector& z) const {
    MeasurementVector y = z - model_.C * x_;
    if constexpr (Nu > 0) y.noalias() -= model_.D * u_last_;
    return y;
  }

  Model model_;
  MeasurementCovariance R_;
  Solution solution_;
  StateVector x_;
  InputVector u_last_;
  Options options_;
  detail::NisGates<T, Nz> gates_;
  StateMatrix P_post_;
  MeasurementCovariance L_;
  T inv_s_ = T(1);
  Status status_;
};

}  // namespace physguard
