// Linear Kalman filter: convergence to the Riccati solution, NIS consistency, partial and bad
// measurements, no heap, long-run covariance health.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <physguard/core.hpp>
#include <physguard/estimate/kalman_filter.hpp>

#include <Eigen/Cholesky>

#include "support/heap_counter.hpp"
#include "support/sanitizer.hpp"
#include "support/simulate.hpp"

using namespace physguard;

namespace {

// Constant-velocity model with position measurement, sample period dt.
template <typename T>
LinearStateSpace<T, 2, 0, 1> cv_model(T dt) {
  LinearStateSpace<T, 2, 0, 1> m;
  m.A << 1, dt, 0, 1;
  m.C << 1, 0;
  m.dt_s = dt;
  return m;
}

// Discrete white-noise-acceleration process noise with spectral density q.
template <typename T>
Eigen::Matrix<T, 2, 2> cv_noise(T dt, T q) {
  Eigen::Matrix<T, 2, 2> Q;
  Q << dt * dt * dt / 3, dt * dt / 2, dt * dt / 2, dt;
  return q * Q;
}

}  // namespace

TEST_CASE("scalar random walk: gain converges to the closed-form Riccati solution") {
  const double q = 0.04, r = 0.25;
  using KF = KalmanFilter<double, 1, 1>;
  KF::Model m;
  m.A << 1;
  m.C << 1;
  KF kf(m, KF::StateMatrix::Constant(q), KF::MeasurementCovariance::Constant(r),
        KF::StateVector::Zero(), KF::StateMatrix::Constant(10.0));
  for (int k = 0; k < 200; ++k) {
    kf.predict();
    kf.update(KF::MeasurementVector::Constant(0.1 * k));
  }
  kf.predict();
  // Steady-state prior variance solves M = M - M^2/(M + r) + q  =>  M^2 - q M - q r = 0.
  const double M = 0.5 * (q + std::sqrt(q * q + 4 * q * r));
  CHECK(kf.covariance()(0, 0) == doctest::Approx(M).epsilon(1e-12));
  // Posterior after the next update: M r / (M + r), gain M / (M + r).
  const auto rec = kf.update(KF::MeasurementVector::Constant(kf.state()(0)));
  CHECK(rec.S(0, 0) == doctest::Approx(M + r).epsilon(1e-12));
  CHECK(kf.covariance()(0, 0) == doctest::Approx(M * r / (M + r)).epsilon(1e-12));
}

TEST_CASE("NIS of a correctly specified model lies in its 99% chi-square interval") {
  const double dt = 0.1, q = 0.5, r = 0.04;
  const int steps = 10000;
  auto run = [&](double r_filter) {
    using KF = KalmanFilter<double, 2, 1>;
    const auto m = cv_model(dt);
    const auto Q = cv_noise(dt, q);
    KF::Options opt;
    opt.reject_outside_gate = false;
    KF kf(m, Q, KF::MeasurementCovariance::Constant(r_filter), KF::StateVector::Zero(),
          KF::StateMatrix::Identity() * 100.0, opt);
    physguard_test::GaussianSource<double, 2> w(Q, 1);
    physguard_test::GaussianSource<double, 1> v(Eigen::Matrix<double, 1, 1>::Constant(r), 2);
    Eigen::Vector2d x(0, 1);
    double sum = 0;
    for (int k = 0; k < steps; ++k) {
      x = m.A * x + w();
      kf.predict();
      const auto rec = kf.update(m.C * x + v());
      REQUIRE(rec.accepted);
      sum += rec.nis;
    }
    return sum;  // sum of NIS ~ chi2(steps) under the correct model
  };
  const double lo = stats::chi_square_quantile(0.005, steps);
  const double hi = stats::chi_square_quantile(0.995, steps);
  const double correct = run(r);
  CHECK(correct > lo);
  CHECK(correct < hi);
  // Measurement noise under-stated by a factor of four: innovations too large for S.
  const double wrong = run(r / 4);
  CHECK(wrong > hi);
}

