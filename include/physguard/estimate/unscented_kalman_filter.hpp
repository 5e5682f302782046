// physguard/estimate/unscented_kalman_filter.hpp - unscented Kalman filter (scaled sigma points).
#pragma once

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <cmath>
#include <type_traits>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../detail/kalman_update.hpp"
#include "../signal/nonlinear.hpp"
#include "innovation.hpp"
#include "options.hpp"

namespace physguard {

/// Spread and weights of the scaled sigma points (n = state dimension):
///
///     lambda = alpha^2 (n + kappa) - n,    gamma = sqrt(n + lambda)
///     points  x,  x + gamma L_i,  x - gamma L_i      (L_i the columns of the Cholesky factor of P)
///     mean weights        W0 = lambda / (n + lambda),  Wi = 1 / (2 (n + lambda))
///     covariance weights  W0 + (1 - alpha^2 + beta),   Wi
///
/// The defaults alpha = 1, beta = 2, kappa = 0 put the points sqrt(n) standard deviations out
/// with non-negative weights (W0 = 0, covariance W0 = 2), which is well conditioned in float.
/// The often-quoted alpha = 1e-3 keeps the points alpha sqrt(n) standard deviations from the mean:
/// the offsets f(x +- gamma L_i) - f(x) then lose about log10(|x| / (alpha sigma)) digits to
/// cancellation (percent-level errors in float when |x| / sigma is large), and the central
/// covariance weight W0 + 1 - alpha^2 + beta is about -1/alpha^2 = -1e6, which can make P
/// indefinite for a strongly nonlinear f.  Use tiny alpha only in double.  beta = 2 is optimal for
/// Gaussian priors.  Requires alpha > 0 and n + kappa > 0.
template <typename T>
struct UnscentedOptions {
  T alpha = T(1);
  T beta = T(2);
  T kappa = T(0);
};

/// Unscented Kalman filter for a nonlinear model (signal/nonlinear.hpp) with additive noise
///
///     x[k+1] = f(x[k], u[k], dt) + w,    w ~ N(0, Q)
///     z[k]   = h(x[k]) + v,              v ~ N(0, R)
///
/// No Jacobians: the 2n+1 scaled sigma points (UnscentedOptions) drawn from the Cholesky factor of
/// P are pushed through f (predict) and h (update), and the weighted sample moments replace the
/// linearisation.  Weighted means are accumulated as offsets from the central point, which keeps
/// the cancellation small.
///
/// - `predict(u, dt_s[, Q])`: x = sum Wi f(Xi),  P = sum Wci (f(Xi) - x)(f(Xi) - x)' + Q, then P is
///   symmetrised and floored.  Q is the model's process_noise(dt_s) when it has one, else the
///   per-step Q given at construction.
/// - `update(z[, mask])`: sigma points are redrawn from the predicted (x, P); z_pred = sum Wi
/// h(Xi),
///   S = sum Wci (h(Xi) - z_pred)(...)' + R, cross covariance Pxz; the innovation is masked,
///   gated and its NIS computed by the same code as KalmanFilter's (detail::apply_mask,
///   InnovationSolver, assess); K = Pxz S^-1 by L D L' substitution (never an inverse);
///   P = P - K S K', symmetrised and floored.
/// - P not positive definite (no Cholesky factor): Status::not_positive_definite.  Non-finite u,
///   dt_s, Q or measurement: Status::not_finite; dt_s < 0 or a negative variance on the diagonal
///   of Q: Status::invalid_argument; a non-finite result: Status::numerical_failure.  In every
///   refused case x and P are bit-identical to before.
/// - On a linear model the UKF is the linear Kalman filter, to rounding.
/// - No heap: every matrix is fixed-size; the object is a plain value.
template <typename Model>
class UnscentedKalmanFilter {
  static_assert(is_nonlinear_model_v<Model>,
                "Model must satisfy the nonlinear model concept (signal/nonlinear.hpp)");

 public:
  using Scalar = typename Model::Scalar;
  using T = Scalar;
  static constexpr int state_dim = Model::state_dim;
  static constexpr int measurement_dim = Model::measurement_dim;
  static constexpr int input_dim = Model::input_dim;
  static constexpr int sigma_point_count = 2 * state_dim + 1;
  using StateVector = Eigen::Matrix<T, state_dim, 1>;
  using StateMatrix = Eigen::Matrix<T, state_dim, state_dim>;
  using InputVector = Eigen::Matrix<T, input_dim, 1>;
  using MeasurementVector = Eigen::Matrix<T, measurement_dim, 1>;
  using MeasurementCovariance = Eigen::Matrix<T, measurement_dim, measurement_dim>;
  using Record = Innovation<T, measurement_dim>;
  using Options = EstimatorOptions<T>;
  using SigmaOptions = UnscentedOptions<T>;

