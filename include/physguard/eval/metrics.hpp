// physguard/eval/metrics.hpp - HOST-ONLY: detection metrics over labelled recordings, the
// BATADAL score, and the stealthy-attack impact curve of threshold versus CUSUM detectors.
//
// Conventions: `labels` and `predictions` hold one flag per row (nonzero = attack / alarm);
// `times` the rows' timestamps (increasing).  Row i stands for the interval [t_i, t_{i+1}); the
// last row for an interval as long as the one before it (0 s for a single row).  An *event* is a
// maximal run of consecutive flagged rows.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <string>
#include <vector>

#include "../core/config.hpp"
#include "../core/time.hpp"
#include "../detect/cusum.hpp"
#include "../detect/threshold.hpp"
#include "attacks.hpp"
#include "csv.hpp"

namespace physguard::eval {

/// Rows [begin, end) of a maximal run of flagged rows.
struct Event {
  std::size_t begin = 0;
  std::size_t end = 0;
  std::size_t length() const noexcept { return end - begin; }
};

/// The maximal runs of nonzero flags.
inline std::vector<Event> find_events(const std::vector<std::uint8_t>& flags) {
  std::vector<Event> events;
  for (std::size_t i = 0; i < flags.size();) {
    if (!flags[i]) {
      ++i;
      continue;
    }
    Event e{i, i};
    while (e.end < flags.size() && flags[e.end]) ++e.end;
    events.push_back(e);
    i = e.end;
  }
  return events;
}

/// Flags from a numeric label column (BATADAL's ATT_FLAG): 1 where value > threshold.  NaN and
/// BATADAL's "-999 = unknown" give 0.
inline std::vector<std::uint8_t> flags_from_column(const std::vector<double>& column,
                                                   double threshold = 0.5) {
  std::vector<std::uint8_t> flags(column.size(), 0);
  for (std::size_t i = 0; i < column.size(); ++i) flags[i] = column[i] > threshold ? 1 : 0;
  return flags;
}

/// Timestamps 0, period, 2 period, ... (for recordings without their own time axis).
inline std::vector<Timestamp> uniform_times(std::size_t rows, Duration period,
                                            Timestamp start = Timestamp{}) {
  std::vector<Timestamp> t(rows);
  for (std::size_t i = 0; i < rows; ++i) t[i] = start + period * static_cast<std::int64_t>(i);
  return t;
}

/// Duration of row i under the convention above, in seconds.
inline double row_duration_s(const std::vector<Timestamp>& times, std::size_t i) {
  if (times.size() < 2) return 0.0;
  if (i + 1 < times.size()) return (times[i + 1] - times[i]).seconds();
  return (times[i] - times[i - 1]).seconds();
}

/// Point-wise confusion counts.  Ratios whose denominator is zero are NaN.
struct Confusion {
  std::size_t tp = 0, fp = 0, tn = 0, fn = 0;

