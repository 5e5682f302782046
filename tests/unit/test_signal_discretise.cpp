// Matrix exponential against closed forms and an independent Taylor reference; zero-order-hold
// and Van Loan discretisation against closed forms; the discretisable-process concept.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <type_traits>

#include <physguard/core.hpp>
#include <physguard/signal/discretise.hpp>
#include <physguard/signal/first_order_lag.hpp>
#include <physguard/signal/process.hpp>
#include <physguard/signal/random_walk.hpp>
#include <physguard/signal/tank.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

template <typename T>
double tol() {
  return std::is_same<T, float>::value ? 2e-5 : 1e-12;
}

// Largest absolute difference relative to the largest entry of the reference.
template <typename A, typename B>
double rel_diff(const A& a, const B& b) {
  const auto ad = a.template cast<double>().eval();
  const auto bd = b.template cast<double>().eval();
  return (ad - bd).cwiseAbs().maxCoeff() / std::max(1.0, bd.cwiseAbs().maxCoeff());
}

// Independent reference: exp(M) = (exp(M / 2^k))^(2^k) with a 30-term Taylor series of the small
// matrix (norm below 1/64), all in double.
template <int N>
Eigen::Matrix<double, N, N> taylor_exp(const Eigen::Matrix<double, N, N>& M) {
  const double norm = M.cwiseAbs().colwise().sum().maxCoeff();
  int k = 0;
  while (norm / std::ldexp(1.0, k) > 1.0 / 64) ++k;
  const Eigen::Matrix<double, N, N> X = M / std::ldexp(1.0, k);
  Eigen::Matrix<double, N, N> term = Eigen::Matrix<double, N, N>::Identity();
  Eigen::Matrix<double, N, N> sum = term;
  for (int i = 1; i <= 30; ++i) {
    term = (term * X / double(i)).eval();
    sum += term;
  }
  for (int i = 0; i < k; ++i) sum = (sum * sum).eval();
  return sum;
}

}  // namespace

TEST_CASE_TEMPLATE("matrix_exponential of a diagonal matrix is the exponential of the diagonal", T,
                   float, double) {
  Eigen::Matrix<T, 3, 3> M = Eigen::Matrix<T, 3, 3>::Zero();
  M.diagonal() << T(-1.5), T(0.25), T(3.0);
  const auto E = matrix_exponential(M);
  for (int i = 0; i < 3; ++i) {
    CHECK(double(E(i, i)) == doctest::Approx(std::exp(double(M(i, i)))).epsilon(tol<T>()));
    for (int j = 0; j < 3; ++j)
      if (i != j) CHECK(E(i, j) == T(0));
  }
}

TEST_CASE_TEMPLATE("matrix_exponential of a nilpotent matrix is a finite polynomial", T, float,
                   double) {
  for (const double t : {0.1, 1.0, 7.0, 40.0}) {
    Eigen::Matrix<T, 3, 3> N = Eigen::Matrix<T, 3, 3>::Zero();
    N(0, 1) = T(t);
    N(1, 2) = T(t);
    Eigen::Matrix<double, 3, 3> expected;
    expected << 1, t, t * t / 2, 0, 1, t, 0, 0, 1;
    CHECK(rel_diff(matrix_exponential(N), expected) < 4 * tol<T>());
  }
}

TEST_CASE_TEMPLATE("matrix_exponential of a skew matrix is a rotation", T, float, double) {
  const double w = 2.0;
  for (const double t : {0.05, 0.7, 3.0, 25.0}) {
    Eigen::Matrix<T, 2, 2> M;
    M << T(0), T(-w * t), T(w * t), T(0);
    Eigen::Matrix<double, 2, 2> R;
    R << std::cos(w * t), -std::sin(w * t), std::sin(w * t), std::cos(w * t);
    // Each squaring can double the relative error: allow for the 7 squarings of |wt| = 50.
    CHECK(rel_diff(matrix_exponential(M), R) < 100 * tol<T>());
  }
}

