// estimator_demo: a tank whose level sensor is falsified, seen through a Kalman filter.
//
// A 2 m^2 tank is filled by an inflow pump and drained by an outflow pump; both flows are
// measured (they are the filter's inputs), the level is measured with 4 mm noise.  From t = 600 s
// an attacker makes the level transmitter report a slowly drifting value (0.4 mm/s) while the
// real tank follows physics.  The filter's innovations tell: the NIS leaves its chi-square band
// long before an operator would notice the drift on a trend display.
#include <cmath>
#include <cstdio>
#include <random>

#include <physguard/physguard.hpp>

int main() {
  using namespace physguard;
  constexpr double dt_s = 1.0;
  constexpr double area_m2 = 2.0;
  constexpr double level_noise_m = 0.004;

  // Level integrates the net flow: h[k+1] = h[k] + dt/A (q_in - q_out).
  using KF = KalmanFilter<float, 1, 1, 2>;
  KF::Model model;
  model.A << 1.0f;
  model.B << float(dt_s / area_m2), float(-dt_s / area_m2);
  model.C << 1.0f;
  model.dt_s = float(dt_s);
  const float flow_noise = 2e-4f;  // m^3/s, flow meter noise -> process noise on the level
  KF kf(model, KF::StateMatrix::Constant(2.0f * std::pow(float(dt_s / area_m2) * flow_noise, 2.0f)),
        KF::MeasurementCovariance::Constant(float(level_noise_m * level_noise_m)),
        KF::StateVector::Constant(1.5f), KF::StateMatrix::Constant(0.01f));

  // A windowed NIS test: the sum of 30 NIS values is chi-square with 30 dof under normal operation.
  constexpr int window = 30;
  const double bound = stats::chi_square_quantile(1.0 - 1e-6, window);
  float nis_window[window] = {};
  double nis_sum = 0.0;

  std::mt19937_64 rng(42);
  std::normal_distribution<double> gauss(0.0, 1.0);
  double level = 1.5;
  int first_alarm = -1;
  std::printf("  t[s]  true[m]  reported[m]  estimate[m]     NIS  window-sum / bound\n");
  for (int k = 0; k < 1500; ++k) {
    const double t = k * dt_s;
    // The PLC's level controller: pump in while low, pump out while high (a slow cycle).
    const double q_in = 0.004 + 0.002 * std::sin(2 * stats::pi * t / 900.0);
    const double q_out = 0.004;
    level += dt_s / area_m2 * (q_in - q_out);
    double reported = level + level_noise_m * gauss(rng);
    if (t >= 600.0) reported += 0.0004 * (t - 600.0);  // the falsification

    const float q_in_meas = float(q_in + flow_noise * gauss(rng));
    const float q_out_meas = float(q_out + flow_noise * gauss(rng));
    kf.predict(KF::InputVector(q_in_meas, q_out_meas));
    const auto rec = kf.update(KF::MeasurementVector::Constant(float(reported)));

    nis_sum += rec.nis - nis_window[k % window];
    nis_window[k % window] = rec.nis;
    const bool alarm = k >= window && nis_sum > bound;
    if (alarm && first_alarm < 0) first_alarm = k;
    if (k % 100 == 0 || (alarm && k == first_alarm))
      std::printf("%6.0f  %7.4f  %11.4f  %11.4f  %6.2f  %8.1f / %.1f%s\n", t, level, reported,
                  double(kf.state()(0)), double(rec.nis), nis_sum, bound,
                  alarm ? "  << ALARM: level sensor contradicts the flow balance" : "");
  }
  if (first_alarm < 0) {
    std::printf("no alarm: the falsification went unnoticed\n");
    return 1;
  }
  std::printf("\nfalsification started at t = 600 s; detected at t = %d s, when the reported level "
              "was off by %.1f mm\n",
              first_alarm, 0.4 * (first_alarm - 600));
  return 0;
}
