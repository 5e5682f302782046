// physguard/estimate/riccati.hpp - the filtering discrete algebraic Riccati equation (DARE).
#pragma once

#include <limits>
#include <type_traits>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/LU>

#include "../core/numeric.hpp"
#include "../core/status.hpp"

namespace physguard {

/// Options of solve_dare().
template <typename T>
struct DareOptions {
  /// Maximum number of doubling steps.  Step k accounts for 2^k steps of the Riccati recursion, so
  /// 64 is far more than any detectable, stabilisable system needs (typically 5 to 30).
  int max_iterations = 64;
  /// Converged when max|P_{k+1} - P_k| <= tolerance * max|P_{k+1}| (elementwise maxima).
  T tolerance = T(16) * std::numeric_limits<T>::epsilon();
};

/// Result of solve_dare(): the steady-state prior covariance P, the gain K = P C' (C P C' + R)^-1,
/// the innovation covariance S = C P C' + R, the number of doubling steps, the Frobenius norm of
/// the DARE residual  A P A' - A P C' S^-1 C P A' + Q - P  and the outcome:
///   - Status::ok                the iteration converged, P is finite, S is positive definite and
///                               the error dynamics A (I - K C) are stable;
///   - Status::numerical_failure not converged (the pair (A, C) is not detectable: an unstable or
///                               marginal mode is not seen by the measurement), or the converged P
///                               is not stabilising ((A, Q^1/2) not stabilisable: a marginal mode
///                               with no process noise), or non-finite numbers appeared;
///   - Status::invalid_argument  R is not symmetric positive definite, Q has a negative variance
///                               on its diagonal, or an input is not finite.
/// P, K and S hold the last iterate whatever the status (zero when the inputs were invalid).
template <typename T, int Nx, int Nz>
struct DareResult {
  Eigen::Matrix<T, Nx, Nx> P = Eigen::Matrix<T, Nx, Nx>::Zero();
  Eigen::Matrix<T, Nx, Nz> K = Eigen::Matrix<T, Nx, Nz>::Zero();
  Eigen::Matrix<T, Nz, Nz> S = Eigen::Matrix<T, Nz, Nz>::Zero();
  int iterations = 0;
  T residual_norm = T(0);
  bool converged = false;
  bool stabilizing = false;
  Status status = Status::numerical_failure;