TEST_CASE_TEMPLATE("matrix_exponential of a large-norm matrix agrees with a Taylor reference", T,
                   float, double) {
  Eigen::Matrix<double, 4, 4> M;
  M << -8.0, 3.0, 0.5, 10.0,  //
      2.0, -12.0, 4.0, 0.0,   //
      -1.0, 6.0, -9.0, 3.0,   //
      0.0, 0.5, 7.0, -11.0;
  const Eigen::Matrix<double, 4, 4> ref = taylor_exp<4>(M);
  const Eigen::Matrix<T, 4, 4> Mt = M.cast<T>();
  const Eigen::Matrix<T, 4, 4> E = matrix_exponential(Mt);
  CHECK(rel_diff(E, ref) < (std::is_same<T, float>::value ? 1e-4 : 1e-10));
  // exp(2M) = exp(M)^2 (a different number of squarings).
  const Eigen::Matrix<T, 4, 4> twice = T(2) * Mt;
  const Eigen::Matrix<T, 4, 4> E2 = matrix_exponential(twice);
  CHECK(rel_diff(E2, (E * E).eval()) < (std::is_same<T, float>::value ? 1e-4 : 1e-10));
  CHECK(rel_diff(E2, taylor_exp<4>(2.0 * M)) < (std::is_same<T, float>::value ? 1e-4 : 1e-10));
  // Small norm (no scaling): Padé alone.
  const Eigen::Matrix<double, 4, 4> small = M / 100.0;
  const Eigen::Matrix<T, 4, 4> smallt = small.cast<T>();
  CHECK(rel_diff(matrix_exponential(smallt), taylor_exp<4>(small)) < tol<T>());
}

TEST_CASE("matrix_exponential of a non-finite matrix is NaN, and exp(0) = I") {
  Eigen::Matrix2d M = Eigen::Matrix2d::Zero();
  CHECK(matrix_exponential(M) == Eigen::Matrix2d::Identity());
  M(0, 1) = std::numeric_limits<double>::quiet_NaN();
  CHECK(std::isnan(matrix_exponential(M)(1, 1)));
  M(0, 1) = std::numeric_limits<double>::infinity();
  CHECK(std::isnan(matrix_exponential(M)(0, 0)));
  // Finite coefficients whose column sum (the 1-norm) overflows: NaN, not a result computed with
  // an undefined number of squarings.
  M(0, 1) = std::numeric_limits<double>::max();
  M(1, 1) = std::numeric_limits<double>::max();
  CHECK(std::isnan(matrix_exponential(M)(0, 0)));
  // The same for the noise discretisation; a finite A with an overflowing ||A|| dt is not NaN.
  const Eigen::Matrix2d Qc = Eigen::Matrix2d::Identity();
  CHECK(std::isnan(discretise_process_noise(M, Qc, 1.0)(0, 0)));
  const Eigen::Matrix2d stable = -2.0 * Eigen::Matrix2d::Identity();  // ||A|| dt = 2 DBL_MAX
  const Eigen::Matrix2d Qinf =
      discretise_process_noise(stable, Qc, std::numeric_limits<double>::max());
  CHECK(Qinf(0, 0) == doctest::Approx(0.25).epsilon(1e-12));  // stationary: Qc / (2 a)
  CHECK(Qinf(0, 1) == 0.0);
}

TEST_CASE_TEMPLATE("ZOH discretisation of a first-order lag: a = exp(-dt/tau), b = K (1 - a)", T,
                   float, double) {
  const T K = T(2.5), tau = T(4.0);
  ContinuousStateSpace<T, 1, 1, 1> c;
  c.A(0, 0) = T(-1) / tau;
  c.B(0, 0) = K / tau;
  c.C(0, 0) = T(1);
  for (const double dt : {0.001, 0.1, 1.0, 10.0, 100.0}) {
    const auto d = discretise_zoh(c, T(dt));
    const double a = std::exp(-dt / double(tau));
    CHECK(double(d.A(0, 0)) == doctest::Approx(a).epsilon(tol<T>()));
    CHECK(double(d.B(0, 0)) == doctest::Approx(double(K) * (1 - a)).epsilon(10 * tol<T>()));
    CHECK(d.C(0, 0) == T(1));
    CHECK(d.dt_s == T(dt));
    // The primitive's closed form agrees.
    const auto p = FirstOrderLag<T>(K, tau).model(T(dt));
    CHECK(double(p.A(0, 0)) == doctest::Approx(double(d.A(0, 0))).epsilon(tol<T>()));
    CHECK(double(p.B(0, 0)) == doctest::Approx(double(d.B(0, 0))).epsilon(10 * tol<T>()));
  }
}

