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
#include "../consistency/control_logic.hpp"
#include "../consistency/setpoint_envelope.hpp"
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
/// Scalar Kalman filter x' = a x + w (var q), z = x + v (var r), residual y/sqrt(S) into a CUSUM.
struct KalmanCusumParams {
  double a = 1.0, q = 1e-6, r = 1e-4, x0 = 0.0, p0 = 1.0;
  double max_gap_s = 0.0;
  double gate_probability = 1.0 - 1e-6;
  double k = 0.5, h = 5.0;
};
struct NoiseChangeParams {
  int window = 16;                 ///< 16 or 64
  double baseline_variance = 0.0;  ///< > 0: known baseline; 0: learned
  int learning_samples = 0;        ///< used when baseline_variance == 0
  double false_alarm_probability = 1e-6;
  NoiseStatistic statistic = NoiseStatistic::window_variance;
  double adaptation_weight = 0.0;
};
/// Discrete command vs feedback: two bit (or 0/1) channels.
struct DiscreteCommandResponseParams {
  std::uint16_t command_channel = 0, feedback_channel = 0;
  double min_response_s = 0.0, max_response_s = 1.0;
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

using DetectorParams =
    std::variant<RangeParams, RateParams, StuckAtParams, CusumParams, PageHinkleyParams,
                 KalmanCusumParams, NoiseChangeParams, DiscreteCommandResponseParams,
                 SetpointEnvelopeConfig, HysteresisRuleParams>;

/// True for detectors that take two channels (they get a channel number of their own).
inline bool is_pair_detector(const DetectorParams& p) noexcept {
  return std::holds_alternative<DiscreteCommandResponseParams>(p) ||
         std::holds_alternative<HysteresisRuleParams>(p);
}

struct DetectorConfig {
  std::string name;             ///< unique; the topic level of a two-channel detector
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
