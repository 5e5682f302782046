// Discrete algebraic Riccati equation (structure-preserving doubling) and the steady-state Kalman
// filter built on it: closed forms, an independent Riccati recursion, failure on non-detectable
// systems, agreement with the time-varying filter, NIS consistency, bad input, no heap.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>

#include <Eigen/Dense>

#include <physguard/core.hpp>
#include <physguard/estimate/kalman_filter.hpp>
#include <physguard/estimate/riccati.hpp>
#include <physguard/estimate/steady_state_kalman_filter.hpp>

#include "support/heap_counter.hpp"
#include "support/simulate.hpp"

using namespace physguard;

namespace {

template <typename T>
T tol();
template <>
double tol<double>() {
  return 1e-10;
}
template <>
float tol<float>() {
  return 2e-4f;
}

template <typename T, int N>
using Mat = Eigen::Matrix<T, N, N>;

// Straightforward reference, written independently of the library: iterate the Riccati recursion
// P <- A P A' - A P C' (C P C' + R)^-1 C P A' + Q in double (explicit inverse is fine in a test)
// from P = Q until it stops changing.
template <int Nx, int Nz>
Mat<double, Nx> riccati_recursion(const Mat<double, Nx>& A, const Eigen::Matrix<double, Nz, Nx>& C,
                                  const Mat<double, Nx>& Q, const Mat<double, Nz>& R,
                                  int* steps_taken = nullptr) {
  Mat<double, Nx> P = Q;
  for (int k = 0; k < 2000000; ++k) {
    const Mat<double, Nz> S = C * P * C.transpose() + R;
    Mat<double, Nx> P_next =
        A * P * A.transpose() - A * P * C.transpose() * S.inverse() * C * P * A.transpose() + Q;
    P_next = 0.5 * (P_next + P_next.transpose()).eval();
    const double change = (P_next - P).norm();
    P = P_next;
    if (change <= 1e-15 * P.norm()) {
      if (steps_taken) *steps_taken = k + 1;
      break;
    }
  }
  return P;
}

template <typename T, int Nx, int Nz>
T relative_residual(const DareResult<T, Nx, Nz>& res) {
  return res.residual_norm / res.P.norm();
}

// Constant-velocity model, position measured.
template <typename T>
LinearStateSpace<T, 2, 0, 1> cv_model(T dt) {
  LinearStateSpace<T, 2, 0, 1> m;
  m.A << 1, dt, 0, 1;
  m.C << 1, 0;
  m.dt_s = dt;
  return m;
}

template <typename T>
Mat<T, 2> cv_noise(T dt, T q) {
  Mat<T, 2> Q;
  Q << dt * dt * dt / 3, dt * dt / 2, dt * dt / 2, dt;
  return q * Q;
}

}  // namespace

// ---------------------------------------------------------------------------------------------
// solve_dare
// ---------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("DARE: scalar random walk matches the closed form", T, float, double) {
  for (const double q : {1e-6, 0.04, 1.0, 50.0}) {
    for (const double r : {1e-3, 0.25, 4.0}) {
      const auto res = solve_dare(Mat<T, 1>::Constant(T(1)), Eigen::Matrix<T, 1, 1>::Constant(T(1)),
                                  Mat<T, 1>::Constant(T(q)), Mat<T, 1>::Constant(T(r)));
      // P = P - P^2 / (P + r) + q  =>  P^2 - q P - q r = 0.
      const double P = 0.5 * (q + std::sqrt(q * q + 4 * q * r));
      REQUIRE(res.status == Status::ok);
      CHECK(res.converged);
      CHECK(res.stabilizing);
      CHECK(static_cast<double>(res.P(0, 0)) == doctest::Approx(P).epsilon(tol<T>()));
      CHECK(static_cast<double>(res.K(0, 0)) == doctest::Approx(P / (P + r)).epsilon(tol<T>()));
      CHECK(static_cast<double>(res.S(0, 0)) == doctest::Approx(P + r).epsilon(tol<T>()));
      CHECK(static_cast<double>(relative_residual(res)) < 10 * tol<T>());
      CHECK(res.iterations < 40);
    }
  }
}

