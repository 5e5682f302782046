// physguard/signal/random_walk.hpp - the simplest process models: random walk (or constant) and
// constant velocity, with their exact discrete process noise.
#pragma once

#include <Eigen/Core>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "state_space.hpp"

namespace physguard {

/// Random walk: one state x (in the measured unit), measured directly, no input.
///
///     dx/dt = w,   E[w(t) w(s)] = q δ(t - s)     =>   x[k+1] = x[k] + v,   Var v = q dt
///     y     = x
///
/// `process_noise_density` q is in unit^2 per second (a value drifting by about σ per √s has
/// q = σ^2).  q = 0 is a constant.  A discretisable process (signal/process.hpp).
template <typename T>
class RandomWalk {
 public:
  using Scalar = T;
  static constexpr int state_dim = 1;
  static constexpr int input_dim = 0;
  static constexpr int output_dim = 1;
  using Model = LinearStateSpace<T, 1, 0, 1>;

  explicit RandomWalk(T process_noise_density = T(0)) : q_(process_noise_density) {
    PHYSGUARD_ASSERT(is_finite(q_) && q_ >= T(0), "process noise density must be finite and >= 0");
  }

  Model model(T dt_s) const {
    Model m;
    m.A(0, 0) = T(1);
    m.C(0, 0) = T(1);
    m.dt_s = dt_s;
    return m;
  }
  Eigen::Matrix<T, 1, 1> process_noise(T dt_s) const {
    return Eigen::Matrix<T, 1, 1>::Constant(q_ * dt_s);
  }

  T process_noise_density() const { return q_; }

 private:
  T q_;
};

/// Constant velocity (white-noise acceleration): state (position, velocity), position measured.
///
///     d/dt [p, v] = [v, a],   a white with density q
///     A = [[1, dt], [0, 1]],  Q = q [[dt^3/3, dt^2/2], [dt^2/2, dt]],  C = [1, 0]
///
/// `acceleration_noise_density` q is in unit^2 / s^3 (position unit, e.g. m^2/s^3): the velocity
/// drifts by about √(q) per √s.  A discretisable process (signal/process.hpp).
template <typename T>
class ConstantVelocity {
 public:
  using Scalar = T;
  static constexpr int state_dim = 2;
  static constexpr int input_dim = 0;
  static constexpr int output_dim = 1;
  using Model = LinearStateSpace<T, 2, 0, 1>;

  explicit ConstantVelocity(T acceleration_noise_density = T(0))
      : q_(acceleration_noise_density) {
    PHYSGUARD_ASSERT(is_finite(q_) && q_ >= T(0),
                     "acceleration noise density must be finite and >= 0");
  }

  Model model(T dt_s) const {
    Model m;
    m.A << T(1), dt_s, T(0), T(1);
    m.C << T(1), T(0);
    m.dt_s = dt_s;
    return m;
  }
  Eigen::Matrix<T, 2, 2> process_noise(T dt_s) const {
    const T dt2 = dt_s * dt_s;
    Eigen::Matrix<T, 2, 2> Q;
    Q << dt2 * dt_s / T(3), dt2 / T(2), dt2 / T(2), dt_s;
    return q_ * Q;
  }

  T acceleration_noise_density() const { return q_; }

 private:
  T q_;
};

}  // namespace physguard
