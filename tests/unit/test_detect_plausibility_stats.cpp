// Plausibility checks, part 2: NoiseChangeCheck (false-alarm rate against the chi-square tail,
// learning that an attacker cannot steer) and InvariantCheck / MassBalanceInvariant (calibrated
// residual, slow level drift caught, bad input refused).
#include <doctest/doctest.h>

#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <deque>
#include <limits>
#include <random>
#include <vector>

#include <physguard/core.hpp>
#include <physguard/detect.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

constexpr double two_pi = 6.283185307179586;

template <typename T>
Sample<T> at(std::int64_t t_us, T v, Quality q = Quality::good) {
  return Sample<T>{Timestamp::from_us(t_us), v, q};
}

template <typename D>
bool same_decision(const D& a, const D& b) {
  return a.time == b.time && std::memcmp(&a.score, &b.score, sizeof a.score) == 0 &&
         std::memcmp(&a.threshold, &b.threshold, sizeof a.threshold) == 0 && a.alarm == b.alarm &&
         a.status == b.status && a.kind == b.kind && a.cause == b.cause &&
         a.direction == b.direction;
}

double binomial_sd(double n, double p) { return std::sqrt(n * p * (1.0 - p)); }

// Runs a NoiseChangeCheck over `windows` disjoint windows of `signal(k)`; counts the alarms of the
// decisions that close each window (low = too quiet, high = too noisy).
struct WindowCounts {
  int low = 0;
  int high = 0;
};
template <typename Check, typename Signal>
WindowCounts count_window_alarms(Check& check, int windows, Signal signal, std::int64_t k0 = 0) {
  WindowCounts c;
  const int W = Check::window;
  for (std::int64_t k = k0; k < k0 + static_cast<std::int64_t>(windows) * W; ++k) {
    const auto d = check.update(Sample<decltype(signal(k))>{Timestamp::from_ms(k * 100), signal(k),
                                                            Quality::good});
    REQUIRE(d.status == Status::ok);
    if ((k - k0 + 1) % W == 0 && d.alarm) (d.direction > 0 ? c.high : c.low)++;
  }
  return c;
}

}  // namespace

// ------------------------------------------------------------------------------------------------
TEST_CASE_TEMPLATE("NoiseChangeCheck: per-window false-alarm rate matches the chi-square tail", T,
                   float, double) {
  constexpr int W = 50;
  const double sigma = 0.2, p = 0.02;
  const int windows = 4000;
  for (NoiseStatistic stat : {NoiseStatistic::window_variance, NoiseStatistic::paired_differences}) {
    CAPTURE(to_string(stat));
    auto check = NoiseChangeCheck<T, W>::with_baseline(static_cast<T>(sigma * sigma), p, stat);
    const int nu = stat == NoiseStatistic::window_variance ? W - 1 : W / 2;
    CHECK(check.dof() == nu);
    CHECK(static_cast<double>(check.lower_threshold()) ==
          doctest::Approx(stats::chi_square_quantile(p / 2, nu)).epsilon(1e-6));
    CHECK(static_cast<double>(check.upper_threshold()) ==
          doctest::Approx(stats::chi_square_quantile(1 - p / 2, nu)).epsilon(1e-6));
    // The quantiles really cut p/2 off each tail.
    CHECK(stats::chi_square_cdf(static_cast<double>(check.lower_threshold()), nu) ==
          doctest::Approx(p / 2).epsilon(1e-5));

    std::mt19937_64 rng(21);
    std::normal_distribution<double> noise(0.0, sigma);
    std::deque<double> last;
    auto sig = [&](std::int64_t) {
      const T v = static_cast<T>(7.5 + noise(rng));
      last.push_back(static_cast<double>(v));
      if (last.size() > W) last.pop_front();
      return v;
    };
    const WindowCounts c = count_window_alarms(check, windows, sig);
    const double sd = binomial_sd(windows, p / 2);
    CHECK(std::fabs(c.low - windows * p / 2) < 4 * sd);
    CHECK(std::fabs(c.high - windows * p / 2) < 4 * sd);

    // The statistic q of the last window, recomputed independently in double.
    double q = 0;
    if (stat == NoiseStatistic::window_variance) {
      double mean = 0;
      for (double x : last) mean += x / W;
      for (double x : last) q += (x - mean) * (x - mean);
      q /= sigma * sigma;
    } else {
      for (int j = W - 1; j >= 1; j -= 2) {
        const double d = last[static_cast<std::size_t>(j)] - last[static_cast<std::size_t>(j - 1)];
        q += d * d;
      }
      q /= 2 * sigma * sigma;
    }
    CHECK(static_cast<double>(check.statistic()) ==
          doctest::Approx(q).epsilon(std::is_same<T, float>::value ? 1e-3 : 1e-9));
  }
}

