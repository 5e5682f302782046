// physguard/signal/tank.hpp - integrator / open tank with in- and outflow (mass balance).
#pragma once

#include <cstdint>
#include <limits>

#include <Eigen/Core>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "state_space.hpp"

namespace physguard {

/// Which physical limit a Tank step ran into.
enum class TankLimit : std::uint8_t {
  none = 0,
  empty,     ///< the level would have gone below min_level_m: clamped there
  overflow,  ///< the level would have gone above max_level_m: clamped there (tank overflows)
};

constexpr const char* to_string(TankLimit l) noexcept {
  switch (l) {
    case TankLimit::none: return "none";
    case TankLimit::empty: return "empty";
    case TankLimit::overflow: return "overflow";
  }
  return "unknown";
}

/// Open tank of constant cross-section (an integrator):
///
///     dh/dt = (q_in - q_out) / A          h level in m, q in m^3/s, A = area_m2 in m^2
///
/// Exact over dt with the flows held:  h[k+1] = h[k] + dt/A (q_in - q_out), clamped to
/// [min_level_m, max_level_m]; the clamp is reported by `limit()` (TankLimit::empty / overflow).
///
/// As a discretisable process (signal/process.hpp): 1 state (h), inputs (q_in, q_out), level
/// measured; A = 1, B = [dt/A, -dt/A]; the linear model does not clamp.  Process noise: a random
/// walk of density q (m^2/s, set_process_noise_density) for unmeasured flows and leaks: Q = q dt.
///
/// A step with a non-finite flow or dt, or dt < 0, is refused (level unchanged; status()).
template <typename T>
class Tank {
 public:
  using Scalar = T;
  static constexpr int state_dim = 1;
  static constexpr int input_dim = 2;
  static constexpr int output_dim = 1;
  using Model = LinearStateSpace<T, 1, 2, 1>;

  explicit Tank(T area_m2, T min_level_m = T(0),
                T max_level_m = std::numeric_limits<T>::infinity(), T initial_level_m = T(0))
      : area_(area_m2), min_(min_level_m), max_(max_level_m) {
    PHYSGUARD_ASSERT(is_finite(area_) && area_ > T(0), "tank area must be finite and > 0");
    PHYSGUARD_ASSERT(is_finite(min_), "minimum level must be finite");
    PHYSGUARD_ASSERT(max_ >= min_, "maximum level must be >= minimum level");  // max may be +inf
    reset(initial_level_m);
  }

  /// Advance dt_s seconds with constant in- and outflow (m^3/s); returns the new level in m.
  T step(T inflow_m3_s, T outflow_m3_s, T dt_s) {
    if (!is_finite(inflow_m3_s) || !is_finite(outflow_m3_s)) {
      status_ = Status::not_finite;
      return h_;
    }
    if (!is_finite(dt_s) || dt_s < T(0)) {
      status_ = Status::invalid_argument;
      return h_;
    }
    const T h = h_ + dt_s / area_ * (inflow_m3_s - outflow_m3_s);
    limit_ = TankLimit::none;
    if (h < min_) {
      h_ = min_;
      limit_ = TankLimit::empty;
    } else if (h > max_) {
      h_ = max_;
      limit_ = TankLimit::overflow;
    } else {
      h_ = h;
    }
    status_ = Status::ok;
    return h_;
  }

  T level_m() const { return h_; }
  /// Stored volume above min_level_m, m^3.
  T volume_m3() const { return (h_ - min_) * area_; }
  /// Limit hit by the last accepted step.
  TankLimit limit() const { return limit_; }
  Status status() const { return status_; }
  /// Level set to `level_m` clamped into [min, max].
  void reset(T level_m) {
    PHYSGUARD_ASSERT(is_finite(level_m), "level must be finite");
    h_ = level_m < min_ ? min_ : (level_m > max_ ? max_ : level_m);
    limit_ = TankLimit::none;
    status_ = Status::ok;
  }

  T area_m2() const { return area_; }
  T min_level_m() const { return min_; }
  T max_level_m() const { return max_; }

  void set_process_noise_density(T q) {
    PHYSGUARD_ASSERT(is_finite(q) && q >= T(0), "process noise density must be finite and >= 0");
    q_ = q;
  }
  T process_noise_density() const { return q_; }

  Model model(T dt_s) const {
    Model m;
    m.A(0, 0) = T(1);
    m.B << dt_s / area_, -dt_s / area_;
    m.C(0, 0) = T(1);
    m.dt_s = dt_s;
    return m;
  }
  Eigen::Matrix<T, 1, 1> process_noise(T dt_s) const {
    return Eigen::Matrix<T, 1, 1>::Constant(q_ * dt_s);
  }

 private:
  T area_;
  T min_;
  T max_;
  T h_ = T(0);
  T q_ = T(0);
  TankLimit limit_ = TankLimit::none;
  Status status_ = Status::ok;
};

}  // namespace physguard
