// AnalogTrackingChecker: a control valve (rate limit + positioner lag) followed for an hour of
// normal operation with noise and scan jitter raises nothing; a stuck valve (process fault), an
// uncommanded movement and a small falsified offset (suspected attack) are found; the residual
// equals a straightforward reference implementation; any statistic plugs in; bad input is refused
// with the state unchanged; no heap.
#include <doctest/doctest.h>

#include <cmath>
#include <limits>
#include <random>

#include <physguard/consistency/analog_tracking.hpp>
#include <physguard/core.hpp>
#include <physguard/detect/threshold.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

Timestamp at(double s) { return Timestamp::from_seconds(s); }

template <typename T>
AnalogTrackingParams<T> valve_params() {
  AnalogTrackingParams<T> p;
  p.max_rate_per_s = T(2);  // % per second
  p.min_position = T(0);
  p.max_position = T(100);
  p.gain = T(1);
  p.time_constant_s = T(1.5);
  p.noise_sigma = T(0.3);  // % of the position transmitter
  return p;
}

// CUSUM with a mean time between false alarms of 1e6 scans (~28 h at 10 scans/s).  The drift
// k = 1 is at least twice the worst-case bias from not knowing when, within a scan, a command
// changed: rate * scan / (2 sigma) = 2 * 0.1 / 0.6 = 0.33 sigma for a whole stroke (the rule of
// thumb in docs/consistency.md: k >= K r Ts / sigma).
template <typename T>
CusumDetector<T> cusum() {
  return CusumDetector<T>(T(1), CusumDetector<T>::threshold_for_arl(T(1), 1e6));
}

// The real valve, simulated in 10 ms steps; commands take effect when issued (between scans).
struct ValvePlant {
  double pos, out;
  double rate = 2.0, tau = 1.5;
  bool stuck = false;
  void advance(double command, double dt) {
    const double sub = 0.01;
    for (double s = 0.0; s < dt - 1e-12; s += sub) {
      const double h = std::min(sub, dt - s);
      const double target = std::min(100.0, std::max(0.0, command));
      if (!stuck) {
        const double move = target - pos;
        pos += std::max(-rate * h, std::min(rate * h, move));
      }
      out += (pos - out) * -std::expm1(-h / tau);
    }
  }
};

// Scans of an hour of normal operation: setpoint moves every 20..120 s by up to +-30 %.
template <typename T, typename F>
void normal_hour(std::uint64_t seed, F&& on_scan) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> u01(0, 1);
  std::normal_distribution<double> n01(0, 1);
  ValvePlant plant{40.0, 40.0};
  double command = 40.0, next_move = 30.0, t = 0.0;
  for (int k = 0; k < 36000; ++k) {
    const double next_t = 0.1 * (k + 1) + 0.01 * (u01(rng) - 0.5);
    if (next_move < next_t) {
      plant.advance(command, next_move - t);
      t = next_move;
      command = std::min(95.0, std::max(5.0, command + 60.0 * (u01(rng) - 0.5)));
      next_move += 20.0 + 100.0 * u01(rng);
    }
    plant.advance(command, next_t - t);
    t = next_t;
    on_scan(t, static_cast<T>(command), static_cast<T>(plant.out + 0.3 * n01(rng)));
  }
}

template <typename T>
bool same(const MultiInputDecision<T>& a, const MultiInputDecision<T>& b) {
  return a.time == b.time && a.score == b.score && a.threshold == b.threshold &&
         a.alarm == b.alarm && a.status == b.status && a.direction == b.direction &&
         a.cause == b.cause && a.refused_inputs == b.refused_inputs;
}

}  // namespace

TEST_CASE_TEMPLATE("an hour of valve moves with noise and scan jitter: no alarm", T, float,
                   double) {
  AnalogTrackingChecker<T> chk(valve_params<T>(), cusum<T>());
  int alarms = 0, scans = 0;
  double sum_z2 = 0.0;
  normal_hour<T>(71, [&](double t, T cmd, T fb) {
    const auto d = chk.update(at(t), cmd, fb);
    REQUIRE(d.status == Status::ok);
    CHECK(d.kind == FindingKind::command_response);
    alarms += d.alarm;
    sum_z2 += static_cast<double>(chk.normalised_residual()) *
              static_cast<double>(chk.normalised_residual());
    ++scans;
  });
  CHECK(alarms == 0);
  // The model explains the feedback down to the noise: mean z^2 close to 1.
  CHECK(sum_z2 / scans == doctest::Approx(1.0).epsilon(0.1));
}