  /// For a model without process_noise(dt_s): Q is the process noise covariance per predict().
  template <typename M = Model, typename std::enable_if<!has_process_noise_v<M>, int>::type = 0>
  UnscentedKalmanFilter(const Model& model, const StateMatrix& Q, const MeasurementCovariance& R,
                        const StateVector& x0, const StateMatrix& P0,
                        const Options& options = Options{},
                        const SigmaOptions& sigma = SigmaOptions{})
      : model_(model),
        Q_(Q),
        R_(R),
        x_(x0),
        P_(P0),
        options_(options),
        sigma_(sigma),
        gates_(options.gate_probability) {
    init();
  }

  /// For a model with process_noise(dt_s): predict(u, dt_s) takes Q from the model.
  template <typename M = Model, typename std::enable_if<has_process_noise_v<M>, int>::type = 0>
  UnscentedKalmanFilter(const Model& model, const MeasurementCovariance& R, const StateVector& x0,
                        const StateMatrix& P0, const Options& options = Options{},
                        const SigmaOptions& sigma = SigmaOptions{})
      : model_(model),
        Q_(StateMatrix::Zero()),
        R_(R),
        x_(x0),
        P_(P0),
        options_(options),
        sigma_(sigma),
        gates_(options.gate_probability) {
    init();
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
    StateMatrix spread;  // gamma L
    if (!sigma_spread(spread)) return Status::not_positive_definite;

    // Propagated points: centre c = f(x), offsets D_i = f(x +- gamma L_i) - c.
    const StateVector centre = model_.template transition<T>(x_, u, dt_s);
    Eigen::Matrix<T, state_dim, 2 * state_dim> D;
    for (int i = 0; i < state_dim; ++i) {
      const StateVector plus = x_ + spread.col(i);
      const StateVector minus = x_ - spread.col(i);
      D.col(i) = model_.template transition<T>(plus, u, dt_s) - centre;
      D.col(state_dim + i) = model_.template transition<T>(minus, u, dt_s) - centre;
    }
    StateVector delta;
    StateMatrix P_new;
    moments(D, delta, P_new);
    const StateVector x_new = centre + delta;
    P_new += Q;
    const bool P_finite = detail::condition_covariance(P_new, options_.variance_floor);
    if (!all_finite(x_new) || !P_finite) return Status::numerical_failure;
    x_ = x_new;
    P_ = P_new;
    return Status::ok;
  }

  /// Measurement update with every component present.
  Record update(const MeasurementVector& z) { return update(z, all_present(measurement_dim)); }

  /// Measurement update with only the components whose bit is set in `mask` present.
  Record update(const MeasurementVector& z, MeasurementMask mask) {
    Record rec;
    if (!detail::present_finite(z, mask)) {
      rec.status = Status::not_finite;
      return rec;
    }
    const int dof = detail::count_present<measurement_dim>(mask);
    if (dof == 0) {
      rec.status = Status::missing;
      return rec;
    }
    rec.dof = static_cast<std::uint8_t>(dof);
    StateMatrix spread;
    if (!sigma_spread(spread)) {
      rec.status = Status::not_positive_definite;
      return rec;
    }
    // Measurement points: centre h(x), offsets E_i = h(x +- gamma L_i) - h(x).
    const MeasurementVector centre = model_.template measure<T>(x_);
    Eigen::Matrix<T, measurement_dim, 2 * state_dim> E;
    for (int i = 0; i < state_dim; ++i) {
      const StateVector plus = x_ + spread.col(i);
      const StateVector minus = x_ - spread.col(i);
      E.col(i) = model_.template measure<T>(plus) - centre;
      E.col(state_dim + i) = model_.template measure<T>(minus) - centre;
    }
    MeasurementVector delta;
    moments(E, delta, rec.S);
    const MeasurementVector z_pred = centre + delta;
    rec.S += R_;
    // Cross covariance sum Wci (Xi - x)(Zi - z_pred)': the state offsets are +-gamma L_i exactly
    // and the central one is zero, so the mean offset delta cancels between each +- pair:
    // Pxz = Wi sum_i gamma L_i (E_i - E_{n+i})'.
    const Eigen::Matrix<T, measurement_dim, state_dim> E_diff =
        E.template leftCols<state_dim>() - E.template rightCols<state_dim>();
    Eigen::Matrix<T, state_dim, measurement_dim> Pxz = spread.lazyProduct(E_diff.transpose());
    Pxz *= w_i_;
    if (!all_finite(z_pred) || !all_finite(rec.S) || !all_finite(Pxz)) {
      rec.status = Status::numerical_failure;
      return rec;
    }
    rec.y = z - z_pred;
    if constexpr (measurement_dim > 1) rec.S = T(0.5) * (rec.S + rec.S.transpose()).eval();
    detail::apply_mask(rec.y, rec.S, mask);
    const detail::InnovationSolver<T, measurement_dim> solver(rec.S);
    if (!detail::assess(rec, solver, dof, gates_, options_.reject_outside_gate)) return rec;

    // K' = S^-1 Pxz' (Cholesky solve), masked columns of K exactly zero.
    const Eigen::Matrix<T, measurement_dim, state_dim> PzxT = Pxz.transpose();
    Eigen::Matrix<T, state_dim, measurement_dim> K = solver.solve(PzxT).transpose();
    for (int i = 0; i < measurement_dim; ++i)
      if (!((mask >> i) & 1u)) K.col(i).setZero();
    const StateVector x_new = x_ + K.lazyProduct(rec.y);
    const Eigen::Matrix<T, state_dim, measurement_dim> KS = K.lazyProduct(rec.S);
    StateMatrix P_new = P_;
    P_new.noalias() -= KS.lazyProduct(K.transpose());
    const bool P_finite = detail::condition_covariance(P_new, options_.variance_floor);
    if (!all_finite(x_new) || !P_finite) {
      rec.status = Status::numerical_failure;
      return rec;
    }
    x_ = x_new;
    P_ = P_new;
    rec.accepted = true;
    return rec;
  }

