// examples/firmware/sizes.hpp - sizeof of every detector and estimator in float, printed as a
// Markdown table by the host (sizes_main_host.cpp) and the Cortex-M4F (sizes_main_target.cpp,
// under qemu): docs/embedded.md is generated from these programs, not guessed.
//
// The per-channel RAM target (<= 128 bytes for a scalar channel: 1-state filter + CUSUM + alarm
// logic) is checked here at compile time on both targets.
#pragma once

#include <cstddef>

#include <physguard/compose/alarm_logic.hpp>
#include <physguard/compose/estimator_sources.hpp>
#include <physguard/compose/pipeline.hpp>
#include <physguard/compose/scalar_channel.hpp>
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
#include <physguard/estimate/kalman_filter.hpp>
#include <physguard/estimate/steady_state_kalman_filter.hpp>
#include <physguard/estimate/timed_filter.hpp>
#include <physguard/signal/random_walk.hpp>

namespace sizes {

using namespace physguard;

// The per-channel RAM target of the issue: <= 128 bytes for 1-state filter + CUSUM + alarm logic.
static_assert(sizeof(ScalarChannel<float>) <= 128, "ScalarChannel<float> must fit 128 bytes");
static_assert(sizeof(ScalarChannel<float>) + sizeof(RangeCheck<float>) <= 128,
              "ScalarChannel + RangeCheck must fit 128 bytes");

template <typename Out>
void row(Out& out, const char* group, const char* type, std::size_t bytes) {
  char num[16];
  int n = 0;
  char tmp[16];
  do {
    tmp[n++] = static_cast<char>('0' + bytes % 10u);
    bytes /= 10u;
  } while (bytes != 0u);
  for (int i = 0; i < n; ++i) num[i] = tmp[n - 1 - i];
  num[n] = '\0';
  out("| ");
  out(group);
  out(" | `");
  out(type);
  out("` | ");
  out(num);
  out(" |\n");
}

#define PHYSGUARD_SIZE_ROW(group, ...) row(out, group, #__VA_ARGS__, sizeof(__VA_ARGS__))

template <typename Out>
void print_table(Out& out) {
  out("| group | type (float) | sizeof [bytes] |\n|---|---|---:|\n");
  PHYSGUARD_SIZE_ROW("statistic", ThresholdDetector<float>);
  PHYSGUARD_SIZE_ROW("statistic", CusumDetector<float>);
  PHYSGUARD_SIZE_ROW("statistic", EwmaDetector<float>);
  PHYSGUARD_SIZE_ROW("statistic", PageHinkleyDetector<float>);
  PHYSGUARD_SIZE_ROW("statistic", WindowedChiSquareDetector<float, 16>);
  PHYSGUARD_SIZE_ROW("check", RangeCheck<float>);
  PHYSGUARD_SIZE_ROW("check", RateCheck<float>);
  PHYSGUARD_SIZE_ROW("check", StuckAtCheck<float, 16>);
  PHYSGUARD_SIZE_ROW("check", NoiseChangeCheck<float, 32>);
  PHYSGUARD_SIZE_ROW("check", StalenessCheck<float>);
  PHYSGUARD_SIZE_ROW("check", RedundancyCheck<float>);
  PHYSGUARD_SIZE_ROW("check", MassBalanceInvariant<float>);
  PHYSGUARD_SIZE_ROW("consistency", DiscreteCommandResponseChecker<float>);
  PHYSGUARD_SIZE_ROW("consistency", ValveCommandResponseChecker<float>);
  PHYSGUARD_SIZE_ROW("consistency", AnalogTrackingChecker<float>);
  PHYSGUARD_SIZE_ROW("consistency", SetpointEnvelope<float>);
  PHYSGUARD_SIZE_ROW("consistency", HysteresisRuleChecker<float>);
  PHYSGUARD_SIZE_ROW("consistency", ResponseModelChecker<float, 16>);
  PHYSGUARD_SIZE_ROW("estimator", KalmanFilter<float, 1, 1>);
  PHYSGUARD_SIZE_ROW("estimator", KalmanFilter<float, 2, 1>);
  PHYSGUARD_SIZE_ROW("estimator", KalmanFilter<float, 4, 2>);
  PHYSGUARD_SIZE_ROW("estimator", SteadyStateKalmanFilter<float, 1, 1>);
  PHYSGUARD_SIZE_ROW("estimator", SteadyStateKalmanFilter<float, 2, 1>);
  PHYSGUARD_SIZE_ROW("estimator", TimedKalmanFilter<RandomWalk<float>>);
  PHYSGUARD_SIZE_ROW("estimator", Innovation<float, 1>);
  PHYSGUARD_SIZE_ROW("compose", AlarmLogic<float>);
  PHYSGUARD_SIZE_ROW("compose", Pipeline<KalmanInnovationSource<float, 1>, CusumDetector<float>>);
  PHYSGUARD_SIZE_ROW("compose", ScalarChannel<float>);
  PHYSGUARD_SIZE_ROW("compose", ScalarChannelConfig<float>);
  PHYSGUARD_SIZE_ROW("core", Finding<float>);
  PHYSGUARD_SIZE_ROW("core", Decision<float>);
}

#undef PHYSGUARD_SIZE_ROW

}  // namespace sizes
