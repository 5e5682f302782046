// physguard/identify/fopdt_fit.hpp - first-order-plus-dead-time fit of a command -> response pair.
//
// CONFIGURATION-TIME CODE: allocates (Eigen dynamic sizes).  The result configures the
// firmware-safe FirstOrderPlusDeadTime (signal/first_order_plus_dead_time.hpp) or the response
// models of consistency/.  No exceptions, no RTTI.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstddef>
#include <limits>

#include <Eigen/Cholesky>
#include <Eigen/Core>
#include <Eigen/QR>

#include "../core/status.hpp"

namespace physguard::identify {

/// Fitted FOPDT  tau dy/dt = K u(t - theta) + c - y  (c: the output's offset at zero command).
struct FopdtFit {
  Status status = Status::not_initialised;
  double gain = 0;                ///< K, output units per command unit
  double time_constant_s = 0;     ///< tau
  double dead_time_s = 0;         ///< theta = d * Ts (resolution: one sample period)
  int dead_time_samples = 0;      ///< d
  double output_offset = 0;       ///< c: steady output = K u + c
  double initial_output = 0;      ///< fitted y[0]
  double residual_variance = std::numeric_limits<double>::quiet_NaN();  ///< SSE / (n - 4)
  double sse = std::numeric_limits<double>::infinity();
  std::size_t samples = 0;
  int iterations = 0;             ///< Levenberg-Marquardt iterations at the chosen dead time
  bool ok() const { return status == Status::ok; }
};

struct FopdtFitOptions {
  double max_dead_time_s = 0;     ///< dead times 0, Ts, ..., max are tried
  int max_iterations = 100;
  double relative_tolerance = 1e-10;  ///< stop when the SSE improves by less than this (relative)
};

namespace detail {

/// Output-error simulation of the sampled model with input held over each period:
///   x[0] = x0,  x[k+1] = a x[k] + (1 - a)(K u[k-d] + c),  yhat[k] = x[k]  (u[j<0] = u[0])
/// and, if J is given, the sensitivities d yhat / d(K, a, c, x0).
inline double fopdt_simulate(const double* u, const double* y, std::size_t n, int d,
                             const Eigen::Vector4d& th, Eigen::VectorXd* residual,
                             Eigen::MatrixXd* J) {
  const double K = th(0), a = th(1), c = th(2);
  double x = th(3);
  Eigen::Vector4d s(0, 0, 0, 1);  // sensitivities of x
  double sse = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double r = y[k] - x;
    sse += r * r;
    if (residual) (*residual)(static_cast<Eigen::Index>(k)) = r;
    if (J) J->row(static_cast<Eigen::Index>(k)) = s.transpose();
    const std::ptrdiff_t j = static_cast<std::ptrdiff_t>(k) - d;
    const double uk = u[j < 0 ? 0 : static_cast<std::size_t>(j)];
    const double drive = K * uk + c;
    Eigen::Vector4d s_next;
    s_next(0) = a * s(0) + (1 - a) * uk;
    s_next(1) = x + a * s(1) - drive;
    s_next(2) = a * s(2) + (1 - a);
    s_next(3) = a * s(3);
    s = s_next;
    x = a * x + (1 - a) * drive;
  }
  return sse;
}

}  // namespace detail

