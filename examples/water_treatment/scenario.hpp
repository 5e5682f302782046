// examples/water_treatment/scenario.hpp - the detectors watching the simulated water-treatment
// plant, and the week-long run that scores them.  Shared by the demo program and its test.
//
// Every detector is a physguard pipeline (source -> statistic or checker -> alarm logic) in one
// firmware-style Monitor; the probe feeds it one scan of the plant's I/O per second.
#pragma once

#include <cmath>
#include <cstdint>
#include <string>
#include <vector>

#include <physguard/physguard.hpp>
#include <physguard/compose.hpp>
#include <physguard/consistency.hpp>
#include <physguard/detect.hpp>
#include <physguard/signal/analog.hpp>

#include "plant.hpp"

namespace water {

using physguard::Decision;
using physguard::Duration;
using physguard::Finding;
using physguard::Sample;
using physguard::Timestamp;

/// The scenario's clock starts on 2021-02-05 00:00 UTC (the morning of the Oldsmar incident).
constexpr std::int64_t kEpochUs = 1612483200LL * 1000000LL;
inline Timestamp stamp(double t_s) { return Timestamp{kEpochUs + static_cast<std::int64_t>(std::llround(t_s * 1e6))}; }
inline double seconds_since_start(Timestamp t) { return static_cast<double>(t.us - kEpochUs) * 1e-6; }

// ---- Channels: what the probe reads, grouped into the scans the checkers need ----------------
enum Channel : std::uint16_t {
  ch_level = 0,      // LT1 tank level
  ch_inflow_pump,    // P1 run command vs auxiliary contact
  ch_inflow,         // P1 run command vs inflow FT1
  ch_level_control,  // level controller rule: LT1 vs P1 command
  ch_naoh_setpoint,  // operator NaOH setpoint
  ch_dosing_pump,    // dosing pump speed command vs dosing flow FT3
  ch_ph,             // pH analyser (4-20 mA) vs dose
  ch_outlet_valve,   // V1 command vs limit switches
  channel_count
};

inline const char* channel_name(std::uint16_t ch) {
  static const char* const names[] = {"LT1 level",   "P1 contactor",   "P1 inflow FT1",
                                      "level rule",  "NaOH setpoint",  "dosing pump FT3",
                                      "pH AIT1",     "valve V1"};
  return ch < channel_count ? names[ch] : "?";
}

/// One scan of a command and a discrete feedback.
struct DiscreteScan {
  Timestamp time;
  bool command;
  bool feedback;
  template <class C>
  auto apply(C& c) const { return c.update(time, command, feedback); }
};
/// One scan of a level and the actuator its controller switches.
struct RuleScan {
  Timestamp time;
  double level;
  bool actuator_on;
  template <class C>
  auto apply(C& c) const { return c.update(time, level, actuator_on); }
};
/// One scan of an analog command and its feedback (or an input and the process variable).
struct AnalogScan {
  Timestamp time;
  double command;
  double feedback;
  physguard::Quality quality = physguard::Quality::good;
  template <class C>
  auto apply(C& c) const {
    return c.update(Sample<double>{time, command}, Sample<double>{time, feedback, quality});
  }
};
/// One scan of a valve command and its two limit switches.
struct ValveScan {
  Timestamp time;
  bool command_open;
  bool open_switch;
  bool closed_switch;
  template <class C>
  auto apply(C& c) const { return c.update(time, command_open, open_switch, closed_switch); }
};
/// Tank level with the measured flows (the mass-balance estimator's input).
struct LevelScan {
  Timestamp time;
  double level_m;
  double inflow_m3_s;
  double outflow_m3_s;
};

/// Makes any consistency checker usable as a pipeline statistic: the scan type knows how to call
/// it.  The result is sliced to the common Decision (the checker's extra detail stays in it).
template <class Checker, class Scan>
struct ScanCheck {
  static constexpr const char* name = Checker::name;
  Checker checker;
  Decision<double> update(const Scan& scan) { return scan.apply(checker); }
  void reset() { checker.reset(); }
};

/// The tank's mass balance as a Kalman filter: level integrates (inflow - outflow) / area, with the
/// measured flows as inputs; emits the normalised innovation y / sqrt(S).
class LevelBalanceSource {
 public:
  using input_type = LevelScan;
  using value_type = double;
  using Filter = physguard::KalmanFilter<double, 1, 1, 2>;

  LevelBalanceSource() : source_(make_filter()) {}

  physguard::SourceResult<double> update(const LevelScan& s, bool adapt) {
    source_.set_input(Filter::InputVector(s.inflow_m3_s, s.outflow_m3_s));
    last_level_m_ = s.level_m;
    return source_.update(Sample<double>{s.time, s.level_m}, adapt);
  }

