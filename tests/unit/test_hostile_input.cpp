// Hostile input, table-driven over the public update paths (float, the firmware type; the Kalman
// filter in double too): NaN, +-inf, subnormals, values near the type's limits, timestamps going
// back, repeating, jumping and near the int64 limits, counter wrap-around and very long gaps.
//
// Boxes: every statistic, every plausibility check (range, rate, stuck-at, noise change,
// staleness, redundancy, mass-balance invariant), every consistency checker (discrete and valve
// command/response, analog tracking, setpoint envelope, hysteresis rule, response model), the
// estimators (Kalman, extended, unscented, steady-state, timed), KalmanInnovationSource,
// ScalarChannel, AlarmLogic, a Monitor, and the 4-20 mA input conversion.
//
// Rules checked for every box:
//  - a non-finite value, a bad / missing sample or a timestamp going back or repeating is refused
//    with a status, the box is bit-identical afterwards, and the decision / finding says bad_input
//    (kind) with cause sensor_fault (the signal is broken, not the process); the multi-input
//    boxes say which input was refused;
//  - a finite but extreme value (FLT_MAX, subnormal) never produces a NaN score or a NaN in the
//    state, and the box still gives finite scores for normal samples afterwards (no poisoning) —
//    an extreme value is either refused or judged (alarm), never silently absorbed into NaN;
//  - a long gap is accepted (gap status where the box checks gaps), never corrupts the state.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>

#include <physguard/compose/alarm_logic.hpp>
#include <physguard/compose/estimator_sources.hpp>
#include <physguard/compose/monitor.hpp>
#include <physguard/compose/scalar_channel.hpp>
#include <physguard/compose/sink.hpp>
#include <physguard/compose/sources.hpp>
#include <physguard/consistency/analog_tracking.hpp>
#include <physguard/consistency/command_response.hpp>
#include <physguard/consistency/control_logic.hpp>
#include <physguard/consistency/response_model.hpp>
#include <physguard/consistency/setpoint_envelope.hpp>
#include <physguard/core/time.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/ewma.hpp>
#include <physguard/detect/invariant.hpp>
#include <physguard/detect/noise_change.hpp>
#include <physguard/detect/page_hinkley.hpp>
#include <physguard/detect/range_check.hpp>
#include <physguard/detect/rate_check.hpp>
#include <physguard/detect/redundancy.hpp>
#include <physguard/detect/staleness.hpp>
#include <physguard/detect/stuck_at.hpp>
#include <physguard/detect/threshold.hpp>
#include <physguard/detect/windowed_chi_square.hpp>
#include <physguard/estimate/extended_kalman_filter.hpp>
#include <physguard/estimate/kalman_filter.hpp>
#include <physguard/estimate/steady_state_kalman_filter.hpp>
#include <physguard/estimate/timed_filter.hpp>
#include <physguard/estimate/unscented_kalman_filter.hpp>
#include <physguard/signal/analog.hpp>
#include <physguard/signal/orifice_tank.hpp>
#include <physguard/signal/random_walk.hpp>

#include "support/nonlinear_models.hpp"

using namespace physguard;

namespace {

using F = float;
using L = std::numeric_limits<F>;

const F non_finite[] = {L::quiet_NaN(), -L::quiet_NaN(), L::infinity(), -L::infinity(),
                        L::signaling_NaN()};
const F extreme[] = {L::max(), L::lowest(), L::denorm_min(), -L::denorm_min(), L::min(),
                     L::max() / 2, L::epsilon()};

template <typename Box>
struct Snapshot {
  unsigned char bytes[sizeof(Box)];
  explicit Snapshot(const Box& b) { std::memcpy(bytes, static_cast<const void*>(&b), sizeof(Box)); }
  bool same(const Box& b) const { return std::memcmp(bytes, &b, sizeof(Box)) == 0; }
};

bool is_nan(F v) { return v != v; }

// "State unchanged" is bit-identical, except for boxes that count refusals on purpose (the
// staleness check's diagnostic counters): there the timing state must be unchanged.
template <typename Box>
bool unchanged(const Snapshot<Box>& snap, const Box&, const Box& after) {
  return snap.same(after);
}
template <typename T>
bool unchanged(const Snapshot<StalenessCheck<T>>&, const StalenessCheck<T>& before,
               const StalenessCheck<T>& after) {
  return before.has_last() == after.has_last() && before.last_time() == after.last_time() &&
         before.gaps() == after.gaps();
}

template <typename T>
void check_refused(const Decision<T>& d, Status expected) {
  CHECK(d.status == expected);
  CHECK_FALSE(d.alarm);
  const Finding<T> f = d.to_finding(0, "box", AlarmState::normal);
  CHECK(f.kind == FindingKind::bad_input);
  CHECK(f.cause == Cause::sensor_fault);
}

// --- statistics on a value ------------------------------------------------------------------------

template <typename Box>
void value_box(Box box, const char* name) {
  const std::string box_name(name);
  CAPTURE(box_name);
  for (int i = 0; i < 20; ++i) box.update(F(0.1) * static_cast<F>(i % 3));
  for (F v : non_finite) {
    const Snapshot<Box> s(box);
    check_refused(box.update(v), Status::not_finite);
    CHECK(s.same(box));
  }
  for (F v : extreme) {
    Box b = box;
    const Decision<F> d = b.update(v);
    CAPTURE(v);
    CHECK_FALSE(is_nan(d.score));
    for (int i = 0; i < 5; ++i) CHECK_FALSE(is_nan(b.update(F(0.1)).score));
    b.reset();
    CHECK(is_finite(b.update(F(0.1)).score));
  }
}

// --- checks on a sample --------------------------------------------------------------------------

template <typename Box>
void sample_box(Box box, const char* name, bool checks_time) {
  const std::string box_name(name);
  CAPTURE(box_name);
  std::int64_t t = 1000000;
  for (int i = 0; i < 40; ++i, t += 100000) box.update(Sample<F>{Timestamp{t}, F(1) + F(0.01) * static_cast<F>(i % 5)});
  const Timestamp last{t - 100000};
  for (F v : non_finite) {
    const Snapshot<Box> s(box);
    const Box before = box;
    check_refused(box.update(Sample<F>{Timestamp{t}, v}), Status::not_finite);
    CHECK(unchanged(s, before, box));
  }
  for (Quality q : {Quality::bad, Quality::missing}) {
    const Snapshot<Box> s(box);
    const Box before = box;
    const Decision<F> d = box.update(Sample<F>{Timestamp{t}, F(1), q});
    check_refused(d, q == Quality::bad ? Status::bad_quality : Status::missing);
    CHECK(unchanged(s, before, box));
  }
  if (checks_time) {
    const Timestamp bad_times[] = {last, Timestamp{last.us - 1}, Timestamp{0},
                                   Timestamp{std::numeric_limits<std::int64_t>::min()}};
    for (Timestamp bt : bad_times) {
      const Snapshot<Box> s(box);
    const Box before = box;
      const Decision<F> d = box.update(Sample<F>{bt, F(1)});
      CAPTURE(bt.us);
      CHECK((d.status == Status::time_backwards || d.status == Status::time_repeated));
      CHECK_FALSE(d.alarm);
      CHECK(d.to_finding(0, name, AlarmState::normal).kind == FindingKind::bad_input);
      CHECK(unchanged(s, before, box));
    }
  }
  for (F v : extreme) {
    Box b = box;
    std::int64_t tt = t;
    const Decision<F> d = b.update(Sample<F>{Timestamp{tt}, v});
    CAPTURE(v);
    CHECK_FALSE(is_nan(d.score));
    for (int i = 0; i < 5; ++i) {
      tt += 100000;
      CHECK_FALSE(is_nan(b.update(Sample<F>{Timestamp{tt}, F(1)}).score));
    }
  }
  // Very long gap (10^6 s) and a jump to near the end of int64 time: never NaN.
  {
    Box b = box;
    const Decision<F> d1 = b.update(Sample<F>{Timestamp{t + 1000000LL * 1000000LL}, F(1)});
    CHECK_FALSE(is_nan(d1.score));
    const Decision<F> d2 =
        b.update(Sample<F>{Timestamp{std::numeric_limits<std::int64_t>::max() - 1}, F(1)});
    CHECK_FALSE(is_nan(d2.score));
  }
}

}  // namespace

TEST_CASE("hostile values into every statistic") {
  value_box(CusumDetector<F>(F(0.5), F(5)), "cusum");
  value_box(EwmaDetector<F>(F(0.2), F(3)), "ewma");
  value_box(PageHinkleyDetector<F>(F(0.1), F(5), F(0.01)), "page_hinkley");
  value_box(ThresholdDetector<F>(F(3)), "threshold");
  value_box(WindowedChiSquareDetector<F, 8>(F(20)), "windowed_chi_square");
}

