// physguard/signal/arx.hpp - AR / ARX difference-equation models with one-step prediction.
#pragma once

#include <array>
#include <cstddef>
#include <limits>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"

namespace physguard {

/// ARX model (auto-regressive with exogenous input), the usual identified black-box model:
///
///     y[k] = -a1 y[k-1] - ... - a_Na y[k-Na]  +  b1 u[k-d] + b2 u[k-d-1] + ... + b_Nb u[k-d-Nb+1]  + e[k]
///
/// with the input delay d (1 <= d <= MaxInputDelay samples; d >= 1 because a sampled physical
/// process cannot react within the same sample).  Histories of Na outputs and Nb + MaxInputDelay - 1
/// inputs are kept in fixed-size arrays; everything is O(Na + Nb + MaxInputDelay) per sample, no heap.
///
/// Use per sample k, once y[k] is measured and u[k] applied:
///
///     T r = arx.step(y_k, u_k);   // r = y[k] - predict(): the one-step prediction residual e[k]
///
/// `predict()` is ŷ[k] from the history (y up to k-1, u up to k-1); `step` computes it, returns
/// the residual y[k] - ŷ[k], then pushes y[k] and u[k].  `simulate(u)` runs the model freely
/// (pushes its own prediction as the output, returns it).  A non-finite y or u is refused: history
/// unchanged, status() == Status::not_finite, the returned residual is NaN.
///
/// `ArModel<T, Na>` is the AR-only case (Nb = 0; call step(y)).
template <typename T, int Na, int Nb, int MaxInputDelay = 1>
class ArxModel {
  static_assert(Na >= 0 && Nb >= 0 && Na + Nb > 0, "ARX orders must be >= 0, not both 0");
  static_assert(MaxInputDelay >= 1, "MaxInputDelay must be >= 1");
  static constexpr int input_history = Nb == 0 ? 0 : Nb + MaxInputDelay - 1;

 public:
  using Scalar = T;
  using OutputCoefficients = std::array<T, static_cast<std::size_t>(Na)>;  ///< a1 .. a_Na
  using InputCoefficients = std::array<T, static_cast<std::size_t>(Nb)>;   ///< b1 .. b_Nb

  explicit ArxModel(const OutputCoefficients& a, const InputCoefficients& b = InputCoefficients{},
                    int input_delay_samples = 1)
      : a_(a), b_(b), delay_(input_delay_samples) {
    PHYSGUARD_ASSERT(delay_ >= 1 && delay_ <= MaxInputDelay,
                     "input delay must be in [1, MaxInputDelay]");
    for (const T& v : a_) PHYSGUARD_ASSERT(is_finite(v), "coefficients must be finite");
    for (const T& v : b_) PHYSGUARD_ASSERT(is_finite(v), "coefficients must be finite");
    reset();
  }

  /// ŷ[k] = -Σ a_i y[k-i] + Σ b_j u[k-d-j+1] from the stored history.
  T predict() const {
    T yhat = T(0);
    for (int i = 0; i < Na; ++i) yhat -= a_[idx(i)] * y_[idx(i)];
    for (int j = 0; j < Nb; ++j) yhat += b_[idx(j)] * u_[idx(delay_ - 1 + j)];
    return yhat;
  }

  /// Residual y[k] - ŷ[k]; then y[k] and u[k] enter the history.
  T step(T y_measured, T u = T(0)) {
    if (!is_finite(y_measured) || !is_finite(u)) {
      status_ = Status::not_finite;
      return std::numeric_limits<T>::quiet_NaN();
    }
    const T residual = y_measured - predict();
    push(y_measured, u);
    status_ = Status::ok;
    return residual;
  }

  /// Free run: ŷ[k] = predict() is taken as y[k]; u[k] is pushed; returns ŷ[k].
  T simulate(T u = T(0)) {
    if (!is_finite(u)) {
      status_ = Status::not_finite;
      return std::numeric_limits<T>::quiet_NaN();
    }
    const T yhat = predict();
    push(yhat, u);
    status_ = Status::ok;
    return yhat;
  }

  /// Histories cleared to zero.
  void reset() { reset(T(0), T(0)); }
  /// Every past output = y, every past input = u (steady state when y = static_gain() u).
  void reset(T y, T u) {
    PHYSGUARD_ASSERT(is_finite(y) && is_finite(u), "reset values must be finite");
    y_.fill(y);
    u_.fill(u);
    status_ = Status::ok;
  }

  /// Σ b / (1 + Σ a): the steady-state output per unit input (infinite if 1 + Σ a = 0).
  T static_gain() const {
    T sa = T(1), sb = T(0);
    for (const T& v : a_) sa += v;
    for (const T& v : b_) sb += v;
    return sb / sa;
  }

  const OutputCoefficients& a() const { return a_; }
  const InputCoefficients& b() const { return b_; }
  int input_delay_samples() const { return delay_; }
  Status status() const { return status_; }
  /// y[k-1-i], 0 <= i < Na (the newest first).
  T past_output(int i) const { return y_[idx(i)]; }
  /// u[k-1-j], 0 <= j < Nb + MaxInputDelay - 1 (the newest first).
  T past_input(int j) const { return u_[idx(j)]; }

 private:
  static constexpr std::size_t idx(int i) { return static_cast<std::size_t>(i); }

  void push(T y, T u) {
    if constexpr (Na > 0) {
      for (int i = Na - 1; i > 0; --i) y_[idx(i)] = y_[idx(i - 1)];
      y_[0] = y;
    } else {
      (void)y;
    }
    if constexpr (input_history > 0) {
      for (int j = input_history - 1; j > 0; --j) u_[idx(j)] = u_[idx(j - 1)];
      u_[0] = u;
    } else {
      (void)u;
    }
  }

  OutputCoefficients a_;
  InputCoefficients b_;
  int delay_;
  std::array<T, static_cast<std::size_t>(Na)> y_{};
  std::array<T, static_cast<std::size_t>(input_history)> u_{};
  Status status_ = Status::ok;
};

/// Auto-regressive model y[k] = -a1 y[k-1] - ... - a_Na y[k-Na] + e[k] (ARX without input).
template <typename T, int Na>
using ArModel = ArxModel<T, Na, 0>;

}  // namespace physguard
