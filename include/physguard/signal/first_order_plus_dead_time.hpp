// physguard/signal/first_order_plus_dead_time.hpp - first-order lag behind a dead time (FOPDT),
// at a fixed sample period: simulator and augmented-state model for Kalman filters.
#pragma once

#include <cmath>

#include <Eigen/Core>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "delay_line.hpp"
#include "state_space.hpp"

namespace physguard {

/// First-order plus dead time (the classic process-control model):
///
///     tau dy/dt = K u(t - theta) - y
///
/// sampled every `sample_period_s` Ts with the input held over each period.  The dead time is
/// rounded to d = round(theta / Ts) samples (0 <= d <= MaxDelaySamples, asserted), so with
/// a = exp(-Ts / tau):
///
///     y[k+1] = a y[k] + K (1 - a) u[k - d]
///
/// `step(u)` applies u[k] for one period and returns y[k+1]: after a unit step at k = 0 from rest,
/// y[n] = 0 for n <= d and y[n] = K (1 - a^(n-d)) for n > d — exactly the continuous response
/// K (1 - exp(-(t - d Ts) / tau)) at t = n Ts.
///
/// Kalman-filter model (a discretisable process): the delay is put into the state,
///
///     x[k] = [y[k], u[k-1], u[k-2], ..., u[k-MaxDelaySamples]]        (MaxDelaySamples + 1 states)
///
/// with input u[k] and output y.  The chain of past inputs shifts by one slot per call of
/// model(), so the model is only right when the filter steps once per sample period; pick
/// MaxDelaySamples close to the real delay (each slot costs a state).  `augmented_state()` gives
/// x[k] from the simulator.  Process noise acts on y only (density q, set_process_noise_density).
///
/// `initial_output` starts the simulator in steady state: output = initial_output, all past inputs
/// = initial_output / K (0 when K = 0).
///
/// A non-finite input is refused (output and delay line unchanged, status() == not_finite).
template <typename T, int MaxDelaySamples>
class FirstOrderPlusDeadTime {
  static_assert(MaxDelaySamples >= 0, "MaxDelaySamples must be >= 0");

 public:
  using Scalar = T;
  static constexpr int state_dim = MaxDelaySamples + 1;
  static constexpr int input_dim = 1;
  static constexpr int output_dim = 1;
  using Model = LinearStateSpace<T, state_dim, 1, 1>;
  using StateVector = Eigen::Matrix<T, state_dim, 1>;

  FirstOrderPlusDeadTime(T gain, T time_constant_s, T dead_time_s, T sample_period_s,
                         T initial_output = T(0))
      : gain_(gain), tau_(time_constant_s), dead_time_(dead_time_s), ts_(sample_period_s) {
    PHYSGUARD_ASSERT(is_finite(gain_), "gain must be finite");
    PHYSGUARD_ASSERT(is_finite(tau_) && tau_ > T(0), "time constant must be finite and > 0");
    PHYSGUARD_ASSERT(is_finite(ts_) && ts_ > T(0), "sample period must be finite and > 0");
    PHYSGUARD_ASSERT(is_finite(dead_time_) && dead_time_ >= T(0), "dead time must be >= 0");
    const T samples = std::round(dead_time_ / ts_);
    PHYSGUARD_ASSERT(samples <= T(MaxDelaySamples),
                     "dead time exceeds MaxDelaySamples sample periods");
    delay_ = static_cast<int>(samples);
    one_minus_a_ = -std::expm1(-ts_ / tau_);
    PHYSGUARD_ASSERT(is_finite(initial_output), "initial output must be finite");
    const T u0 = gain_ != T(0) ? initial_output / gain_ : T(0);
    reset(u0, initial_output);
  }

  /// Apply `input` for one sample period; returns the output at the end of it.
  T step(T input) {
    if (!is_finite(input)) {
      status_ = Status::not_finite;
      return y_;
    }
    inputs_.push(input);
    const T delayed_input = inputs_.delayed(delay_);
    y_ += (gain_ * delayed_input - y_) * one_minus_a_;
    status_ = Status::ok;
    return y_;
  }

  T output() const { return y_; }
  Status status() const { return status_; }

  /// Past inputs all equal to `input`, output `output` (steady state when output = K input).
  void reset(T input, T output) {
    PHYSGUARD_ASSERT(is_finite(input) && is_finite(output), "reset values must be finite");
    inputs_.fill(input);
    y_ = output;
    status_ = Status::ok;
  }

  int delay_samples() const { return delay_; }
  /// The dead time actually simulated: delay_samples() * sample_period_s().
  T effective_dead_time_s() const { return T(delay_) * ts_; }
  T dead_time_s() const { return dead_time_; }
  T gain() const { return gain_; }
  T time_constant_s() const { return tau_; }
  T sample_period_s() const { return ts_; }

  void set_process_noise_density(T q) {
    PHYSGUARD_ASSERT(is_finite(q) && q >= T(0), "process noise density must be finite and >= 0");
    q_ = q;
  }
  T process_noise_density() const { return q_; }

  /// The augmented model at the fixed sample period.
  Model model() const { return model(ts_); }

  /// Augmented model; the lag part uses dt_s (a = exp(-dt_s / tau)), the delay chain advances by
  /// one sample per call (see the class comment).  model(0) gives the right C and D.
  Model model(T dt_s) const {
    Model m;
    m.A.setZero();
    const T one_minus_a = -std::expm1(-dt_s / tau_);
    const T b = gain_ * one_minus_a;
    m.A(0, 0) = T(1) - one_minus_a;
    if (delay_ == 0)
      m.B(0, 0) = b;
    else
      m.A(0, delay_) = b;
    if constexpr (MaxDelaySamples >= 1) m.B(1, 0) = T(1);
    for (int i = 2; i < state_dim; ++i) m.A(i, i - 1) = T(1);
    m.C(0, 0) = T(1);
    m.dt_s = dt_s;
    return m;
  }

  /// Noise q tau / 2 (1 - exp(-2 dt / tau)) on y; the delay slots are noise-free.
  Eigen::Matrix<T, state_dim, state_dim> process_noise(T dt_s) const {
    Eigen::Matrix<T, state_dim, state_dim> Q = Eigen::Matrix<T, state_dim, state_dim>::Zero();
    Q(0, 0) = q_ * tau_ / T(2) * -std::expm1(T(-2) * dt_s / tau_);
    return Q;
  }
  Eigen::Matrix<T, state_dim, state_dim> process_noise() const { return process_noise(ts_); }

  /// The simulator's state in the layout of model(): [y[k], u[k-1], ..., u[k-MaxDelaySamples]].
  StateVector augmented_state() const {
    StateVector x;
    x(0) = y_;
    for (int i = 1; i < state_dim; ++i) x(i) = inputs_.delayed(i - 1);
    return x;
  }

 private:
  T gain_;
  T tau_;
  T dead_time_;
  T ts_;
  int delay_ = 0;
  T one_minus_a_ = T(0);
  T y_ = T(0);
  T q_ = T(0);
  Status status_ = Status::ok;
  DelayLine<T, MaxDelaySamples + 1> inputs_{};
};

}  // namespace physguard
