// Unscented Kalman filter: equals the linear filter on a linear model, exact moments of a
// quadratic, NIS / NEES consistency on the nonlinear orifice tank, a mis-specified orifice caught,
// bad input (including a covariance without a Cholesky factor), masks, no heap.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <physguard/core.hpp>
#include <physguard/estimate/extended_kalman_filter.hpp>
#include <physguard/estimate/kalman_filter.hpp>
#include <physguard/estimate/unscented_kalman_filter.hpp>
#include <physguard/signal/orifice_tank.hpp>

#include "support/heap_counter.hpp"
#include "support/nonlinear_models.hpp"
#include "support/simulate.hpp"

using namespace physguard;
using physguard_test::relative_difference;

namespace {

/// Largest relative difference between the UKF and the linear filter over `steps` steps of a
/// simulated truth with partial measurements and gate rejections.
template <typename T>
double ukf_vs_kf(int steps, const UnscentedOptions<T>& sigma, int& accepted) {
  const physguard_test::LinearModel3<T> model;
  using KF = KalmanFilter<T, 3, 2, 1>;
  using UKF = UnscentedKalmanFilter<physguard_test::LinearModel3<T>>;
  typename KF::StateMatrix Q;
  Q << T(0.02), T(0.005), T(0.0), T(0.005), T(0.03), T(0.0), T(0.0), T(0.0), T(1e-4);
  typename KF::MeasurementCovariance R;
  R << T(0.1), T(0.02), T(0.02), T(0.05);
  const typename KF::StateVector x0(T(0.5), T(-0.2), T(0.1));
  const typename KF::StateMatrix P0 = KF::StateMatrix::Identity() * T(2);
  KF kf(model.state_space(), Q, R, x0, P0);
  UKF ukf(model, Q, R, x0, P0, typename UKF::Options{}, sigma);

  physguard_test::GaussianSource<T, 3> process(Q, 20);
  physguard_test::GaussianSource<T, 2> noise(R, 21);
  physguard_test::GaussianSource<T, 1> input(Eigen::Matrix<T, 1, 1>::Constant(T(1)), 22);
  typename KF::StateVector x_true(T(1), T(0), T(-0.5));
  double worst = 0;
  accepted = 0;
  for (int k = 0; k < steps; ++k) {
    const typename KF::InputVector u = input();
    REQUIRE(kf.predict(u) == Status::ok);
    REQUIRE(ukf.predict(u, T(0.1)) == Status::ok);
    worst = std::max(worst, relative_difference(ukf.state(), kf.state()));
    worst = std::max(worst, relative_difference(ukf.covariance(), kf.covariance()));
    x_true = model.A * x_true + model.B * u + process();
    typename KF::MeasurementVector z = model.C * x_true + noise() * T(1.5);
    if (k % 97 == 50) z(0) += T(5);  // an outlier the gate must reject
    const MeasurementMask mask = (k % 5 == 3) ? 0b01u : (k % 7 == 4 ? 0b10u : 0b11u);
    const auto rk = kf.update(z, mask);
    const auto ru = ukf.update(z, mask);
    REQUIRE(ru.status == rk.status);
    REQUIRE(ru.accepted == rk.accepted);
    CHECK(ru.dof == rk.dof);
    CHECK(ru.gate == rk.gate);
    accepted += ru.accepted ? 1 : 0;
    worst = std::max(worst, relative_difference(ru.y, rk.y));
    worst = std::max(worst, relative_difference(ru.S, rk.S));
    worst = std::max(worst,
                     relative_difference(static_cast<double>(ru.nis), static_cast<double>(rk.nis)));
    worst = std::max(worst, relative_difference(ukf.state(), kf.state()));
    worst = std::max(worst, relative_difference(ukf.covariance(), kf.covariance()));
  }
  return worst;
}

/// x[k+1] = x^2, z = x: a quadratic, whose propagated mean and variance the unscented transform
/// with n + kappa = 3, alpha = 1, beta = 0 gets exactly (Gaussian moments up to the fourth).
struct Square {
  using Scalar = double;
  static constexpr int state_dim = 1;
  static constexpr int input_dim = 0;
  static constexpr int measurement_dim = 1;
  template <class S>
  Eigen::Matrix<S, 1, 1> transition(const Eigen::Matrix<S, 1, 1>& x,
                                    const Eigen::Matrix<double, 0, 1>&, double) const {
    return Eigen::Matrix<S, 1, 1>::Constant(x(0) * x(0));
  }
  template <class S>
  Eigen::Matrix<S, 1, 1> measure(const Eigen::Matrix<S, 1, 1>& x) const {
    return x;
  }
};

}  // namespace

