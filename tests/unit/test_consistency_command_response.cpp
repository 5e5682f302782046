// Discrete command/response checkers: motor contactor feedback and valves with two limit switches.
// Normal operation with realistic response times and scan jitter raises nothing; each attack or
// fault (no response, too-fast response, uncommanded change, stuck valve, limit-switch conflict)
// is found with the right condition, cause and timing; bad input is refused with the state
// unchanged; no heap.
#include <doctest/doctest.h>

#include <cstdint>
#include <random>
#include <string>

#include <physguard/consistency/command_response.hpp>
#include <physguard/core.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

using Cond = CommandResponseCondition;

template <typename T>
bool same(const CommandResponseDecision<T>& a, const CommandResponseDecision<T>& b) {
  return a.time == b.time && a.score == b.score && a.threshold == b.threshold &&
         a.alarm == b.alarm && a.status == b.status && a.kind == b.kind && a.cause == b.cause &&
         a.direction == b.direction && a.refused_inputs == b.refused_inputs &&
         a.condition == b.condition && a.response_time_s == b.response_time_s;
}

Timestamp at(double s) { return Timestamp::from_seconds(s); }

// A motor: the command toggles at random (continuous) times; the auxiliary contact follows after
// a random delay in [delay_lo, delay_hi].  Scanned every 100 ms with +-20 ms jitter.
struct MotorSim {
  std::mt19937_64 rng;
  double delay_lo, delay_hi;
  double next_edge;
  bool cmd = false;
  bool fb = false;
  double fb_switch_at = -1.0;  // pending feedback change time
  bool fb_target = false;

  MotorSim(std::uint64_t seed, double lo, double hi) : rng(seed), delay_lo(lo), delay_hi(hi) {
    next_edge = 5.0 + uniform(0, 30);
  }
  double uniform(double a, double b) { return std::uniform_real_distribution<double>(a, b)(rng); }

  // Advance to time t (events in between applied in order); returns the true delay of an edge
  // applied in this interval (or -1).
  void advance(double t) {
    while (true) {
      const double next_fb = fb_switch_at >= 0 ? fb_switch_at : 1e300;
      const double next = next_edge < next_fb ? next_edge : next_fb;
      if (next > t) break;
      if (next == next_edge) {
        cmd = !cmd;
        fb_target = cmd;
        fb_switch_at = next_edge + uniform(delay_lo, delay_hi);
        next_edge += 8.0 + uniform(0, 50);  // always longer than the response
      } else {
        fb = fb_target;
        fb_switch_at = -1.0;
      }
    }
  }
};

}  // namespace

TEST_CASE_TEMPLATE("motor feedback: long normal run with jittered scans raises nothing", T, float,
                   double) {
  // Contactor + run-up: 0.3 .. 1.5 s.  Window [0.2 s, 2.0 s].
  DiscreteCommandResponseChecker<T> chk(Duration::from_ms(200), Duration::from_ms(2000));
  MotorSim sim(7, 0.3, 1.5);
  std::mt19937_64 jitter(8);
  std::uniform_real_distribution<double> j(-0.02, 0.02);
  int alarms = 0, responses = 0, transitions = 0;
  for (int k = 0; k < 40000; ++k) {  // ~67 minutes
    const double t = 0.1 * k + j(jitter);
    sim.advance(t);
    const auto d = chk.update(at(t), sim.cmd, sim.fb);
    REQUIRE(d.status == Status::ok);
    alarms += d.alarm;
    transitions += d.condition == Cond::in_transition;
    if (d.response_time_s > T(0)) {
      ++responses;
      // Measured delay (first scans seen) within one scan period (+ jitter) of the true range.
      CHECK(d.response_time_s >= T(0.3 - 0.15));
      CHECK(d.response_time_s <= T(1.5 + 0.15));
    }
    CHECK(d.score <= T(1));
  }
  CHECK(alarms == 0);
  CHECK(responses > 50);  // the run exercised many edges
  CHECK(transitions > 200);
}