TEST_CASE_TEMPLATE("NoiseChangeCheck: paired differences ignore a trend, window variance does not", T,
                   float, double) {
  constexpr int W = 50;
  const double sigma = 0.2, p = 0.02;
  const int windows = 3000;
  std::mt19937_64 rng(22);
  std::normal_distribution<double> noise(0.0, sigma);
  // A level swinging by +-2 m over 600 samples (up to 0.021 per sample) plus sensor noise.
  auto level = [&](std::int64_t k) {
    return static_cast<T>(5.0 + 2.0 * std::sin(two_pi * k / 600.0) + noise(rng));
  };
  auto paired = NoiseChangeCheck<T, W>::with_baseline(static_cast<T>(sigma * sigma), p,
                                                      NoiseStatistic::paired_differences);
  const WindowCounts c = count_window_alarms(paired, windows, level);
  // The trend adds ~0.5 % to q: the rate stays within the binomial band around p.
  CHECK(std::fabs(c.low + c.high - windows * p) < 4 * binomial_sd(windows, p));
  auto plain = NoiseChangeCheck<T, W>::with_baseline(static_cast<T>(sigma * sigma), p,
                                                     NoiseStatistic::window_variance);
  const WindowCounts c2 = count_window_alarms(plain, windows, level);
  CHECK(c2.high > windows / 2);  // the trend reads as "too noisy"
}

TEST_CASE_TEMPLATE("NoiseChangeCheck: synthetic, smoothed and over-noisy signals are caught", T,
                   float, double) {
  constexpr int W = 50;
  const double sigma = 0.05, p = 1e-3;
  std::mt19937_64 rng(23);
  std::normal_distribution<double> noise(0.0, sigma);
  auto check = NoiseChangeCheck<T, W>::with_baseline(static_cast<T>(sigma * sigma), p,
                                                     NoiseStatistic::paired_differences);
  // Normal operation first (fills the window).
  WindowCounts c = count_window_alarms(check, 40, [&](std::int64_t k) {
    return static_cast<T>(3.0 + 0.5 * std::sin(two_pi * k / 900.0) + noise(rng));
  });
  CHECK(c.low + c.high == 0);
  // A noise-free model output replayed to the PLC (the curve an attacker computes): too quiet.
  c = count_window_alarms(
      check, 20,
      [&](std::int64_t k) { return static_cast<T>(3.0 + 0.5 * std::sin(two_pi * k / 900.0)); },
      40 * W);
  CHECK(c.low == 20);
  CHECK(c.high == 0);
  CHECK(check.statistic() < check.lower_threshold());
  // A smoothed recording (moving average of 8 samples: variance / 8): too quiet too.
  std::deque<double> buf;
  c = count_window_alarms(
      check, 20,
      [&](std::int64_t) {
        buf.push_back(noise(rng));
        if (buf.size() > 8) buf.pop_front();
        double m = 0;
        for (double x : buf) m += x / static_cast<double>(buf.size());
        return static_cast<T>(3.0 + m);
      },
      60 * W);
  CHECK(c.low >= 19);
  // Another sensor's recording with twice the noise: too noisy.
  c = count_window_alarms(check, 20, [&](std::int64_t) { return static_cast<T>(3.0 + 2 * noise(rng)); },
                          80 * W);
  CHECK(c.high >= 19);
}

