// SetpointEnvelope: the Oldsmar case trips limits, rate and ratio at once; legitimate small
// operator changes over two days do not; a slow ramp inside the rate limit is caught by the
// ratio; the baseline is frozen while in alarm; scores equal a straightforward reference; bad
// input is refused with the state unchanged; no heap.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <string>

#include <physguard/consistency/setpoint_envelope.hpp>
#include <physguard/core.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

Timestamp at(double s) { return Timestamp::from_seconds(s); }

// Sodium hydroxide dosing setpoint in ppm, as at Oldsmar: normally ~100 ppm.
template <typename T>
SetpointEnvelopeParams<T> naoh_params() {
  SetpointEnvelopeParams<T> p;
  p.min_setpoint = T(50);
  p.max_setpoint = T(200);
  p.max_rate_per_s = T(0.5);  // sustained: 30 ppm per minute at most
  p.max_step = T(20);         // an operator may type a value up to 20 ppm away at once
  p.max_ratio = T(1.5);       // within [b / 1.5, 1.5 b] of the usual value
  p.baseline = T(100);
  p.baseline_time_constant_s = T(86400);  // one day
  return p;
}

template <typename T>
bool same(const SetpointDecision<T>& a, const SetpointDecision<T>& b) {
  return a.time == b.time && a.score == b.score && a.alarm == b.alarm && a.status == b.status &&
         a.violations == b.violations && a.limit_score == b.limit_score &&
         a.rate_score == b.rate_score && a.ratio_score == b.ratio_score &&
         a.direction == b.direction && a.cause == b.cause;
}

}  // namespace

TEST_CASE_TEMPLATE("Oldsmar: 100 ppm -> 11,100 ppm trips every criterion", T, float, double) {
  SetpointEnvelope<T> env(naoh_params<T>());
  double t = 0.0;
  for (; t < 3600.0; t += 1.0) REQUIRE_FALSE(env.update(at(t), T(100)).alarm);
  const T baseline = env.baseline();
  CHECK(baseline == doctest::Approx(100.0));
  const auto d = env.update(at(t), T(11100));
  CHECK(d.status == Status::ok);
  CHECK(d.alarm);
  CHECK(d.kind == FindingKind::setpoint);
  CHECK(d.cause == Cause::suspected_attack);
  CHECK(d.direction == 1);
  CHECK(d.violated(SetpointCriterion::limits));
  CHECK(d.violated(SetpointCriterion::rate));
  CHECK(d.violated(SetpointCriterion::ratio));
  // Closed forms: limit 1 + (11100 - 200) / 150, rate 11000 / 20 (budget full), ratio 111 / 1.5.
  CHECK(d.limit_score == doctest::Approx(1.0 + 10900.0 / 150.0).epsilon(1e-5));
  CHECK(d.rate_score == doctest::Approx(11000.0 / 20.0).epsilon(1e-5));
  CHECK(d.ratio_score == doctest::Approx(111.0 / 1.5).epsilon(1e-4));
  CHECK(d.score == d.rate_score);
  CHECK(d.threshold == T(1));

  // The intruder leaves it there for an hour: limits and ratio keep alarming, the baseline does
  // not learn the attack.
  for (int i = 1; i <= 3600; ++i) {
    const auto e = env.update(at(t + i), T(11100));
    REQUIRE(e.alarm);
    REQUIRE(e.violated(SetpointCriterion::limits));
    REQUIRE(e.violated(SetpointCriterion::ratio));
    REQUIRE_FALSE(e.violated(SetpointCriterion::rate));  // no further change
  }
  CHECK(env.baseline() == baseline);  // bit-identical: frozen
  // The operator puts it back: one rate alarm for the step down, then normal.
  const auto back = env.update(at(t + 3601), T(100));
  CHECK(back.violations == static_cast<std::uint8_t>(SetpointCriterion::rate));
  CHECK(back.direction == 0);  // back at the baseline
  CHECK_FALSE(env.update(at(t + 3700), T(100)).alarm);
}