TEST_CASE_TEMPLATE("pump commanded ON without feedback: discrepancy after t_max", T, float,
                   double) {
  DiscreteCommandResponseChecker<T> chk(Duration::from_ms(200), Duration::from_ms(2000));
  double t = 0.0;
  for (; t < 10.0; t += 0.1) REQUIRE_FALSE(chk.update(at(t), false, false).alarm);
  const double edge = t;  // first scan showing the command
  double first_alarm = -1;
  CommandResponseDecision<T> d;
  for (; t < 20.0; t += 0.1) {
    d = chk.update(at(t), true, false);
    if (d.alarm && first_alarm < 0) {
      first_alarm = t;
      CHECK(d.condition == Cond::discrepancy);
      CHECK(d.cause == Cause::process_fault);
      CHECK(d.kind == FindingKind::command_response);
      CHECK(d.score > T(1));
      CHECK(d.threshold == T(1));
      CHECK(d.direction == -1);  // feedback OFF where ON was commanded
    }
    if (t - edge < 2.0 - 1e-9) {
      CHECK_FALSE(d.alarm);
      CHECK(d.condition == Cond::in_transition);
      // Score is the fraction of t_max used.
      CHECK(d.score == doctest::Approx((t - edge) / 2.0).epsilon(1e-4));
    }
  }
  CHECK(first_alarm > edge + 2.0);
  CHECK(first_alarm < edge + 2.0 + 0.15);
  CHECK(d.alarm);  // stays in alarm while the mismatch lasts
  // Late feedback: back to agree, response time reported.
  d = chk.update(at(t), true, true);
  CHECK_FALSE(d.alarm);
  CHECK(d.condition == Cond::agree);
  CHECK(d.response_time_s == doctest::Approx(t - edge).epsilon(1e-4));
}

TEST_CASE_TEMPLATE("feedback with no command: uncommanded change, held while it lasts", T, float,
                   double) {
  DiscreteCommandResponseChecker<T> chk(Duration::from_ms(200), Duration::from_ms(2000));
  double t = 0.0;
  for (; t < 5.0; t += 0.1) REQUIRE_FALSE(chk.update(at(t), false, false).alarm);
  auto d = chk.update(at(t), false, true);  // contactor pulls in by itself
  CHECK(d.alarm);
  CHECK(d.condition == Cond::uncommanded_change);
  CHECK(d.cause == Cause::suspected_attack);
  CHECK(d.direction == 1);
  CHECK(d.score > d.threshold);
  for (int i = 0; i < 50; ++i) {
    t += 0.1;
    d = chk.update(at(t), false, true);
    CHECK(d.alarm);
    CHECK(d.condition == Cond::uncommanded_change);
  }
  t += 0.1;
  d = chk.update(at(t), false, false);  // drops out again
  CHECK_FALSE(d.alarm);
  CHECK(d.condition == Cond::agree);
  // Running motor stops without a stop command: uncommanded too (direction -1).
  for (int i = 0; i < 5; ++i) chk.update(at(t += 0.1), true, false);
  for (int i = 0; i < 15; ++i) chk.update(at(t += 0.1), true, true);
  d = chk.update(at(t += 0.1), true, false);
  CHECK(d.condition == Cond::uncommanded_change);
  CHECK(d.direction == -1);
  // The operator commands what happened: agreement, no alarm.
  d = chk.update(at(t += 0.1), false, false);
  CHECK_FALSE(d.alarm);
  CHECK(d.condition == Cond::agree);
}

TEST_CASE_TEMPLATE("feedback faster than t_min is suspicious (simulated feedback)", T, float,
                   double) {
  DiscreteCommandResponseChecker<T> chk(Duration::from_ms(200), Duration::from_ms(2000));
  double t = 0.0;
  for (; t < 5.0; t += 0.1) chk.update(at(t), false, false);
  SUBCASE("same scan") {
    const auto d = chk.update(at(t), true, true);
    CHECK(d.alarm);
    CHECK(d.condition == Cond::response_too_fast);
    CHECK(d.cause == Cause::suspected_attack);
    // Longest delay compatible with the scans is one scan period: score = 0.2 / 0.1.
    CHECK(d.score == doctest::Approx(2.0).epsilon(1e-3));
    CHECK(d.direction == 1);
  }
  SUBCASE("next scan") {
    CHECK(chk.update(at(t), true, false).condition == Cond::in_transition);
    // Edge within (t - 0.1, t], feedback first seen at t + 0.05: longest delay 0.15 s < 0.2 s.
    const auto d = chk.update(at(t + 0.05), true, true);
    CHECK(d.condition == Cond::response_too_fast);
    CHECK(d.score == doctest::Approx(0.2 / 0.15).epsilon(1e-3));
    CHECK(d.response_time_s == doctest::Approx(0.05).epsilon(1e-3));
  }
  SUBCASE("a delay that may be real is not flagged") {
    CHECK(chk.update(at(t), true, false).condition == Cond::in_transition);
    // Feedback seen 0.1 s after the command was seen: the true delay may be up to 0.2 s.
    const auto d = chk.update(at(t + 0.1), true, true);
    CHECK_FALSE(d.alarm);
    CHECK(d.condition == Cond::agree);
  }
}

