// examples/firmware/scenario.hpp - the scripted probe scenario shared by the Cortex-M4F firmware
// (firmware_main.cpp, run under qemu mps2-an386) and its host twin (host_main.cpp).
//
// One tank-level sensor and one on/off valve with two limit switches, scanned every 100 ms for
// 800 scans.  Detector set (all physguard boxes, float, no heap):
//
//   level sensor  RangeCheck [0, 5] m           -> sensor faults (out of range, NaN)
//                 StuckAtCheck (16 samples)      -> frozen / replayed values
//                 2-state KalmanFilter (level, rate) -> y/sqrt(S) -> CusumDetector (pipeline)
//                                                -> NIS -> ThresholdDetector (chi-square 1-1e-4)
//   valve         ValveCommandResponseChecker   -> discrepancy / too fast / uncommanded / conflict
//
// Every decision goes through an AlarmLogic; a line is printed for every finding (a change of the
// alarm state or a refused input), tagged with the scan index.  The stream is generated from an
// integer xorshift generator and exact float operations only, so host and target see bit-identical
// samples; the detectors' float arithmetic may differ in the last bits (different compilers and
// Eigen code paths), which is why the comparison allows a tolerance on scores.
//
// Output is formatted by hand (no printf: newlib's float formatting allocates, see the heap guard).
#pragma once

#include <cstdint>

#include <physguard/compose/alarm_logic.hpp>
#include <physguard/compose/estimator_sources.hpp>
#include <physguard/compose/pipeline.hpp>
#include <physguard/consistency/command_response.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/range_check.hpp>
#include <physguard/detect/stuck_at.hpp>
#include <physguard/detect/threshold.hpp>
#include <physguard/estimate/kalman_filter.hpp>

namespace scenario {

using physguard::Timestamp;
using T = float;

constexpr int scans = 800;
constexpr std::int64_t period_us = 100000;  // 100 ms scan
constexpr std::int64_t boot_us = 1000000;   // first scan 1 s after boot
constexpr T level_sigma_m = T(0.01);

// Gates and thresholds as constants.  The probe never evaluates a chi-square quantile: that would
// link lgamma, erf, pow, log, exp and software double arithmetic (~20 KB) for numbers known before
// the firmware is built.  Computed on the host in double and rounded to float:
//   level_gate            = (float)stats::chi_square_quantile(level_gate_probability, 1)  (4.89 sigma)
//   level_inverse_gate    = (float)(1.0 / stats::chi_square_quantile(level_gate_probability, 1))
//   nis_alarm_threshold   = (float)stats::chi_square_quantile(nis_alarm_probability, 1)   (3.89 sigma)
// i.e. NisGateTable<float, 1>::for_probability(level_gate_probability).  The host twin
// (host_main.cpp) recomputes them and fails the firmware ctest if a constant differs in any bit.
constexpr double level_gate_probability = 1.0 - 1e-6;  // the filter's gate (EstimatorOptions default)
constexpr double nis_alarm_probability = 1.0 - 1e-4;   // the NIS threshold detector
constexpr T level_gate = 23.9281273f;
constexpr T level_inverse_gate = 0.0417918228f;
constexpr T nis_alarm_threshold = 15.1367054f;

/// Small line buffer with integer-only formatting.
class Line {
 public:
  Line& operator<<(const char* s) noexcept {
    while (*s && len_ + 1 < sizeof buf_) buf_[len_++] = *s++;
    buf_[len_] = '\0';
    return *this;
  }
  Line& num(std::int64_t v) noexcept {
    char tmp[24];
    int n = 0;
    const bool neg = v < 0;
    std::uint64_t u = neg ? std::uint64_t(0) - static_cast<std::uint64_t>(v) : static_cast<std::uint64_t>(v);
    do {
      tmp[n++] = static_cast<char>('0' + static_cast<int>(u % 10u));
      u /= 10u;
    } while (u != 0u);
    if (neg) tmp[n++] = '-';
    char out[24];
    for (int i = 0; i < n; ++i) out[i] = tmp[n - 1 - i];
    out[n] = '\0';
    return *this << out;
  }
  /// A real number as integer micro-units (score 5.25 -> 5250000), clamped to +-9e12.
  Line& micro(T v) noexcept {
    double d = static_cast<double>(v) * 1e6;
    if (!(d == d)) return *this << "nan";
    if (d > 9e18) d = 9e18;
    if (d < -9e18) d = -9e18;
    return num(static_cast<std::int64_t>(d >= 0 ? d + 0.5 : d - 0.5));
  }
  const char* c_str() const noexcept { return buf_; }

