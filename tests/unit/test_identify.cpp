// identify/: AR/ARX fits and order selection, FOPDT fit, noise estimates, whiteness test and
// threshold calibration recover known parameters from simulated data.
#include <doctest/doctest.h>

#include <cmath>
#include <random>
#include <vector>

#include <physguard/detect/cusum.hpp>
#include <physguard/detect/threshold.hpp>
#include <physguard/identify.hpp>
#include <physguard/signal/first_order_plus_dead_time.hpp>

using namespace physguard;
using namespace physguard::identify;

namespace {

std::vector<double> white(std::size_t n, double sigma, std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> g(0.0, sigma);
  std::vector<double> e(n);
  for (double& v : e) v = g(rng);
  return e;
}

// Random steps between lo and hi, held for 60..180 samples; zero for the first `rest` samples.
std::vector<double> random_steps(std::size_t n, double lo, double hi, std::size_t rest,
                                 std::uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> level(lo, hi);
  std::uniform_int_distribution<int> hold(60, 180);
  std::vector<double> u(n, 0.0);
  std::size_t k = rest;
  while (k < n) {
    const double v = level(rng);
    const std::size_t end = std::min(n, k + static_cast<std::size_t>(hold(rng)));
    for (; k < end; ++k) u[k] = v;
  }
  return u;
}

// Mean run length of a restarting CUSUM over z (samples up to the last alarm / alarms).
double cusum_arl(const std::vector<double>& z, double k, double h) {
  CusumDetector<double> c(k, h, AfterAlarm::restart);
  std::size_t alarms = 0, last = 0;
  for (std::size_t i = 0; i < z.size(); ++i)
    if (c.update(z[i]).alarm) {
      ++alarms;
      last = i + 1;
    }
  return alarms ? static_cast<double>(last) / static_cast<double>(alarms) : INFINITY;
}

std::vector<double> ar1_unit(std::size_t n, double phi, std::uint64_t seed) {
  const auto e = white(n, std::sqrt(1 - phi * phi), seed);
  std::vector<double> z(n);
  double prev = 0;
  for (std::size_t i = 0; i < n; ++i) z[i] = prev = phi * prev + e[i];
  return z;
}

}  // namespace

TEST_CASE("AR(2): least squares recovers the coefficients, BIC and AIC select order 2") {
  // y[k] = 1.5 y[k-1] - 0.7 y[k-2] + e[k]: in ArxModel's convention a1 = -1.5, a2 = 0.7.
  const std::size_t n = 5000;
  const double sigma = 0.1;
  const auto e = white(n, sigma, 1);
  std::vector<double> y(n, 0.0);
  for (std::size_t k = 2; k < n; ++k) y[k] = 1.5 * y[k - 1] - 0.7 * y[k - 2] + e[k];

  const ArxFit f = fit_ar(y.data(), n, 2);
  REQUIRE(f.ok());
  // Standard errors are about sqrt((1 - a2^2) / N) = 0.01: allow 4.
  CHECK(f.a(0) == doctest::Approx(-1.5).epsilon(0.04 / 1.5));
  CHECK(f.a(1) == doctest::Approx(0.7).epsilon(0.04 / 0.7));
  CHECK(f.noise_variance == doctest::Approx(sigma * sigma).epsilon(0.08));  // se 2 %
  CHECK(f.samples == n - 2);

  const ArxFit bic = select_ar(y.data(), n, 6, Criterion::bic);
  REQUIRE(bic.ok());
  CHECK(bic.na == 2);
  const ArxFit aic = select_ar(y.data(), n, 6, Criterion::aic);
  REQUIRE(aic.ok());
  CHECK(aic.na >= 2);  // AIC may over-fit a little, never under-fit a clear AR(2)
  CHECK(aic.na <= 4);

  // The fitted model's one-step residuals are the innovations e (up to estimation error).
  auto model = make_arx_model<double, 2, 0>(f);
  model.reset();
  double sse = 0;
  for (std::size_t k = 0; k < n; ++k) {
    const double r = model.step(y[k]);
    if (k >= 2) sse += (r - e[k]) * (r - e[k]);
  }
  CHECK(sse / static_cast<double>(n) < 0.01 * sigma * sigma);

  // With an offset: y + 5 needs the intercept; the coefficients stay the same.
  std::vector<double> shifted(y);
  for (double& v : shifted) v += 5.0;
  const ArxFit fi = fit_ar(shifted.data(), n, 2, ArxFitOptions{true, 0});
  REQUIRE(fi.ok());
  CHECK(fi.a(0) == doctest::Approx(f.a(0)).epsilon(1e-3));
  CHECK(fi.offset / (1 + fi.a(0) + fi.a(1)) == doctest::Approx(5.0).epsilon(0.01));

  // NaN rows are skipped, not propagated.
  y[100] = NAN;
  const ArxFit fn = fit_ar(y.data(), n, 2);
  REQUIRE(fn.ok());
  CHECK(fn.samples == n - 2 - 3);  // rows 100, 101, 102 use y[100]
}