TEST_CASE("discrete checker: start-up mismatch gets t_max; command reversal is not an alarm") {
  DiscreteCommandResponseChecker<double> chk(Duration::from_ms(200), Duration::from_ms(2000));
  CHECK(chk.update(at(0.0), true, false).condition == Cond::initialising);
  CHECK(chk.pending());
  CHECK(chk.update(at(1.0), true, false).condition == Cond::in_transition);
  CHECK(chk.update(at(2.5), true, false).condition == Cond::discrepancy);
  chk.reset();
  // Observation starts in the middle of a run-up: the feedback arriving one scan later is not
  // "too fast" (the command may have come long before the first scan).
  chk.update(at(5.0), true, false);
  auto up = chk.update(at(5.1), true, true);
  CHECK_FALSE(up.alarm);
  CHECK(up.condition == Cond::agree);
  chk.reset();
  CHECK_FALSE(chk.initialised());
  chk.update(at(10.0), false, false);
  CHECK(chk.update(at(10.1), true, false).condition == Cond::in_transition);
  // The operator changes their mind before the motor started: feedback never moved.
  const auto d = chk.update(at(10.2), false, false);
  CHECK_FALSE(d.alarm);
  CHECK(d.condition == Cond::agree);
  CHECK_FALSE(chk.pending());
}

namespace {

// A valve stroking between the ends: leaves its seat after `leave` s, arrives after `stroke` s.
struct ValveSim {
  bool cmd = false;
  double edge = -1e9;
  bool from_open = false;
  double leave = 0.3, stroke = 5.0;
  bool open_ls(double t) const {
    const double since = t - edge;
    if (cmd) return since >= stroke;
    return from_open && since < leave;
  }
  bool closed_ls(double t) const {
    const double since = t - edge;
    if (!cmd) return since >= stroke;
    return !from_open && since < leave;
  }
  void command(bool c, double t) {
    from_open = cmd;  // previous target reached before the next command (test design)
    cmd = c;
    edge = t;
  }
};

}  // namespace

TEST_CASE_TEMPLATE("valve: long normal run with stroke-time spread raises nothing", T, float,
                   double) {
  // Stroke 4..7 s, t_min 2 s, t_max 10 s, max travel 9 s.
  ValveCommandResponseChecker<T> chk(Duration::from_seconds(2), Duration::from_seconds(10),
                                     Duration::from_seconds(9));
  std::mt19937_64 rng(21);
  std::uniform_real_distribution<double> u01(0, 1);
  ValveSim v;
  v.edge = -100;  // at rest, closed
  double next_cmd = 20.0;
  int alarms = 0, arrivals = 0;
  for (int k = 0; k < 30000; ++k) {  // 50 minutes at 100 ms
    const double t = 0.1 * k + 0.02 * (u01(rng) - 0.5);
    if (t >= next_cmd) {
      v.command(!v.cmd, next_cmd);
      v.stroke = 4.0 + 3.0 * u01(rng);
      v.leave = 0.1 + 0.4 * u01(rng);
      next_cmd += 15.0 + 60.0 * u01(rng);
    }
    const auto d = chk.update(at(t), v.cmd, v.open_ls(t), v.closed_ls(t));
    REQUIRE(d.status == Status::ok);
    alarms += d.alarm;
    if (d.response_time_s > T(0)) {
      ++arrivals;
      CHECK(d.response_time_s > T(3.8));
      CHECK(d.response_time_s < T(7.2));
    }
  }
  CHECK(alarms == 0);
  CHECK(arrivals > 30);
}

TEST_CASE_TEMPLATE("a response later than t_max across one long scan interval is a discrepancy",
                   T, float, double) {
  // Scans stop right after the command edge (a stalled poller, a lost link) and resume 5 s later
  // with the feedback matching: the feedback took at least 5 s > t_max = 2 s.
  DiscreteCommandResponseChecker<T> chk(Duration::from_ms(200), Duration::from_ms(2000));
  double t = 0.0;
  for (; t < 10.0; t += 0.1) REQUIRE_FALSE(chk.update(at(t), false, false).alarm);
  const double edge = t;
  CHECK(chk.update(at(edge), true, false).condition == Cond::in_transition);
  CommandResponseDecision<T> d = chk.update(at(edge + 5.0), true, true);
  CHECK(d.alarm);
  CHECK(d.condition == Cond::discrepancy);
  CHECK(d.cause == Cause::process_fault);
  CHECK(d.score == doctest::Approx(2.5).epsilon(1e-4));
  CHECK(d.response_time_s == doctest::Approx(5.0).epsilon(1e-4));
  // Within t_max across one long interval: fine.
  DiscreteCommandResponseChecker<T> ok(Duration::from_ms(200), Duration::from_ms(2000));
  for (t = 0.0; t < 10.0; t += 0.1) REQUIRE_FALSE(ok.update(at(t), false, false).alarm);
  CHECK(ok.update(at(edge), true, false).condition == Cond::in_transition);
  CHECK_FALSE(ok.update(at(edge + 1.5), true, true).alarm);
  // The valve checker the same way: a 20 s stroke seen in one interval, t_max = 10 s.
  ValveCommandResponseChecker<T> v(Duration::from_seconds(2), Duration::from_seconds(10),
                                   Duration::from_seconds(8));
  for (t = 0.0; t < 5.0; t += 0.1) REQUIRE_FALSE(v.update(at(t), false, false, true).alarm);
  v.update(at(t), true, false, true);
  d = v.update(at(t + 20.0), true, true, false);
  CHECK(d.alarm);
  CHECK(d.condition == Cond::discrepancy);
  CHECK(d.score == doctest::Approx(2.0).epsilon(1e-4));
}

