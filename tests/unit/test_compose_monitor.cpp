// Monitors: the firmware Monitor (tuple of pipelines) and the gateway DynamicMonitor (variant) give
// exactly the hand-computed findings; a NaN on one channel only touches that channel; counters;
// acknowledgement; no heap while feeding.
#include <doctest/doctest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <tuple>
#include <vector>

#include <physguard/compose.hpp>
#include <physguard/compose/dynamic_monitor.hpp>
#include <physguard/compose/host_sinks.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/threshold.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

// A plausibility check on whole samples: value outside [lo, hi].  Its threshold is 0 (the score
// is the distance outside the range), which exercises the alarm logic's threshold-free clearing.
template <typename T>
struct RangeCheck {
  static constexpr const char* name = "range";
  T lo, hi;
  Decision<T> update(const Sample<T>& s) const {
    const Status st = screen(s);
    if (st != Status::ok) return refused<T>(st, s.time);
    Decision<T> d;
    d.kind = FindingKind::plausibility;
    d.cause = Cause::sensor_fault;
    d.score = s.value > hi ? s.value - hi : (s.value < lo ? lo - s.value : T(0));
    d.threshold = T(0);
    d.alarm = d.score > T(0);
    return d;
  }
};

template <typename T>
using ThresholdPipe = Pipeline<StandardizedSample<T>, ThresholdDetector<T>>;
template <typename T>
using CusumPipe = Pipeline<StandardizedSample<T>, CusumDetector<T>>;
template <typename T>
using RangePipe = Pipeline<PassThrough<Sample<T>>, RangeCheck<T>>;

template <typename T>
ThresholdPipe<T> threshold_pipe(std::uint16_t channel, AlarmConfig<T> cfg = AlarmConfig<T>{}) {
  return ThresholdPipe<T>(StandardizedSample<T>(T(0), T(1)), ThresholdDetector<T>(T(3)), cfg,
                          channel);
}
template <typename T>
CusumPipe<T> cusum_pipe(std::uint16_t channel) {
  return CusumPipe<T>(StandardizedSample<T>(T(0), T(1)), CusumDetector<T>(T(0.5), T(4)),
                      AlarmConfig<T>{}, channel);
}

struct Expected {
  int sample;
  std::uint16_t channel;
  std::uint16_t detector_id;
  const char* detector;
  FindingKind kind;
  AlarmState state;
  Status status;
};

template <typename T>
void check_findings(const std::vector<Finding<T>>& got, std::vector<Expected> want, double dt_s) {
  REQUIRE(got.size() == want.size());
  for (std::size_t i = 0; i < got.size(); ++i) {
    CAPTURE(i);
    CHECK(got[i].time == Timestamp::from_seconds(dt_s * want[i].sample));
    CHECK(got[i].channel == want[i].channel);
    CHECK(got[i].detector_id == want[i].detector_id);
    CHECK(std::string(got[i].detector) == want[i].detector);
    CHECK(got[i].kind == want[i].kind);
    CHECK(got[i].state == want[i].state);
    CHECK(got[i].status == want[i].status);
  }
}

// The scenario: 4 channels, 200 samples at 10 Hz.  Channel 1: z = 5 for samples 50..59;
// channel 3: value 20 (outside [0, 10]) at sample 100; channel 2: NaN at sample 30 if `nan`.
template <typename T>
T scenario_value(int channel, int i, bool nan) {
  if (channel == 1 && i >= 50 && i < 60) return T(5);
  if (channel == 3) return i == 100 ? T(20) : T(5);
  if (channel == 2 && nan && i == 30) return std::numeric_limits<T>::quiet_NaN();
  return T(0);
}

template <typename T>
auto make_scenario_monitor() {
  return make_monitor<4>(FindingRing<T, 64>{}, threshold_pipe<T>(0), cusum_pipe<T>(0),
                         threshold_pipe<T>(1), cusum_pipe<T>(1), threshold_pipe<T>(2),
                         cusum_pipe<T>(2),
                         RangePipe<T>(PassThrough<Sample<T>>{}, RangeCheck<T>{T(0), T(10)},
                                      AlarmConfig<T>{}, 3));
}

