// HysteresisRuleChecker: a tank with a fill pump (and a drain pump, inverse sense) under a
// two-point controller that sees its own noisy sensor and switches with a delay: a day of normal
// operation raises nothing, including an unknown start inside the band; a pump forced ON above the
// OFF level (or OFF below the ON level) is found after the tolerance; the expected state equals an
// independent simulation of the controller; bad input is refused with the state unchanged; no heap.
#include <doctest/doctest.h>

#include <limits>
#include <random>
#include <string>

#include <physguard/consistency/control_logic.hpp>
#include <physguard/core.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

Timestamp at(double s) { return Timestamp::from_seconds(s); }

// Tank 2 m^2, demand 0.004..0.008 m^3/s, fill pump 0.015 m^3/s.  The PLC switches the pump by
// hysteresis on its own transmitter; the contactor feedback follows after switch_delay seconds.
struct TankPlant {
  std::mt19937_64 rng;
  std::normal_distribution<double> n01{0.0, 1.0};
  std::uniform_real_distribution<double> u01{0.0, 1.0};
  double level;
  double low, high;
  bool sense_on_below;
  double plc_sigma;
  bool plc_on = false;      // the controller's output
  bool feedback = false;    // the contactor feedback (delayed)
  double change_at = -1.0;  // feedback changes at this time
  double delay_lo, delay_hi;
  double demand = 0.006;

  TankPlant(std::uint64_t seed, double level0, double lo, double hi, bool on_below, double sigma,
            bool initial_on, double dlo, double dhi)
      : rng(seed),
        level(level0),
        low(lo),
        high(hi),
        sense_on_below(on_below),
        plc_sigma(sigma),
        plc_on(initial_on),
        feedback(initial_on),
        delay_lo(dlo),
        delay_hi(dhi) {}

  void step(double t, double dt) {
    if (u01(rng) < dt / 600.0) demand = 0.004 + 0.004 * u01(rng);
    const double pump = feedback ? 0.015 : 0.0;
    // Fill pump: in minus demand.  Drain pump (inverse sense): inflow minus pump.
    const double net = sense_on_below ? pump - demand : demand - pump;
    level += net * dt / 2.0;
    const double seen = level + plc_sigma * n01(rng);
    const bool want_low = sense_on_below;  // state demanded below low
    bool next = plc_on;
    if (seen < low) next = want_low;
    if (seen > high) next = !want_low;
    if (next != plc_on) {
      plc_on = next;
      change_at = t + delay_lo + (delay_hi - delay_lo) * u01(rng);
    }
    if (change_at >= 0 && t >= change_at) {
      feedback = plc_on;
      change_at = -1.0;
    }
  }
};

template <typename T>
bool same(const ControlLogicDecision<T>& a, const ControlLogicDecision<T>& b) {
  return a.time == b.time && a.score == b.score && a.alarm == b.alarm && a.status == b.status &&
         a.expected == b.expected && a.condition == b.condition && a.direction == b.direction &&
         a.cause == b.cause;
}

}  // namespace

TEST_CASE_TEMPLATE("a day of hysteresis control with noise and switching delays: no alarm", T,
                   float, double) {
  for (bool on_below : {true, false}) {
    CAPTURE(on_below);
    const double sigma = 0.01;  // both transmitters
    const HysteresisSense sense =
        on_below ? HysteresisSense::on_below_low : HysteresisSense::on_above_high;
    // Switching delays 2 .. 15 s (a slow contactor-feedback path): the level overshoots the
    // margin zone before the feedback follows, so the tolerance is really needed.
    HysteresisRuleChecker<T> chk(T(1.0), T(2.0), sense, Duration::from_seconds(20), T(0.05));
    // Start inside the band with the pump ON: the checker cannot know the history.
    TankPlant plant(on_below ? 51 : 52, 1.5, 1.0, 2.0, on_below, sigma, true, 2.0, 15.0);
    std::mt19937_64 rng(53);
    std::normal_distribution<double> n01(0.0, 1.0);
    int alarms = 0, switching = 0, unknown = 0, switches = 0;
    bool last_fb = plant.feedback;
    for (int k = 0; k < 86400; ++k) {
      const double t = 1.0 * k;
      plant.step(t, 1.0);
      switches += plant.feedback != last_fb;
      last_fb = plant.feedback;
      const T measured = static_cast<T>(plant.level + sigma * n01(rng));
      const auto d = chk.update(at(t), measured, plant.feedback);
      REQUIRE(d.status == Status::ok);
      alarms += d.alarm;
      switching += d.condition == ControlLogicCondition::switching;
      unknown += d.condition == ControlLogicCondition::unknown_state;
    }
    CHECK(alarms == 0);
    CHECK(switches > 20);   // the controller cycled many times
    CHECK(switching > 10);  // switching delays were seen and tolerated
    CHECK(unknown > 0);     // the start was unknown ...
    CHECK(unknown < 3000);  // ... only until the first threshold
  }
}

