// physguard/detail/kalman_update.hpp - the measurement-update core shared by the Kalman filters.
// Internal: not part of the API.
#pragma once

#include <cmath>
#include <limits>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "../core/numeric.hpp"
#include "../estimate/innovation.hpp"
#include "../estimate/options.hpp"

namespace physguard {
namespace detail {

/// Counts the present components in a mask (first Nz bits).
template <int Nz>
inline int count_present(MeasurementMask mask) noexcept {
  int n = 0;
  for (int i = 0; i < Nz; ++i) n += static_cast<int>((mask >> i) & 1u);
  return n;
}

/// Zeroes the innovation and the rows/columns of S for missing components and puts 1 on their
/// diagonal, so the full-size solve only sees the present ones (and K's columns for the missing
/// components come out exactly zero).
template <typename T, int Nz>
inline void apply_mask(Eigen::Matrix<T, Nz, 1>& y, Eigen::Matrix<T, Nz, Nz>& S,
                       MeasurementMask mask) noexcept {
  for (int i = 0; i < Nz; ++i) {
    if ((mask >> i) & 1u) continue;
    y(i) = T(0);
    S.row(i).setZero();
    S.col(i).setZero();
    S(i, i) = T(1);
  }
}

/// Checks that the present components of z are finite.
template <typename T, int Nz>
inline bool present_finite(const Eigen::Matrix<T, Nz, 1>& z, MeasurementMask mask) noexcept {
  for (int i = 0; i < Nz; ++i)
    if (((mask >> i) & 1u) && !is_finite(z(i))) return false;
  return true;
}

/// Solver for S: a division for scalars, a Cholesky factorisation otherwise.  `ok()` is false
/// when S is not positive definite (or not finite).
///
/// The factorisation and the triangular solves are written out for compile-time sizes (the loops
/// unroll completely for the small S of a Kalman filter), which is several times faster than a
/// general-purpose LLT whose solves run runtime-sized kernels.  Rows of the right-hand side are
/// solved column by column; nothing is ever inverted.
template <typename T, int Nz>
class InnovationSolver {
 public:
  explicit InnovationSolver(const Eigen::Matrix<T, Nz, Nz>& S) {
    ok_ = true;
    for (int j = 0; j < Nz; ++j) {
      T d = S(j, j);
      for (int k = 0; k < j; ++k) d -= L_(j, k) * L_(j, k);
      if (!(d > T(0)) || !is_finite(d)) {
        ok_ = false;
        return;
      }
      const T ljj = std::sqrt(d);
      L_(j, j) = ljj;
      inv_diag_[j] = T(1) / ljj;
      for (int i = j + 1; i < Nz; ++i) {
        T v = S(i, j);
        for (int k = 0; k < j; ++k) v -= L_(i, k) * L_(j, k);
        L_(i, j) = v * inv_diag_[j];
      }
    }
  }
  bool ok() const noexcept { return ok_; }

  /// S^-1 rhs for an Nz x M right-hand side (by forward and back substitution).
  template <int M>
  Eigen::Matrix<T, Nz, M> solve(const Eigen::Matrix<T, Nz, M>& rhs) const {
    Eigen::Matrix<T, Nz, M> x = rhs;
    for (int i = 0; i < Nz; ++i) {  // L z = b
      for (int k = 0; k < i; ++k) x.row(i) -= L_(i, k) * x.row(k);
      x.row(i) *= inv_diag_[i];
    }
    for (int i = Nz - 1; i >= 0; --i) {  // L' x = z
      for (int k = i + 1; k < Nz; ++k) x.row(i) -= L_(k, i) * x.row(k);
      x.row(i) *= inv_diag_[i];
    }
    return x;
  }

  /// rhs S^-1 for an M x Nz right-hand side, working on whole (contiguous) columns: with
  /// S = L L', first X L' = rhs, then K L = X.
  template <int M>
  Eigen::Matrix<T, M, Nz> solve_right(const Eigen::Matrix<T, M, Nz>& rhs) const {
    Eigen::Matrix<T, M, Nz> x = rhs;
    for (int j = 0; j < Nz; ++j) {  // X L' = B: column j uses columns k < j
      for (int k = 0; k < j; ++k) x.col(j) -= L_(j, k) * x.col(k);
      x.col(j) *= inv_diag_[j];
    }
    for (int j = Nz - 1; j >= 0; --j) {  // K L = X: column j uses columns k > j
      for (int k = j + 1; k < Nz; ++k) x.col(j) -= L_(k, j) * x.col(k);
      x.col(j) *= inv_diag_[j];
    }
    return x;
  }

  /// y' S^-1 y = |L^-1 y|^2 (one forward substitution).
  T quadratic_form(const Eigen::Matrix<T, Nz, 1>& y) const {
    T z[Nz];
    T sum = T(0);
    for (int i = 0; i < Nz; ++i) {
      T v = y(i);
      for (int k = 0; k < i; ++k) v -= L_(i, k) * z[k];
      z[i] = v * inv_diag_[i];
      sum += z[i] * z[i];
    }
    return sum;
  }