TEST_CASE("hostile samples into every plausibility check") {
  sample_box(RangeCheck<F>(F(0), F(5)), "range", false);
  sample_box(RateCheck<F>(F(5), Duration::from_seconds(10)), "rate", true);
  sample_box(StuckAtCheck<F, 8>(F(1e-8), 4), "stuck_at", true);
  sample_box(NoiseChangeCheck<F, 16>::with_baseline(F(1e-4), 1e-4), "noise_change", true);
  sample_box(StalenessCheck<F>(Duration::from_seconds(5)), "staleness", true);
}

TEST_CASE("hostile times into the command/response checkers") {
  ValveCommandResponseChecker<F> valve(Duration::from_ms(100), Duration::from_ms(2000),
                                       Duration::from_ms(1500));
  DiscreteCommandResponseChecker<F> motor(Duration::from_ms(100), Duration::from_ms(2000));
  std::int64_t t = 1000000;
  for (int i = 0; i < 10; ++i, t += 100000) {
    valve.update(Timestamp{t}, false, false, true);
    motor.update(Timestamp{t}, false, false);
  }
  const Timestamp last{t - 100000};
  for (Timestamp bt : {last, Timestamp{0}, Timestamp{std::numeric_limits<std::int64_t>::min()}}) {
    const Snapshot<decltype(valve)> sv(valve);
    const Snapshot<decltype(motor)> sm(motor);
    const auto dv = valve.update(bt, true, true, false);
    const auto dm = motor.update(bt, true, true);
    CHECK_FALSE(is_used(dv.status));
    CHECK_FALSE(is_used(dm.status));
    CHECK(dv.to_finding(0, "v", AlarmState::normal).kind == FindingKind::bad_input);
    CHECK(sv.same(valve));
    CHECK(sm.same(motor));
  }
  // Bad-quality inputs say which one was refused.
  const auto d = motor.update(Sample<bool>{Timestamp{t}, true, Quality::good},
                              Sample<bool>{Timestamp{t}, true, Quality::bad});
  CHECK(d.status == Status::bad_quality);
  CHECK(d.input_refused(DiscreteCommandResponseChecker<F>::input_feedback));
  // A jump to the end of time: a discrepancy judged in time units, never NaN or overflow to
  // negative scores.
  motor.update(Timestamp{t + 1}, true, false);
  const auto far = motor.update(Timestamp{std::numeric_limits<std::int64_t>::max() - 1}, true, false);
  CHECK(is_used(far.status));
  CHECK(far.alarm);
  CHECK(far.cause == Cause::process_fault);
  CHECK(far.score > F(1));
}

TEST_CASE_TEMPLATE("hostile measurements into the Kalman filter", T, float, double) {
  using KF = KalmanFilter<T, 2, 1>;
  using TL = std::numeric_limits<T>;
  typename KF::Model m;
  m.A << 1, T(0.1), 0, 1;
  m.C << 1, 0;
  KF kf(m, KF::StateMatrix::Identity() * T(1e-4), KF::MeasurementCovariance::Constant(T(1e-2)),
        KF::StateVector::Zero(), KF::StateMatrix::Identity());
  for (int i = 0; i < 50; ++i) {
    kf.predict();
    kf.update(KF::MeasurementVector::Constant(T(0.01) * static_cast<T>(i)));
  }
  for (T v : {TL::quiet_NaN(), TL::infinity(), -TL::infinity()}) {
    const Snapshot<KF> s(kf);
    const auto rec = kf.update(KF::MeasurementVector::Constant(v));
    CHECK(rec.status == Status::not_finite);
    CHECK_FALSE(rec.accepted);
    CHECK(s.same(kf));
  }
  for (T v : {TL::max(), TL::lowest(), TL::denorm_min(), TL::min()}) {
    KF k2 = kf;
    const auto rec = k2.update(KF::MeasurementVector::Constant(v));
    CAPTURE(v);
    CHECK(all_finite(k2.state()));
    CHECK(all_finite(k2.covariance()));
    if (rec.status == Status::ok) CHECK(is_finite(rec.nis));
  }
  // A model that explodes (A huge): the prediction is refused, state unchanged.
  const Snapshot<KF> s(kf);
  typename KF::StateMatrix A_big = KF::StateMatrix::Identity() * (TL::max() / 2);
  const Status st = kf.predict(typename KF::InputVector{}, A_big, typename KF::InputMatrix{},
                               KF::StateMatrix::Identity());
  CHECK(st == Status::numerical_failure);
  CHECK(s.same(kf));
}

TEST_CASE_TEMPLATE("non-finite model matrices, noise or reset values are refused by the filters", T,
                   float, double) {
  using KF1 = KalmanFilter<T, 1, 1, 1>;
  using KF2 = KalmanFilter<T, 2, 1, 0>;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  typename KF1::Model m1;
  m1.A(0, 0) = T(1);
  m1.B(0, 0) = T(0.1);
  m1.C(0, 0) = T(1);
  m1.D(0, 0) = T(0);
  KF1 kf1(m1, KF1::StateMatrix::Constant(T(1e-3)), KF1::MeasurementCovariance::Constant(T(1e-2)),
          KF1::StateVector::Zero(), KF1::StateMatrix::Identity());
  typename KF2::Model m2;
  m2.A << T(1), T(0.1), T(0), T(1);
  m2.C << T(1), T(0);
  KF2 kf2(m2, KF2::StateMatrix::Identity() * T(1e-3), KF2::MeasurementCovariance::Constant(T(1e-2)),
          KF2::StateVector::Zero(), KF2::StateMatrix::Identity());
  for (int i = 0; i < 5; ++i) {
    kf1.predict(KF1::InputVector::Constant(T(1)));
    kf1.update(KF1::MeasurementVector::Constant(T(0.1) * T(i)));
    kf2.predict();
    kf2.update(KF2::MeasurementVector::Constant(T(0.1) * T(i)));
  }
  const Snapshot<KF1> s1(kf1);
  const Snapshot<KF2> s2(kf2);
  const typename KF1::InputVector u1 = KF1::InputVector::Constant(T(1));
  // NaN in A, B or Q of one step: not_finite, nothing changes (the variance is not floored).
  typename KF1::StateMatrix A1 = m1.A, Q1 = KF1::StateMatrix::Constant(T(1e-3));
  typename KF1::InputMatrix B1 = m1.B;
  A1(0, 0) = nan;
  CHECK(kf1.predict(u1, A1, B1, Q1) == Status::not_finite);
  A1 = m1.A;
  B1(0, 0) = nan;
  CHECK(kf1.predict(u1, A1, B1, Q1) == Status::not_finite);
  B1 = m1.B;
  Q1(0, 0) = nan;
  CHECK(kf1.predict(u1, A1, B1, Q1) == Status::not_finite);
  CHECK(s1.same(kf1));
  typename KF2::StateMatrix Q2 = KF2::StateMatrix::Identity() * T(1e-3);
  Q2(1, 0) = Q2(0, 1) = nan;
  CHECK(kf2.predict(typename KF2::InputVector{}, m2.A, typename KF2::InputMatrix{}, Q2) ==
        Status::not_finite);
  CHECK(s2.same(kf2));
  // Setters and reset refuse non-finite values.
  typename KF2::Model bad = m2;
  bad.C(0, 1) = nan;
  CHECK(kf2.set_model(bad) == Status::not_finite);
  CHECK(kf2.set_process_noise(Q2) == Status::not_finite);
  CHECK(kf2.set_measurement_noise(KF2::MeasurementCovariance::Constant(nan)) == Status::not_finite);
  typename KF2::StateMatrix P_bad = KF2::StateMatrix::Identity();
  P_bad(1, 1) = nan;
  CHECK(kf2.reset(KF2::StateVector::Zero(), P_bad) == Status::not_finite);
  CHECK(kf2.reset(KF2::StateVector::Constant(nan), KF2::StateMatrix::Identity()) ==
        Status::not_finite);
  CHECK(s2.same(kf2));
  // A stored model that overflows is refused by predict() as a numerical failure, state unchanged.
  typename KF2::Model huge = m2;
  huge.A(0, 1) = std::numeric_limits<T>::max();
  CHECK(kf2.set_model(huge) == Status::ok);
  const Snapshot<KF2> s3(kf2);
  CHECK(kf2.predict() == Status::numerical_failure);
  CHECK(s3.same(kf2));
}

