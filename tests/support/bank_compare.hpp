// tests/support/bank_compare.hpp - what the channel-bank tests share: the scalar-type x backend
// configurations, ulp comparison, finding recorders, the random stream with faults, and the tally
// of what a run exercised.  Every bank is checked against one real scalar physguard object per
// channel, float and double, all three batch backends.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include <physguard/batch.hpp>
#include <physguard/batch/host_storage.hpp>
#include <physguard/compose/estimator_sources.hpp>
#include <physguard/compose/pipeline.hpp>
#include <physguard/compose/sink.hpp>
#include <physguard/compose/sources.hpp>
#include <physguard/consistency/response_model.hpp>
#include <physguard/signal/first_order_plus_dead_time.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/ewma.hpp>
#include <physguard/detect/range_check.hpp>
#include <physguard/detect/rate_check.hpp>
#include <physguard/detect/stuck_at.hpp>
#include <physguard/signal/first_order_lag.hpp>
#include <physguard/signal/random_walk.hpp>

#include "sanitizer.hpp"

#include "heap_counter.hpp"

using namespace physguard;

namespace bank_test {

// ---- configurations: scalar type x backend ----------------------------------------------------
template <typename T_, typename B_>
struct Cfg {
  using T = T_;
  using B = B_;
};
using FloatNative = Cfg<float, batch::Batch<float>>;
using DoubleNative = Cfg<double, batch::Batch<double>>;
// the other two backends: generic vectors (what clang uses) and plain arrays (PHYSGUARD_NO_SIMD)
using FloatVectors = Cfg<float, batch::FixedBatch<float, 8>>;
using DoubleArrays = Cfg<double, batch::ArrayBatch<double, 4>>;
// Under AddressSanitizer (the CI's clang pass) two configurations -- the native batch and the
// plain arrays -- keep the instrumented build of these SIMD-heavy tests within minutes; the
// g++ pass runs all four.
#if defined(PHYSGUARD_TEST_ASAN)
#define PHYSGUARD_BANK_CONFIGS FloatNative, DoubleArrays
#else
#define PHYSGUARD_BANK_CONFIGS FloatNative, DoubleNative, FloatVectors, DoubleArrays
#endif

// ---- ulp comparison ---------------------------------------------------------------------------
// The promise: every statistic of a bank lies within kUlpBound ulp of the scalar object's, measured
// in units of the last place of max(|a|, |b|, 1) (statistics near 0 -- a CUSUM sum just off its
// clamp -- are compared at the scale of the normalised residual, 1).  Without fused multiply-add
// (the default x86-64 build) bank and scalar are bit-identical.
// BankArithmetic::fast: x and P stay within kUlpBound; the CUSUM sums add up residuals that each
// differ by 1-2 ulp, and S + z - k can cancel, so the sums are checked against a looser bound
// (in ulp of max(|S|, 1)).  Alarm decisions must still be identical.
#if defined(__FMA__) || defined(__FP_FAST_FMA) || defined(__FP_FAST_FMAF)
// With FMA the compiler may fuse a * b + c differently in the bank's vector code and in the scalar
// objects; the 1-ulp differences then accumulate in slowly forgetting quantities (a filter's
// velocity, a CUSUM sum fed by a state many ulp larger than the noise).  Measured with
// -march=native: state 137 ulp, CUSUM sums 14 400 ulp of max(|S|, 1) (2e-3).  Decisions must
// still be identical.
constexpr double kUlpBound = 512.0;
constexpr double kStatisticUlpBound = 65536.0;
constexpr double kFastStatisticUlpBound = 65536.0;
#else
constexpr double kUlpBound = 4.0;
constexpr double kStatisticUlpBound = kUlpBound;
constexpr double kFastStatisticUlpBound = 1024.0;
#endif

template <typename T>
double ulps_apart(T a, T b) {
  if (a == b) return 0.0;
  if (!std::isfinite(a) || !std::isfinite(b)) return std::numeric_limits<double>::infinity();
  const double scale = std::max({std::fabs(double(a)), std::fabs(double(b)), 1.0});
  return std::fabs(double(a) - double(b)) / (scale * double(std::numeric_limits<T>::epsilon()));
}

struct UlpTracker {
  double worst = 0.0;
  double bound = kUlpBound;
  template <typename T>
  bool ok(T a, T b) {
    const double d = ulps_apart(a, b);
    if (d > worst) worst = d;
    return d <= bound;
  }
};

template <typename T>
struct Recorded {
  Finding<T> f;
  std::size_t index;
};

template <typename T>
struct VectorSink {
  std::vector<Recorded<T>>* out;
  void operator()(const Finding<T>& f, std::size_t index) const { out->push_back({f, index}); }
};

template <typename T>
void require_same_findings(const std::vector<Recorded<T>>& bank,
                           const std::vector<Recorded<T>>& scalar, UlpTracker& ulp) {
  REQUIRE(bank.size() == scalar.size());
  for (std::size_t n = 0; n < bank.size(); ++n) {
    const Finding<T>& a = bank[n].f;
    const Finding<T>& b = scalar[n].f;
    CHECK(bank[n].index == scalar[n].index);
    CHECK(a.time == b.time);
    CHECK(a.channel == b.channel);
    CHECK(a.detector_id == b.detector_id);
    CHECK(std::strcmp(a.detector, b.detector) == 0);
    CHECK(a.kind == b.kind);
    CHECK(a.cause == b.cause);
    CHECK(a.state == b.state);
    CHECK(a.status == b.status);
    CHECK(ulp.ok(a.score, b.score));
    CHECK(ulp.ok(a.threshold, b.threshold));
  }
}

// Scalar pipeline's finding (if any) appended with the channel index.
template <typename T, typename P>
void scalar_update(P& pipeline, const typename P::input_type& in, std::size_t index,
                   std::vector<Recorded<T>>& out) {
  const auto o = pipeline.update(in);
  if (o) out.push_back({o.finding, index});
}

// Every other scan has no mask (every channel sampled: the banks' all-present code path and,
// without corrupt samples, their common path); the others drop samples at random.
inline bool masked_scan(int step) { return step % 2 == 0; }

// What a bank reported over a run: alarms raised (of one kind), refused samples, gap statuses.
struct Tally {
  int alarms = 0, bad = 0, gaps = 0;
  template <typename T>
  void add(const std::vector<Recorded<T>>& findings, FindingKind kind) {
    for (const auto& f : findings) {
      alarms += f.f.state == AlarmState::alarm && f.f.kind == kind;
      bad += f.f.kind == FindingKind::bad_input;
      gaps += f.f.status == Status::gap;
    }
  }
  // The stream exercised alarms and refused samples, and the bank counted every refusal.
  template <typename Bank>
  void check(const Bank& bank) const {
    CHECK(alarms > 0);
    CHECK(bad > 0);
    CHECK(bank.total_refused() == static_cast<std::uint64_t>(bad));
  }
};

// Random stream with rare NaNs / infinities, gaps in the mask, outliers and level shifts.
template <typename T>
struct StreamGen {
  std::mt19937_64 rng;
  std::normal_distribution<double> normal{0.0, 1.0};
  std::uniform_real_distribution<double> unif{0.0, 1.0};
  explicit StreamGen(std::uint64_t seed) : rng(seed) {}
  double n() { return normal(rng); }
  double u() { return unif(rng); }
  T corrupt(T v) {
    const double c = u();
    if (c < 0.004) return std::numeric_limits<T>::quiet_NaN();
    if (c < 0.005) return std::numeric_limits<T>::infinity();
    if (c < 0.010) return v + T(40);  // outlier: outside the NIS gate
    return v;
  }
};

}  // namespace bank_test

using namespace bank_test;