/// Fits K, tau, the dead time and the offset to a command u[0..n) and response y[0..n) sampled
/// every `sample_period_s` (y[k+1] is the response after u[k] was held for one period, as
/// FirstOrderPlusDeadTime::step produces it).
///
/// Method (documented in docs/identify.md): for every dead time d = 0 .. max_dead_time_s / Ts
/// samples,
///  1. an equation-error least-squares fit y[k+1] = a y[k] + beta u[k-d] + gamma (QR) gives a
///     start value (biased when y is noisy),
///  2. Levenberg-Marquardt on the output error sum (y[k] - yhat[k])^2 of the simulated model,
///     parameters (K, a, c, y0) with exact sensitivities (unbiased under white measurement
///     noise; a is kept in (0, 1)),
/// and the dead time with the smallest output-error SSE wins; tau = -Ts / ln a.  The command
/// must move (a step, a few setpoint changes, a PRBS), else status numerical_failure.
/// Non-finite samples: invalid_argument (cut the recording around gaps first).
inline FopdtFit fit_fopdt(const double* u, const double* y, std::size_t n, double sample_period_s,
                          const FopdtFitOptions& options = {}) {
  FopdtFit best;
  if (u == nullptr || y == nullptr || !(sample_period_s > 0) || n < 8 ||
      !(options.max_dead_time_s >= 0)) {
    best.status = Status::invalid_argument;
    return best;
  }
  for (std::size_t k = 0; k < n; ++k)
    if (!std::isfinite(u[k]) || !std::isfinite(y[k])) {
      best.status = Status::invalid_argument;
      return best;
    }
  const int max_d = static_cast<int>(std::floor(options.max_dead_time_s / sample_period_s + 1e-9));
  const auto N = static_cast<Eigen::Index>(n);
  best.status = Status::numerical_failure;
  Eigen::VectorXd r(N);
  Eigen::MatrixXd J(N, 4);
  for (int d = 0; d <= max_d && static_cast<std::size_t>(d) + 4 < n; ++d) {
    // 1. equation error start
    Eigen::MatrixXd A(N - 1, 3);
    Eigen::VectorXd b(N - 1);
    for (Eigen::Index k = 0; k + 1 < N; ++k) {
      const Eigen::Index j = k - d;
      A(k, 0) = y[k];
      A(k, 1) = u[j < 0 ? 0 : j];
      A(k, 2) = 1.0;
      b(k) = y[k + 1];
    }
    Eigen::ColPivHouseholderQR<Eigen::MatrixXd> qr(A);
    if (qr.rank() < 3) continue;
    const Eigen::Vector3d eq = qr.solve(b);
    double a0 = std::clamp(eq(0), 0.01, 0.999);
    Eigen::Vector4d th(eq(1) / (1 - a0), a0, eq(2) / (1 - a0), y[0]);
    if (!th.allFinite()) continue;
    // 2. Levenberg-Marquardt on the output error
    double sse = detail::fopdt_simulate(u, y, n, d, th, &r, &J);
    double lambda = 1e-3;
    int it = 0;
    for (; it < options.max_iterations; ++it) {
      const Eigen::Matrix4d H = J.transpose() * J;
      const Eigen::Vector4d g = J.transpose() * r;  // r = y - yhat, so the step solves H dt = g
      bool improved = false;
      double new_sse = sse;
      Eigen::Vector4d cand = th;
      for (int tries = 0; tries < 20; ++tries) {
        Eigen::Matrix4d Hl = H;
        Hl.diagonal() += lambda * H.diagonal().cwiseMax(1e-12);
        const Eigen::Vector4d step = Hl.ldlt().solve(g);
        cand = th + step;
        if (step.allFinite() && cand(1) > 0 && cand(1) < 1) {
          new_sse = detail::fopdt_simulate(u, y, n, d, cand, nullptr, nullptr);
          if (new_sse < sse) {
            improved = true;
            break;
          }
        }
        lambda *= 4;
      }
      if (!improved) break;
      const double gain = (sse - new_sse) / std::max(sse, std::numeric_limits<double>::min());
      th = cand;
      sse = detail::fopdt_simulate(u, y, n, d, th, &r, &J);
      lambda = std::max(lambda / 3, 1e-12);
      if (gain < options.relative_tolerance) break;
    }
    if (std::isfinite(sse) && sse < best.sse) {
      best.status = Status::ok;
      best.sse = sse;
      best.gain = th(0);
      best.time_constant_s = -sample_period_s / std::log(th(1));
      best.dead_time_samples = d;
      best.dead_time_s = d * sample_period_s;
      best.output_offset = th(2);
      best.initial_output = th(3);
      best.samples = n;
      best.iterations = it;
      best.residual_variance = sse / static_cast<double>(n - 4);
    }
  }
  return best;
}

}  // namespace physguard::identify