TEST_CASE_TEMPLATE("ZOH discretisation of a tank (integrator): A = 1, B = dt/area [1, -1]", T, float,
                   double) {
  const T area = T(3.2);
  ContinuousStateSpace<T, 1, 2, 1> c;
  c.B << T(1) / area, T(-1) / area;
  c.C(0, 0) = T(1);
  for (const double dt : {0.01, 0.5, 60.0}) {
    const auto d = discretise_zoh(c, T(dt));
    CHECK(d.A(0, 0) == T(1));
    CHECK(double(d.B(0, 0)) == doctest::Approx(dt / double(area)).epsilon(tol<T>()));
    CHECK(double(d.B(0, 1)) == doctest::Approx(-dt / double(area)).epsilon(tol<T>()));
    const auto p = Tank<T>(area).model(T(dt));
    CHECK(double(p.B(0, 0)) == doctest::Approx(double(d.B(0, 0))).epsilon(tol<T>()));
    CHECK(double(p.B(0, 1)) == doctest::Approx(double(d.B(0, 1))).epsilon(tol<T>()));
  }
}

TEST_CASE_TEMPLATE("ZOH discretisation of a double integrator", T, float, double) {
  ContinuousStateSpace<T, 2, 1, 1> c;
  c.A << T(0), T(1), T(0), T(0);
  c.B << T(0), T(1);
  c.C << T(1), T(0);
  for (const double dt : {0.01, 0.3, 5.0}) {
    const auto d = discretise_zoh(c, T(dt));
    Eigen::Matrix<double, 2, 2> A;
    A << 1, dt, 0, 1;
    Eigen::Matrix<double, 2, 1> B(dt * dt / 2, dt);
    CHECK(rel_diff(d.A, A) < tol<T>());
    CHECK(rel_diff(d.B, B) < tol<T>());
  }
  const auto z = discretise_zoh(c, T(0));
  CHECK(z.A == Eigen::Matrix<T, 2, 2>::Identity());
  CHECK(z.B == Eigen::Matrix<T, 2, 1>::Zero());
}

TEST_CASE_TEMPLATE("Van Loan: white-noise acceleration and random walk closed forms", T, float,
                   double) {
  const double q = 0.7;
  Eigen::Matrix<T, 2, 2> A;
  A << T(0), T(1), T(0), T(0);
  Eigen::Matrix<T, 2, 2> Qc = Eigen::Matrix<T, 2, 2>::Zero();
  Qc(1, 1) = T(q);
  for (const double dt : {0.01, 0.25, 3.0}) {
    const auto Qd = discretise_process_noise(A, Qc, T(dt));
    Eigen::Matrix<double, 2, 2> expected;
    expected << q * dt * dt * dt / 3, q * dt * dt / 2, q * dt * dt / 2, q * dt;
    CHECK(rel_diff(Qd, expected) < 10 * tol<T>());
    CHECK(Qd(0, 1) == Qd(1, 0));
    CHECK(rel_diff(ConstantVelocity<T>(T(q)).process_noise(T(dt)), expected) < 10 * tol<T>());

    const Eigen::Matrix<T, 1, 1> A1 = Eigen::Matrix<T, 1, 1>::Zero();
    const Eigen::Matrix<T, 1, 1> Q1 = Eigen::Matrix<T, 1, 1>::Constant(T(q));
    const auto Qrw = discretise_process_noise(A1, Q1, T(dt));
    CHECK(double(Qrw(0, 0)) == doctest::Approx(q * dt).epsilon(tol<T>()));
    CHECK(double(RandomWalk<T>(T(q)).process_noise(T(dt))(0, 0)) ==
          doctest::Approx(q * dt).epsilon(tol<T>()));
  }
}

