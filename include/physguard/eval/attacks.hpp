// physguard/eval/attacks.hpp - HOST-ONLY: attack injectors for recordings and live streams.
//
// Every injector is a small stateful object with
//
//     double apply(Timestamp t, double x);   // the value the attacker lets the detector see
//     bool active(Timestamp t) const;        // t inside the attack window
//
// applied to samples in time order.  The same object serves a live stream (call apply per
// sample) and a recording (inject() walks a CsvTable column or an array of Samples and returns
// the per-row attack labels, 1 where the attack was active).  Outside its window an injector
// returns x unchanged.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "../core/sample.hpp"
#include "../core/time.hpp"
#include "csv.hpp"

namespace physguard::eval {

/// The time window [start, end) in which an attack is active.
struct AttackWindow {
  Timestamp start{};
  Timestamp end{};
  constexpr bool contains(Timestamp t) const noexcept { return t >= start && t < end; }
};

/// x + bias.
class BiasAttack {
 public:
  BiasAttack(AttackWindow window, double bias) : w_(window), bias_(bias) {}
  double apply(Timestamp t, double x) const { return w_.contains(t) ? x + bias_ : x; }
  bool active(Timestamp t) const { return w_.contains(t); }

 private:
  AttackWindow w_;
  double bias_;
};

/// Ramp (drift): x + slope_per_s * (t - start), growing from zero at the window's start.
class RampAttack {
 public:
  RampAttack(AttackWindow window, double slope_per_s) : w_(window), slope_(slope_per_s) {}
  double apply(Timestamp t, double x) const {
    return w_.contains(t) ? x + slope_ * (t - w_.start).seconds() : x;
  }
  bool active(Timestamp t) const { return w_.contains(t); }

 private:
  AttackWindow w_;
  double slope_;
};

/// Scaling: gain * x (a miscalibrated or manipulated transmitter span).
class ScalingAttack {
 public:
  ScalingAttack(AttackWindow window, double gain) : w_(window), gain_(gain) {}
  double apply(Timestamp t, double x) const { return w_.contains(t) ? gain_ * x : x; }
  bool active(Timestamp t) const { return w_.contains(t); }

 private:
  AttackWindow w_;
  double gain_;
};

/// Pulse / surge: x + amplitude while (t - start) mod period_s < width_s.  A single surge is
/// period_s >= the window length (or period_s <= 0: one pulse of width_s at the start).
class PulseAttack {
 public:
  PulseAttack(AttackWindow window, double amplitude, double width_s, double period_s = 0.0)
      : w_(window), amplitude_(amplitude), width_(Duration::from_seconds(width_s)),
        period_(Duration::from_seconds(period_s)) {}
  double apply(Timestamp t, double x) const { return on(t) ? x + amplitude_ : x; }
  bool active(Timestamp t) const { return w_.contains(t); }
  /// True while a pulse is on.
  bool on(Timestamp t) const {
    if (!w_.contains(t)) return false;
    std::int64_t since = (t - w_.start).us;
    if (period_.us > 0) since %= period_.us;
    return since < width_.us;
  }

 private:
  AttackWindow w_;
  double amplitude_;
  Duration width_, period_;
};

/// Freeze (stuck value): during the window the reading stays at the last value seen before the
/// window (or at the first value inside it if none was seen).  Feed it every sample.
class FreezeAttack {
 public:
  explicit FreezeAttack(AttackWindow window) : w_(window) {}
  double apply(Timestamp t, double x) {
    if (!w_.contains(t)) {
      if (t < w_.start && !std::isnan(x)) {
        held_ = x;
        has_ = true;
      }
      return x;
    }
    if (!has_) {
      held_ = x;
      has_ = true;
    }
    return held_;
  }
  bool active(Timestamp t) const { return w_.contains(t); }

 private:
  AttackWindow w_;
  double held_ = 0.0;
  bool has_ = false;
};

/// Replay: records the values seen during [record_start, record_start + window length) and plays
/// them back in order during the window, from the beginning again when the recording runs out
/// (the classic "loop the normal readings while the process is driven elsewhere").  The recorded
/// span must end before the attack starts; if nothing was recorded the value passes through.
class ReplayAttack {
 public:
  ReplayAttack(AttackWindow window, Timestamp record_start)
      : w_(window), record_{record_start, record_start + (window.end - window.start)} {
    if (record_.end > w_.start) record_.end = w_.start;
  }
  double apply(Timestamp t, double x) {
    if (record_.contains(t)) tape_.push_back(x);
    if (!w_.contains(t) || tape_.empty()) return x;
    const double y = tape_[next_ % tape_.size()];
    ++next_;
    return y;
  }
  bool active(Timestamp t) const { return w_.contains(t); }
  std::size_t recorded() const noexcept { return tape_.size(); }