TEST_CASE_TEMPLATE("valve faults and attacks", T, float, double) {
  ValveCommandResponseChecker<T> chk(Duration::from_seconds(2), Duration::from_seconds(10),
                                     Duration::from_seconds(8));
  double t = 0.0;
  for (; t < 5.0; t += 0.1) REQUIRE_FALSE(chk.update(at(t), false, false, true).alarm);
  REQUIRE(chk.position() == ValvePosition::closed);

  SUBCASE("stuck in travel: left the seat, never arrives") {
    const double edge = t;
    CommandResponseDecision<T> d;
    double first = -1;
    for (; t < edge + 15.0; t += 0.1) {
      const bool seated = t - edge < 0.3;
      d = chk.update(at(t), true, false, seated);
      if (d.alarm && first < 0) {
        first = t;
        CHECK(d.condition == Cond::stuck_in_travel);
        CHECK(d.cause == Cause::process_fault);
        CHECK(d.score > T(1));
      }
    }
    // Travel started (first seen) at edge + 0.3 (+ a scan); alarm once 8 s of travel have passed.
    CHECK(first > edge + 0.3 + 8.0);
    CHECK(first < edge + 0.3 + 8.0 + 0.25);
  }
  SUBCASE("never leaves its seat: discrepancy after t_max") {
    const double edge = t;
    double first = -1;
    for (; t < edge + 12.0; t += 0.1) {
      const auto d = chk.update(at(t), true, false, true);
      if (d.alarm && first < 0) {
        first = t;
        CHECK(d.condition == Cond::discrepancy);
        CHECK(d.cause == Cause::process_fault);
        CHECK(d.direction == -1);
      }
    }
    CHECK(first > edge + 10.0);
    CHECK(first < edge + 10.0 + 0.15);
  }
  SUBCASE("both limit switches: sensor fault, last valid position kept") {
    const auto d = chk.update(at(t), false, true, true);
    CHECK(d.alarm);
    CHECK(d.condition == Cond::limit_switch_conflict);
    CHECK(d.cause == Cause::sensor_fault);
    CHECK(chk.position() == ValvePosition::closed);
    CHECK_FALSE(chk.update(at(t + 0.1), false, false, true).alarm);
  }
  SUBCASE("uncommanded opening") {
    auto d = chk.update(at(t), false, false, false);  // leaves the closed seat by itself
    CHECK(d.condition == Cond::uncommanded_change);
    CHECK(d.cause == Cause::suspected_attack);
    CHECK(d.direction == 1);
    d = chk.update(at(t + 3.0), false, true, false);  // and arrives open
    CHECK(d.condition == Cond::uncommanded_change);
    CHECK(d.alarm);
    d = chk.update(at(t + 9.0), false, false, true);  // closed again
    CHECK_FALSE(d.alarm);
    CHECK(d.condition == Cond::agree);
  }
  SUBCASE("start-up in mid-stroke: arriving soon after the first scan is not too fast") {
    ValveCommandResponseChecker<T> fresh(Duration::from_seconds(2), Duration::from_seconds(10),
                                         Duration::from_seconds(8));
    CHECK(fresh.update(at(0.0), true, false, false).condition == Cond::initialising);
    const auto d = fresh.update(at(0.5), true, true, false);
    CHECK_FALSE(d.alarm);
    CHECK(d.condition == Cond::agree);
  }
  SUBCASE("open limit switch answers instantly: simulated feedback") {
    chk.update(at(t), true, false, true);
    const auto d = chk.update(at(t + 0.1), true, true, false);
    CHECK(d.condition == Cond::response_too_fast);
    CHECK(d.cause == Cause::suspected_attack);
    CHECK(d.score == doctest::Approx(2.0 / 0.2).epsilon(1e-3));
  }
}

