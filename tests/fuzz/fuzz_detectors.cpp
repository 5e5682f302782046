// libFuzzer target: random sample sequences (hostile values, timestamps going back, repeating,
// jumping, near the int64 limits; every quality) into every statistic, plausibility check,
// command/response checker and the alarm logic.  Invariants after every step: no crash
// (ASan/UBSan), every score finite or the input refused, a refused input leaves the detector
// bit-identical, a decision never alarms on a refused input.
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include <physguard/compose/alarm_logic.hpp>
#include <physguard/consistency/command_response.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/detect/ewma.hpp>
#include <physguard/detect/noise_change.hpp>
#include <physguard/detect/page_hinkley.hpp>
#include <physguard/detect/range_check.hpp>
#include <physguard/detect/rate_check.hpp>
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
template <typename T, bool bitwise = true, typename Box, typename Make>
void drive(Input& in, Box& box, Make make) {
  AlarmLogic<T> alarm;
  unsigned char snap[sizeof(Box)];
  for (int step = 0; step < 256 && !in.empty(); ++step) {
    std::memcpy(snap, static_cast<const void*>(&box), sizeof box);
    const auto d = make(in, box);
    check_decision<decltype(d), T>(d);
    if (bitwise && !is_used(d.status)) PHYSGUARD_FUZZ_CHECK(std::memcmp(snap, &box, sizeof box) == 0);
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
    default: {
      ValveCommandResponseChecker<T> b(Duration::from_ms(100), Duration::from_ms(2000),
                                       Duration::from_ms(1500));
      std::int64_t t = 0;
      drive<T>(in, b, [&t](Input& i, auto& box) {
        t = physguard_fuzz::add_sat(t, i.time_step_us());
        const std::uint8_t bits = i.byte();
        return box.update(Timestamp{t}, (bits & 1) != 0, (bits & 2) != 0,
                          (bits & 4) != 0);
      });
      break;
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  Input in(data, size);
  const std::uint8_t sel = in.byte();
  if (sel & 0x80)
    run<double>(in, (sel & 0x7f) % 12);
  else
    run<float>(in, sel % 12);
  return 0;
}
