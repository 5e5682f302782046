// Extended Kalman filter: equals the linear filter on a linear model (both Jacobian routes),
// automatic vs analytic vs finite-difference Jacobians of the orifice tank, NIS / NEES consistency
// on the nonlinear tank, a mis-specified orifice caught, bad input, masks, no heap.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <physguard/core.hpp>
#include <physguard/estimate/autodiff.hpp>
#include <physguard/estimate/extended_kalman_filter.hpp>
#include <physguard/estimate/kalman_filter.hpp>
#include <physguard/signal/orifice_tank.hpp>

#include "support/heap_counter.hpp"
#include "support/nonlinear_models.hpp"
#include "support/simulate.hpp"

using namespace physguard;
using physguard_test::relative_difference;

static_assert(is_nonlinear_model_v<physguard_test::LinearModel3<double>>, "concept");
static_assert(!has_transition_jacobian_v<physguard_test::LinearModel3<double>>, "trait");
static_assert(!has_measurement_jacobian_v<physguard_test::LinearModel3<double>>, "trait");
static_assert(!has_process_noise_v<physguard_test::LinearModel3<double>>, "trait");
static_assert(has_transition_jacobian_v<physguard_test::LinearModel3WithJacobians<double>>,
              "trait");
static_assert(has_measurement_jacobian_v<physguard_test::LinearModel3WithJacobians<double>>,
              "trait");
static_assert(is_nonlinear_model_v<OrificeTank<float, true>>, "concept");
static_assert(has_transition_jacobian_v<OrificeTank<float>>, "trait");
static_assert(has_measurement_jacobian_v<OrificeTank<double, true>>, "trait");
static_assert(has_process_noise_v<OrificeTank<double>>, "trait");
static_assert(!is_nonlinear_model_v<LinearStateSpace<double, 2, 1, 1>>, "not a nonlinear model");

namespace {

template <typename Model>
void check_ekf_equals_kf(double tol) {
  using T = double;
  const Model model;
  using KF = KalmanFilter<T, 3, 2, 1>;
  using EKF = ExtendedKalmanFilter<Model>;
  KF::StateMatrix Q;
  Q << 0.02, 0.005, 0.0, 0.005, 0.03, 0.0, 0.0, 0.0, 1e-4;
  KF::MeasurementCovariance R;
  R << 0.1, 0.02, 0.02, 0.05;
  const KF::StateVector x0(0.5, -0.2, 0.1);
  const KF::StateMatrix P0 = KF::StateMatrix::Identity() * 2.0;
  KF kf(model.state_space(), Q, R, x0, P0);
  EKF ekf(model, Q, R, x0, P0);

  physguard_test::GaussianSource<T, 3> process(Q, 10);
  physguard_test::GaussianSource<T, 2> noise(R, 11);
  physguard_test::GaussianSource<T, 1> input(Eigen::Matrix<T, 1, 1>::Constant(1.0), 12);
  KF::StateVector x_true(1.0, 0.0, -0.5);
  double worst = 0;
  int accepted = 0;
  for (int k = 0; k < 500; ++k) {
    const KF::InputVector u = input();
    REQUIRE(kf.predict(u) == Status::ok);
    REQUIRE(ekf.predict(u, T(0.1)) == Status::ok);
    worst = std::max(worst, relative_difference(ekf.state(), kf.state()));
    worst = std::max(worst, relative_difference(ekf.covariance(), kf.covariance()));
    // Random measurements of a simulated truth (noise 1.5 times larger than R says, and
    // outliers), some partial.
    x_true = model.state_space().A * x_true + model.state_space().B * u + process();
    KF::MeasurementVector z = model.C * x_true + noise() * 1.5;
    if (k % 97 == 50) z(0) += 5.0;  // an outlier the gate must reject
    const MeasurementMask mask = (k % 5 == 3) ? 0b01u : (k % 7 == 4 ? 0b10u : 0b11u);
    const auto rk = kf.update(z, mask);
    const auto re = ekf.update(z, mask);
    REQUIRE(re.status == rk.status);
    REQUIRE(re.accepted == rk.accepted);
    CHECK(re.dof == rk.dof);
    CHECK(re.gate == rk.gate);
    accepted += re.accepted ? 1 : 0;
    worst = std::max(worst, relative_difference(re.y, rk.y));
    worst = std::max(worst, relative_difference(re.S, rk.S));
    worst = std::max(worst, relative_difference(re.nis, rk.nis));
    worst = std::max(worst, relative_difference(re.test_ratio, rk.test_ratio));
    worst = std::max(worst, relative_difference(ekf.state(), kf.state()));
    worst = std::max(worst, relative_difference(ekf.covariance(), kf.covariance()));
  }
  CHECK(accepted > 450);
  CHECK(accepted < 500);
  CHECK(worst <= tol);
}

}  // namespace

