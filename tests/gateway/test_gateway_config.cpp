// Gateway configuration: JSON -> GatewayConfig (values, derived thresholds, every error names its
// key path), GatewayConfig -> GatewayMonitor (register decoding, scaling, the garbage screen,
// two-channel detectors on their own channel numbers, read planning, no heap per poll).
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

#include <physguard/compose/host_sinks.hpp>
#include <physguard/config/gateway_config.hpp>
#include <physguard/config/gateway_monitor.hpp>
#include <physguard/detect/arl.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;
using namespace physguard::config;

namespace {

const char* const kValid = R"({
  "site": "plant1",
  "modbus": {"host": "127.0.0.1", "port": 5020, "unit_id": 3, "poll_period_s": 0.5,
             "time_register": {"table": "input_register", "address": 8, "format": "uint32",
                               "scale_s": 0.5, "epoch_us": 1000}},
  "alarm_defaults": {"hold_off_s": 60, "k": 2, "n": 3},
  "channels": [
    {"name": "LT1", "units": "m", "source": {"table": "input_register", "address": 0},
     "scaling": {"raw_min": 0, "raw_max": 6000, "min": 0, "max": 6},
     "valid_raw": {"min": 0, "max": 6000}},
    {"name": "P1cmd", "source": {"table": "coil", "address": 0}},
    {"name": "P1fb", "source": {"table": "discrete_input", "address": 0}},
    {"name": "F", "source": {"table": "holding_register", "address": 10, "format": "float32",
                             "word_order": "low_first"}}
  ],
  "detectors": [
    {"type": "range", "channel": "LT1", "min": 0, "max": 5.2, "alarm": {"k": 1, "n": 1}},
    {"type": "cusum", "channel": "LT1", "mean": 3, "sigma": 0.01, "k": 0.5, "target_arl": 10000},
    {"type": "stuck_at", "channel": "LT1", "window": 64, "min_variance": 1e-8},
    {"type": "noise_change", "channel": "F", "learning_samples": 640, "false_alarm_probability": 1e-6},
    {"type": "kalman_cusum", "channel": "F", "process_variance": 1e-4, "measurement_variance": 1e-2,
     "initial_value": 0, "h": 8},
    {"name": "P1 contactor", "type": "discrete_command_response", "command": "P1cmd",
     "feedback": "P1fb", "max_response_s": 2}
  ],
  "sinks": {"stdout": false, "mqtt": {"port": 1884, "queue_capacity": 5}}
})";

/// Parses `text` and returns the "path: message" lines.
std::vector<std::string> errors_of(const std::string& text) {
  std::vector<std::string> out;
  for (const ConfigError& e : parse_gateway_config(text).errors) out.push_back(e.path + ": " + e.message);
  return out;
}

bool has_error_at(const std::string& text, const std::string& path) {
  for (const ConfigError& e : parse_gateway_config(text).errors)
    if (e.path == path) return true;
  return false;
}

/// kValid with one substring replaced (the replaced text must exist).
std::string with(const std::string& from, const std::string& to) {
  std::string s = kValid;
  const auto pos = s.find(from);
  REQUIRE(pos != std::string::npos);
  s.replace(pos, from.size(), to);
  return s;
}

}  // namespace

TEST_CASE("a valid configuration is read with its values and derived thresholds") {
  const ParseResult r = parse_gateway_config(kValid);
  INFO(r.message());
  REQUIRE(r.ok());
  const GatewayConfig& c = r.config;
  CHECK(c.site == "plant1");
  CHECK(c.modbus.port == 5020);
  CHECK(c.modbus.unit_id == 3);
  CHECK(c.modbus.poll_period_s == 0.5);
  CHECK(c.modbus.has_time_register);
  CHECK(c.modbus.time_source.address == 8);
  CHECK(c.modbus.time_scale_s == 0.5);
  CHECK(c.modbus.time_epoch_us == 1000);
  REQUIRE(c.channels.size() == 4);
  CHECK(c.channels[0].scaling.raw_max == 6000.0);
  CHECK(c.channels[0].scaling.has_valid_raw);
  CHECK(c.channels[1].source.format == Format::bit);
  CHECK(c.channels[3].source.format == Format::float32);
  CHECK_FALSE(c.channels[3].source.high_word_first);
  REQUIRE(c.detectors.size() == 6);
  // alarm defaults apply, per-detector overrides win
  CHECK(c.detectors[0].alarm.k == 1);
  CHECK(c.detectors[0].alarm.hold_off == Duration::from_seconds(60));
  CHECK(c.detectors[1].alarm.k == 2);
  CHECK(c.detectors[1].alarm.n == 3);
  const auto& cu = std::get<CusumParams>(c.detectors[1].params);
  CHECK(cu.h == doctest::Approx(CusumDetector<double>::threshold_for_arl(0.5, 10000.0)));
  CHECK(arl::cusum_arl(cu.k, cu.h, 0.0) == doctest::Approx(10000.0).epsilon(1e-3));
  CHECK(std::get<StuckAtParams>(c.detectors[2].params).window == 64);
  CHECK(std::get<DiscreteCommandResponseParams>(c.detectors[5].params).feedback_channel == 2);
  CHECK_FALSE(c.sinks.stdout_json);
  CHECK(c.sinks.mqtt.enabled);
  CHECK(c.sinks.mqtt.port == 1884);
  CHECK(c.sinks.mqtt.queue_capacity == 5);
}

