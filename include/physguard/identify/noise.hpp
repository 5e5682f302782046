// physguard/identify/noise.hpp - process and measurement noise estimates for the Kalman filters,
// from normal-operation recordings, and a whiteness test for residuals / innovations.
//
// CONFIGURATION-TIME CODE: mean_variance and random_walk_noise / ar1_plus_noise do not allocate;
// autocovariance returns an Eigen::VectorXd (allocates).  Samples that are NaN are skipped
// (the pairs / lags that involve them).  No exceptions, no RTTI.
#pragma once

#include <cmath>
#include <cstddef>
#include <limits>

#include <Eigen/Core>

#include "../core/statistics.hpp"
#include "../core/status.hpp"

namespace physguard::identify {

struct MeanVariance {
  Status status = Status::not_initialised;
  double mean = std::numeric_limits<double>::quiet_NaN();
  double variance = std::numeric_limits<double>::quiet_NaN();  ///< unbiased (n - 1)
  std::size_t samples = 0;
};

/// Mean and unbiased variance of the finite samples (Welford's update: no cancellation).
inline MeanVariance mean_variance(const double* x, std::size_t n) {
  MeanVariance r;
  double mean = 0, m2 = 0;
  std::size_t count = 0;
  for (std::size_t i = 0; i < n; ++i) {
    if (!std::isfinite(x[i])) continue;
    ++count;
    const double delta = x[i] - mean;
    mean += delta / static_cast<double>(count);
    m2 += delta * (x[i] - mean);
  }
  r.samples = count;
  if (count < 2) return r;
  r.mean = mean;
  r.variance = m2 / static_cast<double>(count - 1);
  r.status = Status::ok;
  return r;
}

/// Sample autocovariance gamma(0..max_lag) of x about its mean, normalised by the number of
/// pairs at each lag (pairs with a NaN are left out).
inline Eigen::VectorXd autocovariance(const double* x, std::size_t n, int max_lag) {
  Eigen::VectorXd g = Eigen::VectorXd::Constant(max_lag + 1, std::numeric_limits<double>::quiet_NaN());
  const MeanVariance mv = mean_variance(x, n);
  if (mv.status != Status::ok) return g;
  for (int lag = 0; lag <= max_lag; ++lag) {
    double sum = 0;
    std::size_t pairs = 0;
    for (std::size_t i = static_cast<std::size_t>(lag); i < n; ++i) {
      const double a = x[i], b = x[i - static_cast<std::size_t>(lag)];
      if (!std::isfinite(a) || !std::isfinite(b)) continue;
      sum += (a - mv.mean) * (b - mv.mean);
      ++pairs;
    }
    if (pairs > 0) g(lag) = sum / static_cast<double>(pairs);
  }
  return g;
}

/// Noise of a random walk measured with white noise (the RandomWalk process of
/// signal/random_walk.hpp with a scalar Kalman filter):
///
///     x[k+1] = x[k] + w[k],  Var w = q dt          y[k] = x[k] + v[k],  Var v = r
///
/// The first differences d[k] = y[k] - y[k-1] = w[k-1] + v[k] - v[k-1] have
///     Var d = q dt + 2 r,     Cov(d[k], d[k-1]) = -r,
/// so r = -gamma_d(1) and q dt = gamma_d(0) + 2 gamma_d(1) (moment estimates; a negative estimate
/// is clamped to 0 and flagged).  Needs a uniformly sampled recording.
struct RandomWalkNoise {
  Status status = Status::not_initialised;
  double process_variance_per_step = std::numeric_limits<double>::quiet_NaN();  ///< q dt
  double process_noise_density = std::numeric_limits<double>::quiet_NaN();      ///< q, unit^2/s
  double measurement_variance = std::numeric_limits<double>::quiet_NaN();       ///< r
  bool clamped = false;  ///< an estimate came out negative and was set to 0
  std::size_t samples = 0;
};

inline RandomWalkNoise random_walk_noise(const double* y, std::size_t n, double dt_s) {
  RandomWalkNoise r;
  if (y == nullptr || n < 4 || !(dt_s > 0)) {
    r.status = Status::invalid_argument;
    return r;
  }
  // Differences, mean removed (a drift would otherwise inflate q); NaN pairs skipped.
  double sum = 0;
  std::size_t count = 0;
  for (std::size_t k = 1; k < n; ++k)
    if (std::isfinite(y[k]) && std::isfinite(y[k - 1])) {
      sum += y[k] - y[k - 1];
      ++count;
    }
  if (count < 3) return r;
  const double mean = sum / static_cast<double>(count);
  double g0 = 0, g1 = 0;
  std::size_t n0 = 0, n1 = 0;
  for (std::size_t k = 1; k < n; ++k) {
    if (!std::isfinite(y[k]) || !std::isfinite(y[k - 1])) continue;
    const double d = y[k] - y[k - 1] - mean;
    g0 += d * d;
    ++n0;
    if (k >= 2 && std::isfinite(y[k - 2])) {
      g1 += d * (y[k - 1] - y[k - 2] - mean);
      ++n1;
    }
  }
  g0 /= static_cast<double>(n0);
  g1 = n1 > 0 ? g1 / static_cast<double>(n1) : 0.0;
  double rv = -g1;
  double qv = g0 + 2 * g1;
  if (rv < 0) {
    rv = 0;
    qv = g0;
    r.clamped = true;
  }
  if (qv < 0) {
    qv = 0;
    rv = g0 / 2;
    r.clamped = true;
  }
  r.measurement_variance = rv;
  r.process_variance_per_step = qv;
  r.process_noise_density = qv / dt_s;
  r.samples = count;
  r.status = Status::ok;
  return r;
}

/// Noise of a stable first-order process (AR(1), the sampled FirstOrderLag around its operating
/// point) measured with white noise:
///
///     x[k+1] = a x[k] + w[k],  Var w = q          y[k] = mu + x[k] + v[k],  Var v = r
///
/// gamma_y(0) = s2 + r, gamma_y(1) = a s2, gamma_y(2) = a^2 s2 with s2 = q / (1 - a^2), so
/// a = gamma(2) / gamma(1), s2 = gamma(1) / a, r = gamma(0) - s2, q = s2 (1 - a^2).
/// status numerical_failure when the autocovariances do not fit the model (a outside (0, 1)).
struct Ar1NoiseEstimate {
  Status status = Status::not_initialised;
  double a = std::numeric_limits<double>::quiet_NaN();
  double process_variance_per_step = std::numeric_limits<double>::quiet_NaN();  ///< q
  double measurement_variance = std::numeric_limits<double>::quiet_NaN();       ///< r
  double mean = std::numeric_limits<double>::quiet_NaN();                       ///< mu
  bool clamped = false;
};

inline Ar1NoiseEstimate ar1_plus_noise(const double* y, std::size_t n) {
  Ar1NoiseEstimate e;
  if (y == nullptr || n < 8) {
    e.status = Status::invalid_argument;
    return e;
  }
  const Eigen::VectorXd g = autocovariance(y, n, 2);
  e.mean = mean_variance(y, n).mean;
  if (!g.allFinite() || !(g(1) > 0) || !(g(2) > 0) || !(g(2) < g(1))) {
    e.status = Status::numerical_failure;
    return e;
  }
  e.a = g(2) / g(1);
  const double s2 = g(1) / e.a;
  e.measurement_variance = g(0) - s2;
  if (e.measurement_variance < 0) {
    e.measurement_variance = 0;
    e.clamped = true;
  }
  e.process_variance_per_step = s2 * (1 - e.a * e.a);
  e.status = Status::ok;
  return e;
}

/// Ljung-Box portmanteau test of whiteness (residuals of a fitted model, Kalman innovations):
///     Q = N (N + 2) sum_{l=1..L} rho_l^2 / (N - l)   ~ chi-square(L - fitted_parameters)
/// under the null hypothesis of white noise.  A small p-value (< 0.05, say) means the model has
/// left structure in the residuals (order too low, noise covariances wrong).
struct WhitenessTest {
  double q_statistic = std::numeric_limits<double>::quiet_NaN();
  int dof = 0;
  double p_value = std::numeric_limits<double>::quiet_NaN();
  bool white(double alpha = 0.05) const { return p_value >= alpha; }
};

inline WhitenessTest ljung_box(const double* x, std::size_t n, int lags, int fitted_parameters = 0) {
  WhitenessTest t;
  t.dof = lags - fitted_parameters;
  if (x == nullptr || lags < 1 || t.dof < 1 || n <= static_cast<std::size_t>(lags) + 1) return t;
  const Eigen::VectorXd g = autocovariance(x, n, lags);
  if (!g.allFinite() || !(g(0) > 0)) return t;
  const double N = static_cast<double>(n);
  double q = 0;
  for (int l = 1; l <= lags; ++l) {
    const double rho = g(l) / g(0);
    q += rho * rho / (N - l);
  }
  t.q_statistic = N * (N + 2) * q;
  t.p_value = 1.0 - stats::chi_square_cdf(t.q_statistic, t.dof);
  return t;
}

}  // namespace physguard::identify