TEST_CASE("EKF on a linear model equals the linear Kalman filter (autodiff Jacobians)") {
  check_ekf_equals_kf<physguard_test::LinearModel3<double>>(1e-9);
}

TEST_CASE("EKF on a linear model equals the linear Kalman filter (analytic Jacobians)") {
  check_ekf_equals_kf<physguard_test::LinearModel3WithJacobians<double>>(1e-9);
}

TEST_CASE("autodiff_jacobian of a hand-differentiated function") {
  const Eigen::Vector2d x(0.7, 1.3);
  Eigen::Matrix<double, 3, 2> J;
  const auto f = [](const auto& v) {
    using S = typename std::decay_t<decltype(v)>::Scalar;
    using std::cos;
    using std::exp;
    using std::log;
    using std::pow;
    using std::sin;
    using std::sqrt;
    Eigen::Matrix<S, 3, 1> out;
    out(0) = S(v(0) * v(1) / (v(0) + 2.0));
    out(1) = S(sqrt(v(1)) + exp(v(0)) - log(v(1)));
    out(2) = S(sin(v(0)) * cos(v(1)) + pow(v(1), 2.5));
    return out;
  };
  const Eigen::Vector3d value = autodiff_jacobian(f, x, J);
  const double a = x(0), b = x(1);
  CHECK(value(0) == doctest::Approx(a * b / (a + 2)).epsilon(1e-15));
  Eigen::Matrix<double, 3, 2> J_hand;
  J_hand << 2 * b / ((a + 2) * (a + 2)), a / (a + 2),  //
      std::exp(a), 0.5 / std::sqrt(b) - 1 / b,         //
      std::cos(a) * std::cos(b), -std::sin(a) * std::sin(b) + 2.5 * std::pow(b, 1.5);
  CHECK(relative_difference(J, J_hand) < 1e-14);
}

TEST_CASE_TEMPLATE("orifice tank: analytic, automatic and finite-difference Jacobians agree", T,
                   float, double) {
  const bool is_double = sizeof(T) == sizeof(double);
  for (int substeps : {1, 3}) {
    OrificeTankParameters<double> pd;
    pd.rk4_substeps = substeps;
    OrificeTankParameters<T> pt;
    pt.rk4_substeps = substeps;
    const OrificeTank<double, true> tank_d(pd);
    const OrificeTank<T, true> tank(pt);
    for (double dt : {0.5, 10.0}) {
      for (double q : {0.0, 2e-3}) {
        // Levels below zero, in the blend near an empty tank, around the blend edge, above it.
        for (double h : {-0.05, 1e-4, 5e-4, 0.9e-3, 1.5e-3, 0.3, 1.0, 4.0}) {
          CAPTURE(substeps);
          CAPTURE(dt);
          CAPTURE(q);
          CAPTURE(h);
          const Eigen::Matrix<T, 1, 1> x = Eigen::Matrix<T, 1, 1>::Constant(T(h));
          const Eigen::Matrix<T, 1, 1> u = Eigen::Matrix<T, 1, 1>::Constant(T(q));
          const auto F_an = tank.transition_jacobian(x, u, T(dt));
          const auto F_ad = autodiff_transition_jacobian(tank, x, u, T(dt));
          const auto H_an = tank.measurement_jacobian(x);
          const auto H_ad = autodiff_measurement_jacobian(tank, x);
          const double tol = is_double ? 1e-12 : 1e-5;
          CHECK(relative_difference(F_ad, F_an) <= tol);
          CHECK(relative_difference(H_ad, H_an) <= tol);
          CHECK(all_finite(F_an));
          CHECK(all_finite(H_an));
          // The dispatching helpers pick the analytic ones.
          CHECK(model_transition_jacobian(tank, x, u, T(dt)) == F_an);
          if (!is_double) continue;
          // Central differences in double (the kink at h = 0 is avoided by the chosen levels).
          const double step = 1e-6 * std::max(std::abs(h), 1e-3);
          const Eigen::Matrix<double, 1, 1> xp = Eigen::Matrix<double, 1, 1>::Constant(h + step);
          const Eigen::Matrix<double, 1, 1> xm = Eigen::Matrix<double, 1, 1>::Constant(h - step);
          const Eigen::Matrix<double, 1, 1> ud = Eigen::Matrix<double, 1, 1>::Constant(q);
          const double F_fd = (tank_d.transition<double>(xp, ud, dt)(0) -
                               tank_d.transition<double>(xm, ud, dt)(0)) /
                              (2 * step);
          const Eigen::Vector2d H_fd =
              (tank_d.measure<double>(xp) - tank_d.measure<double>(xm)) / (2 * step);
          CHECK(relative_difference(static_cast<double>(F_an(0, 0)), F_fd) <= 1e-6);
          CHECK(relative_difference(H_an.template cast<double>(), H_fd) <= 1e-6);
        }
      }
    }
  }
}

