// TimedKalmanFilter: variable time steps from integer timestamps, time going back or repeating,
// gaps, non-finite input, no heap.  The processes are defined here, independently of signal/.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <type_traits>

#include <physguard/core.hpp>
#include <physguard/estimate/kalman_filter.hpp>
#include <physguard/estimate/timed_filter.hpp>

#include "support/heap_counter.hpp"
#include "support/simulate.hpp"

using namespace physguard;

namespace {

// Constant velocity driven by white acceleration noise of spectral density q (m^2/s^3); position
// measured.  Exact discretisation for any dt.
template <typename T>
struct TestConstantVelocity {
  using Scalar = T;
  static constexpr int state_dim = 2;
  static constexpr int input_dim = 0;
  static constexpr int output_dim = 1;
  T q = T(0.5);

  LinearStateSpace<T, 2, 0, 1> model(T dt_s) const {
    LinearStateSpace<T, 2, 0, 1> m;
    m.A << 1, dt_s, 0, 1;
    m.C << 1, 0;
    m.dt_s = dt_s;
    return m;
  }
  Eigen::Matrix<T, 2, 2> process_noise(T dt_s) const {
    Eigen::Matrix<T, 2, 2> Q;
    Q << dt_s * dt_s * dt_s / 3, dt_s * dt_s / 2, dt_s * dt_s / 2, dt_s;
    return q * Q;
  }
};

// First-order lag tau dx/dt = gain u - x + noise, zero-order-hold input; exact discretisation.
template <typename T>
struct TestLag {
  using Scalar = T;
  static constexpr int state_dim = 1;
  static constexpr int input_dim = 1;
  static constexpr int output_dim = 1;
  T gain = T(2);
  T time_constant_s = T(3);
  T q = T(0.01);  // variance growth rate of the driving noise (units^2/s)

  LinearStateSpace<T, 1, 1, 1> model(T dt_s) const {
    LinearStateSpace<T, 1, 1, 1> m;
    const T a = std::exp(-dt_s / time_constant_s);
    m.A << a;
    m.B << gain * (1 - a);
    m.C << 1;
    m.dt_s = dt_s;
    return m;
  }
  Eigen::Matrix<T, 1, 1> process_noise(T dt_s) const {
    return Eigen::Matrix<T, 1, 1>::Constant(q * time_constant_s / 2 *
                                            (1 - std::exp(-2 * dt_s / time_constant_s)));
  }
};

template <typename T>
T nan() {
  return std::numeric_limits<T>::quiet_NaN();
}

}  // namespace

TEST_CASE_TEMPLATE("constant dt: the timed filter equals the fixed-step filter exactly", T, float,
                   double) {
  using Proc = TestConstantVelocity<T>;
  using TF = TimedKalmanFilter<Proc>;
  using KF = KalmanFilter<T, 2, 1>;
  const Proc proc;
  const std::int64_t dt_us = 100000;
  CHECK(TF::to_seconds(Duration{dt_us}) == T(0.1));
  const Eigen::Matrix<T, 1, 1> R = Eigen::Matrix<T, 1, 1>::Constant(T(0.04));
  const Eigen::Matrix<T, 2, 1> x0(T(0), T(1));
  const Eigen::Matrix<T, 2, 2> P0 = Eigen::Matrix<T, 2, 2>::Identity() * T(10);
  const Timestamp t0 = Timestamp::from_seconds(1000.0);
  TF tf(proc, R, t0, x0, P0);
  KF kf(proc.model(T(0.1)), proc.process_noise(T(0.1)), R, x0, P0);
  physguard_test::GaussianSource<T, 1> v(R, 3);
  bool identical = true;
  int accepted = 0;
  for (int k = 1; k <= 2000; ++k) {
    const Eigen::Matrix<T, 1, 1> z =
        Eigen::Matrix<T, 1, 1>::Constant(T(0.5) * T(std::sin(0.01 * k))) + v();
    const auto rec = tf.step(t0 + Duration{dt_us * k}, z);
    kf.predict();
    const auto ref = kf.update(z);
    identical = identical && tf.state() == kf.state() && tf.covariance() == kf.covariance() &&
                rec.nis == ref.nis && rec.status == ref.status && rec.y == ref.y;
    accepted += rec.accepted;
    REQUIRE(rec.time == t0 + Duration{dt_us * k});
  }
  CHECK(identical);
  CHECK(accepted > 1990);

  // A lag with an input: the input held over each interval enters exactly like predict(u).
  using TL = TimedKalmanFilter<TestLag<T>>;
  using KL = KalmanFilter<T, 1, 1, 1>;
  const TestLag<T> lag;
  TL tl(lag, R, t0, Eigen::Matrix<T, 1, 1>::Zero(), Eigen::Matrix<T, 1, 1>::Constant(T(1)));
  KL kl(lag.model(T(0.1)), lag.process_noise(T(0.1)), R, Eigen::Matrix<T, 1, 1>::Zero(),
        Eigen::Matrix<T, 1, 1>::Constant(T(1)));
  identical = true;
  for (int k = 1; k <= 500; ++k) {
    const Eigen::Matrix<T, 1, 1> u = Eigen::Matrix<T, 1, 1>::Constant(k % 100 < 50 ? T(1) : T(0));
    const Eigen::Matrix<T, 1, 1> z = Eigen::Matrix<T, 1, 1>::Constant(T(0.01) * T(k % 100));
    tl.step(t0 + Duration{dt_us * k}, z, u);
    kl.predict(u);
    kl.update(z);
    identical = identical && tl.state() == kl.state() && tl.covariance() == kl.covariance();
  }
  CHECK(identical);
}