TEST_CASE_TEMPLATE("a negative variance in Q, R or P0 is refused by the Kalman filter", T, float,
                   double) {
  using KF = KalmanFilter<T, 2, 1, 1>;
  typename KF::Model m;
  m.A << T(1), T(0.1), T(0), T(1);
  m.B << T(0), T(0.1);
  m.C << T(1), T(0);
  m.D << T(0);
  const typename KF::StateMatrix Q0 = KF::StateMatrix::Identity() * T(1e-3);
  KF kf(m, Q0, KF::MeasurementCovariance::Constant(T(1e-2)), KF::StateVector::Zero(),
        KF::StateMatrix::Identity());
  for (int i = 0; i < 5; ++i) {
    kf.predict();
    kf.update(KF::MeasurementVector::Constant(T(0.1) * T(i)));
  }
  const Snapshot<KF> s(kf);
  const typename KF::InputVector u = KF::InputVector::Constant(T(0.5));
  const typename KF::InputMatrix B = m.B;
  for (int i = 0; i < 2; ++i) {
    CAPTURE(i);
    typename KF::StateMatrix Q = Q0;
    Q(i, i) = -T(1e-6);
    CHECK(kf.predict(u, m.A, B, Q) == Status::invalid_argument);
    CHECK(kf.set_process_noise(Q) == Status::invalid_argument);
    Q(i, i) = -std::numeric_limits<T>::denorm_min();
    CHECK(kf.predict(u, m.A, B, Q) == Status::invalid_argument);
    // Non-finite wins over negative, in any argument: the more specific status.
    const typename KF::InputVector u_nan =
        KF::InputVector::Constant(std::numeric_limits<T>::quiet_NaN());
    CHECK(kf.predict(u_nan, m.A, B, Q) == Status::not_finite);
    Q((i + 1) % 2, (i + 1) % 2) = std::numeric_limits<T>::quiet_NaN();
    CHECK(kf.predict(u, m.A, B, Q) == Status::not_finite);
  }
  CHECK(kf.set_measurement_noise(KF::MeasurementCovariance::Constant(-T(1e-2))) ==
        Status::invalid_argument);
  typename KF::StateMatrix P_bad = KF::StateMatrix::Identity();
  P_bad(1, 1) = -T(1e-3);
  CHECK(kf.reset(KF::StateVector::Zero(), P_bad) == Status::invalid_argument);
  CHECK(s.same(kf));
  CHECK(kf.process_noise() == Q0);
  // Covariances with negative off-diagonal terms and zero variances are valid.
  typename KF::StateMatrix Qc;
  Qc << T(1e-3), -T(5e-4), -T(5e-4), T(1e-3);
  CHECK(kf.set_process_noise(Qc) == Status::ok);
  CHECK(kf.process_noise() == Qc);
  CHECK(kf.predict(u, m.A, B, KF::StateMatrix::Zero()) == Status::ok);
  CHECK(kf.set_measurement_noise(KF::MeasurementCovariance::Zero()) == Status::ok);
  CHECK(kf.predict() == Status::ok);
  CHECK(kf.update(KF::MeasurementVector::Constant(T(0.5))).status == Status::ok);
  CHECK(all_finite(kf.covariance()));
}

TEST_CASE_TEMPLATE("variances_nonnegative reads only the diagonal, refusing a negative or NaN variance", T,
                   float, double) {
  Eigen::Matrix<T, 3, 3> M = Eigen::Matrix<T, 3, 3>::Constant(-T(1));
  M.diagonal().setZero();
  CHECK(variances_nonnegative(M));
  M(1, 1) = -T(0);  // -0 == 0: a zero variance
  CHECK(variances_nonnegative(M));
  for (int i = 0; i < 3; ++i) {
    Eigen::Matrix<T, 3, 3> N = M;
    N(i, i) = -std::numeric_limits<T>::denorm_min();
    CHECK_FALSE(variances_nonnegative(N));
    N(i, i) = std::numeric_limits<T>::quiet_NaN();
    CHECK_FALSE(variances_nonnegative(N));
    N(i, i) = std::numeric_limits<T>::infinity();
    CHECK(variances_nonnegative(N));  // finiteness is all_finite's business
  }
}

TEST_CASE("a sample whose innovation overflows leaves KalmanInnovationSource and "
          "TimedKalmanFilter untouched") {
  using KF = KalmanFilter<F, 1, 1>;
  typename KF::Model m;
  m.A(0, 0) = F(1);
  m.C(0, 0) = F(1);
  KalmanInnovationSource<F, 1> src(KF(m, KF::StateMatrix::Constant(F(1e-4)),
                                      KF::MeasurementCovariance::Constant(F(1e-2)),
                                      KF::StateVector::Zero(), KF::StateMatrix::Identity()));
  TimedKalmanFilter<RandomWalk<F>> timed(RandomWalk<F>(F(1e-4)),
                                         TimedKalmanFilter<RandomWalk<F>>::MeasurementCovariance::Constant(F(1e-2)),
                                         TimedKalmanFilter<RandomWalk<F>>::StateVector::Zero(),
                                         TimedKalmanFilter<RandomWalk<F>>::StateMatrix::Identity());
  std::int64_t t = 1000000;
  for (int i = 0; i < 10; ++i, t += 100000) {
    src.update(Sample<F>{Timestamp{t}, F(0.01)});
    timed.step(Timestamp{t}, TimedKalmanFilter<RandomWalk<F>>::MeasurementVector::Constant(F(0.01)));
  }
  const Snapshot<KalmanInnovationSource<F, 1>> s1(src);
  const Snapshot<TimedKalmanFilter<RandomWalk<F>>> s2(timed);
  for (F v : {L::max(), L::lowest()}) {
    CHECK(src.update(Sample<F>{Timestamp{t}, v}).status == Status::numerical_failure);
    CHECK(s1.same(src));
    CHECK(timed.step(Timestamp{t}, TimedKalmanFilter<RandomWalk<F>>::MeasurementVector::Constant(v))
              .status == Status::numerical_failure);
    CHECK(s2.same(timed));
  }
  // The same time with a good value is still accepted by both.
  CHECK(src.update(Sample<F>{Timestamp{t}, F(0.01)}).status == Status::ok);
  CHECK(timed.step(Timestamp{t}, TimedKalmanFilter<RandomWalk<F>>::MeasurementVector::Constant(F(0.01)))
            .status == Status::ok);
}

TEST_CASE("hostile samples into ScalarChannel and the alarm logic") {
  ScalarChannelConfig<F> cfg;
  cfg.q = F(1e-4);
  cfg.r = F(1e-2);
  ScalarChannel<F> ch(cfg);
  std::int64_t t = 1000000;
  for (int i = 0; i < 20; ++i, t += 100000) ch.update(cfg, Sample<F>{Timestamp{t}, F(0)});
  for (F v : non_finite) {
    const Snapshot<ScalarChannel<F>> s(ch);
    const auto r = ch.update(cfg, Sample<F>{Timestamp{t}, v});
    CHECK(r.out.has);
    CHECK(r.out.finding.kind == FindingKind::bad_input);
    CHECK(r.out.finding.cause == Cause::sensor_fault);
    CHECK(s.same(ch));
  }
  for (F v : extreme) {
    ScalarChannel<F> c2 = ch;
    const Snapshot<ScalarChannel<F>> s(c2);
    const auto r = c2.update(cfg, Sample<F>{Timestamp{t}, v});
    CAPTURE(v);
    CHECK(is_finite(c2.state_estimate()));
    CHECK(is_finite(c2.variance()));
    if (r.filter_status != Status::ok && r.filter_status != Status::rejected_by_gate) {
      // Refused (an innovation too large to normalise): nothing changed, not even the clock, so
      // a good sample with the same time is still accepted.
      CHECK(s.same(c2));
      CHECK(c2.update(cfg, Sample<F>{Timestamp{t}, F(0)}).filter_status == Status::ok);
    }
  }
  {  // FLT_MAX is refused outright (its NIS overflows) and leaves the channel as it was.
    ScalarChannel<F> c2 = ch;
    const Snapshot<ScalarChannel<F>> s(c2);
    const auto r = c2.update(cfg, Sample<F>{Timestamp{t}, L::max()});
    CHECK(r.filter_status == Status::numerical_failure);
    CHECK(r.out.has);
    CHECK(r.out.finding.kind == FindingKind::bad_input);
    CHECK(s.same(c2));
  }
  // Alarm logic: a refused decision never changes the state; time going back is refused.
  AlarmLogic<F> alarm;
  Decision<F> d;
  d.time = Timestamp{100};
  d.score = F(10);
  d.threshold = F(5);
  d.alarm = true;
  CHECK(alarm.update(d).state == AlarmState::alarm);
  d.time = Timestamp{50};
  const AlarmOutput o = alarm.update(d);
  CHECK(o.status == Status::time_backwards);
  CHECK(alarm.state() == AlarmState::alarm);
}