TEST_CASE_TEMPLATE("DARE: scalar first-order process x' = a x + w matches the quadratic", T, float,
                   double) {
  const double q = 0.3, r = 0.7;
  for (const double a : {-0.95, 0.0, 0.5, 0.9, 0.999, 1.2, 3.0}) {
    const auto res = solve_dare(Mat<T, 1>::Constant(T(a)), Eigen::Matrix<T, 1, 1>::Constant(T(1)),
                                Mat<T, 1>::Constant(T(q)), Mat<T, 1>::Constant(T(r)));
    // P (P + r) = a^2 P r + q (P + r)  =>  P^2 + (r (1 - a^2) - q) P - q r = 0, positive root.
    const double b = r * (1 - a * a) - q;
    const double P = 0.5 * (-b + std::sqrt(b * b + 4 * q * r));
    REQUIRE(res.status == Status::ok);
    CHECK(static_cast<double>(res.P(0, 0)) == doctest::Approx(P).epsilon(tol<T>()));
    // The error dynamics a (1 - K) are stable even for the unstable plants (a = 1.2, 3).
    CHECK(std::abs(a * (1 - static_cast<double>(res.K(0, 0)))) < 1.0);
  }
}

TEST_CASE("DARE: 2-, 3- and 4-state systems agree with the Riccati recursion (double)") {
  SUBCASE("constant velocity, position measured") {
    const auto m = cv_model(0.1);
    const Mat<double, 2> Q = cv_noise(0.1, 0.5);
    const Mat<double, 1> R = Mat<double, 1>::Constant(0.04);
    const auto res = solve_dare(m.A, m.C, Q, R);
    REQUIRE(res.ok());
    const auto P_ref = riccati_recursion<2, 1>(m.A, m.C, Q, R);
    CHECK((res.P - P_ref).norm() <= 1e-11 * P_ref.norm());
    CHECK(relative_residual(res) < 1e-12);
    CHECK((res.K * res.S - res.P * m.C.transpose()).norm() <= 1e-12 * res.P.norm());
  }
  SUBCASE("constant acceleration, position measured, slow convergence of the recursion") {
    const double dt = 0.01;
    Mat<double, 3> A;
    A << 1, dt, dt * dt / 2, 0, 1, dt, 0, 0, 1;
    Eigen::Matrix<double, 1, 3> C(1, 0, 0);
    const Eigen::Vector3d g(dt * dt * dt / 6, dt * dt / 2, dt);
    const Mat<double, 3> Q = 2.0 * g * g.transpose() + 1e-12 * Mat<double, 3>::Identity();
    const Mat<double, 1> R = Mat<double, 1>::Constant(1e-3);
    int steps = 0;
    const auto res = solve_dare(A, C, Q, R);
    REQUIRE(res.ok());
    const auto P_ref = riccati_recursion<3, 1>(A, C, Q, R, &steps);
    CHECK((res.P - P_ref).norm() <= 1e-8 * P_ref.norm());
    CHECK(relative_residual(res) < 1e-10);
    // Doubling: log2 of the recursion's step count, give or take.
    CHECK(steps > 100);
    CHECK(res.iterations <= static_cast<int>(std::log2(static_cast<double>(steps))) + 4);
  }
  SUBCASE("4 states, 2 coupled measurements, oscillatory and integrating modes") {
    const double th = 0.3, rho = 0.98, dt = 0.05;
    Mat<double, 4> A;
    A << rho * std::cos(th), -rho * std::sin(th), 0.1, 0,  //
        rho * std::sin(th), rho * std::cos(th), 0, 0,      //
        0, 0, 1, dt,                                       //
        0, 0, 0, 0.9;
    Eigen::Matrix<double, 2, 4> C;
    C << 1, 0, 1, 0,  //
        0, 1, 0, 0.5;
    Mat<double, 4> G;
    G << 0.3, 0.1, 0, 0,  //
        0.0, 0.2, 0.05, 0,  //
        0.1, 0, 0.01, 0.02,  //
        0, 0.1, 0, 0.4;
    const Mat<double, 4> Q = G * G.transpose();
    Mat<double, 2> R;
    R << 0.05, 0.01, 0.01, 0.02;
    const auto res = solve_dare(A, C, Q, R);
    REQUIRE(res.ok());
    const auto P_ref = riccati_recursion<4, 2>(A, C, Q, R);
    CHECK((res.P - P_ref).norm() <= 1e-11 * P_ref.norm());
    CHECK(relative_residual(res) < 1e-12);
    CHECK(physguard_test::is_spd(res.P, 0.0));
    CHECK((res.K * res.S - res.P * C.transpose()).norm() <= 1e-12 * res.P.norm());

    // The float solve agrees with the double reference to float accuracy.
    const auto resf = solve_dare(A.cast<float>(), C.cast<float>(), Q.cast<float>(),
                                              R.cast<float>());
    REQUIRE(resf.ok());
    CHECK((resf.P.cast<double>() - P_ref).norm() <= 1e-4 * P_ref.norm());
    CHECK(resf.residual_norm / resf.P.norm() < 1e-4f);
  }
}