TEST_CASE_TEMPLATE("variable dt: a predict-only half step plus a half step equals one step", T,
                   float, double) {
  // Exact discretisations form a semigroup: A(h)^2 = A(2h), A(h) Q(h) A(h)' + Q(h) = Q(2h).
  using TF = TimedKalmanFilter<TestConstantVelocity<T>>;
  const Eigen::Matrix<T, 1, 1> R = Eigen::Matrix<T, 1, 1>::Constant(T(0.04));
  const Timestamp t0 = Timestamp::from_ms(5);
  TF one({}, R, t0, Eigen::Matrix<T, 2, 1>(T(1), T(2)), Eigen::Matrix<T, 2, 2>::Identity());
  TF two = one;
  const Eigen::Matrix<T, 1, 1> z = Eigen::Matrix<T, 1, 1>::Constant(T(3.5));
  const auto rec_half = two.step(t0 + Duration::from_ms(700), z, MeasurementMask{0});
  CHECK(rec_half.status == Status::missing);
  CHECK(two.last_time() == t0 + Duration::from_ms(700));
  const auto rec2 = two.step(t0 + Duration::from_ms(1400), z);
  const auto rec1 = one.step(t0 + Duration::from_ms(1400), z);
  REQUIRE(rec1.accepted);
  REQUIRE(rec2.accepted);
  const double eps = std::is_same<T, float>::value ? 1e-5 : 1e-13;
  CHECK(static_cast<double>(rec2.S(0, 0)) ==
        doctest::Approx(static_cast<double>(rec1.S(0, 0))).epsilon(eps));
  CHECK(static_cast<double>((two.state() - one.state()).norm()) <= eps * 4);
  CHECK(static_cast<double>((two.covariance() - one.covariance()).norm()) <= eps * 4);
  // And the prediction over 1.4 s really used dt = 1.4 s: S = C (A P A' + Q) C' + R.
  TestConstantVelocity<T> p;
  const auto m = p.model(T(1.4));
  const Eigen::Matrix<T, 2, 2> Pp = m.A * Eigen::Matrix<T, 2, 2>::Identity() * m.A.transpose() +
                                    p.process_noise(T(1.4));
  CHECK(static_cast<double>(rec1.S(0, 0)) ==
        doctest::Approx(static_cast<double>(Pp(0, 0) + R(0, 0))).epsilon(eps));
}

