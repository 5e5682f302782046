// examples/water_treatment/plant.hpp - a simulated water-treatment plant and its attack script.
//
// The plant (1 s steps):
//   - raw-water inflow pump P1, switched by the PLC's level controller (ON below 2.0 m, OFF above
//     4.0 m) with a motor-contactor auxiliary contact as run feedback and a flow meter FT1;
//   - a 50 m^2 storage tank with level transmitter LT1 (4-20 mA over 0-6 m, 3 mm noise);
//   - a demand-driven outflow measured by FT2, through the outlet valve V1 (open/closed limit
//     switches, 12 s travel);
//   - sodium hydroxide dosing: the operator's NaOH setpoint (ppm) sets the dosing pump speed in
//     proportion to the inflow, trimmed by a pH PI loop; dosing flow meter FT3 (L/h);
//   - the pH of the dosed water follows the dose through a first-order-plus-dead-time response.
//
// The script: one week with legitimate operator actions and five attacks (plus one genuine sensor
// fault) at fixed times.  Everything is deterministic for a given seed.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace water {

constexpr double kPi = 3.14159265358979323846;
constexpr double kDay = 86400.0;
constexpr double kHour = 3600.0;

/// What the probe on the PLC's I/O sees each second (plus the hidden truth, for the plot).
struct Signals {
  double t_s = 0;
  // Tank and flows
  double level_m = 0;          // LT1 as reported
  double inflow_m3_s = 0;      // FT1
  double outflow_m3_s = 0;     // FT2
  bool p1_command = false;     // PLC output: inflow pump run
  bool p1_feedback = false;    // auxiliary contact
  // Dosing
  double naoh_setpoint_ppm = 0;  // operator setpoint (HMI -> PLC)
  bool dose_run_command = false;
  double dose_speed_percent = 0;  // PLC output: dosing pump speed command
  double dose_flow_l_h = 0;       // FT3
  double ph = 0;                  // pH analyser as reported
  double ph_current_ma = 0;       // the analyser's loop current
  // Outlet valve
  bool v1_command_open = true;
  bool v1_open_switch = true;
  bool v1_closed_switch = false;
  // Hidden truth
  double true_level_m = 0;
  double true_ph = 0;
  int attack = 0;  // 0 none, 1..5 attack id active, -1 genuine sensor fault active
};

/// One scripted attack (or fault).
struct Event {
  int id;
  const char* name;
  const char* what;
  double start_s;
  double end_s;
};

/// The five attacks of the scenario (ids 1..5) and the genuine fault (-1).
inline std::vector<Event> scripted_events() {
  return {
      {1, "Oldsmar setpoint", "NaOH setpoint raised from 100 to 11,100 ppm", 1 * kDay + 13.5 * kHour,
       1 * kDay + 13.5 * kHour + 600},
      {2, "level drift", "LT1 falsified with a 3 mm/min drift so the tank overflows",
       2 * kDay + 2 * kHour, 2 * kDay + 8 * kHour},
      {3, "pH replay", "pH analyser replays yesterday's recording while dosing is doubled",
       3 * kDay + 11 * kHour, 3 * kDay + 13 * kHour},
      {4, "dosing pump dead", "dosing pump commanded on but delivers no flow", 4 * kDay + 9 * kHour,
       4 * kDay + 10.5 * kHour},
      {5, "uncommanded valve", "outlet valve V1 closes without a command", 5 * kDay + 15 * kHour,
       5 * kDay + 15 * kHour + 1200},
      {-1, "pH wire break", "genuine fault: the pH analyser's 4-20 mA loop breaks",
       6 * kDay + 10 * kHour, 6 * kDay + 10.25 * kHour},
  };
}

/// The plant and its PLC, stepped once per second.
class Plant {
 public:
  explicit Plant(std::uint64_t seed = 2021) : rng_(seed) {
    // Start in steady state: the dosing line already carries the normal dose.
    for (double& ppm : ppm_delay_) ppm = dose_ppm(dose_flow_, q_in_);
  }

  static constexpr double area_m2 = 50.0;
  static constexpr double level_low_m = 2.0;    // P1 ON below
  static constexpr double level_high_m = 4.0;   // P1 OFF above
  static constexpr double level_overflow_m = 5.0;
  static constexpr double level_noise_m = 0.003;
  static constexpr double flow_noise_m3_s = 0.0008;
  static constexpr double dose_flow_noise_l_h = 0.4;
  static constexpr double ph_noise = 0.01;
  static constexpr double dose_pump_l_h_per_percent = 1.0;
  static constexpr double dose_pump_time_constant_s = 3.0;
  static constexpr double ph_raw = 6.6;
  static constexpr double ph_per_ppm = 0.006;
  static constexpr double ph_time_constant_s = 240.0;
  static constexpr double ph_dead_time_s = 90.0;
  static constexpr double valve_travel_s = 12.0;
  static constexpr double p1_flow_m3_s = 0.06;

