// eval/attacks.hpp and eval/metrics.hpp: injectors against straightforward formulas, metrics and
// the BATADAL score against hand-computed values, stealthy attacks against the real detectors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <physguard/detect/cusum.hpp>
#include <physguard/detect/threshold.hpp>
#include <physguard/eval/attacks.hpp>
#include <physguard/eval/metrics.hpp>

using namespace physguard;
using namespace physguard::eval;

namespace {

Timestamp sec(double s) { return Timestamp::from_seconds(s); }

// 40 rows, one per second, x_i = sin(0.3 i) + 2.
CsvTable signal_table() {
  CsvTable t;
  t.columns = {"x"};
  t.values.assign(1, {});
  for (int i = 0; i < 40; ++i) {
    t.time.push_back(sec(i));
    t.values[0].push_back(std::sin(0.3 * i) + 2.0);
  }
  return t;
}

double x_of(int i) { return std::sin(0.3 * i) + 2.0; }

const AttackWindow window{sec(10), sec(20)};
bool in_window(int i) { return i >= 10 && i < 20; }

}  // namespace

TEST_CASE("injectors over a recording match their formulas; labels mark the window") {
  SUBCASE("bias") {
    CsvTable t = signal_table();
    BiasAttack a(window, 0.7);
    const auto labels = inject(t, 0, a);
    for (int i = 0; i < 40; ++i) {
      CHECK(t.values[0][i] == doctest::Approx(x_of(i) + (in_window(i) ? 0.7 : 0.0)));
      CHECK(labels[i] == (in_window(i) ? 1 : 0));
    }
  }
  SUBCASE("ramp / drift") {
    CsvTable t = signal_table();
    RampAttack a(window, 0.25);
    inject(t, 0, a);
    for (int i = 0; i < 40; ++i)
      CHECK(t.values[0][i] == doctest::Approx(x_of(i) + (in_window(i) ? 0.25 * (i - 10) : 0.0)));
  }
  SUBCASE("scaling") {
    CsvTable t = signal_table();
    ScalingAttack a(window, 1.3);
    inject(t, 0, a);
    for (int i = 0; i < 40; ++i)
      CHECK(t.values[0][i] == doctest::Approx(x_of(i) * (in_window(i) ? 1.3 : 1.0)));
  }
  SUBCASE("pulse train and single surge") {
    CsvTable t = signal_table();
    PulseAttack a(window, 5.0, /*width_s=*/2.0, /*period_s=*/4.0);
    inject(t, 0, a);
    for (int i = 0; i < 40; ++i) {
      const bool on = in_window(i) && (i - 10) % 4 < 2;
      CHECK(t.values[0][i] == doctest::Approx(x_of(i) + (on ? 5.0 : 0.0)));
    }
    CsvTable u = signal_table();
    PulseAttack surge(window, -3.0, 1.0);
    inject(u, 0, surge);
    for (int i = 0; i < 40; ++i) CHECK(u.values[0][i] == doctest::Approx(x_of(i) - (i == 10 ? 3.0 : 0.0)));
  }
  SUBCASE("freeze holds the last value before the window") {
    CsvTable t = signal_table();
    FreezeAttack a(window);
    inject(t, 0, a);
    for (int i = 0; i < 40; ++i) CHECK(t.values[0][i] == doctest::Approx(in_window(i) ? x_of(9) : x_of(i)));
  }
  SUBCASE("replay of an earlier window, looping when the tape is shorter") {
    CsvTable t = signal_table();
    ReplayAttack a(window, sec(0));
    inject(t, 0, a);
    CHECK(a.recorded() == 10);
    for (int i = 0; i < 40; ++i) CHECK(t.values[0][i] == doctest::Approx(in_window(i) ? x_of(i - 10) : x_of(i)));

    CsvTable u = signal_table();
    ReplayAttack b(AttackWindow{sec(10), sec(30)}, sec(2));  // tape [2, 10): 8 values
    inject(u, 0, b);
    CHECK(b.recorded() == 8);
    for (int i = 10; i < 30; ++i) CHECK(u.values[0][i] == doctest::Approx(x_of(2 + (i - 10) % 8)));
  }
  SUBCASE("unknown column: nothing changes") {
    CsvTable t = signal_table();
    BiasAttack a(window, 1.0);
    const auto labels = inject(t, 3, a);
    CHECK(t.values[0] == signal_table().values[0]);
    CHECK(labels == std::vector<std::uint8_t>(40, 0));
  }
}

