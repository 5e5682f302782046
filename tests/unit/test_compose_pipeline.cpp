// Pipelines: source -> statistic -> alarm logic.  Adapt-flag detection, baseline freezing while in
// alarm, refused inputs, the Kalman innovation source against a hand-written scalar filter, no heap.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <physguard/compose.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/page_hinkley.hpp>
#include <physguard/detect/threshold.hpp>
#include <physguard/detect/windowed_chi_square.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

// A learning statistic: |x - m| / sigma against h, where the baseline m is the running mean of the
// samples it was allowed to learn from.
template <typename T>
class LearningMean {
 public:
  static constexpr const char* name = "learning_mean";
  LearningMean(T sigma, T h) : sigma_(sigma), h_(h) {}
  Decision<T> update(T x, bool adapt) {
    if (!is_finite(x)) return refused<T>(Status::not_finite);
    Decision<T> d;
    d.threshold = h_;
    d.score = count_ == 0 ? T(0) : std::fabs(x - mean_) / sigma_;
    d.alarm = d.score > h_;
    if (adapt) {
      ++count_;
      mean_ += (x - mean_) / static_cast<T>(count_);
      ++learned_;
    }
    return d;
  }
  T baseline() const { return mean_; }
  int learned() const { return learned_; }

 private:
  T sigma_, h_;
  T mean_ = T(0);
  int count_ = 0;
  int learned_ = 0;
};

// A statistic without an adapt flag that records what it saw.
template <typename T>
struct Recorder {
  static constexpr const char* name = "recorder";
  int calls = 0;
  T last = T(0);
  Decision<T> update(T x) {
    ++calls;
    last = x;
    Decision<T> d;
    d.score = x;
    d.threshold = T(1);
    d.alarm = x > T(1);
    return d;
  }
};

template <typename T>
Sample<T> sample(double t_s, T v, Quality q = Quality::good) {
  return Sample<T>{Timestamp::from_seconds(t_s), v, q};
}

}  // namespace

// The adapt flag is detected exactly: update(x, bool) yes; update(x) no; update(x, int dof) no.
static_assert(takes_adapt_flag_v<LearningMean<double>, double>, "adaptive");
static_assert(takes_adapt_flag_v<PageHinkleyDetector<float>, float>, "Page-Hinkley is adaptive");
static_assert(!takes_adapt_flag_v<CusumDetector<double>, double>, "CUSUM is not");
static_assert(!takes_adapt_flag_v<WindowedChiSquareDetector<double, 8>, double>,
              "update(nis, int dof) is not an adapt flag");
static_assert(Pipeline<SampleValue<float>, LearningMean<float>>::adaptive_statistic, "");
static_assert(!Pipeline<SampleValue<float>, Recorder<float>>::adaptive_statistic, "");
static_assert(std::is_same<Pipeline<SampleValue<float>, CusumDetector<float>>::Scalar, float>::value,
              "");

TEST_CASE_TEMPLATE("baseline freezing: a learning statistic does not learn while in alarm", T, float,
                   double) {
  Pipeline<SampleValue<T>, LearningMean<T>> p(SampleValue<T>{}, LearningMean<T>(T(1), T(4)));
  std::mt19937 rng(3);
  std::normal_distribution<double> noise(0.0, 1.0);
  // 300 s normal around 10, 100 s attack at 30 (a slow attacker would like the mean to follow),
  // 100 s normal again.
  std::vector<Finding<T>> findings;
  T baseline_at_alarm = T(0);
  int learned_at_alarm = 0;
  for (int i = 0; i < 500; ++i) {
    const bool attack = i >= 300 && i < 400;
    const T x = static_cast<T>((attack ? 30.0 : 10.0) + 0.5 * noise(rng));
    const auto out = p.update(sample<T>(i, x));
    if (out) {
      findings.push_back(out.finding);
      if (out.finding.state == AlarmState::alarm) {
        baseline_at_alarm = p.statistic().baseline();
        learned_at_alarm = p.statistic().learned();
      }
    }
    if (i > 300 && i <= 400) {
      // Not a single attack sample after the first reached the baseline: it did not move at all.
      CHECK(p.statistic().baseline() == baseline_at_alarm);
      CHECK(p.statistic().learned() == learned_at_alarm);
    }
  }
  REQUIRE(findings.size() == 2);
  CHECK(findings[0].state == AlarmState::alarm);
  CHECK(findings[0].time == Timestamp::from_seconds(300));
  CHECK(findings[0].detector == std::string("learning_mean"));
  CHECK(findings[1].state == AlarmState::cleared);
  CHECK(findings[1].time == Timestamp::from_seconds(400));
  // The first attack sample was tested before it could be known as one (adapt was still true);
  // it is the only one learned: every other attack sample was refused learning.
  CHECK(learned_at_alarm == 301);
  // Frozen: samples 301..399 (in alarm) and 400 (tested while still in alarm; it clears it).
  CHECK(p.statistic().learned() == 500 - 100);
  CHECK(std::fabs(static_cast<double>(baseline_at_alarm) - 10.0) < 0.2);
}

