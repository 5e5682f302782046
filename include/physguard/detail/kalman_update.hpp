// physguard/detail/kalman_update.hpp - the measurement-update core shared by the Kalman filters.
// Internal: not part of the API.
#pragma once

#include <cmath>
#include <cstdint>
#include <limits>
#include <type_traits>

#include <Eigen/Cholesky>
#include <Eigen/Core>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../estimate/innovation.hpp"
#include "../estimate/options.hpp"

/// Constructor preconditions shared by the Kalman filters: the variances of Q and R are >= 0,
/// x0 and P0 are finite and the variances of P0 are >= 0 (each filter checks Q and R for
/// finiteness itself, with its model).  A macro so that the assertion reports the filter's own
/// line and `name` (a string literal) heads each message.
#define PHYSGUARD_DETAIL_ASSERT_FILTER_ARGUMENTS(name, Q, R, x0, P0)                              \
  PHYSGUARD_ASSERT(::physguard::variances_nonnegative(Q) &&                                     \
                       ::physguard::variances_nonnegative(R),                                   \
                   name ": variances (diagonals of Q and R) must be >= 0");                     \
  PHYSGUARD_ASSERT(::physguard::all_finite(x0) && ::physguard::all_finite(P0),                   \
                   name ": x0 and P0 must be finite");                                          \
  PHYSGUARD_ASSERT(::physguard::variances_nonnegative(P0),                                      \
                   name ": variances (diagonal of P0) must be >= 0")

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

/// Solver for S: a division for scalars, a square-root-free Cholesky factorisation S = L D L'
/// (L unit lower triangular, D diagonal) otherwise.  `ok()` is false when S is not positive
/// definite: a pivot of D not positive or not finite, or so small (subnormal) that its
/// reciprocal overflows.
///
/// The factorisation and the triangular solves are written out for compile-time sizes (the loops
/// unroll completely for the small S of a Kalman filter), which is several times faster than a
/// general-purpose LLT/LDLT whose solves run runtime-sized kernels.  L D L' rather than L L': no
/// square root, so each pivot costs one division on the filter's dependency chain instead of a
/// square root followed by a division, and the solves scale by D^-1 once instead of twice.
/// Rows of the right-hand side are solved column by column; nothing is ever inverted (the
/// reciprocals of the positive pivots are scalars).
template <typename T, int Nz>
class InnovationSolver {
 public:
  explicit InnovationSolver(const Eigen::Matrix<T, Nz, Nz>& S) {
    ok_ = true;
    for (int j = 0; j < Nz; ++j) {
      // LD_(j, k) = L_(j, k) D_k for k < j (the not yet scaled column entries).
      T d = S(j, j);
      for (int k = 0; k < j; ++k) d -= L_(j, k) * LD_(j, k);
      if (!(d > T(0)) || !is_finite(d)) {
        ok_ = false;
        return;
      }
      inv_d_[j] = T(1) / d;
      if (!is_finite(inv_d_[j])) {  // a subnormal pivot: numerically singular
        ok_ = false;
        return;
      }
      for (int i = j + 1; i < Nz; ++i) {
        T v = S(i, j);
        for (int k = 0; k < j; ++k) v -= L_(i, k) * LD_(j, k);
        LD_(i, j) = v;
        L_(i, j) = v * inv_d_[j];
      }
    }
  }
  bool ok() const noexcept { return ok_; }

  /// S^-1 rhs for an Nz x M right-hand side: L z = b, then D L' x = z.
  template <int M>
  Eigen::Matrix<T, Nz, M> solve(const Eigen::Matrix<T, Nz, M>& rhs) const {
    Eigen::Matrix<T, Nz, M> x = rhs;
    for (int i = 0; i < Nz; ++i)
      for (int k = 0; k < i; ++k) x.row(i) -= L_(i, k) * x.row(k);
    for (int i = Nz - 1; i >= 0; --i) {
      x.row(i) *= inv_d_[i];
      for (int k = i + 1; k < Nz; ++k) x.row(i) -= L_(k, i) * x.row(k);
    }
    return x;
  }