  /// After the operator has dealt with an alarm: start again from the level now reported.
  void resync() {
    source_.filter().reset(Filter::StateVector::Constant(last_level_m_),
                           Filter::StateMatrix::Constant(std::pow(Plant::level_noise_m, 2.0)));
  }

 private:
  static Filter make_filter() {
    Filter::Model m;
    m.A << 1.0;
    m.B << 1.0 / Plant::area_m2, -1.0 / Plant::area_m2;
    m.C << 1.0;
    m.dt_s = 1.0;
    // Process noise: both flow meters' noise integrated over one second, plus a little for the
    // flow meters' unmodelled calibration error.
    const double flow_var = std::pow(Plant::flow_noise_m3_s / Plant::area_m2, 2.0);
    Filter::Options o;
    o.reject_outside_gate = true;
    return Filter(m, Filter::StateMatrix::Constant(2.0 * flow_var + 1e-9),
                  Filter::MeasurementCovariance::Constant(std::pow(Plant::level_noise_m, 2.0)),
                  Filter::StateVector::Constant(3.0), Filter::StateMatrix::Constant(1.0), o);
  }
  physguard::KalmanInnovationSource<double, 1, 2> source_;
  double last_level_m_ = 3.0;
};

// ---- The detector set --------------------------------------------------------------------------
using physguard::AlarmConfig;
using physguard::CusumDetector;
using physguard::Pipeline;
using physguard::PassThrough;

using CommandCheck = ScanCheck<physguard::DiscreteCommandResponseChecker<double>, DiscreteScan>;
using RuleCheck = ScanCheck<physguard::HysteresisRuleChecker<double>, RuleScan>;
using TrackingCheck =
    ScanCheck<physguard::AnalogTrackingChecker<double, CusumDetector<double>>, AnalogScan>;
using PhModelCheck =
    ScanCheck<physguard::ResponseModelChecker<double, 128, CusumDetector<double>>, AnalogScan>;
using ValveCheck = ScanCheck<physguard::ValveCommandResponseChecker<double>, ValveScan>;

using LevelBalance = Pipeline<LevelBalanceSource, CusumDetector<double>>;
using LevelRange = Pipeline<PassThrough<Sample<double>>, physguard::RangeCheck<double>>;
using LevelRate = Pipeline<PassThrough<Sample<double>>, physguard::RateCheck<double>>;
using LevelStuck = Pipeline<PassThrough<Sample<double>>, physguard::StuckAtCheck<double, 120>>;
using PumpContact = Pipeline<PassThrough<DiscreteScan>, CommandCheck>;
using LevelRule = Pipeline<PassThrough<RuleScan>, RuleCheck>;
using Setpoint = Pipeline<PassThrough<Sample<double>>, physguard::SetpointEnvelope<double>>;
using DoseTracking = Pipeline<PassThrough<AnalogScan>, TrackingCheck>;
using PhModel = Pipeline<PassThrough<AnalogScan>, PhModelCheck>;
using Valve = Pipeline<PassThrough<ValveScan>, ValveCheck>;

/// Alarm logic shared by the detectors: report a state change at most every 15 minutes per
/// detector (suppression), no latching (the demo has no operator to acknowledge).
inline AlarmConfig<double> alarm_config() {
  AlarmConfig<double> c;
  c.hold_off = Duration::from_seconds(900);
  return c;
}

inline auto make_detectors() {
  using namespace physguard;
  const AlarmConfig<double> ac = alarm_config();
  // The operator's acknowledgement restarts a statistic (a CUSUM keeps accumulating while an
  // attack lasts; after the operator has dealt with it, it starts again from zero).
  PipelineOptions po;
  po.reset_statistic_on_acknowledge = true;
  // CUSUM thresholds from a target mean time between false alarms: 10 years of 1 s samples per
  // detector, so a week of normal operation is quiet with a wide margin.
  const double arl0 = 10.0 * 365.0 * 86400.0;
  const double k = 0.5;
  const double h = CusumDetector<double>::threshold_for_arl(k, arl0);

  LevelBalance level_balance(LevelBalanceSource{}, CusumDetector<double>(k, h), ac, ch_level, po);
  LevelRange level_range(PassThrough<Sample<double>>{}, RangeCheck<double>(0.0, 5.2), ac, ch_level, po);
  LevelRate level_rate(PassThrough<Sample<double>>{}, RateCheck<double>(0.05), ac, ch_level, po);
  LevelStuck level_stuck(PassThrough<Sample<double>>{},
                         StuckAtCheck<double, 120>(std::pow(0.2 * Plant::level_noise_m, 2.0), 60),
                         ac, ch_level, po);

  // P1: the contactor's auxiliary contact follows the run command within 0.2..5 s; the inflow
  // (flow switch FT1 > 0.02 m^3/s) within 0..30 s.
  PumpContact p1_contact(
      PassThrough<DiscreteScan>{},
      CommandCheck{DiscreteCommandResponseChecker<double>(Duration::from_ms(200), Duration::from_seconds(5))},
      ac, ch_inflow_pump, po);
  PumpContact p1_flow(
      PassThrough<DiscreteScan>{},
      CommandCheck{DiscreteCommandResponseChecker<double>(Duration{0}, Duration::from_seconds(30))},
      ac, ch_inflow, po);
  LevelRule level_rule(PassThrough<RuleScan>{},
                       RuleCheck{HysteresisRuleChecker<double>(Plant::level_low_m, Plant::level_high_m,
                                                               HysteresisSense::on_below_low,
                                                               Duration::from_seconds(10), 0.02)},
                       ac, ch_level_control, po);

  // The NaOH setpoint: plausible 50..200 ppm, an operator changes it by at most 50 ppm at once and
  // 10 ppm per hour sustained, and never to more than 1.5 times its usual value.
  SetpointEnvelopeParams<double> sp;
  sp.min_setpoint = 50.0;
  sp.max_setpoint = 200.0;
  sp.max_rate_per_s = 10.0 / 3600.0;
  sp.max_step = 50.0;
  sp.max_ratio = 1.5;
  sp.baseline = 100.0;
  sp.baseline_time_constant_s = 2.0 * 86400.0;
  Setpoint setpoint(PassThrough<Sample<double>>{}, SetpointEnvelope<double>(sp), ac, ch_naoh_setpoint, po);

  // Dosing pump: speed command (%) -> flow FT3 (L/h) through the pump's 3 s lag.
  AnalogTrackingParams<double> tp;
  tp.max_rate_per_s = 1000.0;
  tp.min_position = 0.0;
  tp.max_position = 100.0;
  tp.gain = Plant::dose_pump_l_h_per_percent;
  tp.time_constant_s = Plant::dose_pump_time_constant_s;
  tp.noise_sigma = 1.5 * Plant::dose_flow_noise_l_h;
  DoseTracking dose(PassThrough<AnalogScan>{},
                    TrackingCheck{AnalogTrackingChecker<double, CusumDetector<double>>(tp, CusumDetector<double>(k, h))},
                    ac, ch_dosing_pump, po);

  // pH: effective NaOH dose (ppm, from FT3 and FT1) -> pH through a FOPDT model; the raw water's
  // own pH is the model's offset, learned slowly (frozen while in alarm).
  ResponseModelParams<double> rp;
  rp.gain = Plant::ph_per_ppm;
  rp.time_constant_s = Plant::ph_time_constant_s;
  rp.dead_time_s = Plant::ph_dead_time_s;
  rp.sample_period_s = 1.0;
  rp.noise_sigma = 0.04;
  rp.bias_time_constant_s = 1800.0;
  rp.initial_bias = Plant::ph_raw;
  rp.assume_steady_start = true;
  PhModel ph_model(PassThrough<AnalogScan>{},
                   PhModelCheck{ResponseModelChecker<double, 128, CusumDetector<double>>(rp, CusumDetector<double>(k, h))},
                   ac, ch_ph, po);

  // V1: limit switch leaves within 0.5..5 s, end position within 20 s, stroke at most 15 s.
  Valve valve(PassThrough<ValveScan>{},
              ValveCheck{ValveCommandResponseChecker<double>(Duration::from_ms(500), Duration::from_seconds(20),
                                                             Duration::from_seconds(15))},
              ac, ch_outlet_valve, po);

  return std::make_tuple(level_balance, level_range, level_rate, level_stuck, p1_contact, p1_flow,
                         level_rule, setpoint, dose, ph_model, valve);
}

// ---- Running the week and scoring it ---------------------------------------------------------
struct AttackResult {
  Event event;
  bool detected = false;
  double delay_s = 0;                 // first alarm after the start
  std::vector<std::string> detectors; // every detector that alarmed in the window
};

struct ScenarioResult {
  std::vector<Finding<double>> findings;
  std::vector<AttackResult> attacks;  // the five attacks
  AttackResult fault;                 // the genuine sensor fault
  int false_alarms = 0;               // alarm findings in normal hours
  int refused_in_normal_hours = 0;    // bad_input findings in normal hours
  std::vector<Signals> trace;         // one scan per minute, for the plot
  double simulated_s = 0;
};

/// After an attack ends the plant needs time to return to normal (an overflowing tank drains, a
/// dosing transient decays); findings in that window belong to the attack.
constexpr double kSettleS = 2.0 * kHour;
/// The operator acknowledges the alarms of an incident this long after it ended.
constexpr double kAcknowledgeS = 1.0 * kHour;

inline const char* detector_label(const Finding<double>& f) { return f.detector; }

inline ScenarioResult run_scenario(double days = 7.0, std::uint64_t seed = 2021) {
  using namespace physguard;
  ScenarioResult result;
  std::vector<Finding<double>>& findings = result.findings;
  auto pipelines = make_detectors();
  auto monitor = std::apply(
      [&](auto&... p) {
        return make_monitor<channel_count>([&findings](const Finding<double>& f) { findings.push_back(f); },
                                           p...);
      },
      pipelines);

  // pH analyser: 4-20 mA over 0-14 pH, NAMUR NE43 fault bands.
  const CurrentLoopInput<double> ph_loop(0.0, 14.0);
  const auto events = scripted_events();
  Plant plant(seed);
  const auto steps = static_cast<long>(days * kDay);
  for (long k = 0; k < steps; ++k) {
    const Signals s = plant.step();
    const Timestamp t = stamp(s.t_s);
    if (k % 60 == 0) result.trace.push_back(s);

    const Sample<double> level{t, s.level_m};
    monitor.feed(ch_level, LevelScan{t, s.level_m, s.inflow_m3_s, s.outflow_m3_s});
    monitor.feed(ch_level, level);
    monitor.feed(ch_inflow_pump, DiscreteScan{t, s.p1_command, s.p1_feedback});
    monitor.feed(ch_inflow, DiscreteScan{t, s.p1_command, s.inflow_m3_s > 0.02});
    monitor.feed(ch_level_control, RuleScan{t, s.level_m, s.p1_command});
    monitor.feed(ch_naoh_setpoint, Sample<double>{t, s.naoh_setpoint_ppm});
    monitor.feed(ch_dosing_pump, AnalogScan{t, s.dose_speed_percent, s.dose_flow_l_h});
    const LoopReading<double> ph = ph_loop.convert(s.ph_current_ma, t);
    const double dose_ppm = Plant::dose_ppm(s.dose_flow_l_h, s.inflow_m3_s);
    monitor.feed(ch_ph, AnalogScan{t, dose_ppm, ph.sample.value, ph.sample.quality});
    monitor.feed(ch_outlet_valve, ValveScan{t, s.v1_command_open, s.v1_open_switch, s.v1_closed_switch});

    // The operator investigates each incident and, an hour after it is over, acknowledges every
    // alarm: the statistics restart and the level estimator re-synchronises with the transmitter.
    for (const auto& e : events) {
      if (e.id > 0 && s.t_s < e.end_s + kAcknowledgeS && s.t_s + 1.0 >= e.end_s + kAcknowledgeS) {
        monitor.template detector<0>().source().resync();
        for (std::uint16_t id = 0; id < decltype(monitor)::detector_count; ++id) monitor.acknowledge(id, t);
      }
    }
  }
  result.simulated_s = static_cast<double>(steps);
  (void)0;

  // Score: which findings fall in which event window.
  auto in_window = [](double t, const Event& e) { return t >= e.start_s && t < e.end_s + kSettleS; };
  for (const auto& e : events) {
    AttackResult r;
    r.event = e;
    if (e.start_s >= result.simulated_s) continue;
    for (const auto& f : findings) {
      const double t = seconds_since_start(f.time);
      if (!in_window(t, e)) continue;
      const bool raised = f.state == AlarmState::alarm || (e.id < 0 && f.kind == FindingKind::bad_input);
      if (!raised) continue;
      if (!r.detected) {
        r.detected = true;
        r.delay_s = t - e.start_s;
      }
      const std::string name = std::string(channel_name(f.channel)) + ": " + f.detector;
      bool known = false;
      for (const auto& d : r.detectors) known = known || d == name;
      if (!known) r.detectors.push_back(name);
    }
    if (e.id > 0) result.attacks.push_back(r); else result.fault = r;
  }
  for (const auto& f : findings) {
    const double t = seconds_since_start(f.time);
    bool normal = true;
    for (const auto& e : events) normal = normal && !in_window(t, e);
    if (!normal) continue;
    if (f.state == AlarmState::alarm) ++result.false_alarms;
    if (f.kind == FindingKind::bad_input) ++result.refused_in_normal_hours;
  }
  return result;
}

}  // namespace water