TEST_CASE_TEMPLATE("DARE: non-detectable or non-stabilisable systems report failure", T, float,
                   double) {
  SUBCASE("unstable mode the measurement does not see") {
    Mat<T, 2> A;
    A << T(1.2), 0, 0, T(0.5);
    const Eigen::Matrix<T, 1, 2> C(T(0), T(1));
    const auto res = solve_dare(A, C, Mat<T, 2>::Identity(), Mat<T, 1>::Constant(T(1)));
    CHECK(res.status == Status::numerical_failure);
    CHECK_FALSE(res.ok());
  }
  SUBCASE("marginal (random-walk) mode the measurement does not see") {
    const Eigen::Matrix<T, 1, 2> C(T(1), T(0));
    const auto res =
        solve_dare(Mat<T, 2>::Identity().eval(), C, Mat<T, 2>::Identity().eval(),
                   Mat<T, 1>::Constant(T(1)));
    CHECK(res.status == Status::numerical_failure);
    CHECK_FALSE(res.converged);
  }
  SUBCASE("a stable unobserved mode is fine") {
    Mat<T, 2> A;
    A << T(0.5), 0, 0, T(0.9);
    const Eigen::Matrix<T, 1, 2> C(T(1), T(0));
    const auto res = solve_dare(A, C, Mat<T, 2>::Identity(), Mat<T, 1>::Constant(T(1)));
    REQUIRE(res.status == Status::ok);
    // The unobserved state's variance is its open-loop stationary variance q / (1 - a^2).
    CHECK(static_cast<double>(res.P(1, 1)) == doctest::Approx(1.0 / (1 - 0.81)).epsilon(tol<T>()));
  }
  SUBCASE("marginal mode without process noise: P = 0 is not stabilising") {
    const auto res = solve_dare(Mat<T, 1>::Constant(T(1)), Eigen::Matrix<T, 1, 1>::Constant(T(1)),
                                Mat<T, 1>::Zero().eval(), Mat<T, 1>::Constant(T(1)));
    CHECK(res.status == Status::numerical_failure);
    CHECK_FALSE(res.stabilizing);
  }
  SUBCASE("R not positive definite, or not finite") {
    const auto m = cv_model(T(0.1));
    const auto res = solve_dare(m.A, m.C, cv_noise(T(0.1), T(1)), Mat<T, 1>::Constant(T(-1)));
    CHECK(res.status == Status::invalid_argument);
    const auto res2 = solve_dare(m.A, m.C, cv_noise(T(0.1), T(1)),
                                 Mat<T, 1>::Constant(std::numeric_limits<T>::quiet_NaN()));
    CHECK(res2.status == Status::invalid_argument);
  }
}