  bool ok() const noexcept { return status == Status::ok; }

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW
};

namespace detail {

template <typename T, int N>
inline void symmetrize(Eigen::Matrix<T, N, N>& M) noexcept {
  for (int i = 0; i < N; ++i)
    for (int j = i + 1; j < N; ++j) {
      const T m = T(0.5) * (M(i, j) + M(j, i));
      M(i, j) = m;
      M(j, i) = m;
    }
}

/// Sufficient test for spectral radius < 1 by repeated squaring: if some power F^(2^m) has
/// Frobenius norm below 1/2 then rho(F) < 1 (any submultiplicative norm bounds rho).  Gives up
/// after (digits - 4) squarings, i.e. rejects spectral radii within about 2^-(digits-4) of 1,
/// which covers exactly marginal modes left alone by the gain.
template <typename T, int N>
inline bool is_schur_stable(const Eigen::Matrix<T, N, N>& F) noexcept {
  Eigen::Matrix<T, N, N> M = F;
  const int max_squarings = std::numeric_limits<T>::digits - 4;
  for (int i = 0; i <= max_squarings; ++i) {
    const T norm = M.norm();
    if (!is_finite(norm)) return false;
    if (norm < T(0.5)) return true;
    const Eigen::Matrix<T, N, N> M2 = M * M;
    M = M2;
  }
  return false;
}

template <typename T, int Nx, int Nz>
DareResult<T, Nx, Nz> solve_dare_fixed(const Eigen::Matrix<T, Nx, Nx>& A,
                                       const Eigen::Matrix<T, Nz, Nx>& C,
                                       const Eigen::Matrix<T, Nx, Nx>& Q,
                                       const Eigen::Matrix<T, Nz, Nz>& R,
                                       const DareOptions<T>& options) {
  using StateMatrix = Eigen::Matrix<T, Nx, Nx>;
  DareResult<T, Nx, Nz> result;
  if (!all_finite(A) || !all_finite(C) || !all_finite(Q) || !all_finite(R) ||
      !variances_nonnegative(Q)) {
    result.status = Status::invalid_argument;
    return result;
  }
  Eigen::Matrix<T, Nz, Nz> R_sym = R;
  detail::symmetrize(R_sym);
  const Eigen::LLT<Eigen::Matrix<T, Nz, Nz>> R_llt(R_sym);
  if (R_llt.info() != Eigen::Success) {
    result.status = Status::invalid_argument;
    return result;
  }

  // G = C' R^-1 C = M' M with M = L^-1 C (R = L L').
  const Eigen::Matrix<T, Nz, Nx> M = R_llt.matrixL().solve(C);
  StateMatrix Ak = A.transpose();
  StateMatrix Gk = M.transpose() * M;
  StateMatrix Hk = Q;
  detail::symmetrize(Hk);

  const StateMatrix I = StateMatrix::Identity();
  for (int k = 1; k <= options.max_iterations; ++k) {
    const StateMatrix W = I + Gk * Hk;
    const Eigen::PartialPivLU<StateMatrix> lu(W);
    const StateMatrix WinvA = lu.solve(Ak);
    const StateMatrix WinvG = lu.solve(Gk);  // symmetric in exact arithmetic: (I+GH)^-1 G
    const StateMatrix AWinvA = Ak * WinvA;
    StateMatrix G_next = Gk + Ak * WinvG * Ak.transpose();
    StateMatrix H_next = Hk + Ak.transpose() * Hk * WinvA;
    detail::symmetrize(G_next);
    detail::symmetrize(H_next);
    result.iterations = k;
    if (!all_finite(AWinvA) || !all_finite(G_next) || !all_finite(H_next)) {
      result.P = Hk;
      result.status = Status::numerical_failure;
      return result;
    }
    // Max-abs norms: no squares, so no overflow before the iterates themselves overflow.
    const T change = (H_next - Hk).cwiseAbs().maxCoeff();
    const T size = H_next.cwiseAbs().maxCoeff();
    Ak = AWinvA;
    Gk = G_next;
    Hk = H_next;
    if (change <= options.tolerance * size) {
      result.converged = true;
      break;
    }
  }

  result.P = Hk;
  const Eigen::Matrix<T, Nx, Nz> PCt = Hk * C.transpose();
  result.S = C * PCt;
  result.S += R_sym;
  detail::symmetrize(result.S);
  const Eigen::LLT<Eigen::Matrix<T, Nz, Nz>> S_llt(result.S);
  if (S_llt.info() != Eigen::Success) {
    result.status = Status::numerical_failure;
    return result;
  }
  result.K = S_llt.solve(PCt.transpose()).transpose();

  // Residual of the equation as written: A (P - K S K') A' + Q - P  (K S K' = P C' S^-1 C P).
  const StateMatrix Ppost = Hk - result.K * result.S * result.K.transpose();
  const StateMatrix residual = A * Ppost * A.transpose() + Q - Hk;
  result.residual_norm = residual.norm();

  // Prior-error dynamics of the steady filter: e[k+1] = A (I - K C) e[k] + noise.
  StateMatrix F = A;
  F -= A * result.K * C;
  result.stabilizing = detail::is_schur_stable(F);

  const bool finite =
      all_finite(result.P) && all_finite(result.K) && is_finite(result.residual_norm);
  result.status = (result.converged && result.stabilizing && finite) ? Status::ok
                                                                     : Status::numerical_failure;
  return result;
}

}  // namespace detail

/// Solves the filtering discrete algebraic Riccati equation
///
///     P = A P A' - A P C' (C P C' + R)^-1 C P A' + Q
///
/// for the steady-state PRIOR (predicted) covariance P of the Kalman filter for
/// x[k+1] = A x[k] + w, z[k] = C x[k] + v, w ~ N(0, Q), v ~ N(0, R), with R > 0 and Q >= 0.
///
/// Method: the structure-preserving doubling algorithm (SDA).  With G = C' R^-1 C the equation is
/// P = A P (I + G P)^-1 A' + Q, and the iteration
///
///     W_k     = I + G_k H_k
///     A_{k+1} = A_k W_k^-1 A_k
///     G_{k+1} = G_k + A_k W_k^-1 G_k A_k'
///     H_{k+1} = H_k + A_k' H_k W_k^-1 A_k          (here A_0 = A', G_0 = G, H_0 = Q)
///
/// makes H_k equal to the covariance after 2^k steps of the Riccati recursion started from P = 0,
/// so it converges quadratically (doubling the horizon each step) to the stabilising solution
/// whenever (A, C) is detectable and (A, Q^1/2) is stabilisable.  W_k = I + (PSD)(PSD) is never
/// singular; it is factorised by LU with partial pivoting and only ever solved with.  R^-1 enters
/// through a triangular solve with its Cholesky factor.  Afterwards the gain and the closed-loop
/// stability of A (I - K C) are checked independently of the iteration.
///
/// Fixed sizes, no heap, no exceptions.  Cost: about 6 Nx^3 multiply-adds per doubling step; meant
/// for construction time, not the per-sample path.
///
/// Arguments are any fixed-size Eigen expressions of one scalar type: A (Nx x Nx), C (Nz x Nx),
/// Q (Nx x Nx), R (Nz x Nz).
template <typename DA, typename DC, typename DQ, typename DR>
DareResult<typename DA::Scalar, DA::RowsAtCompileTime, DC::RowsAtCompileTime> solve_dare(
    const Eigen::MatrixBase<DA>& A, const Eigen::MatrixBase<DC>& C, const Eigen::MatrixBase<DQ>& Q,
    const Eigen::MatrixBase<DR>& R,
    const DareOptions<typename DA::Scalar>& options = DareOptions<typename DA::Scalar>{}) {
  using T = typename DA::Scalar;
  constexpr int Nx = DA::RowsAtCompileTime;
  constexpr int Nz = DC::RowsAtCompileTime;
  static_assert(Nx > 0 && Nz > 0, "solve_dare needs fixed sizes");
  static_assert(DA::ColsAtCompileTime == Nx && DC::ColsAtCompileTime == Nx &&
                    DQ::RowsAtCompileTime == Nx && DQ::ColsAtCompileTime == Nx &&
                    DR::RowsAtCompileTime == Nz && DR::ColsAtCompileTime == Nz,
                "solve_dare: A is Nx x Nx, C is Nz x Nx, Q is Nx x Nx, R is Nz x Nz");
  static_assert(std::is_same<typename DC::Scalar, T>::value &&
                    std::is_same<typename DQ::Scalar, T>::value &&
                    std::is_same<typename DR::Scalar, T>::value,
                "solve_dare: one scalar type for every matrix");
  return detail::solve_dare_fixed<T, Nx, Nz>(A, C, Q, R, options);
}

}  // namespace physguard
