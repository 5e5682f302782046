// Plausibility checks, part 1: range, rate, stuck-at, staleness, redundancy - each detects its
// fault or attack, stays quiet under realistic noise, refuses bad input with state unchanged and
// never touches the heap per sample.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <vector>

#include <physguard/core.hpp>
#include <physguard/detect.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

template <typename T>
Sample<T> at(std::int64_t t_us, T v, Quality q = Quality::good) {
  return Sample<T>{Timestamp::from_us(t_us), v, q};
}

// Bit-identical decisions (scores compared by representation, not with a tolerance).
template <typename D>
bool same_decision(const D& a, const D& b) {
  return a.time == b.time && std::memcmp(&a.score, &b.score, sizeof a.score) == 0 &&
         std::memcmp(&a.threshold, &b.threshold, sizeof a.threshold) == 0 && a.alarm == b.alarm &&
         a.status == b.status && a.kind == b.kind && a.cause == b.cause &&
         a.direction == b.direction;
}

// The bad samples every check must refuse, with the status it must give.
template <typename T>
struct BadCase {
  Sample<T> s;
  Status why;
};
template <typename T>
std::vector<BadCase<T>> bad_samples(std::int64_t t_us) {
  const T nan = std::numeric_limits<T>::quiet_NaN();
  const T inf = std::numeric_limits<T>::infinity();
  return {{at<T>(t_us, nan), Status::not_finite},
          {at<T>(t_us, inf), Status::not_finite},
          {at<T>(t_us, -inf), Status::not_finite},
          {at<T>(t_us, T(1), Quality::bad), Status::bad_quality},
          {at<T>(t_us, T(1), Quality::missing), Status::missing}};
}

// `probe` is refused a bad sample, `twin` is not: afterwards both must answer the same sequence
// with bit-identical decisions (the refused update changed nothing that matters, now or later).
template <typename Check, typename T, typename Next>
void check_refusal_leaves_state(Check& probe, const Sample<T>& bad, Status why, Next next,
                                int steps = 200) {
  Check twin = probe;
  const auto d = probe.update(bad);
  CHECK(d.status == why);
  CHECK_FALSE(d.alarm);
  for (int i = 0; i < steps; ++i) {
    const Sample<T> s = next();
    REQUIRE(same_decision(probe.update(s), twin.update(s)));
  }
}

double binomial_sd(double n, double p) { return std::sqrt(n * p * (1.0 - p)); }

}  // namespace

// ------------------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("RangeCheck: distance outside the range, normalised by the span", T, float,
                   double) {
  RangeCheck<T> range(T(0), T(4), T(0.05));  // a 4 m tank, 5 % of the span tolerated
  CHECK(std::string(RangeCheck<T>::name) == "range");
  auto d = range.update(at<T>(0, T(2)));
  CHECK(d.status == Status::ok);
  CHECK(d.score == T(0));
  CHECK_FALSE(d.alarm);
  CHECK(d.kind == FindingKind::plausibility);
  CHECK(d.cause == Cause::sensor_fault);
  d = range.update(at<T>(1, T(4.1)));  // 0.1 m = 2.5 % above: inside the margin
  CHECK(d.score == doctest::Approx(0.025).epsilon(1e-5));
  CHECK_FALSE(d.alarm);
  d = range.update(at<T>(2, T(4.4)));  // 10 % above
  CHECK(d.score == doctest::Approx(0.1).epsilon(1e-5));
  CHECK(d.alarm);
  CHECK(d.direction == 1);
  d = range.update(at<T>(3, T(-1)));  // wire break mapped below the bottom: 25 % below
  CHECK(d.score == doctest::Approx(0.25).epsilon(1e-6));
  CHECK(d.alarm);
  CHECK(d.direction == -1);

  // Realistic noise near the top of the range never trips a 5 % margin.
  std::mt19937_64 rng(11);
  std::normal_distribution<double> noise(0.0, 0.02);
  RangeCheck<T> quiet(T(0), T(4), T(0.05));
  int alarms = 0;
  for (int k = 0; k < 50000; ++k)
    alarms += quiet.update(at<T>(k, static_cast<T>(3.95 + noise(rng)))).alarm;
  CHECK(alarms == 0);

  for (const auto& b : bad_samples<T>(10)) {
    const T before = range.statistic();
    const auto r = range.update(b.s);
    CHECK(r.status == b.why);
    CHECK_FALSE(r.alarm);
    CHECK(range.statistic() == before);
  }
}