 private:
  AttackWindow w_;
  AttackWindow record_;
  std::vector<double> tape_;
  std::size_t next_ = 0;
};

/// Stealthy attack on a CUSUM that the attacker knows (Urbina et al., "Limiting the impact of
/// stealthy attacks on industrial control systems", CCS 2016).  The attacker replaces the
/// measurement and so chooses the detector's normalised residual z itself.  With the CUSUM
/// S' = max(0, S + z - k), the largest residual that keeps S' at or below a target just under h
/// is
///
///     z = k + (h_target - S),     h_target = (1 - margin) h,
///
/// so S jumps to h_target on the first sample and the attacker then holds z = k forever: the
/// largest persistent bias the CUSUM cannot see is k standard deviations per sample.  The
/// attacker mirrors S exactly (it chooses z) unless told the residual the detector really saw
/// (observe()).  direction -1 attacks the lower side (S- of the two-sided CUSUM).
class StealthyCusumAttack {
 public:
  StealthyCusumAttack(AttackWindow window, double drift_k, double threshold_h,
                      double margin = 1e-6, int direction = +1)
      : w_(window), k_(drift_k), target_((1.0 - margin) * threshold_h),
        sign_(direction < 0 ? -1.0 : 1.0) {}

  /// The residual to present next (in standard deviations, signed); advances the mirror of S.
  double next_residual() {
    const double z = k_ + (target_ - s_);
    s_ = std::fmax(0.0, s_ + z - k_);
    return sign_ * z;
  }
  /// Corrects the mirror with the residual the detector actually saw (when the attacker only
  /// adds a bias to a noisy measurement): S = max(0, S_before + direction * z - k).
  void observe(double z_seen, double s_before) { s_ = std::fmax(0.0, s_before + sign_ * z_seen - k_); }

  /// The falsified measurement: predicted + sigma * next_residual() inside the window (the
  /// detector's one-step prediction and residual standard deviation, which the attacker knows),
  /// the true measurement outside it.
  double falsify(Timestamp t, double measured, double predicted, double sigma) {
    if (!w_.contains(t)) return measured;
    return predicted + sigma * next_residual();
  }
  bool active(Timestamp t) const { return w_.contains(t); }
  double mirrored_statistic() const noexcept { return s_; }

 private:
  AttackWindow w_;
  double k_;
  double target_;
  double sign_;
  double s_ = 0.0;
};

/// Stealthy attack on a stateless threshold test |z| > h: the residual is held just under h on
/// every sample, z = (1 - margin) h.
class StealthyThresholdAttack {
 public:
  StealthyThresholdAttack(AttackWindow window, double threshold_h, double margin = 1e-6,
                          int direction = +1)
      : w_(window), z_((direction < 0 ? -1.0 : 1.0) * (1.0 - margin) * threshold_h) {}
  double next_residual() const { return z_; }
  double falsify(Timestamp t, double measured, double predicted, double sigma) const {
    return w_.contains(t) ? predicted + sigma * z_ : measured;
  }
  bool active(Timestamp t) const { return w_.contains(t); }

 private:
  AttackWindow w_;
  double z_;
};

/// Applies an injector to one column of a table, in row order; returns the attack labels
/// (1 where attack.active(row time)).  An unknown column index leaves the table unchanged and
/// returns all zeros.
template <typename Attack>
std::vector<std::uint8_t> inject(CsvTable& table, int column, Attack& attack) {
  std::vector<std::uint8_t> labels(table.rows(), 0);
  if (column < 0 || static_cast<std::size_t>(column) >= table.values.size()) return labels;
  std::vector<double>& v = table.values[static_cast<std::size_t>(column)];
  for (std::size_t r = 0; r < table.rows(); ++r) {
    v[r] = attack.apply(table.time[r], v[r]);
    labels[r] = attack.active(table.time[r]) ? 1 : 0;
  }
  return labels;
}

/// Applies an injector to an array of samples in place; returns the attack labels.
template <typename Attack, typename T>
std::vector<std::uint8_t> inject(Sample<T>* samples, std::size_t count, Attack& attack) {
  std::vector<std::uint8_t> labels(count, 0);
  for (std::size_t i = 0; i < count; ++i) {
    samples[i].value =
        static_cast<T>(attack.apply(samples[i].time, static_cast<double>(samples[i].value)));
    labels[i] = attack.active(samples[i].time) ? 1 : 0;
  }
  return labels;
}

/// Live stream: applies the injector to one sample.
template <typename Attack, typename T>
Sample<T> inject(const Sample<T>& s, Attack& attack) {
  Sample<T> out = s;
  out.value = static_cast<T>(attack.apply(s.time, static_cast<double>(s.value)));
  return out;
}

}  // namespace physguard::eval