TEST_CASE_TEMPLATE("Van Loan for a first-order lag: q tau/2 (1 - exp(-2 dt/tau))", T, float, double) {
  const double tau = 2.0, q = 0.3;
  const Eigen::Matrix<T, 1, 1> A = Eigen::Matrix<T, 1, 1>::Constant(T(-1.0 / tau));
  const Eigen::Matrix<T, 1, 1> Qc = Eigen::Matrix<T, 1, 1>::Constant(T(q));
  FirstOrderLag<T> lag(T(1), T(tau));
  lag.set_process_noise_density(T(q));
  for (const double dt : {0.01, 1.0, 20.0}) {
    const double expected = q * tau / 2 * (1 - std::exp(-2 * dt / tau));
    CHECK(double(discretise_process_noise(A, Qc, T(dt))(0, 0)) ==
          doctest::Approx(expected).epsilon(10 * tol<T>()));
    CHECK(double(lag.process_noise(T(dt))(0, 0)) ==
          doctest::Approx(expected).epsilon(10 * tol<T>()));
  }
}

TEST_CASE_TEMPLATE("Van Loan over long steps: a coupled three-state model against its modal closed "
                   "form", T, float, double) {
  // A = V diag(lambda) V^-1 and Qc = V Qm V' with Qm positive definite.  In modal coordinates the
  // integral is elementwise, so the reference needs no exponential of a matrix:
  //   Qd = V M V',   M_ij = Qm_ij (exp((l_i + l_j) dt) - 1) / (l_i + l_j).
  // ||A|| dt reaches 10^4: the block exponential over the whole step cancels to noise (negative
  // variances) from ||A|| dt of about 20 in float; the doubling must keep every variance to a
  // relative accuracy near the precision of T.
  Eigen::Matrix3d V;
  V << 1, 0.3, -0.2, 0.1, 1, 0.4, -0.3, 0.2, 1;
  const Eigen::Matrix3d Vinv = V.inverse();
  Eigen::Matrix3d Qm;
  Qm << 0.3, 0.1, -0.05, 0.1, 0.5, 0.1, -0.05, 0.1, 0.8;
  const Eigen::Matrix3d Qc = V * Qm * V.transpose();
  const Eigen::Vector3d modes[] = {Eigen::Vector3d(-0.5, -3.0, -20.0),   // stable
                                   Eigen::Vector3d(-0.5, -3.0, 0.1)};    // one unstable mode
  // The last step is the largest finite T: ||A|| dt overflows, the number of doublings comes
  // from the exponents of ||A|| and dt, and a stable model reaches its stationary covariance.
  const double dts[] = {0.01, 0.3, 2.0, 5.0, 20.0, 50.0, 500.0,
                        double(std::numeric_limits<T>::max())};
  for (const Eigen::Vector3d& lambda : modes) {
    const Eigen::Matrix3d A = V * lambda.asDiagonal() * Vinv;
    for (const double dt : dts) {
      if (lambda.maxCoeff() > 0 && dt > 20.0) continue;  // exp(0.2 dt) would overflow float
      CAPTURE(dt);
      CAPTURE(lambda(2));
      Eigen::Matrix3d M;
      for (int i = 0; i < 3; ++i)
        for (int j = 0; j < 3; ++j) {
          const double l = lambda(i) + lambda(j);
          M(i, j) = Qm(i, j) * std::expm1(l * dt) / l;
        }
      const Eigen::Matrix3d expected = V * M * V.transpose();
      const Eigen::Matrix<T, 3, 3> Qd = discretise_process_noise<T, 3>(
          A.cast<T>(), Qc.cast<T>(), T(dt));
      REQUIRE(all_finite(Qd));
      CHECK(Qd == Qd.transpose());
      const double scale = 1e3 * std::numeric_limits<T>::epsilon();
      for (int i = 0; i < 3; ++i) {
        CAPTURE(i);
        CHECK(double(Qd(i, i)) > 0.0);
        CHECK(std::abs(double(Qd(i, i)) - expected(i, i)) <= scale * expected(i, i));
        for (int j = 0; j < i; ++j)  // off-diagonal terms relative to their variances
          CHECK(std::abs(double(Qd(i, j)) - expected(i, j)) <=
                scale * std::sqrt(expected(i, i) * expected(j, j)));
      }
    }
  }
}