TEST_CASE("a NaN or infinite measurement is refused and leaves the state untouched") {
  using KF = KalmanFilter<float, 2, 1>;
  KF kf(cv_model(0.1f), cv_noise(0.1f, 0.1f), KF::MeasurementCovariance::Constant(0.01f),
        KF::StateVector(1.0f, 2.0f), KF::StateMatrix::Identity());
  kf.predict();
  const auto x = kf.state();
  const auto P = kf.covariance();
  for (float bad : {std::numeric_limits<float>::quiet_NaN(), std::numeric_limits<float>::infinity(),
                    -std::numeric_limits<float>::infinity()}) {
    const auto rec = kf.update(KF::MeasurementVector::Constant(bad));
    CHECK(rec.status == Status::not_finite);
    CHECK_FALSE(rec.accepted);
    CHECK(kf.state() == x);
    CHECK(kf.covariance() == P);
  }
  // A non-finite input to predict is refused too.
  KalmanFilter<float, 1, 1, 1>::Model m1;
  m1.A << 1;
  m1.B << 1;
  m1.C << 1;
  KalmanFilter<float, 1, 1, 1> kf1(m1, Eigen::Matrix<float, 1, 1>::Constant(0.1f),
                                   Eigen::Matrix<float, 1, 1>::Constant(0.1f),
                                   Eigen::Matrix<float, 1, 1>::Zero(),
                                   Eigen::Matrix<float, 1, 1>::Identity());
  CHECK(kf1.predict(Eigen::Matrix<float, 1, 1>::Constant(std::nanf(""))) == Status::not_finite);
  CHECK(kf1.state()(0) == 0.0f);
  CHECK(kf1.covariance()(0, 0) == 1.0f);
}

TEST_CASE("a measurement outside the gate is reported and not fused") {
  using KF = KalmanFilter<double, 1, 1>;
  KF::Model m;
  m.A << 1;
  m.C << 1;
  KF kf(m, KF::StateMatrix::Constant(1e-4), KF::MeasurementCovariance::Constant(1e-2),
        KF::StateVector::Zero(), KF::StateMatrix::Constant(1e-2));
  kf.predict();
  const auto x = kf.state();
  const auto rec = kf.update(KF::MeasurementVector::Constant(10.0));  // ~70 sigma
  CHECK(rec.status == Status::rejected_by_gate);
  CHECK_FALSE(rec.accepted);
  CHECK(rec.test_ratio > 1.0);
  CHECK(rec.nis == doctest::Approx(100.0 / rec.S(0, 0)));
  CHECK(rec.gate == doctest::Approx(stats::chi_square_quantile(1 - 1e-6, 1)));
  CHECK(kf.state() == x);
}

TEST_CASE("partial measurement equals the filter built for the present component only") {
  // Two sensors of one level; sensor 2 missing on odd steps.
  using KF2 = KalmanFilter<double, 1, 2>;
  using KF1 = KalmanFilter<double, 1, 1>;
  KF2::Model m2;
  m2.A << 1;
  m2.C << 1, 1;
  KF1::Model m1;
  m1.A << 1;
  m1.C << 1;
  KF2::MeasurementCovariance R2;
  R2 << 0.04, 0.01, 0.01, 0.09;
  KF2 both(m2, KF2::StateMatrix::Constant(0.01), R2, KF2::StateVector::Zero(),
           KF2::StateMatrix::Constant(1.0));
  KF1 only1(m1, KF1::StateMatrix::Constant(0.01), KF1::MeasurementCovariance::Constant(0.04),
            KF1::StateVector::Zero(), KF1::StateMatrix::Constant(1.0));
  both.predict();
  only1.predict();
  const auto rec2 = both.update(KF2::MeasurementVector(0.3, 12345.0), 0b01u);
  const auto rec1 = only1.update(KF1::MeasurementVector::Constant(0.3));
  CHECK(rec2.dof == 1);
  CHECK(rec2.y(1) == 0.0);
  CHECK(rec2.nis == doctest::Approx(rec1.nis).epsilon(1e-14));
  CHECK(both.state()(0) == doctest::Approx(only1.state()(0)).epsilon(1e-14));
  CHECK(both.covariance()(0, 0) == doctest::Approx(only1.covariance()(0, 0)).epsilon(1e-14));
  // A NaN in a missing component does not matter; nothing present means nothing done.
  const auto rec_nan = both.update(KF2::MeasurementVector(0.3, std::nan("")), 0b01u);
  CHECK(rec_nan.status == Status::ok);
  const auto rec_none = both.update(KF2::MeasurementVector(0.3, 0.3), 0u);
  CHECK(rec_none.status == Status::missing);
  CHECK_FALSE(rec_none.accepted);
}

namespace {

// The textbook filter, written independently of physguard's code paths: double, dynamic sizes,
// the missing components removed from H, R and y, S solved by Eigen's LLT, and the Joseph form
// (I - K H) P (I - K H)' + K R K' multiplied out as written.
struct TextbookKalman {
  Eigen::MatrixXd A, H, Q, R, P;
  Eigen::VectorXd x;

