// The gateway's processing path with a synthetic source: one poll = decode every channel from a
// register image (scaling, garbage screen), feed its detectors through the DynamicMonitor, then the
// two-channel checks.  Reported: channels per second on one core and, derived from it, how many
// channels one core keeps up with at 100 Hz polling (target >= 10,000).  Modbus and MQTT I/O are
// not included (they are bounded by the network and the PLC, not by the CPU).
#include <benchmark/benchmark.h>

#include <cstdint>
#include <string>
#include <vector>

#include <physguard/config/gateway_monitor.hpp>

using namespace physguard;
using namespace physguard::config;

namespace {

struct CountingSink {
  std::uint64_t* n;
  void operator()(const Finding<double>&) const { ++*n; }
};

/// `channels` analog channels (uint16 registers, 0..10000 -> 0..10 m); per channel the detectors
/// selected by `mix`: 0 = range + rate + CUSUM, 1 = the same plus a scalar Kalman filter + CUSUM,
/// 2 = range only.
GatewayConfig make_config(int channels, int mix) {
  GatewayConfig c;
  c.modbus.poll_period_s = 0.01;
  for (int i = 0; i < channels; ++i) {
    ChannelConfig ch;
    ch.name = "ch" + std::to_string(i);
    ch.source.table = i % 2 ? Table::input_register : Table::holding_register;
    ch.source.address = static_cast<std::uint16_t>(i / 2);
    ch.scaling = Scaling{0, 10000, 0, 10, true, 0, 10000};
    c.channels.push_back(ch);
    const auto id = static_cast<std::uint16_t>(i);
    DetectorConfig d;
    d.channel = id;
    d.params = RangeParams{0.0, 10.0, 0.0};
    c.detectors.push_back(d);
    if (mix == 2) continue;
    d.params = RateParams{50.0, 1.0};
    c.detectors.push_back(d);
    d.params = CusumParams{5.0, 0.01, 0.5, 12.0};
    c.detectors.push_back(d);
    if (mix == 1) {
      KalmanCusumParams k;
      k.q = 1e-6;
      k.r = 1e-4;
      k.x0 = 5.0;
      k.h = 12.0;
      d.params = k;
      c.detectors.push_back(d);
    }
  }
  return c;
}

void BM_GatewayPoll(benchmark::State& state) {
  const int channels = static_cast<int>(state.range(0));
  const int mix = static_cast<int>(state.range(1));
  std::uint64_t findings = 0;
  GatewayMonitor<CountingSink> gm(make_config(channels, mix), CountingSink{&findings});
  RegisterImage img = gm.image_template();
  std::uint32_t lcg = 12345;
  auto noise = [&lcg]() {
    lcg = lcg * 1664525u + 1013904223u;
    return static_cast<int>(lcg >> 28) - 8;  // -8..7 raw counts (+-8 mm)
  };
  std::int64_t t_us = 1'600'000'000'000'000;
  for (auto _ : state) {
    state.PauseTiming();
    for (auto& r : img.holding) r = static_cast<std::uint16_t>(5000 + noise());
    for (auto& r : img.input) r = static_cast<std::uint16_t>(5000 + noise());
    state.ResumeTiming();
    t_us += 10'000;  // 100 Hz
    benchmark::DoNotOptimize(gm.process(Timestamp{t_us}, img));
  }
  state.SetItemsProcessed(state.iterations() * channels);
  state.counters["channels_per_s"] =
      benchmark::Counter(static_cast<double>(state.iterations()) * channels, benchmark::Counter::kIsRate);
  state.counters["channels_at_100Hz"] = benchmark::Counter(
      static_cast<double>(state.iterations()) * channels / 100.0, benchmark::Counter::kIsRate);
  state.counters["detectors"] = static_cast<double>(gm.monitor().size());
  state.counters["findings"] = static_cast<double>(findings);
  state.counters["bytes_per_detector"] =
      static_cast<double>(sizeof(typename GatewayMonitor<CountingSink>::Monitor::Detector));
}

}  // namespace

BENCHMARK(BM_GatewayPoll)
    ->ArgNames({"channels", "mix"})
    ->Args({10000, 0})
    ->Args({10000, 1})
    ->Args({10000, 2})
    ->Args({1000, 0})
    ->Unit(benchmark::kMicrosecond);

BENCHMARK_MAIN();
