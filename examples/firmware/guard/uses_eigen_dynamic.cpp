// Must NOT link: a dynamic-size Eigen matrix allocates (Eigen's aligned_malloc -> malloc).
#include <Eigen/Core>

volatile int size = 4;

extern "C" int firmware_main() {
  Eigen::MatrixXf m(size, size);
  m.setIdentity();
  return m(0, 0) > 0.0f ? 0 : 1;
}