TEST_CASE("live-stream injection equals recording injection") {
  CsvTable t = signal_table();
  ReplayAttack rec(window, sec(0));
  inject(t, 0, rec);
  ReplayAttack live(window, sec(0));
  std::vector<Sample<float>> samples;
  for (int i = 0; i < 40; ++i) samples.push_back(Sample<float>{sec(i), static_cast<float>(x_of(i))});
  for (int i = 0; i < 40; ++i) {
    const Sample<float> out = inject(samples[static_cast<std::size_t>(i)], live);
    CHECK(out.value == doctest::Approx(t.values[0][static_cast<std::size_t>(i)]).epsilon(1e-6));
    CHECK(out.time == samples[static_cast<std::size_t>(i)].time);
  }
  std::vector<Sample<float>> copy = samples;
  RampAttack ramp(window, 0.5);
  const auto labels = inject(copy.data(), copy.size(), ramp);
  for (int i = 0; i < 40; ++i) {
    CHECK(copy[static_cast<std::size_t>(i)].value ==
          doctest::Approx(x_of(i) + (in_window(i) ? 0.5 * (i - 10) : 0.0)).epsilon(1e-6));
    CHECK(labels[static_cast<std::size_t>(i)] == (in_window(i) ? 1 : 0));
  }
}

TEST_CASE("stealthy attack keeps the real CusumDetector just below h for ever") {
  const double k = 0.5;
  const double h = CusumDetector<double>::threshold_for_arl(k, 1000);
  CusumDetector<double> cusum(k, h);
  const AttackWindow always{sec(0), sec(1e9)};
  StealthyCusumAttack attack(always, k, h, 1e-9);
  double injected = 0;
  bool alarmed = false;
  int off_formula = 0;
  for (int i = 0; i < 100000; ++i) {
    const double z = attack.next_residual();
    // first sample k + h, then the largest bias the CUSUM cannot see: k sigma
    const double expected = i == 0 ? k + (1 - 1e-9) * h : k;
    if (std::fabs(z - expected) > 1e-9 * h) ++off_formula;
    const Decision<double> d = cusum.update(z);
    alarmed = alarmed || d.alarm;
    injected += z;
  }
  CHECK(off_formula == 0);
  CHECK_FALSE(alarmed);
  CHECK(cusum.statistic() <= h);
  CHECK(cusum.statistic() >= h * (1 - 1e-6));  // it uses all the room there is
  CHECK(attack.mirrored_statistic() == doctest::Approx(cusum.statistic()));
  CHECK(injected == doctest::Approx(h + 100000 * k).epsilon(1e-6));

  // Any more on one sample and the detector fires.
  CusumDetector<double> probe = cusum;
  CHECK(probe.update(k + 1e-6 * h).alarm);

  // Downward attack drives S- instead.
  CusumDetector<double> down(k, h);
  StealthyCusumAttack low(always, k, h, 1e-9, -1);
  for (int i = 0; i < 1000; ++i) CHECK_FALSE(down.update(low.next_residual()).alarm);
  CHECK(down.lower() >= h * (1 - 1e-6));

  // falsify(): predicted + sigma z inside the window, the true value outside.
  StealthyCusumAttack f(AttackWindow{sec(5), sec(6)}, k, h, 0.0);
  CHECK(f.falsify(sec(1), 3.0, 2.0, 0.1) == 3.0);
  CHECK(f.falsify(sec(5), 3.0, 2.0, 0.1) == doctest::Approx(2.0 + 0.1 * (k + h)));
}