  /// Innovation of a measurement against the current prediction, without fusing it.
  Record evaluate(const MeasurementVector& z) const {
    return evaluate(z, all_present(measurement_dim));
  }
  Record evaluate(const MeasurementVector& z, MeasurementMask mask) const {
    UnscentedKalmanFilter copy = *this;
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
  const SigmaOptions& sigma_options() const noexcept { return sigma_; }
  /// Mean weight of the central point, W0 = lambda / (n + lambda).
  T mean_weight_centre() const noexcept { return w_m0_; }
  /// Covariance weight of the central point, W0 + 1 - alpha^2 + beta.
  T covariance_weight_centre() const noexcept { return w_c0_; }
  /// Weight of every other point, 1 / (2 (n + lambda)).
  T weight() const noexcept { return w_i_; }
  /// Sigma-point spread gamma = sqrt(n + lambda).
  T spread_factor() const noexcept { return gamma_; }
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
  void init() {
    PHYSGUARD_ASSERT(all_finite(Q_) && all_finite(R_),
                     "UnscentedKalmanFilter: Q and R must be finite");
    PHYSGUARD_DETAIL_ASSERT_FILTER_ARGUMENTS("UnscentedKalmanFilter", Q_, R_, x_, P_);
    PHYSGUARD_ASSERT(is_finite(sigma_.alpha) && sigma_.alpha > T(0), "UKF alpha must be > 0");
    const T n = static_cast<T>(state_dim);
    PHYSGUARD_ASSERT(is_finite(sigma_.kappa) && n + sigma_.kappa > T(0),
                     "UKF kappa must make n + kappa > 0");
    PHYSGUARD_ASSERT(is_finite(sigma_.beta), "UKF beta must be finite");
    const T a2 = sigma_.alpha * sigma_.alpha;
    const T n_plus_lambda = a2 * (n + sigma_.kappa);
    const T lambda = n_plus_lambda - n;
    using std::sqrt;
    gamma_ = sqrt(n_plus_lambda);
    w_m0_ = lambda / n_plus_lambda;
    w_c0_ = w_m0_ + (T(1) - a2 + sigma_.beta);
    w_i_ = T(1) / (T(2) * n_plus_lambda);
    detail::condition_covariance(P_, options_.variance_floor);
  }

  /// gamma L with L L' = P; false when P has no Cholesky factor.
  bool sigma_spread(StateMatrix& spread) const {
    const Eigen::LLT<StateMatrix> llt(P_);
    if (llt.info() != Eigen::Success) return false;
    spread = llt.matrixL();
    spread *= gamma_;
    return all_finite(spread);
  }

  /// Weighted moments of the points c + D_i (i = 1..2n) and the centre c itself: the mean is
  /// c + delta with delta = sum Wi D_i (the mean weights sum to one, so W0 drops out), the
  /// covariance Wc0 delta delta' + sum Wi (D_i - delta)(D_i - delta)'.
  template <int N>
  void moments(const Eigen::Matrix<T, N, 2 * state_dim>& D, Eigen::Matrix<T, N, 1>& delta,
               Eigen::Matrix<T, N, N>& cov) const {
    delta = D.rowwise().sum() * w_i_;
    const Eigen::Matrix<T, N, 2 * state_dim> C = D.colwise() - delta;
    cov = C.lazyProduct(C.transpose());
    cov *= w_i_;
    const Eigen::Matrix<T, N, 1> w_delta = w_c0_ * delta;
    cov.noalias() += w_delta.lazyProduct(delta.transpose());
  }

  Model model_;
  StateMatrix Q_;
  MeasurementCovariance R_;
  StateVector x_;
  StateMatrix P_;
  Options options_;
  SigmaOptions sigma_;
  detail::NisGates<T, measurement_dim> gates_;
  T gamma_ = T(1);
  T w_m0_ = T(0);
  T w_c0_ = T(0);
  T w_i_ = T(0);
};

}  // namespace physguard
