// Alarm logic: warning vs alarm, on-delay, k-of-n (against a brute-force reference), hysteresis,
// latch + acknowledge, suppression, refused inputs never change the state.
#include <doctest/doctest.h>

#include <cstdint>
#include <deque>
#include <limits>
#include <random>
#include <vector>

#include <physguard/compose/alarm_logic.hpp>

using namespace physguard;

namespace {

// A decision at time t_s seconds with the given score, tested against `h`.
template <typename T>
Decision<T> dec(double t_s, T score, T h = T(1)) {
  Decision<T> d;
  d.time = Timestamp::from_seconds(t_s);
  d.score = score;
  d.threshold = h;
  d.alarm = score > h;
  return d;
}

struct Event {
  int index;
  AlarmState state;
};

// Runs scores (one per second) through the logic, returns the findings as (index, state).
template <typename T>
std::vector<Event> run(AlarmLogic<T>& logic, const std::vector<T>& scores, T h = T(1)) {
  std::vector<Event> events;
  for (int i = 0; i < static_cast<int>(scores.size()); ++i) {
    const AlarmOutput o = logic.update(dec<T>(i, scores[static_cast<std::size_t>(i)], h));
    if (o.changed) events.push_back({i, o.state});
  }
  return events;
}

template <typename T>
void check_events(const std::vector<Event>& got, const std::vector<Event>& want) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CHECK(got[i].index == want[i].index);
    CHECK(got[i].state == want[i].state);
  }
}

}  // namespace

TEST_CASE_TEMPLATE("default logic: alarm on the first exceedance, cleared on the first return", T,
                   float, double) {
  AlarmLogic<T> logic;
  const std::vector<T> s = {T(0.2), T(0.5), T(1.5), T(2.0), T(0.9), T(0.1), T(1.01)};
  check_events<T>(run(logic, s),
                  {{2, AlarmState::alarm}, {4, AlarmState::cleared}, {6, AlarmState::alarm}});
  CHECK(logic.state() == AlarmState::alarm);
  CHECK(logic.reported() == AlarmState::alarm);
}

TEST_CASE_TEMPLATE("warning level: fraction of the threshold and absolute level", T, float, double) {
  SUBCASE("fraction") {
    AlarmConfig<T> cfg;
    cfg.warning_fraction = T(0.7);
    AlarmLogic<T> logic(cfg);
    // 0.5 normal, 0.75 warning, 1.2 alarm, 0.8 back to warning, 0.6 normal, 1.5 alarm, 0.1 cleared
    const std::vector<T> s = {T(0.5), T(0.75), T(1.2), T(0.8), T(0.6), T(1.5), T(0.1)};
    check_events<T>(run(logic, s), {{1, AlarmState::warning},
                                    {2, AlarmState::alarm},
                                    {3, AlarmState::warning},
                                    {4, AlarmState::normal},
                                    {5, AlarmState::alarm},
                                    {6, AlarmState::cleared}});
  }
  SUBCASE("absolute warning threshold overrides the fraction, independent of the threshold") {
    AlarmConfig<T> cfg;
    cfg.warning_fraction = T(0.1);
    cfg.warning_threshold = T(3);
    AlarmLogic<T> logic(cfg);
    std::vector<Event> ev;
    const T scores[] = {T(2), T(3.5), T(2.5)};
    const T thresholds[] = {T(10), T(10), T(100)};
    for (int i = 0; i < 3; ++i) {
      const auto o = logic.update(dec<T>(i, scores[i], thresholds[i]));
      if (o.changed) ev.push_back({i, o.state});
    }
    check_events<T>(ev, {{1, AlarmState::warning}, {2, AlarmState::normal}});
  }
  SUBCASE("no warning level: warnings never appear") {
    AlarmLogic<T> logic;
    const std::vector<T> s = {T(0.99), T(0.999), T(0.5)};
    CHECK(run(logic, s).empty());
  }
}

