// physguard/estimate/kalman_filter.hpp - linear Kalman filter with compile-time sizes.
#pragma once

#include <Eigen/Core>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../detail/kalman_update.hpp"
#include "../signal/state_space.hpp"
#include "innovation.hpp"
#include "options.hpp"

namespace physguard {

/// Linear Kalman filter for the model x[k+1] = A x[k] + B u[k] + w,  z[k] = C x[k] + D u[k] + v,
/// w ~ N(0, Q), v ~ N(0, R).
///
/// - `predict(u)` propagates with the stored model; `predict(u, A, B, Q)` with matrices for this
///   step only (variable time step: discretise your model for the elapsed dt, see signal/).
/// - `update(z)` / `update(z, mask)` fuse a full or partial measurement in Joseph form, with S
///   solved by Cholesky (never inverted), and return an Innovation record.
/// - A NaN or infinite input or measurement is refused with Status::not_finite and leaves x and P
///   untouched; so does a non-positive-definite S or a non-finite result.
/// - No heap: every matrix is fixed-size; the object is a plain value (copy it to checkpoint).
template <typename T, int Nx, int Nz, int Nu = 0>
class KalmanFilter {
 public:
  using Scalar = T;
  static constexpr int state_dim = Nx;
  static constexpr int measurement_dim = Nz;
  static constexpr int input_dim = Nu;
  using Model = LinearStateSpace<T, Nx, Nu, Nz>;
  using StateVector = Eigen::Matrix<T, Nx, 1>;
  using StateMatrix = Eigen::Matrix<T, Nx, Nx>;
  using InputVector = Eigen::Matrix<T, Nu, 1>;
  using InputMatrix = Eigen::Matrix<T, Nx, Nu>;
  using MeasurementVector = Eigen::Matrix<T, Nz, 1>;
  using MeasurementMatrix = Eigen::Matrix<T, Nz, Nx>;
  using MeasurementCovariance = Eigen::Matrix<T, Nz, Nz>;
  using Record = Innovation<T, Nz>;
  using Options = EstimatorOptions<T>;

  KalmanFilter(const Model& model, const StateMatrix& Q, const MeasurementCovariance& R,
               const StateVector& x0, const StateMatrix& P0, const Options& options = Options{})
      : model_(model),
        Q_(Q),
        R_(R),
        x_(x0),
        P_(P0),
        u_last_(InputVector::Zero()),
        options_(options),
        gates_(options.gate_probability) {
    PHYSGUARD_ASSERT(all_finite(model.A) && all_finite(model.B) && all_finite(model.C) &&
                         all_finite(model.D) && all_finite(Q) && all_finite(R),
                     "KalmanFilter: model, Q and R must be finite");
    PHYSGUARD_DETAIL_ASSERT_FILTER_ARGUMENTS("KalmanFilter", Q, R, x0, P0);
    detail::condition_covariance(P_, options_.variance_floor);
  }

  /// As above with precomputed NIS gates (`options.gate_probability` is not used): the chi-square
  /// quantile is never evaluated, so nothing of libm is linked for it (firmware; see NisGateTable).
  /// A table from `NisGateTable<T, Nz>::for_probability(p)` gives a filter bit-identical to one
  /// constructed with `options.gate_probability = p`.
  KalmanFilter(const Model& model, const StateMatrix& Q, const MeasurementCovariance& R,
               const StateVector& x0, const StateMatrix& P0, const NisGateTable<T, Nz>& gates,
               const Options& options = Options{})
      : model_(model),
        Q_(Q),
        R_(R),
        x_(x0),
        P_(P0),
        u_last_(InputVector::Zero()),
        options_(options),
        gates_(gates) {
    PHYSGUARD_ASSERT(all_finite(model.A) && all_finite(model.B) && all_finite(model.C) &&
                         all_finite(model.D) && all_finite(Q) && all_finite(R),
                     "KalmanFilter: model, Q and R must be finite");
    PHYSGUARD_DETAIL_ASSERT_FILTER_ARGUMENTS("KalmanFilter", Q, R, x0, P0);
    PHYSGUARD_ASSERT(gates.valid(), "KalmanFilter: NIS gates must be positive, finite, inverses 1/gate");
    detail::condition_covariance(P_, options_.variance_floor);
  }

  /// Time update with the stored model and zero input.
  Status predict() { return predict(InputVector::Zero()); }

  /// Time update with the stored model (checked when it was set).
  Status predict(const InputVector& u) { return predict_with(u, model_.A, model_.B, Q_); }