TEST_CASE_TEMPLATE("NoiseChangeCheck: learning, adapt flag, no teaching while in alarm", T, float,
                   double) {
  constexpr int W = 40;
  const double sigma = 0.1;
  std::mt19937_64 rng(24);
  std::normal_distribution<double> noise(0.0, sigma);
  std::int64_t k = 0;
  auto feed = [&](auto& check, int n, double scale, bool adapt) {
    int alarms = 0;
    for (int i = 0; i < n; ++i, ++k) {
      const auto d = check.update(at<T>(k * 1000, static_cast<T>(1.0 + scale * noise(rng))), adapt);
      REQUIRE(d.status == Status::ok);
      alarms += d.alarm;
    }
    return alarms;
  };
  auto check = NoiseChangeCheck<T, W>::learning(100 * W, 0.01, NoiseStatistic::window_variance,
                                                T(0.02));
  CHECK_FALSE(check.ready());
  CHECK(feed(check, 100 * W, 1.0, false) == 0);  // adapt = false: nothing learned
  CHECK_FALSE(check.ready());
  CHECK(check.baseline_variance() == T(0));
  // A constant signal while learning: no baseline can come from it; learning starts over.
  for (int i = 0; i < 100 * W; ++i, ++k) check.update(at<T>(k * 1000, T(1)));
  CHECK_FALSE(check.ready());
  CHECK(feed(check, 100 * W - 1, 1.0, true) == 0);
  CHECK_FALSE(check.ready());
  feed(check, 1, 1.0, true);
  REQUIRE(check.ready());
  // Pooled over 100 windows: 3900 degrees of freedom, relative sd 2.3 %.
  CHECK(static_cast<double>(check.baseline_variance()) ==
        doctest::Approx(sigma * sigma).epsilon(0.1));

  // Attack: noise three times larger.  Once it alarms the baseline is frozen, so after 4000
  // samples of attack with adapt = true it has moved only during the few samples before the
  // first alarm - far from the attack's variance 9 sigma^2 - and it still alarms.
  const T before = check.baseline_variance();
  const int alarms = feed(check, 4000, 3.0, true);
  CHECK(alarms > 3900);
  CHECK(check.baseline_variance() < T(1.5) * before);
  const std::int64_t check_last_us = k * 1000;
  CHECK(check.update(at<T>(k++ * 1000, static_cast<T>(1.0 + 3.0 * noise(rng)))).alarm);

  // A small legitimate change (variance x 1.3, inside the thresholds) is followed.
  auto follow = NoiseChangeCheck<T, W>::learning(100 * W, 0.01, NoiseStatistic::window_variance,
                                                 T(0.02));
  feed(follow, 100 * W, 1.0, true);
  REQUIRE(follow.ready());
  feed(follow, 3000, std::sqrt(1.3), true);
  CHECK(static_cast<double>(follow.baseline_variance()) ==
        doctest::Approx(1.3 * sigma * sigma).epsilon(0.15));
  // ... but not with adapt = false.
  const T frozen = follow.baseline_variance();
  feed(follow, 3000, 1.0, false);
  CHECK(follow.baseline_variance() == frozen);

  SUBCASE("bad input and time going back: refused, state unchanged") {
    auto twin = check;
    const std::int64_t t_last = check_last_us;
    const T nan = std::numeric_limits<T>::quiet_NaN();
    CHECK(check.update(at<T>(t_last + 1, nan)).status == Status::not_finite);
    CHECK(check.update(at<T>(t_last + 1, T(1), Quality::bad)).status == Status::bad_quality);
    CHECK(check.update(at<T>(t_last + 1, T(1), Quality::missing)).status == Status::missing);
    CHECK(check.update(at<T>(t_last - 1, T(1))).status == Status::time_backwards);
    CHECK(check.update(at<T>(t_last, T(1))).status == Status::time_repeated);
    for (int i = 0; i < 500; ++i, ++k) {
      const auto s = at<T>(k * 1000, static_cast<T>(1.0 + noise(rng)));
      REQUIRE(same_decision(check.update(s), twin.update(s)));
    }
    CHECK(check.baseline_variance() == twin.baseline_variance());
  }
}

