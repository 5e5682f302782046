// Channel banks (batch/): ns per channel-update for 64 .. 1M channels, float and double, each bank
// beside a loop over one scalar physguard object per channel doing the same work (measured in the
// same run), plus the limits: a plain copy loop (memory bandwidth), and FMA, divide and square-root
// throughput with the banks' batch type and a dependent add chain (clock) for the arithmetic limit.
// See docs/performance.md ("Channel banks") for the numbers and how they compare.
#include <benchmark/benchmark.h>

#include <cstdint>
#include <random>
#include <vector>

#include <physguard/batch.hpp>
#include <physguard/batch/host_storage.hpp>
#include <physguard/compose/alarm_logic.hpp>
#include <physguard/compose/estimator_sources.hpp>
#include <physguard/compose/pipeline.hpp>
#include <physguard/compose/sources.hpp>
#include <physguard/consistency/response_model.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/ewma.hpp>
#include <physguard/detect/range_check.hpp>
#include <physguard/detect/rate_check.hpp>
#include <physguard/detect/stuck_at.hpp>
#include <physguard/signal/random_walk.hpp>

namespace {

using namespace physguard;
using batch::BankArithmetic;

// Counts findings without storing them (the streams below keep every channel normal: the banks'
// common path, as on a healthy plant).
struct CountSink {
  std::uint64_t* n;
  template <typename T>
  void operator()(const Finding<T>&) const noexcept {
    ++*n;
  }
};

// Four frames of measurements, cycled through: value = level +- noise_sigma * N(0, 1), the last
// two frames mirroring the first two, so that every channel's noise averages to zero over a cycle
// (a repeating noise with a non-zero mean would drive the CUSUMs into alarm).
template <typename T>
class Frames {
 public:
  Frames(std::size_t n, std::uint64_t seed, double noise_sigma, double level = 0.0)
      : f_(4, std::vector<T>(n)) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> g(0.0, 1.0);
    for (std::size_t i = 0; i < n; ++i) {
      for (std::size_t k = 0; k < 2; ++k) {
        const double e = noise_sigma * g(rng);
        f_[k][i] = T(level + e);
        f_[k + 2][i] = T(level - e);
      }
    }
  }
  const T* operator[](std::int64_t k) const { return f_[static_cast<std::size_t>(k) % 4].data(); }

 private:
  std::vector<std::vector<T>> f_;
};

