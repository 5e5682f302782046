// physguard/identify/threshold_calibration.hpp - thresholds for a target false-alarm rate from
// clean (attack-free) recordings: empirical quantiles of a statistic, and the CUSUM h found by
// running the real detector over the recorded residuals.
//
// CONFIGURATION-TIME CODE: allocates (a sorted copy, a bootstrap sequence).  No exceptions, no
// RTTI.  Never calibrate on attack labels: feed clean normal-operation data only.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <random>

#include <Eigen/Core>

#include "../core/status.hpp"
#include "../detect/after_alarm.hpp"
#include "../detect/cusum.hpp"
#include "noise.hpp"

namespace physguard::identify {

/// Empirical p-quantile of the finite values (linear interpolation between order statistics,
/// "type 7": q = x_(h) with h = (N - 1) p on the sorted sample).  NaN when there is no finite value.
inline double empirical_quantile(const double* x, std::size_t n, double p) {
  Eigen::VectorXd v(static_cast<Eigen::Index>(n));
  Eigen::Index m = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (std::isfinite(x[i])) v(m++) = x[i];
  if (m == 0 || !(p >= 0 && p <= 1)) return std::numeric_limits<double>::quiet_NaN();
  double* b = v.data();
  const double h = static_cast<double>(m - 1) * p;
  const auto lo = static_cast<Eigen::Index>(std::floor(h));
  std::nth_element(b, b + lo, b + m);
  const double x_lo = b[lo];
  if (lo + 1 >= m) return x_lo;
  const double x_hi = *std::min_element(b + lo + 1, b + m);
  return x_lo + (h - static_cast<double>(lo)) * (x_hi - x_lo);
}

/// Standardisation of a residual from clean data: z = (x - mean) / sigma.
inline MeanVariance standardization(const double* x, std::size_t n) { return mean_variance(x, n); }

struct ThresholdCalibration {
  Status status = Status::not_initialised;
  double threshold = std::numeric_limits<double>::quiet_NaN();
  double target_arl = 0;      ///< samples
  double empirical_arl = std::numeric_limits<double>::quiet_NaN();  ///< on the calibration data
  std::size_t samples = 0;    ///< samples the calibration ran over (bootstrap included)
  std::size_t alarms = 0;     ///< alarms at the chosen threshold on them
  bool bootstrapped = false;  ///< the recording was too short; a block bootstrap extended it
  bool ok() const { return status == Status::ok; }
};

/// Threshold h of a one-sided test "statistic > h" with a per-sample false-alarm probability p:
/// the (1 - p) quantile of the statistic on clean data.  Stateless tests only (each sample
/// decides alone), so ARL0 = 1 / p.  Needs well over 1 / p samples (status not_initialised with
/// fewer than 10 / p).
inline ThresholdCalibration calibrate_upper_threshold(const double* statistic, std::size_t n,
                                                      double false_alarm_probability) {
  ThresholdCalibration c;
  if (statistic == nullptr || !(false_alarm_probability > 0 && false_alarm_probability < 1)) {
    c.status = Status::invalid_argument;
    return c;
  }
  c.target_arl = 1.0 / false_alarm_probability;
  c.samples = n;
  if (static_cast<double>(n) < 10.0 / false_alarm_probability) return c;
  c.threshold = empirical_quantile(statistic, n, 1.0 - false_alarm_probability);
  for (std::size_t i = 0; i < n; ++i) c.alarms += statistic[i] > c.threshold ? 1 : 0;
  if (c.alarms > 0) c.empirical_arl = static_cast<double>(n) / static_cast<double>(c.alarms);
  c.status = std::isfinite(c.threshold) ? Status::ok : Status::numerical_failure;
  return c;
}

/// h of the ThresholdDetector (|z| > h) for an in-control ARL of target_arl samples, from clean
/// normalised residuals: the (1 - 1/ARL0) quantile of |z|.  Unlike
/// ThresholdDetector::threshold_for_arl it does not assume normal residuals (heavy tails).
inline ThresholdCalibration calibrate_threshold_detector(const double* z, std::size_t n,
                                                         double target_arl) {
  Eigen::VectorXd a(static_cast<Eigen::Index>(n));
  for (std::size_t i = 0; i < n; ++i) a(static_cast<Eigen::Index>(i)) = std::fabs(z[i]);
  if (!(target_arl > 1)) {
    ThresholdCalibration c;
    c.status = Status::invalid_argument;
    return c;
  }
  return calibrate_upper_threshold(a.data(), n, 1.0 / target_arl);
}

struct CusumCalibrationOptions {
  std::size_t min_alarms = 40;       ///< data needed: min_alarms * target ARL samples
  std::size_t block_length = 100;    ///< bootstrap block (keeps correlation shorter than this)
  std::uint64_t seed = 12345;
  std::size_t max_samples = 20000000;
  int bisection_steps = 50;
};

namespace detail {
/// Alarms of a restarting two-sided CUSUM over z; `last` = index + 1 of the last alarm.
inline std::size_t cusum_alarms(const double* z, std::size_t n, double k, double h,
                                std::size_t& last) {
  CusumDetector<double> cusum(k, h, AfterAlarm::restart);
  std::size_t alarms = 0;
  last = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (cusum.update(z[i]).alarm) {
      ++alarms;
      last = i + 1;
    }
  return alarms;
}
}  // namespace detail

/// CUSUM threshold h (drift k) for an in-control ARL of target_arl samples, found by running
/// the real CusumDetector (restarting after each alarm, as the ARL is defined) over the recorded
/// clean normalised residuals and bisecting on h until the mean run length (samples up to the
/// last alarm / alarms) equals the target.  This keeps whatever the residuals really are
/// (correlated, skewed, heavy-tailed) where Siegmund's formula assumes i.i.d. N(0, 1).
///
/// When the recording holds fewer than min_alarms * target_arl samples it is extended by a
/// circular block bootstrap (blocks of block_length consecutive residuals drawn at random, fixed
/// seed), which keeps correlation shorter than a block; `bootstrapped` says so.  NaN residuals
/// are dropped.
inline ThresholdCalibration calibrate_cusum(const double* z, std::size_t n, double drift_k,
                                            double target_arl,
                                            const CusumCalibrationOptions& opt = {}) {
  ThresholdCalibration c;
  c.target_arl = target_arl;
  if (z == nullptr || !(drift_k >= 0) || !(target_arl > 1) || opt.block_length == 0) {
    c.status = Status::invalid_argument;
    return c;
  }
  Eigen::VectorXd clean(static_cast<Eigen::Index>(n));
  Eigen::Index m = 0;
  for (std::size_t i = 0; i < n; ++i)
    if (std::isfinite(z[i])) clean(m++) = z[i];
  if (m < static_cast<Eigen::Index>(2 * opt.block_length)) return c;
  const double need = static_cast<double>(opt.min_alarms) * target_arl;
  Eigen::VectorXd data;
  if (static_cast<double>(m) >= need) {
    data = clean.head(m);
  } else {
    const auto len = static_cast<Eigen::Index>(
        std::min(need, static_cast<double>(opt.max_samples)));
    data.resize(len);
    std::mt19937_64 rng(opt.seed);
    std::uniform_int_distribution<Eigen::Index> start(0, m - 1);
    const auto block = static_cast<Eigen::Index>(opt.block_length);
    for (Eigen::Index i = 0; i < len;) {
      const Eigen::Index s = start(rng);
      for (Eigen::Index j = 0; j < block && i < len; ++j, ++i) data(i) = clean((s + j) % m);
    }
    c.bootstrapped = true;
  }
  const std::size_t L = static_cast<std::size_t>(data.size());
  c.samples = L;
  const auto arl_at = [&](double h, std::size_t& alarms) {
    std::size_t last = 0;
    alarms = detail::cusum_alarms(data.data(), L, drift_k, h, last);
    return alarms == 0 ? std::numeric_limits<double>::infinity()
                       : static_cast<double>(last) / static_cast<double>(alarms);
  };
  double lo = 0.0, hi = 1.0;
  std::size_t alarms = 0;
  int guard = 0;
  while (arl_at(hi, alarms) < target_arl && guard++ < 60) {
    lo = hi;
    hi *= 2;
  }
  if (guard >= 60) {
    c.status = Status::numerical_failure;
    return c;
  }
  for (int i = 0; i < opt.bisection_steps; ++i) {
    const double mid = 0.5 * (lo + hi);
    if (arl_at(mid, alarms) < target_arl) lo = mid;
    else hi = mid;
    if (hi - lo < 1e-6 * hi) break;
  }
  c.threshold = hi;
  c.empirical_arl = arl_at(hi, c.alarms);
  c.status = c.alarms >= opt.min_alarms / 2 ? Status::ok : Status::not_initialised;
  return c;
}

}  // namespace physguard::identify