TEST_CASE("ARX: orders and input delay selected, coefficients recovered") {
  // y[k] = 0.8 y[k-1] + 0.5 u[k-2] + 0.3 u[k-3] + e  ->  na 1, nb 2, delay 2.
  const std::size_t n = 4000;
  std::mt19937_64 rng(7);
  std::bernoulli_distribution coin(0.3);
  std::vector<double> u(n), y(n, 0.0);
  double level = 1.0;
  for (std::size_t k = 0; k < n; ++k) {
    if (coin(rng)) level = -level;  // random binary input
    u[k] = level;
  }
  const auto e = white(n, 0.05, 8);
  for (std::size_t k = 3; k < n; ++k) y[k] = 0.8 * y[k - 1] + 0.5 * u[k - 2] + 0.3 * u[k - 3] + e[k];

  ArxOrderRange r;
  r.max_na = 3;
  r.max_nb = 3;
  r.min_delay = 1;
  r.max_delay = 3;
  const ArxFit f = select_arx(y.data(), u.data(), n, r, Criterion::bic);
  REQUIRE(f.ok());
  CHECK(f.na == 1);
  CHECK(f.nb == 2);
  CHECK(f.delay_samples == 2);
  CHECK(f.a(0) == doctest::Approx(-0.8).epsilon(0.01));
  CHECK(f.b(0) == doctest::Approx(0.5).epsilon(0.02));
  CHECK(f.b(1) == doctest::Approx(0.3).epsilon(0.04));
  auto model = make_arx_model<double, 1, 2, 3>(f);
  CHECK(model.static_gain() == doctest::Approx(0.8 / 0.2).epsilon(0.02));

  // An input that never moves cannot be identified: rank deficiency is reported.
  const std::vector<double> flat(n, 1.0);
  const ArxFit bad = fit_arx(y.data(), flat.data(), n, 1, 2, 1, ArxFitOptions{true, 0});
  CHECK(bad.status == Status::numerical_failure);
  CHECK(fit_arx(y.data(), nullptr, n, 1, 1).status == Status::invalid_argument);
}

