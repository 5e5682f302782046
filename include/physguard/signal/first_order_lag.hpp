// physguard/signal/first_order_lag.hpp - first-order lag (PT1): model for estimators and an exact
// zero-order-hold simulator.
#pragma once

#include <cmath>

#include <Eigen/Core>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "state_space.hpp"

namespace physguard {

/// First-order lag (PT1) from an input u to an output y:
///
///     tau dy/dt = K u - y + tau w        (w white, density q in output unit^2 / s)
///
/// Exact discretisation over dt seconds with u held (zero-order hold), a = exp(-dt / tau):
///
///     y[k+1] = a y[k] + K (1 - a) u[k] + v,    Var v = q tau / 2 (1 - a^2)
///
/// `gain` K is output units per input unit, `time_constant_s` tau > 0 seconds.  As a
/// discretisable process (signal/process.hpp): 1 state (y), 1 input (u), y measured.  As a
/// simulator: `step(u, dt_s)` advances the output exactly (for any dt, including irregular ones).
///
/// A step with a non-finite input or dt, or dt < 0, is refused: the output is unchanged and
/// `status()` says why (Status::not_finite / Status::invalid_argument).  No heap.
template <typename T>
class FirstOrderLag {
 public:
  using Scalar = T;
  static constexpr int state_dim = 1;
  static constexpr int input_dim = 1;
  static constexpr int output_dim = 1;
  using Model = LinearStateSpace<T, 1, 1, 1>;

  FirstOrderLag(T gain, T time_constant_s, T initial_output = T(0))
      : gain_(gain), tau_(time_constant_s), y_(initial_output) {
    PHYSGUARD_ASSERT(is_finite(gain_), "gain must be finite");
    PHYSGUARD_ASSERT(is_finite(tau_) && tau_ > T(0), "time constant must be finite and > 0");
    PHYSGUARD_ASSERT(is_finite(y_), "initial output must be finite");
  }

  /// Continuous process-noise density q (output unit^2 per second) used by process_noise().
  void set_process_noise_density(T q) {
    PHYSGUARD_ASSERT(is_finite(q) && q >= T(0), "process noise density must be finite and >= 0");
    q_ = q;
  }
  T process_noise_density() const { return q_; }

  /// Discrete model for a step of dt_s seconds (a = exp(-dt/tau), b = K (1 - a)).
  Model model(T dt_s) const {
    Model m;
    const T one_minus_a = -std::expm1(-dt_s / tau_);
    m.A(0, 0) = T(1) - one_minus_a;
    m.B(0, 0) = gain_ * one_minus_a;
    m.C(0, 0) = T(1);
    m.dt_s = dt_s;
    return m;
  }
  /// Exact discrete noise q tau / 2 (1 - exp(-2 dt / tau)).
  Eigen::Matrix<T, 1, 1> process_noise(T dt_s) const {
    return Eigen::Matrix<T, 1, 1>::Constant(q_ * tau_ / T(2) * -std::expm1(T(-2) * dt_s / tau_));
  }

  /// Hold `input` for dt_s seconds; returns the output at the end of the interval.
  T step(T input, T dt_s) {
    if (!is_finite(input)) {
      status_ = Status::not_finite;
      return y_;
    }
    if (!is_finite(dt_s) || dt_s < T(0)) {
      status_ = Status::invalid_argument;
      return y_;
    }
    const T target = gain_ * input;
    y_ += (target - y_) * -std::expm1(-dt_s / tau_);
    status_ = Status::ok;
    return y_;
  }

  T output() const { return y_; }
  /// Status of the last step (Status::ok before the first).
  Status status() const { return status_; }
  void reset(T y) {
    PHYSGUARD_ASSERT(is_finite(y), "reset output must be finite");
    y_ = y;
    status_ = Status::ok;
  }

  T gain() const { return gain_; }
  T time_constant_s() const { return tau_; }

 private:
  T gain_;
  T tau_;
  T y_;
  T q_ = T(0);
  Status status_ = Status::ok;
};

}  // namespace physguard