TEST_CASE_TEMPLATE("legitimate small operator changes over two days: no alarm", T, float, double) {
  SetpointEnvelope<T> env(naoh_params<T>());
  std::mt19937_64 rng(31);
  std::uniform_real_distribution<double> u01(0, 1);
  double sp = 100.0;
  double next_change = 1800.0;
  int alarms = 0, changes = 0;
  T worst = T(0);
  for (int k = 0; k < 2 * 86400 / 5; ++k) {  // every 5 s for 2 days
    const double t = 5.0 * k;
    if (t >= next_change) {
      // A trim of up to +-10 ppm, kept within 85 .. 120 ppm.
      double next = sp + 20.0 * (u01(rng) - 0.5);
      if (next > 120.0) next = 120.0;
      if (next < 85.0) next = 85.0;
      sp = next;
      ++changes;
      next_change += 1800.0 + 7200.0 * u01(rng);
    }
    const auto d = env.update(at(t), static_cast<T>(sp));
    REQUIRE(d.status == Status::ok);
    alarms += d.alarm;
    if (d.score > worst) worst = d.score;
  }
  CHECK(alarms == 0);
  CHECK(changes > 20);
  CHECK(worst < T(1));
  CHECK(env.baseline() > T(85));
  CHECK(env.baseline() < T(120));
}

TEST_CASE_TEMPLATE("slow ramp inside the rate limit is caught by the ratio", T, float, double) {
  SetpointEnvelope<T> env(naoh_params<T>());
  double t = 0.0;
  for (; t < 600.0; t += 1.0) env.update(at(t), T(100));
  double sp = 100.0;
  double tripped_at = -1.0;
  SetpointDecision<T> d;
  while (sp < 190.0) {
    t += 1.0;
    sp += 0.4;  // below 0.5 ppm/s
    d = env.update(at(t), static_cast<T>(sp));
    CHECK_FALSE(d.violated(SetpointCriterion::rate));
    CHECK_FALSE(d.violated(SetpointCriterion::limits));
    if (d.alarm && tripped_at < 0) tripped_at = sp;
  }
  CHECK(d.violated(SetpointCriterion::ratio));
  // The baseline learned almost nothing in 4 minutes before the trip: trips just above 150 ppm.
  CHECK(tripped_at > 150.0);
  CHECK(tripped_at < 151.0);
}

TEST_CASE_TEMPLATE("criterion scores equal a straightforward reference", T, float, double) {
  // Learned baseline from the first sample, plain rate check (max_step 0) and a token budget.
  for (T max_step : {T(0), T(3)}) {
    SetpointEnvelopeParams<T> p;
    p.min_setpoint = T(10);
    p.max_setpoint = T(30);
    p.max_rate_per_s = T(0.2);
    p.max_step = max_step;
    p.max_ratio = T(1.4);
    p.baseline = T(0);
    p.baseline_time_constant_s = T(600);
    SetpointEnvelope<T> env(p);
    std::mt19937_64 rng(41);
    std::uniform_real_distribution<double> u01(0, 1);
    // Reference state.
    T base = T(0), budget = max_step, last = T(0);
    bool has_base = false, first = true;
    double t = 0.0, last_t = 0.0;
    for (int k = 0; k < 3000; ++k) {
      t += 0.5 + 2.0 * u01(rng);
      const T sp = static_cast<T>(20.0 + 12.0 * (u01(rng) - 0.5) * (k % 7 == 0 ? 2.0 : 0.3));
      const auto d = env.update(at(t), sp);
      // Reference, written out.
      const T lim =
          std::max(sp - p.max_setpoint, p.min_setpoint - sp) / (p.max_setpoint - p.min_setpoint) +
          T(1);
      T rate = T(0);
      const T dt =
          static_cast<T>(Timestamp::from_seconds(t).us - Timestamp::from_seconds(last_t).us) *
          T(1e-6);
      if (!first) {
        const T refill = p.max_rate_per_s * dt;
        budget = std::min(std::max(max_step, refill), budget + refill);
        rate = std::fabs(sp - last) / budget;
        budget = std::max(T(0), budget - std::fabs(sp - last));
      }
      T ratio = T(0);
      if (has_base)
        ratio = std::max(sp, base) / std::max(std::min(sp, base), p.ratio_floor) / p.max_ratio;
      const bool alarm = lim > T(1) || rate > T(1) || ratio > T(1);
      REQUIRE(d.limit_score == doctest::Approx(lim).epsilon(1e-5));
      REQUIRE(d.rate_score == doctest::Approx(rate).epsilon(1e-4));
      REQUIRE(d.ratio_score == doctest::Approx(ratio).epsilon(1e-5));
      REQUIRE(d.alarm == alarm);
      if (!alarm) {
        if (!has_base) {
          base = sp;
          has_base = true;
        } else if (!first) {
          base += dt / (p.baseline_time_constant_s + dt) * (sp - base);
        }
      }
      REQUIRE(env.baseline() == doctest::Approx(base).epsilon(1e-5));
      last = sp;
      last_t = t;
      first = false;
    }
  }
}

