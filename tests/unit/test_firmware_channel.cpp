// Firmware channel and attacker-aware tests:
//  - ScalarChannel (compact 1-state filter + CUSUM + k-of-n alarm, config in flash) gives the same
//    findings as the library pipeline Pipeline<KalmanInnovationSource, CusumDetector> + AlarmLogic;
//  - a stealthy attacker drives a threshold detector's process unboundedly far while a CUSUM bounds
//    the attacker's cumulative bias by n k + h (derivation below), asserted against the library.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <random>

#include <physguard/compose/estimator_sources.hpp>
#include <physguard/compose/pipeline.hpp>
#include <physguard/compose/scalar_channel.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/threshold.hpp>
#include <physguard/estimate/kalman_filter.hpp>
#include <physguard/eval/attacks.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

template <typename T>
ScalarChannelConfig<T> channel_config() {
  ScalarChannelConfig<T> c;
  c.a = T(1);
  c.c = T(1);
  c.q = T(1e-4);
  c.r = T(0.01);
  c.x0 = T(1);
  c.p0 = T(1);
  c.nis_gate = static_cast<T>(stats::chi_square_quantile(1.0 - 1e-6, 1.0));
  c.cusum_k = T(0.5);
  c.cusum_h = T(6);
  c.clear_fraction = T(0.5);
  c.alarm_k = 2;
  c.alarm_n = 3;
  return c;
}

template <typename T>
Pipeline<KalmanInnovationSource<T, 1>, CusumDetector<T>> reference_pipeline(
    const ScalarChannelConfig<T>& c) {
  using KF = KalmanFilter<T, 1, 1>;
  typename KF::Model m;
  m.A << c.a;
  m.C << c.c;
  KF kf(m, KF::StateMatrix::Constant(c.q), KF::MeasurementCovariance::Constant(c.r),
        KF::StateVector::Constant(c.x0), KF::StateMatrix::Constant(c.p0));
  AlarmConfig<T> ac;
  ac.k = c.alarm_k;
  ac.n = c.alarm_n;
  ac.clear_fraction = c.clear_fraction;
  return Pipeline<KalmanInnovationSource<T, 1>, CusumDetector<T>>(
      KalmanInnovationSource<T, 1>(kf), CusumDetector<T>(c.cusum_k, c.cusum_h), ac, 3);
}

}  // namespace

TEST_CASE_TEMPLATE("ScalarChannel gives the same findings as the library pipeline", T, float, double) {
  const ScalarChannelConfig<T> cfg = channel_config<T>();
  ScalarChannel<T> ch(cfg, 3);
  auto ref = reference_pipeline(cfg);
  std::mt19937_64 rng(42);
  std::normal_distribution<double> noise(0.0, 0.1);
  int findings = 0, alarms = 0, refused = 0;
  physguard_test::HeapCounter heap;
  for (int k = 0; k < 4000; ++k) {
    Sample<T> s{Timestamp::from_ms(100 * (k + 1)), static_cast<T>(1.0 + noise(rng))};
    if (k >= 1000 && k < 1300) s.value += T(0.08);               // bias: CUSUM alarm
    if (k == 2000) s.value = std::numeric_limits<T>::quiet_NaN();  // refused
    if (k == 2100) s.quality = Quality::bad;                        // refused
    if (k == 2200) s.time = Timestamp::from_ms(100 * k);            // time going back
    if (k == 2500) s.value += T(5);                                 // outside the gate
    const auto a = ch.update(cfg, s);
    const auto b = ref.update(s);
    REQUIRE(a.out.has == b.has);
    if (a.out.has) {
      ++findings;
      alarms += a.out.finding.state == AlarmState::alarm ? 1 : 0;
      refused += a.out.finding.kind == FindingKind::bad_input ? 1 : 0;
      CHECK(a.out.finding.time == b.finding.time);
      CHECK(a.out.finding.channel == b.finding.channel);
      CHECK(a.out.finding.kind == b.finding.kind);
      CHECK(a.out.finding.state == b.finding.state);
      CHECK(a.out.finding.status == b.finding.status);
      CHECK(a.out.finding.cause == b.finding.cause);
      CHECK(a.out.finding.score == b.finding.score);  // same operations: bit-identical
    }
    REQUIRE(ch.state_estimate() == ref.source().filter().state()(0));
    REQUIRE(ch.variance() == ref.source().filter().covariance()(0, 0));
  }
  CHECK(heap.count() == 0);
  CHECK(alarms >= 1);
  CHECK(refused == 3);
  CHECK(findings >= 5);
}