TEST_CASE("32-bit counter wrap-around and a stalled counter") {
  CounterUnwrapper<std::uint32_t> clock;
  TimeGuard guard;
  std::uint32_t raw = 0xFFFFF000u;
  Timestamp prev = clock.extend(raw);
  guard.accept(prev);
  for (int i = 0; i < 100; ++i) {
    raw += 0x100u;  // wraps after 16 steps
    const Timestamp t = clock.extend(raw);
    CHECK(t.us - prev.us == 0x100);
    CHECK(guard.check(t) == Status::ok);
    guard.accept(t);
    prev = t;
  }
  // A counter that stalls gives a repeated time, which the guard refuses.
  CHECK(guard.check(clock.extend(raw)) == Status::time_repeated);
  // 16-bit counter, ticks of 10 us.
  CounterUnwrapper<std::uint16_t> c16(10);
  const Timestamp a = c16.extend(65530u);
  const Timestamp b = c16.extend(4u);
  CHECK((b - a).us == 100);
}

// --- checks and checkers on two samples of one scan ---------------------------------------------

namespace {

const std::int64_t kEndOfTime = std::numeric_limits<std::int64_t>::max() - 1;

/// `scan(box, a, b)` feeds one scan of two float samples and returns the (multi-input) decision.
/// Refused inputs: status, bits of refused_inputs (`bits_a`, `bits_b`: the box's input bits fed by
/// a and b), kind bad_input, cause sensor_fault, box bit-identical.  Times going back / repeating
/// (when `checks_time`): refused, kind timing, bit-identical.  Extreme values, as the first scan
/// or after normal ones: never a NaN score, and normal scans afterwards are used again (the box is
/// not wedged).  A long gap and a jump to the end of int64 time: never a NaN score.
template <typename Box, typename Scan>
void two_input_box(Box box, Scan scan, F a0, F b0, std::uint32_t bits_a, std::uint32_t bits_b,
                   const char* name, bool checks_time) {
  const std::string box_name(name);
  CAPTURE(box_name);
  std::int64_t t = 1000000;
  auto normal = [&](Box& b, std::int64_t at) {
    return scan(b, Sample<F>{Timestamp{at}, a0}, Sample<F>{Timestamp{at}, b0});
  };
  // An extreme value as the very first scan (what the box aligns or starts its window on) must
  // not wedge it either.
  for (F v : extreme) {
    for (int which = 1; which <= 3; ++which) {
      Box b = box;
      std::int64_t tt = t;
      CAPTURE(v);
      CAPTURE(which);
      CHECK_FALSE(is_nan(scan(b, Sample<F>{Timestamp{tt}, which & 1 ? v : a0},
                              Sample<F>{Timestamp{tt}, which & 2 ? v : b0})
                             .score));
      Decision<F> last;
      for (int i = 0; i < 6; ++i) {
        tt += 100000;
        last = normal(b, tt);
      }
      CHECK(is_used(last.status));
      CHECK_FALSE(is_nan(last.score));  // a CUSUM driven by ~FLT_MAX may sit at +inf until reset
    }
  }
  for (int i = 0; i < 40; ++i, t += 100000) REQUIRE(is_used(normal(box, t).status));
  const Timestamp now{t};
  for (int which = 1; which <= 3; ++which) {
    const std::uint32_t bits = (which & 1 ? bits_a : 0u) | (which & 2 ? bits_b : 0u);
    CAPTURE(which);
    for (F v : non_finite) {
      const Snapshot<Box> s(box);
      const auto d = scan(box, Sample<F>{now, which & 1 ? v : a0}, Sample<F>{now, which & 2 ? v : b0});
      check_refused(d, Status::not_finite);
      CHECK(d.refused_inputs == bits);
      CHECK(s.same(box));
    }
    for (Quality q : {Quality::bad, Quality::missing}) {
      const Snapshot<Box> s(box);
      const auto d = scan(box, Sample<F>{now, a0, which & 1 ? q : Quality::good},
                          Sample<F>{now, b0, which & 2 ? q : Quality::good});
      check_refused(d, q == Quality::bad ? Status::bad_quality : Status::missing);
      CHECK(d.refused_inputs == bits);
      CHECK(s.same(box));
    }
  }
  if (checks_time) {
    for (Timestamp bt : {Timestamp{t - 100000}, Timestamp{t - 100001}, Timestamp{0},
                         Timestamp{std::numeric_limits<std::int64_t>::min()}}) {
      const Snapshot<Box> s(box);
      const auto d = normal(box, bt.us);
      CAPTURE(bt.us);
      CHECK((d.status == Status::time_backwards || d.status == Status::time_repeated));
      CHECK_FALSE(d.alarm);
      CHECK(d.kind == FindingKind::timing);
      CHECK(d.to_finding(0, name, AlarmState::normal).kind == FindingKind::bad_input);
      CHECK(s.same(box));
    }
  }
  for (F v : extreme) {
    for (int which = 1; which <= 3; ++which) {
      Box b = box;
      std::int64_t tt = t;
      const auto d = scan(b, Sample<F>{Timestamp{tt}, which & 1 ? v : a0},
                          Sample<F>{Timestamp{tt}, which & 2 ? v : b0});
      CAPTURE(v);
      CAPTURE(which);
      CHECK_FALSE(is_nan(d.score));
      Decision<F> last;
      for (int i = 0; i < 6; ++i) {
        tt += 100000;
        last = normal(b, tt);
        CHECK_FALSE(is_nan(last.score));
      }
      CHECK(is_used(last.status));  // not wedged by the extreme value
      CHECK_FALSE(is_nan(last.score));
    }
  }
  {
    Box b = box;
    const auto d1 = normal(b, t + 1000000LL * 1000000LL);  // 10^6 s later
    CHECK_FALSE(is_nan(d1.score));
    const auto d2 = normal(b, kEndOfTime);
    CHECK_FALSE(is_nan(d2.score));
  }
}

}  // namespace

TEST_CASE("hostile pairs into the redundancy check and the mass-balance invariant") {
  // No time check in the redundancy check: its two samples are one scan, judged as a pair.
  two_input_box(RedundancyCheck<F>(F(0.01), F(0.01), F(4), 2),
                [](RedundancyCheck<F>& b, const Sample<F>& x, const Sample<F>& y) {
                  return b.update(x, y);
                },
                F(1.5), F(1.5), 1u, 2u, "redundancy", false);
  // Mass balance: a = level (input 0), b = inflow and outflow (inputs 1, 2).
  using MB = MassBalanceCheck<F, 2>;
  two_input_box(MB(MassBalanceInvariant<F, 2>(F(2), Duration::from_seconds(10)), F(1e-3)),
                [](MB& b, const Sample<F>& level, const Sample<F>& flow) {
                  return b.update(MB::Samples{level, flow, flow});
                },
                F(1), F(0.01), 1u, 6u, "mass_balance", true);
}

TEST_CASE("an extreme level no longer wedges the mass-balance invariant (regression)") {
  // An accepted FLT_MAX level (the first samples give no residual) made every later residual
  // overflow, and each was refused with the window left as it was: the check refused all normal
  // samples for good.  Now the overflow empties the window.
  using MB = MassBalanceCheck<F, 1>;
  MB mb(MassBalanceInvariant<F, 1>(F(10)), F(1e-3));
  std::int64_t t = 1000000;
  auto feed = [&](F level) {
    const Sample<F> flow{Timestamp{t}, F(0)};
    const auto d = mb.update(MB::Samples{Sample<F>{Timestamp{t}, level}, flow, flow});
    t += 100000;
    return d;
  };
  CHECK(feed(L::max()).status == Status::ok);  // no residual yet: nothing to judge it by
  const auto refused_once = feed(F(2));
  CHECK(refused_once.status == Status::numerical_failure);
  CHECK(refused_once.to_finding(0, "mb", AlarmState::normal).kind == FindingKind::bad_input);
  CHECK(refused_once.cause == Cause::sensor_fault);
  CHECK(feed(F(2)).status == Status::ok);  // window restarted
  const auto judged = feed(F(2));
  CHECK(judged.status == Status::ok);
  CHECK(judged.score == F(0));  // constant level, no flow: balanced
  CHECK_FALSE(judged.alarm);
}

