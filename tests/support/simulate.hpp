// tests/support/simulate.hpp - small helpers for simulating linear Gaussian systems in tests.
#pragma once

#include <random>

#include <Eigen/Cholesky>
#include <Eigen/Core>

namespace physguard_test {

/// Draws N(0, Sigma) vectors with a fixed seed (std::mt19937_64 is fully specified by the standard,
/// so runs are repeatable; the normal transform is libstdc++'s).
template <typename T, int N>
class GaussianSource {
 public:
  GaussianSource(const Eigen::Matrix<T, N, N>& covariance, std::uint64_t seed)
      : L_(Eigen::Matrix<double, N, N>(covariance.template cast<double>()).llt().matrixL()),
        rng_(seed) {}

  Eigen::Matrix<T, N, 1> operator()() {
    Eigen::Matrix<double, N, 1> e;
    for (int i = 0; i < N; ++i) e(i) = normal_(rng_);
    return (L_ * e).template cast<T>();
  }

 private:
  Eigen::Matrix<double, N, N> L_;
  std::mt19937_64 rng_;
  std::normal_distribution<double> normal_{0.0, 1.0};
};

/// Symmetric-positive-definite check by Cholesky plus an explicit symmetry bound.
template <typename Derived>
bool is_spd(const Eigen::MatrixBase<Derived>& P, double symmetry_tol = 0.0) {
  using M = Eigen::Matrix<double, Derived::RowsAtCompileTime, Derived::ColsAtCompileTime>;
  const M Pd = P.template cast<double>();
  if ((Pd - Pd.transpose()).cwiseAbs().maxCoeff() > symmetry_tol) return false;
  Eigen::LLT<M> llt(Pd);
  return llt.info() == Eigen::Success;
}

}  // namespace physguard_test