// ------------------------------------------------------------------------------------------------
namespace {

// A tank of area A (m^2) with smoothly varying in/outflows; truth integrated with the trapezoid
// rule on the actual (jittered) sample times, so the mass balance holds exactly in truth.
template <typename T>
struct TankSim {
  double area = 2.0, level = 2.0, net_prev = 0.0;
  double sigma_q = 2e-4, sigma_l = 1e-3;
  std::int64_t t_us = 0;
  std::mt19937_64 rng{31};
  std::normal_distribution<double> n01{0.0, 1.0};
  std::uniform_int_distribution<std::int64_t> jitter{-100000, 100000};
  double drift_m_per_s = 0.0;  // falsification added to the reported level
  double drift_offset = 0.0;
  bool first = true;

  std::array<Sample<T>, 3> step(std::int64_t k) {
    const std::int64_t t_new = k * 1000000 + (k > 0 ? jitter(rng) : 0);
    const double dt = (t_new - t_us) * 1e-6;
    const double qin = 0.010 + 0.002 * std::sin(two_pi * t_new * 1e-6 / 2400.0);
    const double qout = 0.010 + 0.003 * std::sin(two_pi * t_new * 1e-6 / 1800.0 + 1.0);
    const double net = qin - qout;
    if (!first) {
      level += 0.5 * dt * (net + net_prev) / area;
      drift_offset += drift_m_per_s * dt;
    }
    first = false;
    net_prev = net;
    t_us = t_new;
    const Timestamp t = Timestamp::from_us(t_new);
    return {Sample<T>{t, static_cast<T>(level + drift_offset + sigma_l * n01(rng)), Quality::good},
            Sample<T>{t, static_cast<T>(qin + sigma_q * n01(rng)), Quality::good},
            Sample<T>{t, static_cast<T>(qout + sigma_q * n01(rng)), Quality::good}};
  }
};

// Straightforward mass-balance residual over the last M intervals of a recorded history.
template <typename T>
double reference_residual(const std::vector<std::array<Sample<T>, 3>>& h, int M, double area) {
  const std::size_t n = h.size();
  double volume = 0;
  for (std::size_t i = n - static_cast<std::size_t>(M); i < n; ++i) {
    const double dt = (h[i][0].time - h[i - 1][0].time).template seconds<double>();
    const double a = static_cast<double>(h[i][1].value) - static_cast<double>(h[i][2].value);
    const double b = static_cast<double>(h[i - 1][1].value) - static_cast<double>(h[i - 1][2].value);
    volume += 0.5 * dt * (a + b);
  }
  const auto& newest = h[n - 1];
  const auto& oldest = h[n - 1 - static_cast<std::size_t>(M)];
  const double span = (newest[0].time - oldest[0].time).template seconds<double>();
  return (volume - area * (static_cast<double>(newest[0].value) - static_cast<double>(oldest[0].value))) /
         span;
}

}  // namespace