TEST_CASE("irregular sampling: NIS of a correct model in its 99% chi-square interval") {
  using Proc = TestConstantVelocity<double>;
  using TF = TimedKalmanFilter<Proc>;
  const int steps = 10000;
  const double r = 0.04;
  auto run = [&](double q_filter) {
    Proc truth_proc;
    Proc filter_proc;
    filter_proc.q = q_filter;
    TF::Options opt;
    opt.reject_outside_gate = false;
    const Eigen::Matrix2d P0 = Eigen::Matrix2d::Identity();
    TF tf(filter_proc, Eigen::Matrix<double, 1, 1>::Constant(r), Timestamp{0},
          Eigen::Vector2d::Zero(), P0, TimedFilterOptions{}, opt);
    Eigen::Vector2d x = physguard_test::GaussianSource<double, 2>(P0, 9)();
    std::mt19937_64 rng(21);
    std::uniform_int_distribution<std::int64_t> dt_us(1000, 2000000);  // 1 ms .. 2 s
    physguard_test::GaussianSource<double, 1> v(Eigen::Matrix<double, 1, 1>::Constant(r), 22);
    std::normal_distribution<double> n01;
    Timestamp t{0};
    double sum = 0;
    for (int k = 0; k < steps; ++k) {
      const Duration d{dt_us(rng)};
      t = t + d;
      const double dt = static_cast<double>(d.us) * 1e-6;
      const auto m = truth_proc.model(dt);
      const Eigen::Matrix2d L = truth_proc.process_noise(dt).llt().matrixL();
      x = m.A * x + L * Eigen::Vector2d(n01(rng), n01(rng));
      const auto rec = tf.step(t, m.C * x + v());
      REQUIRE(rec.accepted);
      sum += rec.nis;
    }
    return sum;
  };
  const double lo = stats::chi_square_quantile(0.005, steps);
  const double hi = stats::chi_square_quantile(0.995, steps);
  const double correct = run(0.5);
  CHECK(correct > lo);
  CHECK(correct < hi);
  CHECK(run(0.5 / 8) > hi);  // process noise under-stated: caught
}

TEST_CASE_TEMPLATE("time going back or repeating is refused and changes nothing", T, float,
                   double) {
  using TF = TimedKalmanFilter<TestConstantVelocity<T>>;
  const Eigen::Matrix<T, 1, 1> R = Eigen::Matrix<T, 1, 1>::Constant(T(0.04));
  TF tf({}, R, Eigen::Matrix<T, 2, 1>::Zero(), Eigen::Matrix<T, 2, 2>::Identity());
  const Timestamp t1 = Timestamp::from_ms(1000);
  const auto first = tf.step(t1, Eigen::Matrix<T, 1, 1>::Constant(T(0.2)));
  CHECK(first.accepted);
  tf.step(t1 + Duration::from_ms(100), Eigen::Matrix<T, 1, 1>::Constant(T(0.3)));
  const TF reference = tf;
  const auto x = tf.state();
  const auto P = tf.covariance();
  const Timestamp last = tf.last_time();

  const auto back = tf.step(last - Duration{1}, Eigen::Matrix<T, 1, 1>::Constant(T(9)));
  CHECK(back.status == Status::time_backwards);
  CHECK(back.time == last - Duration{1});
  CHECK_FALSE(back.accepted);
  const auto same = tf.step(last, Eigen::Matrix<T, 1, 1>::Constant(T(9)));
  CHECK(same.status == Status::time_repeated);
  CHECK_FALSE(same.accepted);
  CHECK(tf.state() == x);
  CHECK(tf.covariance() == P);
  CHECK(tf.last_time() == last);

  // The next good sample predicts from the last accepted time, as if the bad ones never came.
  TF ref = reference;
  const Timestamp t = last + Duration::from_ms(250);
  const auto a = tf.step(t, Eigen::Matrix<T, 1, 1>::Constant(T(0.35)));
  const auto b = ref.step(t, Eigen::Matrix<T, 1, 1>::Constant(T(0.35)));
  CHECK(a.status == Status::ok);
  CHECK(a.nis == b.nis);
  CHECK(tf.state() == ref.state());
  CHECK(tf.covariance() == ref.covariance());
}