TEST_CASE_TEMPLATE("on-delay: the condition must hold continuously for on_delay seconds", T, float,
                   double) {
  AlarmConfig<T> cfg;
  cfg.on_delay = Duration::from_ms(500);
  AlarmLogic<T> logic(cfg);
  // 10 Hz samples.  Exceed from t = 1.0 s to 1.3 s (interrupted at 1.4), then from 2.0 s on.
  std::vector<Event> ev;
  for (int i = 0; i < 40; ++i) {
    const double t = 0.1 * i;
    const bool high = (i >= 10 && i <= 13) || i >= 20;
    const auto o = logic.update(dec<T>(t, high ? T(2) : T(0)));
    if (o.changed) ev.push_back({i, o.state});
    if (i < 25) CHECK(logic.state() == AlarmState::normal);
  }
  // Candidate since 2.0 s; 2.5 s - 2.0 s >= 0.5 s at sample 25 (the 6th exceeding sample).
  check_events<T>(ev, {{25, AlarmState::alarm}});
}

TEST_CASE_TEMPLATE("on-delay uses the decisions' time, not their count", T, float, double) {
  AlarmConfig<T> cfg;
  cfg.on_delay = Duration::from_seconds(10.0);
  AlarmLogic<T> logic(cfg);
  CHECK_FALSE(logic.update(dec<T>(0.0, T(5))).changed);
  CHECK_FALSE(logic.update(dec<T>(9.999999, T(5))).changed);
  const auto o = logic.update(dec<T>(10.0, T(5)));  // two samples only, but 10 s apart
  CHECK(o.changed);
  CHECK(o.state == AlarmState::alarm);
}

// Brute-force reference of k-of-n + on-delay + hysteresis, written from the specification.
namespace {
struct Reference {
  int k, n;
  double on_delay_s, clear_fraction;
  std::deque<bool> window;
  std::vector<bool> kn_history;
  std::vector<double> times;
  bool active = false;

  bool step(double t, double score, double h) {
    const bool exceed = score > h;
    window.push_back(exceed);
    if (static_cast<int>(window.size()) > n) window.pop_front();
    int count = 0;
    for (bool b : window) count += b ? 1 : 0;
    const bool kn = count >= k;
    kn_history.push_back(kn);
    times.push_back(t);
    if (active) {
      active = kn || exceed || score > clear_fraction * h;
    } else if (kn) {
      std::size_t start = kn_history.size() - 1;
      while (start > 0 && kn_history[start - 1]) --start;
      active = t - times[start] >= on_delay_s - 1e-9;
    }
    return active;
  }
};
}  // namespace

TEST_CASE_TEMPLATE("k-of-n with on-delay and hysteresis agrees with a brute-force reference", T,
                   float, double) {
  struct Setup {
    int k, n;
    double on_delay_s, clear_fraction;
  };
  const Setup setups[] = {{1, 1, 0.0, 1.0},  {2, 3, 0.0, 1.0},   {3, 5, 0.0, 0.8},
                          {4, 10, 0.0, 1.0}, {5, 64, 0.0, 0.9},  {2, 4, 0.25, 1.0},
                          {3, 8, 1.0, 0.7},  {64, 64, 0.0, 1.0}, {1, 64, 0.5, 0.95}};
  std::mt19937 rng(12345);
  for (const Setup& s : setups) {
    CAPTURE(s.k);
    CAPTURE(s.n);
    CAPTURE(s.on_delay_s);
    AlarmConfig<T> cfg;
    cfg.k = static_cast<std::uint8_t>(s.k);
    cfg.n = static_cast<std::uint8_t>(s.n);
    cfg.on_delay = Duration::from_seconds(s.on_delay_s);
    cfg.clear_fraction = static_cast<T>(s.clear_fraction);
    AlarmLogic<T> logic(cfg);
    Reference ref{s.k, s.n, s.on_delay_s, static_cast<double>(cfg.clear_fraction), {}, {}, {}, false};
    // Bursts of high scores with random probability, random sampling intervals (1..200 ms).
    std::uniform_real_distribution<double> u(0.0, 1.0);
    std::int64_t t_us = 0;
    double p_high = 0.1;
    const double p_choices[] = {0.0, 0.05, 0.3, 0.6, 0.9, 1.0};
    int disagreements = 0;
    int activations = 0;
    bool was_active = false;
    for (int i = 0; i < 30000; ++i) {
      if (i % 250 == 0) p_high = p_choices[static_cast<int>(u(rng) * 6) % 6];
      t_us += 1000 * (1 + static_cast<std::int64_t>(u(rng) * 200));
      // Scores are multiples of 1/16: exact in float and double, so both sides compare alike.
      const double score = u(rng) < p_high ? 1.0 + std::floor(u(rng) * 16) / 16.0
                                           : std::floor(u(rng) * 16) / 16.0;
      Decision<T> d;
      d.time = Timestamp::from_us(t_us);
      d.score = static_cast<T>(score);
      d.threshold = T(1);
      d.alarm = d.score > d.threshold;
      logic.update(d);
      const bool want = ref.step(static_cast<double>(t_us) * 1e-6, score, 1.0);
      if (logic.condition_active() != want) ++disagreements;
      if (want && !was_active) ++activations;
      was_active = want;
    }
    CHECK(disagreements == 0);
    CHECK(activations >= 3);  // the sequence really exercises the logic
  }
}

