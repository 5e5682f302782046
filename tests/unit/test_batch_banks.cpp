// Channel banks (batch/): step() of every bank touches no heap, with masks, NaN lanes and
// findings (the per-bank equivalence tests are in test_batch_<bank>.cpp).
#include <doctest/doctest.h>

#include "support/bank_compare.hpp"

// One SIMD and the plain-array backend (the per-bank tests cover all four configurations).
TEST_CASE_TEMPLATE("step() of every bank touches no heap", C, FloatNative, DoubleArrays) {
  using T = typename C::T;
  using B = typename C::B;
  const std::size_t N = 3 * batch::lanes<B>() + 1;
  batch::Owning<batch::KalmanCusumBank<T, B>> kc(N);
  batch::Owning<batch::CvEwmaBank<T, B>> cv(N);
  batch::Owning<batch::SteadyKalmanCusumBank<T, B>> skc(N);
  batch::Owning<batch::SteadyCvEwmaBank<T, B>> scv(N);
  batch::Owning<batch::PlausibilityBank<T, B>> pl(N);
  typename batch::ResponseCusumBank<T, 4, B>::Settings rs;
  rs.sample_period_s = T(0.01);
  batch::Owning<batch::ResponseCusumBank<T, 4, B>> rc(N, rs);
  std::vector<T> z(N), u(N);
  std::vector<std::uint8_t> present(N, 1);
  present[1] = 0;
  FindingRing<T, 64> ring;
  StreamGen<T> g(5);
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int s = 1; s <= 200; ++s) {
      for (std::size_t i = 0; i < N; ++i) {
        z[i] = g.corrupt(T(g.n()));
        u[i] = T(g.n());
      }
      const Timestamp t = Timestamp::from_ms(10 * s);
      kc.step(t, z.data(), u.data(), present.data(), ring);
      cv.step(t, z.data(), present.data(), ring);
      skc.step(t, z.data(), u.data(), present.data(), ring);
      scv.step(t, z.data(), present.data(), ring);
      pl.step(t, z.data(), nullptr, ring);
      rc.step(t, u.data(), z.data(), present.data(), ring);
    }
  }
  CHECK(heap.count() == 0);
  CHECK(ring.total() > 0);  // findings were delivered along the way
}