TEST_CASE_TEMPLATE("NaN or infinite measurement or input is refused and changes nothing", T, float,
                   double) {
  using TL = TimedKalmanFilter<TestLag<T>>;
  using V = Eigen::Matrix<T, 1, 1>;
  const Timestamp t0 = Timestamp::from_seconds(10.0);
  TL tl(TestLag<T>{}, V::Constant(T(0.01)), t0, V::Constant(T(1)), V::Constant(T(0.5)));
  tl.step(t0 + Duration::from_ms(100), V::Constant(T(1.1)), V::Constant(T(0.5)));
  const TL reference = tl;
  const auto x = tl.state();
  const auto P = tl.covariance();
  const Timestamp t_bad = t0 + Duration::from_ms(200);
  for (const T bad : {nan<T>(), std::numeric_limits<T>::infinity()}) {
    const auto r1 = tl.step(t_bad, V::Constant(bad), V::Constant(T(0.5)));
    const auto r2 = tl.step(t_bad, V::Constant(T(1)), V::Constant(bad));
    CHECK(r1.status == Status::not_finite);
    CHECK(r2.status == Status::not_finite);
    CHECK_FALSE(r1.accepted);
    CHECK(r1.time == t_bad);
  }
  CHECK(tl.state() == x);
  CHECK(tl.covariance() == P);
  CHECK(tl.last_time() == reference.last_time());
  // A NaN in a masked-out component is irrelevant: predict-only step, time accepted.
  TL masked = tl;
  const auto rm =
      masked.step(t_bad, V::Constant(nan<T>()), MeasurementMask{0}, V::Constant(T(0.5)));
  CHECK(rm.status == Status::missing);
  CHECK(masked.last_time() == t_bad);
  // The next good sample predicts over the whole interval since the last accepted one.
  TL ref = reference;
  const Timestamp t = t0 + Duration::from_ms(300);
  tl.step(t, V::Constant(T(1.2)), V::Constant(T(0.5)));
  ref.step(t, V::Constant(T(1.2)), V::Constant(T(0.5)));
  CHECK(tl.state() == ref.state());
  CHECK(tl.covariance() == ref.covariance());
}

TEST_CASE_TEMPLATE("gaps: inflate through the model, or re-initialise the covariance", T, float,
                   double) {
  using Proc = TestConstantVelocity<T>;
  using TF = TimedKalmanFilter<Proc>;
  using KF = KalmanFilter<T, 2, 1>;
  using V = Eigen::Matrix<T, 1, 1>;
  const V R = V::Constant(T(0.04));
  const Eigen::Matrix<T, 2, 2> P0 = Eigen::Matrix<T, 2, 2>::Identity() * T(4);
  const Timestamp t0{0};
  TimedFilterOptions timing;
  timing.max_gap = Duration::from_seconds(1.0);

  // Warm up on a 10 Hz ramp.
  auto warm = [&](TF& f) {
    for (int k = 1; k <= 50; ++k)
      f.step(t0 + Duration::from_ms(100 * k), V::Constant(T(0.1) * T(k) * T(0.1)));
  };
  const Timestamp t_after = t0 + Duration::from_ms(10000);  // 4 s after the last sample (6 s)
  const V z = V::Constant(T(1.0));

  SUBCASE("inflate") {
    TF tf(Proc{}, R, t0, Eigen::Matrix<T, 2, 1>::Zero(), P0, timing);
    TimedFilterOptions no_gap_check;
    TF plain(Proc{}, R, t0, Eigen::Matrix<T, 2, 1>::Zero(), P0, no_gap_check);
    warm(tf);
    warm(plain);
    CHECK(tf.gap_count() == 0);
    CHECK(tf.step(tf.last_time() + Duration::from_seconds(1.0), z).status == Status::ok);  // = max
    plain.step(plain.last_time() + Duration::from_seconds(1.0), z);
    const auto P_before = tf.covariance();
    const auto rec = tf.step(t_after, z);
    const auto ref = plain.step(t_after, z);
    CHECK(rec.status == Status::gap);
    CHECK(is_used(rec.status));
    CHECK(rec.accepted);
    CHECK(rec.time == t_after);
    CHECK(tf.gap_count() == 1);
    CHECK(ref.status == Status::ok);
    // Inflation is the ordinary prediction over the gap: identical to the filter without a check.
    CHECK(rec.nis == ref.nis);
    CHECK(tf.state() == plain.state());
    CHECK(tf.covariance() == plain.covariance());
    const Proc p;
    const T dt = TF::to_seconds(t_after - (t0 + Duration::from_ms(6000)));
    const auto m = p.model(dt);
    const Eigen::Matrix<T, 2, 2> Pp = m.A * P_before * m.A.transpose() + p.process_noise(dt);
    CHECK(rec.S(0, 0) == doctest::Approx(Pp(0, 0) + R(0, 0)));
  }
  SUBCASE("re-initialise") {
    timing.gap_policy = GapPolicy::reinitialise;
    TF tf(Proc{}, R, t0, Eigen::Matrix<T, 2, 1>::Zero(), P0, timing);
    warm(tf);
    const auto x_before = tf.state();
    // Reference: keep the state, covariance back to P0, fuse without prediction.
    KF kf(Proc{}.model(T(0)), Eigen::Matrix<T, 2, 2>::Zero(), R, x_before, P0);
    const auto ref = kf.update(z);
    const auto rec = tf.step(t_after, z);
    CHECK(rec.status == Status::gap);
    CHECK(rec.accepted);
    CHECK(tf.gap_count() == 1);
    CHECK(rec.S == ref.S);
    CHECK(rec.nis == ref.nis);
    CHECK(tf.state() == kf.state());
    CHECK(tf.covariance() == kf.covariance());
  }
  SUBCASE("a refused sample after a gap does not consume the gap") {
    TF tf(Proc{}, R, t0, Eigen::Matrix<T, 2, 1>::Zero(), P0, timing);
    warm(tf);
    const auto rec = tf.step(t_after, V::Constant(nan<T>()));
    CHECK(rec.status == Status::not_finite);
    CHECK(tf.gap_count() == 0);
    CHECK(tf.step(t_after + Duration{1}, z).status == Status::gap);
    CHECK(tf.gap_count() == 1);
  }
}