TEST_CASE_TEMPLATE("hysteresis: an alarm clears only below clear_fraction * threshold", T, float,
                   double) {
  AlarmConfig<T> cfg;
  cfg.clear_fraction = T(0.75);
  AlarmLogic<T> logic(cfg);
  // 1.1 alarm; 0.9, 0.8, 0.76 stay (above 0.75); 0.75 clears; 0.9 does not re-alarm; 1.2 does.
  const std::vector<T> s = {T(1.1), T(0.9), T(0.8), T(0.76), T(0.75), T(0.9), T(1.2)};
  check_events<T>(run(logic, s),
                  {{0, AlarmState::alarm}, {4, AlarmState::cleared}, {6, AlarmState::alarm}});
}

TEST_CASE_TEMPLATE("hysteresis also applies to the warning level", T, float, double) {
  AlarmConfig<T> cfg;
  cfg.warning_fraction = T(0.5);
  cfg.clear_fraction = T(0.8);  // warning clears at <= 0.4
  AlarmLogic<T> logic(cfg);
  const std::vector<T> s = {T(0.6), T(0.45), T(0.41), T(0.4), T(0.45)};
  check_events<T>(run(logic, s), {{0, AlarmState::warning}, {3, AlarmState::normal}});
}

TEST_CASE_TEMPLATE("k-of-n does not chatter while the window still holds k exceedances", T, float,
                   double) {
  AlarmConfig<T> cfg;
  cfg.k = 3;
  cfg.n = 5;
  AlarmLogic<T> logic(cfg);
  // exceed pattern 1 1 1 0 1 0 1 0 0 0 0: alarm at index 2, holds while >= 3 of the last 5
  // (indices 3..6 hold 3), clears at 7 (0 1 0 1 0: 2 of 5, score below the clear level).
  const std::vector<T> s = {T(2), T(2), T(2), T(0), T(2), T(0), T(2), T(0), T(0), T(0), T(0)};
  check_events<T>(run(logic, s), {{2, AlarmState::alarm}, {7, AlarmState::cleared}});
}

