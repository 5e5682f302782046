// Predict + update latency of the EKF (autodiff Jacobians) and the UKF on a 3-state nonlinear
// model, float and double, each beside a straightforward baseline measured in the same run:
// dynamic-size Eigen matrices, explicit inverse of S (EKF: hand-written Jacobians; UKF: textbook
// sigma points with an explicit inverse).
#include <benchmark/benchmark.h>

#include <cmath>
#include <vector>

#include <Eigen/Dense>
#include <physguard/estimate/extended_kalman_filter.hpp>
#include <physguard/estimate/unscented_kalman_filter.hpp>

namespace {

constexpr int kStream = 1024;

// Two tanks in series draining through orifices, with an unknown inflow as a random walk:
// x = (h1, h2, q_in); both levels measured.  Euler step of the ODE over dt.
template <typename T>
struct CascadeTanks {
  using Scalar = T;
  static constexpr int state_dim = 3;
  static constexpr int input_dim = 0;
  static constexpr int measurement_dim = 2;
  T a1 = T(2), a2 = T(3), c1 = T(0.08), c2 = T(0.06), dt = T(0.5);

  template <class S>
  static S root(const S& h) {
    using std::sqrt;
    return sqrt(h * h + S(T(1e-4))) ;  // smooth sqrt(|h|) near empty: differentiable everywhere
  }
  template <class S>
  Eigen::Matrix<S, 3, 1> transition(const Eigen::Matrix<S, 3, 1>& x, const Eigen::Matrix<T, 0, 1>&,
                                    T) const {
    using std::sqrt;
    const S q12 = S(c1) * sqrt(root(x(0)));
    const S q2 = S(c2) * sqrt(root(x(1)));
    Eigen::Matrix<S, 3, 1> n;
    n(0) = x(0) + S(dt / a1) * (x(2) - q12);
    n(1) = x(1) + S(dt / a2) * (q12 - q2);
    n(2) = x(2);
    return n;
  }
  template <class S>
  Eigen::Matrix<S, 2, 1> measure(const Eigen::Matrix<S, 3, 1>& x) const {
    return Eigen::Matrix<S, 2, 1>(x(0), x(1));
  }
};

template <typename T>
struct Data {
  CascadeTanks<T> model;
  Eigen::Matrix<T, 3, 3> Q = Eigen::Matrix<T, 3, 1>(T(1e-6), T(1e-6), T(1e-7)).asDiagonal();
  Eigen::Matrix<T, 2, 2> R = Eigen::Matrix<T, 2, 2>::Identity() * T(1e-4);
  Eigen::Matrix<T, 3, 1> x0 = Eigen::Matrix<T, 3, 1>(T(1.0), T(0.8), T(0.1));
  Eigen::Matrix<T, 3, 3> P0 = Eigen::Matrix<T, 3, 3>::Identity() * T(0.01);
  std::vector<Eigen::Matrix<T, 2, 1>> z;
  Data() {
    Eigen::Matrix<T, 3, 1> x = x0;
    const Eigen::Matrix<T, 0, 1> u;
    for (int k = 0; k < kStream; ++k) {
      x = model.transition(x, u, model.dt);
      z.emplace_back(x(0) + T(0.01) * std::sin(T(k)), x(1) + T(0.01) * std::cos(T(3 * k)));
    }
  }
};

template <typename Filter, typename T>
void run_physguard(benchmark::State& state, Filter& f, const Data<T>& d) {
  const Eigen::Matrix<T, 0, 1> u;
  std::size_t k = 0;
  T nis_sum = T(0);
  for (auto _ : state) {
    f.predict(u, d.model.dt);
    nis_sum += f.update(d.z[k]).nis;
    k = (k + 1) & (kStream - 1);
  }
  benchmark::DoNotOptimize(nis_sum);
}

template <typename T>
void BM_EKF(benchmark::State& state) {
  const Data<T> d;
  typename physguard::ExtendedKalmanFilter<CascadeTanks<T>>::Options o;
  o.reject_outside_gate = false;
  physguard::ExtendedKalmanFilter<CascadeTanks<T>> f(d.model, d.Q, d.R, d.x0, d.P0, o);
  run_physguard(state, f, d);
  state.SetLabel("physguard EKF (autodiff Jacobian)");
}

template <typename T>
void BM_UKF(benchmark::State& state) {
  const Data<T> d;
  typename physguard::UnscentedKalmanFilter<CascadeTanks<T>>::Options o;
  o.reject_outside_gate = false;
  physguard::UnscentedKalmanFilter<CascadeTanks<T>> f(d.model, d.Q, d.R, d.x0, d.P0, o);
  run_physguard(state, f, d);
  state.SetLabel("physguard UKF");
}

// ---- baselines --------------------------------------------------------------------------------
template <typename T>
using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
template <typename T>
using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;

template <typename T>
Vec<T> f_dyn(const CascadeTanks<T>& m, const Vec<T>& x) {
  const Eigen::Matrix<T, 3, 1> xs = x;
  return m.transition(xs, Eigen::Matrix<T, 0, 1>(), m.dt);
}

template <typename T>
void BM_BaselineEKF(benchmark::State& state) {
  const Data<T> d;
  const auto& m = d.model;
  Vec<T> x = d.x0;
  Mat<T> P = d.P0, Q = d.Q, R = d.R, H = Mat<T>::Zero(2, 3);
  H(0, 0) = 1;
  H(1, 1) = 1;
  std::size_t k = 0;
  T nis_sum = T(0);
  for (auto _ : state) {
    // Hand-written Jacobian of the Euler step.
    const T r1 = std::sqrt(x(0) * x(0) + T(1e-4)), r2 = std::sqrt(x(1) * x(1) + T(1e-4));
    const T d1 = m.c1 * T(0.5) / std::sqrt(r1) * x(0) / r1;
    const T d2 = m.c2 * T(0.5) / std::sqrt(r2) * x(1) / r2;
    Mat<T> F = Mat<T>::Identity(3, 3);
    F(0, 0) -= m.dt / m.a1 * d1;
    F(0, 2) = m.dt / m.a1;
    F(1, 0) = m.dt / m.a2 * d1;
    F(1, 1) -= m.dt / m.a2 * d2;
    x = f_dyn(m, x);
    P = F * P * F.transpose() + Q;
    const Vec<T> y = Vec<T>(d.z[k]) - H * x;
    const Mat<T> S = H * P * H.transpose() + R;
    const Mat<T> Si = S.inverse();
    const Mat<T> K = P * H.transpose() * Si;
    x = x + K * y;
    P = (Mat<T>::Identity(3, 3) - K * H) * P;
    nis_sum += y.dot(Si * y);
    k = (k + 1) & (kStream - 1);
  }
  benchmark::DoNotOptimize(nis_sum);
  state.SetLabel("baseline EKF");
}

template <typename T>
void BM_BaselineUKF(benchmark::State& state) {
  const Data<T> d;
  const auto& m = d.model;
  const int n = 3;
  const T alpha = 1, beta = 2, kappa = 0;
  const T lambda = alpha * alpha * (n + kappa) - n;
  Vec<T> wm(2 * n + 1), wc(2 * n + 1);
  wm(0) = lambda / (n + lambda);
  wc(0) = wm(0) + (1 - alpha * alpha + beta);
  for (int i = 1; i <= 2 * n; ++i) wm(i) = wc(i) = T(1) / (2 * (n + lambda));
  Vec<T> x = d.x0;
  Mat<T> P = d.P0, Q = d.Q, R = d.R;
  std::size_t k = 0;
  T nis_sum = T(0);
  for (auto _ : state) {
    const Mat<T> L = ((n + lambda) * P).llt().matrixL();
    Mat<T> X(n, 2 * n + 1);
    X.col(0) = f_dyn(m, x);
    for (int i = 0; i < n; ++i) {
      X.col(1 + i) = f_dyn(m, Vec<T>(x + L.col(i)));
      X.col(1 + n + i) = f_dyn(m, Vec<T>(x - L.col(i)));
    }
    x = X * wm;
    P = Q;
    for (int i = 0; i < 2 * n + 1; ++i) P += wc(i) * (X.col(i) - x) * (X.col(i) - x).transpose();
    const Mat<T> L2 = ((n + lambda) * P).llt().matrixL();
    Mat<T> Xs(n, 2 * n + 1), Z(2, 2 * n + 1);
    Xs.col(0) = x;
    for (int i = 0; i < n; ++i) {
      Xs.col(1 + i) = x + L2.col(i);
      Xs.col(1 + n + i) = x - L2.col(i);
    }
    for (int i = 0; i < 2 * n + 1; ++i) Z.col(i) = Xs.col(i).head(2);
    const Vec<T> zhat = Z * wm;
    Mat<T> S = R, C = Mat<T>::Zero(n, 2);
    for (int i = 0; i < 2 * n + 1; ++i) {
      S += wc(i) * (Z.col(i) - zhat) * (Z.col(i) - zhat).transpose();
      C += wc(i) * (Xs.col(i) - x) * (Z.col(i) - zhat).transpose();
    }
    const Mat<T> Si = S.inverse();
    const Mat<T> K = C * Si;
    const Vec<T> y = Vec<T>(d.z[k]) - zhat;
    x += K * y;
    P -= K * S * K.transpose();
    nis_sum += y.dot(Si * y);
    k = (k + 1) & (kStream - 1);
  }
  benchmark::DoNotOptimize(nis_sum);
  state.SetLabel("baseline UKF");
}

BENCHMARK_TEMPLATE(BM_EKF, float)->Name("EKF/float/3x2");
BENCHMARK_TEMPLATE(BM_BaselineEKF, float)->Name("BaselineEKF/float/3x2");
BENCHMARK_TEMPLATE(BM_EKF, double)->Name("EKF/double/3x2");
BENCHMARK_TEMPLATE(BM_BaselineEKF, double)->Name("BaselineEKF/double/3x2");
BENCHMARK_TEMPLATE(BM_UKF, float)->Name("UKF/float/3x2");
BENCHMARK_TEMPLATE(BM_BaselineUKF, float)->Name("BaselineUKF/float/3x2");
BENCHMARK_TEMPLATE(BM_UKF, double)->Name("UKF/double/3x2");
BENCHMARK_TEMPLATE(BM_BaselineUKF, double)->Name("BaselineUKF/double/3x2");

}  // namespace

BENCHMARK_MAIN();