  static double ratio(std::size_t a, std::size_t b) {
    return b == 0 ? std::numeric_limits<double>::quiet_NaN()
                  : static_cast<double>(a) / static_cast<double>(b);
  }
  double precision() const { return ratio(tp, tp + fp); }
  double recall() const { return ratio(tp, tp + fn); }  ///< = true positive rate
  double tpr() const { return recall(); }
  double tnr() const { return ratio(tn, tn + fp); }
  double fpr() const { return ratio(fp, fp + tn); }
  double accuracy() const { return ratio(tp + tn, tp + tn + fp + fn); }
  double f1() const { return ratio(2 * tp, 2 * tp + fp + fn); }
};

inline Confusion pointwise_confusion(const std::vector<std::uint8_t>& labels,
                                     const std::vector<std::uint8_t>& predictions) {
  PHYSGUARD_ASSERT(labels.size() == predictions.size(), "labels and predictions differ in length");
  Confusion c;
  for (std::size_t i = 0; i < labels.size(); ++i) {
    const bool l = labels[i] != 0, p = predictions[i] != 0;
    if (l && p) ++c.tp;
    else if (!l && p) ++c.fp;
    else if (!l && !p) ++c.tn;
    else ++c.fn;
  }
  return c;
}

/// How one labelled event was detected.
struct EventDetection {
  Event event;
  bool detected = false;
  std::size_t first_flag_row = 0;   ///< first flagged row inside the event (when detected)
  double time_to_detection_s = 0;   ///< t[first flag] - t[begin]; the duration when missed
  double duration_s = 0;            ///< sum of the event's row durations
};

/// Event-wise scores.
struct EventScores {
  std::vector<EventDetection> events;
  std::size_t detected_events = 0;
  double detected_fraction = std::numeric_limits<double>::quiet_NaN();  ///< = event-wise recall
  double mean_time_to_detection_s = std::numeric_limits<double>::quiet_NaN();  ///< detected only
  std::size_t alarm_events = 0;        ///< maximal runs of alarms
  std::size_t false_alarm_events = 0;  ///< alarm runs that overlap no labelled event
  double normal_time_days = 0;         ///< time spent in label-0 rows
  double false_alarms_per_day = std::numeric_limits<double>::quiet_NaN();
  double precision = std::numeric_limits<double>::quiet_NaN();  ///< true alarm runs / alarm runs
  double recall = std::numeric_limits<double>::quiet_NaN();     ///< detected events / events
  double f1 = std::numeric_limits<double>::quiet_NaN();
};

/// Per-event time to detection (a detection counts only inside the event), detected fraction,
/// false alarms per day (alarm runs overlapping no event, per day of label-0 time), and event-wise
/// precision / recall / F1.
inline EventScores event_scores(const std::vector<std::uint8_t>& labels,
                                const std::vector<std::uint8_t>& predictions,
                                const std::vector<Timestamp>& times) {
  PHYSGUARD_ASSERT(labels.size() == predictions.size() && labels.size() == times.size(),
                   "labels, predictions and times differ in length");
  EventScores s;
  double ttd_sum = 0;
  for (const Event& e : find_events(labels)) {
    EventDetection d;
    d.event = e;
    for (std::size_t i = e.begin; i < e.end; ++i) d.duration_s += row_duration_s(times, i);
    d.time_to_detection_s = d.duration_s;
    for (std::size_t i = e.begin; i < e.end; ++i) {
      if (predictions[i]) {
        d.detected = true;
        d.first_flag_row = i;
        d.time_to_detection_s = (times[i] - times[e.begin]).seconds();
        break;
      }
    }
    if (d.detected) {
      ++s.detected_events;
      ttd_sum += d.time_to_detection_s;
    }
    s.events.push_back(d);
  }
  if (!s.events.empty()) {
    s.detected_fraction =
        static_cast<double>(s.detected_events) / static_cast<double>(s.events.size());
    s.recall = s.detected_fraction;
  }
  if (s.detected_events > 0) s.mean_time_to_detection_s = ttd_sum / static_cast<double>(s.detected_events);

  double normal_s = 0;
  for (std::size_t i = 0; i < labels.size(); ++i)
    if (!labels[i]) normal_s += row_duration_s(times, i);
  s.normal_time_days = normal_s / 86400.0;
  for (const Event& a : find_events(predictions)) {
    ++s.alarm_events;
    bool overlaps = false;
    for (std::size_t i = a.begin; i < a.end && !overlaps; ++i) overlaps = labels[i] != 0;
    if (!overlaps) ++s.false_alarm_events;
  }
  if (s.normal_time_days > 0)
    s.false_alarms_per_day = static_cast<double>(s.false_alarm_events) / s.normal_time_days;
  if (s.alarm_events > 0)
    s.precision = static_cast<double>(s.alarm_events - s.false_alarm_events) /
                  static_cast<double>(s.alarm_events);
  if (s.precision + s.recall > 0) s.f1 = 2 * s.precision * s.recall / (s.precision + s.recall);
  else if (s.precision == 0 && s.recall == 0) s.f1 = 0;
  return s;
}

/// The BATADAL score (Taormina et al. 2018; rules of 2016-09-09, sections 3.3-3.4).
struct BatadalScore {
  double s_ttd = std::numeric_limits<double>::quiet_NaN();  ///< 1 - mean(TTD_i / dt_i)
  double s_cm = std::numeric_limits<double>::quiet_NaN();   ///< (TPR + TNR) / 2 over all rows
  double score = std::numeric_limits<double>::quiet_NaN();  ///< gamma S_TTD + (1 - gamma) S_CM
  double tpr = std::numeric_limits<double>::quiet_NaN();
  double tnr = std::numeric_limits<double>::quiet_NaN();
  std::size_t events = 0;
  std::size_t detected_events = 0;
};

/// S_TTD = 1 - (1/n_a) sum TTD_i / dt_i, where TTD_i is the time from the event's first row to
/// the first flagged row inside it (dt_i, the event's duration, when never flagged);
/// S_CM = (TPR + TNR) / 2 over all rows; S = gamma S_TTD + (1 - gamma) S_CM (gamma = 0.5 in
/// BATADAL).  With hourly rows dt_i = (rows of the event) hours, so TTD_i / dt_i is
/// (rows before the first flag) / (rows of the event).  Undefined parts (no events, no normal
/// rows) are NaN.
inline BatadalScore batadal_score(const std::vector<std::uint8_t>& labels,
                                  const std::vector<std::uint8_t>& predictions,
                                  const std::vector<Timestamp>& times, double gamma = 0.5) {
  const EventScores ev = event_scores(labels, predictions, times);
  const Confusion c = pointwise_confusion(labels, predictions);
  BatadalScore s;
  s.events = ev.events.size();
  s.detected_events = ev.detected_events;
  if (!ev.events.empty()) {
    double sum = 0;
    for (const EventDetection& d : ev.events)
      sum += d.duration_s > 0 ? d.time_to_detection_s / d.duration_s : (d.detected ? 0.0 : 1.0);
    s.s_ttd = 1.0 - sum / static_cast<double>(ev.events.size());
  }
  s.tpr = c.tpr();
  s.tnr = c.tnr();
  s.s_cm = 0.5 * (s.tpr + s.tnr);
  s.score = gamma * s.s_ttd + (1.0 - gamma) * s.s_cm;
  return s;
}

// --------------------------------------------------------------------------------------------
// Stealthy-attack impact curve (Urbina et al., CCS 2016, "impact vs. time between false alarms").

/// The simulated process behind the impact curve.  The detector watches the one-step prediction
/// residual of an AR(1) model driven by the *reported* measurement,
///
///     z_k = (y_k - mu - a (y_{k-1} - mu)) / sigma,
///
/// (a = 1: random walk / integrating process such as a tank level, a < 1: a self-regulating
/// process).  The attacker replaces the reported measurement and chooses z_k (the stealthy
/// injectors above); a controller that trusts the reading moves the true process by the offset
/// delta_k = reported - true, which obeys delta_k = a delta_{k-1} + sigma z_k.  The impact is
/// max |delta_k| over `horizon_samples` without any alarm of the real detector.
struct ImpactScenario {
  double ar_coefficient = 1.0;         ///< a
  double noise_sigma = 1.0;            ///< sigma (the deviation is in the measured unit)
  double sample_period_s = 1.0;        ///< to express ARL0 as time
  std::size_t horizon_samples = 1000;  ///< attack duration
  double margin = 1e-6;                ///< the attacker stays (1 - margin) below the threshold
};

/// One point of the curve.
struct ImpactPoint {
  std::string detector;                     ///< "threshold" or "cusum"
  double drift_k = 0;                       ///< CUSUM k (0 for the threshold test)
  double threshold = 0;                     ///< h
  double arl0_samples = 0;                  ///< in-control ARL (theory, detect/arl.hpp)
  double mean_time_between_false_alarms_s = 0;
  double max_deviation = 0;                 ///< largest |delta| an undetected attacker reaches
  bool detected = false;                    ///< true if the real detector alarmed (must not)
};

/// Impact of the stealthy attacker against a real ThresholdDetector and a real CusumDetector
/// (drift k) at each target ARL0 (in samples).  The attack is run against the detector objects
/// themselves; `detected` reports whether any alarm was raised.
inline std::vector<ImpactPoint> stealthy_impact_curve(const ImpactScenario& sc,
                                                      const std::vector<double>& target_arl0,
                                                      double cusum_drift_k = 0.5) {
  std::vector<ImpactPoint> points;
  const AttackWindow always{Timestamp{std::numeric_limits<std::int64_t>::min()},
                            Timestamp{std::numeric_limits<std::int64_t>::max()}};
  for (const double arl : target_arl0) {
    {  // threshold test
      ImpactPoint p;
      p.detector = "threshold";
      p.threshold = ThresholdDetector<double>::threshold_for_arl(arl);
      p.arl0_samples = ThresholdDetector<double>::average_run_length(p.threshold);
      ThresholdDetector<double> det(p.threshold);
      StealthyThresholdAttack attack(always, p.threshold, sc.margin);
      double delta = 0;
      for (std::size_t k = 0; k < sc.horizon_samples; ++k) {
        const double z = attack.next_residual();
        p.detected = det.update(z).alarm || p.detected;
        delta = sc.ar_coefficient * delta + sc.noise_sigma * z;
        p.max_deviation = std::fmax(p.max_deviation, std::fabs(delta));
      }
      p.mean_time_between_false_alarms_s = p.arl0_samples * sc.sample_period_s;
      points.push_back(p);
    }
    {  // CUSUM
      ImpactPoint p;
      p.detector = "cusum";
      p.drift_k = cusum_drift_k;
      p.threshold = CusumDetector<double>::threshold_for_arl(cusum_drift_k, arl);
      p.arl0_samples = CusumDetector<double>::average_run_length(cusum_drift_k, p.threshold);
      CusumDetector<double> det(cusum_drift_k, p.threshold);
      StealthyCusumAttack attack(always, cusum_drift_k, p.threshold, sc.margin);
      double delta = 0;
      for (std::size_t k = 0; k < sc.horizon_samples; ++k) {
        const double z = attack.next_residual();
        p.detected = det.update(z).alarm || p.detected;
        delta = sc.ar_coefficient * delta + sc.noise_sigma * z;
        p.max_deviation = std::fmax(p.max_deviation, std::fabs(delta));
      }
      p.mean_time_between_false_alarms_s = p.arl0_samples * sc.sample_period_s;
      points.push_back(p);
    }
  }
  return points;
}

/// Writes the curve as CSV: detector,drift_k,threshold,arl0_samples,
/// mean_time_between_false_alarms_s,max_deviation,detected.  false and `error` on failure.
inline bool write_impact_curve_csv(const std::string& path, const std::vector<ImpactPoint>& points,
                                   CsvError* error = nullptr) {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    if (error) *error = CsvError{path, 0, 0, "cannot open file for writing"};
    return false;
  }
  std::fputs("detector,drift_k,threshold,arl0_samples,mean_time_between_false_alarms_s,"
             "max_deviation,detected\n", f);
  for (const ImpactPoint& p : points)
    std::fprintf(f, "%s,%.17g,%.17g,%.17g,%.17g,%.17g,%d\n", p.detector.c_str(), p.drift_k,
                 p.threshold, p.arl0_samples, p.mean_time_between_false_alarms_s, p.max_deviation,
                 p.detected ? 1 : 0);
  const bool ok = std::fclose(f) == 0;
  if (!ok && error) *error = CsvError{path, 0, 0, "write failed"};
  return ok;
}

}  // namespace physguard::eval