  /// rhs S^-1 for an M x Nz right-hand side, working on whole (contiguous) columns: with
  /// S = L D L', first Z L' = rhs, then K L = Z D^-1.
  template <int M>
  Eigen::Matrix<T, M, Nz> solve_right(const Eigen::Matrix<T, M, Nz>& rhs) const {
    Eigen::Matrix<T, M, Nz> x = rhs;
    for (int j = 0; j < Nz; ++j)  // Z L' = B: column j uses columns k < j
      for (int k = 0; k < j; ++k) x.col(j) -= L_(j, k) * x.col(k);
    for (int j = Nz - 1; j >= 0; --j) {  // K L = Z D^-1: column j uses columns k > j
      x.col(j) *= inv_d_[j];
      for (int k = j + 1; k < Nz; ++k) x.col(j) -= L_(k, j) * x.col(k);
    }
    return x;
  }

  /// y' S^-1 y = z' D^-1 z with L z = y (one forward substitution).
  T quadratic_form(const Eigen::Matrix<T, Nz, 1>& y) const {
    T z[Nz];
    T sum = T(0);
    for (int i = 0; i < Nz; ++i) {
      T v = y(i);
      for (int k = 0; k < i; ++k) v -= L_(i, k) * z[k];
      z[i] = v;
      sum += v * v * inv_d_[i];
    }
    return sum;
  }