template <typename Monitor>
void run_scenario(Monitor& m, bool nan) {
  using T = typename Monitor::Scalar;
  for (int i = 0; i < 200; ++i)
    for (std::uint16_t c = 0; c < 4; ++c)
      m.feed(c, Sample<T>{Timestamp::from_seconds(0.1 * i), scenario_value<T>(c, i, nan)});
}

template <typename T, std::size_t N>
std::vector<Finding<T>> drain(FindingRing<T, N>& ring) {
  std::vector<Finding<T>> v;
  Finding<T> f;
  while (ring.pop(f)) v.push_back(f);
  return v;
}

}  // namespace

TEST_CASE_TEMPLATE("firmware Monitor delivers exactly the hand-computed findings", T, float,
                   double) {
  auto m = make_scenario_monitor<T>();
  static_assert(decltype(m)::detector_count == 7, "");
  run_scenario(m, true);
  // CUSUM on channel 1: S+ = 4.5 at sample 50 (> 4); 45 after sample 59, then -0.5 per sample:
  // 45 - 0.5 m <= 4 first at m = 82, i.e. sample 141.
  const int cusum_clear = 59 + 82;
  check_findings(drain(m.sink()),
                 {{30, 2, 4, "threshold", FindingKind::bad_input, AlarmState::normal,
                   Status::not_finite},
                  {30, 2, 5, "cusum", FindingKind::bad_input, AlarmState::normal,
                   Status::not_finite},
                  {50, 1, 2, "threshold", FindingKind::residual, AlarmState::alarm, Status::ok},
                  {50, 1, 3, "cusum", FindingKind::residual, AlarmState::alarm, Status::ok},
                  {60, 1, 2, "threshold", FindingKind::residual, AlarmState::cleared, Status::ok},
                  {100, 3, 6, "range", FindingKind::plausibility, AlarmState::alarm, Status::ok},
                  {101, 3, 6, "range", FindingKind::plausibility, AlarmState::cleared, Status::ok},
                  {cusum_clear, 1, 3, "cusum", FindingKind::residual, AlarmState::cleared,
                   Status::ok}},
                 0.1);
  CHECK(m.sink().overwritten() == 0);
  for (std::uint16_t c = 0; c < 4; ++c) {
    CHECK(m.counters(c).samples == 200);
    CHECK(m.counters(c).unrouted == 0);
    CHECK(m.counters(c).refused == (c == 2 ? 1u : 0u));
  }
  CHECK(m.counters(1).findings == 4);
  CHECK(m.counters(2).findings == 2);
  CHECK(m.template detector<5>().statistic().upper() == T(0));
}

TEST_CASE_TEMPLATE("a NaN on one channel does not disturb the others", T, float, double) {
  auto clean = make_scenario_monitor<T>();
  auto dirty = make_scenario_monitor<T>();
  run_scenario(clean, false);
  run_scenario(dirty, true);
  auto a = drain(clean.sink());
  auto b = drain(dirty.sink());
  std::vector<Finding<T>> b_other;
  for (const auto& f : b)
    if (f.channel != 2) b_other.push_back(f);
  REQUIRE(a.size() == b_other.size());
  for (std::size_t i = 0; i < a.size(); ++i) {
    CHECK(a[i].time == b_other[i].time);
    CHECK(a[i].channel == b_other[i].channel);
    CHECK(a[i].detector_id == b_other[i].detector_id);
    CHECK(a[i].state == b_other[i].state);
    CHECK(a[i].score == b_other[i].score);
  }
  // Channel 2's own detectors are where they would be without the NaN.
  CHECK(dirty.template detector<5>().statistic().upper() ==
        clean.template detector<5>().statistic().upper());
  CHECK(dirty.template detector<4>().state() == AlarmState::normal);
  CHECK(clean.counters(2).refused == 0);
  CHECK(dirty.counters(2).refused == 1);
}

