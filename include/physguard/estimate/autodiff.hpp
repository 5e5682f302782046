// physguard/estimate/autodiff.hpp - forward-mode Jacobians of templated functors, and the
// Jacobians of a nonlinear model (analytic when the model gives them, automatic otherwise).
#pragma once

#include <Eigen/Core>
#include <type_traits>
#include <unsupported/Eigen/AutoDiff>

#include "../signal/nonlinear.hpp"

namespace physguard {

/// Forward-mode dual number carrying the value and the N partial derivatives with respect to the
/// N components of the point of differentiation.
///
/// This is Eigen's AutoDiffScalar with a fixed-size derivative vector, so a dual lives on the
/// stack and nothing allocates.  It was chosen over a home-made dual type after checking that it
/// compiles warning-free with g++ 12 and clang++ 14 at -Wall -Wextra -Wpedantic -Werror, with
/// -fno-exceptions -fno-rtti, and allocates nothing under EIGEN_RUNTIME_NO_MALLOC (the EKF tests
/// run the automatic route inside a NoMallocScope and a heap counter).  It provides +, -, *, /,
/// comparisons with plain scalars and, found by argument-dependent lookup, sqrt, exp, log, sin,
/// cos, tan, pow, abs, atan2, min and max.
template <typename T, int N>
using Dual = Eigen::AutoDiffScalar<Eigen::Matrix<T, N, 1>>;

/// Evaluates f at x and its Jacobian J = df/dx by one pass of forward-mode automatic
/// differentiation (N dual directions at once).  `f` is a callable template such as a generic
/// lambda: given `const Eigen::Matrix<Dual<T, N>, N, 1>&` it returns
/// `Eigen::Matrix<Dual<T, N>, M, 1>`.  Returns f(x); M is taken from J.  No heap.
template <typename F, typename T, int N, int M>
Eigen::Matrix<T, M, 1> autodiff_jacobian(const F& f, const Eigen::Matrix<T, N, 1>& x,
                                         Eigen::Matrix<T, M, N>& J) {
  using D = Dual<T, N>;
  Eigen::Matrix<D, N, 1> xd;
  for (int i = 0; i < N; ++i) {
    xd(i).value() = x(i);
    xd(i).derivatives() = Eigen::Matrix<T, N, 1>::Unit(i);
  }
  const Eigen::Matrix<D, M, 1> fd = f(xd);
  Eigen::Matrix<T, M, 1> value;
  for (int r = 0; r < M; ++r) {
    value(r) = fd(r).value();
    J.row(r) = fd(r).derivatives().transpose();
  }
  return value;
}

/// df/dx of a nonlinear model's transition at (x, u, dt_s) by automatic differentiation (even
/// when the model has an analytic Jacobian: use it to check one against the other).
template <typename Model>
Eigen::Matrix<typename Model::Scalar, Model::state_dim, Model::state_dim>
autodiff_transition_jacobian(const Model& model,
                             const Eigen::Matrix<typename Model::Scalar, Model::state_dim, 1>& x,
                             const Eigen::Matrix<typename Model::Scalar, Model::input_dim, 1>& u,
                             typename Model::Scalar dt_s) {
  using T = typename Model::Scalar;
  constexpr int Nx = Model::state_dim;
  using D = Dual<T, Nx>;
  Eigen::Matrix<T, Nx, Nx> J;
  (void)autodiff_jacobian(
      [&](const Eigen::Matrix<D, Nx, 1>& xd) { return model.template transition<D>(xd, u, dt_s); },
      x, J);
  return J;
}

/// dh/dx of a nonlinear model's measurement at x by automatic differentiation.
template <typename Model>
Eigen::Matrix<typename Model::Scalar, Model::measurement_dim, Model::state_dim>
autodiff_measurement_jacobian(const Model& model,
                              const Eigen::Matrix<typename Model::Scalar, Model::state_dim, 1>& x) {
  using T = typename Model::Scalar;
  constexpr int Nx = Model::state_dim;
  using D = Dual<T, Nx>;
  Eigen::Matrix<T, Model::measurement_dim, Nx> J;
  (void)autodiff_jacobian(
      [&](const Eigen::Matrix<D, Nx, 1>& xd) { return model.template measure<D>(xd); }, x, J);
  return J;
}

/// df/dx of the model's transition: the model's own transition_jacobian() when it has one,
/// automatic differentiation otherwise.
template <typename Model>
Eigen::Matrix<typename Model::Scalar, Model::state_dim, Model::state_dim> model_transition_jacobian(
    const Model& model, const Eigen::Matrix<typename Model::Scalar, Model::state_dim, 1>& x,
    const Eigen::Matrix<typename Model::Scalar, Model::input_dim, 1>& u,
    typename Model::Scalar dt_s) {
  if constexpr (has_transition_jacobian_v<Model>)
    return model.transition_jacobian(x, u, dt_s);
  else
    return autodiff_transition_jacobian(model, x, u, dt_s);
}

/// dh/dx of the model's measurement: the model's own measurement_jacobian() when it has one,
/// automatic differentiation otherwise.
template <typename Model>
Eigen::Matrix<typename Model::Scalar, Model::measurement_dim, Model::state_dim>
model_measurement_jacobian(const Model& model,
                           const Eigen::Matrix<typename Model::Scalar, Model::state_dim, 1>& x) {
  if constexpr (has_measurement_jacobian_v<Model>)
    return model.measurement_jacobian(x);
  else
    return autodiff_measurement_jacobian(model, x);
}

}  // namespace physguard