TEST_CASE("bad configuration is rejected with the key path and the problem") {
  CHECK(errors_of("{ not json") == std::vector<std::string>{"(root): not valid JSON"});
  CHECK(has_error_at(with("\"raw_max\": 6000, \"min\": 0, \"max\": 6", "\"raw_max\": 6000, \"min\": 6, \"max\": 6"),
                     "channels[0].scaling.max"));
  CHECK(has_error_at(with("\"max\": 5.2", "\"max\": 5.2, \"threshhold\": 3"), "detectors[0].threshhold"));
  CHECK(has_error_at(with("\"channel\": \"F\", \"process", "\"channel\": \"FX\", \"process"),
                     "detectors[4].channel"));
  CHECK(has_error_at(with("\"port\": 5020", "\"port\": \"5020\""), "modbus.port"));
  CHECK(has_error_at(with("\"port\": 5020", "\"port\": 70000"), "modbus.port"));
  CHECK(has_error_at(with("\"window\": 64", "\"window\": 32"), "detectors[2].window"));
  CHECK(has_error_at(with("\"target_arl\": 10000", "\"target_arl\": 10000, \"h\": 4"),
                     "detectors[1].target_arl"));
  CHECK(has_error_at(with("\"sigma\": 0.01", "\"sigma\": -1"), "detectors[1].sigma"));
  CHECK(has_error_at(with("{\"name\": \"P1fb\"", "{\"name\": \"P1cmd\""), "channels[2].name"));
  CHECK(has_error_at(with("\"feedback\": \"P1fb\"", "\"feedback\": \"LT1\""), "detectors[5].feedback"));
  CHECK(has_error_at(with("\"table\": \"coil\"", "\"table\": \"coils\""), "channels[1].source.table"));
  CHECK(has_error_at(with("\"format\": \"float32\"", "\"format\": \"bit\""), "channels[3].source.format"));
  CHECK(has_error_at(with("\"k\": 2, \"n\": 3", "\"k\": 4, \"n\": 3"), "alarm_defaults.k"));
  CHECK(has_error_at(with("\"type\": \"range\"", "\"type\": \"ranges\""), "detectors[0].type"));
  CHECK(has_error_at(with("\"max_response_s\": 2", "\"max_response_s\": 0"), "detectors[5].max_response_s"));
  CHECK(has_error_at(with("\"queue_capacity\": 5", "\"queue_capacity\": 0"), "sinks.mqtt.queue_capacity"));
  CHECK(has_error_at(with("\"learning_samples\": 640", "\"learning_samples\": 640, \"baseline_variance\": 1"),
                     "detectors[3].baseline_variance"));
  // Several problems at once are all reported.
  const auto many = errors_of(with("\"unit_id\": 3", "\"unit_id\": 300, \"colour\": 1"));
  CHECK(many.size() == 2);
  // The message says what is wrong, not only where.
  const auto e = errors_of(with("\"window\": 64", "\"window\": 32"));
  REQUIRE(e.size() == 1);
  CHECK(e[0] == "detectors[2].window: must be 16 or 64 (the compiled-in window sizes)");
}

TEST_CASE("register decoding: word orders, signed and float formats") {
  RegisterImage img;
  img.holding.assign(8, 0);
  img.coils.assign(2, 0);
  img.coils[1] = 1;
  const float f = -12.375f;
  std::uint32_t u;
  std::memcpy(&u, &f, sizeof u);
  img.holding[0] = static_cast<std::uint16_t>(u >> 16);
  img.holding[1] = static_cast<std::uint16_t>(u & 0xFFFF);
  img.holding[2] = img.holding[1];
  img.holding[3] = img.holding[0];
  img.holding[4] = 0xFFFE;  // int16 -2, uint16 65534
  img.holding[5] = 0xFFFF;  // int32 (high first, with [6]) = -1 - 0xFFFF + ... see below
  img.holding[6] = 0x0001;
  CHECK(decode_raw(img, {Table::holding_register, 0, Format::float32, true}) == -12.375);
  CHECK(decode_raw(img, {Table::holding_register, 2, Format::float32, false}) == -12.375);
  CHECK(decode_raw(img, {Table::holding_register, 4, Format::int16, true}) == -2.0);
  CHECK(decode_raw(img, {Table::holding_register, 4, Format::uint16, true}) == 65534.0);
  // 0xFFFF0001 as int32 = -65535
  CHECK(decode_raw(img, {Table::holding_register, 5, Format::int32, true}) == -65535.0);
  CHECK(decode_raw(img, {Table::holding_register, 5, Format::uint32, true}) == 4294901761.0);
  CHECK(decode_raw(img, {Table::coil, 1, Format::bit, true}) == 1.0);
  CHECK(decode_raw(img, {Table::coil, 0, Format::bit, true}) == 0.0);
  const float nan = std::nanf("");
  std::memcpy(&u, &nan, sizeof u);
  img.holding[0] = static_cast<std::uint16_t>(u >> 16);
  img.holding[1] = static_cast<std::uint16_t>(u & 0xFFFF);
  CHECK(std::isnan(decode_raw(img, {Table::holding_register, 0, Format::float32, true})));
}