// Runs step(k, t) once per benchmark iteration (a 1 ms scan period) and reports ns per
// channel-update and the findings (0 expected).
template <typename Step>
void run_scans(benchmark::State& state, std::size_t n, Step&& step) {
  std::uint64_t findings = 0;
  std::int64_t k = 0;
  for (auto _ : state) {
    ++k;
    findings += step(k, Timestamp::from_ms(k));
    benchmark::ClobberMemory();
  }
  state.counters["ns_per_update"] = benchmark::Counter(
      static_cast<double>(n),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
  state.counters["findings"] = static_cast<double>(findings);
}

// Scalar loop: update(i, k, t) on every channel, counting the findings it returns.
template <typename Update>
void run_scalar_scans(benchmark::State& state, std::size_t n, Update&& update) {
  run_scans(state, n, [&](std::int64_t k, Timestamp t) {
    std::uint64_t found = 0;
    for (std::size_t i = 0; i < n; ++i) found += update(i, k, t) ? 1 : 0;
    return found;
  });
}

// A bank's scan: step(k, t, sink) with a sink that counts the findings.
template <typename Step>
void run_bank_scans(benchmark::State& state, std::size_t n, Step&& step) {
  run_scans(state, n, [&](std::int64_t k, Timestamp t) {
    std::uint64_t found = 0;
    step(k, t, CountSink{&found});
    return found;
  });
}

// One Pipeline(src, det) per channel, each fed its value of frame k.
template <typename Src, typename Det, typename T>
void run_pipelines(benchmark::State& state, std::size_t n, const Src& src, const Det& det,
                   const Frames<T>& z) {
  std::vector<Pipeline<Src, Det>> objs;
  objs.reserve(n);
  for (std::size_t i = 0; i < n; ++i) objs.emplace_back(src, det);
  run_scalar_scans(state, n, [&](std::size_t i, std::int64_t k, Timestamp t) {
    return objs[i].update(Sample<T>{t, z[k][i]}).has;
  });
}

std::size_t channels(const benchmark::State& state) {
  return static_cast<std::size_t>(state.range(0));
}

// ---- 1-state KF (random walk) + NIS + CUSUM --------------------------------------------------
constexpr double kSigma = 0.1;  // measurement noise, all Kalman streams

template <typename T, BankArithmetic A>
void BM_KalmanCusumBank(benchmark::State& state) {
  const std::size_t n = channels(state);
  batch::Owning<batch::KalmanCusumBank<T>> bank(n, EstimatorOptions<T>{}, A);
  typename batch::KalmanCusumBank<T>::Channel ch;
  ch.q = T(1e-4);
  ch.r = T(kSigma * kSigma);
  ch.cusum_h = T(8);
  for (std::size_t i = 0; i < n; ++i) bank.configure(i, ch);
  const Frames<T> z(n, 1, kSigma);
  run_bank_scans(state, n, [&](std::int64_t k, Timestamp t, CountSink sink) {
    bank.step(t, z[k], nullptr, nullptr, sink);
  });
}

template <typename T>
void BM_KalmanCusumScalar(benchmark::State& state) {
  const std::size_t n = channels(state);
  using Src = KalmanInnovationSource<T, 1, 0>;
  const RandomWalk<T> walk(T(0.1));
  const typename Src::Filter kf(walk.model(T(0.01)), Eigen::Matrix<T, 1, 1>::Constant(T(1e-4)),
                                Eigen::Matrix<T, 1, 1>::Constant(T(kSigma * kSigma)),
                                Eigen::Matrix<T, 1, 1>::Zero(),
                                Eigen::Matrix<T, 1, 1>::Constant(T(1)));
  run_pipelines(state, n, Src(kf), CusumDetector<T>(T(0.5), T(8)), Frames<T>(n, 1, kSigma));
}

// ---- the same with the steady-state (constant) gain --------------------------------------------
template <typename T>
SteadyStateKalmanFilter<T, 1, 1, 0> steady_walk() {
  const RandomWalk<T> walk(T(0.1));
  return SteadyStateKalmanFilter<T, 1, 1, 0>(walk.model(T(0.01)),
                                             Eigen::Matrix<T, 1, 1>::Constant(T(1e-4)),
                                             Eigen::Matrix<T, 1, 1>::Constant(T(kSigma * kSigma)));
}

template <typename T, BankArithmetic A>
void BM_SteadyKalmanCusumBank(benchmark::State& state) {
  const std::size_t n = channels(state);
  batch::Owning<batch::SteadyKalmanCusumBank<T>> bank(n, EstimatorOptions<T>{}, A);
  typename batch::SteadyKalmanCusumBank<T>::Channel ch;
  ch.set_filter(steady_walk<T>());
  ch.cusum_h = T(8);
  for (std::size_t i = 0; i < n; ++i) bank.configure(i, ch);
  const Frames<T> z(n, 1, kSigma);
  run_bank_scans(state, n, [&](std::int64_t k, Timestamp t, CountSink sink) {
    bank.step(t, z[k], nullptr, nullptr, sink);
  });
}

template <typename T>
void BM_SteadyKalmanCusumScalar(benchmark::State& state) {
  const std::size_t n = channels(state);
  using Src = SteadyStateInnovationSource<T, 1, 0>;
  const auto f = steady_walk<T>();
  run_pipelines(state, n, Src(f), CusumDetector<T>(T(0.5), T(8)), Frames<T>(n, 1, kSigma));
}

template <typename T>
SteadyStateKalmanFilter<T, 2, 1, 0> steady_cv() {
  const ConstantVelocity<T> cv(T(0.1));
  return SteadyStateKalmanFilter<T, 2, 1, 0>(cv.model(T(0.001)), cv.process_noise(T(0.001)),
                                             Eigen::Matrix<T, 1, 1>::Constant(T(kSigma * kSigma)));
}

template <typename T, BankArithmetic A>
void BM_SteadyCvEwmaBank(benchmark::State& state) {
  const std::size_t n = channels(state);
  batch::Owning<batch::SteadyCvEwmaBank<T>> bank(n, EstimatorOptions<T>{}, EwmaLimits::exact, A);
  typename batch::SteadyCvEwmaBank<T>::Channel ch;
  ch.set_filter(steady_cv<T>());
  ch.ewma_L = T(4);
  for (std::size_t i = 0; i < n; ++i) bank.configure(i, ch);
  const Frames<T> z(n, 2, kSigma);
  run_bank_scans(state, n, [&](std::int64_t k, Timestamp t, CountSink sink) {
    bank.step(t, z[k], nullptr, sink);
  });
}

template <typename T>
void BM_SteadyCvEwmaScalar(benchmark::State& state) {
  const std::size_t n = channels(state);
  using Src = SteadyStateInnovationSource<T, 2, 0>;
  const auto f = steady_cv<T>();
  run_pipelines(state, n, Src(f), EwmaDetector<T>(T(0.1), T(4)), Frames<T>(n, 2, kSigma));
}

// ---- 2-state constant-velocity KF + NIS + EWMA ------------------------------------------------
template <typename T, BankArithmetic A>
void BM_CvEwmaBank(benchmark::State& state) {
  const std::size_t n = channels(state);
  batch::Owning<batch::CvEwmaBank<T>> bank(n, EstimatorOptions<T>{}, EwmaLimits::exact, A);
  typename batch::CvEwmaBank<T>::Channel ch;
  ch.set_model(ConstantVelocity<T>(T(0.1)), T(0.001));
  ch.r = T(kSigma * kSigma);
  ch.ewma_L = T(4);
  for (std::size_t i = 0; i < n; ++i) bank.configure(i, ch);
  const Frames<T> z(n, 2, kSigma);
  run_bank_scans(state, n, [&](std::int64_t k, Timestamp t, CountSink sink) {
    bank.step(t, z[k], nullptr, sink);
  });
}

template <typename T>
void BM_CvEwmaScalar(benchmark::State& state) {
  const std::size_t n = channels(state);
  using Src = KalmanInnovationSource<T, 2, 0>;
  const ConstantVelocity<T> cv(T(0.1));
  const typename Src::Filter kf(cv.model(T(0.001)), cv.process_noise(T(0.001)),
                                Eigen::Matrix<T, 1, 1>::Constant(T(kSigma * kSigma)),
                                Eigen::Matrix<T, 2, 1>::Zero(),
                                Eigen::Matrix<T, 2, 2>::Identity());
  run_pipelines(state, n, Src(kf), EwmaDetector<T>(T(0.1), T(4)), Frames<T>(n, 2, kSigma));
}

// ---- first-order-plus-dead-time response model (command -> PV) + CUSUM ------------------------
// Each channel: gain 2, tau 50 ms, dead time 0..7 ms (by channel), a constant command and a PV
// at its steady state plus noise: the model agrees, the CUSUM stays quiet.
constexpr int kMaxDelay = 8;
constexpr double kPvSigma = 0.05;

template <typename T>
ResponseModelParams<T> response_params(std::size_t i) {
  ResponseModelParams<T> p;
  p.gain = T(2);
  p.time_constant_s = T(0.05);
  p.dead_time_s = T(0.001 * static_cast<double>(i % kMaxDelay));
  p.sample_period_s = T(0.001);
  p.noise_sigma = T(kPvSigma);
  return p;
}

template <typename T>
void BM_ResponseCusumBank(benchmark::State& state) {
  const std::size_t n = channels(state);
  using Bank = batch::ResponseCusumBank<T, kMaxDelay>;
  typename Bank::Settings settings;
  settings.sample_period_s = T(0.001);
  batch::Owning<Bank> bank(n, settings);
  for (std::size_t i = 0; i < n; ++i) {
    const auto p = response_params<T>(i);
    typename Bank::Channel ch;
    ch.gain = p.gain;
    ch.time_constant_s = p.time_constant_s;
    ch.dead_time_s = p.dead_time_s;
    ch.noise_sigma = p.noise_sigma;
    ch.cusum_h = T(10);
    bank.configure(i, ch);
  }
  const Frames<T> u(n, 3, 0.0, 1.0);
  const Frames<T> pv(n, 4, kPvSigma, 2.0);
  run_bank_scans(state, n, [&](std::int64_t k, Timestamp t, CountSink sink) {
    bank.step(t, u[k], pv[k], nullptr, sink);
  });
}

template <typename T>
void BM_ResponseCusumScalar(benchmark::State& state) {
  const std::size_t n = channels(state);
  struct Channel {
    ResponseModelChecker<T, kMaxDelay> checker;
    AlarmLogic<T> alarm;
  };
  std::vector<Channel> objs;
  objs.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    objs.push_back({ResponseModelChecker<T, kMaxDelay>(response_params<T>(i),
                                                       CusumDetector<T>(T(0.5), T(10))),
                    AlarmLogic<T>()});
  const Frames<T> u(n, 3, 0.0, 1.0);
  const Frames<T> pv(n, 4, kPvSigma, 2.0);
  run_scalar_scans(state, n, [&](std::size_t i, std::int64_t k, Timestamp t) {
    return objs[i].alarm.update(objs[i].checker.update(t, u[k][i], pv[k][i])).changed;
  });
}

// ---- range / rate / stuck-at ------------------------------------------------------------------
template <typename T>
void BM_PlausibilityBank(benchmark::State& state) {
  const std::size_t n = channels(state);
  batch::Owning<batch::PlausibilityBank<T>> bank(n);
  typename batch::PlausibilityBank<T>::Channel ch;
  ch.min = T(-10);
  ch.max = T(10);
  ch.max_rate_per_s = T(1e4);
  ch.max_identical_samples = 50;
  for (std::size_t i = 0; i < n; ++i) bank.configure(i, ch);
  const Frames<T> v(n, 5, kSigma);
  run_bank_scans(state, n, [&](std::int64_t k, Timestamp t, CountSink sink) {
    bank.step(t, v[k], nullptr, sink);
  });
}

template <typename T>
void BM_PlausibilityScalar(benchmark::State& state) {
  const std::size_t n = channels(state);
  using In = PassThrough<Sample<T>>;
  struct Channel {
    Pipeline<In, RangeCheck<T>> range;
    Pipeline<In, RateCheck<T>> rate;
    Pipeline<In, StuckAtCheck<T, 2>> stuck;
  };
  std::vector<Channel> objs;
  objs.reserve(n);
  for (std::size_t i = 0; i < n; ++i)
    objs.push_back({Pipeline<In, RangeCheck<T>>(In{}, RangeCheck<T>(T(-10), T(10), T(0))),
                    Pipeline<In, RateCheck<T>>(In{}, RateCheck<T>(T(1e4))),
                    Pipeline<In, StuckAtCheck<T, 2>>(In{}, StuckAtCheck<T, 2>(T(0), 50))});
  const Frames<T> v(n, 5, kSigma);
  run_scalar_scans(state, n, [&](std::size_t i, std::int64_t k, Timestamp t) {
    const Sample<T> s{t, v[k][i]};
    Channel& c = objs[i];
    // Every check sees every sample: evaluate all three before combining.
    const bool range = c.range.update(s).has;
    const bool rate = c.rate.update(s).has;
    const bool stuck = c.stuck.update(s).has;
    return range || rate || stuck;
  });
}

// ---- limits ------------------------------------------------------------------------------------
// Plain copy loop over 8 T per channel (read) into as many (written): the memory bandwidth a
// streaming kernel can reach at that footprint; reported as bytes/s (read + written).
template <typename T>
void BM_CopyLoop(benchmark::State& state) {
  const std::size_t n = channels(state) * 8;
  std::vector<T> src(n, T(1)), dst(n);
  for (auto _ : state) {
    const T* s = src.data();
    T* d = dst.data();
    for (std::size_t i = 0; i < n; ++i) d[i] = s[i];
    benchmark::DoNotOptimize(d);
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations()) *
                          static_cast<std::int64_t>(2 * n * sizeof(T)));
}