TEST_CASE_TEMPLATE("latch: alarm stays until acknowledged AND cleared", T, float, double) {
  AlarmConfig<T> cfg;
  cfg.latch = true;

  SUBCASE("condition clears first, acknowledgement releases") {
    AlarmLogic<T> logic(cfg);
    CHECK(logic.update(dec<T>(0, T(2))).state == AlarmState::alarm);
    CHECK(logic.latched());
    const auto o1 = logic.update(dec<T>(1, T(0)));  // condition gone, not acknowledged
    CHECK_FALSE(o1.changed);
    CHECK(o1.state == AlarmState::alarm);
    CHECK_FALSE(logic.condition_active());
    CHECK(o1.in_alarm);  // baseline stays frozen while latched
    CHECK_FALSE(logic.update(dec<T>(2, T(0))).changed);
    const auto ack = logic.acknowledge(Timestamp::from_seconds(3));
    CHECK(ack.changed);
    CHECK(ack.state == AlarmState::cleared);
    CHECK(logic.state() == AlarmState::normal);
    CHECK_FALSE(logic.update(dec<T>(4, T(0))).changed);
  }
  SUBCASE("acknowledged first, condition clearing releases") {
    AlarmLogic<T> logic(cfg);
    logic.update(dec<T>(0, T(2)));
    const auto ack = logic.acknowledge(Timestamp::from_seconds(1));
    CHECK_FALSE(ack.changed);
    CHECK(logic.acknowledged());
    CHECK(logic.state() == AlarmState::alarm);
    CHECK_FALSE(logic.update(dec<T>(2, T(3))).changed);  // still in alarm
    const auto o = logic.update(dec<T>(3, T(0.5)));
    CHECK(o.changed);
    CHECK(o.state == AlarmState::cleared);
  }
  SUBCASE("condition returning while latched gives no second alarm finding") {
    AlarmLogic<T> logic(cfg);
    const std::vector<T> s = {T(2), T(0), T(2), T(0)};
    check_events<T>(run(logic, s), {{0, AlarmState::alarm}});
    CHECK(logic.state() == AlarmState::alarm);
  }
  SUBCASE("release to warning when the warning condition remains") {
    cfg.warning_fraction = T(0.5);
    AlarmLogic<T> logic(cfg);
    logic.update(dec<T>(0, T(2)));
    logic.update(dec<T>(1, T(0.7)));  // below alarm, above warning
    CHECK(logic.state() == AlarmState::alarm);
    const auto ack = logic.acknowledge(Timestamp::from_seconds(2));
    CHECK(ack.changed);
    CHECK(ack.state == AlarmState::warning);
  }
  SUBCASE("acknowledging when nothing is in alarm does nothing") {
    AlarmLogic<T> logic(cfg);
    logic.update(dec<T>(0, T(0)));
    CHECK_FALSE(logic.acknowledge(Timestamp::from_seconds(1)).changed);
    CHECK(logic.state() == AlarmState::normal);
  }
  SUBCASE("without latch the alarm clears by itself") {
    AlarmLogic<T> logic;  // latch = false
    logic.update(dec<T>(0, T(2)));
    CHECK(logic.update(dec<T>(1, T(0))).state == AlarmState::cleared);
  }
}

TEST_CASE_TEMPLATE("suppression: no repeated findings during the hold-off, final state reported",
                   T, float, double) {
  AlarmConfig<T> cfg;
  cfg.hold_off = Duration::from_seconds(10.0);
  AlarmLogic<T> logic(cfg);
  // alarm at 0; chatter at 1..4 (suppressed); still normal at 10 -> cleared reported at 10.
  const std::vector<T> s = {T(2), T(0), T(2), T(0), T(2), T(0), T(0), T(0), T(0), T(0), T(0), T(0)};
  check_events<T>(run(logic, s), {{0, AlarmState::alarm}, {10, AlarmState::cleared}});
  CHECK(logic.suppressed() == 5);

  SUBCASE("a new alarm after the hold-off is reported and starts a new hold-off") {
    const std::vector<T> more = {T(2), T(0), T(2)};
    std::vector<Event> ev;
    for (int i = 0; i < 3; ++i) {
      const auto o = logic.update(dec<T>(20 + i, more[static_cast<std::size_t>(i)]));
      if (o.changed) ev.push_back({20 + i, o.state});
    }
    check_events<T>(ev, {{20, AlarmState::alarm}});
  }
}

TEST_CASE_TEMPLATE("suppression ends with no finding when the state is back to the reported one",
                   T, float, double) {
  AlarmConfig<T> cfg;
  cfg.hold_off = Duration::from_seconds(5.0);
  AlarmLogic<T> logic(cfg);
  const std::vector<T> s = {T(2), T(0), T(2), T(2), T(2), T(2), T(2), T(2)};
  check_events<T>(run(logic, s), {{0, AlarmState::alarm}});
  CHECK(logic.suppressed() == 2);
}

