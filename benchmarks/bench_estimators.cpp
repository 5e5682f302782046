// Predict + update latency of physguard's estimators, each beside the straightforward baseline
// (dynamic-size Eigen, explicit inverse of S) measured in the same run.
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include <physguard/estimate/kalman_filter.hpp>

#include "baseline_kalman.hpp"

namespace {

constexpr int kStream = 1024;  // measurements cycled through (power of two)

// A chain of N states: each state integrates the next one (position, velocity, ...) with some
// damping, the first Nz states measured.  Same numbers for physguard and the baseline.
template <typename T, int N, int Nz>
struct Problem {
  Eigen::Matrix<T, N, N> A, Q, P0;
  Eigen::Matrix<T, Nz, N> H;
  Eigen::Matrix<T, Nz, Nz> R;
  std::vector<Eigen::Matrix<T, Nz, 1>> z;

  Problem() {
    const T dt = T(0.01);
    A.setIdentity();
    for (int i = 0; i + 1 < N; ++i) A(i, i + 1) = dt;
    for (int i = 0; i < N; ++i) A(i, i) = T(1) - T(0.001) * T(i);
    Q = Eigen::Matrix<T, N, N>::Identity() * T(1e-4);
    P0 = Eigen::Matrix<T, N, N>::Identity();
    H.setZero();
    for (int i = 0; i < Nz; ++i) H(i, i) = T(1);
    R = Eigen::Matrix<T, Nz, Nz>::Identity() * T(1e-2);
    z.resize(kStream);
    for (int k = 0; k < kStream; ++k)
      for (int i = 0; i < Nz; ++i)
        z[static_cast<std::size_t>(k)](i) = std::sin(T(0.01) * T(k) + T(i)) + T(0.05) * std::cos(T(7.3) * T(k));
  }
};

template <typename T, int N, int Nz>
void BM_KalmanFilter(benchmark::State& state) {
  const Problem<T, N, Nz> p;
  using KF = physguard::KalmanFilter<T, N, Nz>;
  typename KF::Model model;
  model.A = p.A;
  model.C = p.H;
  typename KF::Options options;
  options.reject_outside_gate = false;
  KF kf(model, p.Q, p.R, KF::StateVector::Zero(), p.P0, options);
  std::size_t k = 0;
  // The NIS of every update is summed and the sum published once at the end: a per-iteration
  // DoNotOptimize would add a full memory barrier (and a store/reload of the whole filter) that
  // a real per-sample loop does not have.  The filter state is a loop-carried dependency, so no
  // step can be skipped or hoisted.
  T nis_sum = T(0);
  for (auto _ : state) {
    kf.predict();
    nis_sum += kf.update(p.z[k]).nis;
    k = (k + 1) & (kStream - 1);
  }
  benchmark::DoNotOptimize(nis_sum);
  benchmark::DoNotOptimize(kf.state());
  state.SetLabel("physguard");
}

template <typename T, int N, int Nz>
void BM_Baseline(benchmark::State& state) {
  const Problem<T, N, Nz> p;
  physguard_bench::BaselineKalman<T> kf;
  kf.A = p.A;
  kf.H = p.H;
  kf.Q = p.Q;
  kf.R = p.R;
  kf.P = p.P0;
  kf.x = Eigen::Matrix<T, Eigen::Dynamic, 1>::Zero(N);
  std::vector<Eigen::Matrix<T, Eigen::Dynamic, 1>> z(p.z.begin(), p.z.end());
  std::size_t k = 0;
  T nis_sum = T(0);
  for (auto _ : state) {
    kf.predict();
    kf.update(z[k]);
    nis_sum += kf.nis;
    k = (k + 1) & (kStream - 1);
  }
  benchmark::DoNotOptimize(nis_sum);
  benchmark::DoNotOptimize(kf.x.data());
  state.SetLabel("baseline");
}

#define PHYSGUARD_KF_PAIR(T, N, NZ)                                     \
  BENCHMARK_TEMPLATE(BM_KalmanFilter, T, N, NZ)->Name("KF/" #T "/" #N "x" #NZ);   \
  BENCHMARK_TEMPLATE(BM_Baseline, T, N, NZ)->Name("Baseline/" #T "/" #N "x" #NZ)

PHYSGUARD_KF_PAIR(float, 1, 1);
PHYSGUARD_KF_PAIR(float, 2, 1);
PHYSGUARD_KF_PAIR(float, 4, 2);
PHYSGUARD_KF_PAIR(float, 8, 4);
PHYSGUARD_KF_PAIR(double, 1, 1);
PHYSGUARD_KF_PAIR(double, 2, 1);
PHYSGUARD_KF_PAIR(double, 4, 2);
PHYSGUARD_KF_PAIR(double, 8, 4);

}  // namespace

BENCHMARK_MAIN();