TEST_CASE("hostile scans into the analog tracking and response-model checkers") {
  AnalogTrackingParams<F> ap;  // 1 %/s, 0..100 %, gain 1, 1 s lag
  ap.noise_sigma = F(0.5);
  two_input_box(AnalogTrackingChecker<F>(ap, CusumDetector<F>(F(0.5), F(8))),
                [](AnalogTrackingChecker<F>& b, const Sample<F>& cmd, const Sample<F>& fb) {
                  return b.update(cmd, fb);
                },
                F(50), F(50), 1u, 2u, "analog_tracking", true);
  ResponseModelParams<F> rp;
  rp.gain = F(2);
  rp.time_constant_s = F(5);
  rp.dead_time_s = F(0.3);
  rp.sample_period_s = F(0.1);
  rp.noise_sigma = F(0.1);
  rp.bias_time_constant_s = F(600);
  two_input_box(ResponseModelChecker<F, 8>(rp, CusumDetector<F>(F(0.5), F(8))),
                [](ResponseModelChecker<F, 8>& b, const Sample<F>& u, const Sample<F>& pv) {
                  return b.update(u, pv);
                },
                F(1), F(2), 1u, 2u, "response_model", true);
}

TEST_CASE("a scan at the end of int64 time is a gap for the response-model checker (regression)") {
  // (t - model_time + period / 2) overflowed (undefined behaviour, UBSan in the sanitizer build).
  ResponseModelParams<F> rp;
  rp.sample_period_s = F(0.1);
  ResponseModelChecker<F, 8> b(rp, CusumDetector<F>(F(0.5), F(8)));
  for (std::int64_t k = 0; k < 10; ++k)
    REQUIRE(b.update(Timestamp{1000000 + k * 100000}, F(1), F(1)).status == Status::ok);
  const auto d = b.update(Timestamp{kEndOfTime}, F(1), F(1));
  CHECK(d.status == Status::gap);  // far more periods than max_catch_up_samples: re-aligned
  CHECK(b.model_time() == Timestamp{kEndOfTime});
  CHECK(b.update(Timestamp{kEndOfTime - 1}, F(1), F(1)).status == Status::time_backwards);
}

TEST_CASE("hostile setpoints into the setpoint envelope") {
  SetpointEnvelopeParams<F> p;
  p.min_setpoint = F(0);
  p.max_setpoint = F(5);
  p.max_rate_per_s = F(0.5);
  p.max_step = F(1);
  p.max_ratio = F(3);
  p.baseline_time_constant_s = F(3600);
  sample_box(SetpointEnvelope<F>(p), "setpoint_envelope", true);
  // An extreme setpoint is judged (alarm on all criteria), not learned into the baseline.
  SetpointEnvelope<F> env(p);
  std::int64_t t = 1000000;
  for (int i = 0; i < 5; ++i, t += 100000) env.update(Timestamp{t}, F(1));
  const F baseline = env.baseline();
  const auto d = env.update(Timestamp{t}, L::max());
  CHECK(d.alarm);
  CHECK(d.violated(SetpointCriterion::limits));
  CHECK(d.cause == Cause::suspected_attack);
  CHECK(env.baseline() == baseline);
}

TEST_CASE("hostile scans into the hysteresis rule checker") {
  using H = HysteresisRuleChecker<F>;
  H box(F(1), F(3), HysteresisSense::on_below_low, Duration::from_ms(500), F(0.1));
  std::int64_t t = 1000000;
  for (int i = 0; i < 20; ++i, t += 100000)  // above the band: pump must be off
    REQUIRE(box.update(Sample<F>{Timestamp{t}, F(3.5)}, Sample<bool>{Timestamp{t}, false}).status ==
            Status::ok);
  REQUIRE(box.expected() == ExpectedState::off);
  const Timestamp now{t};
  for (F v : non_finite) {
    const Snapshot<H> s(box);
    const auto d = box.update(Sample<F>{now, v}, Sample<bool>{now, true});
    check_refused(d, Status::not_finite);
    CHECK(d.refused_inputs == 1u);
    CHECK(s.same(box));
  }
  for (Quality q : {Quality::bad, Quality::missing}) {
    const Snapshot<H> s(box);
    const auto d1 = box.update(Sample<F>{now, F(2), q}, Sample<bool>{now, true});
    check_refused(d1, q == Quality::bad ? Status::bad_quality : Status::missing);
    CHECK(d1.refused_inputs == 1u);
    const auto d2 = box.update(Sample<F>{now, F(2)}, Sample<bool>{now, true, q});
    check_refused(d2, q == Quality::bad ? Status::bad_quality : Status::missing);
    CHECK(d2.refused_inputs == 2u);
    CHECK(s.same(box));
  }
  for (Timestamp bt : {Timestamp{t - 100000}, Timestamp{0},
                       Timestamp{std::numeric_limits<std::int64_t>::min()}}) {
    const Snapshot<H> s(box);
    const auto d = box.update(bt, F(2), true);
    CHECK((d.status == Status::time_backwards || d.status == Status::time_repeated));
    CHECK(d.kind == FindingKind::timing);
    CHECK(s.same(box));
  }
  for (F v : extreme) {  // a level is only compared with the thresholds: never NaN, never stuck
    H b = box;
    CAPTURE(v);
    CHECK(is_used(b.update(now, v, false).status));
    CHECK(is_used(b.update(Timestamp{t + 100000}, F(3.5), false).status));
    CHECK(b.expected() == ExpectedState::off);
  }
  // Pump forced on above the off level, then a jump to the end of time: a long violation with
  // a finite score (mismatch duration / tolerance), cause suspected_attack.
  H b = box;
  CHECK_FALSE(b.update(now, F(3.5), true).alarm);
  const auto far = b.update(Timestamp{kEndOfTime}, F(3.5), true);
  CHECK(far.alarm);
  CHECK(far.cause == Cause::suspected_attack);
  CHECK(is_finite(far.score));
  CHECK(far.score > F(1e12));
}

TEST_CASE("hostile samples and long gaps into the valve checker") {
  using V = ValveCommandResponseChecker<F>;
  V valve(Duration::from_ms(100), Duration::from_ms(2000), Duration::from_ms(1500));
  std::int64_t t = 1000000;
  for (int i = 0; i < 10; ++i, t += 100000) valve.update(Timestamp{t}, false, false, true);
  const Timestamp now{t};
  for (Quality q : {Quality::bad, Quality::missing}) {
    for (int input = 0; input < 3; ++input) {
      const Snapshot<V> s(valve);
      const auto d = valve.update(Sample<bool>{now, true, input == 0 ? q : Quality::good},
                                  Sample<bool>{now, false, input == 1 ? q : Quality::good},
                                  Sample<bool>{now, true, input == 2 ? q : Quality::good});
      check_refused(d, q == Quality::bad ? Status::bad_quality : Status::missing);
      CHECK(d.refused_inputs == (1u << input));
      CHECK(s.same(valve));
    }
  }
  // A 32-bit microsecond counter wrapping while the valve opens: time stays monotonic, the
  // response is judged by the unwrapped times (opened after 1 s: fine, no alarm).
  CounterUnwrapper<std::uint32_t> clock;
  V v2(Duration::from_ms(100), Duration::from_ms(2000), Duration::from_ms(1500));
  std::uint32_t raw = 0xFFFF0000u;  // 65 ms before the wrap
  Timestamp tw = clock.extend(raw);
  v2.update(tw, false, false, true);
  for (int i = 0; i < 20; ++i) {
    raw += 100000u;  // wraps at i = 0
    tw = clock.extend(raw);
    const bool open_ls = i >= 10;
    const auto d = v2.update(tw, true, open_ls, i < 2);
    CHECK(d.status == Status::ok);
    CHECK_FALSE(d.alarm);
  }
  // A gap of 10^6 s while the valve travels: stuck in travel with a large finite score.
  V v3 = valve;
  v3.update(Timestamp{t}, true, false, false);
  const auto stuck = v3.update(Timestamp{t + 1000000LL * 1000000LL}, true, false, false);
  CHECK(stuck.alarm);
  CHECK(stuck.condition == CommandResponseCondition::stuck_in_travel);
  CHECK(stuck.cause == Cause::process_fault);
  CHECK(is_finite(stuck.score));
  CHECK(stuck.score > F(1e5));
}

// --- estimators -----------------------------------------------------------------------------------

