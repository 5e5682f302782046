// libFuzzer target: random sample sequences (hostile values, timestamps going back, repeating,
// jumping, near the int64 limits; every quality) into every statistic, plausibility check
// (including redundancy and the mass-balance invariant), consistency checker (discrete and valve
// command/response, analog tracking, setpoint envelope, hysteresis rule, response model), the
// alarm logic fed with arbitrary decisions, and a firmware Monitor.  Invariants after every step:
// no crash (ASan/UBSan), no NaN score on a used input, a refused input leaves the detector
// bit-identical and never alarms; the alarm logic's state is unchanged by a refused decision; a
// Monitor's refused input touches only the pipelines of its channel and every input is counted.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <physguard/compose/alarm_logic.hpp>
#include <physguard/compose/monitor.hpp>
#include <physguard/compose/sink.hpp>
#include <physguard/compose/sources.hpp>
#include <physguard/consistency/analog_tracking.hpp>
#include <physguard/consistency/command_response.hpp>
#include <physguard/consistency/control_logic.hpp>
#include <physguard/consistency/response_model.hpp>
#include <physguard/consistency/setpoint_envelope.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/ewma.hpp>
#include <physguard/detect/invariant.hpp>
#include <physguard/detect/noise_change.hpp>
#include <physguard/detect/page_hinkley.hpp>
#include <physguard/detect/range_check.hpp>
#include <physguard/detect/rate_check.hpp>
#include <physguard/detect/redundancy.hpp>
#include <physguard/detect/staleness.hpp>
#include <physguard/detect/stuck_at.hpp>
#include <physguard/detect/threshold.hpp>
#include <physguard/detect/windowed_chi_square.hpp>

#include "fuzz_input.hpp"

using namespace physguard;
using physguard_fuzz::Input;