TEST_CASE("FOPDT: gain, time constant, dead time and offset from a noisy step response") {
  const double K = 2.0, tau = 30.0, theta = 12.0, Ts = 1.0, offset = 1.0;
  const std::size_t n = 2000;
  const auto u = random_steps(n, 0.0, 1.0, 50, 3);
  FirstOrderPlusDeadTime<double, 20> plant(K, tau, theta, Ts);
  std::vector<double> clean(n);
  clean[0] = offset;
  for (std::size_t k = 0; k + 1 < n; ++k) clean[k + 1] = plant.step(u[k]) + offset;

  FopdtFitOptions opt;
  opt.max_dead_time_s = 30;
  const FopdtFit exact = fit_fopdt(u.data(), clean.data(), n, Ts, opt);
  REQUIRE(exact.ok());
  CHECK(exact.dead_time_samples == 12);
  CHECK(exact.gain == doctest::Approx(K).epsilon(1e-6));
  CHECK(exact.time_constant_s == doctest::Approx(tau).epsilon(1e-6));
  CHECK(exact.output_offset == doctest::Approx(offset).epsilon(1e-6));

  const auto noise = white(n, 0.05, 4);
  std::vector<double> y(clean);
  for (std::size_t k = 0; k < n; ++k) y[k] += noise[k];
  const FopdtFit f = fit_fopdt(u.data(), y.data(), n, Ts, opt);
  REQUIRE(f.ok());
  CHECK(f.dead_time_s == doctest::Approx(theta));
  CHECK(f.gain == doctest::Approx(K).epsilon(0.02));
  CHECK(f.time_constant_s == doctest::Approx(tau).epsilon(0.05));
  CHECK(f.output_offset == doctest::Approx(offset).epsilon(0.05));
  CHECK(f.residual_variance == doctest::Approx(0.05 * 0.05).epsilon(0.1));

  // An input that never moves: the dead time cannot be seen.
  const std::vector<double> flat(n, 0.5);
  CHECK_FALSE(fit_fopdt(flat.data(), y.data(), n, Ts, opt).ok());
  std::vector<double> with_nan(y);
  with_nan[10] = NAN;
  CHECK(fit_fopdt(u.data(), with_nan.data(), n, Ts, opt).status == Status::invalid_argument);
}

TEST_CASE("noise estimates: random walk + white noise, AR(1) + white noise") {
  {  // x[k+1] = x[k] + w, Var w = q dt;  y = x + v, Var v = r
    const double q = 0.04, dt = 0.5, r = 0.01;  // q dt = 0.02
    const std::size_t n = 200000;
    const auto w = white(n, std::sqrt(q * dt), 11);
    const auto v = white(n, std::sqrt(r), 12);
    std::vector<double> y(n);
    double x = 3.0;
    for (std::size_t k = 0; k < n; ++k) {
      y[k] = x + v[k];
      x += w[k];
    }
    const RandomWalkNoise est = random_walk_noise(y.data(), n, dt);
    REQUIRE(est.status == Status::ok);
    CHECK_FALSE(est.clamped);
    // Standard errors ~1 % of each: allow 5 %.
    CHECK(est.measurement_variance == doctest::Approx(r).epsilon(0.05));
    CHECK(est.process_variance_per_step == doctest::Approx(q * dt).epsilon(0.05));
    CHECK(est.process_noise_density == doctest::Approx(q).epsilon(0.05));
  }
  {  // x[k+1] = 0.95 x[k] + w, Var w = 0.01;  y = 4 + x + v, Var v = 0.04
    const double a = 0.95, q = 0.01, r = 0.04;
    const std::size_t n = 400000;
    const auto w = white(n, std::sqrt(q), 13);
    const auto v = white(n, std::sqrt(r), 14);
    std::vector<double> y(n);
    double x = 0;
    for (std::size_t k = 0; k < n; ++k) {
      y[k] = 4.0 + x + v[k];
      x = a * x + w[k];
    }
    const Ar1NoiseEstimate est = ar1_plus_noise(y.data(), n);
    REQUIRE(est.status == Status::ok);
    CHECK(est.a == doctest::Approx(a).epsilon(0.01));
    CHECK(est.measurement_variance == doctest::Approx(r).epsilon(0.1));
    CHECK(est.process_variance_per_step == doctest::Approx(q).epsilon(0.2));
    CHECK(est.mean == doctest::Approx(4.0).epsilon(0.01));
  }
  {  // mean / variance skip NaN
    const std::vector<double> x = {1, 2, NAN, 3, 4};
    const MeanVariance mv = mean_variance(x.data(), x.size());
    CHECK(mv.samples == 4);
    CHECK(mv.mean == doctest::Approx(2.5));
    CHECK(mv.variance == doctest::Approx(5.0 / 3));
  }
}