TEST_CASE("UKF on a linear model equals the linear Kalman filter (double, 1e-9)") {
  int accepted = 0;
  const double worst = ukf_vs_kf<double>(500, UnscentedOptions<double>{}, accepted);
  CHECK(worst <= 1e-9);
  CHECK(accepted > 450);
  CHECK(accepted < 500);  // the gate rejected some: the decisions agree as well
}

TEST_CASE("UKF on a linear model with other sigma-point scalings, and in float") {
  int accepted = 0;
  UnscentedOptions<double> julier;  // the unscaled transform: alpha 1, beta 0, n + kappa = 3
  julier.beta = 0.0;
  CHECK(ukf_vs_kf<double>(300, julier, accepted) <= 1e-9);
  UnscentedOptions<double> spread;
  spread.alpha = 0.5;
  spread.kappa = 1.0;
  CHECK(ukf_vs_kf<double>(300, spread, accepted) <= 1e-9);
  // Tiny alpha: still exact for a linear model in exact arithmetic, but the points sit 1e-3
  // standard deviations out and digits are lost to cancellation (see UnscentedOptions).
  UnscentedOptions<double> tiny;
  tiny.alpha = 1e-3;
  const double worst_tiny = ukf_vs_kf<double>(300, tiny, accepted);
  CHECK(worst_tiny <= 1e-7);
  // Float with the default scaling.
  CHECK(ukf_vs_kf<float>(300, UnscentedOptions<float>{}, accepted) <= 1e-4);
}

TEST_CASE("UKF weights and the exact moments of a quadratic") {
  UnscentedOptions<double> sigma;
  sigma.alpha = 1.0;
  sigma.beta = 0.0;
  sigma.kappa = 2.0;  // n + kappa = 3 for n = 1
  const double m = 0.7, P = 0.09;
  using UKF = UnscentedKalmanFilter<Square>;
  UKF ukf(Square{}, UKF::StateMatrix::Zero(), UKF::MeasurementCovariance::Constant(1.0),
          UKF::StateVector::Constant(m), UKF::StateMatrix::Constant(P), UKF::Options{}, sigma);
  CHECK(ukf.mean_weight_centre() + 2 * ukf.weight() == doctest::Approx(1.0).epsilon(1e-15));
  CHECK(ukf.spread_factor() == doctest::Approx(std::sqrt(3.0)).epsilon(1e-15));
  REQUIRE(ukf.predict(Eigen::Matrix<double, 0, 1>{}, 1.0) == Status::ok);
  // E[x^2] = m^2 + P,  Var[x^2] = 4 m^2 P + 2 P^2 for x ~ N(m, P).
  CHECK(ukf.state()(0) == doctest::Approx(m * m + P).epsilon(1e-14));
  CHECK(ukf.covariance()(0, 0) == doctest::Approx(4 * m * m * P + 2 * P * P).epsilon(1e-14));
  // The EKF, linearising, misses the mean shift and the P^2 term: this test can tell them apart.
  ExtendedKalmanFilter<Square> ekf(Square{}, UKF::StateMatrix::Zero(),
                                   UKF::MeasurementCovariance::Constant(1.0),
                                   UKF::StateVector::Constant(m), UKF::StateMatrix::Constant(P));
  REQUIRE(ekf.predict(Eigen::Matrix<double, 0, 1>{}, 1.0) == Status::ok);
  CHECK(ekf.state()(0) == doctest::Approx(m * m).epsilon(1e-15));
  CHECK(ekf.covariance()(0, 0) == doctest::Approx(4 * m * m * P).epsilon(1e-15));
}

TEST_CASE_TEMPLATE(
    "UKF on the orifice tank: NIS in its 99% chi-square interval, wrong orifice "
    "caught",
    T, float, double) {
  using Tank = OrificeTank<T>;
  using UKF = UnscentedKalmanFilter<Tank>;
  using Scn = physguard_test::TankScenario;
  const int steps = 10000;
  typename UKF::Options opt;
  opt.reject_outside_gate = false;
  const typename UKF::MeasurementCovariance R =
      UKF::MeasurementCovariance::Constant(T(Scn::sensor_sigma_m * Scn::sensor_sigma_m));
  auto run = [&](double cd) {
    UKF ukf(Tank(Scn::parameters<T>(cd, 1)), R, UKF::StateVector::Constant(T(Scn::level0_m)),
            UKF::StateMatrix::Constant(T(Scn::P0)), opt);
    double nees = 0;
    bool all = false;
    const double nis = physguard_test::run_tank(ukf, Scn::level0_m + std::sqrt(Scn::P0) * 0.3,
                                                steps, 5, nees, all);
    CHECK(all);
    return nis;
  };
  const double lo = stats::chi_square_quantile(0.005, steps);
  const double hi = stats::chi_square_quantile(0.995, steps);
  const double correct = run(0.6);
  CHECK(correct > lo);
  CHECK(correct < hi);
  const double wrong = run(0.5);  // orifice 20 % larger than modelled
  CHECK(wrong > 1.5 * hi);
}