TEST_CASE("Van Loan for an oscillator agrees with Simpson integration of the closed form") {
  // dx/dt = [[0, -w], [w, 0]] x + noise, exp(A s) a rotation by w s.
  const double w = 1.3, dt = 2.0;
  Eigen::Matrix2d A;
  A << 0, -w, w, 0;
  Eigen::Matrix2d Qc;
  Qc << 0.5, 0.1, 0.1, 0.2;
  auto integrand = [&](double s) {
    Eigen::Matrix2d R;
    R << std::cos(w * s), -std::sin(w * s), std::sin(w * s), std::cos(w * s);
    return Eigen::Matrix2d(R * Qc * R.transpose());
  };
  const int n = 2000;  // even
  const double h = dt / n;
  Eigen::Matrix2d sum = integrand(0) + integrand(dt);
  for (int i = 1; i < n; ++i) sum += (i % 2 ? 4.0 : 2.0) * integrand(i * h);
  const Eigen::Matrix2d expected = sum * h / 3;
  CHECK(rel_diff(discretise_process_noise(A, Qc, dt), expected) < 1e-11);
}

TEST_CASE_TEMPLATE("ContinuousProcess is a discretisable process and matches the closed forms", T,
                   float, double) {
  using CV = ContinuousProcess<T, 2, 0, 1>;
  static_assert(is_discretisable_process_v<CV>, "");
  static_assert(is_discretisable_process_v<ContinuousProcess<T, 2, 1, 1>>, "");
  static_assert(is_discretisable_process_v<RandomWalk<T>>, "");
  static_assert(is_discretisable_process_v<ConstantVelocity<T>>, "");
  static_assert(is_discretisable_process_v<FirstOrderLag<T>>, "");
  static_assert(is_discretisable_process_v<Tank<T>>, "");
  static_assert(!is_discretisable_process_v<LinearStateSpace<T, 1, 0, 1>>, "");
  static_assert(!is_discretisable_process_v<int>, "");

  typename CV::System sys;
  sys.A << T(0), T(1), T(0), T(0);
  sys.C << T(1), T(0);
  typename CV::NoiseDensity Qc = CV::NoiseDensity::Zero();
  Qc(1, 1) = T(0.4);
  const CV cv(sys, Qc);
  const ConstantVelocity<T> closed(T(0.4));
  for (const double dt : {0.0, 0.02, 1.5}) {
    const auto m = cv.model(T(dt));
    const auto mc = closed.model(T(dt));
    CHECK(rel_diff(m.A, mc.A) < tol<T>());
    CHECK(m.C == mc.C);
    CHECK(rel_diff(cv.process_noise(T(dt)), closed.process_noise(T(dt))) < 10 * tol<T>());
  }
}

TEST_CASE_TEMPLATE("discretisation does not touch the heap", T, float, double) {
  ContinuousProcess<T, 3, 2, 2> p;
  p.system.A << T(-1), T(0.5), T(0), T(0), T(-2), T(1), T(0.3), T(0), T(-0.5);
  p.system.B << T(1), T(0), T(0), T(1), T(0.5), T(0.5);
  p.system.C << T(1), T(0), T(0), T(0), T(0), T(1);
  p.noise_density = Eigen::Matrix<T, 3, 3>::Identity() * T(0.1);
  T acc = T(0);
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int k = 1; k <= 200; ++k) {
      const T dt = T(0.01) * T(k);
      const auto m = p.model(dt);
      const auto Q = p.process_noise(dt);
      acc += m.A(0, 0) + m.B(2, 1) + Q(1, 2);
    }
  }
  CHECK(heap.count() == 0);
  CHECK(is_finite(acc));
}
