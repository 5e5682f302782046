// ResponseModelChecker: a dosing command driving a concentration through a first-order-plus-dead-
// time process.  A day of normal operation with noise and time-stamp jitter raises nothing; a
// calibration offset is absorbed by the bias tracker (and raises an alarm without it); a PV that
// stops following its command, and a slow drift, are found; the residual equals a straightforward
// reference implementation (including catch-up steps, early scans and the bias); gaps re-align;
// bad input is refused with the state unchanged; no heap.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>
#include <vector>

#include <physguard/consistency/response_model.hpp>
#include <physguard/core.hpp>
#include <physguard/detect/threshold.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

Timestamp at(double s) { return Timestamp::from_seconds(s); }

constexpr int kMaxDelay = 16;
constexpr double kGain = 2.0, kTau = 60.0, kDead = 10.0, kTs = 1.0, kSigma = 0.05;

template <typename T>
ResponseModelParams<T> dosing_params() {
  ResponseModelParams<T> p;
  p.gain = T(kGain);  // mg/l of concentration per l/h of dosing
  p.time_constant_s = T(kTau);
  p.dead_time_s = T(kDead);
  p.sample_period_s = T(kTs);
  p.noise_sigma = T(kSigma);  // mg/l
  return p;
}

template <typename T>
CusumDetector<T> cusum() {
  return CusumDetector<T>(T(0.5), CusumDetector<T>::threshold_for_arl(T(0.5), 1e7));
}

// The real process: the same FOPDT on the 1 s grid (commands change at PLC scans), observed with
// noise, an optional transmitter offset, time stamps jittered by +-100 ms.
struct DosingPlant {
  std::mt19937_64 rng;
  std::normal_distribution<double> n01{0.0, 1.0};
  std::uniform_real_distribution<double> u01{0.0, 1.0};
  std::vector<double> past;  // past inputs, newest last (host-side test code may allocate)
  double y;
  double offset = 0.0;
  DosingPlant(std::uint64_t seed, double u0) : rng(seed), past(kMaxDelay + 1, u0), y(kGain * u0) {}
  void step(double u) {
    past.erase(past.begin());
    past.push_back(u);
    const int d = static_cast<int>(std::lround(kDead / kTs));
    const double delayed = past[past.size() - 1 - d];
    y += (kGain * delayed - y) * -std::expm1(-kTs / kTau);
  }
  double measure() { return y + offset + kSigma * n01(rng); }
  double jitter() { return 0.2 * (u01(rng) - 0.5); }
};

template <typename T>
bool same(const MultiInputDecision<T>& a, const MultiInputDecision<T>& b) {
  return a.time == b.time && a.score == b.score && a.threshold == b.threshold &&
         a.alarm == b.alarm && a.status == b.status && a.direction == b.direction &&
         a.cause == b.cause && a.refused_inputs == b.refused_inputs;
}

}  // namespace

TEST_CASE_TEMPLATE("a day of dosing with noise and time-stamp jitter: no alarm", T, float, double) {
  ResponseModelChecker<T, kMaxDelay> chk(dosing_params<T>(), cusum<T>());
  DosingPlant plant(81, 5.0);
  std::mt19937_64 rng(82);
  std::uniform_real_distribution<double> u01(0, 1);
  double u = 5.0, next_change = 600.0;
  int alarms = 0;
  double sum_z2 = 0.0;
  for (int k = 0; k < 86400; ++k) {
    const double t = kTs * k;
    if (t >= next_change) {  // the PLC writes a new dosing rate at its scan
      u = std::min(10.0, std::max(1.0, u + 6.0 * (u01(rng) - 0.5)));
      next_change += 300.0 + 1500.0 * u01(rng);
    }
    const auto d =
        chk.update(at(t + plant.jitter()), static_cast<T>(u), static_cast<T>(plant.measure()));
    REQUIRE(d.status == Status::ok);
    alarms += d.alarm;
    if (k > 0) sum_z2 += static_cast<double>(chk.normalised_residual() * chk.normalised_residual());
    plant.step(u);
  }
  CHECK(alarms == 0);
  CHECK(sum_z2 / 86399.0 == doctest::Approx(1.0).epsilon(0.1));
}

