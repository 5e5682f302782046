// physguard/config/gateway_types.hpp - HOST-ONLY: the validated, in-memory form of a gateway
// configuration (what config/gateway_config.hpp parses from JSON and config/gateway_monitor.hpp
// builds a Monitor from).  Plain structs, std::string and std::vector: no JSON library needed, so
// programs and benchmarks can also build a configuration in code.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <variant>
#include <vector>

#include "../compose/alarm_logic.hpp"
#include "../compose/pipeline.hpp"
#include "../consistency/analog_tracking.hpp"
#include "../consistency/control_logic.hpp"
#include "../consistency/response_model.hpp"
#include "../consistency/setpoint_envelope.hpp"
#include "../core/finding.hpp"
#include "../detect/ewma.hpp"
#include "../detect/noise_change.hpp"

namespace physguard {
namespace config {

/// Channels plus two-channel detectors must stay below this (0xFFFF is the gateway's own).
constexpr std::size_t gateway_channel_limit = 65535;

/// The four Modbus data tables.
enum class Table : std::uint8_t { holding_register = 0, input_register, coil, discrete_input };

constexpr bool is_bit_table(Table t) noexcept {
  return t == Table::coil || t == Table::discrete_input;
}

constexpr const char* to_string(Table t) noexcept {
  switch (t) {
    case Table::holding_register: return "holding_register";
    case Table::input_register: return "input_register";
    case Table::coil: return "coil";
    case Table::discrete_input: return "discrete_input";
  }
  return "unknown";
}

/// How a value is encoded in 16-bit registers (bits: always `bit`).
enum class Format : std::uint8_t { bit = 0, uint16, int16, uint32, int32, float32 };

constexpr int register_count(Format f) noexcept {
  return f == Format::uint32 || f == Format::int32 || f == Format::float32 ? 2 : 1;
}

/// Where a channel's raw value comes from.
struct ChannelSource {
  Table table = Table::holding_register;
  std::uint16_t address = 0;            ///< 0-based protocol address (register or bit number)
  Format format = Format::uint16;
  bool high_word_first = true;          ///< 32-bit values: the register at `address` is the high word
};

/// raw -> engineering value: value = min + (raw - raw_min) * (max - min) / (raw_max - raw_min).
/// Identity by default.  `valid_raw_min/max`: raw values outside are garbage (the channel's sample
/// is not used and a bad_input finding from the gateway's screen says so); NaN raw is always garbage.
struct Scaling {
  double raw_min = 0.0;
  double raw_max = 1.0;
  double min = 0.0;
  double max = 1.0;
  bool has_valid_raw = false;
  double valid_raw_min = 0.0;
  double valid_raw_max = 0.0;
};

struct ChannelConfig {
  std::string name;    ///< unique; becomes the MQTT topic level
  std::string units;   ///< informational ("m", "m3/s", "ppm"), carried into published findings
  ChannelSource source;
  Scaling scaling;
};

// ---- detector parameters (one struct per detector type) --------------------------------------
struct RangeParams {
  double min = 0.0, max = 1.0, margin_fraction = 0.0;
};
struct RateParams {
  double max_rate_per_s = 1.0, max_gap_s = 0.0;
};
struct StuckAtParams {
  int window = 16;  ///< 16 or 64 samples (compiled-in window sizes)
  double min_variance = 0.0;
  int max_identical_samples = 16;
};
struct CusumParams {
  double mean = 0.0, sigma = 1.0;  ///< z = (x - mean) / sigma
  double k = 0.5, h = 5.0;         ///< h given, or derived from target_arl by the parser
};
struct PageHinkleyParams {
  double delta = 0.0, lambda = 1.0, alpha = 0.0;
  std::uint32_t warmup_samples = 1;
};
/// Scalar Kalman model shared by the kalman_* detectors (one step per fed sample):
///     x' = a x + b u + w (var q),   z = x + v (var r)
/// u is the value of the input channel (first-order lag: a = exp(-Ts/tau), b = K (1 - a)); without
/// an input channel b = 0 (a = 1: random walk).
struct KalmanModelParams {
  double a = 1.0, q = 1e-6, r = 1e-4, x0 = 0.0, p0 = 1.0;
  double max_gap_s = 0.0;
  double gate_probability = 1.0 - 1e-6;
  double b = 0.0;
  bool has_input = false;
  std::uint16_t input_channel = 0;
};
/// Kalman residual y/sqrt(S) into a CUSUM.
struct KalmanCusumParams : KalmanModelParams {
  double k = 0.5, h = 5.0;
};
/// Kalman residual y/sqrt(S) into the threshold test |z| > h.
struct KalmanThresholdParams : KalmanModelParams {
  double h = 5.0;
};
/// Kalman residual y/sqrt(S) into an EWMA chart.
struct KalmanEwmaParams : KalmanModelParams {
  double lambda = 0.1, L = 3.0;
  EwmaLimits limits = EwmaLimits::exact;
};
/// Kalman NIS into a windowed chi-square test (window: one of kalman_chi_square_windows).
struct KalmanChiSquareParams : KalmanModelParams {
  int window = 10;
  double h = 30.0;  ///< threshold on the sum of a full window
};
/// The compiled-in window lengths of kalman_chi_square.
constexpr int kalman_chi_square_windows[] = {5, 10, 20, 50};

struct NoiseChangeParams {
  int window = 16;                 ///< 16 or 64
  double baseline_variance = 0.0;  ///< > 0: known baseline; 0: learned
  int learning_samples = 0;        ///< used when baseline_variance == 0
  double false_alarm_probability = 1e-6;
  NoiseStatistic statistic = NoiseStatistic::window_variance;
  double adaptation_weight = 0.0;
};
/// Shewhart test |z| > h on z = (x - mean) / sigma.
struct ThresholdParams {
  double mean = 0.0, sigma = 1.0, h = 5.0;
};
/// EWMA chart on z = (x - mean) / sigma.
struct EwmaParams {
  double mean = 0.0, sigma = 1.0, lambda = 0.1, L = 3.0;
  EwmaLimits limits = EwmaLimits::exact;
};
/// Gap between two accepted samples longer than max_age_s; time going back or repeating.
struct StalenessParams {
  double max_age_s = 1.0;
};
/// Discrete command vs feedback: two bit (or 0/1) channels.
struct DiscreteCommandResponseParams {
  std::uint16_t command_channel = 0, feedback_channel = 0;
  double min_response_s = 0.0, max_response_s = 1.0;
};
/// On/off valve: open command and the open and closed limit switches (bit channels).
struct ValveCommandResponseParams {
  std::uint16_t command_channel = 0, open_channel = 0, closed_channel = 0;
  double min_response_s = 0.0, max_response_s = 1.0, max_travel_s = 1.0;
};
struct SetpointEnvelopeConfig {
  SetpointEnvelopeParams<double> params;
};
/// Two-point controller rule: a level channel and the actuator state channel (nonzero = on).
struct HysteresisRuleParams {
  std::uint16_t level_channel = 0, actuator_channel = 0;
  double low = 0.0, high = 1.0, level_margin = 0.0, switch_tolerance_s = 1.0;
  HysteresisSense sense = HysteresisSense::on_below_low;
};
/// Two sensors of one quantity: |a - b| > tolerance, or normalised |a - b| / sqrt(sa^2 + sb^2) > k.
struct RedundancyParams {
  std::uint16_t a_channel = 0, b_channel = 0;
  bool normalised = false;
  double tolerance = 1.0;             ///< absolute mode, channel unit
  double sigma_a = 0.0, sigma_b = 0.0, k = 4.0;  ///< normalised mode
  int persistence = 1;
};
/// Tank mass balance: level [m], inflows and outflows [m3/s] (each the sum of its channels).
struct MassBalanceParams {
  std::uint16_t level_channel = 0;
  std::vector<std::uint16_t> inflow_channels, outflow_channels;
  double area_m2 = 1.0;
  int intervals = 1;  ///< one of mass_balance_intervals
  bool normalised = false;
  double inflow_sigma_m3_per_s = 0.0, outflow_sigma_m3_per_s = 0.0, level_sigma_m = 0.0;
  double tolerance = 1.0;  ///< m3/s, or sigmas when normalised
  int persistence = 1;
  double max_gap_s = 0.0;
  Cause cause = Cause::suspected_attack;
};
/// The compiled-in integration lengths (sampling intervals) of mass_balance.
constexpr int mass_balance_intervals[] = {1, 10, 60, 300};
/// Position command vs position feedback through a rate-limited actuator and a lag, CUSUM on z.
struct AnalogTrackingConfig {
  std::uint16_t command_channel = 0, feedback_channel = 0;
  AnalogTrackingParams<double> params;
  double k = 0.5, h = 5.0;
};
/// Input (setpoint / command) vs process variable through a FOPDT model, CUSUM on z.
struct ResponseModelConfig {
  std::uint16_t input_channel = 0, pv_channel = 0;
  ResponseModelParams<double> params;
  double k = 0.5, h = 5.0;
};
/// Dead times up to this many model steps run inline; longer ones (up to
/// response_model_max_delay_samples) in a heap-held pipeline.
constexpr int response_model_inline_delay_samples = 64;
constexpr int response_model_max_delay_samples = 1024;

using DetectorParams =
    std::variant<RangeParams, RateParams, StuckAtParams, CusumParams, PageHinkleyParams,
                 KalmanCusumParams, NoiseChangeParams, DiscreteCommandResponseParams,
                 SetpointEnvelopeConfig, HysteresisRuleParams, ThresholdParams, EwmaParams,
                 StalenessParams, KalmanThresholdParams, KalmanEwmaParams, KalmanChiSquareParams,
                 ValveCommandResponseParams, RedundancyParams, MassBalanceParams,
                 AnalogTrackingConfig, ResponseModelConfig>;

/// True for detectors that take several channels (they get a channel number of their own).  A
/// kalman_* detector with an input channel is not one: its findings are about its measured channel.
inline bool is_pair_detector(const DetectorParams& p) noexcept {
  return std::holds_alternative<DiscreteCommandResponseParams>(p) ||
         std::holds_alternative<HysteresisRuleParams>(p) ||
         std::holds_alternative<ValveCommandResponseParams>(p) ||
         std::holds_alternative<RedundancyParams>(p) ||
         std::holds_alternative<MassBalanceParams>(p) ||
         std::holds_alternative<AnalogTrackingConfig>(p) ||
         std::holds_alternative<ResponseModelConfig>(p);
}

/// The Kalman model of a kalman_* detector, nullptr for any other.
inline const KalmanModelParams* kalman_model(const DetectorParams& p) noexcept {
  if (const auto* k = std::get_if<KalmanCusumParams>(&p)) return k;
  if (const auto* k = std::get_if<KalmanThresholdParams>(&p)) return k;
  if (const auto* k = std::get_if<KalmanEwmaParams>(&p)) return k;
  if (const auto* k = std::get_if<KalmanChiSquareParams>(&p)) return k;
  return nullptr;
}

struct DetectorConfig {
  std::string name;             ///< unique; the topic level of a multi-channel detector
  std::uint16_t channel = 0;    ///< channel index (single-channel detectors)
  DetectorParams params;
  AlarmConfig<double> alarm;    ///< the configuration's defaults, overridden per detector
  PipelineOptions options;
};

struct ModbusConfig {
  std::string host = "127.0.0.1";
  int port = 502;
  int unit_id = 1;
  double poll_period_s = 1.0;
  double response_timeout_s = 0.5;
  double reconnect_min_s = 0.1;   ///< first back-off after a failure
  double reconnect_max_s = 5.0;   ///< back-off doubles up to this
  /// Optional PLC clock: a uint32 register pair counting `time_scale_s` seconds; samples are then
  /// stamped time_epoch_us + count * time_scale_s and a poll whose PLC time did not advance is not
  /// fed (the PLC has not scanned since).  Without it the gateway's clock stamps the samples.
  bool has_time_register = false;
  ChannelSource time_source{Table::input_register, 0, Format::uint32, true};
  double time_scale_s = 1.0;
  std::int64_t time_epoch_us = 0;
};

struct MqttConfig {
  bool enabled = false;
  std::string host = "127.0.0.1";
  int port = 1883;
  std::string client_id = "physguard-gateway";
  std::string topic_prefix = "physguard";   ///< topic: <prefix>/<site>/<channel or detector name>
  int qos = 1;
  int keepalive_s = 30;
  std::size_t queue_capacity = 10000;       ///< findings held while the broker is away
};

struct SinkConfig {
  bool stdout_json = true;
  MqttConfig mqtt;
};

struct GatewayConfig {
  std::string site = "site";
  ModbusConfig modbus;
  std::vector<ChannelConfig> channels;
  std::vector<DetectorConfig> detectors;
  SinkConfig sinks;
};

}  // namespace config
}  // namespace physguard