  void predict() {
    x = A * x;
    P = A * P * A.transpose() + Q;
    P = (0.5 * (P + P.transpose())).eval();
  }
  // Returns the NIS of the present components.
  double update(const Eigen::VectorXd& z, unsigned mask) {
    std::vector<int> rows;
    for (int i = 0; i < int(z.size()); ++i)
      if ((mask >> i) & 1u) rows.push_back(i);
    const int m = int(rows.size());
    Eigen::MatrixXd Hp(m, H.cols()), Rp(m, m);
    Eigen::VectorXd yp(m);
    for (int a = 0; a < m; ++a) {
      Hp.row(a) = H.row(rows[std::size_t(a)]);
      yp(a) = z(rows[std::size_t(a)]) - H.row(rows[std::size_t(a)]).dot(x);
      for (int b = 0; b < m; ++b) Rp(a, b) = R(rows[std::size_t(a)], rows[std::size_t(b)]);
    }
    const Eigen::MatrixXd S = Hp * P * Hp.transpose() + Rp;
    const Eigen::LLT<Eigen::MatrixXd> llt(S);
    const Eigen::MatrixXd K = llt.solve(Hp * P).transpose();  // S symmetric: (S^-1 H P)' = P H' S^-1
    const Eigen::MatrixXd I_KH = Eigen::MatrixXd::Identity(P.rows(), P.cols()) - K * Hp;
    x = x + K * yp;
    P = I_KH * P * I_KH.transpose() + K * Rp * K.transpose();
    P = (0.5 * (P + P.transpose())).eval();
    return yp.dot(llt.solve(yp));
  }
};

// A random symmetric positive definite matrix with eigenvalues spread over about two decades.
Eigen::MatrixXd random_spd(int n, double scale, std::mt19937_64& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  Eigen::MatrixXd M(n, n);
  for (int i = 0; i < n; ++i)
    for (int j = 0; j < n; ++j) M(i, j) = u(rng);
  return scale * (M * M.transpose() + 0.05 * n * Eigen::MatrixXd::Identity(n, n));
}

double max_abs(const Eigen::MatrixXd& m) { return m.cwiseAbs().maxCoeff(); }

// Coefficient by coefficient (an Eigen assignment of a 1x1 fixed matrix to a dynamic one trips a
// false -Warray-bounds of GCC 12 through its packet path).
template <typename Derived>
Eigen::MatrixXd as_double(const Eigen::MatrixBase<Derived>& m) {
  Eigen::MatrixXd out(m.rows(), m.cols());
  for (int i = 0; i < int(m.rows()); ++i)
    for (int j = 0; j < int(m.cols()); ++j) out(i, j) = static_cast<double>(m(i, j));
  return out;
}

// Runs physguard's filter and the textbook one side by side on a random model for 300 steps with
// full and partial measurements; the state, covariance and NIS must agree to `tol` (relative to
// the largest entry).  Exercises the general update (Nx >= 3: screened conditioning; Nx >= 4:
// the grouped Joseph form on the upper blocks, products by columns) against straightforward code.
template <typename T, int Nx, int Nz>
void check_against_textbook(std::uint64_t seed, double tol) {
  using KF = KalmanFilter<T, Nx, Nz>;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  TextbookKalman ref;
  // Stable (every Gershgorin disc inside |z| <= 0.98), so P settles instead of growing.
  ref.A = 0.9 * Eigen::MatrixXd::Identity(Nx, Nx);
  for (int i = 0; i < Nx; ++i)
    for (int j = 0; j < Nx; ++j) ref.A(i, j) += 0.08 / Nx * u(rng);
  ref.H.resize(Nz, Nx);
  for (int i = 0; i < Nz; ++i)
    for (int j = 0; j < Nx; ++j) ref.H(i, j) = u(rng);
  ref.Q = random_spd(Nx, 1e-3, rng);
  ref.R = random_spd(Nz, 1e-2, rng);
  ref.P = random_spd(Nx, 1.0, rng);
  ref.x = Eigen::VectorXd::Zero(Nx);
  // What the filter gets is the model rounded to T; the reference runs on exactly those numbers.
  typename KF::Model model;
  model.A = ref.A.cast<T>();
  model.C = ref.H.cast<T>();
  const typename KF::StateMatrix Q = ref.Q.cast<T>();
  const typename KF::MeasurementCovariance R = ref.R.cast<T>();
  const typename KF::StateMatrix P0 = ref.P.cast<T>();
  ref.A = as_double(model.A);
  ref.H = as_double(model.C);
  ref.Q = as_double(Q);
  ref.R = as_double(R);
  ref.P = as_double(P0);
  typename KF::Options options;
  options.reject_outside_gate = false;
  KF kf(model, Q, R, KF::StateVector::Zero(), P0, options);
  const unsigned all = (1u << Nz) - 1u;
  int partial = 0;
  for (int k = 0; k < 300; ++k) {
    REQUIRE(kf.predict() == Status::ok);
    ref.predict();
    CAPTURE(k);
    REQUIRE(max_abs(as_double(kf.covariance()) - ref.P) <= tol * max_abs(ref.P));
    // Every third step a pseudo-random non-empty subset of the components.
    unsigned mask = all;
    if (k % 3 == 1) mask = 1u + static_cast<unsigned>(rng() % all);
    partial += mask != all;
    Eigen::VectorXd z = ref.H * ref.x;
    for (int i = 0; i < Nz; ++i) z(i) += 0.3 * u(rng);
    const typename KF::MeasurementVector zt = z.cast<T>();
    const auto rec = kf.update(zt, mask);
    const double nis = ref.update(as_double(zt), mask);
    REQUIRE(rec.status == Status::ok);
    REQUIRE(rec.accepted);
    CHECK(double(rec.nis) == doctest::Approx(nis).epsilon(tol * 10));
    REQUIRE(max_abs(as_double(kf.covariance()) - ref.P) <= tol * max_abs(ref.P));
    REQUIRE(max_abs(as_double(kf.state()) - ref.x) <= tol * (1.0 + max_abs(ref.x)));
    for (int i = 0; i < Nx; ++i)  // each variance on its own scale, not only beside the largest
      REQUIRE(std::abs(double(kf.covariance()(i, i)) - ref.P(i, i)) <= 10 * tol * ref.P(i, i));
    // Exactly symmetric, as every P the filter hands out.
    REQUIRE(kf.covariance() == kf.covariance().transpose());
  }
  CHECK(partial >= (Nz > 1 ? 50 : 0));
  CHECK(physguard_test::is_spd(kf.covariance(), 0.0));
}

}  // namespace