TEST_CASE_TEMPLATE("Monitor counts what it cannot route", T, float, double) {
  auto m = make_scenario_monitor<T>();
  // Wrong sample type for every pipeline: counted as unrouted, not lost.
  using Other = std::conditional_t<std::is_same<T, float>::value, double, float>;
  const auto r = m.feed(1, Sample<Other>{Timestamp::from_seconds(1), Other(100)});
  CHECK(r.detectors == 0);
  CHECK(m.counters(1).unrouted == 1);
  // Channel number beyond the monitor's capacity.
  const auto u = m.feed(9, Sample<T>{Timestamp::from_seconds(1), T(0)});
  CHECK(u.status == Status::invalid_argument);
  CHECK(m.unknown_channel() == 1);
  // A channel fed a Sample reaches both of its Sample pipelines.
  CHECK(m.feed(0, Sample<T>{Timestamp::from_seconds(1), T(0)}).detectors == 2);
}

TEST_CASE_TEMPLATE("Monitor acknowledgement releases latched alarms into the sink", T, float,
                   double) {
  AlarmConfig<T> latch;
  latch.latch = true;
  auto m = make_monitor<2>(FindingRing<T, 8>{}, threshold_pipe<T>(0, latch),
                           threshold_pipe<T>(1, latch));
  m.feed(0, Sample<T>{Timestamp::from_seconds(0), T(5)});
  m.feed(1, Sample<T>{Timestamp::from_seconds(0), T(5)});
  m.feed(0, Sample<T>{Timestamp::from_seconds(1), T(0)});
  m.feed(1, Sample<T>{Timestamp::from_seconds(1), T(0)});
  CHECK(m.sink().size() == 2);  // two alarms, still latched
  const auto r = m.acknowledge(1, Timestamp::from_seconds(2));
  CHECK(r.findings == 1);
  CHECK(m.acknowledge(7, Timestamp::from_seconds(2)).status == Status::invalid_argument);
  const auto rc = m.acknowledge_channel(0, Timestamp::from_seconds(3));
  CHECK(rc.findings == 1);
  auto f = drain(m.sink());
  REQUIRE(f.size() == 4);
  CHECK(f[2].channel == 1);
  CHECK(f[2].state == AlarmState::cleared);
  CHECK(f[2].time == Timestamp::from_seconds(2));
  CHECK(f[3].channel == 0);
  CHECK(f[3].time == Timestamp::from_seconds(3));
  CHECK(m.counters(0).findings == 2);
}

TEST_CASE_TEMPLATE("no heap in the firmware Monitor's per-sample path", T, float, double) {
  auto m = make_scenario_monitor<T>();
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int rep = 0; rep < 5; ++rep) {
      run_scenario(m, true);
      Finding<T> f;
      while (m.sink().pop(f)) {
      }
      m.acknowledge_channel(1, Timestamp::from_seconds(1000));
    }
  }
  CHECK(heap.count() == 0);
  CHECK(m.sink().total() > 0);
}

