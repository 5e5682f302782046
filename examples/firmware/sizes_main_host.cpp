// examples/firmware/sizes_main_host.cpp - the sizeof table on the host (x86-64 / aarch64).
#include <cstdio>

#include "sizes.hpp"

#include <physguard/estimate/extended_kalman_filter.hpp>
#include <physguard/estimate/unscented_kalman_filter.hpp>

#include "../../tests/support/nonlinear_models.hpp"  // a 3-state model for the EKF / UKF rows

int main() {
  auto out = [](const char* s) { std::fputs(s, stdout); };
  sizes::print_table(out);
  // Nonlinear filters need a model type; the host table shows them with the 3-state test model.
  using Model = physguard_test::LinearModel3<float>;
  sizes::row(out, "estimator (host only)", "ExtendedKalmanFilter<LinearModel3<float>>",
             sizeof(physguard::ExtendedKalmanFilter<Model>));
  sizes::row(out, "estimator (host only)", "UnscentedKalmanFilter<LinearModel3<float>>",
             sizeof(physguard::UnscentedKalmanFilter<Model>));
  return 0;
}