TEST_CASE_TEMPLATE("calibration offset: absorbed by bias tracking, an alarm without it", T, float,
                   double) {
  for (bool tracking : {true, false}) {
    CAPTURE(tracking);
    auto p = dosing_params<T>();
    p.assume_steady_start = true;
    p.bias_time_constant_s = tracking ? T(3600) : T(0);
    ResponseModelChecker<T, kMaxDelay> chk(p, cusum<T>());
    DosingPlant plant(83, 5.0);
    plant.offset = 0.4;  // 8 sigma: the transmitter reads high
    int alarms = 0;
    for (int k = 0; k < 7200; ++k) {
      const double u = (k / 900) % 2 == 0 ? 5.0 : 7.0;
      alarms += chk.update(at(kTs * k), static_cast<T>(u), static_cast<T>(plant.measure())).alarm;
      plant.step(u);
    }
    if (tracking) {
      CHECK(alarms == 0);
      CHECK(chk.bias() == doctest::Approx(0.4).epsilon(0.05));
    } else {
      CHECK(alarms > 0);
    }
  }
}

TEST_CASE_TEMPLATE("a PV that no longer follows its command is found", T, float, double) {
  auto p = dosing_params<T>();
  p.bias_time_constant_s = T(3600);
  SUBCASE("PV frozen at its steady value (replayed recording) while the dosing doubles") {
    ResponseModelChecker<T, kMaxDelay> chk(p, cusum<T>());
    DosingPlant plant(84, 5.0);
    int k = 0;
    for (; k < 1800; ++k) {
      REQUIRE_FALSE(chk.update(at(kTs * k), T(5), static_cast<T>(plant.measure())).alarm);
      plant.step(5.0);
    }
    const int attack = k;
    int found = -1;
    MultiInputDecision<T> d;
    for (; k < attack + 600; ++k) {
      // The command steps to 10 l/h; the PV shown is noise around the old 10 mg/l.
      d = chk.update(at(kTs * k), T(10), static_cast<T>(10.0 + kSigma * plant.n01(plant.rng)));
      if (d.alarm && found < 0) {
        found = k;
        CHECK(d.cause == Cause::suspected_attack);
        CHECK(d.kind == FindingKind::command_response);
        CHECK(d.direction == -1);  // PV below the model
      }
    }
    // Nothing can be seen during the 10 s dead time; then the model rises at K du / tau =
    // 0.17 mg/l per second = 3 sigma per second: found within seconds after the dead time.
    CHECK(found > attack + 10);
    CHECK(found < attack + 20);
    const T frozen_bias = chk.bias();
    for (; k < attack + 900; ++k) chk.update(at(kTs * k), T(10), T(10));
    CHECK(chk.bias() == frozen_bias);  // frozen while in alarm
  }
  SUBCASE("slow drift 0.5 mg/l per hour added to the PV") {
    ResponseModelChecker<T, kMaxDelay> chk(p, cusum<T>());
    DosingPlant plant(85, 5.0);
    int k = 0, found = -1;
    for (; k < 4 * 3600 && found < 0; ++k) {
      const double drift = k > 600 ? 0.5 / 3600.0 * (k - 600) : 0.0;
      if (chk.update(at(kTs * k), T(5), static_cast<T>(plant.measure() + drift)).alarm) found = k;
      plant.step(5.0);
    }
    REQUIRE(found > 600);
    // Caught long before the drift reaches what the bias tracker (1 h) would hide: within
    // 20 minutes, at an offset of ~ 0.17 mg/l = 3.3 sigma.
    CHECK(found < 600 + 1200);
  }
}