TEST_CASE_TEMPLATE("pump forced ON above the OFF level: control-logic violation", T, float,
                   double) {
  HysteresisRuleChecker<T> chk(T(1.0), T(2.0), HysteresisSense::on_below_low,
                               Duration::from_seconds(3), T(0.05));
  double t = 0.0;
  // Level rises above the high level, the pump stops on time.
  for (; t < 10.0; t += 1.0) chk.update(at(t), T(1.9), true);
  CHECK(chk.expected() == ExpectedState::unknown);
  chk.update(at(t), T(2.1), true);  // above OFF level, stop not yet seen: switching
  t += 1.0;
  for (; t < 30.0; t += 1.0) REQUIRE_FALSE(chk.update(at(t), T(2.1), false).alarm);
  CHECK(chk.expected() == ExpectedState::off);
  // Attack: the pump is forced ON while the tank is above the OFF level.
  const double forced = t;
  double first = -1.0;
  ControlLogicDecision<T> d;
  for (; t < forced + 10.0; t += 1.0) {
    d = chk.update(at(t), T(2.1), true);
    if (t - forced <= 3.0) {
      CHECK_FALSE(d.alarm);
      CHECK(d.condition == ControlLogicCondition::switching);
    }
    if (d.alarm && first < 0) first = t;
  }
  CHECK(first == doctest::Approx(forced + 4.0));
  CHECK(d.condition == ControlLogicCondition::violated);
  CHECK(d.expected == ExpectedState::off);
  CHECK(d.kind == FindingKind::control_logic);
  CHECK(d.cause == Cause::suspected_attack);
  CHECK(d.direction == 1);
  CHECK(d.score == doctest::Approx((t - 1.0 - forced) / 3.0).epsilon(1e-5));
  CHECK(d.threshold == T(1));
  // Even back inside the band the held expectation (OFF) stands: a hysteresis controller never
  // switches ON between the levels.
  d = chk.update(at(t), T(1.5), true);
  CHECK(d.alarm);
  // Level falls below the ON level: ON is right again.
  d = chk.update(at(t + 1.0), T(0.9), true);
  CHECK_FALSE(d.alarm);
  CHECK(d.condition == ControlLogicCondition::consistent);
  // Pump forced OFF below the ON level: direction -1.
  for (int i = 2; i < 8; ++i) d = chk.update(at(t + i), T(0.9), false);
  CHECK(d.alarm);
  CHECK(d.direction == -1);
}

TEST_CASE_TEMPLATE("margin zones adopt a plausible switch, inverse sense", T, float, double) {
  // Drain pump: ON above 2.0, OFF below 1.0.
  HysteresisRuleChecker<T> chk(T(1.0), T(2.0), HysteresisSense::on_above_high,
                               Duration::from_seconds(2), T(0.05));
  double t = 0.0;
  auto d = chk.update(at(t), T(1.5), false);
  CHECK(d.condition == ControlLogicCondition::unknown_state);
  // At 1.98 the controller's own sensor may already read above 2.0: ON is accepted and adopted.
  d = chk.update(at(t += 1), T(1.98), true);
  CHECK(d.condition == ControlLogicCondition::consistent);
  CHECK(chk.expected() == ExpectedState::on);
  // Back in the band the pump must keep running (hold): stopping there is a violation.
  for (int i = 0; i < 5; ++i) d = chk.update(at(t += 1), T(1.5), false);
  CHECK(d.condition == ControlLogicCondition::violated);
  CHECK(d.direction == -1);
  // Near the OFF level (1.03) stopping is plausible and adopted.
  d = chk.update(at(t += 1), T(1.03), false);
  CHECK(d.condition == ControlLogicCondition::consistent);
  CHECK(chk.expected() == ExpectedState::off);
}