TEST_CASE_TEMPLATE("residual equals a straightforward reference implementation", T, float, double) {
  const auto p = valve_params<T>();
  AnalogTrackingChecker<T> chk(p, cusum<T>());
  CusumDetector<T> ref_cusum = cusum<T>();
  bool first = true;
  double pos = 0, y = 0, u_prev = 0, last_t = 0;
  normal_hour<T>(72, [&](double t, T cmd, T fb) {
    const auto d = chk.update(at(t), cmd, fb);
    // Reference in double, written out: align on the first scan, then rate limit + exact lag
    // with the previous command held over the interval.
    const double f = static_cast<double>(fb);
    double r = 0.0;
    if (first) {
      const double c = std::min(100.0, std::max(0.0, static_cast<double>(cmd)));
      pos = std::fabs(f - c) <= 0.9 ? c : f;  // at rest on the command within 3 sigma
      y = pos == c ? c : f;
      first = false;
    } else {
      const double dt = (Timestamp::from_seconds(t).us - Timestamp::from_seconds(last_t).us) * 1e-6;
      auto step = [&](double u, double h) {
        const double target = std::min(100.0, std::max(0.0, u));
        const double before = pos;
        pos += std::max(-2.0 * h, std::min(2.0 * h, target - pos));
        // Mean position over h: moving at 2 /s for |travel| / 2 seconds, then at rest.
        const double moving = std::fabs(pos - before) / 2.0;
        const double mean = moving < h ? (moving * 0.5 * (before + pos) + (h - moving) * pos) / h
                                       : 0.5 * (before + pos);
        y += (mean - y) * -std::expm1(-h / 1.5);
      };
      const double c = static_cast<double>(cmd);
      if (c == u_prev) {
        step(c, dt);
      } else {  // command edge taken at the midpoint of the interval
        step(u_prev, 0.5 * dt);
        step(c, 0.5 * dt);
      }
      r = f - y;
      const auto e = ref_cusum.update(static_cast<T>(r / 0.3));
      // The CUSUM sums rounding differences of float residuals: looser for float.
      REQUIRE(static_cast<double>(d.score) ==
              doctest::Approx(static_cast<double>(e.score)).epsilon(sizeof(T) == 4 ? 2e-2 : 1e-9));
    }
    u_prev = static_cast<double>(cmd);
    last_t = t;
    const double tol = sizeof(T) == 4 ? 2e-3 : 1e-9;  // float carries ~1e-7 of 100 %
    REQUIRE(static_cast<double>(chk.residual()) == doctest::Approx(r).epsilon(tol).scale(1.0));
    REQUIRE(static_cast<double>(chk.model_output()) == doctest::Approx(y).epsilon(tol).scale(1.0));
  });
}

TEST_CASE_TEMPLATE("stuck valve: process fault", T, float, double) {
  AnalogTrackingChecker<T> chk(valve_params<T>(), cusum<T>());
  std::mt19937_64 rng(73);
  std::normal_distribution<double> n01(0, 1);
  ValvePlant plant{30.0, 30.0};
  double t = 0.0;
  for (; t < 60.0; t += 0.1) {
    plant.advance(30.0, 0.1);
    REQUIRE_FALSE(chk.update(at(t), T(30), static_cast<T>(plant.out + 0.3 * n01(rng))).alarm);
  }
  plant.stuck = true;
  const double step_at = t;
  double first = -1;
  MultiInputDecision<T> d;
  for (; t < step_at + 30.0; t += 0.1) {
    plant.advance(60.0, 0.1);
    d = chk.update(at(t), T(60), static_cast<T>(plant.out + 0.3 * n01(rng)));
    if (d.alarm && first < 0) {
      first = t;
      CHECK(d.cause == Cause::process_fault);  // the model was still moving
      CHECK(d.direction == -1);                // feedback below the model
    }
  }
  CHECK(first > step_at);
  CHECK(first < step_at + 3.0);
  CHECK(d.alarm);
  CHECK(d.cause == Cause::process_fault);  // kept while the alarm lasts
}