  /// Effective NaOH dose in ppm (g/m^3) from the dosing flow (L/h of 25 % solution, 1.27 kg/L)
  /// and the inflow (m^3/s).
  static double dose_ppm(double dose_flow_l_h, double inflow_m3_s) {
    if (inflow_m3_s < 0.005) return 0.0;
    return dose_flow_l_h * 1.27 * 0.25 * 1000.0 / (inflow_m3_s * 3600.0);
  }
  /// Steady-state pH for a dose (the response model's static gain and offset).
  static double ph_for_dose(double ppm) { return ph_raw + ph_per_ppm * ppm; }

  /// One second: the PLC scans at whole seconds (reads its inputs, runs its program, writes its
  /// outputs), and the probe on the DIN rail samples every wire half a second later, on its own
  /// clock.  Returns what the probe saw.
  Signals step() {
    const double t = t_s_;
    const int active = active_event(t);

    // --- the PLC scan at t: inputs as the PLC reads them, then its program ---
    const double plc_level = read_level(t, active);
    const double plc_ph = read_ph(active);
    const bool ph_valid = active != -1;  // the PLC's analog card flags the broken loop
    double setpoint = 100.0;
    if (t >= 3 * kDay + 8 * kHour && t < 5 * kDay + 8 * kHour) setpoint = 110.0;  // operator change
    if (active == 1) setpoint = 11100.0;  // Oldsmar: someone else types into the HMI
    setpoint_ = setpoint;
    v1_cmd_open_ = !((t >= 1 * kDay + 10 * kHour && t < 1 * kDay + 10.5 * kHour) ||
                     (t >= 4 * kDay + 16 * kHour && t < 4 * kDay + 16.2 * kHour));  // maintenance
    if (plc_level < level_low_m) p1_cmd_ = true;   // level control on the REPORTED level
    if (plc_level > level_high_m) p1_cmd_ = false;
    const double ff_percent =
        setpoint * p1_flow_m3_s * 3600.0 / (1.27 * 0.25 * 1000.0) / dose_pump_l_h_per_percent;
    const double ph_error = ph_valid ? 7.2 + ph_per_ppm * (setpoint - 100.0) - plc_ph : 0.0;
    if (p1_cmd_) ph_integral_ = std::clamp(ph_integral_ + 0.002 * ph_error, -3.0, 3.0);
    double speed = p1_cmd_ ? std::clamp(ff_percent + 5.0 * ph_error + ph_integral_, 0.0, 100.0) : 0.0;
    if (active == 3) speed = std::min(100.0, 2.0 * speed);  // hidden behind the replay
    speed_ = speed;
    if (p1_cmd_ != p1_cmd_prev_) {
      p1_switch_time_ = t;
      contact_delay_ = 0.6 + 0.6 * uniform_(rng_);
    }
    p1_cmd_prev_ = p1_cmd_;
    demand_walk_ = std::clamp(demand_walk_ + 2e-5 * gauss_(rng_), -0.004, 0.004);

    // --- the process for half a second, the probe's sample, the second half ---
    advance(t, 0.5, active);
    const double tp = t + 0.5;
    Signals s;
    s.t_s = tp;
    s.attack = active_event(tp);
    s.level_m = read_level(tp, active);
    s.inflow_m3_s = q_in_ + flow_noise_m3_s * gauss_(rng_);
    s.outflow_m3_s = q_out_ + flow_noise_m3_s * gauss_(rng_);
    s.dose_flow_l_h = dose_flow_ + dose_pump_l_h_per_percent * dose_flow_noise_l_h * gauss_(rng_);
    s.p1_command = p1_cmd_;
    s.p1_feedback = p1_running_;
    s.dose_run_command = p1_cmd_;
    s.dose_speed_percent = speed_;
    s.naoh_setpoint_ppm = setpoint_;
    s.v1_command_open = v1_cmd_open_;
    s.v1_open_switch = v1_position_ > 0.97;
    s.v1_closed_switch = v1_position_ < 0.03;
    const double ph_meas = read_ph(active);
    s.ph = ph_meas;
    s.ph_current_ma = active == -1 ? 0.4 + 0.05 * gauss_(rng_)  // wire break: the loop current is gone
                                   : 4.0 + 16.0 * ph_meas / 14.0;
    s.true_level_m = level_true_;
    s.true_ph = ph_true_;
    // The attacker's recording: what the analyser put on the wire, one value per second.
    ph_history_.push_back(quantise(ph_true_ + ph_noise * gauss_(rng_), 0.0, 14.0));
    advance(tp, 0.5, active);
    t_s_ += 1.0;
    return s;
  }

