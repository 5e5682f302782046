// physguard/estimate/extended_kalman_filter.hpp - extended Kalman filter for nonlinear models.
#pragma once

#include <Eigen/Core>
#include <type_traits>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../detail/kalman_update.hpp"
#include "../signal/nonlinear.hpp"
#include "autodiff.hpp"
#include "innovation.hpp"
#include "options.hpp"

namespace physguard {

/// Extended Kalman filter for a nonlinear model (signal/nonlinear.hpp)
///
///     x[k+1] = f(x[k], u[k], dt) + w,    w ~ N(0, Q)
///     z[k]   = h(x[k]) + v,              v ~ N(0, R)
///
/// linearised about the current estimate: F = df/dx and H = dh/dx come from the model's
/// transition_jacobian() / measurement_jacobian() when it has them, otherwise from forward-mode
/// automatic differentiation of transition() / measure() (estimate/autodiff.hpp, no heap).
///
/// - `predict(u, dt_s)`:  x = f(x, u, dt_s),  P = F P F' + Q, with Q the model's
/// process_noise(dt_s)
///   when it has one, else the per-step Q given at construction; `predict(u, dt_s, Q)` with a Q
///   for this step only.  Non-finite u, dt_s or Q: Status::not_finite; dt_s < 0 or a negative
///   variance on the diagonal of Q: Status::invalid_argument; a non-finite result:
///   Status::numerical_failure.  State untouched in every refused case.
/// - `update(z)` / `update(z, mask)`: y = z - h(x), then exactly the linear filter's Joseph-form
///   update with H (detail::joseph_update: S by Cholesky, never inverted; gating, masks, variance
///   floor, NaN refusal and the Innovation record are the same as KalmanFilter's).
/// - On a linear model the EKF is the linear Kalman filter, to rounding.
/// - No heap: every matrix is fixed-size; the object is a plain value (copy it to checkpoint).
template <typename Model>
class ExtendedKalmanFilter {
  static_assert(is_nonlinear_model_v<Model>,
                "Model must satisfy the nonlinear model concept (signal/nonlinear.hpp)");

 public:
  using Scalar = typename Model::Scalar;
  using T = Scalar;
  static constexpr int state_dim = Model::state_dim;
  static constexpr int measurement_dim = Model::measurement_dim;
  static constexpr int input_dim = Model::input_dim;
  using StateVector = Eigen::Matrix<T, state_dim, 1>;
  using StateMatrix = Eigen::Matrix<T, state_dim, state_dim>;
  using InputVector = Eigen::Matrix<T, input_dim, 1>;
  using MeasurementVector = Eigen::Matrix<T, measurement_dim, 1>;
  using MeasurementMatrix = Eigen::Matrix<T, measurement_dim, state_dim>;
  using MeasurementCovariance = Eigen::Matrix<T, measurement_dim, measurement_dim>;
  using Record = Innovation<T, measurement_dim>;
  using Options = EstimatorOptions<T>;

  /// For a model without process_noise(dt_s): Q is the process noise covariance per predict().
  template <typename M = Model, typename std::enable_if<!has_process_noise_v<M>, int>::type = 0>
  ExtendedKalmanFilter(const Model& model, const StateMatrix& Q, const MeasurementCovariance& R,
                       const StateVector& x0, const StateMatrix& P0,
                       const Options& options = Options{})
      : model_(model),
        Q_(Q),
        R_(R),
        x_(x0),
        P_(P0),
        options_(options),
        gates_(options.gate_probability) {
    check_construction();
    detail::condition_covariance(P_, options_.variance_floor);
  }

  /// For a model with process_noise(dt_s): predict(u, dt_s) takes Q from the model.
  template <typename M = Model, typename std::enable_if<has_process_noise_v<M>, int>::type = 0>
  ExtendedKalmanFilter(const Model& model, const MeasurementCovariance& R, const StateVector& x0,
                       const StateMatrix& P0, const Options& options = Options{})
      : model_(model),
        Q_(StateMatrix::Zero()),
        R_(R),
        x_(x0),
        P_(P0),
        options_(options),
        gates_(options.gate_probability) {
    check_construction();
    detail::condition_covariance(P_, options_.variance_floor);
  }

  /// Time update over dt_s seconds with input u held, and the default process noise.
  Status predict(const InputVector& u, T dt_s) {
    if (!is_finite(dt_s)) return Status::not_finite;
    return predict(u, dt_s, process_noise(dt_s));
  }