 private:
  Eigen::Matrix<T, Nz, Nz> L_ = Eigen::Matrix<T, Nz, Nz>::Zero();
  T inv_diag_[Nz] = {};
  bool ok_ = false;
};

template <typename T>
class InnovationSolver<T, 1> {
 public:
  // A positive scalar S: one division, then multiplications (the reciprocal of a checked positive
  // scalar is exact to half an ulp; this is not the matrix inverse the design rules out).
  explicit InnovationSolver(const Eigen::Matrix<T, 1, 1>& S) : s_(S(0, 0)) {
    ok_ = s_ > T(0) && is_finite(s_);
    inv_s_ = T(1) / s_;
  }
  bool ok() const noexcept { return ok_; }
  template <int M>
  Eigen::Matrix<T, 1, M> solve(const Eigen::Matrix<T, 1, M>& rhs) const { return rhs * inv_s_; }
  template <int M>
  Eigen::Matrix<T, M, 1> solve_right(const Eigen::Matrix<T, M, 1>& rhs) const { return rhs * inv_s_; }
  T quadratic_form(const Eigen::Matrix<T, 1, 1>& y) const { return y(0) * y(0) * inv_s_; }
  T inverse_scalar() const noexcept { return inv_s_; }

 private:
  T s_;
  T inv_s_;
  bool ok_ = false;
};

/// Fills NIS, gate, test ratio and status of `rec` (whose y and S are already masked).
/// Returns false when the measurement must not be fused.
template <typename T, int Nz>
inline bool assess(Innovation<T, Nz>& rec, const InnovationSolver<T, Nz>& solver, int dof,
                   const NisGates<T, Nz>& gates, bool reject_outside_gate) {
  rec.dof = static_cast<std::uint8_t>(dof);
  if (!solver.ok()) {
    rec.status = Status::not_positive_definite;
    return false;
  }
  rec.nis = solver.quadratic_form(rec.y);
  rec.gate = gates.for_dof(dof);
  rec.test_ratio = rec.nis * gates.inverse_for_dof(dof);
  if (!is_finite(rec.nis)) {
    rec.status = Status::numerical_failure;
    return false;
  }
  if (reject_outside_gate && rec.test_ratio > T(1)) {
    rec.status = Status::rejected_by_gate;
    return false;
  }
  rec.status = Status::ok;
  return true;
}

/// Makes P exactly symmetric, floors its diagonal and clamps every correlation to [-1, 1]
/// (|P_ij| <= sqrt(P_ii P_jj)): round-off in a near-singular update, or a floored variance, can
/// otherwise leave a correlation above 1 and P indefinite (found by fuzzing a 2-state float filter).
/// The clamp costs two multiplies and a compare per pair; the square root only runs when it acts
/// (or when the squares overflow, where the roots are compared instead).
template <typename T, int Nx>
inline void condition_covariance(Eigen::Matrix<T, Nx, Nx>& P, T variance_floor) noexcept {
  if constexpr (Nx > 1) {
    for (int i = 0; i < Nx; ++i)
      for (int j = i + 1; j < Nx; ++j) {
        const T m = T(0.5) * (P(i, j) + P(j, i));
        P(i, j) = m;
        P(j, i) = m;
      }
  }
  for (int i = 0; i < Nx; ++i)
    if (P(i, i) < variance_floor) P(i, i) = variance_floor;  // a NaN stays NaN: callers refuse it
  if constexpr (Nx > 1) {
    for (int i = 0; i < Nx; ++i)
      for (int j = i + 1; j < Nx; ++j) {
        const T bound2 = P(i, i) * P(j, j);
        const T pij2 = P(i, j) * P(i, j);
        T b;
        if (pij2 > bound2) {
          b = std::sqrt(bound2);
        } else if (pij2 == std::numeric_limits<T>::infinity()) {
          // Both squares overflowed (|P_ij| above sqrt(max)): compare the roots instead (found by
          // fuzzing a 3-state float EKF with variances around 1e21 and 1e31).
          b = std::sqrt(P(i, i)) * std::sqrt(P(j, j));
          if (!(std::abs(P(i, j)) > b)) continue;
        } else {
          continue;
        }
        P(i, j) = P(i, j) > T(0) ? b : -b;
        P(j, i) = P(i, j);
      }
  }
}

/// The general (matrix) case of joseph_update.
template <typename T, int Nx, int Nz>
inline Innovation<T, Nz> joseph_update_general(Eigen::Matrix<T, Nx, 1>& x,
                                               Eigen::Matrix<T, Nx, Nx>& P,
                                               const Eigen::Matrix<T, Nz, 1>& y,
                                               const Eigen::Matrix<T, Nz, Nx>& H,
                                               const Eigen::Matrix<T, Nz, Nz>& R,
                                               MeasurementMask mask, int dof,
                                               const NisGates<T, Nz>& gates,
                                               const EstimatorOptions<T>& options) {
  Innovation<T, Nz> rec;
  rec.y = y;
  // Fixed small sizes: coefficient-based (lazy) products beat Eigen's blocked GEMM kernels.
  const Eigen::Matrix<T, Nx, Nz> PHt = P.lazyProduct(H.transpose());
  rec.S.noalias() = H.lazyProduct(PHt);
  rec.S += R;
  if constexpr (Nz > 1) {
    rec.S = T(0.5) * (rec.S + rec.S.transpose()).eval();
    apply_mask(rec.y, rec.S, mask);
  }
  const InnovationSolver<T, Nz> solver(rec.S);
  if (!assess(rec, solver, dof, gates, options.reject_outside_gate)) return rec;

  // K = P H' S^-1 by substitution on the columns of P H' (S is never inverted).
  const Eigen::Matrix<T, Nz, Nx> HP = PHt.transpose();
  Eigen::Matrix<T, Nx, Nz> K = solver.solve_right(PHt);
  if constexpr (Nz > 1) {
    for (int i = 0; i < Nz; ++i)
      if (!((mask >> i) & 1u)) K.col(i).setZero();
  }
  const Eigen::Matrix<T, Nx, 1> x_new = x + K.lazyProduct(rec.y);
  // Joseph form (I - K H) P (I - K H)' + K R K', evaluated without forming I - K H:
  // W = (I - K H) P = P - K (H P), then W (I - K H)' = W - (W H') K'.
  Eigen::Matrix<T, Nx, Nx> W = P;
  W.noalias() -= K.lazyProduct(HP);
  const Eigen::Matrix<T, Nx, Nz> WHt = W.lazyProduct(H.transpose());
  Eigen::Matrix<T, Nx, Nx> P_new = W;
  P_new.noalias() -= WHt.lazyProduct(K.transpose());
  const Eigen::Matrix<T, Nx, Nz> KR = K.lazyProduct(R);
  P_new.noalias() += KR.lazyProduct(K.transpose());
  condition_covariance(P_new, options.variance_floor);
  if (!all_finite(x_new) || !all_finite(P_new)) {
    rec.status = Status::numerical_failure;
    return rec;
  }
  x = x_new;
  P = P_new;
  rec.accepted = true;
  return rec;
}


/// Linearised (KF / EKF) measurement update in Joseph form.  `y` is z - h(x) for the present
/// components; H and R are the full measurement Jacobian and noise.  Updates x and P in place only
/// when the measurement is accepted and the result is finite.
template <typename T, int Nx, int Nz>
inline Innovation<T, Nz> joseph_update(Eigen::Matrix<T, Nx, 1>& x, Eigen::Matrix<T, Nx, Nx>& P,
                                       const Eigen::Matrix<T, Nz, 1>& y,
                                       const Eigen::Matrix<T, Nz, Nx>& H,
                                       const Eigen::Matrix<T, Nz, Nz>& R, MeasurementMask mask,
                                       const NisGates<T, Nz>& gates,
                                       const EstimatorOptions<T>& options) {
  Innovation<T, Nz> rec;
  const int dof = count_present<Nz>(mask);
  if (dof == 0) {
    rec.status = Status::missing;
    return rec;
  }
  if constexpr (Nx == 1 && Nz == 1) {
    // Scalar filter, written out so that P's dependency chain from one step to the next is as
    // short as possible: s = h^2 P + r, then one division.  Joseph form for a scalar,
    // (1 - k h)^2 P + k^2 r with k = P h / s, reduces exactly to P r / s: a product of positive
    // numbers, so it cannot lose positivity.
    const T p = P(0, 0);
    const T h = H(0, 0);
    const T r = R(0, 0);
    const T ph = p * h;
    const T s = (h * h) * p + r;
    rec.y = y;
    rec.S(0, 0) = s;
    rec.dof = 1;
    if (!(s > T(0)) || !is_finite(s)) {
      rec.status = Status::not_positive_definite;
      return rec;
    }
    const T inv_s = T(1) / s;
    const T yv = y(0);
    rec.nis = yv * yv * inv_s;
    rec.gate = gates.for_dof(1);
    rec.test_ratio = rec.nis * gates.inverse_for_dof(1);
    if (!is_finite(rec.nis)) {
      rec.status = Status::numerical_failure;
      return rec;
    }
    if (options.reject_outside_gate && rec.test_ratio > T(1)) {
      rec.status = Status::rejected_by_gate;
      return rec;
    }
    const T x_new = x(0) + ph * inv_s * yv;
    // A second, independent division rather than a multiply by inv_s: it starts as soon as s is
    // known, which keeps P's chain one multiply shorter.
    T p_new = (p * r) / s;
    p_new = p_new < options.variance_floor ? options.variance_floor : p_new;  // NaN stays NaN
    if (!is_finite(x_new) || !is_finite(p_new)) {
      rec.status = Status::numerical_failure;
      return rec;
    }
    x(0) = x_new;
    P(0, 0) = p_new;
    rec.status = Status::ok;
    rec.accepted = true;
    return rec;
  } else {
    return joseph_update_general(x, P, y, H, R, mask, dof, gates, options);
  }
}

}  // namespace detail
}  // namespace physguard
