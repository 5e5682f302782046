// tests/support/nonlinear_models.hpp - models for the EKF / UKF tests: a linear 3-state model
// written against the nonlinear model concept (with and without analytic Jacobians), the same
// model as a LinearStateSpace for the reference KalmanFilter, and comparison helpers.
#pragma once

#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <physguard/signal/orifice_tank.hpp>
#include <physguard/signal/state_space.hpp>

#include "simulate.hpp"

namespace physguard_test {

/// x[k+1] = A x + B u, z = C x: 3 states (a damped oscillator plus a slow bias), 1 input,
/// 2 measurements.  No analytic Jacobians: the EKF must differentiate it automatically.
template <typename T>
struct LinearModel3 {
  using Scalar = T;
  static constexpr int state_dim = 3;
  static constexpr int input_dim = 1;
  static constexpr int measurement_dim = 2;

  Eigen::Matrix<T, 3, 3> A;
  Eigen::Matrix<T, 3, 1> B;
  Eigen::Matrix<T, 2, 3> C;

  LinearModel3() {
    A << T(0.95), T(0.10), T(0.0),   //
        T(-0.20), T(0.90), T(0.05),  //
        T(0.0), T(0.0), T(0.999);
    B << T(0.0), T(0.1), T(0.0);
    C << T(1.0), T(0.0), T(1.0),  //
        T(0.0), T(0.5), T(0.0);
  }

  // Written out coefficient by coefficient so that it works for any scalar S.
  template <class S>
  Eigen::Matrix<S, 3, 1> transition(const Eigen::Matrix<S, 3, 1>& x,
                                    const Eigen::Matrix<T, 1, 1>& u, T /*dt_s*/) const {
    Eigen::Matrix<S, 3, 1> out;
    for (int i = 0; i < 3; ++i) {
      S acc = S(B(i, 0) * u(0));
      for (int j = 0; j < 3; ++j) acc = S(acc + A(i, j) * x(j));
      out(i) = acc;
    }
    return out;
  }

  template <class S>
  Eigen::Matrix<S, 2, 1> measure(const Eigen::Matrix<S, 3, 1>& x) const {
    Eigen::Matrix<S, 2, 1> z;
    for (int i = 0; i < 2; ++i) {
      S acc = S(T(0));
      for (int j = 0; j < 3; ++j) acc = S(acc + C(i, j) * x(j));
      z(i) = acc;
    }
    return z;
  }

  physguard::LinearStateSpace<T, 3, 1, 2> state_space() const {
    physguard::LinearStateSpace<T, 3, 1, 2> m;
    m.A = A;
    m.B = B;
    m.C = C;
    return m;
  }
};

/// The same model with analytic Jacobians (the EKF must take these instead of autodiff).
template <typename T>
struct LinearModel3WithJacobians : LinearModel3<T> {
  Eigen::Matrix<T, 3, 3> transition_jacobian(const Eigen::Matrix<T, 3, 1>&,
                                             const Eigen::Matrix<T, 1, 1>&, T) const {
    return this->A;
  }
  Eigen::Matrix<T, 2, 3> measurement_jacobian(const Eigen::Matrix<T, 3, 1>&) const {
    return this->C;
  }
};

/// max |a - b| relative to max(1, max |b|).
template <typename DA, typename DB>
double relative_difference(const Eigen::MatrixBase<DA>& a, const Eigen::MatrixBase<DB>& b) {
  const auto ad = a.template cast<double>().eval();
  const auto bd = b.template cast<double>().eval();
  const double scale = std::max(1.0, bd.cwiseAbs().maxCoeff());
  return (ad - bd).cwiseAbs().maxCoeff() / scale;
}

inline double relative_difference(double a, double b) {
  return std::abs(a - b) / std::max(1.0, std::abs(b));
}

/// Orifice-tank scenario for the NIS / NEES tests: 1 m^2 tank, 10 cm^2 orifice, Cd 0.6, an
/// inflow around 2 L/s varying slowly, 1 s steps, level random walk of density 1e-7 m^2/s and a
/// level sensor with 3 mm standard deviation.  The truth is the same physics integrated with 20
/// RK4 sub-steps per second in double plus the random walk; the filter's model uses 1 sub-step.
struct TankScenario {
  static constexpr double dt_s = 1.0;
  static constexpr double noise_density = 1e-7;  // m^2/s
  static constexpr double sensor_sigma_m = 3e-3;
  static constexpr double level0_m = 0.5;
  static constexpr double P0 = 1e-4;  // initial level variance, m^2

  template <typename T>
  static physguard::OrificeTankParameters<T> parameters(double discharge_coefficient,
                                                        int substeps) {
    physguard::OrificeTankParameters<T> p;
    p.area_m2 = T(1.0);
    p.orifice_area_m2 = T(1e-3);
    p.discharge_coefficient = T(discharge_coefficient);
    p.rk4_substeps = substeps;
    p.level_noise_density_m2_s = T(noise_density);
    return p;
  }
  static double inflow(int k) { return 2e-3 + 5e-4 * std::sin(2.0 * 3.14159265358979 * k / 600.0); }
};

/// Simulates the true tank and runs `filter` (EKF or UKF over an OrificeTank<T>) on it.  Returns
/// the sum of the NIS over `steps` updates (chi-square with `steps` dof under a correct model);
/// `last_nees` receives the normalised estimation error squared after the last update and
/// `all_accepted` whether every update was fused.
template <typename Filter>
double run_tank(Filter& filter, double true_level0_m, int steps, std::uint64_t seed,
                double& last_nees, bool& all_accepted) {
  using T = typename Filter::Scalar;
  const physguard::OrificeTank<double> truth(TankScenario::parameters<double>(0.6, 20));
  GaussianSource<double, 1> w(
      Eigen::Matrix<double, 1, 1>::Constant(TankScenario::noise_density * TankScenario::dt_s),
      seed);
  GaussianSource<double, 1> v(Eigen::Matrix<double, 1, 1>::Constant(TankScenario::sensor_sigma_m *
                                                                    TankScenario::sensor_sigma_m),
                              seed + 1000003);
  Eigen::Matrix<double, 1, 1> h = Eigen::Matrix<double, 1, 1>::Constant(true_level0_m);
  double nis_sum = 0.0;
  all_accepted = true;
  for (int k = 0; k < steps; ++k) {
    const Eigen::Matrix<double, 1, 1> u =
        Eigen::Matrix<double, 1, 1>::Constant(TankScenario::inflow(k));
    h = truth.transition<double>(h, u, TankScenario::dt_s) + w();
    filter.predict(u.cast<T>(), T(TankScenario::dt_s));
    const auto rec = filter.update((h + v()).cast<T>());
    all_accepted = all_accepted && rec.accepted;
    nis_sum += static_cast<double>(rec.nis);
  }
  const double e = h(0) - static_cast<double>(filter.state()(0));
  last_nees = e * e / static_cast<double>(filter.covariance()(0, 0));
  return nis_sum;
}

}  // namespace physguard_test
