// Hostile input, table-driven over the public update paths (float; the Kalman filter in double
// too): NaN, +-inf, subnormals, values near the type's limits, timestamps going back, repeating,
// jumping and near the int64 limits, counter wrap-around and very long gaps.
//
// Rules checked for every box:
//  - a non-finite value, a bad / missing sample or a timestamp going back or repeating is refused
//    with a status, the box is bit-identical afterwards, and the decision / finding says bad_input
//    (kind) with cause sensor_fault (the signal is broken, not the process);
//  - a finite but extreme value (FLT_MAX, subnormal) never produces a NaN score or a NaN in the
//    state, and the box still gives finite scores for normal samples afterwards (no poisoning) —
//    an extreme value is either refused or judged (alarm), never silently absorbed into NaN;
//  - a long gap is accepted (gap status where the box checks gaps), never corrupts the state.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>

#include <physguard/compose/alarm_logic.hpp>
#include <physguard/compose/scalar_channel.hpp>
#include <physguard/consistency/command_response.hpp>
#include <physguard/core/time.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/ewma.hpp>
#include <physguard/detect/noise_change.hpp>
#include <physguard/detect/page_hinkley.hpp>
#include <physguard/detect/range_check.hpp>
#include <physguard/detect/rate_check.hpp>
#include <physguard/detect/staleness.hpp>
#include <physguard/detect/stuck_at.hpp>
#include <physguard/detect/threshold.hpp>
#include <physguard/detect/windowed_chi_square.hpp>
#include <physguard/estimate/kalman_filter.hpp>

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
    c2.update(cfg, Sample<F>{Timestamp{t}, v});
    CHECK(is_finite(c2.state_estimate()));
    CHECK(is_finite(c2.variance()));
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