TEST_CASE("the monitor: scaling, range alarm, garbage screen, command/response channel, no heap") {
  const ParseResult r = parse_gateway_config(kValid);
  REQUIRE(r.ok());
  GatewayMonitor<VectorSink<double>> gm(r.config);
  // channels 0..3, the command/response detector gets channel 4
  CHECK(gm.channel_count() == 5);
  CHECK(gm.channel_name(4) == "P1 contactor");
  CHECK(gm.channel_name(gateway_channel) == "_gateway");
  CHECK(gm.channel_units(0) == "m");
  CHECK(gm.monitor().size() == 6);
  // Read plan: IR 0 alone; HR 10..11; coil 0; DI 0.
  REQUIRE(gm.blocks().size() == 4);
  CHECK(gm.blocks()[0].table == Table::holding_register);
  CHECK(gm.blocks()[0].start == 10);
  CHECK(gm.blocks()[0].count == 2);
  CHECK(gm.blocks()[1].table == Table::input_register);
  CHECK(gm.blocks()[1].count == 1);

  RegisterImage img = gm.image_template();
  auto& sink = gm.sink().findings;
  std::int64_t t_us = 1'000'000;
  auto poll = [&](std::uint16_t level_raw, bool cmd, bool fb) {
    img.input[0] = level_raw;
    img.coils[0] = cmd;
    img.discrete[0] = fb;
    t_us += 500'000;
    return gm.process(Timestamp{t_us}, img);
  };
  sink.reserve(64);
  // 3.000 m (raw 3000 -> 3.0 m by the scaling): no findings.
  physguard_test::HeapCounter heap;
  for (int i = 0; i < 4; ++i) CHECK(poll(static_cast<std::uint16_t>(3000 + (i % 2)), false, false) == 0);
  CHECK(heap.count() == 0);
  // 5.500 m is outside the range [0, 5.2]: one range finding (k = n = 1) on channel 0.
  sink.clear();
  poll(5500, false, false);
  bool range_alarm = false;
  for (const auto& f : sink) range_alarm |= std::string(f.detector) == "range" && f.state == AlarmState::alarm && f.channel == 0;
  CHECK(range_alarm);
  // Garbage (raw 65535 > valid_raw.max 6000): exactly one screen finding for 3 garbage polls,
  // detectors are not fed (no bad_input findings from them), then one "cleared" with the count.
  sink.clear();
  const auto fed_before = gm.monitor().counters(0).samples;
  for (int i = 0; i < 3; ++i) poll(65535, false, false);
  REQUIRE(sink.size() == 1);
  CHECK(std::string(sink[0].detector) == "gateway_screen");
  CHECK(sink[0].kind == FindingKind::bad_input);
  CHECK(sink[0].status == Status::out_of_range);
  CHECK(sink[0].score == 65535.0);
  CHECK(gm.monitor().counters(0).samples == fed_before);
  CHECK(gm.screen_counters(0).garbage == 3);
  sink.clear();
  poll(3000, false, false);
  REQUIRE(!sink.empty());
  CHECK(std::string(sink[0].detector) == "gateway_screen");
  CHECK(sink[0].state == AlarmState::cleared);
  CHECK(sink[0].score == 3.0);
  // Command ON without feedback for longer than max_response_s = 2 s -> a command_response
  // finding on the detector's own channel 4.
  sink.clear();
  for (int i = 0; i < 8; ++i) poll(3000, true, false);
  bool no_response = false;
  for (const auto& f : sink) no_response |= f.channel == 4 && f.kind == FindingKind::command_response && f.state == AlarmState::alarm;
  CHECK(no_response);
  // A block that could not be read: the channel is not fed and counted.
  img.channel_read[0] = 0;
  const auto samples_before = gm.monitor().counters(0).samples;
  poll(3000, true, true);
  CHECK(gm.monitor().counters(0).samples == samples_before);
  CHECK(gm.screen_counters(0).unread == 1);
}