TEST_CASE("ScalarChannel: refused samples leave the state bit-identical") {
  const ScalarChannelConfig<float> cfg = channel_config<float>();
  ScalarChannel<float> ch(cfg);
  for (int k = 1; k <= 50; ++k) ch.update(cfg, Sample<float>{Timestamp::from_ms(100 * k), 1.0f});
  const Sample<float> bad[] = {
      {Timestamp::from_ms(5100), std::numeric_limits<float>::quiet_NaN()},
      {Timestamp::from_ms(5100), std::numeric_limits<float>::infinity()},
      {Timestamp::from_ms(5100), 1.0f, Quality::missing},
      {Timestamp::from_ms(4000), 1.0f},  // back in time
      {Timestamp::from_ms(5000), 1.0f},  // repeated
  };
  for (const auto& s : bad) {
    unsigned char before[sizeof ch];
    std::memcpy(before, &ch, sizeof ch);
    const auto r = ch.update(cfg, s);
    CHECK(r.out.has);
    CHECK(r.out.finding.kind == FindingKind::bad_input);
    CHECK(r.out.finding.cause == Cause::sensor_fault);
    CHECK(std::memcmp(before, &ch, sizeof ch) == 0);
  }
}

// ------------------------------------------------------------------------------------------------
// Attacker-aware test.
//
// Setting: a 1-state Kalman filter (random walk, q, r) in steady state; the attacker replaces the
// measurement by z = x_pred + sqrt(S) * e, choosing the normalised residual e on every step (it
// knows the filter; eval/attacks.hpp).  The filter fuses it and its estimate moves by K sqrt(S) e,
// K = P_pred / S the steady-state gain: the estimate the plant's controller acts on walks away
// from the (constant) true process by D_n = K sqrt(S) * sum_i e_i.
//
// Threshold test |e| <= h_t: the attacker holds e = (1 - m) h_t forever, never alarms, and
// D_n = K sqrt(S) (1 - m) h_t n grows without bound.
//
// CUSUM S+_i = max(0, S+_{i-1} + e_i - k), S+_0 = 0: by induction S+_n >= sum_{i<=n} (e_i - k)
// (max(0, .) only adds).  No alarm means S+_n <= h for all n, hence
//
//     sum_{i<=n} e_i <= n k + h,     i.e.   D_n <= K sqrt(S) (n k + h):
//
// the attacker gains at most k per step plus h once, k / h_t of what the threshold test allows
// (for k = 0 the bias is bounded outright).  StealthyCusumAttack reaches the bound: e_1 = k + h',
// then e_i = k.
// ------------------------------------------------------------------------------------------------

namespace {

struct AttackRun {
  double deviation = 0.0;    // estimate - true process
  double sum_residual = 0.0; // sum of the normalised residuals seen
  bool alarmed = false;
};

template <typename Attack, typename Detector>
AttackRun drive(Attack& attack, Detector& detector, int steps, double& gain_sqrt_s) {
  using KF = KalmanFilter<double, 1, 1>;
  KF::Model m;
  m.A << 1;
  m.C << 1;
  const double q = 1e-4, r = 1e-2, truth = 1.0;
  // No gate: the filter fuses whatever it gets (the detectors under test are the only defence; the
  // CUSUM attacker's first residual k + h would otherwise be gated out, which only helps defence).
  EstimatorOptions<double> options;
  options.reject_outside_gate = false;
  KF kf(m, KF::StateMatrix::Constant(q), KF::MeasurementCovariance::Constant(r),
        KF::StateVector::Constant(truth), KF::StateMatrix::Constant(1e-3), options);
  // Settle to steady state on honest, noise-free measurements.
  for (int i = 0; i < 500; ++i) {
    kf.predict();
    kf.update(KF::MeasurementVector::Constant(truth));
  }
  AttackRun run;
  for (int i = 0; i < steps; ++i) {
    kf.predict();
    const double pred = kf.state()(0);
    const double s = kf.covariance()(0, 0) + r;
    const double sigma = std::sqrt(s);
    gain_sqrt_s = kf.covariance()(0, 0) / s * sigma;
    const double z = attack.falsify(Timestamp::from_ms(i + 1), truth, pred, sigma);
    const auto rec = kf.update(KF::MeasurementVector::Constant(z));
    REQUIRE(rec.status == Status::ok);
    const double e = rec.y(0) / std::sqrt(rec.S(0, 0));
    run.sum_residual += e;
    if (detector.update(e).alarm) run.alarmed = true;
  }
  run.deviation = kf.state()(0) - truth;
  return run;
}

}  // namespace

