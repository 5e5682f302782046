// From a CSV recording to a fitted model, a calibrated detector and a score (docs/research.md).
#include <cmath>
#include <cstdio>
#include <random>
#include <physguard/eval.hpp>
#include <physguard/identify.hpp>
using namespace physguard;

int main() {
  // 0. A recording to work on: 4 days of a tank level [m], one sample a minute, as CSV.
  eval::CsvTable sim{{"level"}, {}, {{}}, "time"};
  std::mt19937_64 rng(1);
  std::normal_distribution<double> noise(0.0, 0.01);
  for (std::size_t k = 0; k < 4 * 1440; ++k) {
    const std::vector<double>& v = sim.values[0];
    const double x = 0.5 * (k > 0 ? v[k - 1] - 2 : 0) - 0.2 * (k > 1 ? v[k - 2] - 2 : 0);
    sim.time.push_back(Timestamp::from_seconds(1.6e9 + 60.0 * static_cast<double>(k)));
    sim.values[0].push_back(2.0 + x + noise(rng));
  }
  eval::write_csv("level.csv", sim);
  // 1. Read it back; the first two days are clean normal operation.
  eval::CsvResult csv = eval::read_csv("level.csv");
  if (!csv.ok) return std::fprintf(stderr, "%s\n", csv.error.describe().c_str()), 1;
  const std::vector<double>& y = csv.table.values[0];
  const std::size_t half = y.size() / 2;
  // 2. Fit an AR model (order by BIC, with a constant) on the clean half.
  const auto ar = identify::select_ar(y.data(), half, 6, identify::Criterion::bic, true);
  auto z = [&](std::size_t k) {  // normalised one-step prediction residual
    double yhat = ar.offset;
    for (int i = 0; i < ar.na; ++i) yhat -= ar.a(i) * y[k - 1 - static_cast<std::size_t>(i)];
    return (y[k] - yhat) / std::sqrt(ar.noise_variance);
  };
  std::vector<double> clean;
  for (std::size_t k = 6; k < half; ++k) clean.push_back(z(k));
  // 3. Calibrate a CUSUM for one false alarm a week on the clean residuals (no labels used).
  const auto cal = identify::calibrate_cusum(clean.data(), clean.size(), 0.5, 7 * 1440);
  // 4. Attack day 3: +2 cm on the reading from 12:00 to 18:00; detect on days 3-4; score.
  eval::BiasAttack attack({csv.table.time[half + 720], csv.table.time[half + 1080]}, 0.02);
  const std::vector<std::uint8_t> labels = eval::inject(csv.table, 0, attack);
  CusumDetector<double> cusum(0.5, cal.threshold);
  std::vector<std::uint8_t> alarm(y.size(), 0);
  for (std::size_t k = half; k < y.size(); ++k) alarm[k] = cusum.update(z(k)).alarm;
  const auto s = eval::batadal_score(labels, alarm, csv.table.time);
  std::printf("AR(%d) h=%.2f S_TTD=%.3f S_CM=%.3f S=%.3f\n", ar.na, cal.threshold, s.s_ttd, s.s_cm, s.score);
}
