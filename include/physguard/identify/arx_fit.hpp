// physguard/identify/arx_fit.hpp - least-squares AR / ARX fits with order selection (AIC / BIC).
//
// CONFIGURATION-TIME CODE: the fits allocate (Eigen dynamic-size matrices).  Run them on a host or
// once at start-up, never per sample; the result configures the firmware-safe ArxModel
// (signal/arx.hpp) through make_arx_model().  No exceptions, no RTTI.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include <Eigen/Core>
#include <Eigen/QR>

#include "../core/config.hpp"
#include "../core/status.hpp"
#include "../signal/arx.hpp"

namespace physguard::identify {

/// Information criterion for order selection, on the maximum-likelihood noise variance
/// s2 = SSE / N of N regression rows and p estimated parameters:
///   AIC = N ln s2 + 2 p        BIC = N ln s2 + p ln N   (BIC penalises orders harder: consistent)
enum class Criterion { aic, bic };

/// A fitted ARX model in ArxModel's convention
///     y[k] = -a1 y[k-1] - ... - a_na y[k-na] + b1 u[k-d] + ... + b_nb u[k-d-nb+1] + offset + e[k]
struct ArxFit {
  Status status = Status::not_initialised;  ///< ok, invalid_argument, numerical_failure (rank)
  int na = 0;
  int nb = 0;
  int delay_samples = 1;
  Eigen::VectorXd a;             ///< a1 .. a_na
  Eigen::VectorXd b;             ///< b1 .. b_nb
  double offset = 0.0;           ///< constant term (only with intercept; else 0)
  double noise_variance = std::numeric_limits<double>::quiet_NaN();  ///< SSE / (N - p), unbiased
  double aic = std::numeric_limits<double>::infinity();
  double bic = std::numeric_limits<double>::infinity();
  std::size_t samples = 0;       ///< regression rows used (rows with a NaN are skipped)
  int parameters = 0;            ///< p

