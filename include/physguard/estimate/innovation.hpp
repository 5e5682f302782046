// physguard/estimate/innovation.hpp - the per-update record every estimator returns.
#pragma once

#include <cstdint>

#include <Eigen/Core>

#include "../core/status.hpp"
#include "../core/time.hpp"

namespace physguard {

/// What one measurement update saw, in the manner of PX4's per-aid-source status:
/// innovation y = z - h(x), its covariance S, the normalised innovation squared
/// NIS = y' S^-1 y, the gate it was tested against and the test ratio NIS / gate (> 1: outside the
/// gate), the number of measurement components used (dof) and whether the measurement was fused.
///
/// Components that were missing (masked out) have y = 0 and a unit row/column in S and do not
/// count in `dof`.  When `status` is anything but ok, `accepted` is false and the estimator's state
/// is exactly what it was before the call.
template <typename T, int Nz>
struct Innovation {
  using Vector = Eigen::Matrix<T, Nz, 1>;
  using Matrix = Eigen::Matrix<T, Nz, Nz>;

  Vector y = Vector::Zero();
  Matrix S = Matrix::Zero();
  T nis = T(0);
  T gate = T(0);
  T test_ratio = T(0);
  Timestamp time{};
  std::uint8_t dof = 0;
  bool accepted = false;
  Status status = Status::missing;

  EIGEN_MAKE_ALIGNED_OPERATOR_NEW
};

/// Which components of a measurement vector are present: bit i set means component i is present.
using MeasurementMask = std::uint32_t;

/// Mask with the first `n` components present.
constexpr MeasurementMask all_present(int n) noexcept {
  return n >= 32 ? ~MeasurementMask{0} : ((MeasurementMask{1} << n) - 1u);
}

}  // namespace physguard