TEST_CASE_TEMPLATE("Page-Hinkley in a pipeline keeps its learned baseline during the alarm", T,
                   float, double) {
  // Forgetting baseline (alpha = 0.05): left alone it would follow a level change within ~60
  // samples and the alarm would fade; in the pipeline it is frozen while in alarm.
  const PageHinkleyDetector<T> ph(T(0.25), T(5), T(0.05), 50);
  Pipeline<SampleValue<T>, PageHinkleyDetector<T>> p(SampleValue<T>{}, ph);
  PageHinkleyDetector<T> free_running = ph;
  std::mt19937 rng(11);
  std::normal_distribution<double> noise(0.0, 0.2);
  T frozen = T(0);
  bool alarmed = false;
  for (int i = 0; i < 400; ++i) {
    const T x = static_cast<T>((i >= 200 ? 3.0 : 1.0) + noise(rng));
    const auto out = p.update(sample<T>(0.1 * i, x));
    free_running.update(x);
    if (out && out.finding.state == AlarmState::alarm) {
      alarmed = true;
      frozen = p.statistic().baseline();
      CHECK(i >= 200);
      CHECK(i < 210);
    }
    if (alarmed) {
      CHECK(p.statistic().baseline() == frozen);
      CHECK(p.state() == AlarmState::alarm);
    }
  }
  CHECK(alarmed);
  // Learned from the first 3 attack samples only (before the sum crossed): 3 - 2 * 0.95^3 = 1.29.
  CHECK(std::fabs(static_cast<double>(frozen) - (3.0 - 2.0 * 0.95 * 0.95 * 0.95)) < 0.15);
  // The free-running copy learned the attack level as its new normal.
  CHECK(std::fabs(static_cast<double>(free_running.baseline()) - 3.0) < 0.2);
}

TEST_CASE_TEMPLATE("CUSUM pipeline: finding at the sample the hand-computed sum crosses h", T, float,
                   double) {
  auto p = make_pipeline(StandardizedSample<T>(T(5), T(2)), CusumDetector<T>(T(0.5), T(4)),
                         AlarmConfig<T>{}, 7);
  // z = 0 for 20 samples, then z = 1.5: S+ grows by z - k = 1 per sample: 1, 2, 3, 4, 5 > 4.
  std::vector<Finding<T>> f;
  for (int i = 0; i < 30; ++i) {
    const auto out = p.update(sample<T>(0.5 * i, i < 20 ? T(5) : T(8)));
    if (out) f.push_back(out.finding);
  }
  REQUIRE(f.size() == 1);
  CHECK(f[0].time == Timestamp::from_seconds(0.5 * 24));
  CHECK(f[0].channel == 7);
  CHECK(f[0].detector == std::string("cusum"));
  CHECK(f[0].kind == FindingKind::residual);
  CHECK(f[0].state == AlarmState::alarm);
  CHECK(f[0].status == Status::ok);
  CHECK(f[0].score == T(5));
  CHECK(f[0].threshold == T(4));
  CHECK(p.last_decision().time == Timestamp::from_seconds(0.5 * 29));
  CHECK(p.last_decision().score == T(10));
}

