// physguard/identify/noise_covariance.hpp - process and measurement noise covariances Q and R of a
// general linear state-space model from the innovations of a running, sub-optimal filter
// (autocovariance least squares).
//
// CONFIGURATION-TIME CODE: allocates (Eigen dynamic sizes); run it on a host or once at start-up.
// The result configures the firmware-safe KalmanFilter / SteadyStateKalmanFilter.  No exceptions,
// no RTTI.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <vector>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>

#include "../core/statistics.hpp"
#include "../core/status.hpp"
#include "../estimate/riccati.hpp"
#include "../signal/state_space.hpp"
#include "noise.hpp"

namespace physguard::identify {

/// Which entries of a covariance are estimated.
enum class CovarianceStructure : std::uint8_t {
  diagonal,  ///< independent components: the diagonal, each entry kept >= 0 (bound-constrained LS)
  full,      ///< every entry of the symmetric matrix; projected onto the PSD cone afterwards
};

/// Options of estimate_noise_covariances().
struct NoiseCovarianceOptions {
  /// Structure of Qw (the covariance of w in G w).  With the default G = I, Qw is Q.
  CovarianceStructure process_structure = CovarianceStructure::diagonal;
  /// Structure of R.
  CovarianceStructure measurement_structure = CovarianceStructure::diagonal;
  /// G (Nx x Ng): the process noise enters as G w, so Q = G Qw G'.  Empty: G = I (Ng = Nx).
  /// Use it to say where noise can enter (a disturbance flow into one tank, an acceleration in a
  /// constant-velocity model) and so to estimate fewer, better-determined parameters.
  Eigen::MatrixXd process_noise_input;
  /// Number L of innovation autocovariance lags 0 .. L-1 fitted.  0: automatic, the smallest L with
  /// |Abar^L|_F <= 0.01 (the correlation the filter leaves has died out), at most 100 and at
  /// least Nx + 2.
  int lags = 0;
  /// Innovations dropped at the start while the filter forgets its initial state.  -1: automatic,
  /// the smallest k with |Abar^k|_F <= 1e-6.
  int burn_in_samples = -1;
  /// Subtract the innovations' sample mean (an unmodelled constant offset would otherwise enter
  /// every lag).  Costs nothing measurable when the mean is zero.
  bool remove_mean = true;
  /// After the first estimate, re-run the filter with the optimal gain of the estimate and
  /// estimate again, this many times (the estimate is consistent for any stable gain; a gain near
  /// the optimum usually gives a smaller spread).
  int refinements = 1;
  /// Condition number (2-norm, after scaling each column to unit length) of the least-squares
  /// design above which the noise is declared not identifiable: Status::numerical_failure.
  double max_condition = 1e6;
  /// Fewest innovations (after the burn-in) accepted; also at least 20 L.  Fewer:
  /// Status::not_initialised.
  std::size_t min_samples = 500;
  /// Ljung-Box lags for the whiteness check of the final filter's innovations.
  int whiteness_lags = 20;
  /// Contiguous blocks for the batch-means standard errors (0 or 1: none).
  int error_blocks = 10;
  /// Initial prior state estimate x^[0|-1] of the filter (empty: zero).
  Eigen::VectorXd initial_state;
};

/// Result of estimate_noise_covariances().
///
/// `status`: ok; invalid_argument (sizes, non-finite data or model, R/Q guess for which the DARE
/// fails, a gain whose error dynamics Abar are not stable); not_initialised (too few samples
/// after the burn-in); numerical_failure (the design is rank deficient or worse conditioned than
/// max_condition: these noise parameters cannot be told apart from this model's outputs - use
/// a structure with fewer parameters or a G).  Q, R, Qw and the standard errors are set only when
/// ok (zero / empty otherwise); condition_number, lags and burn_in_samples whenever computed.
///
/// The check of the filter built with the estimate (`filter_status` = the DARE's status, gain,
/// S, NIS, whiteness) is separate: an estimate with a variance clamped to zero is returned with
/// status ok, but the DARE may have no stabilising solution for it (a singular R; no process
/// noise on an integrator), and then filter_status says so and white() is false.
template <int Nx, int Nz>
struct NoiseCovarianceEstimate {
  Status status = Status::not_initialised;
  Eigen::Matrix<double, Nx, Nx> Q = Eigen::Matrix<double, Nx, Nx>::Zero();  ///< G Qw G'
  Eigen::Matrix<double, Nz, Nz> R = Eigen::Matrix<double, Nz, Nz>::Zero();
  Eigen::MatrixXd Qw;  ///< Ng x Ng (equal to Q when G = I)
  /// Batch-means standard errors of the estimated entries of Qw and R (same layout; 0 where an
  /// entry is not estimated; NaN when error_blocks < 2).  From the unconstrained fits.
  Eigen::MatrixXd Qw_standard_error;
  Eigen::Matrix<double, Nz, Nz> R_standard_error = Eigen::Matrix<double, Nz, Nz>::Zero();
  bool clamped = false;  ///< a bound (>= 0) was active or a negative eigenvalue was removed
  double condition_number = std::numeric_limits<double>::quiet_NaN();
  /// RMS residual of the autocovariance fit (units of z^2).
  double fit_residual = std::numeric_limits<double>::quiet_NaN();
  int lags = 0;                ///< L used (last estimate)
  int burn_in_samples = 0;     ///< innovations dropped (last estimate)
  std::size_t samples = 0;     ///< innovations used for the autocovariances (last estimate)
  int refinements = 0;         ///< re-estimations done with the estimate's own gain