TEST_CASE("UKF on the orifice tank: NEES over independent runs in its 99% chi-square interval") {
  using Tank = OrificeTank<double>;
  using UKF = UnscentedKalmanFilter<Tank>;
  using Scn = physguard_test::TankScenario;
  const int runs = 300;
  physguard_test::GaussianSource<double, 1> start(Eigen::Matrix<double, 1, 1>::Constant(Scn::P0),
                                                  78);
  double nees_sum = 0;
  for (int r = 0; r < runs; ++r) {
    UKF ukf(Tank(Scn::parameters<double>(0.6, 1)),
            UKF::MeasurementCovariance::Constant(Scn::sensor_sigma_m * Scn::sensor_sigma_m),
            UKF::StateVector::Constant(Scn::level0_m), UKF::StateMatrix::Constant(Scn::P0));
    double nees = 0;
    bool all = false;
    physguard_test::run_tank(ukf, Scn::level0_m + start()(0), 60, 2000 + 7 * r, nees, all);
    nees_sum += nees;
  }
  CHECK(nees_sum > stats::chi_square_quantile(0.005, runs));
  CHECK(nees_sum < stats::chi_square_quantile(0.995, runs));
}

TEST_CASE_TEMPLATE("UKF refuses bad input with the state bit-identical", T, float, double) {
  using UKF = UnscentedKalmanFilter<physguard_test::LinearModel3<T>>;
  UKF ukf(physguard_test::LinearModel3<T>{}, UKF::StateMatrix::Identity() * T(0.01),
          UKF::MeasurementCovariance::Identity() * T(0.1),
          typename UKF::StateVector(T(1), T(2), T(3)), UKF::StateMatrix::Identity());
  REQUIRE(ukf.predict(UKF::InputVector::Constant(T(1)), T(0.1)) == Status::ok);
  const auto x = ukf.state();
  const auto P = ukf.covariance();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T inf = std::numeric_limits<T>::infinity();
  for (T bad : {nan, inf, -inf}) {
    const auto rec = ukf.update(typename UKF::MeasurementVector(bad, T(0)));
    CHECK(rec.status == Status::not_finite);
    CHECK_FALSE(rec.accepted);
    CHECK(ukf.predict(UKF::InputVector::Constant(bad), T(0.1)) == Status::not_finite);
    CHECK(ukf.predict(UKF::InputVector::Constant(T(1)), bad) == Status::not_finite);
    CHECK(ukf.state() == x);
    CHECK(ukf.covariance() == P);
  }
  CHECK(ukf.predict(UKF::InputVector::Constant(T(1)), T(-0.1)) == Status::invalid_argument);
  // Far outside the gate: reported with its NIS, not fused.
  const auto far = ukf.update(typename UKF::MeasurementVector(T(100), T(0)));
  CHECK(far.status == Status::rejected_by_gate);
  CHECK(far.test_ratio > T(1));
  CHECK(ukf.state() == x);
  CHECK(ukf.covariance() == P);

  // A covariance without a Cholesky factor: both steps refuse, nothing changes.
  typename UKF::StateMatrix indefinite;
  indefinite << T(1), T(2), T(0), T(2), T(1), T(0), T(0), T(0), T(1);
  ukf.reset(x, indefinite);
  const auto P_bad = ukf.covariance();
  CHECK(ukf.predict(UKF::InputVector::Constant(T(1)), T(0.1)) == Status::not_positive_definite);
  const auto rec = ukf.update(typename UKF::MeasurementVector(T(4), T(1)));
  CHECK(rec.status == Status::not_positive_definite);
  CHECK_FALSE(rec.accepted);
  CHECK(ukf.state() == x);
  CHECK(ukf.covariance() == P_bad);
}