TEST_CASE_TEMPLATE("alarm_cause: the integrator names the cause a residual statistic cannot", T,
                   float, double) {
  PipelineOptions po;
  po.alarm_cause = Cause::suspected_attack;
  auto plain = make_pipeline(StandardizedSample<T>(T(5), T(2)), CusumDetector<T>(T(0.5), T(4)),
                             AlarmConfig<T>{}, 7);
  auto named = make_pipeline(StandardizedSample<T>(T(5), T(2)), CusumDetector<T>(T(0.5), T(4)),
                             AlarmConfig<T>{}, 7, po);
  Cause plain_cause = Cause::communication, named_cause = Cause::communication;
  for (int i = 0; i < 30; ++i) {
    const Sample<T> s = sample<T>(0.5 * i, i < 20 ? T(5) : T(8));
    if (const auto o = plain.update(s)) plain_cause = o.finding.cause;
    if (const auto o = named.update(s)) named_cause = o.finding.cause;
  }
  CHECK(plain_cause == Cause::unknown);
  CHECK(named_cause == Cause::suspected_attack);
  // A refused sample keeps its own cause.
  const auto bad = named.update(sample<T>(20, std::numeric_limits<T>::quiet_NaN()));
  REQUIRE(bad.has);
  CHECK(bad.finding.cause == Cause::sensor_fault);
}

TEST_CASE_TEMPLATE("refused samples: bad_input finding, statistic not called, state unchanged", T,
                   float, double) {
  Pipeline<StandardizedSample<T>, CusumDetector<T>> p(StandardizedSample<T>(T(0), T(1)),
                                                      CusumDetector<T>(T(0.5), T(4)));
  for (int i = 0; i < 3; ++i) p.update(sample<T>(i, T(1.5)));  // S+ = 3
  const T upper = p.statistic().upper();
  const T lower = p.statistic().lower();
  const Sample<T> bad[] = {sample<T>(3, std::numeric_limits<T>::quiet_NaN()),
                           sample<T>(3.1, std::numeric_limits<T>::infinity()),
                           sample<T>(3.2, T(1.5), Quality::bad),
                           sample<T>(3.3, T(1.5), Quality::missing)};
  const Status why[] = {Status::not_finite, Status::not_finite, Status::bad_quality,
                        Status::missing};
  for (int j = 0; j < 4; ++j) {
    const auto out = p.update(bad[j]);
    REQUIRE(out.has);
    CHECK(out.finding.kind == FindingKind::bad_input);
    CHECK(out.finding.status == why[j]);
    CHECK(out.finding.time == bad[j].time);
    CHECK(out.finding.state == AlarmState::normal);
    CHECK(p.statistic().upper() == upper);
    CHECK(p.statistic().lower() == lower);
  }
  CHECK(p.alarm().refused() == 4);
  // The next good samples continue exactly where the sum was: 3 -> 4 -> 5 > 4 alarms.
  CHECK_FALSE(p.update(sample<T>(4, T(1.5))).has);
  const auto out = p.update(sample<T>(5, T(1.5)));
  REQUIRE(out.has);
  CHECK(out.finding.state == AlarmState::alarm);
  CHECK(out.finding.score == T(5));
  // A NaN during the alarm is reported with the alarm state and does not clear it.
  const auto nan_out = p.update(sample<T>(6, std::numeric_limits<T>::quiet_NaN()));
  REQUIRE(nan_out.has);
  CHECK(nan_out.finding.state == AlarmState::alarm);
  CHECK(p.state() == AlarmState::alarm);

  SUBCASE("a statistic behind a refusing source is not even called") {
    Pipeline<SampleValue<T>, Recorder<T>> r(SampleValue<T>{}, Recorder<T>{});
    r.update(sample<T>(0, T(0.5)));
    r.update(sample<T>(1, std::numeric_limits<T>::quiet_NaN()));
    r.update(sample<T>(2, T(0.5), Quality::bad));
    CHECK(r.statistic().calls == 1);
  }
}