namespace {

/// EKF / UKF over the orifice tank measuring level and outflow (1 state, 1 input, 2 measurements).
template <typename Filter>
void nonlinear_filter_box(Filter f, const char* name) {
  const std::string box_name(name);
  CAPTURE(box_name);
  using U = typename Filter::InputVector;
  using Z = typename Filter::MeasurementVector;
  const U u = U::Constant(F(2e-3));
  for (int k = 0; k < 30; ++k) {
    REQUIRE(f.predict(u, F(1)) == Status::ok);
    f.update(f.model().template measure<F>(f.state()));
  }
  const Z z_ok = f.model().template measure<F>(f.state());
  for (F v : non_finite) {
    const Snapshot<Filter> s(f);
    CHECK(f.update(Z(v, z_ok(1))).status == Status::not_finite);
    CHECK(f.update(Z(z_ok(0), v), 0b11u).status == Status::not_finite);
    CHECK(f.predict(U::Constant(v), F(1)) == Status::not_finite);
    CHECK(f.predict(u, v) == Status::not_finite);
    CHECK(f.predict(u, F(1), Filter::StateMatrix::Constant(v)) == Status::not_finite);
    CHECK(f.reset(Filter::StateVector::Constant(v), f.covariance()) == Status::not_finite);
    CHECK(f.reset(f.state(), Filter::StateMatrix::Constant(v)) == Status::not_finite);
    CHECK(s.same(f));
    // A NaN in a component that is masked out does not matter.
    Filter g = f;
    const auto rec = g.update(Z(z_ok(0), v), 0b01u);
    CHECK(rec.status == Status::ok);
    CHECK(rec.dof == 1);
  }
  {
    const Snapshot<Filter> s(f);
    CHECK(f.predict(u, F(-1)) == Status::invalid_argument);  // time going backwards
    CHECK(f.predict(u, F(1), Filter::StateMatrix::Constant(-F(1e-9))) == Status::invalid_argument);
    typename Filter::MeasurementCovariance R_bad = f.measurement_noise();
    R_bad(1, 1) = -R_bad(1, 1);
    CHECK(f.set_measurement_noise(R_bad) == Status::invalid_argument);
    CHECK(f.reset(f.state(), -f.covariance()) == Status::invalid_argument);
    CHECK(f.update(z_ok, 0u).status == Status::missing);
    CHECK(s.same(f));
  }
  for (F v : extreme) {
    CAPTURE(v);
    Filter g = f;
    const Snapshot<Filter> s(g);
    const auto rec = g.update(Z(v, v));
    if (!rec.accepted) CHECK(s.same(g));
    CHECK(all_finite(g.state()));
    CHECK(all_finite(g.covariance()));
    Filter h = f;
    const Snapshot<Filter> sh(h);
    const Status st = h.predict(U::Constant(v), F(1));
    if (st != Status::ok) CHECK(sh.same(h));
    CHECK(all_finite(h.state()));
    CHECK(all_finite(h.covariance()));
  }
  // Time steps near the limits: a 10^6 s step (tank drains or fills to equilibrium, variance grows
  // by the random-walk density * dt) is fine; FLT_MAX seconds overflows and is refused.
  {
    Filter g = f;
    CHECK(g.predict(u, F(1e6)) == Status::ok);
    CHECK(all_finite(g.state()));
    CHECK(g.covariance()(0, 0) > f.covariance()(0, 0));
    Filter h = f;
    const Snapshot<Filter> s(h);
    const Status st = h.predict(u, L::max());
    if (st != Status::ok) CHECK(s.same(h));
    CHECK(all_finite(h.state()));
    CHECK(all_finite(h.covariance()));
  }
}

}  // namespace

TEST_CASE("hostile inputs into the extended and the unscented Kalman filter") {
  using Tank = OrificeTank<F, true>;
  const Tank tank(physguard_test::TankScenario::parameters<F>(0.6, 4));
  using EKF = ExtendedKalmanFilter<Tank>;
  using UKF = UnscentedKalmanFilter<Tank>;
  EKF::MeasurementCovariance R = EKF::MeasurementCovariance::Zero();
  R(0, 0) = F(9e-6);
  R(1, 1) = F(1e-8);
  nonlinear_filter_box(EKF(tank, R, EKF::StateVector::Constant(F(0.5)), EKF::StateMatrix::Constant(F(1e-4))),
                       "ekf");
  nonlinear_filter_box(UKF(tank, R, UKF::StateVector::Constant(F(0.5)), UKF::StateMatrix::Constant(F(1e-4))),
                       "ukf");
}

TEST_CASE("the unscented filter refuses a covariance without a Cholesky factor") {
  // Pairwise correlations of +-1 that no joint distribution has (x0 = -x1, x0 = x2, x1 = x2):
  // every 2x2 block is valid, so conditioning keeps it, but P is indefinite.
  using M = physguard_test::LinearModel3<F>;
  using UKF = UnscentedKalmanFilter<M>;
  UKF f(M{}, UKF::StateMatrix::Identity() * F(1e-3), UKF::MeasurementCovariance::Identity() * F(1e-2),
        UKF::StateVector::Zero(), UKF::StateMatrix::Identity());
  UKF::StateMatrix P;
  P << 1, -1, 1, -1, 1, 1, 1, 1, 1;
  REQUIRE(f.reset(UKF::StateVector::Zero(), P) == Status::ok);
  const Snapshot<UKF> s(f);
  CHECK(f.predict(UKF::InputVector::Zero(), F(0.1)) == Status::not_positive_definite);
  CHECK(f.update(UKF::MeasurementVector::Zero()).status == Status::not_positive_definite);
  CHECK(s.same(f));
  // A valid reset brings it back.
  CHECK(f.reset(UKF::StateVector::Zero(), UKF::StateMatrix::Identity()) == Status::ok);
  CHECK(f.predict(UKF::InputVector::Zero(), F(0.1)) == Status::ok);
}

TEST_CASE("hostile inputs into the steady-state Kalman filter") {
  using SS = SteadyStateKalmanFilter<F, 2, 1, 1>;
  SS::Model m;
  m.A << 1, F(0.1), 0, 1;
  m.B << 0, F(0.1);
  m.C << 1, 0;
  SS f(m, SS::StateMatrix::Identity() * F(1e-4), SS::MeasurementCovariance::Constant(F(1e-2)));
  REQUIRE(f.ok());
  for (int k = 0; k < 20; ++k) {
    f.predict(SS::InputVector::Constant(F(0.01)));
    f.update(SS::MeasurementVector::Constant(F(0.001) * static_cast<F>(k)));
  }
  for (F v : non_finite) {
    const Snapshot<SS> s(f);
    CHECK(f.update(SS::MeasurementVector::Constant(v)).status == Status::not_finite);
    CHECK(f.predict(SS::InputVector::Constant(v)) == Status::not_finite);
    // Regression: reset() took any x0, so one NaN poisoned the state for good.
    CHECK(f.reset(SS::StateVector::Constant(v)) == Status::not_finite);
    CHECK(s.same(f));
  }
  for (F v : extreme) {
    CAPTURE(v);
    SS g = f;
    const Snapshot<SS> s(g);
    const auto rec = g.update(SS::MeasurementVector::Constant(v));
    if (!rec.accepted) CHECK(s.same(g));
    CHECK(all_finite(g.state()));
    CHECK_FALSE(is_nan(rec.nis));
    SS h = f;
    const Snapshot<SS> sh(h);
    if (h.predict(SS::InputVector::Constant(v)) != Status::ok) CHECK(sh.same(h));
    CHECK(all_finite(h.state()));
  }
  {  // FLT_MAX is far outside the gate: reported, not fused
    SS g = f;
    const auto rec = g.update(SS::MeasurementVector::Constant(L::max()));
    CHECK((rec.status == Status::rejected_by_gate || rec.status == Status::numerical_failure));
    CHECK_FALSE(rec.accepted);
  }
  // A model whose DARE has no solution (unobservable unstable mode): everything refused.
  SS::Model bad = m;
  bad.A << F(1.5), 0, 0, F(1.5);
  bad.C << 1, 0;
  SS broken(bad, SS::StateMatrix::Identity() * F(1e-4), SS::MeasurementCovariance::Constant(F(1e-2)));
  CHECK_FALSE(broken.ok());
  CHECK(broken.predict() == broken.status());
  CHECK(broken.update(SS::MeasurementVector::Constant(F(1))).status == broken.status());
  CHECK(broken.state() == SS::StateVector::Zero());
  // A negative variance in Q: the DARE refuses it (it used to report ok with a negative P).
  SS::StateMatrix Q_neg = SS::StateMatrix::Identity() * F(1e-3);
  Q_neg(1, 1) = -F(1e-4);
  SS negative(m, Q_neg, SS::MeasurementCovariance::Constant(F(1e-2)));
  CHECK(negative.status() == Status::invalid_argument);
  CHECK(solve_dare(m.A, m.C, Q_neg, SS::MeasurementCovariance::Constant(F(1e-2))).status ==
        Status::invalid_argument);
}