TEST_CASE("DARE: solving does not touch the heap") {
  Mat<float, 4> A = Mat<float, 4>::Identity() * 0.9f;
  A(0, 1) = 0.1f;
  Eigen::Matrix<float, 2, 4> C = Eigen::Matrix<float, 2, 4>::Zero();
  C(0, 0) = 1;
  C(1, 2) = 1;
  physguard_test::HeapCounter heap;
  bool ok = false;
  {
    NoMallocScope no_malloc;
    const auto res = solve_dare(A, C, Mat<float, 4>::Identity(), Mat<float, 2>::Identity());
    ok = res.ok();
  }
  CHECK(heap.count() == 0);
  CHECK(ok);
}

// ---------------------------------------------------------------------------------------------
// SteadyStateKalmanFilter
// ---------------------------------------------------------------------------------------------

TEST_CASE_TEMPLATE("steady-state filter: the time-varying filter converges to it", T, float,
                   double) {
  // Damped velocity driven by an input, position measured.
  const T dt = T(0.1);
  using SS = SteadyStateKalmanFilter<T, 2, 1, 1>;
  using KF = KalmanFilter<T, 2, 1, 1>;
  typename SS::Model m;
  m.A << 1, dt, 0, T(0.95);
  m.B << 0, dt;
  m.C << 1, 0;
  const Mat<T, 2> Q = cv_noise(dt, T(0.5));
  const Mat<T, 1> R = Mat<T, 1>::Constant(T(0.04));
  SS ss(m, Q, R);
  REQUIRE(ss.ok());
  KF kf(m, Q, R, KF::StateVector::Zero(), Mat<T, 2>::Identity() * T(100));

  physguard_test::GaussianSource<T, 2> w(Q, 11);
  physguard_test::GaussianSource<T, 1> v(R, 12);
  Eigen::Matrix<T, 2, 1> x(T(3), T(-1));
  T first_gap = T(0);
  for (int k = 0; k < 3000; ++k) {
    const Eigen::Matrix<T, 1, 1> u = Eigen::Matrix<T, 1, 1>::Constant(T(std::sin(0.01 * k)));
    x = m.A * x + m.B * u + w();
    const Eigen::Matrix<T, 1, 1> z = m.C * x + v();
    kf.predict(u);
    ss.predict(u);
    kf.update(z);
    ss.update(z);
    if (k == 0) first_gap = (kf.state() - ss.state()).norm();
  }
  kf.predict();
  ss.predict();
  const Mat<T, 2> P = kf.covariance();
  const Eigen::Matrix<T, 1, 1> S = m.C * P * m.C.transpose() + R;
  const Eigen::Matrix<T, 2, 1> K_kf = P * m.C.transpose() / S(0, 0);
  const double eps = tol<T>() * 10;
  CHECK((P - ss.prior_covariance()).norm() <= eps * P.norm());
  CHECK((K_kf - ss.gain()).norm() <= eps * K_kf.norm());
  CHECK(std::abs(S(0, 0) - ss.innovation_covariance()(0, 0)) <= eps * S(0, 0));
  // Same data, same states once the transient of the time-varying gain has died out.
  CHECK(first_gap > T(0.1));
  CHECK((kf.state() - ss.state()).norm() <= eps * (T(1) + kf.state().norm()));
  // Posterior covariances agree too.
  kf.update(m.C * kf.state());
  CHECK((kf.covariance() - ss.posterior_covariance()).norm() <= eps * P.norm());
}