  /// Time update over dt_s seconds with input u held and process noise Q for this step.
  Status predict(const InputVector& u, T dt_s, const StateMatrix& Q) {
    if (!all_finite(u) || !is_finite(dt_s) || !all_finite(Q)) return Status::not_finite;
    if (dt_s < T(0) || !variances_nonnegative(Q)) return Status::invalid_argument;
    StateMatrix F;
    StateVector x_new;
    if constexpr (has_transition_jacobian_v<Model>) {
      x_new = model_.template transition<T>(x_, u, dt_s);
      F = model_.transition_jacobian(x_, u, dt_s);
    } else {
      using D = Dual<T, state_dim>;
      x_new = autodiff_jacobian(
          [&](const Eigen::Matrix<D, state_dim, 1>& xd) {
            return model_.template transition<D>(xd, u, dt_s);
          },
          x_, F);
    }
    StateMatrix P_new;
    const bool P_finite = detail::propagate_covariance(F, P_, Q, options_.variance_floor, P_new);
    if (!all_finite(x_new) || !P_finite) return Status::numerical_failure;
    x_ = x_new;
    P_ = P_new;
    return Status::ok;
  }

  /// Measurement update with every component present.
  Record update(const MeasurementVector& z) { return update(z, all_present(measurement_dim)); }

  /// Measurement update with only the components whose bit is set in `mask` present.
  Record update(const MeasurementVector& z, MeasurementMask mask) {
    if (!detail::present_finite(z, mask)) {
      Record rec;
      rec.status = Status::not_finite;
      return rec;
    }
    MeasurementMatrix H;
    MeasurementVector z_pred;
    if constexpr (has_measurement_jacobian_v<Model>) {
      z_pred = model_.template measure<T>(x_);
      H = model_.measurement_jacobian(x_);
    } else {
      using D = Dual<T, state_dim>;
      z_pred = autodiff_jacobian(
          [&](const Eigen::Matrix<D, state_dim, 1>& xd) { return model_.template measure<D>(xd); },
          x_, H);
    }
    if (!all_finite(z_pred) || !all_finite(H)) {
      Record rec;
      rec.status = Status::numerical_failure;
      return rec;
    }
    const MeasurementVector y = z - z_pred;
    return detail::joseph_update(x_, P_, y, H, R_, mask, gates_, options_);
  }

  /// Innovation of a measurement against the current prediction, without fusing it.
  Record evaluate(const MeasurementVector& z) const {
    return evaluate(z, all_present(measurement_dim));
  }
  Record evaluate(const MeasurementVector& z, MeasurementMask mask) const {
    ExtendedKalmanFilter copy = *this;
    Record rec = copy.update(z, mask);
    rec.accepted = false;
    return rec;
  }

  const StateVector& state() const noexcept { return x_; }
  const StateMatrix& covariance() const noexcept { return P_; }
  const Model& model() const noexcept { return model_; }
  /// The process noise predict(u, dt_s) uses for a step of dt_s seconds.
  StateMatrix process_noise(T dt_s) const {
    if constexpr (has_process_noise_v<Model>)
      return model_.process_noise(dt_s);
    else {
      (void)dt_s;
      return Q_;
    }
  }
  const MeasurementCovariance& measurement_noise() const noexcept { return R_; }
  const Options& options() const noexcept { return options_; }
  /// The NIS gate used when `dof` components are present.
  T gate(int dof = measurement_dim) const noexcept { return gates_.for_dof(dof); }

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
  void set_model(const Model& model) { model_ = model; }
  /// Per-step process noise (models without process_noise(dt_s) only).
  template <typename M = Model, typename std::enable_if<!has_process_noise_v<M>, int>::type = 0>
  Status set_process_noise(const StateMatrix& Q) {
    if (!all_finite(Q)) return Status::not_finite;
    if (!variances_nonnegative(Q)) return Status::invalid_argument;
    Q_ = Q;
    return Status::ok;
  }
  /// A non-finite R is refused with not_finite, a negative variance on its diagonal with
  /// invalid_argument (nothing changes).
  Status set_measurement_noise(const MeasurementCovariance& R) {
    if (!all_finite(R)) return Status::not_finite;
    if (!variances_nonnegative(R)) return Status::invalid_argument;
    R_ = R;
    return Status::ok;
  }

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW

 private:
  void check_construction() const {
    PHYSGUARD_ASSERT(all_finite(Q_) && all_finite(R_),
                     "ExtendedKalmanFilter: Q and R must be finite");
    PHYSGUARD_DETAIL_ASSERT_FILTER_ARGUMENTS("ExtendedKalmanFilter", Q_, R_, x_, P_);
  }

  Model model_;
  StateMatrix Q_;
  MeasurementCovariance R_;
  StateVector x_;
  StateMatrix P_;
  Options options_;
  detail::NisGates<T, measurement_dim> gates_;
};

}  // namespace physguard