namespace {

// A precise sensor (R much smaller than H P H'), float: the case the Joseph form exists for.
// W = P - K H P loses most of its digits in the measured directions, and the Joseph form
// (I - K H) P (I - K H)' + K R K' multiplies that round-off by (I - K H)', so the updated
// variance H P+ H' (about R) keeps its accuracy.  Evaluations that are the same on paper but
// pass W's round-off on (the short form P - K H P, or a grouping that takes W H' from P instead
// of from the computed W, or a triangle of the product mirrored) are several times less
// accurate.  The yardstick is the textbook Joseph form evaluated in float with dynamic Eigen
// matrices and an LLT solve; the truth is the same in long double.
template <int Nx>
void check_precise_sensor(double r, std::uint64_t seed) {
  using KF = KalmanFilter<float, Nx, 2>;
  using LD = long double;
  using MLD = Eigen::Matrix<LD, Eigen::Dynamic, Eigen::Dynamic>;
  using MF = Eigen::MatrixXf;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> ours, textbook;
  int not_spd = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const typename KF::StateMatrix P0 = random_spd(Nx, 1.0, rng).cast<float>();
    typename KF::Model model;
    model.A.setIdentity();
    for (int i = 0; i < 2; ++i)
      for (int j = 0; j < Nx; ++j) model.C(i, j) = float(u(rng));
    const typename KF::MeasurementCovariance R =
        KF::MeasurementCovariance::Identity() * float(r);
    typename KF::Options options;
    options.reject_outside_gate = false;
    options.variance_floor = 0.0f;
    KF kf(model, KF::StateMatrix::Zero(), R, KF::StateVector::Zero(), P0, options);
    REQUIRE(kf.covariance() == P0);  // a valid covariance passes conditioning untouched
    REQUIRE(kf.update(KF::MeasurementVector::Zero()).accepted);
    // Textbook Joseph form in float.
    const MF P = P0, H = model.C, Rf = R;
    const MF S = H * P * H.transpose() + Rf;
    const MF K = Eigen::LLT<MF>(S).solve(H * P).transpose();
    const MF IKH = MF::Identity(Nx, Nx) - K * H;
    const MF Pt = IKH * P * IKH.transpose() + K * Rf * K.transpose();
    // The truth in long double, from the same float inputs.
    const MLD Pl = P.cast<LD>(), Hl = H.cast<LD>(), Rl = Rf.cast<LD>();
    const MLD Sl = Hl * Pl * Hl.transpose() + Rl;
    const MLD Kl = Eigen::LLT<MLD>(Sl).solve(Hl * Pl).transpose();
    const MLD IKHl = MLD::Identity(Nx, Nx) - Kl * Hl;
    const MLD truth = Hl * (IKHl * Pl * IKHl.transpose() + Kl * Rl * Kl.transpose()) * Hl.transpose();
    auto error = [&](const MF& Pu) {
      return double((Hl * Pu.cast<LD>() * Hl.transpose() - truth).cwiseAbs().maxCoeff() /
                    truth.cwiseAbs().maxCoeff());
    };
    ours.push_back(error(kf.covariance()));
    textbook.push_back(error(Pt));
    not_spd += !physguard_test::is_spd(kf.covariance(), 0.0);
  }
  std::sort(ours.begin(), ours.end());
  std::sort(textbook.begin(), textbook.end());
  const double median_ours = ours[ours.size() / 2], median_textbook = textbook[textbook.size() / 2];
  CAPTURE(Nx);
  CAPTURE(r);
  CAPTURE(median_ours);
  CAPTURE(median_textbook);
  CHECK(median_ours <= 1.5 * median_textbook);
  CHECK(median_textbook > 1e-5);  // the case is hard enough to tell the evaluations apart
  CHECK(not_spd == 0);
}

}  // namespace