TEST_CASE("steady-state filter: NIS of a correct model in the 99% chi-square interval, wrong R "
          "caught") {
  const double dt = 0.1, q = 0.5, r = 0.04;
  const int steps = 10000;
  SUBCASE("one measurement") {
    auto run = [&](double r_filter) {
      using SS = SteadyStateKalmanFilter<double, 2, 1>;
      const auto m = cv_model(dt);
      const auto Q = cv_noise(dt, q);
      SS::Options opt;
      opt.reject_outside_gate = false;
      SS ss(m, Q, Mat<double, 1>::Constant(r_filter), SS::StateVector::Zero(), opt);
      REQUIRE(ss.ok());
      // Start the truth with the steady prior spread around the filter's state.
      Eigen::Vector2d x = physguard_test::GaussianSource<double, 2>(ss.prior_covariance(), 3)();
      physguard_test::GaussianSource<double, 2> w(Q, 1);
      physguard_test::GaussianSource<double, 1> v(Mat<double, 1>::Constant(r), 2);
      double sum = 0;
      for (int k = 0; k < steps; ++k) {
        const auto rec = ss.update(m.C * x + v());
        REQUIRE(rec.accepted);
        sum += rec.nis;
        x = m.A * x + w();
        ss.predict();
      }
      return sum;
    };
    const double lo = stats::chi_square_quantile(0.005, steps);
    const double hi = stats::chi_square_quantile(0.995, steps);
    const double correct = run(r);
    CHECK(correct > lo);
    CHECK(correct < hi);
    CHECK(run(r / 4) > hi);
    CHECK(run(r * 4) < lo);
  }
  SUBCASE("two correlated measurements (Cholesky path), float") {
    using SS = SteadyStateKalmanFilter<float, 2, 2>;
    SS::Model m;
    m.A << 1, float(dt), 0, 0.98f;
    m.C << 1, 0, 0, 1;
    const Mat<float, 2> Q = cv_noise(float(dt), float(q));
    Mat<float, 2> R;
    R << 0.04f, 0.01f, 0.01f, 0.09f;
    auto run = [&](float scale) {
      SS::Options opt;
      opt.reject_outside_gate = false;
      SS ss(m, Q, (R * scale).eval(), SS::StateVector::Zero(), opt);
      REQUIRE(ss.ok());
      Eigen::Vector2f x = physguard_test::GaussianSource<float, 2>(ss.prior_covariance(), 5)();
      physguard_test::GaussianSource<float, 2> w(Q, 6);
      physguard_test::GaussianSource<float, 2> v(R, 7);
      double sum = 0;
      for (int k = 0; k < steps; ++k) {
        const auto rec = ss.update(m.C * x + v());
        REQUIRE(rec.accepted);
        REQUIRE(rec.dof == 2);
        sum += rec.nis;
        x = m.A * x + w();
        ss.predict();
      }
      return sum;
    };
    const double lo = stats::chi_square_quantile(0.005, 2 * steps);
    const double hi = stats::chi_square_quantile(0.995, 2 * steps);
    const double correct = run(1.0f);
    CHECK(correct > lo);
    CHECK(correct < hi);
    CHECK(run(0.25f) > hi);
  }
}

