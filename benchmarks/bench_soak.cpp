// benchmarks/bench_soak.cpp - soak run (not part of ctest): N float steps (default 10^8) of each
// estimator with noisy measurements, checking after every step that the state and covariance are
// finite and the diagonal positive, and every 4096 steps (and at the end) that the covariance is
// exactly symmetric and positive definite (Cholesky in double, smallest eigenvalue reported).
//
//   build/benchmarks/bench_soak [steps]        results go to docs/embedded.md by hand
//
// Noise comes from a xorshift generator (Irwin-Hall, 12 uniforms) so the run is cheap and
// reproducible.  Exit code 1 when any check fails.
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>

#include <Eigen/Cholesky>
#include <Eigen/Eigenvalues>

#include <physguard/compose/scalar_channel.hpp>
#include <physguard/estimate/extended_kalman_filter.hpp>
#include <physguard/estimate/kalman_filter.hpp>
#include <physguard/estimate/steady_state_kalman_filter.hpp>
#include <physguard/estimate/timed_filter.hpp>
#include <physguard/estimate/unscented_kalman_filter.hpp>
#include <physguard/signal/random_walk.hpp>

#include "../tests/support/nonlinear_models.hpp"

using namespace physguard;

namespace {

struct Noise {
  std::uint32_t s = 0x9E3779B9u;
  float operator()() {
    float sum = 0.0f;
    for (int i = 0; i < 12; ++i) {
      s ^= s << 13;
      s ^= s >> 17;
      s ^= s << 5;
      sum += static_cast<float>(s >> 8) * (1.0f / 16777216.0f);
    }
    return sum - 6.0f;
  }
};

struct Report {
  const char* name;
  long long steps = 0, rejected = 0, refused = 0;
  double min_eig = 1e300, max_asym = 0.0, seconds = 0.0;
  bool ok = true;
};

template <typename M>
void full_check(const M& P, Report& r) {
  using MD = Eigen::Matrix<double, M::RowsAtCompileTime, M::ColsAtCompileTime>;
  const MD Pd = P.template cast<double>();
  const double asym = (Pd - Pd.transpose()).cwiseAbs().maxCoeff();
  if (asym > r.max_asym) r.max_asym = asym;
  Eigen::LLT<MD> llt(Pd);
  if (llt.info() != Eigen::Success || asym != 0.0) r.ok = false;
  Eigen::SelfAdjointEigenSolver<MD> es(Pd, Eigen::EigenvaluesOnly);
  if (es.eigenvalues().minCoeff() < r.min_eig) r.min_eig = es.eigenvalues().minCoeff();
  if (!(es.eigenvalues().minCoeff() > 0.0)) r.ok = false;
}

template <typename M>
bool cheap_check(const M& P) {
  for (int i = 0; i < P.rows(); ++i)
    if (!(P(i, i) > 0.0f) || !is_finite(P(i, i))) return false;
  return all_finite(P);
}

template <typename Step, typename Cov>
Report soak(const char* name, long long steps, Step step, Cov cov) {
  Report r;
  r.name = name;
  const auto t0 = std::chrono::steady_clock::now();
  for (long long k = 0; k < steps; ++k) {
    const Status s = step(k);
    if (s == Status::rejected_by_gate) ++r.rejected;
    else if (s != Status::ok) ++r.refused;
    if (!cheap_check(cov())) {
      r.ok = false;
      std::printf("%s: covariance broke at step %lld\n", name, k);
      break;
    }
    if ((k & 4095) == 0) full_check(cov(), r);
  }
  full_check(cov(), r);
  r.steps = steps;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::printf("| %s | %lld | %.1f | %.2f | %.3g | %.3g | %lld | %lld | %s |\n", r.name, r.steps,
              r.seconds, 1e9 * r.seconds / static_cast<double>(steps), r.min_eig, r.max_asym,
              r.rejected, r.refused, r.ok ? "SPD" : "FAILED");
  std::fflush(stdout);
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  const long long steps = argc > 1 ? std::atoll(argv[1]) : 100000000LL;
  Noise noise;
  bool ok = true;
  std::printf("| estimator (float) | steps | s | ns/step | min eig(P) | max asym | gated | refused | result |\n");
  std::printf("|---|---:|---:|---:|---:|---:|---:|---:|---|\n");

  {  // 1-state random walk
    using KF = KalmanFilter<float, 1, 1>;
    KF::Model m;
    m.A << 1.0f;
    m.C << 1.0f;
    KF kf(m, KF::StateMatrix::Constant(1e-6f), KF::MeasurementCovariance::Constant(1e-4f),
          KF::StateVector::Zero(), KF::StateMatrix::Constant(1.0f));
    float truth = 0.0f;
    ok &= soak("KalmanFilter<float,1,1>", steps, [&](long long) {
      truth += 1e-3f * noise();
      kf.predict();
      return kf.update(KF::MeasurementVector::Constant(truth + 1e-2f * noise())).status;
    }, [&]() -> const KF::StateMatrix& { return kf.covariance(); }).ok;
  }
  {  // 2-state constant velocity (stiff: tiny q)
    using KF = KalmanFilter<float, 2, 1>;
    KF::Model m;
    const float dt = 0.1f;
    m.A << 1.0f, dt, 0.0f, 1.0f;
    m.C << 1.0f, 0.0f;
    KF::StateMatrix Q;
    const float q = 1e-6f;
    Q << q * dt * dt * dt / 3, q * dt * dt / 2, q * dt * dt / 2, q * dt;
    KF kf(m, Q, KF::MeasurementCovariance::Constant(1e-4f), KF::StateVector::Zero(),
          KF::StateMatrix::Identity());
    ok &= soak("KalmanFilter<float,2,1>", steps, [&](long long) {
      kf.predict();
      return kf.update(KF::MeasurementVector::Constant(2.0f + 1e-2f * noise())).status;
    }, [&]() -> const KF::StateMatrix& { return kf.covariance(); }).ok;
  }
  {  // the same 2-state model with the constant (DARE) gain: no covariance arithmetic per step, so
     // its P (the steady posterior, fixed at construction) cannot drift; the soak shows the state
     // stays finite and gives the per-step cost.
    using SS = SteadyStateKalmanFilter<float, 2, 1>;
    SS::Model m;
    const float dt = 0.1f;
    m.A << 1.0f, dt, 0.0f, 1.0f;
    m.C << 1.0f, 0.0f;
    SS::StateMatrix Q;
    const float q = 1e-6f;
    Q << q * dt * dt * dt / 3, q * dt * dt / 2, q * dt * dt / 2, q * dt;
    SS ss(m, Q, SS::MeasurementCovariance::Constant(1e-4f), SS::StateVector(2.0f, 0.0f));
    if (!ss.ok()) {
      std::printf("SteadyStateKalmanFilter: DARE failed (%s)\n", to_string(ss.status()));
      ok = false;
    } else {
      ok &= soak("SteadyStateKalmanFilter<float,2,1>", steps, [&](long long) {
        ss.predict();
        const auto rec = ss.update(SS::MeasurementVector::Constant(2.0f + 1e-2f * noise()));
        if (!all_finite(ss.state())) return Status::numerical_failure;
        return rec.status;
      }, [&]() -> const SS::StateMatrix& { return ss.posterior_covariance(); }).ok;
    }
  }
  {  // 3-state, 2 measurements (the nonlinear test model, linear filter)
    physguard_test::LinearModel3<float> lm;
    using KF = KalmanFilter<float, 3, 2, 1>;
    KF kf(lm.state_space(), KF::StateMatrix::Identity() * 1e-4f,
          KF::MeasurementCovariance::Identity() * 1e-2f, KF::StateVector::Zero(),
          KF::StateMatrix::Identity());
    ok &= soak("KalmanFilter<float,3,2,1>", steps, [&](long long k) {
      KF::InputVector u;
      u << ((k / 100) % 2 ? 1.0f : -1.0f);
      kf.predict(u);
      KF::MeasurementVector z;
      z << 0.1f * noise(), 0.1f * noise();
      return kf.update(z).status;
    }, [&]() -> const KF::StateMatrix& { return kf.covariance(); }).ok;
  }
  {  // timed filter: jittered sample times (variable dt every step)
    using TF = TimedKalmanFilter<RandomWalk<float>>;
    TF tf(RandomWalk<float>(1e-4f), TF::MeasurementCovariance::Constant(1e-4f),
          TF::StateVector::Zero(), TF::StateMatrix::Constant(1.0f));
    std::int64_t t = 0;
    ok &= soak("TimedKalmanFilter<RandomWalk<float>>", steps, [&](long long) {
      t += 90000 + static_cast<std::int64_t>((noise() + 6.0f) * 3000.0f);
      return tf.step(Timestamp{t}, TF::MeasurementVector::Constant(1e-2f * noise())).status;
    }, [&]() -> const TF::StateMatrix& { return tf.covariance(); }).ok;
  }
  {  // ScalarChannel (1-state filter + CUSUM + alarm)
    ScalarChannelConfig<float> cfg;
    cfg.q = 1e-6f;
    cfg.r = 1e-4f;
    ScalarChannel<float> ch(cfg);
    Eigen::Matrix<float, 1, 1> P;
    std::int64_t t = 0;
    ok &= soak("ScalarChannel<float>", steps, [&](long long) {
      t += 100000;
      const auto r = ch.update(cfg, Sample<float>{Timestamp{t}, 1e-2f * noise()});
      P(0) = ch.variance();
      return r.filter_status;
    }, [&]() -> const Eigen::Matrix<float, 1, 1>& { return P; }).ok;
  }
  {  // EKF and UKF on the 3-state model: fewer steps (they are 10-50x costlier per step)
    physguard_test::LinearModel3<float> lm;
    using EKF = ExtendedKalmanFilter<physguard_test::LinearModel3<float>>;
    EKF ekf(lm, EKF::StateMatrix::Identity() * 1e-4f, EKF::MeasurementCovariance::Identity() * 1e-2f,
            EKF::StateVector::Zero(), EKF::StateMatrix::Identity());
    ok &= soak("ExtendedKalmanFilter<LinearModel3<float>>", steps, [&](long long k) {
      EKF::InputVector u;
      u << ((k / 100) % 2 ? 1.0f : -1.0f);
      ekf.predict(u, 0.1f);
      EKF::MeasurementVector z;
      z << 0.1f * noise(), 0.1f * noise();
      return ekf.update(z).status;
    }, [&]() -> const EKF::StateMatrix& { return ekf.covariance(); }).ok;
    using UKF = UnscentedKalmanFilter<physguard_test::LinearModel3<float>>;
    UKF ukf(lm, UKF::StateMatrix::Identity() * 1e-4f, UKF::MeasurementCovariance::Identity() * 1e-2f,
            UKF::StateVector::Zero(), UKF::StateMatrix::Identity());
    ok &= soak("UnscentedKalmanFilter<LinearModel3<float>>", steps, [&](long long k) {
      UKF::InputVector u;
      u << ((k / 100) % 2 ? 1.0f : -1.0f);
      ukf.predict(u, 0.1f);
      UKF::MeasurementVector z;
      z << 0.1f * noise(), 0.1f * noise();
      return ukf.update(z).status;
    }, [&]() -> const UKF::StateMatrix& { return ukf.covariance(); }).ok;
  }
  std::printf("%s\n", ok ? "soak: all covariances stayed symmetric positive definite"
                         : "soak: FAILED");
  return ok ? 0 : 1;
}