namespace {

template <typename D, typename T>
void check_decision(const D& d) {
  const Decision<T>& base = d;
  if (is_used(base.status)) {
    PHYSGUARD_FUZZ_CHECK(!(base.score != base.score));  // never NaN
  } else {
    PHYSGUARD_FUZZ_CHECK(!base.alarm);
  }
}

/// Feeds `box` with update(x) for x from make(in); checks refusals leave it bit-identical (except
/// for boxes that count refusals on purpose: `bitwise` false, StalenessCheck).
/// `except_overflow`: boxes that re-align (or empty their window) on an overflowing residual, the
/// documented exception that keeps one extreme value from wedging them: numerical_failure may
/// change them.
template <typename T, bool bitwise = true, bool except_overflow = false, typename Box, typename Make>
void drive(Input& in, Box& box, Make make) {
  AlarmLogic<T> alarm;
  unsigned char snap[sizeof(Box)];
  for (int step = 0; step < 256 && !in.empty(); ++step) {
    std::memcpy(snap, static_cast<const void*>(&box), sizeof box);
    const auto d = make(in, box);
    check_decision<decltype(d), T>(d);
    if (bitwise && !is_used(d.status) && !(except_overflow && d.status == Status::numerical_failure))
      PHYSGUARD_FUZZ_CHECK(std::memcmp(snap, &box, sizeof box) == 0);
    const AlarmOutput o = alarm.update(d);
    if (!is_used(d.status)) PHYSGUARD_FUZZ_CHECK(o.changed && o.status == d.status);
  }
}

template <typename T>
struct SampleMaker {
  std::int64_t t = 0;
  template <typename Box>
  auto operator()(Input& in, Box& box) {
    t = physguard_fuzz::add_sat(t, in.time_step_us());
    Sample<T> s{Timestamp{t}, in.value<T>(), static_cast<Quality>(in.byte() % 4)};
    return box.update(s);
  }
};

template <typename T>
struct ValueMaker {
  template <typename Box>
  auto operator()(Input& in, Box& box) {
    return box.update(in.value<T>());
  }
};

/// Several samples of one scan: each with its own quality byte; the time mostly shared, sometimes
/// skewed by a hostile step.
template <typename T>
struct ScanMaker {
  std::int64_t t = 0;
  Timestamp next_time(Input& in) {
    t = physguard_fuzz::add_sat(t, in.time_step_us());
    return Timestamp{t};
  }
  Sample<T> sample(Input& in, Timestamp time) {
    const std::uint8_t b = in.byte();
    const Timestamp ts = b % 16 == 0 ? Timestamp{physguard_fuzz::add_sat(time.us, in.time_step_us())} : time;
    return Sample<T>{ts, in.value<T>(), static_cast<Quality>((b >> 4) % 4)};
  }
  Sample<bool> flag(Input& in, Timestamp time) {
    const std::uint8_t b = in.byte();
    return Sample<bool>{time, (b & 1) != 0, static_cast<Quality>((b >> 4) % 4)};
  }
};

/// AlarmLogic on its own, fed with arbitrary decisions (hostile scores, thresholds, statuses,
/// times) under a fuzzed configuration.  A refused decision changes nothing but the refusal count.
template <typename T>
void drive_alarm_logic(Input& in) {
  AlarmConfig<T> cfg;
  const std::uint8_t a = in.byte();
  const std::uint8_t b = in.byte();
  cfg.n = static_cast<std::uint8_t>(1 + b % 64);
  cfg.k = static_cast<std::uint8_t>(1 + a % cfg.n);
  cfg.warning_fraction = (a & 0x80) ? T(0.5) : T(0);
  cfg.clear_fraction = (a & 0x40) ? T(0.25) : T(1);
  cfg.latch = (b & 0x80) != 0;
  cfg.on_delay = Duration::from_ms((a & 0x20) ? 300 : 0);
  cfg.hold_off = Duration::from_ms((b & 0x40) ? 1000 : 0);
  AlarmLogic<T> alarm(cfg);
  std::int64_t t = 0;
  for (int step = 0; step < 256 && !in.empty(); ++step) {
    const std::uint8_t op = in.byte();
    t = physguard_fuzz::add_sat(t, in.time_step_us());
    if (op % 8 == 0) {
      const AlarmState before = alarm.state();
      const AlarmOutput o = alarm.acknowledge(Timestamp{t});
      PHYSGUARD_FUZZ_CHECK(o.status == Status::ok);
      if (before != AlarmState::alarm) PHYSGUARD_FUZZ_CHECK(!o.changed && alarm.state() == before);
    } else {
      Decision<T> d;
      d.time = Timestamp{t};
      d.score = in.value<T>();
      d.threshold = in.value<T>();
      d.alarm = (op & 0x10) != 0;
      d.status = static_cast<Status>(in.byte() % (static_cast<int>(Status::numerical_failure) + 1));
      const AlarmState state = alarm.state();
      const bool latched = alarm.latched();
      const bool active = alarm.condition_active();
      const AlarmState reported = alarm.reported();
      const std::uint32_t refused = alarm.refused();
      const AlarmOutput o = alarm.update(d);
      if (!is_used(o.status) && o.status != Status::not_initialised) {
        PHYSGUARD_FUZZ_CHECK(o.changed);
        PHYSGUARD_FUZZ_CHECK(alarm.refused() == refused + 1);
      }
      if (!is_used(o.status)) {
        PHYSGUARD_FUZZ_CHECK(alarm.state() == state && alarm.latched() == latched &&
                             alarm.condition_active() == active && alarm.reported() == reported);
      }
    }
    PHYSGUARD_FUZZ_CHECK(alarm.state() != AlarmState::cleared);
    if (alarm.state() == AlarmState::alarm && !alarm.condition_active()) PHYSGUARD_FUZZ_CHECK(alarm.latched());
  }
}

/// A firmware Monitor: CUSUM and threshold pipelines on channel 0, a threshold on channel 1, fed
/// on random channels (including unknown ones) with hostile samples and acknowledgements.
template <typename T>
void drive_monitor(Input& in) {
  using Cusum = Pipeline<StandardizedSample<T>, CusumDetector<T>>;
  using Thresh = Pipeline<StandardizedSample<T>, ThresholdDetector<T>>;
  AlarmConfig<T> latch;
  latch.latch = true;
  auto mon = make_monitor<2>(FindingRing<T, 8>{},
                             Cusum(StandardizedSample<T>(T(0), T(1)), CusumDetector<T>(T(0.5), T(4)),
                                   AlarmConfig<T>{}, 0),
                             Thresh(StandardizedSample<T>(T(0), T(1)), ThresholdDetector<T>(T(3)), latch, 0),
                             Thresh(StandardizedSample<T>(T(1), T(0.5)), ThresholdDetector<T>(T(3)),
                                    AlarmConfig<T>{}, 1));
  using Mon = decltype(mon);
  std::int64_t t = 0;
  std::uint32_t delivered = 0;
  std::uint32_t fed[2] = {0, 0};
  std::uint32_t unknown = 0;
  for (int step = 0; step < 256 && !in.empty(); ++step) {
    const std::uint8_t op = in.byte();
    t = physguard_fuzz::add_sat(t, in.time_step_us());
    const std::uint16_t channel = static_cast<std::uint16_t>(op % 3);
    if (op % 16 == 15) {
      const FeedResult r = mon.acknowledge_channel(channel, Timestamp{t});
      delivered += r.findings;
    } else {
      alignas(Mon) unsigned char other[sizeof(typename std::remove_reference<decltype(mon.template detector<2>())>::type)];
      std::memcpy(other, static_cast<const void*>(&mon.template detector<2>()), sizeof other);
      const CusumDetector<T> cusum_before = mon.template detector<0>().statistic();
      const Sample<T> s{Timestamp{t}, in.value<T>(), static_cast<Quality>(in.byte() % 4)};
      const FeedResult r = mon.feed(channel, s);
      delivered += r.findings;
      if (channel >= 2) {
        ++unknown;
        PHYSGUARD_FUZZ_CHECK(r.status == Status::invalid_argument && r.detectors == 0);
      } else {
        ++fed[channel];
        PHYSGUARD_FUZZ_CHECK(r.detectors == (channel == 0 ? 2 : 1));
        if (!is_used(screen(s))) PHYSGUARD_FUZZ_CHECK(r.refused && r.findings == r.detectors);
        // A refused input (bad value or time going back) never moves the channel's statistic.
        if (channel == 0 && r.refused)
          PHYSGUARD_FUZZ_CHECK(std::memcmp(&cusum_before, &mon.template detector<0>().statistic(),
                                           sizeof cusum_before) == 0);
      }
      if (channel != 1)  // channel 1's pipeline is untouched by anything else
        PHYSGUARD_FUZZ_CHECK(std::memcmp(other, static_cast<const void*>(&mon.template detector<2>()), sizeof other) == 0);
    }
    const auto& c = mon.template detector<0>().statistic();
    // Never NaN (a sum driven by FLT_MAX samples may saturate at +inf: an alarm until reset).
    PHYSGUARD_FUZZ_CHECK(!(c.upper() != c.upper()) && !(c.lower() != c.lower()));
    PHYSGUARD_FUZZ_CHECK(mon.counters(0).samples == fed[0] && mon.counters(1).samples == fed[1]);
    PHYSGUARD_FUZZ_CHECK(mon.unknown_channel() == unknown);
    PHYSGUARD_FUZZ_CHECK(mon.sink().total() == delivered);
  }
}

template <typename T>
void run(Input& in, int which) {
  switch (which) {
    case 0: { CusumDetector<T> b(T(0.5), T(5)); drive<T>(in, b, ValueMaker<T>{}); break; }
    case 1: { EwmaDetector<T> b(T(0.2), T(3)); drive<T>(in, b, ValueMaker<T>{}); break; }
    case 2: { PageHinkleyDetector<T> b(T(0.1), T(5), T(0.01)); drive<T>(in, b, ValueMaker<T>{}); break; }
    case 3: { ThresholdDetector<T> b(T(3)); drive<T>(in, b, ValueMaker<T>{}); break; }
    case 4: { WindowedChiSquareDetector<T, 8> b(T(20)); drive<T>(in, b, ValueMaker<T>{}); break; }
    case 5: { RangeCheck<T> b(T(-10), T(10)); drive<T>(in, b, SampleMaker<T>{}); break; }
    case 6: { RateCheck<T> b(T(5), Duration::from_seconds(10)); drive<T>(in, b, SampleMaker<T>{}); break; }
    case 7: { StuckAtCheck<T, 8> b(T(1e-6), 4); drive<T>(in, b, SampleMaker<T>{}); break; }
    case 8: {
      auto b = NoiseChangeCheck<T, 16>::with_baseline(T(1), 1e-4);
      drive<T>(in, b, SampleMaker<T>{});
      break;
    }
    case 9: { StalenessCheck<T> b(Duration::from_seconds(5)); drive<T, false>(in, b, SampleMaker<T>{}); break; }
    case 10: {
      DiscreteCommandResponseChecker<T> b(Duration::from_ms(100), Duration::from_ms(2000));
      std::int64_t t = 0;
      drive<T>(in, b, [&t](Input& i, auto& box) {
        t = physguard_fuzz::add_sat(t, i.time_step_us());
        const std::uint8_t bits = i.byte();
        return box.update(Sample<bool>{Timestamp{t}, (bits & 1) != 0, static_cast<Quality>((bits >> 4) % 4)},
                          Sample<bool>{Timestamp{t}, (bits & 2) != 0, static_cast<Quality>((bits >> 6) % 4)});
      });
      break;
    }
    case 11: {
      ValveCommandResponseChecker<T> b(Duration::from_ms(100), Duration::from_ms(2000),
                                       Duration::from_ms(1500));
      std::int64_t t = 0;
      drive<T>(in, b, [&t](Input& i, auto& box) {
        t = physguard_fuzz::add_sat(t, i.time_step_us());
        const std::uint8_t bits = i.byte();
        if (bits & 0x80)  // the sample path: each input with its own quality
          return box.update(Sample<bool>{Timestamp{t}, (bits & 1) != 0, static_cast<Quality>((bits >> 3) % 4)},
                            Sample<bool>{Timestamp{t}, (bits & 2) != 0, static_cast<Quality>((bits >> 5) % 4)},
                            Sample<bool>{Timestamp{t}, (bits & 4) != 0, Quality::good});
        return box.update(Timestamp{t}, (bits & 1) != 0, (bits & 2) != 0,
                          (bits & 4) != 0);
      });
      break;
    }
    case 12: {
      RedundancyCheck<T> b = (in.byte() & 1) ? RedundancyCheck<T>(T(0.5), 2)
                                             : RedundancyCheck<T>(T(0.1), T(0.2), T(4), 3);
      ScanMaker<T> m;
      drive<T>(in, b, [&m](Input& i, auto& box) {
        const Timestamp t = m.next_time(i);
        const Sample<T> a = m.sample(i, t);
        return box.update(a, m.sample(i, t));
      });
      break;
    }
    case 13: {
      const bool normalised = (in.byte() & 1) != 0;
      MassBalanceCheck<T, 3> b(normalised ? MassBalanceInvariant<T, 3>(T(2), T(1e-3), T(1e-3), T(0.01), Duration::from_seconds(60))
                                          : MassBalanceInvariant<T, 3>(T(2)),
                               T(4), 2);
      ScanMaker<T> m;
      drive<T, true, true>(in, b, [&m](Input& i, auto& box) {
        const Timestamp t = m.next_time(i);
        typename MassBalanceCheck<T, 3>::Samples s3;
        for (auto& x : s3) x = m.sample(i, t);
        return box.update(s3);
      });
      break;
    }
    case 14: {
      AnalogTrackingParams<T> p;
      p.gain = (in.byte() & 1) ? T(0.5) : T(2);  // feedback / gain overflows for gains below 1
      p.max_rate_per_s = T(10);
      p.time_constant_s = T(0.5);
      p.noise_sigma = T(0.5);
      AnalogTrackingChecker<T> b(p, CusumDetector<T>(T(1), T(8)));
      ScanMaker<T> m;
      drive<T, true, true>(in, b, [&m](Input& i, auto& box) {
        const Timestamp t = m.next_time(i);
        const Sample<T> c = m.sample(i, t);
        return box.update(c, m.sample(i, t));
      });
      break;
    }
    case 15: {
      SetpointEnvelopeParams<T> p;
      p.min_setpoint = T(0);
      p.max_setpoint = T(5);
      p.max_rate_per_s = T(0.5);
      p.max_step = T(1);
      p.max_ratio = T(3);
      p.baseline_time_constant_s = T(3600);
      SetpointEnvelope<T> b(p);
      drive<T>(in, b, SampleMaker<T>{});
      break;
    }
    case 16: {
      HysteresisRuleChecker<T> b(T(1), T(3), (in.byte() & 1) ? HysteresisSense::on_below_low : HysteresisSense::on_above_high,
                                 Duration::from_ms(500), T(0.1));
      ScanMaker<T> m;
      drive<T>(in, b, [&m](Input& i, auto& box) {
        const Timestamp t = m.next_time(i);
        const Sample<T> level = m.sample(i, t);
        return box.update(level, m.flag(i, t));
      });
      break;
    }
    case 17: {
      ResponseModelParams<T> p;
      p.gain = T(2);
      p.time_constant_s = T(5);
      p.dead_time_s = T(0.3);
      p.sample_period_s = T(0.1);
      p.noise_sigma = T(0.1);
      const std::uint8_t opt = in.byte();
      p.bias_time_constant_s = (opt & 1) ? T(600) : T(0);
      p.assume_steady_start = (opt & 2) != 0;
      ResponseModelChecker<T, 8> b(p, CusumDetector<T>(T(0.5), T(6)));
      ScanMaker<T> m;
      drive<T, true, true>(in, b, [&m](Input& i, auto& box) {
        const Timestamp t = m.next_time(i);
        const Sample<T> u = m.sample(i, t);
        return box.update(u, m.sample(i, t));
      });
      break;
    }
    case 18: drive_alarm_logic<T>(in); break;
    default: drive_monitor<T>(in); break;
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  const std::uint8_t sel = in.byte();
  if (sel & 0x80)
    run<double>(in, (sel & 0x7f) % 20);
  else
    run<float>(in, sel % 20);
  return 0;
}