TEST_CASE_TEMPLATE("uncommanded movement and a small falsified offset: suspected attack", T, float,
                   double) {
  std::mt19937_64 rng(74);
  std::normal_distribution<double> n01(0, 1);
  SUBCASE("valve driven to 55 % while commanded 40 %") {
    AnalogTrackingChecker<T> chk(valve_params<T>(), cusum<T>());
    ValvePlant plant{40.0, 40.0};
    double t = 0.0;
    for (; t < 60.0; t += 0.1) {
      plant.advance(40.0, 0.1);
      REQUIRE_FALSE(chk.update(at(t), T(40), static_cast<T>(plant.out + 0.3 * n01(rng))).alarm);
    }
    const double start = t;
    double first = -1;
    for (; t < start + 20.0; t += 0.1) {
      plant.advance(55.0, 0.1);  // the field obeys someone else
      const auto d = chk.update(at(t), T(40), static_cast<T>(plant.out + 0.3 * n01(rng)));
      if (d.alarm && first < 0) {
        first = t;
        CHECK(d.cause == Cause::suspected_attack);
        CHECK(d.direction == 1);
      }
    }
    CHECK(first > start);
    CHECK(first < start + 3.0);
  }
  SUBCASE("feedback falsified by +1 % (3.3 sigma)") {
    AnalogTrackingChecker<T> chk(valve_params<T>(), cusum<T>());
    double t = 0.0;
    for (; t < 30.0; t += 0.1) chk.update(at(t), T(50), static_cast<T>(50.0 + 0.3 * n01(rng)));
    int delay = 0;
    bool found = false;
    for (; delay < 100 && !found; ++delay) {
      t += 0.1;
      found = chk.update(at(t), T(50), static_cast<T>(51.0 + 0.3 * n01(rng))).alarm;
    }
    CHECK(found);
    // CUSUM theory: ARL1 for a 3.33 sigma shift with this k and h (Siegmund) - allow 3x.
    const double arl1 = CusumDetector<double>::average_run_length(
        1.0, static_cast<double>(chk.statistic().threshold()), 1.0 / 0.3);
    CHECK(delay < 3.0 * arl1 + 3);
  }
}

TEST_CASE_TEMPLATE("any statistic plugs in: a memoryless threshold", T, float, double) {
  AnalogTrackingChecker<T, ThresholdDetector<T>> chk(valve_params<T>(), ThresholdDetector<T>(T(6)));
  int alarms = 0;
  normal_hour<T>(75, [&](double t, T cmd, T fb) { alarms += chk.update(at(t), cmd, fb).alarm; });
  CHECK(alarms == 0);
  const auto d = chk.update(at(4000.0), chk.model_position(), chk.model_position() + T(5));
  CHECK(d.alarm);  // a 5 % jump = 16 sigma
  CHECK(d.threshold == T(6));
}

TEST_CASE_TEMPLATE("analog tracking: bad input refused with state unchanged; no heap", T, float,
                   double) {
  AnalogTrackingChecker<T> chk(valve_params<T>(), cusum<T>());
  std::mt19937_64 rng(76);
  std::normal_distribution<double> n01(0, 1);
  for (int i = 0; i < 100; ++i)
    chk.update(at(0.1 * i), T(i < 50 ? 20 : 40), static_cast<T>(20.0 + 0.3 * n01(rng)));
  const auto before = chk;
  const T nan = std::numeric_limits<T>::quiet_NaN();
  auto d = chk.update(at(10.0), nan, T(20));
  CHECK(d.status == Status::not_finite);
  CHECK(d.refused_inputs == 1u);
  d = chk.update(at(10.0), T(20), std::numeric_limits<T>::infinity());
  CHECK(d.refused_inputs == 2u);
  CHECK_FALSE(d.alarm);
  d = chk.update(Sample<T>{at(10.0), T(20), Quality::missing},
                 Sample<T>{at(10.0), T(20), Quality::bad});
  CHECK(d.status == Status::missing);
  CHECK(d.refused_inputs == 3u);
  CHECK(chk.update(at(5.0), T(20), T(20)).status == Status::time_backwards);
  CHECK(chk.update(at(9.9), T(20), T(20)).status == Status::time_repeated);
  CHECK(chk.model_output() == before.model_output());
  auto copy = before;
  for (int i = 100; i < 400; ++i) {
    const T fb = static_cast<T>(20.0 + (i > 300 ? 3.0 : 0.0) + 0.3 * n01(rng));
    REQUIRE(same(chk.update(at(0.1 * i), T(40), fb), copy.update(at(0.1 * i), T(40), fb)));
    REQUIRE(chk.residual() == copy.residual());
  }

  physguard_test::HeapCounter heap;
  int alarms = 0;
  {
    NoMallocScope no_malloc;
    for (int i = 400; i < 10400; ++i) {
      const T cmd = T((i / 300) % 2 == 0 ? 30 : 70);
      alarms += chk.update(Sample<T>{at(0.1 * i), cmd, Quality::good},
                           Sample<T>{at(0.1 * i), T(50), Quality::good})
                    .alarm;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(alarms > 0);
}