TEST_CASE("impact curve: a threshold detector lets the process drift without bound, CUSUM does not") {
  ImpactScenario sc;
  sc.ar_coefficient = 1.0;  // integrating process (tank level): the model predicts from the last reading
  sc.noise_sigma = 0.02;
  sc.horizon_samples = 1000;
  sc.margin = 1e-9;
  const std::vector<double> arls = {100, 1000, 1e4, 1e5};
  const auto pts = stealthy_impact_curve(sc, arls, 0.5);
  REQUIRE(pts.size() == 8);
  for (std::size_t i = 0; i < arls.size(); ++i) {
    const ImpactPoint& thr = pts[2 * i];
    const ImpactPoint& cus = pts[2 * i + 1];
    CHECK(thr.detector == "threshold");
    CHECK(cus.detector == "cusum");
    CHECK_FALSE(thr.detected);  // the real detectors never fired
    CHECK_FALSE(cus.detected);
    CHECK(thr.arl0_samples == doctest::Approx(arls[i]).epsilon(1e-6));
    CHECK(cus.arl0_samples == doctest::Approx(arls[i]).epsilon(1e-3));
    // Closed forms: threshold N tau sigma, CUSUM (h + N k) sigma.
    CHECK(thr.max_deviation == doctest::Approx(1000 * thr.threshold * sc.noise_sigma).epsilon(1e-6));
    CHECK(cus.max_deviation == doctest::Approx((cus.threshold + 1000 * 0.5) * sc.noise_sigma).epsilon(1e-6));
    CHECK(cus.max_deviation < 0.5 * thr.max_deviation);
    if (i > 0) {  // fewer false alarms -> more room for the attacker
      CHECK(thr.max_deviation > pts[2 * (i - 1)].max_deviation);
      CHECK(cus.max_deviation > pts[2 * (i - 1) + 1].max_deviation);
    }
  }
  // Unbounded versus bounded: double the horizon, the threshold drift doubles; a CUSUM with
  // k = 0 keeps the attacker within h sigma however long the attack lasts.
  ImpactScenario longer = sc;
  longer.horizon_samples = 2000;
  const auto pts_long = stealthy_impact_curve(longer, {1000}, 0.0);
  const auto pts_short = stealthy_impact_curve(sc, {1000}, 0.0);
  CHECK(pts_long[0].max_deviation == doctest::Approx(2 * pts_short[0].max_deviation));
  CHECK(pts_long[1].max_deviation == doctest::Approx(pts_short[1].max_deviation));
  CHECK(pts_long[1].max_deviation <= pts_long[1].threshold * sc.noise_sigma * (1 + 1e-9));
  CHECK_FALSE(pts_long[1].detected);

  // Self-regulating process: both bounded; compare with a direct recursion.
  ImpactScenario stable = sc;
  stable.ar_coefficient = 0.9;
  const auto ps = stealthy_impact_curve(stable, {1000}, 0.5);
  double d_thr = 0, d_cus = 0, m_thr = 0, m_cus = 0;
  for (int i = 0; i < 1000; ++i) {
    d_thr = 0.9 * d_thr + sc.noise_sigma * ps[0].threshold;
    d_cus = 0.9 * d_cus + sc.noise_sigma * (i == 0 ? 0.5 + ps[1].threshold : 0.5);
    m_thr = std::max(m_thr, d_thr);
    m_cus = std::max(m_cus, d_cus);
  }
  CHECK(ps[0].max_deviation == doctest::Approx(m_thr).epsilon(1e-6));
  CHECK(ps[1].max_deviation == doctest::Approx(m_cus).epsilon(1e-6));
  CHECK(m_thr == doctest::Approx(sc.noise_sigma * ps[0].threshold / 0.1).epsilon(1e-6));

  // CSV output: a header and one line per point.
  const std::string path = (std::filesystem::temp_directory_path() /
                            ("physguard_impact_" + std::to_string(::getpid()) + ".csv")).string();
  REQUIRE(write_impact_curve_csv(path, pts));
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> lines;
  while (std::getline(in, line)) lines.push_back(line);
  REQUIRE(lines.size() == 9);
  CHECK(lines[0] == "detector,drift_k,threshold,arl0_samples,mean_time_between_false_alarms_s,"
                    "max_deviation,detected");
  CHECK(lines[1].rfind("threshold,0,", 0) == 0);
  CHECK(lines[2].rfind("cusum,0.5,", 0) == 0);
  std::filesystem::remove(path);
}

TEST_CASE("events, flags and point-wise metrics") {
  CHECK(find_events({}).empty());
  const auto ev = find_events({1, 1, 0, 1, 0, 0, 1, 1, 1});
  REQUIRE(ev.size() == 3);
  CHECK(ev[0].begin == 0);
  CHECK(ev[0].end == 2);
  CHECK(ev[1].begin == 3);
  CHECK(ev[1].length() == 1);
  CHECK(ev[2].end == 9);
  CHECK(flags_from_column({0, 1, -999, std::nan(""), 0.4, 1}) ==
        std::vector<std::uint8_t>{0, 1, 0, 0, 0, 1});
  const auto times = uniform_times(3, Duration::from_seconds(60), sec(100));
  CHECK(times[2] == sec(220));
  CHECK(row_duration_s(times, 2) == 60.0);
}