// ------------------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("RateCheck: rate from time stamps, quiet on a noisy ramp, a jump alarms once", T,
                   float, double) {
  // A level rising at 1 cm/s with sigma = 1 mm noise, sampled every 100 ms with +-20 ms jitter.
  const double sigma = 1e-3, slope = 0.01;
  const double noise_rate_sd = std::sqrt(2.0) * sigma / 0.08;  // worst case dt = 80 ms
  const T max_rate = static_cast<T>(slope + 5.5 * noise_rate_sd);
  RateCheck<T> rate(max_rate);
  std::mt19937_64 rng(12);
  std::normal_distribution<double> noise(0.0, sigma);
  std::uniform_int_distribution<std::int64_t> jitter(-20000, 20000);
  std::int64_t t = 0;
  double prev_x = 0.0;
  std::int64_t prev_t = 0;
  int alarms = 0;
  const std::int64_t jump_at = 30000;
  for (std::int64_t k = 0; k < 60000; ++k) {
    t = k * 100000 + jitter(rng);
    double x = 2.0 + slope * (t * 1e-6) + noise(rng);
    if (k >= jump_at) x += 0.3;  // value injection: a 30 cm step
    const T xv = static_cast<T>(x);
    const auto d = rate.update(at<T>(t, xv));
    REQUIRE(d.status == Status::ok);
    if (k > 0) {
      // Independent computation of the rate between the two stored values.
      const double ref = (static_cast<double>(xv) - prev_x) / ((t - prev_t) * 1e-6);
      REQUIRE(static_cast<double>(d.score) ==
              doctest::Approx(std::fabs(ref)).epsilon(std::is_same<T, float>::value ? 2e-3 : 1e-9));
      if (k == jump_at) {
        CHECK(d.alarm);
        CHECK(d.direction == 1);
        CHECK(d.cause == Cause::suspected_attack);
      } else {
        alarms += d.alarm;
      }
    } else {
      CHECK(d.score == T(0));
      CHECK_FALSE(d.alarm);
    }
    prev_x = static_cast<double>(xv);
    prev_t = t;
  }
  // 60000 rates at > 5.5 noise sigmas: expected false alarms ~ 60000 * 4e-8.
  CHECK(alarms == 0);

  SUBCASE("time going back or repeating is refused, state unchanged") {
    const Timestamp last = rate.last_time();
    const T last_v = rate.last_value();
    std::int64_t tt = last.us;
    auto next = [&] { tt += 100000; return at<T>(tt, last_v); };
    check_refusal_leaves_state(rate, at<T>(last.us - 1, last_v), Status::time_backwards, next);
    const Timestamp last2 = rate.last_time();
    check_refusal_leaves_state(rate, at<T>(last2.us, last_v), Status::time_repeated, next);
    for (const auto& b : bad_samples<T>(tt + 1)) check_refusal_leaves_state(rate, b.s, b.why, next);
  }
  SUBCASE("a gap restarts the reference instead of forming a rate") {
    RateCheck<T> gapped(T(0.1), Duration::from_seconds(1.0));
    CHECK(gapped.update(at<T>(0, T(1))).status == Status::ok);
    const auto d = gapped.update(at<T>(5000000, T(3)));  // 5 s later, 2 units higher
    CHECK(d.status == Status::gap);
    CHECK_FALSE(d.alarm);
    const auto d2 = gapped.update(at<T>(5100000, T(3.5)));  // now a real jump
    CHECK(d2.status == Status::ok);
    CHECK(d2.score == doctest::Approx(5.0).epsilon(1e-4));
    CHECK(d2.alarm);
  }
}

