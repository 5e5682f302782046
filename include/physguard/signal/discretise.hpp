// physguard/signal/discretise.hpp - continuous-time linear models, the matrix exponential, and
// their exact discretisation (zero-order hold for the inputs, Van Loan with doubling for the
// process noise).
#pragma once

#include <cmath>
#include <limits>

#include <Eigen/Core>
#include <Eigen/LU>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "state_space.hpp"

namespace physguard {

/// Continuous-time linear time-invariant model
///
///     dx/dt = A x + B u
///     y     = C x + D u
///
/// with the time derivative in 1/s: A has units 1/s, B maps input units to state units per second.
/// Discretise it for a sample period with `discretise_zoh`.
template <typename T, int Nx, int Nu, int Ny>
struct ContinuousStateSpace {
  static_assert(Nx > 0 && Ny > 0 && Nu >= 0, "state and output dimensions must be positive");
  using Scalar = T;
  static constexpr int state_dim = Nx;
  static constexpr int input_dim = Nu;
  static constexpr int output_dim = Ny;

  using StateMatrix = Eigen::Matrix<T, Nx, Nx>;
  using InputMatrix = Eigen::Matrix<T, Nx, Nu>;
  using OutputMatrix = Eigen::Matrix<T, Ny, Nx>;
  using FeedthroughMatrix = Eigen::Matrix<T, Ny, Nu>;