TEST_CASE_TEMPLATE("DynamicMonitor: 2000 channels configured at run time, exact findings", T, float,
                   double) {
  using Dyn = DynamicMonitor<VectorSink<T>, ThresholdPipe<T>, CusumPipe<T>, RangePipe<T>>;
  Dyn m;
  const int channels = 2000;
  m.reserve(2 * channels, channels);
  for (int c = 0; c < channels; ++c) {
    const auto ch = static_cast<std::uint16_t>(c);
    REQUIRE(m.add(ch, threshold_pipe<T>(0)).value() == 2 * c);  // channel set by add()
    REQUIRE(m.add(ch, cusum_pipe<T>(0)).value() == 2 * c + 1);
  }
  CHECK(m.size() == 4000);
  CHECK(m.channel_count() == 2000);
  // Channel c with c % 7 == 0 gets z = 5 at sample 10 + c % 50; channel 3 a NaN at sample 5.
  auto value = [](int c, int i) {
    if (c == 3 && i == 5) return std::numeric_limits<T>::quiet_NaN();
    return (c % 7 == 0 && i == 10 + c % 50) ? T(5) : T(0);
  };
  for (int i = 0; i < 80; ++i)
    for (int c = 0; c < channels; ++c)
      m.feed(static_cast<std::uint16_t>(c), Sample<T>{Timestamp::from_seconds(i), value(c, i)});

  // Expected, by hand: threshold alarm at the spike and cleared one sample later; CUSUM S+ = 4.5
  // at the spike (alarm), 4.0 one sample later (not > 4: cleared).  Two bad_input at channel 3.
  std::vector<Expected> want;
  for (int c = 0; c < channels; ++c) {
    const auto ch = static_cast<std::uint16_t>(c);
    const auto t_id = static_cast<std::uint16_t>(2 * c);
    const auto c_id = static_cast<std::uint16_t>(2 * c + 1);
    if (c == 3) {
      want.push_back({5, ch, t_id, "threshold", FindingKind::bad_input, AlarmState::normal,
                      Status::not_finite});
      want.push_back({5, ch, c_id, "cusum", FindingKind::bad_input, AlarmState::normal,
                      Status::not_finite});
    }
    if (c % 7 == 0) {
      const int s = 10 + c % 50;
      want.push_back({s, ch, t_id, "threshold", FindingKind::residual, AlarmState::alarm, Status::ok});
      want.push_back({s, ch, c_id, "cusum", FindingKind::residual, AlarmState::alarm, Status::ok});
      want.push_back(
          {s + 1, ch, t_id, "threshold", FindingKind::residual, AlarmState::cleared, Status::ok});
      want.push_back(
          {s + 1, ch, c_id, "cusum", FindingKind::residual, AlarmState::cleared, Status::ok});
    }
  }
  auto got = m.sink().findings;
  auto key = [](const Finding<T>& f) { return std::make_tuple(f.time.us, f.channel, f.detector_id); };
  std::sort(got.begin(), got.end(),
            [&](const Finding<T>& a, const Finding<T>& b) { return key(a) < key(b); });
  std::sort(want.begin(), want.end(), [](const Expected& a, const Expected& b) {
    return std::make_tuple(a.sample, a.channel, a.detector_id) <
           std::make_tuple(b.sample, b.channel, b.detector_id);
  });
  check_findings(got, want, 1.0);
  CHECK(m.counters(3).refused == 1);
  CHECK(m.counters(4).refused == 0);
  CHECK(m.counters(0).samples == 80);
  CHECK(m.feed(2000, Sample<T>{}).status == Status::invalid_argument);
  CHECK(m.unknown_channel() == 1);
}

TEST_CASE_TEMPLATE("DynamicMonitor mixes input types per channel and does not allocate to feed", T,
                   float, double) {
  DynamicMonitor<CountingSink, ThresholdPipe<T>, RangePipe<T>> m;
  for (std::uint16_t c = 0; c < 100; ++c) {
    m.add(c, threshold_pipe<T>(0));
    m.add(c, RangePipe<T>(PassThrough<Sample<T>>{}, RangeCheck<T>{T(-1), T(1)}));
  }
  physguard_test::HeapCounter heap;
  for (int i = 0; i < 50; ++i)
    for (std::uint16_t c = 0; c < 100; ++c)
      m.feed(c, Sample<T>{Timestamp::from_seconds(i), (i == 20 && c % 10 == 0) ? T(4) : T(0)});
  CHECK(heap.count() == 0);
  // 10 channels x 2 detectors x (alarm + cleared)
  CHECK(m.sink().count() == 40);
  CHECK(m.sink().count(FindingKind::plausibility) == 20);
  CHECK(m.sink().count(AlarmState::cleared) == 20);
  const auto r = m.acknowledge_channel(0, Timestamp::from_seconds(100));
  CHECK(r.detectors == 2);
  CHECK(r.findings == 0);
  CHECK(std::holds_alternative<RangePipe<T>>(m.detector(1)));
  CHECK(m.detectors_of(5).size() == 2);
}