// ------------------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("StuckAtCheck: frozen register and dithered replay caught, live noise is not", T,
                   float, double) {
  constexpr int W = 50;
  const double sigma = 0.01;
  const T min_var = static_cast<T>(sigma * sigma / 100.0);
  StuckAtCheck<T, W> stuck(min_var, 6);
  std::mt19937_64 rng(13);
  std::normal_distribution<double> noise(0.0, sigma);
  std::vector<double> window;  // independent two-pass variance in double
  int alarms = 0;
  const double offset = 1000.0;  // a large offset on purpose: round-off must not build up
  std::int64_t k = 0;
  for (; k < 100000; ++k) {
    const T v = static_cast<T>(offset + noise(rng));
    const auto d = stuck.update(at<T>(k * 1000, v));
    REQUIRE(d.status == Status::ok);
    alarms += d.alarm;
    window.push_back(static_cast<double>(v));
    if (window.size() > W) window.erase(window.begin());
  }
  // P(s^2 < sigma^2/100) for 49 degrees of freedom is below 1e-30: no alarm may occur.
  CHECK(stats::chi_square_cdf(0.49, 49) < 1e-30);
  CHECK(alarms == 0);
  double mean = 0;
  for (double x : window) mean += x / W;
  double m2 = 0;
  for (double x : window) m2 += (x - mean) * (x - mean);
  CHECK(static_cast<double>(stuck.variance()) ==
        doctest::Approx(m2 / (W - 1)).epsilon(std::is_same<T, float>::value ? 1e-2 : 1e-9));

  SUBCASE("frozen register: alarm on the run that exceeds max_identical_samples") {
    const T frozen_value = static_cast<T>(offset + 0.004);
    int first_alarm = -1;
    for (int i = 0; i < 20; ++i) {
      const auto d = stuck.update(at<T>((k + i) * 1000, frozen_value));
      CHECK(stuck.identical_run() == i + 1);
      if (d.alarm && first_alarm < 0) first_alarm = i;
    }
    CHECK(first_alarm == 6);  // the seventh identical value: run 7 > 6
    CHECK(stuck.frozen());
  }
  SUBCASE("a replayed constant dithered by one LSB defeats the run test, not the variance test") {
    const T base = static_cast<T>(offset);
    const T lsb = base * std::numeric_limits<T>::epsilon();
    int first_alarm = -1;
    for (int i = 0; i < 2 * W; ++i) {
      const T v = (i % 2 == 0) ? base : static_cast<T>(base + lsb);
      const auto d = stuck.update(at<T>((k + i) * 1000, v));
      REQUIRE(stuck.identical_run() == 1);
      if (d.alarm && first_alarm < 0) first_alarm = i;
    }
    CHECK_FALSE(stuck.frozen());
    CHECK(stuck.variance_collapsed());
    // The window must be mostly replay before the variance falls below min_variance, and it
    // must be found before the window is replay only.
    CHECK(first_alarm > W / 2);
    CHECK(first_alarm < W);
  }
  SUBCASE("bad input and time going back are refused, state unchanged") {
    std::int64_t tt = k * 1000;
    auto next = [&] { tt += 1000; return at<T>(tt, static_cast<T>(offset + noise(rng))); };
    for (const auto& b : bad_samples<T>(tt + 1)) check_refusal_leaves_state(stuck, b.s, b.why, next);
    check_refusal_leaves_state(stuck, at<T>(tt - 5, T(offset)), Status::time_backwards, next);
    check_refusal_leaves_state(stuck, at<T>(tt, T(offset)), Status::time_repeated, next);
  }
}