 private:
  Eigen::Matrix<T, Nz, Nz> L_ = Eigen::Matrix<T, Nz, Nz>::Zero();   // strictly lower part used
  Eigen::Matrix<T, Nz, Nz> LD_ = Eigen::Matrix<T, Nz, Nz>::Zero();  // L D, strictly lower part
  T inv_d_[Nz] = {};
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

/// For a symmetric P with floored diagonal: true when every coefficient is finite and no
/// correlation needs clamping, i.e. when P_ij^2 <= min(P_ii P_jj, max) for every pair i < j and
/// every P_ii <= max.  A NaN or an infinity fails a comparison, and so does a square that
/// overflowed; the symmetric lower triangle needs no look.  No branch per pair: the common case
/// costs two multiplies, a min, a compare and an or per pair.
template <typename T, int Nx>
inline bool finite_and_within_correlation_bounds(const Eigen::Matrix<T, Nx, Nx>& P) noexcept {
  constexpr T max = std::numeric_limits<T>::max();
  bool ok = true;
  for (int j = 0; j < Nx; ++j) {
    const T djj = P(j, j);
    ok &= std::abs(djj) <= max;  // NaN and both infinities fail
    for (int i = 0; i < j; ++i) {
      const T bound2 = P(i, i) * djj;
      const T pij2 = P(i, j) * P(i, j);
      ok &= pij2 <= (bound2 < max ? bound2 : max);
    }
  }
  return ok;
}

/// Makes P exactly symmetric, floors its diagonal and clamps every correlation to [-1, 1]
/// (|P_ij| <= sqrt(P_ii P_jj)): round-off in a near-singular update, or a floored variance, can
/// otherwise leave a correlation above 1 and P indefinite (found by fuzzing a 2-state float filter).
/// The clamp costs two multiplies and a compare per pair; the square root only runs when it acts
/// (or when the squares overflow, where the roots are compared instead).
///
/// Returns whether every coefficient of the conditioned P is finite (callers refuse a P that is
/// not).  From three states on, one branch-free pass over the upper triangle
/// (finite_and_within_correlation_bounds) answers that and shows that the pair loop has nothing
/// to do, which is the common case; otherwise the loop runs and the answer comes from all_finite.
/// `Symmetric = true` skips the averaging for a P that is exactly symmetric already.
template <typename T, int Nx, bool Symmetric = false>
inline bool condition_covariance(Eigen::Matrix<T, Nx, Nx>& P, T variance_floor) noexcept {
  if constexpr (Nx > 1 && !Symmetric) {
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
    if constexpr (Nx >= 3) {
      if (finite_and_within_correlation_bounds(P)) return true;
    }
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
  return all_finite(P);
}

/// How a product is stored: assigned to, added to or subtracted from the destination.
enum class Accumulate { assign, add, subtract };

/// out (=, +=, -=) L R' for small fixed sizes, as a sum of scaled columns: column j of the product
/// is the sum over k of L(:, k) R(j, k), so every coefficient of R is broadcast once and
/// multiplies a whole column of L (Eigen's coefficient-based lazy product broadcasts once per
/// packet of the result, which for the 4- to 8-state filters costs as many shuffles as
/// multiplies).  Sums in k order.
template <Accumulate mode, typename Out, typename Lhs, typename Rhs>
inline void product_transposed(Out&& out, const Lhs& L, const Rhs& R) noexcept {
  using Column = Eigen::Matrix<typename Lhs::Scalar, Lhs::RowsAtCompileTime, 1>;
  for (int j = 0; j < int(out.cols()); ++j) {
    Column acc = L.col(0) * R(j, 0);
    for (int k = 1; k < int(L.cols()); ++k) acc += L.col(k) * R(j, k);
    if constexpr (mode == Accumulate::assign) {
      out.col(j) = acc;
    } else if constexpr (mode == Accumulate::add) {
      out.col(j) += acc;
    } else {
      out.col(j) -= acc;
    }
  }
}

/// out (+=, -=) L R' on the blocks on and above the diagonal only, for a result the caller knows
/// to be symmetric (F P F' + Q, the Joseph form) and completes with mirror_upper.  With N split
/// in halves, three of the four blocks: about a quarter fewer multiplies.  N >= 4.
template <Accumulate mode, typename T, int N, int M>
inline void product_transposed_upper(Eigen::Matrix<T, N, N>& out,
                                     const Eigen::Matrix<T, N, M>& L,
                                     const Eigen::Matrix<T, N, M>& R) noexcept {
  static_assert(N >= 4, "product_transposed_upper: small matrices are multiplied whole");
  static_assert(mode != Accumulate::assign, "product_transposed_upper: accumulates");
  constexpr int h = N / 2;
  constexpr int r = N - h;
  const auto L_top = L.template topRows<h>();
  const auto L_bottom = L.template bottomRows<r>();
  const auto R_top = R.template topRows<h>();
  const auto R_bottom = R.template bottomRows<r>();
  product_transposed<mode>(out.template topLeftCorner<h, h>(), L_top, R_top);
  product_transposed<mode>(out.template topRightCorner<h, r>(), L_top, R_bottom);
  product_transposed<mode>(out.template bottomRightCorner<r, r>(), L_bottom, R_bottom);
}

/// Copies the upper triangle into the lower one: the matrix comes out exactly symmetric.
template <typename T, int N>
inline void mirror_upper(Eigen::Matrix<T, N, N>& m) noexcept {
  for (int j = 0; j < N; ++j)
    for (int i = j + 1; i < N; ++i) m(i, j) = m(j, i);
}

/// Covariance time update P_new = F P F' + Q, symmetric, floored and clamped
/// (condition_covariance); returns whether P_new is finite.  From four states on, F P F' is
/// multiplied on its upper blocks only (product_transposed_upper).
template <typename T, int Nx>
inline bool propagate_covariance(const Eigen::Matrix<T, Nx, Nx>& F,
                                 const Eigen::Matrix<T, Nx, Nx>& P,
                                 const Eigen::Matrix<T, Nx, Nx>& Q, T variance_floor,
                                 Eigen::Matrix<T, Nx, Nx>& P_new) noexcept {
  if constexpr (Nx >= 4) {
    Eigen::Matrix<T, Nx, Nx> FP;
    product_transposed<Accumulate::assign>(FP, F, P.transpose());
    for (int j = 0; j < Nx; ++j)  // the upper triangle of (Q + Q') / 2; mirror_upper does the rest
      for (int i = 0; i <= j; ++i) P_new(i, j) = T(0.5) * (Q(i, j) + Q(j, i));
    product_transposed_upper<Accumulate::add>(P_new, FP, F);
    mirror_upper(P_new);
    return condition_covariance<T, Nx, true>(P_new, variance_floor);
  } else {
    const Eigen::Matrix<T, Nx, Nx> FP = F.lazyProduct(P);
    P_new = FP.lazyProduct(F.transpose());
    P_new += Q;
    return condition_covariance(P_new, variance_floor);
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
  // Fixed small sizes: coefficient-based (lazy) products beat Eigen's blocked GEMM kernels; from
  // four states on, products by scaled columns beat both (product_transposed).
  Eigen::Matrix<T, Nx, Nz> PHt;
  if constexpr (Nx >= 4) {
    product_transposed<Accumulate::assign>(PHt, P, H);
  } else {
    PHt = P.lazyProduct(H.transpose());
  }
  rec.S.noalias() = H.lazyProduct(PHt);
  rec.S += R;
  if constexpr (Nz > 1) {
    rec.S = T(0.5) * (rec.S + rec.S.transpose()).eval();
    apply_mask(rec.y, rec.S, mask);
  }
  const InnovationSolver<T, Nz> solver(rec.S);
  if (!assess(rec, solver, dof, gates, options.reject_outside_gate)) return rec;

  // K = P H' S^-1 by substitution on the columns of P H' (S is never inverted).
  Eigen::Matrix<T, Nx, Nz> K = solver.solve_right(PHt);
  if constexpr (Nz > 1) {
    for (int i = 0; i < Nz; ++i)
      if (!((mask >> i) & 1u)) K.col(i).setZero();
  }
  const Eigen::Matrix<T, Nx, 1> x_new = x + K.lazyProduct(rec.y);
  // Joseph form (I - K H) P (I - K H)' + K R K', evaluated without forming I - K H:
  // W = (I - K H) P = P - K (H P), then W (I - K H)' = W - (W H') K'.  W H' is taken from the
  // computed W, so W's own round-off (large beside a small updated variance, when the sensor is
  // precise) is multiplied by (I - K H)' as in the Joseph form, not passed on.
  Eigen::Matrix<T, Nx, Nx> P_new = P;
  bool P_finite;
  if constexpr (Nx >= 4) {
    // The same terms grouped as W + (K R - W H') K' (one Nx x Nx product instead of two), of
    // which only the upper blocks are multiplied (the result is symmetric), then mirrored.
    // Smaller filters keep the term-by-term order below (the SIMD banks reproduce the 1- and
    // 2-state filters operation for operation).
    product_transposed<Accumulate::subtract>(P_new, K, PHt);  // W = P - K (P H')'
    Eigen::Matrix<T, Nx, Nz> G;
    product_transposed<Accumulate::assign>(G, K, R.transpose());  // K R
    product_transposed<Accumulate::subtract>(G, P_new, H);        // - W H'
    product_transposed<Accumulate::add>(P_new, G, K);
    P_finite = condition_covariance(P_new, options.variance_floor);
  } else {
    const Eigen::Matrix<T, Nz, Nx> HP = PHt.transpose();
    P_new.noalias() -= K.lazyProduct(HP);  // W
    const Eigen::Matrix<T, Nx, Nz> WHt = P_new.lazyProduct(H.transpose());
    P_new.noalias() -= WHt.lazyProduct(K.transpose());
    const Eigen::Matrix<T, Nx, Nz> KR = K.lazyProduct(R);
    P_new.noalias() += KR.lazyProduct(K.transpose());
    P_finite = condition_covariance(P_new, options.variance_floor);
  }
  if (!all_finite(x_new) || !P_finite) {
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
