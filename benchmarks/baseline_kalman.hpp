// benchmarks/baseline_kalman.hpp - the straightforward Kalman filter every benchmark compares
// against: dynamic-size Eigen matrices, the textbook update with an explicit inverse of S.
// Deliberately naive; it is the yardstick, not a recommendation.
#pragma once

#include <Eigen/Dense>

namespace physguard_bench {

template <typename T>
struct BaselineKalman {
  using Mat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic>;
  using Vec = Eigen::Matrix<T, Eigen::Dynamic, 1>;
  Mat A, H, Q, R, P;
  Vec x;
  T nis = T(0);

  void predict() {
    x = A * x;
    P = A * P * A.transpose() + Q;
  }
  void update(const Vec& z) {
    const Vec y = z - H * x;
    const Mat S = H * P * H.transpose() + R;
    const Mat Sinv = S.inverse();
    const Mat K = P * H.transpose() * Sinv;
    x = x + K * y;
    P = (Mat::Identity(P.rows(), P.cols()) - K * H) * P;
    nis = y.dot(Sinv * y);
  }
};

}  // namespace physguard_bench