  /// Time update with matrices valid for this step only (variable time step, time-varying model).
  /// A non-finite entry in u, A, B or Q is refused with not_finite (checked first), a negative
  /// variance on the diagonal of Q with invalid_argument; the state is untouched in both cases.
  Status predict(const InputVector& u, const StateMatrix& A, const InputMatrix& B,
                 const StateMatrix& Q) {
    if (!all_finite(u) || !all_finite(A) || !all_finite(B) || !all_finite(Q))
      return Status::not_finite;
    if (!variances_nonnegative(Q)) return Status::invalid_argument;
    return predict_with(u, A, B, Q);
  }

  /// Measurement update with every component present.
  Record update(const MeasurementVector& z) { return update(z, all_present(Nz)); }

  /// Measurement update with only the components whose bit is set in `mask` present.
  Record update(const MeasurementVector& z, MeasurementMask mask) {
    if (!detail::present_finite(z, mask)) {
      Record rec;
      rec.status = Status::not_finite;
      return rec;
    }
    MeasurementVector y = z - model_.C.lazyProduct(x_);
    if constexpr (Nu > 0) y.noalias() -= model_.D * u_last_;
    return detail::joseph_update(x_, P_, y, model_.C, R_, mask, gates_, options_);
  }

  /// Innovation of a measurement against the current prediction, without fusing it.
  Record evaluate(const MeasurementVector& z) const {
    KalmanFilter copy = *this;
    Record rec = copy.update(z);
    rec.accepted = false;
    return rec;
  }

  const StateVector& state() const noexcept { return x_; }
  const StateMatrix& covariance() const noexcept { return P_; }
  const Model& model() const noexcept { return model_; }
  const StateMatrix& process_noise() const noexcept { return Q_; }
  const MeasurementCovariance& measurement_noise() const noexcept { return R_; }
  const Options& options() const noexcept { return options_; }
  /// The NIS gate used when `dof` components are present.
  T gate(int dof = Nz) const noexcept { return gates_.for_dof(dof); }

  /// Replace the state and covariance (re-initialisation after a gap, for example).  Non-finite
  /// x0 or P0 is refused with not_finite, a negative variance on the diagonal of P0 with
  /// invalid_argument; the filter keeps its state.
  Status reset(const StateVector& x0, const StateMatrix& P0) {
    if (!all_finite(x0) || !all_finite(P0)) return Status::not_finite;
    if (!variances_nonnegative(P0)) return Status::invalid_argument;
    x_ = x0;
    P_ = P0;
    detail::condition_covariance(P_, options_.variance_floor);
    return Status::ok;
  }
  /// Replace the model, Q or R; a non-finite entry is refused with not_finite, a negative
  /// variance on the diagonal of Q or R with invalid_argument (nothing changes).
  Status set_model(const Model& model) {
    if (!all_finite(model.A) || !all_finite(model.B) || !all_finite(model.C) ||
        !all_finite(model.D))
      return Status::not_finite;
    model_ = model;
    return Status::ok;
  }
  Status set_process_noise(const StateMatrix& Q) {
    if (!all_finite(Q)) return Status::not_finite;
    if (!variances_nonnegative(Q)) return Status::invalid_argument;
    Q_ = Q;
    return Status::ok;
  }
  Status set_measurement_noise(const MeasurementCovariance& R) {
    if (!all_finite(R)) return Status::not_finite;
    if (!variances_nonnegative(R)) return Status::invalid_argument;
    R_ = R;
    return Status::ok;
  }

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW

 private:
  Status predict_with(const InputVector& u, const StateMatrix& A, const InputMatrix& B,
                      const StateMatrix& Q) {
    if (!all_finite(u)) return Status::not_finite;
    StateVector x_new = A.lazyProduct(x_);
    if constexpr (Nu > 0) x_new.noalias() += B * u;
    StateMatrix P_new;
    bool P_finite;
    if constexpr (Nx == 1) {
      // a^2 first: it does not depend on P, so only one multiply sits on P's dependency chain.
      const T m = (A(0, 0) * A(0, 0)) * P_(0, 0) + Q(0, 0);
      P_new(0, 0) = m < options_.variance_floor ? options_.variance_floor : m;  // NaN stays NaN
      P_finite = is_finite(P_new(0, 0));
    } else {
      P_finite = detail::propagate_covariance(A, P_, Q, options_.variance_floor, P_new);
    }
    if (!all_finite(x_new) || !P_finite) return Status::numerical_failure;
    x_ = x_new;
    P_ = P_new;
    u_last_ = u;
    return Status::ok;
  }

  Model model_;
  StateMatrix Q_;
  MeasurementCovariance R_;
  StateVector x_;
  StateMatrix P_;
  InputVector u_last_;
  Options options_;
  detail::NisGates<T, Nz> gates_;
};

}  // namespace physguard