TEST_CASE_TEMPLATE("residual equals a straightforward FOPDT reference", T, float, double) {
  auto p = dosing_params<T>();
  p.bias_time_constant_s = T(900);
  p.initial_bias = T(0.1);
  ResponseModelChecker<T, kMaxDelay, ThresholdDetector<T>> chk(p, ThresholdDetector<T>(T(1e6)));
  std::mt19937_64 rng(86);
  std::uniform_real_distribution<double> u01(0, 1);
  std::normal_distribution<double> n01(0, 1);
  // Reference state (double): delay line of past inputs, output, bias, model grid time.
  const int d = static_cast<int>(std::lround(kDead / kTs));
  std::vector<double> line;
  double y = 0, bias = 0.1, u_prev = 0, grid = 0, last_t = 0, updates = 0;
  double t = 0.0;
  int catchups = 0, early = 0;
  for (int k = 0; k < 5000; ++k) {
    // Mostly regular, sometimes early (0.4 s) or late (2..3 periods).
    const double r = u01(rng);
    t += r < 0.1 ? 0.4 : (r < 0.2 ? 2.0 + u01(rng) : 1.0 + 0.1 * (u01(rng) - 0.5));
    const double u = 3.0 + 4.0 * std::floor(u01(rng) * 3.0) * (k % 50 < 25 ? 1.0 : 0.5);
    const double pv = 10.0 + 2.0 * std::sin(k * 0.01) + kSigma * n01(rng);
    const auto dec = chk.update(at(t), static_cast<T>(u), static_cast<T>(pv));
    REQUIRE(dec.status == Status::ok);
    double residual = 0.0;
    const std::int64_t t_us = Timestamp::from_seconds(t).us;
    if (k == 0) {
      line.assign(kMaxDelay + 1, u);
      y = std::fabs(pv - bias - kGain * u) <= 3.0 * kSigma ? kGain * u : pv - bias;
      grid = static_cast<double>(t_us);
    } else {
      const double since = static_cast<double>(t_us) - grid;
      const std::int64_t n = since <= 0 ? 0 : (static_cast<std::int64_t>(since) + 500000) / 1000000;
      catchups += n > 1;
      early += n == 0;
      for (std::int64_t i = 0; i < n; ++i) {
        line.erase(line.begin());
        line.push_back(u_prev);
        y += (kGain * line[line.size() - 1 - d] - y) * -std::expm1(-kTs / kTau);
      }
      grid += 1e6 * static_cast<double>(n);
      const double raw = pv - y;
      residual = raw - bias;
      const double dt = (static_cast<double>(t_us) - last_t) * 1e-6;
      bias += std::max(1.0 / (updates + 1.0), dt / (900.0 + dt)) * (raw - bias);
      ++updates;
    }
    u_prev = u;
    last_t = static_cast<double>(t_us);
    const double tol = sizeof(T) == 4 ? 1e-3 : 1e-9;
    REQUIRE(static_cast<double>(chk.residual()) ==
            doctest::Approx(residual).epsilon(tol).scale(1.0));
    REQUIRE(static_cast<double>(chk.model_output()) == doctest::Approx(y).epsilon(tol).scale(1.0));
    REQUIRE(static_cast<double>(chk.bias()) == doctest::Approx(bias).epsilon(tol).scale(1.0));
    REQUIRE(static_cast<double>(dec.score) ==
            doctest::Approx(std::fabs(residual / kSigma)).epsilon(tol * 100).scale(1.0));
  }
  CHECK(catchups > 100);
  CHECK(early > 100);
}

TEST_CASE_TEMPLATE("gap re-aligns; bad input refused with state unchanged; no heap", T, float,
                   double) {
  ResponseModelChecker<T, kMaxDelay> chk(dosing_params<T>(), cusum<T>());
  DosingPlant plant(87, 5.0);
  int k = 0;
  for (; k < 300; ++k) {
    chk.update(at(kTs * k), T(5), static_cast<T>(plant.measure()));
    plant.step(5.0);
  }
  // 30 s without data (> 10 catch-up periods): re-aligned, nothing tested.
  auto g = chk.update(at(kTs * (k + 30)), T(5), T(10.3));
  CHECK(g.status == Status::gap);
  CHECK_FALSE(g.alarm);
  CHECK(static_cast<double>(chk.model_output()) == doctest::Approx(10.3).epsilon(1e-6));
  k += 31;

  const auto before = chk;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  auto d = chk.update(at(kTs * k), nan, T(10));
  CHECK(d.status == Status::not_finite);
  CHECK(d.refused_inputs == 1u);
  d = chk.update(Sample<T>{at(kTs * k), T(5), Quality::good},
                 Sample<T>{at(kTs * k), T(10), Quality::bad});
  CHECK(d.status == Status::bad_quality);
  CHECK(d.refused_inputs == 2u);
  CHECK(chk.update(at(kTs * k - 100), T(5), T(10)).status == Status::time_backwards);
  CHECK(chk.update(at(kTs * (k - 1)), T(5), T(10)).status == Status::time_repeated);
  auto copy = before;
  for (int i = 0; i < 300; ++i, ++k) {
    const T pv = static_cast<T>(plant.measure() + (i > 200 ? 0.5 : 0.0));
    REQUIRE(same(chk.update(at(kTs * k), T(5), pv), copy.update(at(kTs * k), T(5), pv)));
    REQUIRE(chk.bias() == copy.bias());
    plant.step(5.0);
  }

  physguard_test::HeapCounter heap;
  int alarms = 0;
  {
    NoMallocScope no_malloc;
    for (int i = 0; i < 20000; ++i, ++k) {
      const T u = T((i / 1000) % 2 == 0 ? 5 : 8);
      alarms += chk.update(Sample<T>{at(kTs * k), u, Quality::good},
                           Sample<T>{at(kTs * k), T(10), Quality::good})
                    .alarm;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(alarms > 0);
}