// ------------------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("StalenessCheck: gaps, time going back or repeating, a channel gone silent", T,
                   float, double) {
  StalenessCheck<T> stale(Duration::from_ms(200));
  CHECK(stale.check_age(Timestamp::from_ms(0)).status == Status::not_initialised);
  std::mt19937_64 rng(14);
  std::uniform_int_distribution<std::int64_t> jitter(-30000, 30000);
  int alarms = 0;
  std::int64_t t = 0;
  for (std::int64_t k = 0; k < 20000; ++k) {
    t = 1000000 + k * 100000 + jitter(rng);  // 100 ms +- 30 ms: at most 160 ms apart
    const auto d = stale.update(at<T>(t, T(1)));
    REQUIRE(d.status == Status::ok);
    CHECK(d.kind == FindingKind::timing);
    alarms += d.alarm;
  }
  CHECK(alarms == 0);
  CHECK(stale.gaps() == 0);

  // Silent channel, seen from the caller's periodic task.
  CHECK_FALSE(stale.check_age(Timestamp::from_us(t + 150000)).alarm);
  const auto old = stale.check_age(Timestamp::from_us(t + 250000));
  CHECK(old.alarm);
  CHECK(old.score == doctest::Approx(0.25).epsilon(1e-6));
  CHECK(old.threshold == doctest::Approx(0.2).epsilon(1e-6));
  CHECK(old.cause == Cause::communication);
  CHECK(stale.check_age(Timestamp::from_us(t - 1)).status == Status::time_backwards);

  // A gap of 1 s: used (new reference), alarm, counted.
  auto d = stale.update(at<T>(t + 1000000, T(1)));
  CHECK(d.status == Status::gap);
  CHECK(d.alarm);
  CHECK(d.score == doctest::Approx(1.0).epsilon(1e-6));
  CHECK(stale.gaps() == 1);
  t += 1000000;

  // Back in time and repeated: refused, reference unchanged, counted.
  d = stale.update(at<T>(t - 50000, T(1)));
  CHECK(d.status == Status::time_backwards);
  CHECK(d.cause == Cause::suspected_attack);
  CHECK_FALSE(d.alarm);
  d = stale.update(at<T>(t, T(1)));
  CHECK(d.status == Status::time_repeated);
  CHECK(stale.backwards() == 1);
  CHECK(stale.repeated() == 1);
  CHECK(stale.last_time() == Timestamp::from_us(t));

  // A source that only sends bad quality does not stay fresh.
  for (const auto& b : bad_samples<T>(t + 100000)) {
    CHECK(stale.update(b.s).status == b.why);
    CHECK(stale.last_time() == Timestamp::from_us(t));
  }
  CHECK(stale.refused_quality() == 5);
  CHECK(stale.check_age(Timestamp::from_us(t + 300000)).alarm);

  // start() arms check_age for a channel that never delivered.
  StalenessCheck<T> never(Duration::from_ms(500));
  never.start(Timestamp::from_seconds(10.0));
  CHECK_FALSE(never.check_age(Timestamp::from_seconds(10.4)).alarm);
  CHECK(never.check_age(Timestamp::from_seconds(10.6)).alarm);
}

