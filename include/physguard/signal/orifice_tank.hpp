// physguard/signal/orifice_tank.hpp - a tank draining through an orifice: the worked example of
// the nonlinear model concept (signal/nonlinear.hpp).
#pragma once

#include <Eigen/Core>
#include <cmath>

#include "../core/config.hpp"
#include "../core/numeric.hpp"

namespace physguard {

/// Physical parameters of an OrificeTank.
template <typename T>
struct OrificeTankParameters {
  /// Cross-section of the tank, m^2.
  T area_m2 = T(1);
  /// Area of the outlet orifice, m^2.
  T orifice_area_m2 = T(1e-3);
  /// Discharge coefficient of the orifice (dimensionless, about 0.6 for a sharp-edged hole).
  T discharge_coefficient = T(0.6);
  /// Gravitational acceleration, m/s^2.
  T gravity_m_s2 = T(9.80665);
  /// Below this level the outflow law is blended smoothly to zero (see OrificeTank), m.
  T laminar_level_m = T(1e-3);
  /// Number of RK4 sub-steps per transition (more for long steps or a fast-draining tank).
  int rk4_substeps = 1;
  /// Spectral density of the level random walk driven by unmodelled flows, m^2/s:
  /// process_noise(dt_s) = density * dt_s.
  T level_noise_density_m2_s = T(0);
};

/// Open tank of constant cross-section A draining by gravity through an orifice (Torricelli):
///
///     dh/dt = (q_in - q_out(h)) / A,     q_out(h) = c * r(h),   c = Cd * a * sqrt(2 g)
///
/// level h in m (state), inflow q_in in m^3/s (input), Cd the discharge coefficient, a the orifice
/// area in m^2.  r(h) is the square root of the head, made safe at an empty tank:
///
///     r(h) = 0                                  h <= 0   (nothing flows out of an empty tank)
///     r(h) = sqrt(h0) * s (3 - s) / 2,  s = h/h0   0 < h < h0
///     r(h) = sqrt(h)                            h >= h0
///
/// with h0 = laminar_level_m.  The blend matches sqrt in value and slope at h0 and has the
/// finite slope 3 / (2 sqrt(h0)) at 0 (the true slope 1 / (2 sqrt(h)) is infinite there, which
/// would blow up a Jacobian); physically, at a few millimetres of head the outflow is no longer
/// turbulent anyway.  As h0 -> 0 the model tends to the pure Torricelli law.
///
/// Discrete transition: `rk4_substeps` classical Runge-Kutta (RK4) steps of dt_s / substeps with
/// q_in held (zero-order hold).  transition_jacobian() is the exact derivative of that discrete map
/// (the chain rule through every RK4 stage), so it equals what automatic differentiation of
/// transition() gives, to rounding.
///
/// Measurement: the level (MeasureOutflow = false), or the level and the outflow q_out in m^3/s
/// measured by a flow meter (MeasureOutflow = true).
///
/// Process noise: a level random walk of density `level_noise_density_m2_s` for unmeasured flows
/// and leaks, Q(dt) = density * dt (the outflow's feedback on that noise within one step is
/// neglected; it is tiny for steps much shorter than the drain time constant 2 A sqrt(h) / c).
template <typename T, bool MeasureOutflow = false>
class OrificeTank {
 public:
  using Scalar = T;
  static constexpr int state_dim = 1;
  static constexpr int input_dim = 1;
  static constexpr int measurement_dim = MeasureOutflow ? 2 : 1;
  using StateVector = Eigen::Matrix<T, 1, 1>;
  using InputVector = Eigen::Matrix<T, 1, 1>;
  using MeasurementVector = Eigen::Matrix<T, measurement_dim, 1>;
  using StateMatrix = Eigen::Matrix<T, 1, 1>;
  using MeasurementMatrix = Eigen::Matrix<T, measurement_dim, 1>;
  using Parameters = OrificeTankParameters<T>;

  explicit OrificeTank(const Parameters& p = Parameters{}) : p_(p) {
    PHYSGUARD_ASSERT(is_finite(p.area_m2) && p.area_m2 > T(0), "tank area must be finite and > 0");
    PHYSGUARD_ASSERT(is_finite(p.orifice_area_m2) && p.orifice_area_m2 >= T(0),
                     "orifice area must be finite and >= 0");
    PHYSGUARD_ASSERT(is_finite(p.discharge_coefficient) && p.discharge_coefficient >= T(0),
                     "discharge coefficient must be finite and >= 0");
    PHYSGUARD_ASSERT(is_finite(p.gravity_m_s2) && p.gravity_m_s2 > T(0), "gravity must be > 0");
    PHYSGUARD_ASSERT(is_finite(p.laminar_level_m) && p.laminar_level_m > T(0),
                     "laminar level must be finite and > 0");
    PHYSGUARD_ASSERT(p.rk4_substeps >= 1, "at least one RK4 sub-step");
    PHYSGUARD_ASSERT(is_finite(p.level_noise_density_m2_s) && p.level_noise_density_m2_s >= T(0),
                     "noise density must be finite and >= 0");
    using std::sqrt;
    c_ = p.discharge_coefficient * p.orifice_area_m2 * sqrt(T(2) * p.gravity_m_s2);
    inv_area_ = T(1) / p.area_m2;
    sqrt_h0_ = sqrt(p.laminar_level_m);
    inv_h0_ = T(1) / p.laminar_level_m;
  }