TEST_CASE_TEMPLATE("refused inputs yield bad_input outputs and never change the state", T, float,
                   double) {
  AlarmConfig<T> cfg;
  cfg.k = 2;
  cfg.n = 4;
  cfg.on_delay = Duration::from_seconds(1.0);
  cfg.warning_fraction = T(0.5);
  cfg.latch = true;
  cfg.hold_off = Duration::from_seconds(3.0);
  AlarmLogic<T> clean(cfg);
  AlarmLogic<T> dirty(cfg);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> u(0.0, 2.5);
  int refused_count = 0;
  for (int i = 0; i < 3000; ++i) {
    const auto d = dec<T>(0.25 * i, static_cast<T>(u(rng)));
    if (i % 7 == 3) {
      // Refused decisions of every kind, interleaved only into `dirty`.
      const Status why[] = {Status::not_finite, Status::bad_quality, Status::missing,
                            Status::out_of_range};
      Decision<T> bad = refused<T>(why[i % 4], d.time);
      bad.score = std::numeric_limits<T>::quiet_NaN();
      const AlarmState before = dirty.state();
      const bool in_alarm_before = dirty.in_alarm();
      const auto o = dirty.update(bad);
      ++refused_count;
      CHECK(o.changed);
      CHECK(o.status == why[i % 4]);
      CHECK(o.state == before);
      CHECK(o.in_alarm == in_alarm_before);
      // A decision with a time in the past is refused too.
      const auto back = dirty.update(dec<T>(0.25 * i - 100.0, T(100)));
      ++refused_count;
      CHECK(back.changed);
      CHECK(back.status == Status::time_backwards);
      CHECK(dirty.state() == before);
    }
    if (i % 50 == 49) {
      clean.acknowledge(d.time);
      dirty.acknowledge(d.time);
    }
    const auto a = clean.update(d);
    const auto b = dirty.update(d);
    CHECK(a.changed == b.changed);
    CHECK(a.state == b.state);
    CHECK(a.in_alarm == b.in_alarm);
  }
  CHECK(dirty.refused() == static_cast<std::uint32_t>(refused_count));
  CHECK(clean.refused() == 0);
}

TEST_CASE_TEMPLATE("not_initialised decisions give no finding and are counted", T, float, double) {
  AlarmLogic<T> logic;
  Decision<T> d = refused<T>(Status::not_initialised, Timestamp::from_seconds(1));
  const auto o = logic.update(d);
  CHECK_FALSE(o.changed);
  CHECK(logic.not_ready() == 1);
  CHECK(logic.refused() == 0);
}

TEST_CASE_TEMPLATE("in_alarm: set from the first exceedance, through the alarm, until clean", T,
                   float, double) {
  AlarmConfig<T> cfg;
  cfg.k = 2;
  cfg.n = 3;
  AlarmLogic<T> logic(cfg);
  CHECK_FALSE(logic.update(dec<T>(0, T(0))).in_alarm);
  CHECK(logic.update(dec<T>(1, T(2))).in_alarm);  // pending: 1 of 3
  const auto o = logic.update(dec<T>(2, T(2)));   // alarm
  CHECK(o.in_alarm);
  CHECK(o.state == AlarmState::alarm);
  logic.update(dec<T>(3, T(0)));
  logic.update(dec<T>(4, T(0)));  // cleared: 1 of 3
  CHECK(logic.state() == AlarmState::normal);
  CHECK(logic.in_alarm());  // an exceedance is still in the window
  CHECK_FALSE(logic.update(dec<T>(5, T(0))).in_alarm);
}

TEST_CASE_TEMPLATE("gap status is used like ok and reported as such", T, float, double) {
  AlarmLogic<T> logic;
  Decision<T> d = dec<T>(0, T(2));
  d.status = Status::gap;
  const auto o = logic.update(d);
  CHECK(o.changed);
  CHECK(o.state == AlarmState::alarm);
  CHECK(o.status == Status::gap);
  CHECK(logic.refused() == 0);
}