TEST_CASE("expected state equals an independent controller simulation (noise-free)") {
  HysteresisRuleChecker<double> chk(1.0, 2.0, HysteresisSense::on_below_low,
                                    Duration::from_seconds(1));
  std::mt19937_64 rng(61);
  std::uniform_real_distribution<double> u01(0, 1);
  // A level wandering through and beyond the band; reference: textbook hysteresis, state unknown
  // until the first excursion beyond a level.
  int ref = -1;  // -1 unknown, 0 off, 1 on
  double x = 1.5;
  int known = 0;
  for (int k = 0; k < 20000; ++k) {
    x += 0.05 * (u01(rng) - 0.5) + (x < 0.5 ? 0.02 : 0.0) - (x > 2.5 ? 0.02 : 0.0);
    if (x < 1.0) ref = 1;
    if (x > 2.0) ref = 0;
    const bool reported = ref == 1;
    const auto d = chk.update(at(k), x, reported);
    const ExpectedState want =
        ref < 0 ? ExpectedState::unknown : (ref == 1 ? ExpectedState::on : ExpectedState::off);
    REQUIRE(d.expected == want);
    REQUIRE_FALSE(d.alarm);
    known += ref >= 0;
  }
  CHECK(known > 10000);
}

TEST_CASE_TEMPLATE("control logic: bad input refused with state unchanged; no heap", T, float,
                   double) {
  HysteresisRuleChecker<T> chk(T(1.0), T(2.0), HysteresisSense::on_below_low,
                               Duration::from_seconds(3), T(0.05));
  for (int i = 0; i < 20; ++i) chk.update(at(i), T(2.5), false);
  chk.update(at(20), T(2.5), true);  // mismatch running
  const auto before = chk;
  CHECK(chk.update(at(21), std::numeric_limits<T>::quiet_NaN(), true).status == Status::not_finite);
  auto d = chk.update(Sample<T>{at(21), T(2.5), Quality::good},
                      Sample<bool>{at(21), true, Quality::missing});
  CHECK(d.status == Status::missing);
  CHECK(d.refused_inputs == 2u);
  d = chk.update(Sample<T>{at(21), T(2.5), Quality::bad},
                 Sample<bool>{at(21), true, Quality::good});
  CHECK(d.refused_inputs == 1u);
  CHECK(chk.update(at(19), T(2.5), true).status == Status::time_backwards);
  CHECK(chk.update(at(20), T(2.5), true).status == Status::time_repeated);
  auto copy = before;
  for (int i = 21; i < 100; ++i) {
    const T x = static_cast<T>(2.5 - 0.03 * (i - 21));
    const bool on = i < 60;
    REQUIRE(same(chk.update(at(i), x, on), copy.update(at(i), x, on)));
  }

  physguard_test::HeapCounter heap;
  int alarms = 0;
  {
    NoMallocScope no_malloc;
    for (int i = 100; i < 10000; ++i) {
      const T x = static_cast<T>(1.5 + 0.8 * ((i / 500) % 2 == 0 ? 1 : -1));
      alarms += chk.update(Sample<T>{at(i), x, Quality::good},
                           Sample<bool>{at(i), (i / 700) % 2 == 0, Quality::good})
                    .alarm;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(alarms > 0);
  CHECK(std::string(to_string(ControlLogicCondition::violated)) == "violated");
  CHECK(std::string(to_string(ExpectedState::on)) == "on");
}