TEST_CASE("orifice tank: physics against closed forms") {
  OrificeTankParameters<double> p;
  p.area_m2 = 2.0;
  p.orifice_area_m2 = 5e-4;
  p.discharge_coefficient = 0.62;
  p.rk4_substeps = 50;
  const OrificeTank<double> tank(p);
  const double c = 0.62 * 5e-4 * std::sqrt(2 * 9.80665);
  CHECK(tank.outflow_coefficient() == doctest::Approx(c).epsilon(1e-15));
  // Steady level: q_in = c sqrt(h).
  const double q = 1e-3;
  const Eigen::Matrix<double, 1, 1> u = Eigen::Matrix<double, 1, 1>::Constant(q);
  const double hs = tank.steady_level_m(q);
  CHECK(hs == doctest::Approx((q / c) * (q / c)).epsilon(1e-15));
  CHECK(tank.transition<double>(Eigen::Matrix<double, 1, 1>::Constant(hs), u, 100.0)(0) ==
        doctest::Approx(hs).epsilon(1e-12));
  // Free draining (no inflow): sqrt(h(t)) = sqrt(h0) - c t / (2 A), exactly (Torricelli).
  const double h0 = 1.5, t = 200.0;
  const double root = std::sqrt(h0) - c * t / (2 * p.area_m2);
  const Eigen::Matrix<double, 1, 1> zero = Eigen::Matrix<double, 1, 1>::Zero();
  const double h_t = tank.transition<double>(Eigen::Matrix<double, 1, 1>::Constant(h0), zero, t)(0);
  CHECK(h_t == doctest::Approx(root * root).epsilon(1e-9));
  // An empty tank with no inflow stays empty; the outflow is zero and smooth near empty.
  CHECK(tank.transition<double>(zero, zero, 10.0)(0) == 0.0);
  CHECK(tank.outflow_m3_s(0.0) == 0.0);
  CHECK(tank.outflow_m3_s(-1.0) == 0.0);
  const double h_edge = p.laminar_level_m;
  CHECK(tank.outflow_m3_s(h_edge * (1 - 1e-12)) == doctest::Approx(c * std::sqrt(h_edge)));
  CHECK(tank.head_root_derivative(h_edge * (1 - 1e-12)) ==
        doctest::Approx(0.5 / std::sqrt(h_edge)).epsilon(1e-9));
  CHECK(tank.process_noise(2.0)(0, 0) == p.level_noise_density_m2_s * 2.0);
}

TEST_CASE_TEMPLATE(
    "EKF on the orifice tank: NIS in its 99% chi-square interval, wrong orifice "
    "caught",
    T, float, double) {
  using Tank = OrificeTank<T>;
  using EKF = ExtendedKalmanFilter<Tank>;
  using Scn = physguard_test::TankScenario;
  const int steps = 10000;
  typename EKF::Options opt;
  opt.reject_outside_gate = false;
  const typename EKF::MeasurementCovariance R =
      EKF::MeasurementCovariance::Constant(T(Scn::sensor_sigma_m * Scn::sensor_sigma_m));
  auto run = [&](double cd) {
    EKF ekf(Tank(Scn::parameters<T>(cd, 1)), R, EKF::StateVector::Constant(T(Scn::level0_m)),
            EKF::StateMatrix::Constant(T(Scn::P0)), opt);
    double nees = 0;
    bool all = false;
    const double nis = physguard_test::run_tank(ekf, Scn::level0_m + std::sqrt(Scn::P0) * 0.3,
                                                steps, 5, nees, all);
    CHECK(all);
    return nis;
  };
  const double lo = stats::chi_square_quantile(0.005, steps);
  const double hi = stats::chi_square_quantile(0.995, steps);
  const double correct = run(0.6);
  CHECK(correct > lo);
  CHECK(correct < hi);
  // The orifice is really 20 % larger than the model says (Cd 0.5 instead of 0.6).
  const double wrong = run(0.5);
  CHECK(wrong > 1.5 * hi);
}

