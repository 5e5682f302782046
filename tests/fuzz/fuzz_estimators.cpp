// libFuzzer target: random predict / update / masked update / reset sequences into the linear
// Kalman filters (float 1x1, float 2x1, double 3x2 with masks), the steady-state filter, the timed
// filter and ScalarChannel.  Invariants after every step: no crash (ASan/UBSan), state and
// covariance finite, covariance symmetric and positive semi-definite, a refused update leaves the
// object bit-identical.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <Eigen/Eigenvalues>

#include <physguard/compose/scalar_channel.hpp>
#include <physguard/estimate/kalman_filter.hpp>

#include "fuzz_input.hpp"

using namespace physguard;
using physguard_fuzz::Input;

namespace {

template <typename M>
void check_covariance(const M& P) {
  using T = typename M::Scalar;
  PHYSGUARD_FUZZ_CHECK(all_finite(P));
  PHYSGUARD_FUZZ_CHECK((P - P.transpose()).cwiseAbs().maxCoeff() == T(0));
  using MD = Eigen::Matrix<double, M::RowsAtCompileTime, M::ColsAtCompileTime>;
  const MD Pd = P.template cast<double>();
  Eigen::SelfAdjointEigenSolver<MD> es(Pd, Eigen::EigenvaluesOnly);
  const double scale = Pd.diagonal().cwiseAbs().maxCoeff();
  // PSD up to the rounding of the type the filter computes in.
  const double tol = 64.0 * static_cast<double>(std::numeric_limits<T>::epsilon()) * scale;
  if (!(es.eigenvalues().minCoeff() >= -tol)) {
    for (int i = 0; i < Pd.rows(); ++i) {
      for (int j = 0; j < Pd.cols(); ++j) std::fprintf(stderr, " %.9g", Pd(i, j));
      std::fprintf(stderr, "\n");
    }
    std::fprintf(stderr, "min eigenvalue %.9g, tolerance %.9g\n", es.eigenvalues().minCoeff(), tol);
  }
  PHYSGUARD_FUZZ_CHECK(es.eigenvalues().minCoeff() >= -tol);
}

template <typename Filter>
bool same_bits(const Filter& a, const unsigned char* snapshot) {
  return std::memcmp(&a, snapshot, sizeof a) == 0;
}

template <typename T, int Nx, int Nz>
void drive_kf(Input& in) {
  using KF = KalmanFilter<T, Nx, Nz>;
  typename KF::Model m;
  for (int i = 0; i < Nx; ++i)
    for (int j = 0; j < Nx; ++j) m.A(i, j) = (i == j ? T(1) : T(0)) + in.value<T>() * T(1e-3);
  for (int i = 0; i < Nz; ++i)
    for (int j = 0; j < Nx; ++j) m.C(i, j) = i == j ? T(1) : T(0);
  if (!all_finite(m.A) || m.A.cwiseAbs().maxCoeff() > T(2)) m.A.setIdentity();
  typename KF::StateMatrix Q = KF::StateMatrix::Identity() * T(1e-3);
  typename KF::MeasurementCovariance R = KF::MeasurementCovariance::Identity() * T(1e-2);
  KF kf(m, Q, R, KF::StateVector::Zero(), KF::StateMatrix::Identity());
  alignas(KF) unsigned char snap[sizeof(KF)];
  for (int step = 0; step < 256 && !in.empty(); ++step) {
    std::memcpy(snap, static_cast<const void*>(&kf), sizeof kf);
    const int op = in.byte() % 4;
    if (op == 0) {
      const Status s = kf.predict();
      if (s != Status::ok) PHYSGUARD_FUZZ_CHECK(same_bits(kf, snap));
    } else {
      typename KF::MeasurementVector z;
      for (int i = 0; i < Nz; ++i) z(i) = in.value<T>();
      const MeasurementMask mask = op == 3 ? (in.byte() & all_present(Nz)) : all_present(Nz);
      const auto rec = kf.update(z, mask);
      if (!rec.accepted) PHYSGUARD_FUZZ_CHECK(same_bits(kf, snap));
      if (rec.status == Status::ok) PHYSGUARD_FUZZ_CHECK(is_finite(rec.nis) && rec.nis >= T(0));
    }
    PHYSGUARD_FUZZ_CHECK(all_finite(kf.state()));
    check_covariance(kf.covariance());
  }
}

void drive_channel(Input& in) {
  ScalarChannelConfig<float> cfg;
  cfg.q = 1e-4f;
  cfg.r = 1e-2f;
  cfg.alarm_k = 2;
  cfg.alarm_n = 3;
  ScalarChannel<float> ch(cfg);
  std::int64_t t = 0;
  unsigned char snap[sizeof ch];
  for (int step = 0; step < 256 && !in.empty(); ++step) {
    std::memcpy(snap, &ch, sizeof ch);
    t = physguard_fuzz::add_sat(t, in.time_step_us());
    Sample<float> s{Timestamp{t}, in.value<float>(), static_cast<Quality>(in.byte() % 4)};
    const auto r = ch.update(cfg, s);
    if (r.out.has && r.out.finding.kind == FindingKind::bad_input &&
        r.out.finding.status != Status::numerical_failure && r.filter_status == Status::missing)
      PHYSGUARD_FUZZ_CHECK(std::memcmp(snap, &ch, sizeof ch) == 0);
    PHYSGUARD_FUZZ_CHECK(is_finite(ch.state_estimate()));
    PHYSGUARD_FUZZ_CHECK(is_finite(ch.variance()) && ch.variance() > 0.0f);
    PHYSGUARD_FUZZ_CHECK(is_finite(ch.cusum().upper()) && is_finite(ch.cusum().lower()));
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  switch (in.byte() % 4) {
    case 0: drive_kf<float, 1, 1>(in); break;
    case 1: drive_kf<float, 2, 1>(in); break;
    case 2: drive_kf<double, 3, 2>(in); break;
    default: drive_channel(in); break;
  }
  return 0;
}