TEST_CASE_TEMPLATE("MassBalanceInvariant: residual equals a direct computation; normalised is N(0,1)",
                   T, float, double) {
  constexpr int M = 20;
  TankSim<T> sim;
  // Absolute residual (m^3/s) against the straightforward implementation.
  MassBalanceCheck<T, M> absolute(MassBalanceInvariant<T, M>(T(2)), T(1));
  // Normalised residual: standard deviation 1 under the stated noise.
  MassBalanceCheck<T, M> normalised(
      MassBalanceInvariant<T, M>(T(2), T(2e-4), T(2e-4), T(1e-3)), T(4.5));
  std::vector<std::array<Sample<T>, 3>> history;
  double sum = 0, sum2 = 0;
  int n = 0, alarms = 0;
  for (std::int64_t k = 0; k < 40000; ++k) {
    const auto s = sim.step(k);
    history.push_back(s);
    const auto da = absolute.update(s);
    const auto dn = normalised.update(s);
    REQUIRE(da.status == Status::ok);
    if (k < M) {
      CHECK(da.score == T(0));  // no residual before the window is full
      continue;
    }
    if (k % 97 == 0) {
      const double ref = reference_residual(history, M, 2.0);
      // Residuals are ~1e-4 m^3/s; float round-off of the window sums stays below 1e-8.
      REQUIRE(std::fabs(static_cast<double>(absolute.residual()) - ref) <
              (std::is_same<T, float>::value ? 1e-8 : 1e-14));
    }
    const double z = static_cast<double>(normalised.residual());
    sum += z;
    sum2 += z * z;
    ++n;
    alarms += dn.alarm;
  }
  const double mean = sum / n, sd = std::sqrt(sum2 / n - mean * mean);
  // ~2000 effectively independent windows: the sample sd is within a few % of 1.
  CHECK(sd == doctest::Approx(1.0).epsilon(0.07));
  CHECK(std::fabs(mean) < 0.1);
  CHECK(alarms == 0);  // P(|z| > 4.5) = 6.8e-6 per sample
}

TEST_CASE_TEMPLATE("MassBalanceCheck: a slow drift falsifying the level breaks the balance", T, float,
                   double) {
  constexpr int M = 300;  // five-minute window
  TankSim<T> sim;
  MassBalanceCheck<T, M> check(MassBalanceInvariant<T, M>(T(2), T(2e-4), T(2e-4), T(1e-3)),
                               T(4.5), 5);
  const std::int64_t attack_at = 8000;
  std::int64_t first_alarm = -1;
  double offset_at_alarm = 0;
  int false_alarms = 0;
  for (std::int64_t k = 0; k < 12000; ++k) {
    if (k == attack_at) sim.drift_m_per_s = 5e-3 / 60.0;  // +5 mm per minute on the level
    const auto d = check.update(sim.step(k));
    REQUIRE(d.status == Status::ok);
    if (k < attack_at) {
      false_alarms += d.alarm;
    } else if (d.alarm && first_alarm < 0) {
      first_alarm = k;
      offset_at_alarm = sim.drift_offset;
      CHECK(d.direction == -1);  // the level rises faster than the flows allow
      CHECK(d.cause == Cause::suspected_attack);
      CHECK(d.kind == FindingKind::plausibility);
    }
  }
  CHECK(false_alarms == 0);
  REQUIRE(first_alarm > 0);
  // Full-window bias area * drift = 1.7e-4 m^3/s ~ 9 sigma: found before the window is replaced.
  CHECK(first_alarm - attack_at < M);
  // The reported level only drifted ~2.5 cm by then: inside any range or rate limit.
  CHECK(offset_at_alarm < 0.03);
}