  StateMatrix A = StateMatrix::Zero();
  InputMatrix B = InputMatrix::Zero();
  OutputMatrix C = OutputMatrix::Zero();
  FeedthroughMatrix D = FeedthroughMatrix::Zero();

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW
};

namespace detail {
/// The number of halvings s that brings a finite 1-norm times a finite, non-negative factor below
/// 1/2: norm factor / 2^s < 1/2 (0 when it is there already).  Taken from the binary exponents,
/// so it is also right when the product overflows.
template <typename T>
int halvings_below_one_half(T norm, T factor) {
  const T product = norm * factor;
  if (!(product > T(0.5))) return 0;
  int s = 0;
  if (is_finite(product)) {
    (void)std::frexp(product, &s);  // product < 2^s
  } else {
    int en = 0, ef = 0;
    (void)std::frexp(norm, &en);
    (void)std::frexp(factor, &ef);
    s = en + ef;  // norm factor < 2^(en + ef)
  }
  return s + 1;
}
}  // namespace detail

/// exp(M) of a fixed-size square matrix by scaling and squaring with a diagonal [6/6] Padé
/// approximant:  M is scaled by 2^-s so that its 1-norm is at most 1/2, exp is approximated by
/// D(M/2^s)^-1 N(M/2^s) (solved with a partially pivoted LU, no explicit inverse) and the result is
/// squared s times.  The truncation error of the approximant at norm 1/2 is about 2e-17 relative,
/// below double rounding.  Cost: 6 + s matrix products and one N x N solve; no heap.
///
/// A non-finite coefficient, or a 1-norm that overflows, gives an all-NaN result.
template <typename T, int N>
Eigen::Matrix<T, N, N> matrix_exponential(const Eigen::Matrix<T, N, N>& M) {
  static_assert(N > 0, "matrix_exponential needs a fixed, positive size");
  using Mat = Eigen::Matrix<T, N, N>;
  if (!all_finite(M)) return Mat::Constant(std::numeric_limits<T>::quiet_NaN());

  // 1-norm: the largest absolute column sum.
  const T norm = M.cwiseAbs().colwise().sum().maxCoeff();
  if (!is_finite(norm)) return Mat::Constant(std::numeric_limits<T>::quiet_NaN());
  const int s = detail::halvings_below_one_half(norm, T(1));
  const Mat A = M * std::ldexp(T(1), -s);

  // Padé [6/6] coefficients c_k = (12-k)! 6! / (12! k! (6-k)!), by recurrence.
  T c[7];
  c[0] = T(1);
  for (int k = 1; k <= 6; ++k) c[k] = c[k - 1] * T(6 - k + 1) / T(k * (12 - k + 1));

  const Mat I = Mat::Identity();
  const Mat A2 = A * A;
  const Mat A4 = A2 * A2;
  const Mat A6 = A4 * A2;
  const Mat V = c[0] * I + c[2] * A2 + c[4] * A4 + c[6] * A6;           // even part
  const Mat U = A * (c[1] * I + c[3] * A2 + c[5] * A4);                 // odd part
  const Eigen::PartialPivLU<Mat> lu(V - U);
  Mat E = lu.solve(V + U);
  for (int i = 0; i < s; ++i) {
    const Mat E2 = E * E;
    E = E2;
  }
  return E;
}

/// Exact discretisation of a continuous model for a sample period dt_s (seconds) with the inputs
/// held constant over each period (zero-order hold):
///
///     exp([[A, B], [0, 0]] dt) = [[Ad, Bd], [0, I]]      Ad = exp(A dt), Bd = ∫0^dt exp(A s) ds B
///
/// C and D are unchanged; the result records dt_s.  dt_s = 0 gives Ad = I, Bd = 0.
template <typename T, int Nx, int Nu, int Ny>
LinearStateSpace<T, Nx, Nu, Ny> discretise_zoh(const ContinuousStateSpace<T, Nx, Nu, Ny>& model,
                                               T dt_s) {
  PHYSGUARD_ASSERT(dt_s >= T(0) && is_finite(dt_s), "sample period must be finite and >= 0");
  constexpr int N = Nx + Nu;
  Eigen::Matrix<T, N, N> M = Eigen::Matrix<T, N, N>::Zero();
  M.template topLeftCorner<Nx, Nx>() = model.A * dt_s;
  M.template topRightCorner<Nx, Nu>() = model.B * dt_s;
  const Eigen::Matrix<T, N, N> E = matrix_exponential(M);
  LinearStateSpace<T, Nx, Nu, Ny> d;
  d.A = E.template topLeftCorner<Nx, Nx>();
  d.B = E.template topRightCorner<Nx, Nu>();
  d.C = model.C;
  d.D = model.D;
  d.dt_s = dt_s;
  return d;
}

/// Discrete process-noise covariance of dx/dt = A x + w, with w continuous white noise of spectral
/// density Qc (state units^2 per second), over dt_s seconds:
///
///     Qd = ∫0^dt exp(A s) Qc exp(A s)^T ds
///
/// Van Loan's block exponential gives it over a short step h = dt / 2^k, with ||A h||_1 <= 1/2:
///
///     exp([[-A, Qc], [0, A^T]] h) = [[.., G], [0, F^T]]      F = exp(A h),  Q(h) = F G
///
/// and k doublings Q(2h) = Q(h) + F Q(h) F^T, F(2h) = F F extend it to dt.  Applied to the whole
/// step at once, the block method subtracts terms that grow like exp(||A|| dt) from one another: a
/// stable three-state model with ||A|| dt around 20 loses every digit in float (the variances come
/// out negative).  The doublings only add covariances, so nothing cancels, at the cost of about 3
/// small products per doubling (none when ||A|| dt <= 1/2).
///
/// Accuracy: within a few hundred epsilon of T for stable models (tested up to ||A|| dt = 1e4).
/// Like every scaling-and-squaring scheme, the squarings F = F F multiply the rounding of a slow
/// mode's exp(lambda h) by 2^k: a mode with lambda near 0 coupled to fast ones (two connected
/// tanks, an integrator in a non-triangular basis) keeps a relative error of about
/// ||A|| dt epsilon, which is 1e-3 at ||A|| dt = 1e4 in float.  Use double there, or a shorter
/// step.
///
/// The result is symmetric.  dt_s = 0 gives Qd = 0.  A non-finite A gives an all-NaN result.
template <typename T, int Nx>
Eigen::Matrix<T, Nx, Nx> discretise_process_noise(const Eigen::Matrix<T, Nx, Nx>& A,
                                                  const Eigen::Matrix<T, Nx, Nx>& Qc, T dt_s) {
  PHYSGUARD_ASSERT(dt_s >= T(0) && is_finite(dt_s), "sample period must be finite and >= 0");
  using Mat = Eigen::Matrix<T, Nx, Nx>;
  // Number of doublings: ||A||_1 dt / 2^k < 1/2 (the criterion of matrix_exponential).
  const T a_norm = A.cwiseAbs().colwise().sum().maxCoeff();
  if (!is_finite(a_norm)) return Mat::Constant(std::numeric_limits<T>::quiet_NaN());
  const int k = detail::halvings_below_one_half(a_norm, dt_s);
  const T h = std::ldexp(dt_s, -k);
  constexpr int N = 2 * Nx;
  Eigen::Matrix<T, N, N> M = Eigen::Matrix<T, N, N>::Zero();
  M.template topLeftCorner<Nx, Nx>() = -A * h;
  M.template topRightCorner<Nx, Nx>() = Qc * h;
  M.template bottomRightCorner<Nx, Nx>() = A.transpose() * h;
  const Eigen::Matrix<T, N, N> E = matrix_exponential(M);
  Mat F = E.template bottomRightCorner<Nx, Nx>().transpose();
  const Mat Qh = F * E.template topRightCorner<Nx, Nx>();
  Mat Q = T(0.5) * (Qh + Qh.transpose());
  for (int i = 0; i < k; ++i) {
    const Mat FQ = F * Q;
    const Mat Q2 = Q + FQ * F.transpose();
    Q = T(0.5) * (Q2 + Q2.transpose());
    if (i + 1 < k) {
      const Mat F2 = F * F;
      F = F2;
    }
  }
  return Q;
}

}  // namespace physguard