 private:
  char buf_[200] = {};
  unsigned len_ = 0;
};

/// xorshift32 and an Irwin-Hall approximation of N(0,1) (12 uniforms - 6): exact integer
/// arithmetic and exactly rounded float additions, identical on every IEEE-754 target.
class Noise {
 public:
  std::uint32_t next_u32() noexcept {
    state_ ^= state_ << 13;
    state_ ^= state_ >> 17;
    state_ ^= state_ << 5;
    return state_;
  }
  T gaussian() noexcept {
    T sum = T(0);
    for (int i = 0; i < 12; ++i) sum += static_cast<T>(next_u32() >> 8) * T(1.0 / 16777216.0);
    return sum - T(6);
  }

 private:
  std::uint32_t state_ = 0x2545F491u;
};

/// One scan of the field: what the probe reads.
struct Scan {
  Timestamp time{};
  T level_m = T(0);
  bool valve_command_open = false;
  bool valve_open_switch = false;
  bool valve_closed_switch = true;
};

/// The scripted stream (normal operation plus faults and attacks).
class Stream {
 public:
  Scan scan(int k) noexcept {
    Scan s;
    s.time = Timestamp{boot_us + k * period_us};
    // True level: 2.0 m, filling at 0.5 mm per scan from 100 to 299, then flat at 2.1 m.
    T level = T(2.0);
    if (k >= 100) level += T(0.0005) * static_cast<T>((k < 300 ? k : 300) - 100);
    T reading = level + level_sigma_m * noise_.gaussian();
    if (k == 200) reading += T(0.06);                       // single 6-sigma spike (bad data)
    if (k >= 450 && k < 560) reading += T(0.02);            // stealthy 2-sigma bias (attack)
    if (k == 600) reading = T(9.0);                         // out of range: wire / scaling fault
    if (k == 601) reading = physguard_nan();                // ADC delivers NaN
    if (k >= 700) reading = T(2.1013);                      // frozen (replayed) value
    s.level_m = reading;

    // Valve: open at 50 (travel 2 s), close at 250, uncommanded opening 350..359,
    // open at 500 with an instant "answer", limit-switch conflict 650..652.
    const bool cmd = (k >= 50 && k < 250) || k >= 500;
    s.valve_command_open = cmd;
    bool open_ls = false;
    bool closed_ls = true;
    if (k >= 52 && k < 252) closed_ls = false;
    if (k >= 70 && k < 252) open_ls = true;
    if (k >= 252 && k < 270) closed_ls = false;
    if (k >= 350 && k < 360) {
      open_ls = true;
      closed_ls = false;
    }
    if (k >= 501) {
      open_ls = true;
      closed_ls = false;
    }
    if (k >= 650 && k < 653) closed_ls = true;
    s.valve_open_switch = open_ls;
    s.valve_closed_switch = closed_ls;
    return s;
  }

 private:
  static T physguard_nan() noexcept {
    const std::uint32_t bits = 0x7fc00000u;
    T v;
    static_assert(sizeof v == sizeof bits, "float is 32 bits");
    __builtin_memcpy(&v, &bits, sizeof v);
    return v;
  }
  Noise noise_;
};

/// 2-state level model (level m, rate m/s), constant-velocity with white acceleration noise.
inline physguard::KalmanFilter<T, 2, 1> make_level_filter() {
  using KF = physguard::KalmanFilter<T, 2, 1>;
  const T dt = T(0.1);
  KF::Model m;
  m.A << T(1), dt, T(0), T(1);
  m.C << T(1), T(0);
  m.dt_s = dt;
  const T q = T(1e-6);  // (m/s^2)^2 s
  KF::StateMatrix Q;
  Q << q * dt * dt * dt / T(3), q * dt * dt / T(2), q * dt * dt / T(2), q * dt;
  KF::MeasurementCovariance R;
  R << level_sigma_m * level_sigma_m;
  KF::StateVector x0;
  x0 << T(2.0), T(0);
  KF::StateMatrix P0;
  P0 << T(1e-2), T(0), T(0), T(1e-4);
  const physguard::NisGateTable<T, 1> gates{{level_gate}, {level_inverse_gate}};
  return KF(m, Q, R, x0, P0, gates);
}

inline physguard::AlarmConfig<T> cusum_alarm() {
  physguard::AlarmConfig<T> c;
  c.clear_fraction = T(0.5);  // clear once the sum fell below h/2
  return c;
}

/// Every detector of the probe (static storage on the target: its size is the RAM figure).
struct Detectors {
  using LevelSource = physguard::KalmanInnovationSource<T, 2>;
  using CusumPipe = physguard::Pipeline<LevelSource, physguard::CusumDetector<T>>;
  using NisPipe = physguard::Pipeline<physguard::InnovationSource<T, 1>, physguard::ThresholdDetector<T>>;