TEST_CASE_TEMPLATE("InvariantCheck: stateless invariant, bad input, time and gaps", T, float, double) {
  // Stateless: a header flow equals the sum of two branch flows.
  auto split = make_invariant_check<T, 3>(
      [](const std::array<Sample<T>, 3>& s) { return s[0].value - s[1].value - s[2].value; },
      T(0.05));
  CHECK_FALSE(split.update({at<T>(0, T(1.0)), at<T>(0, T(0.6)), at<T>(0, T(0.42))}).alarm);
  auto d = split.update({at<T>(1, T(1.0)), at<T>(1, T(0.6)), at<T>(2, T(0.3))});
  CHECK(d.alarm);
  CHECK(d.direction == 1);
  CHECK(d.time == Timestamp::from_us(2));  // latest stamp
  CHECK(static_cast<double>(d.score) == doctest::Approx(0.1).epsilon(1e-5));
  const T big = std::numeric_limits<T>::max();
  d = split.update({at<T>(3, big), at<T>(3, -big), at<T>(3, T(0))});
  CHECK(d.status == Status::numerical_failure);
  CHECK_FALSE(d.alarm);

  // Stateful mass balance: bad inputs and time refused with the functor's state unchanged.
  constexpr int M = 10;
  TankSim<T> sim;
  MassBalanceCheck<T, M> check(MassBalanceInvariant<T, M>(T(2), Duration::from_seconds(5.0)),
                               T(1e-3));
  std::int64_t k = 0;
  for (; k < 50; ++k) REQUIRE(check.update(sim.step(k)).status == Status::ok);
  // `make_bad` turns the next good triple into a bad one; `probe` refuses it and checks that the
  // future is bit-identical to a twin that never saw it, then moves the simulation on.
  auto probe = [&](auto make_bad, Status why, std::uint32_t mask, FindingKind kind) {
    auto twin = check;
    const auto r = check.update(make_bad(TankSim<T>(sim).step(k)));
    CHECK(r.status == why);
    CHECK(r.refused_inputs == mask);
    CHECK(r.kind == kind);
    CHECK_FALSE(r.alarm);
    TankSim<T> sim2 = sim;
    for (std::int64_t j = k; j < k + 30; ++j) {
      const auto s = sim.step(j);
      const auto a = check.update(s);
      const auto b = twin.update(sim2.step(j));
      REQUIRE(a.status == Status::ok);
      REQUIRE(same_decision(a, b));
    }
    k += 30;
  };
  const T nan = std::numeric_limits<T>::quiet_NaN();
  probe([&](std::array<Sample<T>, 3> a) { a[1].value = nan; return a; }, Status::not_finite, 2u,
        FindingKind::bad_input);
  probe([&](std::array<Sample<T>, 3> a) { a[2].quality = Quality::bad; return a; },
        Status::bad_quality, 4u, FindingKind::bad_input);
  probe([&](std::array<Sample<T>, 3> a) {
          a[0].quality = Quality::missing;
          a[2].value = std::numeric_limits<T>::infinity();
          return a;
        },
        Status::missing, 5u, FindingKind::bad_input);
  probe([&](std::array<Sample<T>, 3> a) {
          for (auto& x : a) x.time = Timestamp::from_us(sim.t_us - 500000);
          return a;
        },
        Status::time_backwards, 0u, FindingKind::timing);
  probe([&](std::array<Sample<T>, 3> a) {
          for (auto& x : a) x.time = Timestamp::from_us(sim.t_us);
          return a;
        },
        Status::time_repeated, 0u, FindingKind::timing);

  // A 10 s gap: used, restarts the window; no residual until M new intervals.
  MassBalanceCheck<T, M> gapped(MassBalanceInvariant<T, M>(T(2), Duration::from_seconds(5.0)),
                                T(1e-3));
  TankSim<T> g;
  for (std::int64_t j = 0; j < 20; ++j) gapped.update(g.step(j));
  g.t_us += 10000000;
  auto s = g.step(20);
  for (auto& x : s) x.time = Timestamp::from_us(s[0].time.us + 10000000);
  d = gapped.update(s);
  CHECK(d.status == Status::gap);
  CHECK(d.score == T(0));
}

TEST_CASE_TEMPLATE("noise change and mass balance: no heap per sample", T, float, double) {
  auto noise_check = NoiseChangeCheck<T, 32>::learning(320, 0.01,
                                                        NoiseStatistic::paired_differences, T(0.01));
  MassBalanceCheck<T, 60> mass(MassBalanceInvariant<T, 60>(T(2), T(2e-4), T(2e-4), T(1e-3)), T(4.5));
  TankSim<T> sim;
  std::vector<std::array<Sample<T>, 3>> input;
  for (std::int64_t k = 0; k < 3000; ++k) input.push_back(sim.step(k));
  input[100][1].value = std::numeric_limits<T>::quiet_NaN();
  input[200][0].time = input[150][0].time;
  int alarms = 0;
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (const auto& s : input) {
      alarms += noise_check.update(s[0], alarms == 0).alarm;  // no adaptation once alarmed
      alarms += mass.update(s).alarm;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(noise_check.ready());
}