  /// The steady-state Kalman filter of the estimate: DARE status, gain K, innovation covariance S.
  Status filter_status = Status::not_initialised;
  Eigen::Matrix<double, Nx, Nz> K = Eigen::Matrix<double, Nx, Nz>::Zero();
  Eigen::Matrix<double, Nz, Nz> S = Eigen::Matrix<double, Nz, Nz>::Zero();
  /// Mean NIS of that filter over the recording after its burn-in (nis_samples innovations);
  /// Nz when Q and R are right.
  double nis_mean = std::numeric_limits<double>::quiet_NaN();
  std::size_t nis_samples = 0;
  /// Ljung-Box test of each component of its whitened innovations L^-1 eps (S = L L'), over
  /// options.whiteness_lags lags.
  std::array<WhitenessTest, Nz> whiteness{};

  bool ok() const noexcept { return status == Status::ok; }
  /// All whitened innovation components pass at level alpha (Bonferroni: alpha / Nz each).
  bool white(double alpha = 0.05) const noexcept {
    if (filter_status != Status::ok) return false;
    for (const WhitenessTest& t : whiteness)
      if (!t.white(alpha / Nz)) return false;
    return true;
  }
  /// N * nis_mean inside the two-sided (1 - alpha) interval of chi-square(N Nz) (white innovations
  /// with the right S).
  bool nis_consistent(double alpha = 0.01) const noexcept {
    if (filter_status != Status::ok || nis_samples == 0) return false;
    const double n = static_cast<double>(nis_samples), dof = n * Nz;
    return nis_mean * n >= stats::chi_square_quantile(alpha / 2, dof) &&
           nis_mean * n <= stats::chi_square_quantile(1 - alpha / 2, dof);
  }

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW
};

namespace detail {

/// Keeps a parameter out of template argument deduction (so that Eigen expressions convert).
template <typename M>
struct NonDeduced {
  using type = M;
};

/// Kronecker product a (x) b.
inline Eigen::MatrixXd kron(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  Eigen::MatrixXd k(a.rows() * b.rows(), a.cols() * b.cols());
  for (Eigen::Index i = 0; i < a.rows(); ++i)
    for (Eigen::Index j = 0; j < a.cols(); ++j)
      k.block(i * b.rows(), j * b.cols(), b.rows(), b.cols()) = a(i, j) * b;
  return k;
}

// The matrices here are small (tens of rows and columns), so every product is coefficient-based
// (lazyProduct): no blocked matrix-product kernels to instantiate, which keeps compile time down.
inline Eigen::MatrixXd mul(const Eigen::MatrixXd& a, const Eigen::MatrixXd& b) {
  return a.lazyProduct(b);
}

/// vec(X) = M theta for a symmetric n x n matrix X with the given structure (column-major vec):
/// diagonal: theta = (X_00, X_11, ...); full: theta = the lower triangle, column by column.
inline Eigen::MatrixXd structure_map(Eigen::Index n, CovarianceStructure s) {
  const Eigen::Index m = s == CovarianceStructure::diagonal ? n : n * (n + 1) / 2;
  Eigen::MatrixXd M = Eigen::MatrixXd::Zero(n * n, m);
  Eigen::Index c = 0;
  for (Eigen::Index j = 0; j < n; ++j)
    for (Eigen::Index i = j; i < n; ++i) {
      if (s == CovarianceStructure::diagonal && i != j) continue;
      M(i + j * n, c) = 1;
      M(j + i * n, c) = 1;
      ++c;
    }
  return M;
}

/// Innovations eps[k] = z[k] - C x^[k|k-1] - D u[k] of the filter with constant gain K:
///     x^[k|k] = x^[k|k-1] + K eps[k],   x^[k+1|k] = A x^[k|k] + B u[k].
inline Eigen::MatrixXd filter_innovations(const Eigen::MatrixXd& A, const Eigen::MatrixXd& B,
                                          const Eigen::MatrixXd& C, const Eigen::MatrixXd& D,
                                          const Eigen::MatrixXd& K, const Eigen::VectorXd& x0,
                                          const Eigen::MatrixXd& z, const Eigen::MatrixXd& u) {
  const Eigen::Index n = z.cols();
  const bool inputs = B.cols() > 0;
  Eigen::MatrixXd eps(z.rows(), n);
  Eigen::VectorXd x = x0, xp(x0.size());
  for (Eigen::Index k = 0; k < n; ++k) {
    eps.col(k) = z.col(k) - C.lazyProduct(x);
    if (inputs) eps.col(k) -= D.lazyProduct(u.col(k));
    x += K.lazyProduct(eps.col(k));
    xp = A.lazyProduct(x);
    if (inputs) xp += B.lazyProduct(u.col(k));
    x = xp;
  }
  return eps;
}

/// Stacked sample autocovariances [C^_0; C^_1; ...; C^_{L-1}] (L p x p) of the innovations
/// eps[first], eps[first + 1], ... (count of them; all when count < 0), with
///     C^_j = 1 / (N - j) sum_i eps[i + j] eps[i]',
/// returned as vec (column-major).
inline Eigen::VectorXd stacked_autocovariance(const Eigen::MatrixXd& eps, Eigen::Index first,
                                              Eigen::Index count, int lags, bool remove_mean) {
  const Eigen::Index p = eps.rows(), N = count >= 0 ? count : eps.cols() - first;
  Eigen::MatrixXd e = eps.middleCols(first, N).transpose();  // N x p: contiguous components
  if (remove_mean) e.rowwise() -= e.colwise().mean();
  Eigen::MatrixXd R(lags * p, p);
  for (int j = 0; j < lags; ++j) {
    const Eigen::Index m = N - j;
    R.middleRows(j * p, p) = e.bottomRows(m).transpose().lazyProduct(e.topRows(m));
    R.middleRows(j * p, p) /= static_cast<double>(m);
  }
  return Eigen::Map<const Eigen::VectorXd>(R.data(), R.size());
}

/// Design of the autocovariance least squares: vec[C_0; ...; C_{L-1}] = [Aq Ar] [vec Qw; vec R]
/// (see estimate_noise_covariances for the equations).  Abar = A (I - K C) must be stable.
inline Eigen::MatrixXd als_design(const Eigen::MatrixXd& A, const Eigen::MatrixXd& C,
                                  const Eigen::MatrixXd& K, const Eigen::MatrixXd& G, int lags) {
  const Eigen::Index nx = A.rows(), p = C.rows(), ng = G.cols();
  const Eigen::MatrixXd AK = mul(A, K);
  const Eigen::MatrixXd Abar = A - mul(AK, C);
  Eigen::MatrixXd O(lags * p, nx), Gamma(lags * p, p);
  Eigen::MatrixXd CAbar = C;  // C Abar^j
  Gamma.topRows(p).setIdentity();
  for (int j = 0; j < lags; ++j) {
    O.middleRows(j * p, p) = CAbar;
    if (j + 1 < lags) Gamma.middleRows((j + 1) * p, p) = -mul(CAbar, AK);
    CAbar = mul(CAbar, Abar);
  }
  // vec P = (I - Abar (x) Abar)^-1 (...): a solve (QR), never an inverse.
  const Eigen::MatrixXd lyap =
      Eigen::MatrixXd::Identity(nx * nx, nx * nx) - kron(Abar, Abar);
  const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(lyap);
  const auto solve = [&qr](const Eigen::MatrixXd& rhs) {  // column by column (vector solves)
    Eigen::MatrixXd x(rhs.rows(), rhs.cols());
    for (Eigen::Index j = 0; j < rhs.cols(); ++j) {
      const Eigen::VectorXd col = rhs.col(j);
      x.col(j) = qr.solve(col);
    }
    return x;
  };
  const Eigen::MatrixXd CO = kron(C, O);
  Eigen::MatrixXd design(lags * p * p, ng * ng + p * p);
  design.leftCols(ng * ng) = mul(CO, solve(kron(G, G)));
  design.rightCols(p * p) = mul(CO, solve(kron(AK, AK))) +
                            kron(Eigen::MatrixXd::Identity(p, p), Gamma);
  return design;
}

/// min |M x - b| subject to x_i >= 0 where bounded(i): Lawson and Hanson's active-set method,
/// with the unbounded variables always free.  Returns false if it did not converge.
inline bool bounded_least_squares(const Eigen::MatrixXd& M, const Eigen::VectorXd& b,
                                  const std::vector<bool>& bounded, Eigen::VectorXd& x) {
  const Eigen::Index m = M.cols();
  auto at = [](const std::vector<bool>& v, Eigen::Index i) {
    return v[static_cast<std::size_t>(i)];
  };
  std::vector<bool> passive(static_cast<std::size_t>(m));
  for (Eigen::Index i = 0; i < m; ++i) passive[static_cast<std::size_t>(i)] = !at(bounded, i);
  auto solve_passive = [&](Eigen::VectorXd& s) {  // LS over the passive set, others at 0
    std::vector<Eigen::Index> idx;
    for (Eigen::Index i = 0; i < m; ++i)
      if (at(passive, i)) idx.push_back(i);
    s = Eigen::VectorXd::Zero(m);
    if (idx.empty()) return;
    Eigen::MatrixXd sub(M.rows(), static_cast<Eigen::Index>(idx.size()));
    for (std::size_t c = 0; c < idx.size(); ++c)
      sub.col(static_cast<Eigen::Index>(c)) = M.col(idx[c]);
    const Eigen::VectorXd sol = Eigen::ColPivHouseholderQR<Eigen::MatrixXd>(sub).solve(b);
    for (std::size_t c = 0; c < idx.size(); ++c) s(idx[c]) = sol(static_cast<Eigen::Index>(c));
  };
  solve_passive(x);  // bounded variables at 0: a feasible start
  const double tol =
      1e-12 * std::max(1.0, M.transpose().lazyProduct(b).cwiseAbs().maxCoeff());
  for (int outer = 0; outer < 3 * static_cast<int>(m) + 3; ++outer) {
    const Eigen::VectorXd res = b - M.lazyProduct(x);
    const Eigen::VectorXd w = M.transpose().lazyProduct(res);  // minus the gradient
    Eigen::Index best = -1;
    for (Eigen::Index i = 0; i < m; ++i)
      if (!at(passive, i) && w(i) > tol && (best < 0 || w(i) > w(best))) best = i;
    if (best < 0) return true;  // Kuhn-Tucker conditions hold
    passive[static_cast<std::size_t>(best)] = true;
    for (int inner = 0; inner <= static_cast<int>(m); ++inner) {
      Eigen::VectorXd s;
      solve_passive(s);
      double alpha = 1;
      bool feasible = true;
      for (Eigen::Index i = 0; i < m; ++i)
        if (at(passive, i) && at(bounded, i) && s(i) <= 0) {
          feasible = false;
          alpha = std::min(alpha, x(i) / (x(i) - s(i)));
        }
      if (feasible) {
        x = s;
        break;
      }
      x += alpha * (s - x);
      for (Eigen::Index i = 0; i < m; ++i)
        if (at(passive, i) && at(bounded, i) && x(i) <= tol) {
          passive[static_cast<std::size_t>(i)] = false;
          x(i) = 0;
        }
    }
  }
  return false;
}

/// Eigen-decomposition X = V diag(values) V' of a small symmetric matrix by cyclic Jacobi
/// rotations (each rotation zeroes one off-diagonal pair; sweeps until the off-diagonal part is
/// below rounding).
inline void symmetric_eigen(const Eigen::MatrixXd& X, Eigen::VectorXd& values,
                            Eigen::MatrixXd& V) {
  const Eigen::Index n = X.rows();
  Eigen::MatrixXd a = X;
  V = Eigen::MatrixXd::Identity(n, n);
  for (int sweep = 0; sweep < 60; ++sweep) {
    double off = 0;
    for (Eigen::Index i = 0; i < n; ++i)
      for (Eigen::Index j = i + 1; j < n; ++j) off += a(i, j) * a(i, j);
    if (!(off > 1e-33 * a.squaredNorm())) break;
    for (Eigen::Index p = 0; p + 1 < n; ++p)
      for (Eigen::Index q = p + 1; q < n; ++q) {
        if (a(p, q) == 0) continue;
        const double theta = (a(q, q) - a(p, p)) / (2 * a(p, q));
        const double t =
            (theta >= 0 ? 1.0 : -1.0) / (std::abs(theta) + std::sqrt(theta * theta + 1));
        const double c = 1 / std::sqrt(t * t + 1), s = t * c;
        for (Eigen::Index k = 0; k < n; ++k) {  // rows p, q
          const double apk = a(p, k), aqk = a(q, k);
          a(p, k) = c * apk - s * aqk;
          a(q, k) = s * apk + c * aqk;
        }
        for (Eigen::Index k = 0; k < n; ++k) {  // columns p, q
          const double akp = a(k, p), akq = a(k, q);
          a(k, p) = c * akp - s * akq;
          a(k, q) = s * akp + c * akq;
        }
        for (Eigen::Index k = 0; k < n; ++k) {
          const double vkp = V(k, p), vkq = V(k, q);
          V(k, p) = c * vkp - s * vkq;
          V(k, q) = s * vkp + c * vkq;
        }
      }
  }
  values = a.diagonal();
}

/// Projects a symmetric matrix onto the positive semi-definite cone (negative eigenvalues -> 0).
/// Returns true if it changed anything.
inline bool project_psd(Eigen::MatrixXd& X) {
  Eigen::VectorXd l;
  Eigen::MatrixXd V;
  symmetric_eigen(X, l, V);
  if (l.minCoeff() >= 0) return false;
  X = mul(V * l.cwiseMax(0.0).asDiagonal(), V.transpose());
  return true;
}

/// Smallest k >= 1 with |Abar^k|_F <= tol, or cap.
inline int decay_steps(const Eigen::MatrixXd& Abar, double tol, int cap) {
  Eigen::MatrixXd P = Abar;
  for (int k = 1; k < cap; ++k) {
    if (!(P.norm() > tol)) return k;
    P = mul(P, Abar);
  }
  return cap;
}

/// One autocovariance least-squares estimate, dynamic sizes.
struct AlsSolution {
  Status status = Status::not_initialised;
  Eigen::MatrixXd Qw, R, Qw_se, R_se;
  bool clamped = false;
  double condition = std::numeric_limits<double>::quiet_NaN();
  double residual = std::numeric_limits<double>::quiet_NaN();
  int lags = 0, burn_in = 0;
  std::size_t samples = 0;
};

inline AlsSolution als_estimate(const Eigen::MatrixXd& A, const Eigen::MatrixXd& B,
                                const Eigen::MatrixXd& C, const Eigen::MatrixXd& D,
                                const Eigen::MatrixXd& G, const Eigen::MatrixXd& K,
                                const Eigen::MatrixXd& z, const Eigen::MatrixXd& u,
                                const NoiseCovarianceOptions& o) {
  AlsSolution out;
  const Eigen::Index nx = A.rows(), p = C.rows(), ng = G.cols();
  const Eigen::MatrixXd Abar = A - mul(mul(A, K), C);
  const int n = static_cast<int>(z.cols());
  out.burn_in = o.burn_in_samples >= 0 ? o.burn_in_samples
                                       : decay_steps(Abar, 1e-6, std::max(1, n / 4));
  out.lags = o.lags > 0 ? o.lags
                        : std::max(static_cast<int>(nx) + 2, decay_steps(Abar, 1e-2, 100));
  const Eigen::Index used = z.cols() - out.burn_in;
  const std::size_t needed =
      std::max<std::size_t>(o.min_samples, 20 * static_cast<std::size_t>(out.lags));
  if (used <= 0 || static_cast<std::size_t>(used) < needed) {
    out.status = Status::not_initialised;
    return out;
  }
  out.samples = static_cast<std::size_t>(used);

  const Eigen::VectorXd x0 =
      o.initial_state.size() == nx ? o.initial_state : Eigen::VectorXd::Zero(nx);
  const Eigen::MatrixXd eps = filter_innovations(A, B, C, D, K, x0, z, u);
  const Eigen::VectorXd b = stacked_autocovariance(eps, out.burn_in, -1, out.lags, o.remove_mean);

  // Design with the structure: vec Qw = Sq theta_q, vec R = Sr theta_r.
  const Eigen::MatrixXd Sq = structure_map(ng, o.process_structure);
  const Eigen::MatrixXd Sr = structure_map(p, o.measurement_structure);
  const Eigen::MatrixXd full = als_design(A, C, K, G, out.lags);
  Eigen::MatrixXd M(full.rows(), Sq.cols() + Sr.cols());
  M.leftCols(Sq.cols()) = mul(full.leftCols(ng * ng), Sq);
  M.rightCols(Sr.cols()) = mul(full.rightCols(p * p), Sr);
  if (!M.allFinite() || !b.allFinite()) {
    out.status = Status::numerical_failure;
    return out;
  }
  // Unit-length columns: the condition number then measures identifiability, not units.
  const Eigen::VectorXd scale = M.colwise().norm().transpose();
  if (!(scale.minCoeff() > 0)) {
    out.status = Status::numerical_failure;  // a parameter that no autocovariance depends on
    out.condition = std::numeric_limits<double>::infinity();
    return out;
  }
  const Eigen::MatrixXd Ms = M * scale.cwiseInverse().asDiagonal();
  // cond(Ms) = sqrt(cond(Ms' Ms)); reliable up to ~1e7, far beyond max_condition's default.
  Eigen::VectorXd gram_values;
  Eigen::MatrixXd gram_vectors;
  symmetric_eigen(mul(Ms.transpose(), Ms), gram_values, gram_vectors);
  const double lmin = gram_values.minCoeff(), lmax = gram_values.maxCoeff();
  out.condition = lmin > 0 ? std::sqrt(lmax / lmin) : std::numeric_limits<double>::infinity();
  if (!(out.condition <= o.max_condition)) {
    out.status = Status::numerical_failure;
    return out;
  }
  const Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(Ms);
  Eigen::VectorXd phi = qr.solve(b);

  // Bounds: every parameter of a diagonal structure is a variance.
  std::vector<bool> bounded(static_cast<std::size_t>(M.cols()), false);
  for (Eigen::Index i = 0; i < Sq.cols(); ++i)
    bounded[static_cast<std::size_t>(i)] = o.process_structure == CovarianceStructure::diagonal;
  for (Eigen::Index i = 0; i < Sr.cols(); ++i)
    bounded[static_cast<std::size_t>(Sq.cols() + i)] =
        o.measurement_structure == CovarianceStructure::diagonal;
  bool infeasible = false;
  for (Eigen::Index i = 0; i < phi.size(); ++i)
    infeasible = infeasible || (bounded[static_cast<std::size_t>(i)] && phi(i) < 0);
  if (infeasible) {
    if (!bounded_least_squares(Ms, b, bounded, phi)) {
      out.status = Status::numerical_failure;
      return out;
    }
    out.clamped = true;
  }
  const Eigen::VectorXd fit = Ms.lazyProduct(phi);
  out.residual = std::sqrt((fit - b).squaredNorm() / static_cast<double>(b.size()));
  const Eigen::VectorXd theta = phi.cwiseQuotient(scale);
  const Eigen::VectorXd vq = Sq.lazyProduct(theta.head(Sq.cols()));
  const Eigen::VectorXd vr = Sr.lazyProduct(theta.tail(Sr.cols()));
  out.Qw = Eigen::Map<const Eigen::MatrixXd>(vq.data(), ng, ng);
  out.R = Eigen::Map<const Eigen::MatrixXd>(vr.data(), p, p);
  if (o.process_structure == CovarianceStructure::full) out.clamped |= project_psd(out.Qw);
  if (o.measurement_structure == CovarianceStructure::full) out.clamped |= project_psd(out.R);

  // Batch means: the unconstrained estimate on each of `blocks` contiguous pieces.
  out.Qw_se = Eigen::MatrixXd::Constant(ng, ng, std::numeric_limits<double>::quiet_NaN());
  out.R_se = Eigen::MatrixXd::Constant(p, p, std::numeric_limits<double>::quiet_NaN());
  const int blocks = o.error_blocks;
  if (blocks >= 2 && used / blocks > 4 * out.lags) {
    const Eigen::Index len = used / blocks;
    Eigen::MatrixXd thetas(M.cols(), blocks);
    for (int k = 0; k < blocks; ++k) {
      const Eigen::VectorXd bk =
          stacked_autocovariance(eps, out.burn_in + k * len, len, out.lags, o.remove_mean);
      thetas.col(k) = qr.solve(bk).cwiseQuotient(scale);
    }
    const Eigen::VectorXd mean = thetas.rowwise().mean();
    const Eigen::VectorXd var =
        (thetas.colwise() - mean).rowwise().squaredNorm() / static_cast<double>(blocks - 1);
    const Eigen::VectorXd se = (var / static_cast<double>(blocks)).cwiseSqrt();
    const Eigen::VectorXd sq = Sq.lazyProduct(se.head(Sq.cols()));
    const Eigen::VectorXd sr = Sr.lazyProduct(se.tail(Sr.cols()));
    out.Qw_se = Eigen::Map<const Eigen::MatrixXd>(sq.data(), ng, ng);
    out.R_se = Eigen::Map<const Eigen::MatrixXd>(sr.data(), p, p);
  }
  out.status = Status::ok;
  return out;
}

/// Runs the filter with gain K, whitens its innovations with the lower Cholesky factor L of S
/// (forward substitution) after `burn_in` samples, and returns the mean NIS and a Ljung-Box test
/// of each whitened component.
struct FilterCheck {
  double nis_mean = std::numeric_limits<double>::quiet_NaN();
  std::size_t samples = 0;
  std::vector<WhitenessTest> whiteness;
};

inline FilterCheck filter_check(const Eigen::MatrixXd& A, const Eigen::MatrixXd& B,
                                const Eigen::MatrixXd& C, const Eigen::MatrixXd& D,
                                const Eigen::MatrixXd& K, const Eigen::MatrixXd& L,
                                const Eigen::VectorXd& x0, const Eigen::MatrixXd& z,
                                const Eigen::MatrixXd& u, Eigen::Index burn_in, int lags) {
  FilterCheck out;
  const Eigen::MatrixXd eps = filter_innovations(A, B, C, D, K, x0, z, u);
  const Eigen::Index p = eps.rows(), N = eps.cols() - burn_in;
  if (N <= 0) return out;
  Eigen::MatrixXd w(N, p);  // w[k] = L^-1 eps[k], one column per component
  for (Eigen::Index k = 0; k < N; ++k)
    for (Eigen::Index i = 0; i < p; ++i) {
      double v = eps(i, burn_in + k);
      for (Eigen::Index j = 0; j < i; ++j) v -= L(i, j) * w(k, j);
      w(k, i) = v / L(i, i);
    }
  out.samples = static_cast<std::size_t>(N);
  out.nis_mean = w.squaredNorm() / static_cast<double>(N);
  for (Eigen::Index i = 0; i < p; ++i)
    out.whiteness.push_back(ljung_box(w.col(i).data(), out.samples, lags));
  return out;
}

}  // namespace detail

/// Process and measurement noise covariances of
///
///     x[k+1] = A x[k] + B u[k] + G w[k],   w ~ N(0, Qw)   (Q = G Qw G')
///     z[k]   = C x[k] + D u[k] + v[k],     v ~ N(0, R)
///
/// with A, B, C, D known, by autocovariance least squares (ALS; Odelson, Rajamani and Rawlings,
/// Automatica 42, 2006) on the innovations of a running sub-optimal filter.
///
/// The filter runs with a constant gain K (from the guessed Q, R via the DARE, or given):
///     eps[k] = z[k] - C x^[k|k-1] - D u[k],  x^[k+1|k] = A (x^[k|k-1] + K eps[k]) + B u[k].
/// Its prior error e = x - x^ obeys e[k+1] = Abar e[k] + G w[k] - A K v[k], eps[k] = C e[k] + v[k],
/// with Abar = A (I - K C) stable.  In steady state
///
///     P   = Abar P Abar' + G Qw G' + A K R K' A'            (Lyapunov)
///     C_0 = E eps[k] eps[k]'   = C P C' + R
///     C_j = E eps[k+j] eps[k]' = C Abar^j P C' - C Abar^(j-1) A K R,   j >= 1,
///
/// whatever K is: the innovations of a wrong filter are correlated, and the correlation carries
/// Q and R.  Stacking j = 0 .. L-1 with O = [C; C Abar; ...; C Abar^(L-1)] and
/// Gamma = [I; -C A K; -C Abar A K; ...; -C Abar^(L-2) A K] gives [C_0; ...; C_{L-1}] =
/// O P C' + Gamma R, and with vec(X Y Z) = (Z' (x) X) vec Y,
///
///     vec[C_0; ...; C_{L-1}] = (C (x) O) (I - Abar (x) Abar)^-1 (G (x) G) vec Qw
///         + [(C (x) O) (I - Abar (x) Abar)^-1 (A K (x) A K) + I (x) Gamma] vec R,
///
/// linear in (Qw, R).  The structure maps vec Qw = Sq theta_q, vec R = Sr theta_r (diagonal or
/// full symmetric), and theta minimises |design theta - vec[C^_0; ...; C^_{L-1}]|^2 with the
/// sample autocovariances C^_j = 1 / (N - j) sum_i eps[i+j] eps[i]' (after a burn-in).  The
/// design is solved by column-pivoting QR after scaling its columns to unit length; its condition
/// number says whether the parameters can be told apart at all (a full Q with a single
/// position measurement cannot).  Diagonal entries are variances: when the unconstrained solution
/// has a negative one, the bound-constrained least-squares problem (theta >= 0, Lawson-Hanson) is
/// solved instead; full blocks are projected onto the PSD cone; both set `clamped`.  Standard
/// errors: batch means, the unconstrained fit on `error_blocks` contiguous pieces of the
/// innovations, their spread / sqrt(blocks).
///
/// Afterwards (refinements, default 1) the filter is re-run with the optimal gain of the estimate
/// and ALS repeated.  Finally the steady-state Kalman filter of the estimate is run over the data:
/// its gain, S, mean NIS and a Ljung-Box test of each whitened innovation component are reported
/// (they should be white with NIS mean Nz if the model and the estimate are right).
///
/// Data: z is Nz x n (column k = sample k), u is Nu x n (ignored when Nu == 0; pass an empty
/// matrix), uniformly sampled at the model's period, finite (cut the recording around gaps: a
/// NaN gives invalid_argument).  For a std::vector y of scalars: Eigen::Map<const
/// Eigen::MatrixXd>(y.data(), 1, n).
template <int Nx, int Nz, int Nu>
NoiseCovarianceEstimate<Nx, Nz> estimate_noise_covariances_with_gain(
    const LinearStateSpace<double, Nx, Nu, Nz>& model,
    const typename detail::NonDeduced<Eigen::Matrix<double, Nx, Nz>>::type& initial_gain,
    const Eigen::MatrixXd& z, const Eigen::MatrixXd& u,
    const NoiseCovarianceOptions& options = NoiseCovarianceOptions{}) {
  using Result = NoiseCovarianceEstimate<Nx, Nz>;
  Result r;
  const Eigen::MatrixXd A = model.A, C = model.C;
  const Eigen::MatrixXd B = model.B, D = model.D;  // Nx x 0 and Nz x 0 without inputs
  const Eigen::MatrixXd G = options.process_noise_input.size() > 0
                                ? options.process_noise_input
                                : Eigen::MatrixXd(Eigen::MatrixXd::Identity(Nx, Nx));
  const Eigen::Index n = z.cols();
  const bool sizes_ok = z.rows() == Nz && (Nu == 0 || (u.rows() == Nu && u.cols() == n)) &&
                        G.rows() == Nx && G.cols() >= 1 &&
                        (options.initial_state.size() == 0 || options.initial_state.size() == Nx);
  if (!sizes_ok || !A.allFinite() || !C.allFinite() || !B.allFinite() || !D.allFinite() ||
      !G.allFinite() || !initial_gain.allFinite() || !z.allFinite() ||
      (Nu > 0 && !u.allFinite()) || options.lags < 0 || options.whiteness_lags < 1) {
    r.status = Status::invalid_argument;
    return r;
  }
  Eigen::Matrix<double, Nx, Nz> K = initial_gain;
  {
    const Eigen::Matrix<double, Nx, Nx> Abar = model.A - model.A * K * model.C;
    if (!physguard::detail::is_schur_stable(Abar)) {
      r.status = Status::invalid_argument;
      return r;
    }
  }
  detail::AlsSolution s = detail::als_estimate(A, B, C, D, G, K, z, u, options);
  if (s.status != Status::ok) {
    r.status = s.status;
    r.condition_number = s.condition;
    r.lags = s.lags;
    r.burn_in_samples = s.burn_in;
    return r;
  }
  // Q = G Qw G'.  Qw is positive semi-definite, so every variance of Q is >= 0 exactly; a
  // direction of G that Qw does not excite can still come out at -1 ulp of the products, which
  // the filters and solve_dare refuse as a negative variance.
  auto state_noise = [&](const Eigen::MatrixXd& Qw) {
    Eigen::Matrix<double, Nx, Nx> Q = detail::mul(detail::mul(G, Qw), G.transpose());
    for (int i = 0; i < Nx; ++i) Q(i, i) = Q(i, i) < 0.0 ? 0.0 : Q(i, i);
    return Q;
  };
  auto dare_of = [&](const detail::AlsSolution& sol) {
    const Eigen::Matrix<double, Nx, Nx> Q = state_noise(sol.Qw);
    const Eigen::Matrix<double, Nz, Nz> R = sol.R;
    return solve_dare(model.A, model.C, Q, R);
  };
  for (int i = 0; i < options.refinements; ++i) {
    const auto dare = dare_of(s);
    if (!dare.ok()) break;
    detail::AlsSolution next = detail::als_estimate(A, B, C, D, G, dare.K, z, u, options);
    if (next.status != Status::ok) break;
    s = next;
    ++r.refinements;
  }
  r.status = Status::ok;
  r.Qw = s.Qw;
  r.Q = state_noise(s.Qw);
  r.R = s.R;
  r.Qw_standard_error = s.Qw_se;
  r.R_standard_error = s.R_se;
  r.clamped = s.clamped;
  r.condition_number = s.condition;
  r.fit_residual = s.residual;
  r.lags = s.lags;
  r.burn_in_samples = s.burn_in;
  r.samples = s.samples;

  // The estimate's own steady-state filter over the same data.
  const auto dare = solve_dare(model.A, model.C, r.Q, r.R);
  r.filter_status = dare.status;
  if (!dare.ok()) return r;
  r.K = dare.K;
  r.S = dare.S;
  const Eigen::Matrix<double, Nx, Nx> Abar = model.A - model.A * dare.K * model.C;
  const int burn = options.burn_in_samples >= 0
                       ? options.burn_in_samples
                       : detail::decay_steps(Abar, 1e-6, std::max(1, static_cast<int>(n) / 4));
  const Eigen::LLT<Eigen::Matrix<double, Nz, Nz>> llt(dare.S);
  const Eigen::Matrix<double, Nz, Nz> L = llt.matrixL();
  const Eigen::VectorXd x0 =
      options.initial_state.size() == Nx ? options.initial_state : Eigen::VectorXd::Zero(Nx);
  const detail::FilterCheck check = detail::filter_check(
      A, B, C, D, dare.K, L, x0, z, u, burn, options.whiteness_lags);
  r.nis_mean = check.nis_mean;
  r.nis_samples = check.samples;
  for (std::size_t i = 0; i < check.whiteness.size() && i < r.whiteness.size(); ++i)
    r.whiteness[i] = check.whiteness[i];
  return r;
}

/// As estimate_noise_covariances_with_gain, with the initial gain of the steady-state Kalman
/// filter for the guesses initial_Q (Nx x Nx) and initial_R (the DARE must be solvable with
/// them: invalid_argument otherwise).  The guesses only set the filter that produces the
/// innovations; a wrong guess is the normal case.
template <int Nx, int Nz, int Nu>
NoiseCovarianceEstimate<Nx, Nz> estimate_noise_covariances(
    const LinearStateSpace<double, Nx, Nu, Nz>& model,
    const typename detail::NonDeduced<Eigen::Matrix<double, Nx, Nx>>::type& initial_Q,
    const typename detail::NonDeduced<Eigen::Matrix<double, Nz, Nz>>::type& initial_R,
    const Eigen::MatrixXd& z, const Eigen::MatrixXd& u,
    const NoiseCovarianceOptions& options = NoiseCovarianceOptions{}) {
  const auto dare = solve_dare(model.A, model.C, initial_Q, initial_R);
  if (!dare.ok()) {
    NoiseCovarianceEstimate<Nx, Nz> r;
    r.status = Status::invalid_argument;
    return r;
  }
  return estimate_noise_covariances_with_gain(model, dare.K, z, u, options);
}

}  // namespace physguard::identify