TEST_CASE("EKF on the orifice tank: NEES over independent runs in its 99% chi-square interval") {
  using Tank = OrificeTank<double>;
  using EKF = ExtendedKalmanFilter<Tank>;
  using Scn = physguard_test::TankScenario;
  const int runs = 300;
  physguard_test::GaussianSource<double, 1> start(Eigen::Matrix<double, 1, 1>::Constant(Scn::P0),
                                                  77);
  double nees_sum = 0;
  for (int r = 0; r < runs; ++r) {
    EKF ekf(Tank(Scn::parameters<double>(0.6, 1)),
            EKF::MeasurementCovariance::Constant(Scn::sensor_sigma_m * Scn::sensor_sigma_m),
            EKF::StateVector::Constant(Scn::level0_m), EKF::StateMatrix::Constant(Scn::P0));
    double nees = 0;
    bool all = false;
    physguard_test::run_tank(ekf, Scn::level0_m + start()(0), 60, 1000 + 7 * r, nees, all);
    nees_sum += nees;
  }
  // Final errors of independent runs: the NEES sum is chi-square with `runs` dof.
  CHECK(nees_sum > stats::chi_square_quantile(0.005, runs));
  CHECK(nees_sum < stats::chi_square_quantile(0.995, runs));
}

TEST_CASE_TEMPLATE("EKF refuses NaN / inf measurements and inputs, state bit-identical", T, float,
                   double) {
  using Tank = OrificeTank<T, true>;
  using EKF = ExtendedKalmanFilter<Tank>;
  EKF ekf(Tank{}, EKF::MeasurementCovariance::Identity() * T(1e-4),
          EKF::StateVector::Constant(T(0.5)), EKF::StateMatrix::Constant(T(1e-3)));
  REQUIRE(ekf.predict(EKF::InputVector::Constant(T(1e-3)), T(1)) == Status::ok);
  const auto x = ekf.state();
  const auto P = ekf.covariance();
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T inf = std::numeric_limits<T>::infinity();
  for (T bad : {nan, inf, -inf}) {
    const auto rec = ekf.update(typename EKF::MeasurementVector(T(0.5), bad));
    CHECK(rec.status == Status::not_finite);
    CHECK_FALSE(rec.accepted);
    CHECK(ekf.state() == x);
    CHECK(ekf.covariance() == P);
    CHECK(ekf.predict(EKF::InputVector::Constant(bad), T(1)) == Status::not_finite);
    CHECK(ekf.predict(EKF::InputVector::Constant(T(1e-3)), bad) == Status::not_finite);
    CHECK(ekf.predict(EKF::InputVector::Constant(T(1e-3)), T(1), EKF::StateMatrix::Constant(bad)) ==
          Status::not_finite);
    CHECK(ekf.state() == x);
    CHECK(ekf.covariance() == P);
  }
  CHECK(ekf.predict(EKF::InputVector::Constant(T(1e-3)), T(-1)) == Status::invalid_argument);
  CHECK(ekf.state() == x);
  CHECK(ekf.covariance() == P);
  // A measurement far outside the gate: reported, not fused.
  const auto rec =
      ekf.update(typename EKF::MeasurementVector(T(5), ekf.model().outflow_m3_s(x(0))));
  CHECK(rec.status == Status::rejected_by_gate);
  CHECK(rec.test_ratio > T(1));
  CHECK(rec.nis == doctest::Approx(rec.test_ratio * rec.gate));
  CHECK(ekf.state() == x);
  CHECK(ekf.covariance() == P);
  // evaluate() reports without fusing.
  const auto ev =
      ekf.evaluate(typename EKF::MeasurementVector(T(0.51), ekf.model().outflow_m3_s(T(0.51))));
  CHECK(ev.status == Status::ok);
  CHECK_FALSE(ev.accepted);
  CHECK(ekf.state() == x);
}

