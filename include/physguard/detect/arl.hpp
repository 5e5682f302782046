// physguard/detect/arl.hpp - average run length (ARL) theory for the residual statistics.
//
// The average run length is the expected number of samples until a statistic first crosses its
// threshold.  Under normal operation (ARL0) it is the mean time between false alarms, in samples;
// after a change (ARL1) it is the mean detection delay.  These functions turn a target ARL0 into a
// threshold and a threshold into an ARL, all from theory, for a normalised residual z ~ N(mu, 1).
//
// Configuration-time code: evaluated in double, no heap (the EWMA Markov chain uses a fixed-size
// workspace of 8*States^2 bytes on the stack; call it on the host or from a thread with enough
// stack, or pick a smaller `States`).  Cost is milliseconds on a PC; never call it per sample.
// Invalid arguments give NaN.
#pragma once

#include <array>
#include <cmath>
#include <limits>

#include "../core/statistics.hpp"

namespace physguard {
namespace arl {

namespace detail {

constexpr double nan() noexcept { return std::numeric_limits<double>::quiet_NaN(); }

/// Solves f(x) == target for an increasing f on x > lo by bracketing (doubling from `hi`) and
/// bisection.  Returns NaN when no bracket is found.
template <typename F>
double solve_increasing(F f, double target, double lo, double hi) noexcept {
  if (!(target > 0.0) || !std::isfinite(target)) return nan();
  for (int i = 0; i < 64 && !(f(hi) >= target); ++i) {
    lo = hi;
    hi *= 2.0;
  }
  if (!(f(hi) >= target)) return nan();
  for (int i = 0; i < 200; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (f(mid) < target) lo = mid; else hi = mid;
    if (hi - lo <= 1e-12 * hi) break;
  }
  return 0.5 * (lo + hi);
}

}  // namespace detail

// ---------------------------------------------------------------------------------------------
// Shewhart (threshold) test: alarm when |z| > h, z ~ N(0,1) independent.
// Each sample alarms with p = 2 (1 - Phi(h)); the run length is geometric, so ARL = 1/p exactly.

/// Probability that |z| > h for z ~ N(mean, 1).
inline double gaussian_two_sided_tail(double h, double mean = 0.0) noexcept {
  return stats::normal_cdf(-h - mean) + stats::normal_cdf(-h + mean);
}

/// ARL of the two-sided Shewhart test |z| > h when z ~ N(mean, 1): 1 / P(|z| > h).
inline double gaussian_threshold_arl(double h, double mean = 0.0) noexcept {
  if (!(h >= 0.0)) return detail::nan();
  return 1.0 / gaussian_two_sided_tail(h, mean);
}

/// Threshold h with ARL0 == target_arl for the two-sided Shewhart test: h = Phi^-1(1 - 1/(2 ARL)).
inline double gaussian_threshold_for_arl(double target_arl) noexcept {
  if (!(target_arl > 1.0)) return detail::nan();
  return -stats::normal_quantile(0.5 / target_arl);
}

// ---------------------------------------------------------------------------------------------
// Tabular CUSUM (Page 1954): S+ = max(0, S+ + z - k), alarm when S+ > h.
//
// Siegmund's (1985) approximation of the zero-state ARL of the one-sided CUSUM for z ~ N(mu, 1):
//   ARL = (exp(-2 d b) + 2 d b - 1) / (2 d^2),   d = mu - k,  b = h + 1.166,
//   ARL = b^2 when d == 0.
// The constant 1.166 = 2 * 0.583 is the overshoot correction (expected excess over the boundary of
// a Gaussian random walk).  Measured error of the in-control ARL (two-sided, ARL0 = 300): about
// 1 % for k = 0.25 and 0.5 (h = 8.0, 4.9), but -8 % for k = 1 (h = 2.6: small h, coarse overshoot);
// detection delays (ARL1) within 1 % for shifts up to 1 sigma, 2-4 % shorter than the truth for a
// 2-sigma shift.
// The two-sided CUSUM (upper and lower sums in parallel) alarms when either side does; its ARL is
// 1/ARL = 1/ARL+ + 1/ARL-, with ARL- the one-sided ARL for mean -mu.

/// Siegmund's zero-state ARL of the one-sided (upper) CUSUM with reference value k and threshold h
/// for z ~ N(mean, 1).
inline double cusum_one_sided_arl(double k, double h, double mean = 0.0) noexcept {
  if (!(h >= 0.0) || !std::isfinite(k) || !std::isfinite(mean)) return detail::nan();
  const double b = h + 1.166;
  const double d = mean - k;
  const double x = 2.0 * d * b;
  if (std::fabs(x) < 1e-4) return b * b * (1.0 - x / 3.0 + x * x / 12.0);  // series near d == 0
  return (std::exp(-x) + x - 1.0) / (2.0 * d * d);
}

/// Siegmund's ARL of the two-sided CUSUM (upper and lower sums, reference value k, threshold h)
/// for z ~ N(mean, 1).  With mean = 0 this is the mean time between false alarms; with a shift it
/// is the mean detection delay from a zero start.
inline double cusum_arl(double k, double h, double mean = 0.0) noexcept {
  const double up = cusum_one_sided_arl(k, h, mean);
  const double down = cusum_one_sided_arl(k, h, -mean);
  if (std::isnan(up) || std::isnan(down)) return detail::nan();
  return 1.0 / (1.0 / up + 1.0 / down);
}

/// Threshold h giving the two-sided CUSUM with reference value k the in-control ARL target_arl.
inline double cusum_threshold_for_arl(double k, double target_arl) noexcept {
  if (!(k >= 0.0) || !(target_arl > 1.0)) return detail::nan();
  return detail::solve_increasing([k](double h) { return cusum_arl(k, h, 0.0); }, target_arl, 0.0,
                                  1.0);
}

/// Threshold h giving the one-sided CUSUM with reference value k the in-control ARL target_arl.
inline double cusum_one_sided_threshold_for_arl(double k, double target_arl) noexcept {
  if (!(k >= 0.0) || !(target_arl > 1.0)) return detail::nan();
  return detail::solve_increasing([k](double h) { return cusum_one_sided_arl(k, h, 0.0); },
                                  target_arl, 0.0, 1.0);
}

// ---------------------------------------------------------------------------------------------
// EWMA (Roberts 1959): Z_t = lambda z_t + (1 - lambda) Z_{t-1}, Z_0 = 0, alarm when
// |Z_t| > L sigma_Z with the asymptotic sigma_Z = sqrt(lambda / (2 - lambda)).
//
// ARL by the Markov-chain approximation (Brook & Evans 1972, Lucas & Saccucci 1990): the interval
// (-UCL, UCL) is cut into `States` (odd) cells of width w = 2 UCL / States; the chain moves from
// cell i (centre c_i) to cell j with probability
//   Q_ij = Phi((c_j + w/2 - (1-lambda) c_i) / lambda - mu) - Phi((c_j - w/2 - (1-lambda) c_i) / lambda - mu),
// and the ARL from the centre cell is the middle entry of (I - Q)^-1 1.  I - Q is strictly
// diagonally dominant by rows (each row of Q sums to less than one), so Gaussian elimination
// without pivoting is stable.  The error falls like 1/States^2; ewma_arl removes its leading term by
// Richardson extrapolation between States and about States/2 cells (81 cells: within 0.1 % of a
// 801-cell chain for lambda in [0.05, 0.5]).

namespace detail {

/// ARL of the chain with `m` cells (m <= M), workspace a M*M array.
template <int M>
double ewma_chain_arl(double lambda, double L, double mean, int m,
                      std::array<double, static_cast<std::size_t>(M) * M>& a) noexcept {
  const double ucl = L * std::sqrt(lambda / (2.0 - lambda));
  const double w = 2.0 * ucl / m;
  std::array<double, M> rhs{};
  const auto at = [&a, m](int i, int j) -> double& {
    return a[static_cast<std::size_t>(i) * static_cast<std::size_t>(m) + static_cast<std::size_t>(j)];
  };
  for (int i = 0; i < m; ++i) {
    const double ci = -ucl + (i + 0.5) * w;
    const double from = (1.0 - lambda) * ci;
    double lower_cdf = stats::normal_cdf((-ucl - from) / lambda - mean);
    for (int j = 0; j < m; ++j) {
      const double upper_edge = -ucl + (j + 1) * w;
      const double upper_cdf = stats::normal_cdf((upper_edge - from) / lambda - mean);
      at(i, j) = (i == j ? 1.0 : 0.0) - (upper_cdf - lower_cdf);
      lower_cdf = upper_cdf;
    }
    rhs[static_cast<std::size_t>(i)] = 1.0;
  }
  // Gaussian elimination without pivoting (row diagonally dominant), then back substitution.
  for (int p = 0; p < m; ++p) {
    const double pivot = at(p, p);
    for (int r = p + 1; r < m; ++r) {
      const double f = at(r, p) / pivot;
      if (f == 0.0) continue;
      for (int c = p + 1; c < m; ++c) at(r, c) -= f * at(p, c);
      rhs[static_cast<std::size_t>(r)] -= f * rhs[static_cast<std::size_t>(p)];
    }
  }
  for (int r = m - 1; r >= 0; --r) {
    double s = rhs[static_cast<std::size_t>(r)];
    for (int c = r + 1; c < m; ++c) s -= at(r, c) * rhs[static_cast<std::size_t>(c)];
    rhs[static_cast<std::size_t>(r)] = s / at(r, r);
  }
  return rhs[static_cast<std::size_t>(m / 2)];
}

}  // namespace detail

/// ARL of the two-sided EWMA with smoothing lambda (0 < lambda <= 1) and asymptotic control limits
/// +-L sigma_Z, for z ~ N(mean, 1), zero start.  Markov chain with `States` cells (odd, >= 9),
/// Richardson-extrapolated with the chain of States/2 cells (odd) to cancel the 1/States^2 error
/// term.  Stack use: 8 * States^2 bytes (States = 81: 52 kB).
template <int States = 81>
double ewma_arl(double lambda, double L, double mean = 0.0) noexcept {
  static_assert(States % 2 == 1 && States >= 9, "States must be odd and at least 9");
  if (!(lambda > 0.0 && lambda <= 1.0) || !(L > 0.0) || !std::isfinite(L) || !std::isfinite(mean))
    return detail::nan();
  std::array<double, static_cast<std::size_t>(States) * States> work;
  constexpr int coarse = (States / 2) % 2 == 1 ? States / 2 : States / 2 + 1;
  const double fine_arl = detail::ewma_chain_arl<States>(lambda, L, mean, States, work);
  const double coarse_arl = detail::ewma_chain_arl<States>(lambda, L, mean, coarse, work);
  const double f2 = double(States) * States;
  const double c2 = double(coarse) * coarse;
  const double extrapolated = (f2 * fine_arl - c2 * coarse_arl) / (f2 - c2);
  return extrapolated > 0.0 ? extrapolated : fine_arl;
}

/// Control-limit width L giving the two-sided EWMA (asymptotic limits) the in-control ARL
/// target_arl.
template <int States = 81>
double ewma_threshold_for_arl(double lambda, double target_arl) noexcept {
  if (!(lambda > 0.0 && lambda <= 1.0) || !(target_arl > 1.0)) return detail::nan();
  return detail::solve_increasing([lambda](double L) { return ewma_arl<States>(lambda, L, 0.0); },
                                  target_arl, 0.0, 1.0);
}

// ---------------------------------------------------------------------------------------------
// Windowed chi-square: S_t = sum of the last W values of NIS, each chi-square with d degrees of
// freedom, alarm when S_t > h.  S_t is chi-square with D = W d degrees of freedom, so each sample
// exceeds h with p = 1 - F_D(h) -- but consecutive sums share W-1 terms, exceedances come in
// clumps and the ARL is NOT 1/p.
//
// Approximation (Poisson clumping): alarms start at the up-crossings of h, and the first
// up-crossing time is roughly exponential, so ARL ~ 1 / u with the up-crossing probability
//   u = P(S_{t-1} <= h < S_t) = integral_0^h f_C(c) F_d(h - c) (1 - F_d(h - c)) dc,
// C ~ chi2(D - d) the W-1 shared terms, F_d the chi2(d) CDF of the leaving and the entering term.
// For W = 1 the run length is geometric and ARL = 1/p exactly.  For W > 1, 1/u UNDER-estimates the
// ARL (a clump of exceedances can cross h several times, and each crossing is counted as a new
// alarm), i.e. thresholds from it are on the safe side: measured ARL0 / target at target 300 is
// 1.04-1.08 for W = 5, 1.2-1.25 for W = 10, 1.4-1.5 for W = 20 (d = 1..3).
//
// Guaranteed bound (union bound): P(RL <= n) <= n p, hence ARL >= sum_{n < 1/p} (1 - n p) ~ 1/(2p).
// Choosing p = 1/(2 ARL) therefore gives an ARL of at least the target (usually several times it).

/// Up-crossing probability u = P(S_{t-1} <= h < S_t) of a full window of W chi2(d) terms.
inline double windowed_chi_square_upcrossing(int window, int dof, double h) noexcept {
  if (window < 1 || dof < 1 || !(h > 0.0)) return detail::nan();
  const double d = dof;
  if (window == 1) {
    const double p = 1.0 - stats::chi_square_cdf(h, d);
    return p * (1.0 - p);
  }
  const double shared = static_cast<double>(window - 1) * d;
  // Substitute c = s^2 (removes the c^-1/2 singularity of a 1-dof density), midpoint rule.
  const int n = 2000;
  const double s_max = std::sqrt(h);
  const double ds = s_max / n;
  double sum = 0.0;
  for (int i = 0; i < n; ++i) {
    const double s = (i + 0.5) * ds;
    const double c = s * s;
    const double f = stats::chi_square_pdf(c, shared) * 2.0 * s;
    const double F = stats::chi_square_cdf(h - c, d);
    sum += f * F * (1.0 - F);
  }
  return sum * ds;
}

/// Approximate ARL (Poisson clumping, 1/u; exact 1/p for W = 1) of the windowed chi-square test.
inline double windowed_chi_square_arl(int window, int dof, double h) noexcept {
  if (window == 1) {
    if (dof < 1 || !(h > 0.0)) return detail::nan();
    return 1.0 / (1.0 - stats::chi_square_cdf(h, dof));
  }
  const double u = windowed_chi_square_upcrossing(window, dof, h);
  return std::isnan(u) ? u : 1.0 / u;
}

/// Threshold h with windowed_chi_square_arl(window, dof, h) == target_arl.
inline double windowed_chi_square_threshold_for_arl(int window, int dof,
                                                    double target_arl) noexcept {
  if (window < 1 || dof < 1 || !(target_arl > 1.0)) return detail::nan();
  return detail::solve_increasing(
      [window, dof](double h) { return windowed_chi_square_arl(window, dof, h); }, target_arl,
      0.0, static_cast<double>(window) * dof);
}

/// Conservative threshold: per-window exceedance probability 1/(2 target_arl), so that the ARL is
/// at least target_arl whatever the overlap (union bound; see above).
inline double windowed_chi_square_conservative_threshold_for_arl(int window, int dof,
                                                                 double target_arl) noexcept {
  if (window < 1 || dof < 1 || !(target_arl > 1.0)) return detail::nan();
  return stats::chi_square_quantile(1.0 - 0.5 / target_arl, static_cast<double>(window) * dof);
}

}  // namespace arl
}  // namespace physguard