  const Parameters& parameters() const noexcept { return p_; }
  /// Outflow coefficient c = Cd a sqrt(2 g), m^2.5/s: q_out = c sqrt(h) above the blend.
  T outflow_coefficient() const noexcept { return c_; }

  /// Level at which the outflow balances a constant inflow q_in >= 0 (above the blend region).
  T steady_level_m(T inflow_m3_s) const noexcept {
    const T r = inflow_m3_s / c_;
    return r * r;
  }

  /// The safe square root r(h) of the head (see the class comment).
  template <class S>
  S head_root(const S& h) const {
    if (h <= T(0)) return S(T(0));
    if (h < p_.laminar_level_m) {
      const S s = h * inv_h0_;
      return S(sqrt_h0_ * T(0.5) * s * (T(3) - s));
    }
    using std::sqrt;
    return S(sqrt(h));
  }

  /// dr/dh.
  T head_root_derivative(T h) const {
    if (h <= T(0)) return T(0);
    if (h < p_.laminar_level_m) return sqrt_h0_ * inv_h0_ * T(0.5) * (T(3) - T(2) * h * inv_h0_);
    using std::sqrt;
    return T(0.5) / sqrt(h);
  }

  /// Outflow through the orifice at level h, m^3/s.
  template <class S>
  S outflow_m3_s(const S& h) const {
    return S(c_ * head_root(h));
  }

  /// dh/dt at level h with inflow q_in, m/s.
  template <class S>
  S level_rate_m_s(const S& h, T inflow_m3_s) const {
    return S((inflow_m3_s - c_ * head_root(h)) * inv_area_);
  }

  /// The level after dt_s seconds with the inflow u(0) held (RK4 sub-steps).
  template <class S>
  Eigen::Matrix<S, 1, 1> transition(const Eigen::Matrix<S, 1, 1>& x, const InputVector& u,
                                    T dt_s) const {
    const T q = u(0);
    const T step = dt_s / static_cast<T>(p_.rk4_substeps);
    const T half = T(0.5) * step;
    const T sixth = step / T(6);
    S h = x(0);
    for (int i = 0; i < p_.rk4_substeps; ++i) {
      const S k1 = level_rate_m_s(h, q);
      const S h2 = h + half * k1;
      const S k2 = level_rate_m_s(h2, q);
      const S h3 = h + half * k2;
      const S k3 = level_rate_m_s(h3, q);
      const S h4 = h + step * k3;
      const S k4 = level_rate_m_s(h4, q);
      const S sum = k1 + T(2) * k2 + T(2) * k3 + k4;
      h = S(h + sixth * sum);
    }
    Eigen::Matrix<S, 1, 1> out;
    out(0) = h;
    return out;
  }

  /// The measurement: the level, and with MeasureOutflow also the outflow.
  template <class S>
  Eigen::Matrix<S, measurement_dim, 1> measure(const Eigen::Matrix<S, 1, 1>& x) const {
    Eigen::Matrix<S, measurement_dim, 1> z;
    z(0) = x(0);
    if constexpr (MeasureOutflow) z(1) = outflow_m3_s(x(0));
    return z;
  }

  /// d transition / dh: the exact derivative of the RK4 map (chain rule through the stages).
  StateMatrix transition_jacobian(const StateVector& x, const InputVector& u, T dt_s) const {
    const T q = u(0);
    const T step = dt_s / static_cast<T>(p_.rk4_substeps);
    const T half = T(0.5) * step;
    const T sixth = step / T(6);
    const T slope = -c_ * inv_area_;  // d(level rate)/dr
    T h = x(0);
    T dh = T(1);  // d h / d h(start)
    for (int i = 0; i < p_.rk4_substeps; ++i) {
      const T k1 = level_rate_m_s(h, q);
      const T d1 = slope * head_root_derivative(h) * dh;
      const T h2 = h + half * k1;
      const T k2 = level_rate_m_s(h2, q);
      const T d2 = slope * head_root_derivative(h2) * (dh + half * d1);
      const T h3 = h + half * k2;
      const T k3 = level_rate_m_s(h3, q);
      const T d3 = slope * head_root_derivative(h3) * (dh + half * d2);
      const T h4 = h + step * k3;
      const T k4 = level_rate_m_s(h4, q);
      const T d4 = slope * head_root_derivative(h4) * (dh + step * d3);
      h = h + sixth * (k1 + T(2) * k2 + T(2) * k3 + k4);
      dh = dh + sixth * (d1 + T(2) * d2 + T(2) * d3 + d4);
    }
    StateMatrix F;
    F(0, 0) = dh;
    return F;
  }

  /// d measure / dh.
  MeasurementMatrix measurement_jacobian(const StateVector& x) const {
    MeasurementMatrix H;
    H(0, 0) = T(1);
    if constexpr (MeasureOutflow) H(1, 0) = c_ * head_root_derivative(x(0));
    return H;
  }

  /// Level random-walk covariance accumulated over dt_s seconds, m^2.
  StateMatrix process_noise(T dt_s) const {
    return StateMatrix::Constant(p_.level_noise_density_m2_s * dt_s);
  }

 private:
  Parameters p_;
  T c_ = T(0);
  T inv_area_ = T(1);
  T sqrt_h0_ = T(0);
  T inv_h0_ = T(1);
};

}  // namespace physguard
