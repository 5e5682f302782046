// examples/batadal/detector.hpp - an attack detector for the C-Town water network (BATADAL),
// composed only of physguard parts.  Fitted and calibrated on a clean recording (dataset03).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "table.hpp"

namespace batadal {

/// The parts of the detector; each can be switched off for the ablation table.
enum Part : int {
  part_rules = 0,    ///< [CONTROLS] hysteresis rules (HysteresisRuleChecker) + normally-off pumps
  part_status_flow,  ///< reported status vs measured flow (InvariantCheck)
  part_pump_curve,   ///< flow vs station head while running (regression residual -> CUSUM)
  part_mass_balance, ///< tank level Kalman filters with pump flows as inputs -> CUSUM on innovation
  part_pressure,     ///< station pressures vs pump status, flows and levels -> CUSUM
  part_noise,        ///< NoiseChangeCheck on the model residuals (replayed / spliced readings)
  part_count
};
const char* part_name(int part);
int part_from_name(const std::string& name);  ///< -1 if unknown

/// The few documented settings (chosen on dataset04 among the values listed in docs/batadal.md).
struct Settings {
  double safety = 1.1;       ///< alarm level = safety * the largest score seen on the clean year
  int hold_hours = 12;       ///< an alarm is held this long after the last raw detection
  double cusum_k = 0.5;      ///< CUSUM reference value (sigmas)
  double rule_tolerance_h = 0.5;  ///< switching delay a rule tolerates (0.5 h: 2nd hourly sample)
  unsigned disabled = 0;     ///< bit p set: Part p switched off
};

/// What the detector says about one row.
struct RowVerdict {
  bool alarm = false;
  std::uint32_t components = 0;  ///< bit c = Component c suspected
  std::uint32_t raw_parts = 0;   ///< bit p = Part p detected on this row (before holding)
};

/// One residual channel of one part (for reports).
struct ChannelInfo {
  std::string name;
  int part = 0;
  std::uint32_t components = 0;
  double base = 0.0;       ///< level from theory (ARL) or the check's own threshold
  double level = 0.0;      ///< calibrated alarm level: max(base, safety * clean_max)
  double clean_max = 0.0;  ///< largest score on the clean recording
};

/// A linear model y = sum coef_i * feature_i(row) fitted by ridge least squares on clean rows.
struct Feature {
  enum Kind : int { constant, value, trapezoid, hour_of_day } kind = constant;
  int column = -1;  ///< value / trapezoid (mean of this and the previous row)
  int hour = 0;     ///< hour_of_day: 1 when the row's hour is `hour`
};
struct LinearModel {
  std::vector<Feature> features;
  std::vector<double> coef;
  double sigma = 1.0;     ///< residual standard deviation on the clean rows
  double ar_coef = 0.0;   ///< lag-one autocorrelation of the residual (mass balances)
};

class Detector {
 public:
  explicit Detector(Settings s = Settings{}) : settings_(s) {}

  /// Fits every model on the clean recording and calibrates every alarm level on it.
  bool fit(const Table& clean, std::string& error);

  /// Runs the fitted detector over a recording with the same columns.
  bool run(const Table& t, std::vector<RowVerdict>& out, std::string& error) const;

  const std::vector<ChannelInfo>& channels() const { return channels_; }
  const Settings& settings() const { return settings_; }

  /// Raw per-channel alarms (score > level) of every channel on every row: alarms[channel][row].
  bool channel_alarms(const Table& t, std::vector<std::vector<std::uint8_t>>& alarms,
                      std::string& error) const;

  /// Changes the settings that need no refit (safety, hold, disabled parts); the alarm levels
  /// are recomputed from the clean maxima.  cusum_k and rule_tolerance_h need fit() again.
  void retune(double safety, int hold_hours, unsigned disabled);

 private:
  // scores[channel][row] of every channel; `calibrating` = no alarm levels yet.
  void score_all(const Table& t, bool calibrating, std::vector<std::vector<double>>& scores,
                 std::vector<double>* baselines_out) const;

  Settings settings_;
  std::vector<ChannelInfo> channels_;
  std::vector<double> rule_margins_;          // per control rule
  std::vector<double> on_flow_min_;           // per actuator: smallest credible ON flow
  std::vector<LinearModel> curve_models_;     // per actuator (empty features: never ran)
  std::vector<LinearModel> pressure_models_;  // per station x {suction, discharge}
  std::vector<LinearModel> tank_models_;      // per tank: net inflow m^3/h
  std::vector<double> noise_baseline_;        // per noise channel: variance of z on clean rows
};

/// Names the columns the detector needs that `t` lacks ("" if none).
std::string missing_columns(const Table& t);

}  // namespace batadal