TEST_CASE_TEMPLATE("acknowledge: latched alarm released, optional statistic reset", T, float,
                   double) {
  AlarmConfig<T> cfg;
  cfg.latch = true;
  PipelineOptions opt;
  opt.reset_statistic_on_acknowledge = true;
  auto p = make_pipeline(StandardizedSample<T>(T(0), T(1)), CusumDetector<T>(T(0.5), T(2)), cfg, 3,
                         opt);
  for (int i = 0; i < 5; ++i) p.update(sample<T>(i, T(1.5)));  // S+ = 5 > 2: alarm
  CHECK(p.state() == AlarmState::alarm);
  CHECK(p.statistic().upper() == T(5));
  // Acknowledged while the sum is high: the sum is reset, the alarm stays until a sample shows
  // the condition gone.
  const auto ack = p.acknowledge(Timestamp::from_seconds(10));
  CHECK_FALSE(ack.has);
  CHECK(p.statistic().upper() == T(0));
  const auto out = p.update(sample<T>(11, T(0)));
  REQUIRE(out.has);
  CHECK(out.finding.state == AlarmState::cleared);
  CHECK(out.finding.channel == 3);

  SUBCASE("latched alarm, condition gone, acknowledgement makes the finding") {
    auto q = make_pipeline(StandardizedSample<T>(T(0), T(1)), ThresholdDetector<T>(T(3)), cfg);
    q.update(sample<T>(0, T(5)));
    CHECK_FALSE(q.update(sample<T>(1, T(0))).has);
    const auto a = q.acknowledge(Timestamp::from_seconds(2));
    REQUIRE(a.has);
    CHECK(a.finding.state == AlarmState::cleared);
    CHECK(a.finding.time == Timestamp::from_seconds(2));
    CHECK(a.finding.detector == std::string("threshold"));
  }
}

namespace {
// Independent scalar random-walk Kalman filter, written out by hand.
struct HandKalman {
  double x, P, q, r;
  // Returns y / sqrt(S) and sets nis; fuses when `fuse`.
  double step(double z, double& nis, bool fuse = true) {
    P += q;
    const double S = P + r;
    const double y = z - x;
    nis = y * y / S;
    if (fuse) {
      const double K = P / S;
      x += K * y;
      P = (1 - K) * P;
    }
    return y / std::sqrt(S);
  }
};

template <typename T>
KalmanFilter<T, 1, 1> random_walk_filter(T q, T r, T x0, T p0) {
  using KF = KalmanFilter<T, 1, 1>;
  typename KF::Model m;
  m.A << T(1);
  m.C << T(1);
  typename KF::Options o;
  o.reject_outside_gate = false;
  return KF(m, KF::StateMatrix::Constant(q), KF::MeasurementCovariance::Constant(r),
            KF::StateVector::Constant(x0), KF::StateMatrix::Constant(p0), o);
}
}  // namespace

TEST_CASE_TEMPLATE("Kalman innovation source emits y/sqrt(S) and NIS of a hand-written filter", T,
                   float, double) {
  const double tol = std::is_same<T, float>::value ? 2e-4 : 1e-11;
  KalmanInnovationSource<T, 1> norm(random_walk_filter<T>(T(0.01), T(0.25), T(0), T(1)));
  KalmanInnovationSource<T, 1> nis(random_walk_filter<T>(T(0.01), T(0.25), T(0), T(1)),
                                   InnovationOutput::nis);
  HandKalman hand{0.0, 1.0, 0.01, 0.25};
  std::mt19937 rng(5);
  std::normal_distribution<double> noise(0.0, 0.5);
  for (int i = 0; i < 300; ++i) {
    const T z = static_cast<T>(2.0 + noise(rng));
    double want_nis = 0;
    const double want = hand.step(static_cast<double>(z), want_nis);
    const auto a = norm.update(sample<T>(0.1 * (i + 1), z));
    const auto b = nis.update(sample<T>(0.1 * (i + 1), z));
    REQUIRE(a.status == Status::ok);
    REQUIRE(b.status == Status::ok);
    CHECK(a.time == Timestamp::from_seconds(0.1 * (i + 1)));
    CHECK(static_cast<double>(a.value) == doctest::Approx(want).epsilon(tol).scale(1.0));
    CHECK(static_cast<double>(b.value) == doctest::Approx(want_nis).epsilon(tol).scale(1.0));
  }
  CHECK(static_cast<double>(norm.filter().state()(0)) == doctest::Approx(hand.x).epsilon(tol));
}