TEST_CASE("time faults and long gaps into the timed Kalman filter") {
  using TF = TimedKalmanFilter<RandomWalk<F>>;
  const F q = F(1e-4);
  TimedFilterOptions timing;
  timing.max_gap = Duration::from_seconds(10);
  TF f(RandomWalk<F>(q), TF::MeasurementCovariance::Constant(F(1e-2)), TF::StateVector::Zero(),
       TF::StateMatrix::Identity(), timing);
  std::int64_t t = 1000000;
  for (int i = 0; i < 20; ++i, t += 100000)
    REQUIRE(f.step(Timestamp{t}, TF::MeasurementVector::Constant(F(0.01))).status == Status::ok);
  const Timestamp last{t - 100000};
  for (Timestamp bt : {last, Timestamp{last.us - 1}, Timestamp{0},
                       Timestamp{std::numeric_limits<std::int64_t>::min()}}) {
    const Snapshot<TF> s(f);
    const auto rec = f.step(bt, TF::MeasurementVector::Constant(F(0.01)));
    CAPTURE(bt.us);
    CHECK((rec.status == Status::time_backwards || rec.status == Status::time_repeated));
    CHECK_FALSE(rec.accepted);
    CHECK(s.same(f));
  }
  for (F v : non_finite) {  // refused, and the time is not taken: the next sample predicts over all
    const Snapshot<TF> s(f);
    CHECK(f.step(Timestamp{t}, TF::MeasurementVector::Constant(v)).status == Status::not_finite);
    CHECK(s.same(f));
  }
  // Inflate policy, a gap of 10^6 s: the prior variance is P + q dt (exact for a random walk).
  {
    TF g = f;
    const F p_before = g.covariance()(0, 0);
    const std::int64_t gap_us = 1000000LL * 1000000LL;
    TF::MeasurementVector z = TF::MeasurementVector::Constant(F(0.01));
    const auto rec = g.step(Timestamp{last.us + gap_us}, z);
    CHECK(rec.status == Status::gap);
    CHECK(g.gap_count() == 1);
    const F prior = p_before + q * F(1e6);
    CHECK(rec.S(0, 0) == doctest::Approx(prior + F(1e-2)).epsilon(1e-5));
    CHECK(is_finite(g.covariance()(0, 0)));
    // And on to the end of int64 time (2.9e5 years later): still finite, still a gap.
    const auto rec2 = g.step(Timestamp{kEndOfTime}, z);
    CHECK(rec2.status == Status::gap);
    CHECK(all_finite(g.state()));
    CHECK(all_finite(g.covariance()));
    CHECK(g.step(Timestamp{kEndOfTime}, z).status == Status::time_repeated);
  }
  // Reinitialise policy: after the gap the covariance restarts from P0 = 1 before the update.
  {
    timing.gap_policy = GapPolicy::reinitialise;
    TF g(RandomWalk<F>(q), TF::MeasurementCovariance::Constant(F(1e-2)), TF::StateVector::Zero(),
         TF::StateMatrix::Identity(), timing);
    g.step(Timestamp{t}, TF::MeasurementVector::Constant(F(0.5)));
    const auto rec = g.step(Timestamp{kEndOfTime}, TF::MeasurementVector::Constant(F(0.5)));
    CHECK(rec.status == Status::gap);
    CHECK(rec.S(0, 0) == doctest::Approx(F(1) + F(1e-2)));
  }
  // A 32-bit microsecond clock wrapping: continuous, no gap, no refusal.
  {
    CounterUnwrapper<std::uint32_t> clock;
    TF g(RandomWalk<F>(q), TF::MeasurementCovariance::Constant(F(1e-2)), TF::StateVector::Zero(),
         TF::StateMatrix::Identity(), timing);
    std::uint32_t raw = 0xFFF00000u;
    for (int i = 0; i < 40; ++i, raw += 100000u)
      CHECK(g.step(clock.extend(raw), TF::MeasurementVector::Constant(F(0.01))).status == Status::ok);
    CHECK(g.gap_count() == 0);
  }
}

TEST_CASE("condition_covariance clamps correlations whose squares overflow (regression)") {
  // |P_ij|^2 and P_ii P_jj both overflowed to +inf, so a correlation of -510 was not clamped and
  // P stayed indefinite (found by fuzzing a 3-state float EKF).
  Eigen::Matrix<F, 3, 3> P;
  P << F(68.4), F(-6.8e-6), F(-9471), F(-6.8e-6), F(4.72e21), F(-1.58e29), F(-9471), F(-1.58e29),
      F(2.03e31);
  detail::condition_covariance(P, F(1e-12));
  const double b12 = std::sqrt(4.72e21) * std::sqrt(2.03e31);
  CHECK(static_cast<double>(P(1, 2)) == doctest::Approx(-b12).epsilon(1e-6));
  CHECK(P(2, 1) == P(1, 2));
  CHECK(P(0, 1) == F(-6.8e-6));  // valid correlations untouched
  // A finite case keeps its old arithmetic: the bound is sqrt(P_ii P_jj).
  Eigen::Matrix<F, 2, 2> Q;
  Q << F(4), F(7), F(7), F(9);
  detail::condition_covariance(Q, F(1e-12));
  CHECK(Q(0, 1) == std::sqrt(F(36)));
}

namespace {

// condition_covariance as documented, written plainly: average the pairs, floor the diagonal, then
// for every pair clamp |P_ij| to sqrt(P_ii P_jj) (to sqrt(P_ii) sqrt(P_jj) when the squares
// overflow); NaN pairs are left alone.
template <typename T, int N>
void plain_conditioning(Eigen::Matrix<T, N, N>& P, T floor) {
  for (int i = 0; i < N; ++i)
    for (int j = i + 1; j < N; ++j) P(i, j) = P(j, i) = T(0.5) * (P(i, j) + P(j, i));
  for (int i = 0; i < N; ++i)
    if (P(i, i) < floor) P(i, i) = floor;
  for (int i = 0; i < N; ++i)
    for (int j = i + 1; j < N; ++j) {
      const T sq = P(i, j) * P(i, j), bound = P(i, i) * P(j, j);
      T b;
      if (sq > bound) {
        b = std::sqrt(bound);
      } else if (std::isinf(sq)) {
        b = std::sqrt(P(i, i)) * std::sqrt(P(j, j));
        if (!(std::abs(P(i, j)) > b)) continue;
      } else {
        continue;
      }
      P(i, j) = P(j, i) = P(i, j) > T(0) ? b : -b;
    }
}

template <typename T, int N>
bool same_bits(const Eigen::Matrix<T, N, N>& a, const Eigen::Matrix<T, N, N>& b) {
  return std::memcmp(a.data(), b.data(), sizeof(T) * N * N) == 0;
}

// Random symmetric matrices, mostly valid covariances, with hostile entries planted: a
// correlation just above 1 (by one ulp or by a factor), a variance below the floor, squares that
// overflow, infinities and NaNs, anywhere in the matrix.
template <typename T, int N>
void check_conditioning_screen(std::uint64_t seed) {
  using M = Eigen::Matrix<T, N, N>;
  using Lim = std::numeric_limits<T>;
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::uniform_int_distribution<int> idx(0, N - 1), kind(0, 9);
  const T floor = T(1e-12);
  const T big = T(std::sqrt(double(Lim::max())) * 4.0);  // its square overflows
  int clamped = 0, untouched = 0, non_finite_results = 0;
  for (int trial = 0; trial < 4000; ++trial) {
    Eigen::Matrix<double, N, N> G;
    for (int i = 0; i < N; ++i)
      for (int j = 0; j < N; ++j) G(i, j) = u(rng);
    M P = (G * G.transpose() + 0.1 * Eigen::Matrix<double, N, N>::Identity()).template cast<T>();
    for (int i = 0; i < N; ++i)
      for (int j = i + 1; j < N; ++j) P(j, i) = P(i, j);
    const int plants = trial % 4;  // 0: a valid covariance as it is
    for (int p = 0; p < plants; ++p) {
      int i = idx(rng), j = idx(rng);
      if (i == j) j = (i + 1) % N;
      const T bound = std::sqrt(P(i, i) * P(j, j));
      T v = P(i, j);
      switch (kind(rng)) {
        case 0: v = std::nextafter(bound, Lim::infinity()); break;
        case 1: v = -bound * T(1.5); break;
        case 2: P(i, i) = -T(3); break;             // below the floor
        case 3: P(i, i) = T(0); break;              // floored to 1e-12
        case 4: P(i, i) = big; P(j, j) = big; v = big * T(2); break;  // squares overflow
        case 5: P(i, i) = big; break;               // P_ii P_jj overflows
        case 6: v = Lim::infinity(); break;
        case 7: v = Lim::quiet_NaN(); break;
        case 8: P(i, i) = Lim::quiet_NaN(); break;
        default: P(i, i) = Lim::infinity(); break;
      }
      P(i, j) = P(j, i) = v;
    }
    // Sometimes break the symmetry a little (the averaging must still happen first).
    if (trial % 7 == 3) P(0, N - 1) = std::nextafter(P(0, N - 1), Lim::infinity());
    M expected = P;
    plain_conditioning(expected, floor);
    M got = P;
    const bool finite = detail::condition_covariance(got, floor);
    CAPTURE(trial);
    REQUIRE(same_bits(got, expected));
    REQUIRE(finite == all_finite(expected));
    if (P == P.transpose()) {  // the variant for a matrix that is exactly symmetric already
      M sym = P;
      REQUIRE(detail::condition_covariance<T, N, true>(sym, floor) == finite);
      REQUIRE(same_bits(sym, expected));
    }
    const bool changed = !same_bits(got, P);
    clamped += plants > 0 && changed;
    untouched += plants == 0 && P == P.transpose() && !changed;
    non_finite_results += !finite;
  }
  CHECK(clamped > 1000);
  CHECK(untouched > 800);  // valid symmetric covariances come through bit for bit
  CHECK(non_finite_results > 300);
}

template <typename T, int Rows, int Cols>
void check_all_finite_everywhere() {
  using Lim = std::numeric_limits<T>;
  const T specials[] = {Lim::infinity(), -Lim::infinity(), Lim::quiet_NaN(), -Lim::quiet_NaN(),
                        Lim::signaling_NaN(), Lim::max(), Lim::lowest(), Lim::denorm_min(),
                        -Lim::denorm_min(), Lim::min(), T(-0.0), T(0)};
  Eigen::Matrix<T, Rows, Cols> m;
  for (int i = 0; i < Rows * Cols; ++i) m.data()[i] = T(0.25) * T(i) - T(3);
  CHECK(all_finite(m));
  for (int pos = 0; pos < Rows * Cols; ++pos)
    for (const T v : specials) {
      Eigen::Matrix<T, Rows, Cols> w = m;
      w.data()[pos] = v;
      const bool expected = std::all_of(w.data(), w.data() + Rows * Cols,
                                        [](T x) { return std::isfinite(x); });
      REQUIRE(all_finite(w) == expected);
    }
}

}  // namespace

