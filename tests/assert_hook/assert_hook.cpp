// Preconditions of the filter constructors (and of the banks' and ScalarChannel's configuration)
// reach the assertion handler an integrator installs with physguard::set_assert_handler.  A
// handler must not return, so each run checks one case: the handler prints what it was given and
// ends the process, and ctest matches the printed message.
// The case "valid" constructs every filter from valid arguments and must get through.
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <limits>

#include <physguard/batch/cv_ewma_bank.hpp>
#include <physguard/batch/host_storage.hpp>
#include <physguard/batch/kalman_cusum_bank.hpp>
#include <physguard/compose/scalar_channel.hpp>
#include <physguard/core/config.hpp>
#include <physguard/estimate/extended_kalman_filter.hpp>
#include <physguard/estimate/kalman_filter.hpp>
#include <physguard/estimate/unscented_kalman_filter.hpp>

#include "support/nonlinear_models.hpp"

namespace {

[[noreturn]] void report(const char* expression, const char* message, const char* file, int line) {
  std::printf("assertion handler: %s [%s] at %s:%d\n", message, expression, file, line);
  std::fflush(stdout);
  std::_Exit(0);
}

using T = double;
using KF = physguard::KalmanFilter<T, 2, 1, 0>;
using Model3 = physguard_test::LinearModel3<T>;
using EKF = physguard::ExtendedKalmanFilter<Model3>;
using UKF = physguard::UnscentedKalmanFilter<Model3>;

struct Arguments {
  KF::StateMatrix Q = KF::StateMatrix::Identity() * T(1e-3);
  KF::MeasurementCovariance R = KF::MeasurementCovariance::Constant(T(1e-2));
  KF::StateMatrix P = KF::StateMatrix::Identity();
  EKF::StateMatrix Q3 = EKF::StateMatrix::Identity() * T(1e-4);
  EKF::MeasurementCovariance R3 = EKF::MeasurementCovariance::Identity() * T(1e-2);
  EKF::StateMatrix P3 = EKF::StateMatrix::Identity();
};

void construct(const Arguments& a) {
  KF::Model m;
  m.A << T(1), T(0.1), T(0), T(1);
  m.C << T(1), T(0);
  const KF kf(m, a.Q, a.R, KF::StateVector::Zero(), a.P);
  const EKF ekf(Model3{}, a.Q3, a.R3, EKF::StateVector::Zero(), a.P3);
  const UKF ukf(Model3{}, a.Q3, a.R3, UKF::StateVector::Zero(), a.P3);
  std::printf("constructed: %g %g %g\n", double(kf.covariance()(0, 0)),
              double(ekf.covariance()(0, 0)), double(ukf.covariance()(0, 0)));
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: assert_hook CASE\n");
    return 2;
  }
  physguard::set_assert_handler(&report);
  const char* c = argv[1];
  const T nan = std::numeric_limits<T>::quiet_NaN();
  Arguments a;
  if (std::strcmp(c, "valid") == 0) {
  } else if (std::strcmp(c, "kf_negative_q") == 0) {
    a.Q(1, 1) = -T(1e-9);
  } else if (std::strcmp(c, "kf_negative_r") == 0) {
    a.R(0, 0) = -T(1e-2);
  } else if (std::strcmp(c, "kf_negative_p0") == 0) {
    a.P(0, 0) = -T(1e-3);
  } else if (std::strcmp(c, "kf_nan_r") == 0) {
    a.R(0, 0) = nan;
  } else if (std::strcmp(c, "ekf_negative_p0") == 0) {
    a.P3(0, 0) = -T(1);  // the KF is built first and passes
  } else if (std::strcmp(c, "ekf_negative_r") == 0) {
    a.R3(1, 1) = -T(1e-2);  // the KF is built first and passes
  } else if (std::strcmp(c, "ekf_nan_p") == 0) {
    a.P3(2, 0) = nan;
  } else if (std::strcmp(c, "ukf_negative_q") == 0) {
    // EKF and UKF share Q: the EKF is built first, so swap the order for this case.
    a.Q3(0, 0) = -T(1e-4);
    const UKF ukf(Model3{}, a.Q3, a.R3, UKF::StateVector::Zero(), a.P3);
    std::printf("no assertion for %s\n", c);
    return 1;
  } else if (std::strcmp(c, "kalman_cusum_bank_negative_p0") == 0) {
    physguard::batch::Owning<physguard::batch::KalmanCusumBank<float>> bank(4);
    physguard::batch::KalmanCusumChannel<float> ch;
    ch.p0 = -1.0f;
    bank.configure(2, ch);
    std::printf("no assertion for %s\n", c);
    return 1;
  } else if (std::strcmp(c, "cv_ewma_bank_negative_q") == 0) {
    physguard::batch::Owning<physguard::batch::CvEwmaBank<float>> bank(4);
    physguard::batch::CvEwmaChannel<float> ch;
    ch.q11 = -1e-3f;
    bank.configure(1, ch);
    std::printf("no assertion for %s\n", c);
    return 1;
  } else if (std::strcmp(c, "scalar_channel_negative_p0") == 0) {
    physguard::ScalarChannelConfig<float> cfg;
    cfg.p0 = -1.0f;
    const physguard::ScalarChannel<float> channel(cfg);
    (void)channel;
    std::printf("no assertion for %s\n", c);
    return 1;
  } else {
    std::fprintf(stderr, "unknown case %s\n", c);
    return 2;
  }
  construct(a);
  std::printf("%s for %s\n", std::strcmp(c, "valid") == 0 ? "passed" : "no assertion", c);
  return std::strcmp(c, "valid") == 0 ? 0 : 1;
}
