// physguard/core/statistics.hpp - distribution functions used to derive gates and thresholds.
//
// Evaluated in double whatever the filter's scalar type: these run at construction or
// configuration time, never per sample.
#pragma once

#include <cmath>
#include <limits>

namespace physguard {
namespace stats {

constexpr double pi = 3.14159265358979323846;

/// Standard normal density.
inline double normal_pdf(double x) noexcept { return std::exp(-0.5 * x * x) / std::sqrt(2.0 * pi); }

/// Standard normal cumulative distribution.
inline double normal_cdf(double x) noexcept { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

/// Standard normal quantile (inverse CDF) for 0 < p < 1, to about 1e-14 relative accuracy.
/// Newton iterations on the CDF from a logistic-shaped first guess; the upper tail is computed by
/// symmetry so that p close to 1 keeps its precision.
inline double normal_quantile(double p) noexcept {
  if (!(p > 0.0 && p < 1.0)) {
    if (p == 0.0) return -std::numeric_limits<double>::infinity();
    if (p == 1.0) return std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  if (p > 0.5) return -normal_quantile(1.0 - p);
  // Lower tail: first guess from the asymptotic expansion of the Mills ratio.
  double x;
  if (p < 1e-3) {
    const double t = std::sqrt(-2.0 * std::log(p));
    x = -(t - (std::log(t * t) + std::log(2.0 * pi)) / (2.0 * t));
  } else {
    x = -1.7 * std::log((1.0 - p) / p) / 3.0;  // logistic approximation
  }
  for (int i = 0; i < 60; ++i) {
    const double f = normal_cdf(x) - p;
    const double d = normal_pdf(x);
    if (d <= 0.0) break;
    // Halley's step for phi: f'' = -x f'
    const double newton = f / d;
    const double step = newton / (1.0 + 0.5 * x * newton);
    x -= step;
    if (std::fabs(step) <= 1e-15 * (1.0 + std::fabs(x))) break;
  }
  return x;
}

/// Regularised lower incomplete gamma function P(a, x).
inline double regularized_gamma_p(double a, double x) noexcept {
  if (!(a > 0.0) || x < 0.0) return std::numeric_limits<double>::quiet_NaN();
  if (x == 0.0) return 0.0;
  const double log_prefactor = a * std::log(x) - x - std::lgamma(a);
  if (x < a + 1.0) {
    // Series: P = e^{-x} x^a / Gamma(a+1) * sum x^n / ((a+1)...(a+n))
    double term = 1.0 / a;
    double sum = term;
    for (int n = 1; n < 10000; ++n) {
      term *= x / (a + n);
      sum += term;
      if (std::fabs(term) < std::fabs(sum) * 1e-16) break;
    }
    return sum * std::exp(log_prefactor);
  }
  // Continued fraction for Q = 1 - P (modified Lentz).
  const double tiny = 1e-300;
  double b = x + 1.0 - a;
  double c = 1.0 / tiny;
  double d = 1.0 / b;
  double h = d;
  for (int i = 1; i < 10000; ++i) {
    const double an = -i * (i - a);
    b += 2.0;
    d = an * d + b;
    if (std::fabs(d) < tiny) d = tiny;
    c = b + an / c;
    if (std::fabs(c) < tiny) c = tiny;
    d = 1.0 / d;
    const double delta = d * c;
    h *= delta;
    if (std::fabs(delta - 1.0) < 1e-16) break;
  }
  return 1.0 - std::exp(log_prefactor) * h;
}

/// Chi-square cumulative distribution with `dof` degrees of freedom.
inline double chi_square_cdf(double x, double dof) noexcept {
  if (x <= 0.0) return 0.0;
  return regularized_gamma_p(0.5 * dof, 0.5 * x);
}

/// Chi-square density.
inline double chi_square_pdf(double x, double dof) noexcept {
  if (x <= 0.0) return 0.0;
  const double k = 0.5 * dof;
  return std::exp((k - 1.0) * std::log(x) - 0.5 * x - k * std::log(2.0) - std::lgamma(k));
}

/// Chi-square quantile: the x with chi_square_cdf(x, dof) == p, for 0 < p < 1.
/// Wilson-Hilferty first guess, then safeguarded Newton iterations (bisection fallback).
inline double chi_square_quantile(double p, double dof) noexcept {
  if (!(p > 0.0 && p < 1.0) || !(dof > 0.0)) {
    if (p == 0.0) return 0.0;
    if (p == 1.0) return std::numeric_limits<double>::infinity();
    return std::numeric_limits<double>::quiet_NaN();
  }
  const double z = normal_quantile(p);
  const double c = 2.0 / (9.0 * dof);
  double x = dof * std::pow(1.0 - c + z * std::sqrt(c), 3.0);
  if (!(x > 0.0)) x = 0.5 * dof;
  double lo = 0.0;
  double hi = std::numeric_limits<double>::infinity();
  for (int i = 0; i < 200; ++i) {
    const double f = chi_square_cdf(x, dof) - p;
    if (f < 0.0) lo = x; else hi = x;
    const double d = chi_square_pdf(x, dof);
    double next = (d > 0.0) ? x - f / d : x;
    if (!(next > lo && next < hi)) next = std::isinf(hi) ? 2.0 * x + 1.0 : 0.5 * (lo + hi);
    if (std::fabs(next - x) <= 1e-14 * std::fabs(x)) return next;
    x = next;
  }
  return x;
}

}  // namespace stats
}  // namespace physguard