TEST_CASE_TEMPLATE("condition_covariance: the screen before the pair loop changes no result", T,
                   float, double) {
  check_conditioning_screen<T, 3>(21);
  check_conditioning_screen<T, 4>(22);
  check_conditioning_screen<T, 8>(23);
}

TEST_CASE_TEMPLATE("all_finite agrees with std::isfinite for a special value at any position", T,
                   float, double) {
  check_all_finite_everywhere<T, 1, 1>();
  check_all_finite_everywhere<T, 3, 1>();
  check_all_finite_everywhere<T, 8, 8>();
  check_all_finite_everywhere<T, 5, 7>();
  Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic> empty;
  CHECK(all_finite(empty));
}

// --- compose: a Monitor, the 4-20 mA input ----------------------------------------------------------

TEST_CASE("a hostile sample on one channel of a Monitor touches only that channel") {
  using Cusum = Pipeline<StandardizedSample<F>, CusumDetector<F>>;
  auto mon = make_monitor<2>(
      FindingRing<F, 16>{},
      Cusum(StandardizedSample<F>(F(0), F(1)), CusumDetector<F>(F(0.5), F(4)), AlarmConfig<F>{}, 0),
      Cusum(StandardizedSample<F>(F(0), F(1)), CusumDetector<F>(F(0.5), F(4)), AlarmConfig<F>{}, 1));
  std::int64_t t = 1000000;
  for (int i = 0; i < 10; ++i, t += 100000) {
    mon.feed(0, Sample<F>{Timestamp{t}, F(0.2)});
    mon.feed(1, Sample<F>{Timestamp{t}, F(0.2)});
  }
  using P0 = std::remove_reference_t<decltype(mon.detector<0>())>;
  const Snapshot<P0> other(mon.detector<1>());
  const CusumDetector<F> stat0 = mon.detector<0>().statistic();
  std::uint32_t refused = 0;
  for (F v : non_finite) {
    const FeedResult r = mon.feed(0, Sample<F>{Timestamp{t}, v});
    ++refused;
    CHECK(r.refused);
    CHECK(r.findings == 1);
    Finding<F> f;
    REQUIRE(mon.sink().pop(f));
    CHECK(f.kind == FindingKind::bad_input);
    CHECK(f.cause == Cause::sensor_fault);
    CHECK(f.status == Status::not_finite);
    CHECK(f.channel == 0);
  }
  // Regression: a sample older than the last one moved the CUSUM before the alarm logic refused
  // its time; it is now refused before the statistic sees it.
  const FeedResult back = mon.feed(0, Sample<F>{Timestamp{t - 500000}, F(3)});
  ++refused;
  CHECK(back.refused);
  Finding<F> f;
  REQUIRE(mon.sink().pop(f));
  CHECK(f.status == Status::time_backwards);
  CHECK(f.kind == FindingKind::bad_input);
  CHECK(std::memcmp(&stat0, &mon.detector<0>().statistic(), sizeof stat0) == 0);
  CHECK(mon.counters(0).refused == refused);
  CHECK(other.same(mon.detector<1>()));
  CHECK(mon.counters(1).refused == 0);
  // A channel the monitor does not have: counted, nothing else changes.
  const FeedResult unknown = mon.feed(7, Sample<F>{Timestamp{t}, F(1)});
  CHECK(unknown.status == Status::invalid_argument);
  CHECK(mon.unknown_channel() == 1);
  CHECK(other.same(mon.detector<1>()));
  // Extreme values: judged (alarm), no NaN; normal samples are used again afterwards.
  for (F v : extreme) {
    auto m2 = mon;
    CAPTURE(v);
    m2.feed(0, Sample<F>{Timestamp{t}, v});
    CHECK_FALSE(is_nan(m2.detector<0>().statistic().statistic()));
    const FeedResult r = m2.feed(0, Sample<F>{Timestamp{t + 100000}, F(0.2)});
    CHECK_FALSE(r.refused);
    CHECK(is_used(m2.detector<0>().last_decision().status));
  }
}

TEST_CASE("hostile currents into the 4-20 mA input") {
  const CurrentLoopInput<F> loop(F(0), F(5));
  struct Row {
    F current_mA;
    LoopFault fault;
    Status status;
    Quality quality;
  };
  const Row rows[] = {
      {L::quiet_NaN(), LoopFault::not_finite, Status::not_finite, Quality::bad},
      {L::infinity(), LoopFault::not_finite, Status::not_finite, Quality::bad},
      {-L::infinity(), LoopFault::not_finite, Status::not_finite, Quality::bad},
      {L::max(), LoopFault::short_circuit, Status::out_of_range, Quality::bad},
      {L::lowest(), LoopFault::wire_break, Status::out_of_range, Quality::bad},
      {L::denorm_min(), LoopFault::wire_break, Status::out_of_range, Quality::bad},
      {-L::denorm_min(), LoopFault::wire_break, Status::out_of_range, Quality::bad},
      {F(3.7), LoopFault::ambiguous_low, Status::out_of_range, Quality::bad},
      {F(3.9), LoopFault::under_range, Status::ok, Quality::uncertain},
      {F(12), LoopFault::none, Status::ok, Quality::good},
      {F(20.7), LoopFault::ambiguous_high, Status::out_of_range, Quality::bad},
  };
  for (const Row& row : rows) {
    CAPTURE(row.current_mA);
    const LoopReading<F> r = loop.convert(row.current_mA, Timestamp{123});
    CHECK(r.fault == row.fault);
    CHECK(r.status == row.status);
    CHECK(r.sample.quality == row.quality);
    CHECK(r.sample.time == Timestamp{123});
    if (row.status == Status::ok) {
      CHECK(screen(r.sample) == Status::ok);
      CHECK(is_finite(r.sample.value));
    } else {
      // Every detector's screen refuses it, whatever the converted value (inf for FLT_MAX mA).
      CHECK(screen(r.sample) != Status::ok);
      CHECK(r.cause == Cause::sensor_fault);
      const Finding<F> f = make_finding(r, loop.bands(), 3);
      CHECK(f.kind == FindingKind::bad_input);
      CHECK(f.cause == Cause::sensor_fault);
      CHECK(f.state == AlarmState::alarm);
    }
  }
}
