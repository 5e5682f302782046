// physguard/signal/process.hpp - the "discretisable process" concept that estimators rely on, and
// ContinuousProcess: any continuous linear model with white process noise, discretised exactly.
#pragma once

#include <type_traits>
#include <utility>

#include <Eigen/Core>

#include "discretise.hpp"
#include "state_space.hpp"

namespace physguard {

/// A *discretisable process* is a type P with
///
///     using Scalar = T;
///     static constexpr int state_dim, input_dim, output_dim;
///     LinearStateSpace<T, state_dim, input_dim, output_dim> model(T dt_s) const;
///     Eigen::Matrix<T, state_dim, state_dim>              process_noise(T dt_s) const;
///
/// model(dt_s) is the discrete model for a step of dt_s seconds (model(0) must be valid; C and D
/// must not depend on dt_s), process_noise(dt_s) the covariance of the state noise accumulated
/// over that step.  TimedKalmanFilter and friends take any such type.  This trait checks the
/// shape (for static_assert in generic code).
template <typename P, typename = void>
struct is_discretisable_process : std::false_type {};

template <typename P>
struct is_discretisable_process<
    P, std::void_t<typename P::Scalar, decltype(P::state_dim), decltype(P::input_dim),
                   decltype(P::output_dim),
                   decltype(std::declval<const P&>().model(typename P::Scalar{})),
                   decltype(std::declval<const P&>().process_noise(typename P::Scalar{}))>>
    : std::integral_constant<
          bool,
          std::is_same<decltype(std::declval<const P&>().model(typename P::Scalar{})),
                       LinearStateSpace<typename P::Scalar, P::state_dim, P::input_dim,
                                        P::output_dim>>::value &&
              std::is_same<decltype(std::declval<const P&>().process_noise(typename P::Scalar{})),
                           Eigen::Matrix<typename P::Scalar, P::state_dim, P::state_dim>>::value> {
};

template <typename P>
constexpr bool is_discretisable_process_v = is_discretisable_process<P>::value;

/// A continuous linear model driven by continuous white noise w of spectral density Qc:
///
///     dx/dt = A x + B u + w,      E[w(t) w(s)^T] = Qc δ(t - s)      (Qc in state units^2 / s)
///     y     = C x + D u
///
/// model(dt_s) is the zero-order-hold discretisation, process_noise(dt_s) Van Loan's exact
/// discrete covariance (discretise_process_noise).  Each call evaluates one matrix exponential of
/// size Nx+Nu (model) or 2 Nx (noise) on the stack, and the noise adds about log2(||A|| dt)
/// doublings of three Nx x Nx products when ||A|| dt > 1/2; for a fixed sample period, cache the
/// results instead of calling per step.
template <typename T, int Nx, int Nu, int Ny>
struct ContinuousProcess {
  using Scalar = T;
  static constexpr int state_dim = Nx;
  static constexpr int input_dim = Nu;
  static constexpr int output_dim = Ny;
  using System = ContinuousStateSpace<T, Nx, Nu, Ny>;
  using NoiseDensity = Eigen::Matrix<T, Nx, Nx>;

  System system{};
  NoiseDensity noise_density = NoiseDensity::Zero();  ///< Qc, state units^2 per second

  ContinuousProcess() = default;
  ContinuousProcess(const System& sys, const NoiseDensity& Qc) : system(sys), noise_density(Qc) {}

  LinearStateSpace<T, Nx, Nu, Ny> model(T dt_s) const { return discretise_zoh(system, dt_s); }
  Eigen::Matrix<T, Nx, Nx> process_noise(T dt_s) const {
    return discretise_process_noise(system.A, noise_density, dt_s);
  }

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW
};

}  // namespace physguard