TEST_CASE_TEMPLATE("Kalman innovation source: refused samples leave the filter untouched", T, float,
                   double) {
  KalmanInnovationSource<T, 1> src(random_walk_filter<T>(T(0.01), T(0.25), T(0), T(1)));
  for (int i = 1; i <= 10; ++i) src.update(sample<T>(i, T(1)));
  const T x = src.filter().state()(0);
  const T P = src.filter().covariance()(0, 0);
  const Sample<T> bad[] = {sample<T>(11, std::numeric_limits<T>::quiet_NaN()),
                           sample<T>(11, T(1), Quality::bad), sample<T>(10, T(1)),
                           sample<T>(9, T(1))};
  const Status why[] = {Status::not_finite, Status::bad_quality, Status::time_repeated,
                        Status::time_backwards};
  for (int j = 0; j < 4; ++j) {
    const auto r = src.update(bad[j]);
    CHECK(r.status == why[j]);
    CHECK(src.filter().state()(0) == x);
    CHECK(src.filter().covariance()(0, 0) == P);
  }
  SUBCASE("adapt = false: predicts but does not fuse (coasts while in alarm)") {
    const auto r = src.update(sample<T>(12, T(50)), false);
    CHECK(r.status == Status::ok);
    CHECK(src.filter().state()(0) == x);
    CHECK(static_cast<double>(src.filter().covariance()(0, 0)) ==
          doctest::Approx(static_cast<double>(P) + 0.01).epsilon(1e-5));
    CHECK_FALSE(src.last_innovation().accepted);
  }
}

TEST_CASE_TEMPLATE("steady-state innovation source: closed-form random-walk gain, refusals", T,
                   float, double) {
  // Random walk, q and r: the steady prior variance solves P^2 - q P - q r = 0, so
  // P = (q + sqrt(q^2 + 4 q r)) / 2, S = P + r, K = P / S.
  const double q = 0.01, r = 0.25;
  const double P = 0.5 * (q + std::sqrt(q * q + 4.0 * q * r));
  const double S = P + r, K = P / S;
  const double tol = std::is_same<T, float>::value ? 2e-4 : 1e-9;
  using F = SteadyStateKalmanFilter<T, 1, 1>;
  typename F::Model m;
  m.A << T(1);
  m.C << T(1);
  typename F::Options o;
  o.reject_outside_gate = false;
  const F f(m, F::StateMatrix::Constant(T(q)), F::MeasurementCovariance::Constant(T(r)),
            F::StateVector::Constant(T(1)), o);
  REQUIRE(f.ok());
  SteadyStateInnovationSource<T, 1> norm(f);
  SteadyStateInnovationSource<T, 1> nis(f, InnovationOutput::nis);
  double x = 1.0;
  std::mt19937 rng(17);
  std::normal_distribution<double> noise(0.0, 0.5);
  for (int i = 1; i <= 200; ++i) {
    const T z = static_cast<T>(3.0 + noise(rng));
    const double y = static_cast<double>(z) - x;
    x += K * y;
    const auto a = norm.update(sample<T>(0.1 * i, z));
    const auto b = nis.update(sample<T>(0.1 * i, z));
    REQUIRE(a.status == Status::ok);
    REQUIRE(b.status == Status::ok);
    CHECK(static_cast<double>(a.value) == doctest::Approx(y / std::sqrt(S)).epsilon(tol));
    CHECK(static_cast<double>(b.value) == doctest::Approx(y * y / S).epsilon(tol).scale(1.0));
    CHECK(static_cast<double>(norm.filter().state()(0)) == doctest::Approx(x).epsilon(tol));
  }
  // refused samples: status, filter untouched
  const T x_before = norm.filter().state()(0);
  const Sample<T> bad[] = {sample<T>(20.1, std::numeric_limits<T>::infinity()),
                           sample<T>(20.1, T(1), Quality::bad), sample<T>(20.0, T(1)),
                           sample<T>(19.0, T(1))};
  const Status why[] = {Status::not_finite, Status::bad_quality, Status::time_repeated,
                        Status::time_backwards};
  for (int j = 0; j < 4; ++j) {
    CHECK(norm.update(bad[j]).status == why[j]);
    CHECK(norm.filter().state()(0) == x_before);
  }
}

