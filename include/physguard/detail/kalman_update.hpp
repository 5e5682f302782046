// physguard/detail/kalman_update.hpp - the measurement-update core shared by the Kalman filters.
// Internal: not part of the API.
#pragma once

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

/// Solver for S: a division for scalars, LLT otherwise.  `ok()` is false when S is not positive
/// definite (or not finite).
template <typename T, int Nz>
class InnovationSolver {
 public:
  explicit InnovationSolver(const Eigen::Matrix<T, Nz, Nz>& S) : llt_(S) {
    ok_ = llt_.info() == Eigen::Success && all_finite(llt_.matrixLLT());
  }
  bool ok() const noexcept { return ok_; }
  template <typename Rhs>
  auto solve(const Rhs& rhs) const { return llt_.solve(rhs); }

 private:
  Eigen::LLT<Eigen::Matrix<T, Nz, Nz>> llt_;
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
  template <typename Rhs>
  auto solve(const Rhs& rhs) const { return rhs * inv_s_; }
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
  rec.nis = rec.y.dot(solver.solve(rec.y));
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

/// Makes P exactly symmetric and floors its diagonal.
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
    if (!(P(i, i) >= variance_floor)) P(i, i) = variance_floor;
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

  // K = P H' S^-1, computed as (S^-1 (P H')')' without forming S^-1.
  Eigen::Matrix<T, Nx, Nz> K = solver.solve(PHt.transpose()).transpose();
  if constexpr (Nz > 1) {
    for (int i = 0; i < Nz; ++i)
      if (!((mask >> i) & 1u)) K.col(i).setZero();
  }
  const Eigen::Matrix<T, Nx, 1> x_new = x + K * rec.y;
  if constexpr (Nx == 1 && Nz == 1) {
    // Scalar Joseph form: (1 - k h)^2 P + k^2 r with k = P h / s reduces exactly to P r / s,
    // a product of positive numbers (no cancellation), so it is both exact and cheap.
    Eigen::Matrix<T, 1, 1> P_new;
    P_new(0, 0) = P(0, 0) * R(0, 0) * solver.inverse_scalar();
    condition_covariance(P_new, options.variance_floor);
    if (!is_finite(x_new(0)) || !is_finite(P_new(0, 0))) {
      rec.status = Status::numerical_failure;
      return rec;
    }
    x = x_new;
    P = P_new;
    rec.accepted = true;
    return rec;
  }
  Eigen::Matrix<T, Nx, Nx> IKH = Eigen::Matrix<T, Nx, Nx>::Identity();
  IKH.noalias() -= K.lazyProduct(H);
  // Joseph form: (I - K H) P (I - K H)' + K R K', a sum of two positive semi-definite products.
  const Eigen::Matrix<T, Nx, Nx> IKHP = IKH.lazyProduct(P);
  Eigen::Matrix<T, Nx, Nx> P_new = IKHP.lazyProduct(IKH.transpose());
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

}  // namespace detail
}  // namespace physguard