TEST_CASE("first sample without a dated prior: fused without prediction") {
  using TF = TimedKalmanFilter<TestConstantVelocity<double>>;
  using KF = KalmanFilter<double, 2, 1>;
  const Eigen::Matrix<double, 1, 1> R = Eigen::Matrix<double, 1, 1>::Constant(0.04);
  const Eigen::Vector2d x0(1, -1);
  const Eigen::Matrix2d P0 = Eigen::Matrix2d::Identity() * 3;
  TF tf(TestConstantVelocity<double>{}, R, x0, P0);
  CHECK_FALSE(tf.has_time());
  KF kf(TestConstantVelocity<double>{}.model(0), Eigen::Matrix2d::Zero(), R, x0, P0);
  const Timestamp t = Timestamp::from_seconds(1.7e9);  // a Unix time
  const auto rec = tf.step(t, Eigen::Matrix<double, 1, 1>::Constant(1.3));
  const auto ref = kf.update(Eigen::Matrix<double, 1, 1>::Constant(1.3));
  CHECK(rec.status == Status::ok);
  CHECK(rec.nis == ref.nis);
  CHECK(tf.state() == kf.state());
  CHECK(tf.covariance() == kf.covariance());
  CHECK(tf.last_time() == t);
  // reset() forgets the time: the next sample is again fused without prediction.
  tf.reset(x0, P0);
  CHECK_FALSE(tf.has_time());
  CHECK(tf.step(t - Duration::from_ms(1), Eigen::Matrix<double, 1, 1>::Constant(1.3)).nis ==
        ref.nis);
}

TEST_CASE("step never touches the heap, including refused samples and gaps") {
  using TF = TimedKalmanFilter<TestLag<float>>;
  using V = Eigen::Matrix<float, 1, 1>;
  TimedFilterOptions timing;
  timing.max_gap = Duration::from_ms(500);
  TF tf(TestLag<float>{}, V::Constant(0.01f), Timestamp{0}, V::Zero(), V::Constant(1.0f), timing);
  int used = 0, refused = 0;
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    Timestamp t{0};
    for (int k = 0; k < 1000; ++k) {
      t = t + Duration::from_ms(k % 100 == 99 ? 2000 : 10);
      const auto rec = tf.step(t, V::Constant(0.001f * static_cast<float>(k % 50)),
                               V::Constant(k % 200 < 100 ? 0.0f : 0.01f));
      used += is_used(rec.status);
      const auto bad = tf.step(t - Duration::from_ms(5), V::Constant(1.0f), V::Constant(0.0f));
      refused += bad.status == Status::time_backwards;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(used == 1000);
  CHECK(refused == 1000);
  CHECK(tf.gap_count() == 10);
}