TEST_CASE("precise sensor: the Joseph update keeps the updated variance as accurate as the textbook") {
  check_precise_sensor<4>(1e-4, 31);
  check_precise_sensor<4>(1e-5, 32);
  check_precise_sensor<8>(1e-4, 33);
  check_precise_sensor<8>(1e-5, 34);
  check_precise_sensor<3>(1e-5, 35);
}

TEST_CASE("the filter equals a textbook Joseph-form filter for 3 to 8 states, partial measurements") {
  SUBCASE("double") {
    check_against_textbook<double, 3, 2>(1, 1e-10);
    check_against_textbook<double, 4, 1>(2, 1e-10);
    check_against_textbook<double, 4, 2>(3, 1e-10);
    check_against_textbook<double, 5, 3>(4, 1e-10);
    check_against_textbook<double, 6, 2>(5, 1e-10);
    check_against_textbook<double, 7, 4>(6, 1e-10);
    check_against_textbook<double, 8, 4>(7, 1e-10);
    check_against_textbook<double, 8, 1>(8, 1e-10);
  }
  SUBCASE("float, against the double textbook filter") {
    check_against_textbook<float, 4, 2>(9, 2e-3);
    check_against_textbook<float, 5, 3>(10, 2e-3);
    check_against_textbook<float, 8, 4>(11, 2e-3);
  }
}

TEST_CASE("predict and update never touch the heap") {
  using KF = KalmanFilter<float, 4, 2, 1>;
  KF::Model m;
  m.A.setIdentity();
  m.A(0, 1) = 0.1f;
  m.B.setConstant(0.1f);
  m.C.setZero();
  m.C(0, 0) = 1;
  m.C(1, 2) = 1;
  KF kf(m, KF::StateMatrix::Identity() * 0.01f, KF::MeasurementCovariance::Identity() * 0.1f,
        KF::StateVector::Zero(), KF::StateMatrix::Identity());
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int k = 0; k < 100; ++k) {
      kf.predict(KF::InputVector::Constant(1.0f));
      kf.update(KF::MeasurementVector(0.1f * k, 0.2f), k % 3 ? 0b11u : 0b10u);
    }
  }
  CHECK(heap.count() == 0);
}