TEST_CASE_TEMPLATE("EKF partial measurement equals the filter built for the present component", T,
                   float, double) {
  using Both = OrificeTank<T, true>;
  using Level = OrificeTank<T, false>;
  ExtendedKalmanFilter<Both> both(
      Both{}, Eigen::Matrix<T, 2, 2>(Eigen::Matrix<T, 2, 1>(T(1e-4), T(1e-8)).asDiagonal()),
      Eigen::Matrix<T, 1, 1>::Constant(T(0.4)), Eigen::Matrix<T, 1, 1>::Constant(T(1e-3)));
  ExtendedKalmanFilter<Level> level(Level{}, Eigen::Matrix<T, 1, 1>::Constant(T(1e-4)),
                                    Eigen::Matrix<T, 1, 1>::Constant(T(0.4)),
                                    Eigen::Matrix<T, 1, 1>::Constant(T(1e-3)));
  const T tol = sizeof(T) == sizeof(double) ? T(1e-14) : T(1e-6);
  const T nan = std::numeric_limits<T>::quiet_NaN();
  for (int k = 0; k < 50; ++k) {
    const Eigen::Matrix<T, 1, 1> u = Eigen::Matrix<T, 1, 1>::Constant(T(2e-3));
    REQUIRE(both.predict(u, T(1)) == Status::ok);
    REQUIRE(level.predict(u, T(1)) == Status::ok);
    const T z = T(0.4) + T(0.002) * T(k % 3);
    // The flow meter is missing (and reads NaN, which must not matter).
    const auto r2 = both.update(Eigen::Matrix<T, 2, 1>(z, nan), 0b01u);
    const auto r1 = level.update(Eigen::Matrix<T, 1, 1>::Constant(z));
    REQUIRE(r2.status == Status::ok);
    CHECK(r2.dof == 1);
    CHECK(r2.y(1) == T(0));
    CHECK(r2.nis == doctest::Approx(r1.nis).epsilon(tol));
    CHECK(both.state()(0) == doctest::Approx(level.state()(0)).epsilon(tol));
    CHECK(both.covariance()(0, 0) == doctest::Approx(level.covariance()(0, 0)).epsilon(tol));
  }
  // Both components fused: the flow meter pulls the covariance below the level-only one.
  both.predict(Eigen::Matrix<T, 1, 1>::Constant(T(2e-3)), T(1));
  const T q = both.model().outflow_m3_s(both.state()(0));
  const auto rb = both.update(Eigen::Matrix<T, 2, 1>(both.state()(0), q));
  CHECK(rb.dof == 2);
  CHECK(rb.accepted);
  CHECK(both.covariance()(0, 0) < level.covariance()(0, 0));
  const auto none = both.update(Eigen::Matrix<T, 2, 1>(T(0.4), T(0)), 0u);
  CHECK(none.status == Status::missing);
  CHECK_FALSE(none.accepted);
}

TEST_CASE("EKF predict and update never touch the heap (autodiff and analytic routes)") {
  using LinEKF = ExtendedKalmanFilter<physguard_test::LinearModel3<float>>;
  LinEKF lin(physguard_test::LinearModel3<float>{}, LinEKF::StateMatrix::Identity() * 0.01f,
             LinEKF::MeasurementCovariance::Identity() * 0.1f, LinEKF::StateVector::Zero(),
             LinEKF::StateMatrix::Identity());
  using TankEKF = ExtendedKalmanFilter<OrificeTank<double, true>>;
  TankEKF tank(OrificeTank<double, true>{}, TankEKF::MeasurementCovariance::Identity() * 1e-4,
               TankEKF::StateVector::Constant(0.5), TankEKF::StateMatrix::Constant(1e-3));
  int ok = 0;
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int k = 0; k < 100; ++k) {
      ok += lin.predict(LinEKF::InputVector::Constant(1.0f), 0.1f) == Status::ok;
      ok += lin.update(LinEKF::MeasurementVector(0.01f * static_cast<float>(k), 0.2f),
                       k % 3 ? 0b11u : 0b10u)
                .accepted;
      ok += tank.predict(TankEKF::InputVector::Constant(2e-3), 1.0) == Status::ok;
      ok += tank.update(TankEKF::MeasurementVector(0.5, 1.8e-3), k % 2 ? 0b11u : 0b01u).accepted;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(ok == 400);
}
