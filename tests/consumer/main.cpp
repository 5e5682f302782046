// Downstream use of physguard: a scalar random-walk Kalman filter fed a constant.
#include <physguard/physguard.hpp>

#include <cstdio>

int main() {
  using KF = physguard::KalmanFilter<float, 1, 1>;
  KF::Model model;
  model.A << 1.0f;
  model.C << 1.0f;
  KF kf(model, KF::StateMatrix::Constant(1e-4f), KF::MeasurementCovariance::Constant(0.01f),
        KF::StateVector::Zero(), KF::StateMatrix::Constant(1.0f));
  for (int k = 0; k < 200; ++k) {
    kf.predict();
    const auto rec = kf.update(KF::MeasurementVector::Constant(2.0f));
    if (rec.status != physguard::Status::ok && k > 20) return 2;
  }
  const float x = kf.state()(0);
  std::printf("consumer: state %.4f\n", static_cast<double>(x));
  return (x > 1.99f && x < 2.01f) ? 0 : 1;
}