  double time_s() const { return t_s_; }

 private:
  static constexpr int kDelay = static_cast<int>(2 * ph_dead_time_s);  // half-second slots

  // What the level transmitter puts on the wire at time t (falsified during attack 2).
  double read_level(double t, int active) {
    double v = level_true_ + level_noise_m * gauss_(rng_);
    if (active == 2) v -= 0.003 / 60.0 * (t - event(2).start_s);  // 3 mm/min falsification
    return quantise(v, 0.0, 6.0);
  }
  // What the pH analyser's signal says (a replay of yesterday during attack 3).
  double read_ph(int active) {
    if (active == 3 && ph_history_.size() > static_cast<std::size_t>(kDay))
      return ph_history_[ph_history_.size() - static_cast<std::size_t>(kDay)];
    return quantise(ph_true_ + ph_noise * gauss_(rng_), 0.0, 14.0);
  }
  // The process over dt seconds with the outputs the PLC last wrote.
  void advance(double t, double dt, int active) {
    if (t + dt - p1_switch_time_ >= contact_delay_) p1_running_ = p1_cmd_;
    const double q_in_target = p1_running_ ? p1_flow_m3_s + 0.002 * std::sin(2 * kPi * t / 7200.0) : 0.0;
    q_in_ += (q_in_target - q_in_) * (1.0 - std::exp(-dt / 4.0));  // 4 s pump spin-up
    const bool v1_open = active == 5 ? false : v1_cmd_open_;
    v1_position_ = std::clamp(v1_position_ + (v1_open ? dt : -dt) / valve_travel_s, 0.0, 1.0);
    const double demand = 0.03 + 0.012 * std::sin(2 * kPi * (t - 6 * kHour) / kDay) + demand_walk_;
    q_out_ = level_true_ > 0.05 ? demand * v1_position_ : 0.0;
    level_true_ = std::clamp(level_true_ + dt * (q_in_ - q_out_) / area_m2, 0.0, level_overflow_m);
    const bool pump_dead = active == 4;
    const double dose_target = (p1_cmd_ && !pump_dead) ? speed_ * dose_pump_l_h_per_percent : 0.0;
    dose_flow_ += (dose_target - dose_flow_) * (1.0 - std::exp(-dt / dose_pump_time_constant_s));
    ppm_delay_[delay_index_] = dose_ppm(dose_flow_, q_in_);
    delay_index_ = (delay_index_ + 1) % kDelay;
    const double ppm_delayed = ppm_delay_[delay_index_];
    const double raw_ph = ph_raw + 0.03 * std::sin(2 * kPi * t / kDay);
    ph_true_ += (raw_ph + ph_per_ppm * ppm_delayed - ph_true_) * (1.0 - std::exp(-dt / ph_time_constant_s));
  }

  const Event& event(int id) const {
    for (const auto& e : events_)
      if (e.id == id) return e;
    return events_.front();
  }
  int active_event(double t) const {
    for (const auto& e : events_)
      if (t >= e.start_s && t < e.end_s) return e.id;
    return 0;
  }
  // 16-bit ADC on a 4-20 mA loop over [lo, hi].
  static double quantise(double v, double lo, double hi) {
    const double step = (hi - lo) / 65535.0;
    return lo + std::round((std::clamp(v, lo, hi) - lo) / step) * step;
  }

  std::vector<Event> events_ = scripted_events();
  std::mt19937_64 rng_;
  std::normal_distribution<double> gauss_{0.0, 1.0};
  std::uniform_real_distribution<double> uniform_{0.0, 1.0};
  double t_s_ = 0.0;
  double level_true_ = 3.0;
  bool p1_cmd_ = true;
  bool p1_cmd_prev_ = true;
  bool p1_running_ = true;
  double p1_switch_time_ = -100.0;
  double contact_delay_ = 1.0;
  double q_out_ = 0.03;
  double q_in_ = p1_flow_m3_s;
  double ph_integral_ = 0.0;
  double dose_flow_ = 68.0;
  double ph_true_ = 7.2;
  double ppm_delay_[kDelay] = {};
  int delay_index_ = 0;
  double v1_position_ = 1.0;
  bool v1_cmd_open_ = true;
  double setpoint_ = 100.0;
  double speed_ = 68.0;
  double demand_walk_ = 0.0;
  std::vector<double> ph_history_;
};

}  // namespace water