TEST_CASE("Ljung-Box: white residuals pass, an under-fitted model's residuals fail") {
  const std::size_t n = 5000;
  const auto e = white(n, 1.0, 21);
  CHECK(ljung_box(e.data(), n, 20).white(0.01));
  const auto z = ar1_unit(n, 0.3, 22);
  const WhitenessTest t = ljung_box(z.data(), n, 20);
  CHECK(t.dof == 20);
  CHECK(t.p_value < 1e-6);
  // The AR(1) fit's residuals are white again (one fitted parameter).
  const ArxFit f = fit_ar(z.data(), n, 1);
  REQUIRE(f.ok());
  std::vector<double> res(n - 1);
  for (std::size_t k = 1; k < n; ++k) res[k - 1] = z[k] + f.a(0) * z[k - 1];
  CHECK(ljung_box(res.data(), res.size(), 20, 1).white(0.01));
}

TEST_CASE("empirical threshold gives the target false-alarm rate on fresh heavy-tailed data") {
  // Student-t (4 dof) residuals scaled to unit variance: the Gaussian threshold is far off.
  auto draw = [](std::size_t n, std::uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::student_t_distribution<double> t(4.0);
    std::vector<double> z(n);
    for (double& v : z) v = t(rng) / std::sqrt(2.0);
    return z;
  };
  const double target_arl = 500;
  const auto calib = draw(500000, 31);
  const ThresholdCalibration c = calibrate_threshold_detector(calib.data(), calib.size(), target_arl);
  REQUIRE(c.ok());
  CHECK(c.empirical_arl == doctest::Approx(target_arl).epsilon(0.01));

  const auto fresh = draw(1000000, 32);
  auto rate = [&](double h) {
    ThresholdDetector<double> det(h);
    std::size_t alarms = 0;
    for (double z : fresh) alarms += det.update(z).alarm ? 1 : 0;
    return static_cast<double>(alarms) / static_cast<double>(fresh.size());
  };
  // 2000 expected alarms (se 2.2 %) plus the calibration's own error (~3 %): allow 12 %.
  CHECK(rate(c.threshold) == doctest::Approx(1.0 / target_arl).epsilon(0.12));
  CHECK(rate(ThresholdDetector<double>::threshold_for_arl(target_arl)) > 3.0 / target_arl);

  // Too little data for the target: refused.
  CHECK(calibrate_threshold_detector(calib.data(), 1000, target_arl).status == Status::not_initialised);
  // Quantile against a direct sort on a small sample.
  const std::vector<double> small = {5, 1, 4, 2, 3};
  CHECK(empirical_quantile(small.data(), small.size(), 0.5) == 3.0);
  CHECK(empirical_quantile(small.data(), small.size(), 0.875) == doctest::Approx(4.5));
  CHECK(empirical_quantile(small.data(), small.size(), 1.0) == 5.0);
}

TEST_CASE("CUSUM h by simulation on recorded residuals gives the target ARL on fresh data") {
  // Correlated residuals (AR(1), phi = 0.3): Siegmund's i.i.d. threshold alarms far too often.
  const double k = 0.5, target = 200;
  const auto calib = ar1_unit(200000, 0.3, 41);
  const ThresholdCalibration c = calibrate_cusum(calib.data(), calib.size(), k, target);
  REQUIRE(c.ok());
  CHECK_FALSE(c.bootstrapped);
  CHECK(c.empirical_arl == doctest::Approx(target).epsilon(0.02));
  const auto fresh = ar1_unit(400000, 0.3, 42);
  // ~2000 runs on fresh data (se ~2.5 %) plus calibration error (~3.5 %): allow 12 %.
  CHECK(cusum_arl(fresh, k, c.threshold) == doctest::Approx(target).epsilon(0.12));
  const double h_theory = CusumDetector<double>::threshold_for_arl(k, target);
  CHECK(c.threshold > h_theory + 0.5);
  CHECK(cusum_arl(fresh, k, h_theory) < 0.7 * target);

  // A short i.i.d. N(0,1) recording is extended by the block bootstrap; h lands near theory.
  const auto short_rec = white(5000, 1.0, 43);
  const ThresholdCalibration b = calibrate_cusum(short_rec.data(), short_rec.size(), k, 500);
  REQUIRE(b.ok());
  CHECK(b.bootstrapped);
  CHECK(b.samples == 20000);
  CHECK(b.threshold == doctest::Approx(CusumDetector<double>::threshold_for_arl(k, 500)).epsilon(0.1));
}