TEST_CASE_TEMPLATE("setpoint envelope: bad input refused with state unchanged", T, float, double) {
  SetpointEnvelope<T> env(naoh_params<T>());
  for (int i = 0; i < 100; ++i) env.update(at(i), T(100 + (i % 3)));
  const auto before = env;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  auto d = env.update(at(100), nan);
  CHECK(d.status == Status::not_finite);
  CHECK_FALSE(d.alarm);
  CHECK(env.update(Sample<T>{at(100), T(120), Quality::bad}).status == Status::bad_quality);
  CHECK(env.update(Sample<T>{at(100), std::numeric_limits<T>::infinity(), Quality::good}).status ==
        Status::not_finite);
  d = env.update(at(50), T(100));
  CHECK(d.status == Status::time_backwards);
  CHECK(d.kind == FindingKind::timing);
  CHECK(env.update(at(99), T(100)).status == Status::time_repeated);
  auto copy = before;
  for (int i = 100; i < 400; ++i) {
    const T sp = i == 250 ? T(11100) : T(100 + (i % 5));
    REQUIRE(same(env.update(at(i), sp), copy.update(at(i), sp)));
  }
  CHECK(env.baseline() == copy.baseline());
  CHECK(env.rate_budget() == copy.rate_budget());
}

TEST_CASE_TEMPLATE("setpoint envelope: reset and set_baseline; no heap", T, float, double) {
  SetpointEnvelope<T> env(naoh_params<T>());
  env.update(at(0), T(100));
  CHECK(env.update(at(1), T(160)).violated(SetpointCriterion::ratio));
  env.set_baseline(T(160));  // operator confirms the new operating point
  CHECK_FALSE(env.update(at(100), T(160)).alarm);
  env.reset();
  CHECK(env.baseline() == T(100));
  CHECK(env.rate_budget() == T(20));

  physguard_test::HeapCounter heap;
  int alarms = 0;
  {
    NoMallocScope no_malloc;
    for (int i = 0; i < 20000; ++i) {
      const T sp = i == 15000 ? T(11100) : T(100);
      alarms += env.update(Sample<T>{at(200 + i), sp, Quality::good}).alarm;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(alarms > 0);
  CHECK(std::string(to_string(SetpointCriterion::ratio)) == "ratio");
}

TEST_CASE_TEMPLATE("learned baseline: a zero setpoint at start-up is not learned", T, float, double) {
  // A dosing pump that starts stopped (setpoint 0, allowed by min_setpoint = 0): the baseline is
  // learned from the first positive setpoint, so the normal value afterwards raises nothing.
  SetpointEnvelopeParams<T> p = naoh_params<T>();
  p.min_setpoint = T(0);
  p.baseline = T(0);          // learn it
  p.max_step = T(200);        // the pump may start at its setpoint at once
  p.max_rate_per_s = T(1000);
  SetpointEnvelope<T> env(p);
  for (int i = 0; i < 10; ++i) CHECK_FALSE(env.update(at(i), T(0)).alarm);
  CHECK_FALSE(env.has_baseline());
  CHECK_FALSE(env.update(at(10), T(100)).alarm);
  CHECK(env.has_baseline());
  CHECK(env.baseline() == T(100));
  for (int i = 11; i < 100; ++i) CHECK_FALSE(env.update(at(i), T(100)).alarm);
  // ... and the ratio criterion works against it: a hundredfold setpoint is caught.
  CHECK(env.update(at(100), T(11100)).violated(SetpointCriterion::ratio));
}