TEST_CASE_TEMPLATE("UKF partial measurement equals the filter built for the present component", T,
                   float, double) {
  using Both = OrificeTank<T, true>;
  using Level = OrificeTank<T, false>;
  UnscentedKalmanFilter<Both> both(
      Both{}, Eigen::Matrix<T, 2, 2>(Eigen::Matrix<T, 2, 1>(T(1e-4), T(1e-8)).asDiagonal()),
      Eigen::Matrix<T, 1, 1>::Constant(T(0.4)), Eigen::Matrix<T, 1, 1>::Constant(T(1e-3)));
  UnscentedKalmanFilter<Level> level(Level{}, Eigen::Matrix<T, 1, 1>::Constant(T(1e-4)),
                                     Eigen::Matrix<T, 1, 1>::Constant(T(0.4)),
                                     Eigen::Matrix<T, 1, 1>::Constant(T(1e-3)));
  const T tol = sizeof(T) == sizeof(double) ? T(1e-13) : T(1e-5);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (int k = 0; k < 50; ++k) {
    const Eigen::Matrix<T, 1, 1> u = Eigen::Matrix<T, 1, 1>::Constant(T(2e-3));
    REQUIRE(both.predict(u, T(1)) == Status::ok);
    REQUIRE(level.predict(u, T(1)) == Status::ok);
    const T z = T(0.4) + T(0.002) * T(k % 3);
    const auto r2 = both.update(Eigen::Matrix<T, 2, 1>(z, nan), 0b01u);
    const auto r1 = level.update(Eigen::Matrix<T, 1, 1>::Constant(z));
    REQUIRE(r2.status == Status::ok);
    CHECK(r2.dof == 1);
    CHECK(r2.y(1) == T(0));
    CHECK(r2.S(1, 1) == T(1));
    CHECK(r2.S(0, 1) == T(0));
    CHECK(r2.nis == doctest::Approx(r1.nis).epsilon(tol));
    CHECK(both.state()(0) == doctest::Approx(level.state()(0)).epsilon(tol));
    CHECK(both.covariance()(0, 0) == doctest::Approx(level.covariance()(0, 0)).epsilon(tol));
  }
  const auto none = both.update(Eigen::Matrix<T, 2, 1>(T(0.4), T(0)), 0u);
  CHECK(none.status == Status::missing);
  CHECK_FALSE(none.accepted);
}

TEST_CASE("UKF predict and update never touch the heap") {
  using LinUKF = UnscentedKalmanFilter<physguard_test::LinearModel3<float>>;
  LinUKF lin(physguard_test::LinearModel3<float>{}, LinUKF::StateMatrix::Identity() * 0.01f,
             LinUKF::MeasurementCovariance::Identity() * 0.1f, LinUKF::StateVector::Zero(),
             LinUKF::StateMatrix::Identity());
  using TankUKF = UnscentedKalmanFilter<OrificeTank<double, true>>;
  TankUKF tank(OrificeTank<double, true>{}, TankUKF::MeasurementCovariance::Identity() * 1e-4,
               TankUKF::StateVector::Constant(0.5), TankUKF::StateMatrix::Constant(1e-3));
  int ok = 0;
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int k = 0; k < 100; ++k) {
      ok += lin.predict(LinUKF::InputVector::Constant(1.0f), 0.1f) == Status::ok;
      ok += lin.update(LinUKF::MeasurementVector(0.01f * static_cast<float>(k), 0.2f),
                       k % 3 ? 0b11u : 0b10u)
                .accepted;
      ok += tank.predict(TankUKF::InputVector::Constant(2e-3), 1.0) == Status::ok;
      ok += tank.update(TankUKF::MeasurementVector(0.5, 1.8e-3), k % 2 ? 0b11u : 0b01u).accepted;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(ok == 400);
}

TEST_CASE("UKF covariance stays symmetric positive definite over 10^5 float steps") {
  using Tank = OrificeTank<float, true>;
  using UKF = UnscentedKalmanFilter<Tank>;
  OrificeTankParameters<float> p;
  p.level_noise_density_m2_s = 1e-8f;
  UKF ukf(Tank(p), UKF::MeasurementCovariance(Eigen::Vector2f(1e-6f, 1e-10f).asDiagonal()),
          UKF::StateVector::Constant(0.5f), UKF::StateMatrix::Constant(1.0f));
  physguard_test::GaussianSource<float, 1> v(Eigen::Matrix<float, 1, 1>::Constant(1e-6f), 9);
  bool healthy = true;
  for (int k = 0; k < 100000 && healthy; ++k) {
    const float q = 2e-3f + 1e-3f * std::sin(1e-3f * static_cast<float>(k));
    ukf.predict(UKF::InputVector::Constant(q), 0.5f);
    const float h = ukf.state()(0);
    ukf.update(UKF::MeasurementVector(h + v()(0), ukf.model().outflow_m3_s(h)),
               k % 4 ? 0b01u : 0b11u);
    healthy = physguard_test::is_spd(ukf.covariance(), 0.0) && all_finite(ukf.state());
  }
  CHECK(healthy);
}