// In-cache throughput per lane of one operation with the banks' batch type, over 4096 values:
// ns per lane-operation (Op: 0 division, 1 square root, 2 four independent FMA chains).
template <typename T, int Op>
void BM_LaneThroughput(benchmark::State& state) {
  using B = batch::Batch<T>;
  constexpr std::size_t W = batch::lanes<B>();
  const std::size_t n = 4096;
  std::vector<T> a(n, T(1.5)), b(n, T(1.25)), c(n);
  for (auto _ : state) {
    for (std::size_t i = 0; i + W <= n; i += W) {
      const B x = batch::load<B>(a.data() + i);
      B r;
      if (Op == 0) {
        r = x / batch::load<B>(b.data() + i);
      } else if (Op == 1) {
        r = batch::sqrt(x);
      } else {  // 4 chains of 8 dependent multiply-adds: 32 per lane
        B c0 = x, c1 = x + B(T(1)), c2 = x + B(T(2)), c3 = x + B(T(3));
        const B m(T(0.999)), s(T(1e-3));
        for (int k = 0; k < 8; ++k) {
          c0 = c0 * m + s;
          c1 = c1 * m + s;
          c2 = c2 * m + s;
          c3 = c3 * m + s;
        }
        r = (c0 + c1) + (c2 + c3);
      }
      batch::store(r, c.data() + i);
    }
    benchmark::DoNotOptimize(c.data());
    benchmark::ClobberMemory();
  }
  state.counters["ns_per_lane_op"] = benchmark::Counter(
      static_cast<double>(Op == 2 ? 32 * n : n),
      benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

// A dependent chain of scalar additions: ns per addition / add latency (3 cycles on Zen 4) gives
// the core clock the run actually had.
void BM_DependentAdd(benchmark::State& state) {
  double x = 0.0;
  double inc = 1e-9;
  benchmark::DoNotOptimize(inc);
  for (auto _ : state) {
    // FP addition is not associative: without -ffast-math these 4096 adds stay a serial chain.
    for (int i = 0; i < 4096; ++i) x += inc;
    benchmark::DoNotOptimize(x);
  }
  state.counters["ns_per_add"] = benchmark::Counter(
      4096.0, benchmark::Counter::kIsIterationInvariantRate | benchmark::Counter::kInvert);
}

void sizes(benchmark::internal::Benchmark* b) {
  for (long n : {64L, 256L, 1024L, 16384L, 262144L, 1048576L}) b->Arg(n);
}

}  // namespace

BENCHMARK_TEMPLATE(BM_KalmanCusumBank, float, BankArithmetic::scalar_order)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_KalmanCusumBank, float, BankArithmetic::fast)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_KalmanCusumScalar, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_KalmanCusumBank, double, BankArithmetic::scalar_order)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_KalmanCusumBank, double, BankArithmetic::fast)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_KalmanCusumScalar, double)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyKalmanCusumBank, float, BankArithmetic::scalar_order)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyKalmanCusumBank, float, BankArithmetic::fast)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyKalmanCusumScalar, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyKalmanCusumBank, double, BankArithmetic::scalar_order)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyKalmanCusumBank, double, BankArithmetic::fast)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyKalmanCusumScalar, double)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyCvEwmaBank, float, BankArithmetic::scalar_order)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyCvEwmaBank, float, BankArithmetic::fast)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyCvEwmaScalar, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyCvEwmaBank, double, BankArithmetic::scalar_order)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyCvEwmaBank, double, BankArithmetic::fast)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_SteadyCvEwmaScalar, double)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_CvEwmaBank, float, BankArithmetic::scalar_order)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_CvEwmaBank, float, BankArithmetic::fast)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_CvEwmaScalar, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_CvEwmaBank, double, BankArithmetic::scalar_order)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_CvEwmaBank, double, BankArithmetic::fast)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_CvEwmaScalar, double)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_ResponseCusumBank, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_ResponseCusumScalar, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_ResponseCusumBank, double)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_ResponseCusumScalar, double)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_PlausibilityBank, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_PlausibilityScalar, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_PlausibilityBank, double)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_PlausibilityScalar, double)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_CopyLoop, float)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_CopyLoop, double)->Apply(sizes);
BENCHMARK_TEMPLATE(BM_LaneThroughput, float, 0);
BENCHMARK_TEMPLATE(BM_LaneThroughput, float, 1);
BENCHMARK_TEMPLATE(BM_LaneThroughput, float, 2);
BENCHMARK_TEMPLATE(BM_LaneThroughput, double, 0);
BENCHMARK_TEMPLATE(BM_LaneThroughput, double, 1);
BENCHMARK_TEMPLATE(BM_LaneThroughput, double, 2);
BENCHMARK(BM_DependentAdd);

BENCHMARK_MAIN();