TEST_CASE_TEMPLATE("bad input refused, state unchanged (command response)", T, float, double) {
  DiscreteCommandResponseChecker<T> chk(Duration::from_ms(200), Duration::from_ms(2000));
  ValveCommandResponseChecker<T> valve(Duration::from_seconds(2), Duration::from_seconds(10),
                                       Duration::from_seconds(8));
  double t = 0.0;
  for (; t < 3.0; t += 0.1) {
    chk.update(at(t), false, false);
    valve.update(at(t), false, false, true);
  }
  chk.update(at(t), true, false);  // a transition in progress
  valve.update(at(t), true, false, true);
  const auto chk0 = chk;
  const auto valve0 = valve;

  const Sample<bool> good{at(t + 0.1), true, Quality::good};
  const Sample<bool> bad{at(t + 0.1), false, Quality::bad};
  const Sample<bool> missing{at(t + 0.1), false, Quality::missing};
  auto d = chk.update(good, bad);
  CHECK(d.status == Status::bad_quality);
  CHECK(d.refused_inputs == 2u);
  CHECK(d.input_refused(DiscreteCommandResponseChecker<T>::input_feedback));
  CHECK(d.kind == FindingKind::bad_input);
  CHECK_FALSE(d.alarm);
  d = chk.update(missing, bad);
  CHECK(d.status == Status::missing);
  CHECK(d.refused_inputs == 3u);
  d = chk.update(at(t - 1.0), true, true);
  CHECK(d.status == Status::time_backwards);
  CHECK(d.kind == FindingKind::timing);
  d = chk.update(at(t), true, true);
  CHECK(d.status == Status::time_repeated);
  d = valve.update(good, good, missing);
  CHECK(d.status == Status::missing);
  CHECK(d.refused_inputs == 4u);
  CHECK(valve.update(at(t - 0.5), true, true, false).status == Status::time_backwards);

  // Bit-identical behaviour afterwards compared with copies that never saw the bad input.
  auto chk1 = chk0;
  auto valve1 = valve0;
  for (int i = 1; i <= 200; ++i) {
    const double s = t + 0.1 * i;
    const bool fb = i > 150;  // late feedback: passes through discrepancy
    REQUIRE(same(chk.update(at(s), true, fb), chk1.update(at(s), true, fb)));
    const bool open = i > 60, closed = i < 3;
    REQUIRE(
        same(valve.update(at(s), true, open, closed), valve1.update(at(s), true, open, closed)));
  }
}

TEST_CASE_TEMPLATE("no heap in the command/response per-scan path", T, float, double) {
  DiscreteCommandResponseChecker<T> chk(Duration::from_ms(200), Duration::from_ms(2000));
  ValveCommandResponseChecker<T> valve(Duration::from_seconds(2), Duration::from_seconds(10),
                                       Duration::from_seconds(8));
  physguard_test::HeapCounter heap;
  int alarms = 0;
  {
    NoMallocScope no_malloc;
    for (int k = 0; k < 5000; ++k) {
      const double t = 0.1 * k;
      const bool cmd = (k / 300) % 2 == 1;
      const bool fb = ((k - 5) / 300) % 2 == 1 && k < 4000;
      alarms += chk.update(Sample<bool>{at(t), cmd, Quality::good},
                           Sample<bool>{at(t), fb, Quality::good})
                    .alarm;
      alarms += valve.update(at(t), cmd, fb, !fb).alarm;
      CHECK(to_string(chk.update(at(t + 0.05), cmd, fb).condition)[0] != '\0');
    }
  }
  CHECK(heap.count() == 0);
  CHECK(alarms > 0);
}

TEST_CASE("condition names") {
  CHECK(std::string(to_string(Cond::discrepancy)) == "discrepancy");
  CHECK(std::string(to_string(Cond::uncommanded_change)) == "uncommanded_change");
  CHECK(std::string(to_string(Cond::response_too_fast)) == "response_too_fast");
  CHECK(std::string(to_string(Cond::stuck_in_travel)) == "stuck_in_travel");
  CHECK(std::string(to_string(Cond::limit_switch_conflict)) == "limit_switch_conflict");
  CHECK(std::string(to_string(ValvePosition::travelling)) == "travelling");
  CHECK(is_alarm(Cond::discrepancy));
  CHECK_FALSE(is_alarm(Cond::in_transition));
  CHECK(DiscreteCommandResponseChecker<float>::name == std::string("discrete_command_response"));
}