  double criterion(Criterion c) const { return c == Criterion::aic ? aic : bic; }
  bool ok() const { return status == Status::ok; }
};

struct ArxFitOptions {
  bool intercept = false;      ///< also fit a constant term (a signal whose mean is not removed)
  std::size_t first_row = 0;   ///< first target row k considered (order selection aligns rows)
};

/// Least-squares ARX fit of orders (na, nb) and input delay d >= 1 from y[0..n) and u[0..n)
/// (u may be nullptr when nb == 0).  Regression rows k with every lagged value available
/// (k >= max(na, d + nb - 1, first_row)) and finite are used; the normal equations are never
/// formed: the regressor matrix is solved by column-pivoting Householder QR, and a rank-deficient
/// problem (an input that never moves) gives Status::numerical_failure.
inline ArxFit fit_arx(const double* y, const double* u, std::size_t n, int na, int nb,
                      int delay_samples = 1, const ArxFitOptions& options = {}) {
  ArxFit fit;
  fit.na = na;
  fit.nb = nb;
  fit.delay_samples = delay_samples;
  if (y == nullptr || na < 0 || nb < 0 || na + nb == 0 || delay_samples < 1 ||
      (nb > 0 && u == nullptr)) {
    fit.status = Status::invalid_argument;
    return fit;
  }
  const int p = na + nb + (options.intercept ? 1 : 0);
  const std::size_t max_lag =
      static_cast<std::size_t>(std::max(na, nb > 0 ? delay_samples + nb - 1 : 0));
  const std::size_t first = std::max(max_lag, options.first_row);
  // Collect usable rows.
  Eigen::MatrixXd phi(n > first ? static_cast<Eigen::Index>(n - first) : 0, p);
  Eigen::VectorXd target(phi.rows());
  Eigen::Index rows = 0;
  for (std::size_t k = first; k < n; ++k) {
    bool finite = std::isfinite(y[k]);
    for (int i = 1; i <= na && finite; ++i) {
      const double v = y[k - static_cast<std::size_t>(i)];
      finite = std::isfinite(v);
      phi(rows, i - 1) = -v;
    }
    for (int j = 0; j < nb && finite; ++j) {
      const double v = u[k - static_cast<std::size_t>(delay_samples + j)];
      finite = std::isfinite(v);
      phi(rows, na + j) = v;
    }
    if (!finite) continue;
    if (options.intercept) phi(rows, p - 1) = 1.0;
    target(rows) = y[k];
    ++rows;
  }
  fit.samples = static_cast<std::size_t>(rows);
  fit.parameters = p;
  if (rows <= p) {
    fit.status = Status::not_initialised;  // not enough data
    return fit;
  }
  const Eigen::MatrixXd A = phi.topRows(rows);
  const Eigen::VectorXd Y = target.head(rows);
  Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(A);
  if (qr.rank() < p) {
    fit.status = Status::numerical_failure;
    return fit;
  }
  const Eigen::VectorXd theta = qr.solve(Y);
  const double sse = (Y - A * theta).squaredNorm();
  fit.a = theta.head(na);
  fit.b = theta.segment(na, nb);
  fit.offset = options.intercept ? theta(p - 1) : 0.0;
  const double N = static_cast<double>(rows);
  fit.noise_variance = sse / (N - p);
  const double s2 = std::max(sse / N, std::numeric_limits<double>::min());
  fit.aic = N * std::log(s2) + 2.0 * p;
  fit.bic = N * std::log(s2) + p * std::log(N);
  fit.status = std::isfinite(sse) ? Status::ok : Status::numerical_failure;
  return fit;
}

/// AR fit: y[k] = -a1 y[k-1] - ... - a_na y[k-na] (+ offset) + e[k].
inline ArxFit fit_ar(const double* y, std::size_t n, int na, const ArxFitOptions& options = {}) {
  return fit_arx(y, nullptr, n, na, 0, 1, options);
}

/// Candidate orders for select_arx.
struct ArxOrderRange {
  int min_na = 1;
  int max_na = 4;
  int min_nb = 1;   ///< 0 with max_nb 0: AR only
  int max_nb = 4;
  int min_delay = 1;
  int max_delay = 1;
};

/// Fits every candidate (na, nb, d) on the same regression rows (those usable by the largest
/// candidate, so the criteria compare like with like) and returns the fit with the smallest
/// criterion.  status not ok when no candidate could be fitted.
inline ArxFit select_arx(const double* y, const double* u, std::size_t n, const ArxOrderRange& r,
                         Criterion criterion = Criterion::bic, bool intercept = false) {
  ArxFit best;
  best.status = Status::invalid_argument;
  if (r.min_na < 0 || r.max_na < r.min_na || r.min_nb < 0 || r.max_nb < r.min_nb ||
      r.min_delay < 1 || r.max_delay < r.min_delay)
    return best;
  ArxFitOptions opt;
  opt.intercept = intercept;
  opt.first_row = static_cast<std::size_t>(
      std::max(r.max_na, r.max_nb > 0 ? r.max_delay + r.max_nb - 1 : 0));
  for (int na = r.min_na; na <= r.max_na; ++na)
    for (int nb = r.min_nb; nb <= r.max_nb; ++nb)
      for (int d = r.min_delay; d <= (nb > 0 ? r.max_delay : r.min_delay); ++d) {
        if (na + nb == 0) continue;
        ArxFit f = fit_arx(y, u, n, na, nb, d, opt);
        if (f.ok() && (!best.ok() || f.criterion(criterion) < best.criterion(criterion)))
          best = f;
      }
  return best;
}

/// AR order selection over na in [min_na, max_na].
inline ArxFit select_ar(const double* y, std::size_t n, int max_na,
                        Criterion criterion = Criterion::bic, bool intercept = false,
                        int min_na = 1) {
  ArxOrderRange r;
  r.min_na = min_na;
  r.max_na = max_na;
  r.min_nb = 0;
  r.max_nb = 0;
  return select_arx(y, nullptr, n, r, criterion, intercept);
}

/// Builds the firmware-safe ArxModel from a fit whose orders are Na, Nb and whose delay is at
/// most MaxInputDelay (asserted).  The offset of an intercept fit is not part of ArxModel:
/// subtract offset / (1 + sum a) (the output's mean for zero input) from the measurements.
template <typename T, int Na, int Nb, int MaxInputDelay = 1>
ArxModel<T, Na, Nb, MaxInputDelay> make_arx_model(const ArxFit& fit) {
  PHYSGUARD_ASSERT(fit.ok() && fit.na == Na && fit.nb == Nb &&
                       fit.delay_samples <= MaxInputDelay,
                   "fit orders do not match the model type");
  typename ArxModel<T, Na, Nb, MaxInputDelay>::OutputCoefficients a{};
  typename ArxModel<T, Na, Nb, MaxInputDelay>::InputCoefficients b{};
  for (int i = 0; i < Na; ++i) a[static_cast<std::size_t>(i)] = static_cast<T>(fit.a(i));
  for (int j = 0; j < Nb; ++j) b[static_cast<std::size_t>(j)] = static_cast<T>(fit.b(j));
  return ArxModel<T, Na, Nb, MaxInputDelay>(a, b, fit.delay_samples);
}

}  // namespace physguard::identify