  physguard::RangeCheck<T> range{T(0), T(5)};
  physguard::AlarmLogic<T> range_alarm{};
  physguard::StuckAtCheck<T, 16> stuck{T(1e-6), 8};
  physguard::AlarmLogic<T> stuck_alarm{};
  CusumPipe cusum{LevelSource(make_level_filter()), physguard::CusumDetector<T>(T(0.5), T(8)),
                  cusum_alarm(), 0};
  NisPipe nis{physguard::InnovationSource<T, 1>(physguard::InnovationOutput::nis),
              physguard::ThresholdDetector<T>(nis_alarm_threshold),
              physguard::AlarmConfig<T>{}, 0};
  physguard::ValveCommandResponseChecker<T> valve{physguard::Duration::from_ms(500),
                                                  physguard::Duration::from_ms(3000),
                                                  physguard::Duration::from_ms(2500)};
  physguard::AlarmLogic<T> valve_alarm{};
};

/// Counts of what was printed, for the summary line.
struct Summary {
  int findings = 0;
  int alarms = 0;
  int refused = 0;
};

template <typename Out>
void print_finding(Out& out, Summary& sum, int k, const physguard::Finding<T>& f) {
  Line l;
  l << "F k=";
  l.num(k);
  l << " det=" << f.detector << " kind=" << physguard::to_string(f.kind)
    << " cause=" << physguard::to_string(f.cause) << " state=" << physguard::to_string(f.state)
    << " status=" << physguard::to_string(f.status) << " score_u=";
  l.micro(f.score);
  l << " thr_u=";
  l.micro(f.threshold);
  l << "\n";
  out(l.c_str());
  ++sum.findings;
  if (f.state == physguard::AlarmState::alarm) ++sum.alarms;
  if (f.kind == physguard::FindingKind::bad_input) ++sum.refused;
}

/// A check's decision through its alarm logic: a finding when the state changed.
template <typename Out, typename D>
void judge(Out& out, Summary& sum, int k, physguard::AlarmLogic<T>& alarm, const D& decision,
           const char* name, std::uint16_t channel) {
  const physguard::Decision<T>& d = decision;
  const physguard::AlarmOutput o = alarm.update(d);
  if (!o.changed) return;
  physguard::Finding<T> f = d.to_finding(channel, name, o.state);
  f.status = o.status;
  if (!physguard::is_used(o.status)) f.kind = physguard::FindingKind::bad_input;
  print_finding(out, sum, k, f);
}

/// Runs the whole scenario on `det`, printing through `out(const char*)`.  Returns the summary.
template <typename Out>
Summary run(Detectors& det, Out& out) {
  using namespace physguard;
  Summary sum;
  Stream stream;
  out("physguard firmware scenario: level sensor + valve, 800 scans of 100 ms\n");
  for (int k = 0; k < scans; ++k) {
    const Scan s = stream.scan(k);
    const Sample<T> level{s.time, s.level_m, Quality::good};

    // Plausibility first: a value the tank cannot have, or a NaN, never reaches the filter.
    const Decision<T> rd = det.range.update(level);
    judge(out, sum, k, det.range_alarm, rd, RangeCheck<T>::name, 0);
    judge(out, sum, k, det.stuck_alarm, det.stuck.update(level), StuckAtCheck<T, 16>::name, 0);
    if (rd.status == Status::ok && !rd.alarm) {
      if (auto f = det.cusum.update(level)) print_finding(out, sum, k, f.finding);
      const Innovation<T, 1>& rec = det.cusum.source().last_innovation();
      if (rec.time == s.time) {  // this sample reached the filter: test its NIS as well
        if (auto f = det.nis.update(rec)) print_finding(out, sum, k, f.finding);
      }
    }

    judge(out, sum, k, det.valve_alarm,
          det.valve.update(s.time, s.valve_command_open, s.valve_open_switch,
                           s.valve_closed_switch),
          ValveCommandResponseChecker<T>::name, 1);
  }
  Line l;
  l << "SUMMARY scans=";
  l.num(scans);
  l << " findings=";
  l.num(sum.findings);
  l << " alarms=";
  l.num(sum.alarms);
  l << " refused=";
  l.num(sum.refused);
  l << " level_u=";
  l.micro(det.cusum.source().filter().state()(0));
  l << "\n";
  out(l.c_str());
  return sum;
}

}  // namespace scenario