TEST_CASE("stealthy attacker: unbounded against a threshold test, bounded by n k + h by a CUSUM") {
  const double h_t = ThresholdDetector<double>::threshold_for_arl(1000.0);  // ~3.29
  const double k = 0.5;
  const double h = CusumDetector<double>::threshold_for_arl(k, 1000.0);
  const eval::AttackWindow window{Timestamp{0}, Timestamp{std::numeric_limits<std::int64_t>::max()}};
  double ks = 0.0;

  // Threshold test: never alarms, deviation linear in n without bound.
  double dev_threshold[2] = {};
  const int steps[2] = {1000, 4000};
  for (int j = 0; j < 2; ++j) {
    eval::StealthyThresholdAttack attack(window, h_t, 1e-6);
    ThresholdDetector<double> thr(h_t);
    const AttackRun run = drive(attack, thr, steps[j], ks);
    CHECK_FALSE(run.alarmed);
    dev_threshold[j] = run.deviation;
    CHECK(run.deviation == doctest::Approx(ks * (1.0 - 1e-6) * h_t * steps[j]).epsilon(1e-6));
  }
  CHECK(dev_threshold[1] == doctest::Approx(4.0 * dev_threshold[0]).epsilon(1e-9));
  CHECK(dev_threshold[1] > 100.0 * std::sqrt(1e-2));  // > 100 measurement sigmas away

  // CUSUM: the stealthiest attacker stays silent and reaches, but never exceeds, n k + h.
  for (int n : steps) {
    eval::StealthyCusumAttack attack(window, k, h, 1e-6);
    CusumDetector<double> cusum(k, h);
    const AttackRun run = drive(attack, cusum, n, ks);
    CHECK_FALSE(run.alarmed);
    CHECK(run.sum_residual <= n * k + h);
    CHECK(run.sum_residual >= n * k + (1.0 - 1e-5) * h);
    CHECK(run.deviation <= ks * (n * k + h) * (1.0 + 1e-9));
    CHECK(run.deviation < dev_threshold[n == steps[0] ? 0 : 1] * (k / h_t) * 1.1 + ks * h);
  }

  // The threshold-stealthy attack against the CUSUM is caught within ceil(h / (h_t - k)) + 1 steps.
  {
    eval::StealthyThresholdAttack attack(window, h_t, 1e-6);
    CusumDetector<double> cusum(k, h);
    const int bound = static_cast<int>(std::ceil(h / (h_t - k))) + 1;
    const AttackRun run = drive(attack, cusum, bound, ks);
    CHECK(run.alarmed);
  }

  // The bound holds for every attacker, not only the textbook one: random residual sequences, cut
  // at the first alarm, never exceed n k + h before it.
  std::mt19937_64 rng(7);
  std::uniform_real_distribution<double> u(-1.0, 3.0);
  for (int trial = 0; trial < 200; ++trial) {
    CusumDetector<double> cusum(k, h);
    double sum = 0.0;
    for (int n = 1; n <= 500; ++n) {
      const double e = u(rng);
      if (cusum.update(e).alarm) break;
      sum += e;
      REQUIRE(sum <= n * k + h + 1e-12);
    }
  }
}