// ------------------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("RedundancyCheck: calibrated under noise, catches a falsified transmitter", T,
                   float, double) {
  const double sa = 0.02, sb = 0.03;
  const double k = 3.0;
  RedundancyCheck<T> red(static_cast<T>(sa), static_cast<T>(sb), static_cast<T>(k));
  CHECK(static_cast<double>(red.scale()) == doctest::Approx(std::sqrt(sa * sa + sb * sb)));
  std::mt19937_64 rng(15);
  std::normal_distribution<double> na(0.0, sa), nb(0.0, sb);
  const int n = 100000;
  int alarms = 0;
  for (int i = 0; i < n; ++i) {
    const double level = 2.0 + 0.5 * std::sin(i * 1e-3);
    const auto d = red.update(at<T>(i, static_cast<T>(level + na(rng))),
                              at<T>(i, static_cast<T>(level + nb(rng))));
    REQUIRE(d.status == Status::ok);
    alarms += d.alarm;
  }
  // (a - b) / sqrt(sa^2 + sb^2) ~ N(0,1): per-sample false-alarm probability 2 (1 - Phi(3)).
  const double p = 2.0 * (1.0 - stats::normal_cdf(k));
  CHECK(std::fabs(alarms - n * p) < 4.0 * binomial_sd(n, p));

  // Transmitter b falsified: reads 0.25 m high (about 7 combined sigmas).
  int caught = 0;
  for (int i = 0; i < 100; ++i) {
    const auto d = red.update(at<T>(n + i, static_cast<T>(2.0 + na(rng))),
                              at<T>(n + i, static_cast<T>(2.25 + nb(rng))));
    caught += d.alarm;
    CHECK(d.direction == -1);
    CHECK(d.cause == Cause::suspected_attack);
  }
  CHECK(caught >= 99);

  SUBCASE("persistence: a single spike is ignored, N consecutive exceedances alarm") {
    RedundancyCheck<T> persistent(T(0.1), 3);  // absolute tolerance 0.1
    CHECK(persistent.scale() == T(1));
    CHECK_FALSE(persistent.update(at<T>(0, T(1.0)), at<T>(0, T(1.5))).alarm);
    CHECK_FALSE(persistent.update(at<T>(1, T(1.0)), at<T>(1, T(1.01))).alarm);
    CHECK(persistent.exceed_run() == 0);
    CHECK_FALSE(persistent.update(at<T>(2, T(1.5)), at<T>(2, T(1.0))).alarm);
    CHECK_FALSE(persistent.update(at<T>(3, T(1.5)), at<T>(3, T(1.0))).alarm);
    const auto d = persistent.update(at<T>(4, T(1.5)), at<T>(4, T(1.0)));
    CHECK(d.alarm);
    CHECK(d.score == doctest::Approx(0.5));
    CHECK(d.direction == 1);
  }
  SUBCASE("one or both inputs bad: refused, says which, state unchanged") {
    RedundancyCheck<T> r(T(0.1), 3);
    r.update(at<T>(0, T(1.5)), at<T>(0, T(1.0)));
    r.update(at<T>(1, T(1.5)), at<T>(1, T(1.0)));
    REQUIRE(r.exceed_run() == 2);
    for (const auto& b : bad_samples<T>(2)) {
      auto d = r.update(at<T>(2, T(1.5)), b.s);
      CHECK(d.status == b.why);
      CHECK(d.refused_inputs == 2u);
      CHECK(d.input_refused(RedundancyCheck<T>::input_b));
      CHECK_FALSE(d.input_refused(RedundancyCheck<T>::input_a));
      CHECK(d.cause == Cause::sensor_fault);
      CHECK_FALSE(d.alarm);
      d = r.update(b.s, at<T>(2, T(1.0)));
      CHECK(d.status == b.why);
      CHECK(d.refused_inputs == 1u);
      d = r.update(b.s, at<T>(2, T(0), Quality::missing));
      CHECK(d.status == b.why);  // the first refused input's status
      CHECK(d.refused_inputs == 3u);
      CHECK(r.exceed_run() == 2);
    }
    CHECK(r.update(at<T>(3, T(1.5)), at<T>(3, T(1.0))).alarm);  // third consecutive exceedance
  }
}

// ------------------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("range, rate, stuck-at, staleness, redundancy: no heap per sample", T, float,
                   double) {
  RangeCheck<T> range(T(0), T(10));
  RateCheck<T> rate(T(5), Duration::from_seconds(1.0));
  StuckAtCheck<T, 32> stuck(T(1e-6), 8);
  StalenessCheck<T> stale(Duration::from_ms(50));
  RedundancyCheck<T> red(T(0.1), T(0.1), T(4), 2);
  std::mt19937_64 rng(16);
  std::normal_distribution<double> noise(0.0, 0.1);
  std::vector<Sample<T>> a(2000), b(2000);
  for (int i = 0; i < 2000; ++i) {
    Quality q = (i % 97 == 0) ? Quality::bad : Quality::good;
    std::int64_t t = i * 10000 - ((i % 211 == 0) ? 30000 : 0);  // some stamps go back
    a[static_cast<std::size_t>(i)] = at<T>(t, static_cast<T>(5 + noise(rng)), q);
    b[static_cast<std::size_t>(i)] = at<T>(t, static_cast<T>(5 + noise(rng)));
  }
  a[500].value = std::numeric_limits<T>::quiet_NaN();
  int alarms = 0;
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int i = 0; i < 2000; ++i) {
      const auto& s = a[static_cast<std::size_t>(i)];
      alarms += range.update(s).alarm + rate.update(s).alarm + stuck.update(s).alarm +
                stale.update(s).alarm + red.update(s, b[static_cast<std::size_t>(i)]).alarm;
      alarms += stale.check_age(s.time).alarm;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(alarms >= 0);
}