TEST_CASE("covariance stays symmetric positive definite over 10^6 float steps") {
#if defined(PHYSGUARD_TEST_ASAN)
  const int steps = 100000;  // the instrumented -O0 pass checks memory and UB, not the long run
#else
  const int steps = 1000000;
#endif
  using KF = KalmanFilter<float, 2, 1>;
  const float dt = 0.01f;
  KF kf(cv_model(dt), cv_noise(dt, 1e-3f), KF::MeasurementCovariance::Constant(1e-4f),
        KF::StateVector::Zero(), KF::StateMatrix::Identity() * 1e3f);
  physguard_test::GaussianSource<float, 1> v(Eigen::Matrix<float, 1, 1>::Constant(1e-4f), 7);
  // Every step: exactly symmetric, positive diagonal and determinant (2x2: that is SPD); and the
  // filter keeps working (almost every measurement accepted, none refused).
  bool healthy = true;
  long accepted = 0, refused = 0;
  int first_bad = -1;
  for (int k = 0; k < steps && healthy; ++k) {
    if (kf.predict() != Status::ok) ++refused;
    const auto rec =
        kf.update(KF::MeasurementVector::Constant(std::sin(0.001f * static_cast<float>(k))) + v());
    accepted += rec.accepted;
    refused += rec.status != Status::ok && rec.status != Status::rejected_by_gate;
    const auto& P = kf.covariance();
    healthy = P(0, 1) == P(1, 0) && P(0, 0) > 0.0f && P(1, 1) > 0.0f &&
              double(P(0, 0)) * double(P(1, 1)) - double(P(0, 1)) * double(P(1, 0)) > 0.0;
    if (!healthy) first_bad = k;
  }
  CAPTURE(first_bad);
  CHECK(healthy);
  CHECK(refused == 0);
  CHECK(accepted > steps - steps / 1000);
  CHECK(physguard_test::is_spd(kf.covariance(), 0.0));
  CHECK(all_finite(kf.state()));
}

TEST_CASE("a precomputed gate table gives a filter bit-identical to gate_probability") {
  // Two measurements, so both the 1- and 2-dof gates are used (masks); p = 0.99 so that some
  // measurements fall outside the gate.
  using KF = KalmanFilter<float, 2, 2>;
  const double p = 0.99;
  auto m = cv_model(0.1f);
  KF::Model model;
  model.A = m.A;
  model.C.setIdentity();
  KF::MeasurementCovariance R;
  R << 0.04f, 0.0f, 0.0f, 0.25f;
  KF::Options opt;
  opt.gate_probability = p;
  const auto table = NisGateTable<float, 2>::for_probability(p);
  CHECK(table.valid());
  KF by_probability(model, cv_noise(0.1f, 0.5f), R, KF::StateVector::Zero(),
                    KF::StateMatrix::Identity(), opt);
  KF by_table(model, cv_noise(0.1f, 0.5f), R, KF::StateVector::Zero(), KF::StateMatrix::Identity(),
              table);  // default options: gate_probability 1 - 1e-6 must not matter
  for (int dof = 1; dof <= 2; ++dof) {
    CHECK(by_table.gate(dof) == static_cast<float>(stats::chi_square_quantile(p, dof)));
    CHECK(by_table.gate(dof) == by_probability.gate(dof));
  }
  physguard_test::GaussianSource<float, 2> v(R * 4.0f, 11);  // too much noise: gate hits
  int gated = 0;
  for (int k = 0; k < 2000; ++k) {
    REQUIRE(by_probability.predict() == by_table.predict());
    const KF::MeasurementVector z = KF::MeasurementVector(std::sin(0.01f * k), 0.0f) + v();
    const MeasurementMask mask = k % 3 == 0 ? 0b01u : (k % 3 == 1 ? 0b10u : 0b11u);
    const auto a = by_probability.update(z, mask);
    const auto b = by_table.update(z, mask);
    REQUIRE(a.status == b.status);
    REQUIRE(a.accepted == b.accepted);
    REQUIRE(a.dof == b.dof);
    REQUIRE(std::memcmp(&a.nis, &b.nis, sizeof a.nis) == 0);
    REQUIRE(std::memcmp(&a.gate, &b.gate, sizeof a.gate) == 0);
    REQUIRE(std::memcmp(&a.test_ratio, &b.test_ratio, sizeof a.test_ratio) == 0);
    REQUIRE(std::memcmp(by_probability.state().data(), by_table.state().data(),
                        sizeof(float) * 2) == 0);
    REQUIRE(std::memcmp(by_probability.covariance().data(), by_table.covariance().data(),
                        sizeof(float) * 4) == 0);
    if (a.status == Status::rejected_by_gate) ++gated;
  }
  CHECK(gated > 10);  // the gates were exercised
  // A table for another probability is a different filter (the comparison above can fail).
  const auto other = NisGateTable<float, 2>::for_probability(0.999);
  CHECK(other.gate[0] > table.gate[0]);
  // A table with a missing inverse is not valid (the constructor asserts on it).
  NisGateTable<float, 2> broken = table;
  broken.inverse_gate[1] = 0.0f;
  CHECK_FALSE(broken.valid());
}
