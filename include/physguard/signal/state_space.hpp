// physguard/signal/state_space.hpp - discrete linear state-space model with compile-time sizes.
#pragma once

#include <Eigen/Core>

namespace physguard {

/// Discrete-time linear time-invariant model
///
///     x[k+1] = A x[k] + B u[k]
///     y[k]   = C x[k] + D u[k]
///
/// with `Nx` states, `Nu` inputs (0 allowed) and `Ny` outputs, all fixed at compile time so that
/// every product is unrolled and nothing touches the heap.  `dt_s` records the sample period the
/// matrices were discretised for (0 when unknown).
template <typename T, int Nx, int Nu, int Ny>
struct LinearStateSpace {
  static_assert(Nx > 0 && Ny > 0 && Nu >= 0, "state and output dimensions must be positive");
  using Scalar = T;
  static constexpr int state_dim = Nx;
  static constexpr int input_dim = Nu;
  static constexpr int output_dim = Ny;

  using StateVector = Eigen::Matrix<T, Nx, 1>;
  using InputVector = Eigen::Matrix<T, Nu, 1>;
  using OutputVector = Eigen::Matrix<T, Ny, 1>;
  using StateMatrix = Eigen::Matrix<T, Nx, Nx>;
  using InputMatrix = Eigen::Matrix<T, Nx, Nu>;
  using OutputMatrix = Eigen::Matrix<T, Ny, Nx>;
  using FeedthroughMatrix = Eigen::Matrix<T, Ny, Nu>;

  StateMatrix A = StateMatrix::Identity();
  InputMatrix B = InputMatrix::Zero();
  OutputMatrix C = OutputMatrix::Zero();
  FeedthroughMatrix D = FeedthroughMatrix::Zero();
  T dt_s = T(0);

  StateVector next_state(const StateVector& x, const InputVector& u) const { return A * x + B * u; }
  OutputVector output(const StateVector& x, const InputVector& u) const { return C * x + D * u; }
  OutputVector output(const StateVector& x) const { return C * x; }

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW
};

}  // namespace physguard
