// physguard/signal/nonlinear.hpp - the nonlinear model concept used by ExtendedKalmanFilter and
// UnscentedKalmanFilter, and traits that detect its optional parts.
#pragma once

#include <Eigen/Core>
#include <type_traits>
#include <utility>

namespace physguard {

/// A *nonlinear model* is a type M with
///
///     using Scalar = T;                                   // float or double
///     static constexpr int state_dim;                     // Nx > 0
///     static constexpr int input_dim;                     // Nu >= 0
///     static constexpr int measurement_dim;               // Nz > 0
///
///     // x[k+1] = f(x[k], u[k], dt_s): the state after a step of dt_s seconds with u held.
///     template <class S>
///     Eigen::Matrix<S, Nx, 1> transition(const Eigen::Matrix<S, Nx, 1>& x,
///                                        const Eigen::Matrix<T, Nu, 1>& u, T dt_s) const;
///     // z[k] = h(x[k]): the noise-free measurement.
///     template <class S>
///     Eigen::Matrix<S, Nz, 1> measure(const Eigen::Matrix<S, Nx, 1>& x) const;
///
/// The functors are templates on the state's scalar S so that forward-mode automatic
/// differentiation (estimate/autodiff.hpp) can call them with dual numbers: write them with
/// `using std::sqrt; sqrt(v)` (argument-dependent lookup finds the dual overloads), keep
/// intermediate results in variables of type S, and compare S with T only through <, <=, >, >=.
/// The input u and dt_s stay plain T: Jacobians are taken with respect to the state only.
///
/// Optional parts, detected by the traits below (an estimator uses them when present):
///
///     // Analytic Jacobians: df/dx at (x, u, dt_s) and dh/dx at x.  Without them the estimator
///     // differentiates transition / measure automatically.
///     Eigen::Matrix<T, Nx, Nx> transition_jacobian(const Eigen::Matrix<T, Nx, 1>& x,
///                                                  const Eigen::Matrix<T, Nu, 1>& u,
///                                                  T dt_s) const;
///     Eigen::Matrix<T, Nz, Nx> measurement_jacobian(const Eigen::Matrix<T, Nx, 1>& x) const;
///     // Covariance of the process noise accumulated over a step of dt_s seconds (state
///     // units^2).  Without it the estimator takes a per-step Q from its caller.
///     Eigen::Matrix<T, Nx, Nx> process_noise(T dt_s) const;
///
/// Every function must be free of heap use and side effects (the estimators call them on copies
/// and on sigma points, several times per step).
template <typename M>
struct NonlinearModelTypes {
  using Scalar = typename M::Scalar;
  static constexpr int state_dim = M::state_dim;
  static constexpr int input_dim = M::input_dim;
  static constexpr int measurement_dim = M::measurement_dim;
  using StateVector = Eigen::Matrix<Scalar, state_dim, 1>;
  using InputVector = Eigen::Matrix<Scalar, input_dim, 1>;
  using MeasurementVector = Eigen::Matrix<Scalar, measurement_dim, 1>;
  using StateMatrix = Eigen::Matrix<Scalar, state_dim, state_dim>;
  using MeasurementMatrix = Eigen::Matrix<Scalar, measurement_dim, state_dim>;
};

/// True when M has the required part of the nonlinear model concept, with the right types
/// (checked for S = Scalar).
template <typename M, typename = void>
struct is_nonlinear_model : std::false_type {};

template <typename M>
struct is_nonlinear_model<
    M, std::void_t<typename M::Scalar, decltype(M::state_dim), decltype(M::input_dim),
                   decltype(M::measurement_dim),
                   decltype(std::declval<const M&>().template transition<typename M::Scalar>(
                       std::declval<const typename NonlinearModelTypes<M>::StateVector&>(),
                       std::declval<const typename NonlinearModelTypes<M>::InputVector&>(),
                       typename M::Scalar{})),
                   decltype(std::declval<const M&>().template measure<typename M::Scalar>(
                       std::declval<const typename NonlinearModelTypes<M>::StateVector&>()))>>
    : std::integral_constant<
          bool, (M::state_dim > 0) && (M::input_dim >= 0) && (M::measurement_dim > 0) &&
                    std::is_same<
                        decltype(std::declval<const M&>().template transition<typename M::Scalar>(
                            std::declval<const typename NonlinearModelTypes<M>::StateVector&>(),
                            std::declval<const typename NonlinearModelTypes<M>::InputVector&>(),
                            typename M::Scalar{})),
                        typename NonlinearModelTypes<M>::StateVector>::value &&
                    std::is_same<
                        decltype(std::declval<const M&>().template measure<typename M::Scalar>(
                            std::declval<const typename NonlinearModelTypes<M>::StateVector&>())),
                        typename NonlinearModelTypes<M>::MeasurementVector>::value> {};

template <typename M>
constexpr bool is_nonlinear_model_v = is_nonlinear_model<M>::value;

/// True when M provides `transition_jacobian(x, u, dt_s)` returning an Nx x Nx matrix.
template <typename M, typename = void>
struct has_transition_jacobian : std::false_type {};

template <typename M>
struct has_transition_jacobian<
    M, std::void_t<decltype(std::declval<const M&>().transition_jacobian(
           std::declval<const typename NonlinearModelTypes<M>::StateVector&>(),
           std::declval<const typename NonlinearModelTypes<M>::InputVector&>(),
           typename M::Scalar{}))>>
    : std::is_same<decltype(std::declval<const M&>().transition_jacobian(
                       std::declval<const typename NonlinearModelTypes<M>::StateVector&>(),
                       std::declval<const typename NonlinearModelTypes<M>::InputVector&>(),
                       typename M::Scalar{})),
                   typename NonlinearModelTypes<M>::StateMatrix> {};

template <typename M>
constexpr bool has_transition_jacobian_v = has_transition_jacobian<M>::value;

/// True when M provides `measurement_jacobian(x)` returning an Nz x Nx matrix.
template <typename M, typename = void>
struct has_measurement_jacobian : std::false_type {};

template <typename M>
struct has_measurement_jacobian<
    M, std::void_t<decltype(std::declval<const M&>().measurement_jacobian(
           std::declval<const typename NonlinearModelTypes<M>::StateVector&>()))>>
    : std::is_same<decltype(std::declval<const M&>().measurement_jacobian(
                       std::declval<const typename NonlinearModelTypes<M>::StateVector&>())),
                   typename NonlinearModelTypes<M>::MeasurementMatrix> {};

template <typename M>
constexpr bool has_measurement_jacobian_v = has_measurement_jacobian<M>::value;

/// True when M provides `process_noise(dt_s)` returning an Nx x Nx matrix.
template <typename M, typename = void>
struct has_process_noise : std::false_type {};

template <typename M>
struct has_process_noise<
    M, std::void_t<decltype(std::declval<const M&>().process_noise(typename M::Scalar{}))>>
    : std::is_same<decltype(std::declval<const M&>().process_noise(typename M::Scalar{})),
                   typename NonlinearModelTypes<M>::StateMatrix> {};

template <typename M>
constexpr bool has_process_noise_v = has_process_noise<M>::value;

}  // namespace physguard