TEST_CASE("metrics and the BATADAL score on a small hand-computed case") {
  //                    rows: 0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19
  const std::vector<std::uint8_t> labels = {0, 0, 1, 1, 1, 0, 0, 1, 1, 0, 0, 0, 1, 1, 1, 1, 0, 0, 0, 0};
  const std::vector<std::uint8_t> pred = {0, 1, 0, 1, 1, 1, 0, 0, 0, 0, 1, 1, 0, 0, 0, 1, 1, 0, 0, 0};
  const auto times = uniform_times(20, Duration::from_seconds(3600));

  // Point-wise by hand: TP rows 3, 4, 15; FP rows 1, 5, 10, 11, 16; FN 2, 7, 8, 12, 13, 14.
  const Confusion c = pointwise_confusion(labels, pred);
  CHECK(c.tp == 3);
  CHECK(c.fp == 5);
  CHECK(c.fn == 6);
  CHECK(c.tn == 6);
  CHECK(c.precision() == doctest::Approx(3.0 / 8));
  CHECK(c.recall() == doctest::Approx(1.0 / 3));
  CHECK(c.tnr() == doctest::Approx(6.0 / 11));
  CHECK(c.f1() == doctest::Approx(6.0 / 17));
  CHECK(c.accuracy() == doctest::Approx(9.0 / 20));

  // Events [2,5) [7,9) [12,16): detected after 1 h, missed, detected after 3 h.
  const EventScores e = event_scores(labels, pred, times);
  REQUIRE(e.events.size() == 3);
  CHECK(e.events[0].detected);
  CHECK(e.events[0].first_flag_row == 3);
  CHECK(e.events[0].time_to_detection_s == 3600.0);
  CHECK(e.events[0].duration_s == 3 * 3600.0);
  CHECK_FALSE(e.events[1].detected);
  CHECK(e.events[1].time_to_detection_s == 2 * 3600.0);  // = its duration
  CHECK(e.events[2].time_to_detection_s == 3 * 3600.0);
  CHECK(e.detected_events == 2);
  CHECK(e.detected_fraction == doctest::Approx(2.0 / 3));
  CHECK(e.mean_time_to_detection_s == doctest::Approx(2 * 3600.0));
  // Alarm runs [1,2) [3,6) [10,12) [15,17): two overlap no event; 11 normal hours.
  CHECK(e.alarm_events == 4);
  CHECK(e.false_alarm_events == 2);
  CHECK(e.normal_time_days == doctest::Approx(11.0 / 24));
  CHECK(e.false_alarms_per_day == doctest::Approx(48.0 / 11));
  CHECK(e.precision == doctest::Approx(0.5));
  CHECK(e.recall == doctest::Approx(2.0 / 3));
  CHECK(e.f1 == doctest::Approx(4.0 / 7));

  // BATADAL: S_TTD = 1 - (1/3)(1/3 + 1 + 3/4) = 11/36; S_CM = (1/3 + 6/11)/2 = 29/66.
  const BatadalScore s = batadal_score(labels, pred, times);
  CHECK(s.s_ttd == doctest::Approx(11.0 / 36));
  CHECK(s.s_cm == doctest::Approx(29.0 / 66));
  CHECK(s.score == doctest::Approx(0.5 * 11.0 / 36 + 0.5 * 29.0 / 66));
  CHECK(s.events == 3);
  CHECK(s.detected_events == 2);
  const BatadalScore g = batadal_score(labels, pred, times, 0.8);
  CHECK(g.score == doctest::Approx(0.8 * 11.0 / 36 + 0.2 * 29.0 / 66));

  // Perfect detector: S = 1.  Silent detector: S_TTD = 0, S_CM = 1/2.
  CHECK(batadal_score(labels, labels, times).score == doctest::Approx(1.0));
  const BatadalScore silent = batadal_score(labels, std::vector<std::uint8_t>(20, 0), times);
  CHECK(silent.s_ttd == doctest::Approx(0.0));
  CHECK(silent.s_cm == doctest::Approx(0.5));
}

TEST_CASE("time to detection uses the timestamps, not row counts") {
  // Rows at 0, 1, 3, 4, 5 h; the event covers rows 0-2 = [0 h, 4 h); flagged first at row 2 (3 h).
  const std::vector<Timestamp> times = {sec(0), sec(3600), sec(3 * 3600), sec(4 * 3600), sec(5 * 3600)};
  const std::vector<std::uint8_t> labels = {1, 1, 1, 0, 0};
  const std::vector<std::uint8_t> pred = {0, 0, 1, 0, 0};
  const BatadalScore s = batadal_score(labels, pred, times);
  CHECK(s.s_ttd == doctest::Approx(1.0 - 3.0 / 4.0));
  // No events at all: S_TTD is undefined (NaN), S_CM is the TNR only through NaN propagation.
  const BatadalScore none = batadal_score({0, 0, 0}, {0, 1, 0}, uniform_times(3, Duration::from_seconds(1)));
  CHECK(std::isnan(none.s_ttd));
  CHECK(none.tnr == doctest::Approx(2.0 / 3));
}