TEST_CASE_TEMPLATE("innovation source maps records; gated-out records are still residuals", T, float,
                   double) {
  InnovationSource<T, 1> src;
  Innovation<T, 1> rec;
  rec.y(0) = T(3);
  rec.S(0, 0) = T(4);
  rec.nis = T(2.25);
  rec.time = Timestamp::from_seconds(1);
  rec.status = Status::rejected_by_gate;
  auto r = src.update(rec);
  CHECK(r.status == Status::ok);
  CHECK(r.value == T(1.5));
  CHECK(r.time == rec.time);
  rec.status = Status::not_finite;
  CHECK(src.update(rec).status == Status::not_finite);

  InnovationSource<T, 2> src2;  // NIS for vector measurements
  Innovation<T, 2> rec2;
  rec2.nis = T(7);
  rec2.status = Status::ok;
  CHECK(src2.update(rec2).value == T(7));
}

TEST_CASE_TEMPLATE("Kalman source + CUSUM pipeline detects a bias and coasts during the alarm", T,
                   float, double) {
  using Src = KalmanInnovationSource<T, 1>;
  // Nearly constant level (q small): a sensor bias of 1.5 sigma_v is tracked only slowly.
  Pipeline<Src, CusumDetector<T>> p(Src(random_walk_filter<T>(T(1e-6), T(0.01), T(5), T(0.01))),
                                    CusumDetector<T>(T(0.5), T(8)));
  static_assert(Pipeline<Src, CusumDetector<T>>::adaptive_source, "KF source takes adapt");
  std::mt19937 rng(9);
  std::normal_distribution<double> noise(0.0, 0.1);
  int alarm_at = -1;
  T x_at_alarm = T(0);
  for (int i = 0; i < 600; ++i) {
    const double bias = i >= 400 ? 0.15 : 0.0;
    const auto out = p.update(sample<T>(0.1 * (i + 1), static_cast<T>(5.0 + bias + noise(rng))));
    if (out && out.finding.state == AlarmState::alarm && alarm_at < 0) {
      alarm_at = i;
      x_at_alarm = p.source().filter().state()(0);
    }
    if (alarm_at >= 0 && i > alarm_at) {
      CHECK(p.source().filter().state()(0) == x_at_alarm);  // not dragged along by the bias
    }
  }
  CHECK(alarm_at >= 400);
  CHECK(alarm_at < 430);
  CHECK(p.state() == AlarmState::alarm);
}

TEST_CASE_TEMPLATE("no heap in the pipeline's per-sample path", T, float, double) {
  using Src = KalmanInnovationSource<T, 1>;
  AlarmConfig<T> cfg;
  cfg.k = 3;
  cfg.n = 5;
  cfg.warning_fraction = T(0.5);
  cfg.latch = true;
  Pipeline<Src, CusumDetector<T>> p(Src(random_walk_filter<T>(T(0.01), T(0.25), T(0), T(1))),
                                    CusumDetector<T>(T(0.5), T(4)), cfg);
  Pipeline<SampleValue<T>, PageHinkleyDetector<T>> q(SampleValue<T>{},
                                                     PageHinkleyDetector<T>(T(0.1), T(3)));
  int findings = 0;
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int i = 0; i < 2000; ++i) {
      const T v = (i % 97 == 0) ? std::numeric_limits<T>::quiet_NaN()
                                : static_cast<T>(i > 1000 ? 3.0 : 0.0) + T(0.01) * (i % 7);
      if (p.update(sample<T>(0.01 * (i + 1), v))) ++findings;
      if (q.update(sample<T>(0.01 * (i + 1), v))) ++findings;
      if (i % 300 == 0) {
        p.acknowledge(Timestamp::from_seconds(0.01 * (i + 1)));
        q.acknowledge(Timestamp::from_seconds(0.01 * (i + 1)));
      }
    }
  }
  CHECK(heap.count() == 0);
  CHECK(findings > 40);  // refused samples alone give 2 x 21
}