TEST_CASE_TEMPLATE("steady-state filter: record, gate, NaN and partial measurements", T, float,
                   double) {
  using SS = SteadyStateKalmanFilter<T, 1, 2>;
  typename SS::Model m;
  m.A << 1;
  m.C << 1, 1;
  Mat<T, 2> R;
  R << T(0.04), T(0.01), T(0.01), T(0.09);
  SS ss(m, Mat<T, 1>::Constant(T(0.01)), R, SS::StateVector::Constant(T(2)));
  REQUIRE(ss.ok());
  ss.predict();
  const auto x = ss.state();

  SUBCASE("an accepted update reports y, the constant S and NIS = y' S^-1 y") {
    const Eigen::Matrix<T, 2, 1> z(T(2.1), T(1.8));
    const auto rec = ss.update(z);
    REQUIRE(rec.accepted);
    CHECK(rec.status == Status::ok);
    CHECK(rec.dof == 2);
    CHECK(rec.y == z - m.C * x);
    CHECK(rec.S == ss.innovation_covariance());
    const Mat<double, 2> S = rec.S.template cast<double>();
    const Eigen::Vector2d y = rec.y.template cast<double>();
    const double nis = y.dot(S.inverse() * y);
    CHECK(static_cast<double>(rec.nis) == doctest::Approx(nis).epsilon(tol<T>()));
    CHECK(rec.gate == doctest::Approx(static_cast<T>(stats::chi_square_quantile(1 - 1e-6, 2))));
    CHECK(rec.test_ratio == doctest::Approx(rec.nis / rec.gate));
    CHECK(ss.state() == x + ss.gain() * rec.y);
  }
  SUBCASE("NaN and infinity refused, state bit-identical") {
    for (T bad : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity()}) {
      const auto rec = ss.update(Eigen::Matrix<T, 2, 1>(T(2), bad));
      CHECK(rec.status == Status::not_finite);
      CHECK_FALSE(rec.accepted);
      CHECK(ss.state() == x);
    }
    CHECK(ss.predict(typename SS::InputVector()) == Status::ok);  // Nu = 0: nothing to refuse
  }
  SUBCASE("outside the gate: reported, not fused") {
    const auto rec = ss.update(Eigen::Matrix<T, 2, 1>(T(50), T(50)));
    CHECK(rec.status == Status::rejected_by_gate);
    CHECK_FALSE(rec.accepted);
    CHECK(rec.test_ratio > T(1));
    CHECK(ss.state() == x);
  }
  SUBCASE("partial measurement: not fused, NIS of the present component reported") {
    const auto rec = ss.update(Eigen::Matrix<T, 2, 1>(T(2.3), std::numeric_limits<T>::quiet_NaN()),
                               0b01u);
    CHECK(rec.status == Status::missing);
    CHECK_FALSE(rec.accepted);
    CHECK(rec.dof == 1);
    CHECK(rec.y(1) == T(0));
    const double s0 = static_cast<double>(ss.innovation_covariance()(0, 0));
    const double y0 = 2.3 - static_cast<double>(x(0));
    CHECK(static_cast<double>(rec.nis) == doctest::Approx(y0 * y0 / s0).epsilon(tol<T>()));
    CHECK(ss.state() == x);
    // A present NaN is still refused as not finite; an empty mask is a prediction-only step.
    CHECK(ss.update(Eigen::Matrix<T, 2, 1>(std::numeric_limits<T>::quiet_NaN(), T(1)), 0b01u)
              .status == Status::not_finite);
    CHECK(ss.update(Eigen::Matrix<T, 2, 1>(T(1), T(1)), 0u).status == Status::missing);
    // A full mask is the ordinary update.
    CHECK(ss.update(Eigen::Matrix<T, 2, 1>(T(2), T(2)), 0b11u).accepted);
  }
}

TEST_CASE("steady-state filter: a failed DARE refuses every step; a shared solution is reused") {
  using SS = SteadyStateKalmanFilter<double, 2, 1>;
  SS::Model m;
  m.A << 1.2, 0, 0, 0.5;
  m.C << 0, 1;
  SS bad(m, Mat<double, 2>::Identity(), Mat<double, 1>::Constant(1.0), SS::StateVector(1, 1));
  CHECK(bad.status() == Status::numerical_failure);
  CHECK(bad.predict() == Status::numerical_failure);
  const auto rec = bad.update(SS::MeasurementVector::Constant(1.0));
  CHECK(rec.status == Status::numerical_failure);
  CHECK_FALSE(rec.accepted);
  CHECK(bad.state() == SS::StateVector(1, 1));

  const auto mc = cv_model(0.1);
  const auto Q = cv_noise(0.1, 0.5);
  const Mat<double, 1> R = Mat<double, 1>::Constant(0.04);
  SS a(mc, Q, R);
  SS b(mc, R, solve_dare(mc.A, mc.C, Q, R));
  CHECK(a.gain() == b.gain());
  CHECK(a.posterior_covariance() == b.posterior_covariance());
}

TEST_CASE("steady-state filter: predict and update never touch the heap") {
  using SS = SteadyStateKalmanFilter<float, 4, 2, 1>;
  SS::Model m;
  m.A.setIdentity();
  m.A *= 0.95f;
  m.A(0, 1) = 0.1f;
  m.B.setConstant(0.1f);
  m.C.setZero();
  m.C(0, 0) = 1;
  m.C(1, 2) = 1;
  SS ss(m, Mat<float, 4>::Identity() * 0.01f, Mat<float, 2>::Identity() * 0.1f);
  REQUIRE(ss.ok());
  int accepted = 0;
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int k = 0; k < 100; ++k) {
      ss.predict(SS::InputVector::Constant(1.0f));
      accepted += ss.update(SS::MeasurementVector(0.01f * static_cast<float>(k), 0.2f),
                            k % 3 ? 0b11u : 0b10u)
                      .accepted;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(accepted == 66);
}
