// examples/batadal/detector.cpp - the C-Town detector: physguard parts bound to the network.
#include "detector.hpp"

#include <algorithm>
#include <cmath>
#include <limits>

#include <Eigen/Dense>

#include <physguard/consistency/control_logic.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/invariant.hpp>
#include <physguard/detect/noise_change.hpp>
#include <physguard/detect/range_check.hpp>
#include <physguard/estimate/kalman_filter.hpp>

#include "ctown.hpp"

namespace batadal {

namespace pg = physguard;

namespace {

constexpr double kNan = std::numeric_limits<double>::quiet_NaN();
constexpr double kHour_s = 3600.0;
constexpr int kNoiseWindow = 12;            // hours per noise window
constexpr double kNoiseProbability = 1e-4;  // per window, before calibration
constexpr double kCusumArl = 87600.0;       // base CUSUM threshold: ARL0 of ten years of hours
constexpr double kRidge = 1e-6;             // relative ridge on the normal equations
constexpr double kResolution = 0.01;        // SCADA resolution of levels, flows and pressures

const char* const part_names[part_count] = {"rules",        "status_flow", "pump_curve",
                                            "mass_balance", "pressure",    "noise"};

std::uint32_t bit(int c) { return c >= 0 ? (1u << static_cast<unsigned>(c)) : 0u; }

int hour_of(pg::Timestamp t) {
  std::int64_t h = (t.us / 1000000LL) / 3600;
  h %= 24;
  if (h < 0) h += 24;
  return static_cast<int>(h);
}

struct Columns {
  int level[7];
  int flow[12];
  int status[12];
  int pressure[6][2];  // per station: suction, discharge
};

int actuator_slot(int component) {
  for (std::size_t i = 0; i < actuators.size(); ++i)
    if (actuators[i] == component) return static_cast<int>(i);
  return -1;
}

bool find_columns(const Table& t, Columns& c) {
  bool ok = true;
  for (int k = 0; k < 7; ++k) ok &= (c.level[k] = t.column_index(level_column(T1 + k))) >= 0;
  for (std::size_t a = 0; a < actuators.size(); ++a) {
    ok &= (c.flow[a] = t.column_index(flow_column(actuators[a]))) >= 0;
    ok &= (c.status[a] = t.column_index(status_column(actuators[a]))) >= 0;
  }
  for (std::size_t s = 0; s < stations.size(); ++s) {
    ok &= (c.pressure[s][0] = t.column_index(stations[s].suction)) >= 0;
    ok &= (c.pressure[s][1] = t.column_index(stations[s].discharge)) >= 0;
  }
  return ok;
}

double cell(const Table& t, int col, std::size_t row) {
  return t.values[static_cast<std::size_t>(col)][row];
}

double feature_value(const Table& t, const Feature& f, std::size_t row) {
  switch (f.kind) {
    case Feature::constant: return 1.0;
    case Feature::value: return cell(t, f.column, row);
    case Feature::trapezoid:
      return row == 0 ? kNan : 0.5 * (cell(t, f.column, row - 1) + cell(t, f.column, row));
    case Feature::hour_of_day: return hour_of(t.time[row]) == f.hour ? 1.0 : 0.0;
  }
  return kNan;
}

double predict(const Table& t, const LinearModel& m, std::size_t row) {
  double y = 0.0;
  for (std::size_t i = 0; i < m.features.size(); ++i) y += m.coef[i] * feature_value(t, m.features[i], row);
  return y;
}

// Ridge least squares (scale-invariant: lambda times the diagonal of X'X), solved by LDLT.
// `target(row)` returns NaN for rows to skip; `use(row)` selects rows.
template <typename Target, typename Use>
bool fit_linear(const Table& t, LinearModel& m, Target target, Use use) {
  const std::size_t p = m.features.size();
  Eigen::MatrixXd xtx = Eigen::MatrixXd::Zero(static_cast<Eigen::Index>(p), static_cast<Eigen::Index>(p));
  Eigen::VectorXd xty = Eigen::VectorXd::Zero(static_cast<Eigen::Index>(p));
  Eigen::VectorXd x(static_cast<Eigen::Index>(p));
  std::size_t n = 0;
  for (std::size_t r = 0; r < t.rows(); ++r) {
    if (!use(r)) continue;
    const double y = target(r);
    if (!std::isfinite(y)) continue;
    bool finite = true;
    for (std::size_t i = 0; i < p; ++i) {
      x(static_cast<Eigen::Index>(i)) = feature_value(t, m.features[i], r);
      finite &= std::isfinite(x(static_cast<Eigen::Index>(i)));
    }
    if (!finite) continue;
    xtx.selfadjointView<Eigen::Lower>().rankUpdate(x);
    xty += y * x;
    ++n;
  }
  if (n < 10 * p + 20) return false;
  xtx = xtx.selfadjointView<Eigen::Lower>();
  for (Eigen::Index i = 0; i < xtx.rows(); ++i) xtx(i, i) += kRidge * xtx(i, i) + 1e-9;
  const Eigen::VectorXd c = xtx.ldlt().solve(xty);
  m.coef.assign(c.data(), c.data() + c.size());
  // residual sigma and lag-one autocorrelation
  double s2 = 0.0, lag = 0.0, prev = kNan;
  std::size_t used = 0, pairs = 0;
  for (std::size_t r = 0; r < t.rows(); ++r) {
    if (!use(r)) {
      prev = kNan;
      continue;
    }
    const double e = target(r) - predict(t, m, r);
    if (!std::isfinite(e)) {
      prev = kNan;
      continue;
    }
    s2 += e * e;
    ++used;
    if (std::isfinite(prev)) {
      lag += e * prev;
      ++pairs;
    }
    prev = e;
  }
  // The residual sigma, never below the data's resolution: a model that fits the clean year
  // exactly (a constant pressure) must not turn a rounding step into an alarm.
  m.sigma = std::sqrt(s2 / static_cast<double>(used) + kResolution * kResolution);
  m.ar_coef = pairs > 0 ? std::clamp(lag / static_cast<double>(pairs) / (m.sigma * m.sigma), 0.0, 0.98) : 0.0;
  if (!(m.sigma > 0.0)) m.sigma = 1e-3;
  return true;
}

Feature value_of(int col) {
  Feature f;
  f.kind = Feature::value;
  f.column = col;
  return f;
}
Feature trapezoid_of(int col) {
  Feature f;
  f.kind = Feature::trapezoid;
  f.column = col;
  return f;
}

// Net inflow of a tank in m^3/h from two level readings one row apart.
double net_inflow_m3_h(const Table& t, const Columns& c, int tank, std::size_t row) {
  if (row == 0) return kNan;
  const double dt_h = (t.time[row] - t.time[row - 1]).seconds() / kHour_s;
  if (!(dt_h > 0.0)) return kNan;
  const int col = c.level[tank];
  return tank_area_m2(tank) * (cell(t, col, row) - cell(t, col, row - 1)) / dt_h;
}

bool on(double status) { return status > 0.5; }

// Score of a binary check as a channel score: 2 when it alarms, 0 otherwise (level 1).
double binary_score(bool alarm) { return alarm ? 2.0 : 0.0; }

}  // namespace

const char* part_name(int part) { return part >= 0 && part < part_count ? part_names[part] : "?"; }

int part_from_name(const std::string& name) {
  for (int p = 0; p < part_count; ++p)
    if (name == part_names[p]) return p;
  return -1;
}

std::string missing_columns(const Table& t) {
  std::string out;
  auto need = [&](const std::string& n) {
    if (t.column_index(n) < 0) out += (out.empty() ? "" : " ") + n;
  };
  for (int k = 0; k < 7; ++k) need(level_column(T1 + k));
  for (int a : actuators) {
    need(flow_column(a));
    need(status_column(a));
  }
  for (const Station& s : stations) {
    need(s.suction);
    need(s.discharge);
  }
  return out;
}

// ------------------------------------------------------------------------------------------------
// Scoring: every channel of every part over a whole recording.  Channels are created in a fixed
// order, so channels_[i] describes scores[i].
// ------------------------------------------------------------------------------------------------
void Detector::score_all(const Table& t, bool calibrating,
                         std::vector<std::vector<double>>& scores,
                         std::vector<double>* baselines_out) const {
  Columns c{};
  find_columns(t, c);
  const std::size_t n = t.rows();
  scores.clear();
  std::size_t ch = 0;  // running channel number
  auto level_of = [&](std::size_t channel, double fallback) {
    return calibrating || channel >= channels_.size() ? fallback : channels_[channel].level;
  };
  auto new_channel = [&]() -> std::vector<double>& {
    scores.emplace_back(n, 0.0);
    ++ch;
    return scores.back();
  };
  const double huge = 1e30;
  const double k = settings_.cusum_k;

  // --- rules: HysteresisRuleChecker per [CONTROLS] rule ---------------------------------------
  for (std::size_t r = 0; r < control_rules.size(); ++r) {
    const ControlRule& rule = control_rules[r];
    std::vector<double>& s = new_channel();
    pg::HysteresisRuleChecker<double> checker(
        rule.low_m, rule.high_m, pg::HysteresisSense::on_below_low,
        pg::Duration::from_seconds(settings_.rule_tolerance_h * kHour_s), rule_margins_[r]);
    const int lc = c.level[rule.tank], sc = c.status[actuator_slot(rule.actuator)];
    for (std::size_t i = 0; i < n; ++i) {
      const auto d = checker.update(pg::Sample<double>{t.time[i], cell(t, lc, i)},
                                    pg::Sample<bool>{t.time[i], on(cell(t, sc, i))});
      s[i] = binary_score(d.alarm);
    }
  }
  // normally-off pumps: the reported status must stay in [0, 0]
  for (int a : normally_off) {
    std::vector<double>& s = new_channel();
    pg::RangeCheck<double> off(-0.25, 0.25);
    const int sc = c.status[actuator_slot(a)];
    for (std::size_t i = 0; i < n; ++i)
      s[i] = binary_score(off.update(pg::Sample<double>{t.time[i], cell(t, sc, i)}).alarm);
  }

  // --- status_flow: a running actuator has flow, a stopped one none ----------------------------
  for (std::size_t a = 0; a < actuators.size(); ++a) {
    std::vector<double>& s = new_channel();
    const double fmin = on_flow_min_[a];
    auto check = pg::make_invariant_check<double, 2>(
        [fmin](const std::array<pg::Sample<double>, 2>& x) {
          const bool running = on(x[0].value);
          const bool flowing = x[1].value >= fmin;
          const bool reverse = x[1].value < -fmin;
          return (running != flowing || reverse) ? 1.0 : 0.0;
        },
        0.5);
    for (std::size_t i = 0; i < n; ++i) {
      const auto d = check.update({pg::Sample<double>{t.time[i], cell(t, c.status[a], i)},
                                   pg::Sample<double>{t.time[i], cell(t, c.flow[a], i)}});
      s[i] = binary_score(d.alarm);
    }
  }

  // --- pump_curve: flow vs station pressures while running -> CUSUM -----------------------------
  for (std::size_t a = 0; a < actuators.size(); ++a) {
    const LinearModel& m = curve_models_[a];
    if (m.features.empty()) continue;
    std::vector<double>& s = new_channel();
    pg::CusumDetector<double> cusum(k, level_of(ch - 1, huge), pg::AfterAlarm::restart);
    for (std::size_t i = 0; i < n; ++i) {
      const double z = on(cell(t, c.status[a], i))
                           ? (cell(t, c.flow[a], i) - predict(t, m, i)) / m.sigma
                           : 0.0;
      s[i] = cusum.update(std::isfinite(z) ? z : 0.0).score;
    }
  }

  // --- mass_balance: Kalman filter per tank, CUSUM on the normalised innovation -----------------
  std::vector<std::vector<double>> tank_z(7, std::vector<double>(n, 0.0));
  for (int tank = 0; tank < 7; ++tank) {
    const LinearModel& m = tank_models_[static_cast<std::size_t>(tank)];
    std::vector<double>& s = new_channel();
    using KF = pg::KalmanFilter<double, 2, 1, 1>;
    const double g = 1.0 / tank_area_m2(tank);  // m per (m^3/h) over one hour
    const double phi = m.ar_coef;
    const double var_w = m.sigma * m.sigma * (1.0 - phi * phi);
    KF::Model model;
    model.A << 1.0, g * phi, 0.0, phi;
    model.B << g, 0.0;
    model.C << 1.0, 0.0;
    model.D << 0.0;
    model.dt_s = kHour_s;
    KF::StateMatrix Q;
    Q << g * g, g, g, 1.0;
    Q *= var_w;
    Q(0, 0) += 1e-6;
    KF::MeasurementCovariance R;
    R << 1e-4;  // 1 cm: level resolution and sensor noise
    KF::StateMatrix P0;
    P0 << 1e-2, 0.0, 0.0, m.sigma * m.sigma;
    const int lc = c.level[tank];
    KF kf(model, Q, R, KF::StateVector(cell(t, lc, 0), 0.0), P0);
    pg::CusumDetector<double> cusum(k, level_of(ch - 1, huge), pg::AfterAlarm::restart);
    for (std::size_t i = 1; i < n; ++i) {
      const double u = predict(t, m, i);
      if (!std::isfinite(u) || (t.time[i] - t.time[i - 1]).seconds() != kHour_s) {
        kf.reset(KF::StateVector(cell(t, lc, i), 0.0), P0);  // gap or bad flows: start again
        continue;
      }
      kf.predict(KF::InputVector(u));
      const auto rec = kf.update(KF::MeasurementVector(cell(t, lc, i)));
      const double z = rec.y(0) / std::sqrt(rec.S(0, 0));
      tank_z[static_cast<std::size_t>(tank)][i] = std::isfinite(z) ? z : 0.0;
      s[i] = cusum.update(std::isfinite(z) ? z : 0.0).score;
    }
  }

  // --- pressure: each station pressure vs pump status, flows and tank levels -> CUSUM -----------
  std::vector<std::vector<double>> pressure_z(12, std::vector<double>(n, 0.0));
  for (std::size_t p = 0; p < pressure_models_.size(); ++p) {
    const LinearModel& m = pressure_models_[p];
    std::vector<double>& s = new_channel();
    pg::CusumDetector<double> cusum(k, level_of(ch - 1, huge), pg::AfterAlarm::restart);
    const int col = c.pressure[p / 2][p % 2];
    for (std::size_t i = 0; i < n; ++i) {
      const double z = (cell(t, col, i) - predict(t, m, i)) / m.sigma;
      pressure_z[p][i] = std::isfinite(z) ? z : 0.0;
      s[i] = cusum.update(pressure_z[p][i]).score;
    }
  }

  // --- noise: NoiseChangeCheck on the residuals of the tank filters and pressure models ---------
  std::size_t nb = 0;
  auto noise_channel = [&](const std::vector<double>& z) {
    std::vector<double>& s = new_channel();
    double base = 1.0;
    if (calibrating) {  // baseline: the residual's mean square on the clean recording
      double s2 = 0.0;
      for (double v : z) s2 += v * v;
      base = std::max(s2 / static_cast<double>(n), 1e-6);
      if (baselines_out) baselines_out->push_back(base);
    } else if (nb < noise_baseline_.size()) {
      base = noise_baseline_[nb];
    }
    ++nb;
    auto check = pg::NoiseChangeCheck<double, kNoiseWindow>::with_baseline(
        base, kNoiseProbability, pg::NoiseStatistic::window_variance);
    for (std::size_t i = 0; i < n; ++i) {
      const auto d = check.update(pg::Sample<double>{t.time[i], z[i]});
      s[i] = d.direction > 0 ? d.score : 0.0;  // only "too noisy": replayed / spliced readings
    }
  };
  for (const auto& z : tank_z) noise_channel(z);
  for (const auto& z : pressure_z) noise_channel(z);
}

// ------------------------------------------------------------------------------------------------
bool Detector::fit(const Table& clean_in, std::string& error) {
  // The clean recording is brought to the resolution of the SCADA data (dataset03 has full
  // precision, dataset04 and the test set two decimals), so the models see what they will see.
  Table clean = clean_in;
  for (auto& col : clean.values)
    for (double& v : col)
      if (std::isfinite(v)) v = std::round(v / kResolution) * kResolution;
  Columns c{};
  if (!find_columns(clean, c)) {
    error = "the clean recording lacks columns: " + missing_columns(clean);
    return false;
  }
  if (clean.rows() < 24 * 30) {
    error = "the clean recording is too short to fit (need a month of hourly rows)";
    return false;
  }
  const std::size_t n = clean.rows();

  // Smallest ON flow seen while running (half of it is the "flowing" threshold).
  on_flow_min_.assign(actuators.size(), 1.0);
  for (std::size_t a = 0; a < actuators.size(); ++a) {
    double fmin = std::numeric_limits<double>::infinity();
    for (std::size_t i = 0; i < n; ++i)
      if (on(cell(clean, c.status[a], i))) fmin = std::min(fmin, cell(clean, c.flow[a], i));
    if (std::isfinite(fmin) && fmin > 2.0) on_flow_min_[a] = 0.5 * fmin;
  }

  // Rule margins: the smallest margin (5 cm steps, below half the band) under which the rule
  // raises no alarm on the clean year.  Hourly rows miss threshold crossings between samples;
  // the margin is how far from the threshold the level may be at the first sample after one.
  rule_margins_.assign(control_rules.size(), 0.0);
  for (std::size_t r = 0; r < control_rules.size(); ++r) {
    const ControlRule& rule = control_rules[r];
    const double band = rule.high_m - rule.low_m;
    const int lc = c.level[rule.tank], sc = c.status[actuator_slot(rule.actuator)];
    double chosen = -1.0;
    for (double m = 0.0; 2.0 * m < band - 1e-9; m += 0.05) {
      pg::HysteresisRuleChecker<double> checker(
          rule.low_m, rule.high_m, pg::HysteresisSense::on_below_low,
          pg::Duration::from_seconds(settings_.rule_tolerance_h * kHour_s), m);
      bool any = false;
      for (std::size_t i = 0; i < n && !any; ++i)
        any = checker
                  .update(pg::Sample<double>{clean.time[i], cell(clean, lc, i)},
                          pg::Sample<bool>{clean.time[i], on(cell(clean, sc, i))})
                  .alarm;
      if (!any) {
        chosen = m;
        break;
      }
    }
    rule_margins_[r] = chosen >= 0.0 ? chosen : 0.49 * band;
  }

  // Pump curves: flow of a running actuator from its station's suction and discharge pressure
  // and the state of the other actuators of the station.
  curve_models_.assign(actuators.size(), LinearModel{});
  for (std::size_t si = 0; si < stations.size(); ++si) {
    const Station& st = stations[si];
    for (int a : st.actuators) {
      if (a < 0) continue;
      const int slot = actuator_slot(a);
      LinearModel m;
      m.features.push_back(Feature{});
      m.features.push_back(value_of(c.pressure[si][0]));
      m.features.push_back(value_of(c.pressure[si][1]));
      for (int b : st.actuators)
        if (b >= 0 && b != a) m.features.push_back(value_of(c.status[actuator_slot(b)]));
      const int fc = c.flow[slot], sc = c.status[slot];
      if (fit_linear(clean, m, [&](std::size_t i) { return cell(clean, fc, i); },
                     [&](std::size_t i) { return on(cell(clean, sc, i)); }))
        curve_models_[static_cast<std::size_t>(slot)] = m;
    }
  }

  // Station pressures from every actuator's status, the station's flows and every tank level.
  pressure_models_.assign(2 * stations.size(), LinearModel{});
  for (std::size_t si = 0; si < stations.size(); ++si) {
    for (int side = 0; side < 2; ++side) {
      LinearModel m;
      m.features.push_back(Feature{});
      for (std::size_t a = 0; a < actuators.size(); ++a) m.features.push_back(value_of(c.status[a]));
      for (int a : stations[si].actuators)
        if (a >= 0) m.features.push_back(value_of(c.flow[actuator_slot(a)]));
      for (int tank = 0; tank < 7; ++tank) m.features.push_back(value_of(c.level[tank]));
      const int pc = c.pressure[si][side];
      if (!fit_linear(clean, m, [&](std::size_t i) { return cell(clean, pc, i); },
                      [](std::size_t) { return true; })) {
        error = std::string("cannot fit the pressure model of ") +
                (side == 0 ? stations[si].suction : stations[si].discharge);
        return false;
      }
      pressure_models_[2 * si + static_cast<std::size_t>(side)] = m;
    }
  }

  // Tank mass balances: net inflow (m^3/h) from the mean flow of every actuator over the hour
  // (trapezoid, L/s -> m^3/h folded into the coefficient) and an hour-of-day demand profile.
  tank_models_.assign(7, LinearModel{});
  for (int tank = 0; tank < 7; ++tank) {
    LinearModel m;
    for (std::size_t a = 0; a < actuators.size(); ++a) m.features.push_back(trapezoid_of(c.flow[a]));
    for (int h = 0; h < 24; ++h) {
      Feature f;
      f.kind = Feature::hour_of_day;
      f.hour = h;
      m.features.push_back(f);
    }
    if (!fit_linear(clean, m, [&](std::size_t i) { return net_inflow_m3_h(clean, c, tank, i); },
                    [](std::size_t i) { return i > 0; })) {
      error = std::string("cannot fit the mass balance of ") + component_name(T1 + tank);
      return false;
    }
    tank_models_[static_cast<std::size_t>(tank)] = m;
  }

  // Channel descriptions, in the order score_all creates them.
  channels_.clear();
  auto add = [&](std::string name, int part, std::uint32_t comps, double base) {
    ChannelInfo ci;
    ci.name = std::move(name);
    ci.part = part;
    ci.components = comps;
    ci.base = base;
    ci.level = base;
    channels_.push_back(ci);
  };
  const double h0 = pg::CusumDetector<double>::threshold_for_arl(settings_.cusum_k, kCusumArl);
  for (const ControlRule& r : control_rules)
    add(std::string("rule ") + component_name(r.actuator) + "/" + component_name(r.tank), part_rules,
        bit(r.actuator) | bit(r.tank), 1.0);
  for (int a : normally_off)
    add(std::string("normally off ") + component_name(a), part_rules, bit(a), 1.0);
  for (int a : actuators)
    add(std::string("status/flow ") + component_name(a), part_status_flow, bit(a), 1.0);
  for (std::size_t a = 0; a < actuators.size(); ++a)
    if (!curve_models_[a].features.empty())
      add(std::string("pump curve ") + component_name(actuators[a]), part_pump_curve,
          bit(actuators[a]), h0);
  for (int tank = 0; tank < 7; ++tank)
    add(std::string("mass balance ") + component_name(T1 + tank), part_mass_balance,
        bit(T1 + tank), h0);
  auto station_bits = [](const Station& st) {
    std::uint32_t b = 0;
    for (int a : st.actuators) b |= bit(a);
    return b | bit(st.tank);
  };
  for (const Station& st : stations) {
    add(std::string("pressure ") + st.suction, part_pressure, station_bits(st), h0);
    add(std::string("pressure ") + st.discharge, part_pressure, station_bits(st), h0);
  }
  for (int tank = 0; tank < 7; ++tank)
    add(std::string("noise mass balance ") + component_name(T1 + tank), part_noise,
        bit(T1 + tank), 1.0);
  for (const Station& st : stations) {
    add(std::string("noise pressure ") + st.suction, part_noise, station_bits(st), 1.0);
    add(std::string("noise pressure ") + st.discharge, part_noise, station_bits(st), 1.0);
  }

  // Calibration: one scoring run over the clean year with no alarm levels (noise baselines are
  // measured in it), then alarm level = max(theoretical base, safety * largest clean score).
  std::vector<std::vector<double>> scores;
  noise_baseline_.clear();
  score_all(clean, true, scores, &noise_baseline_);
  if (scores.size() != channels_.size()) {
    error = "internal error: channel bookkeeping";
    return false;
  }

  // alarm level = max(base, safety * largest clean score).
  for (std::size_t i = 0; i < channels_.size(); ++i) {
    double mx = 0.0;
    for (double v : scores[i]) mx = std::max(mx, v);
    channels_[i].clean_max = mx;
    channels_[i].level = std::max(channels_[i].level, settings_.safety * mx);
  }
  return true;
}

bool Detector::channel_alarms(const Table& t, std::vector<std::vector<std::uint8_t>>& alarms,
                              std::string& error) const {
  Columns c{};
  if (!find_columns(t, c)) {
    error = "the recording lacks columns: " + missing_columns(t);
    return false;
  }
  std::vector<std::vector<double>> scores;
  score_all(t, false, scores, nullptr);
  alarms.assign(scores.size(), {});
  for (std::size_t ch = 0; ch < scores.size(); ++ch) {
    alarms[ch].resize(scores[ch].size());
    for (std::size_t i = 0; i < scores[ch].size(); ++i)
      alarms[ch][i] = scores[ch][i] > channels_[ch].level ? 1 : 0;
  }
  return true;
}

void Detector::retune(double safety, int hold_hours, unsigned disabled) {
  settings_.safety = safety;
  settings_.hold_hours = hold_hours;
  settings_.disabled = disabled;
  for (ChannelInfo& ci : channels_) ci.level = std::max(ci.base, safety * ci.clean_max);
}

bool Detector::run(const Table& t, std::vector<RowVerdict>& out, std::string& error) const {
  Columns c{};
  if (!find_columns(t, c)) {
    error = "the recording lacks columns: " + missing_columns(t);
    return false;
  }
  for (std::size_t i = 1; i < t.rows(); ++i) {
    if (!(t.time[i - 1] < t.time[i])) {
      error = "row " + std::to_string(i + 2) + ": time does not increase";
      return false;
    }
  }
  std::vector<std::vector<double>> scores;
  score_all(t, false, scores, nullptr);
  const std::size_t n = t.rows();
  out.assign(n, RowVerdict{});
  // Localisation by votes: every alarming channel votes for the components it watches.  Over an
  // episode (raw detections no more than hold_hours apart) the votes add up; the components with
  // at least half the leading count are named.  One channel that sees a whole station does not
  // outvote several that point at the same tank or pump.
  std::vector<double> votes(component_count, 0.0);
  std::int64_t last = -1;
  std::uint32_t named = 0;
  for (std::size_t i = 0; i < n; ++i) {
    bool raw = false;
    for (std::size_t ch = 0; ch < channels_.size(); ++ch) {
      const ChannelInfo& ci = channels_[ch];
      if (settings_.disabled & (1u << static_cast<unsigned>(ci.part))) continue;
      if (!(scores[ch][i] > ci.level)) continue;
      if (!raw && (last < 0 || static_cast<std::int64_t>(i) - last > settings_.hold_hours))
        std::fill(votes.begin(), votes.end(), 0.0);  // a new episode
      raw = true;
      out[i].raw_parts |= 1u << static_cast<unsigned>(ci.part);
      int members = 0;
      for (int cpt = 0; cpt < component_count; ++cpt) members += (ci.components >> cpt) & 1u;
      for (int cpt = 0; cpt < component_count; ++cpt)
        if ((ci.components >> cpt) & 1u) votes[static_cast<std::size_t>(cpt)] += 1.0 / members;
    }
    if (raw) {
      last = static_cast<std::int64_t>(i);
      const double top = *std::max_element(votes.begin(), votes.end());
      named = 0;
      for (int cpt = 0; cpt < component_count; ++cpt)
        if (votes[static_cast<std::size_t>(cpt)] >= 0.5 * top) named |= 1u << cpt;
    }
    // Hold: an attack lasts days, a detection is a moment of it.
    if (last >= 0 && static_cast<std::int64_t>(i) - last <= settings_.hold_hours) {
      out[i].alarm = true;
      out[i].components = named;
    }
  }
  return true;
}

}  // namespace batadal
