// Gateway configuration: JSON -> GatewayConfig (values, derived thresholds, every error names its
// key path), GatewayConfig -> GatewayMonitor (register decoding, scaling, the garbage screen,
// multi-channel detectors on their own channel numbers, read planning, no heap per poll), and for
// every detector kind a configuration whose monitor stays quiet on a clean stream and fires on a
// crafted one, plus bad configurations of each kind rejected at their key path.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include <physguard/compose/host_sinks.hpp>
#include <physguard/config/gateway_config.hpp>
#include <physguard/config/gateway_monitor.hpp>
#include <physguard/core/statistics.hpp>
#include <physguard/detect/arl.hpp>
#include <physguard/signal/first_order_lag.hpp>
#include <physguard/signal/first_order_plus_dead_time.hpp>
#include <physguard/signal/rate_limited_actuator.hpp>

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

// ---- every detector kind: a configuration that stays quiet on clean data and fires on an attack --

namespace {

/// A float32 holding-register channel (raw value = engineering value) at register 2 * slot.
std::string analog(const char* name, int slot) {
  return std::string(R"({"name": ")") + name +
         R"(", "source": {"table": "holding_register", "address": )" + std::to_string(2 * slot) +
         R"(, "format": "float32"}})";
}
/// A coil channel at bit `slot`.
std::string coil(const char* name, int slot) {
  return std::string(R"({"name": ")") + name + R"(", "source": {"table": "coil", "address": )" +
         std::to_string(slot) + "}}";
}
std::string config_text(const std::string& channels, const std::string& detectors,
                        const char* poll_period_s = "0.1") {
  return std::string(R"({"modbus": {"poll_period_s": )") + poll_period_s + R"(}, "channels": [)" +
         channels + R"(], "detectors": [)" + detectors + "]}";
}
GatewayConfig parsed(const std::string& text) {
  const ParseResult r = parse_gateway_config(text);
  INFO(r.message());
  REQUIRE(r.ok());
  return r.config;
}

/// A GatewayMonitor fed poll by poll: set() writes a channel's value into the register image.
struct Rig {
  GatewayMonitor<VectorSink<double>> gm;
  RegisterImage img;
  std::int64_t t_us = 1'600'000'000'000'000;
  std::int64_t period_us;

  explicit Rig(const GatewayConfig& c)
      : gm(c), img(gm.image_template()), period_us(std::llround(c.modbus.poll_period_s * 1e6)) {
    gm.sink().findings.reserve(4096);
  }
  void set(const std::string& name, double v) {
    for (const ChannelConfig& c : gm.config().channels) {
      if (c.name != name) continue;
      if (is_bit_table(c.source.table)) {
        img.bits(c.source.table)[c.source.address] = v != 0.0;
      } else {
        const float f = static_cast<float>(v);
        std::uint32_t u;
        std::memcpy(&u, &f, sizeof u);
        img.holding[c.source.address] = static_cast<std::uint16_t>(u >> 16);
        img.holding[c.source.address + 1u] = static_cast<std::uint16_t>(u & 0xFFFF);
      }
      return;
    }
    FAIL("no channel " << name);
  }
  std::size_t poll(std::int64_t dt_us = 0) {
    t_us += dt_us > 0 ? dt_us : period_us;
    return gm.process(Timestamp{t_us}, img);
  }
  const std::vector<Finding<double>>& findings() { return gm.sink().findings; }
  /// Index of the first alarm finding from `detector` on `channel`, or -1.
  long first_alarm(const char* detector, std::uint16_t channel) {
    const auto& fs = findings();
    for (std::size_t i = 0; i < fs.size(); ++i)
      if (std::string(fs[i].detector) == detector && fs[i].channel == channel &&
          fs[i].state == AlarmState::alarm)
        return static_cast<long>(i);
    return -1;
  }
};

/// Summary of one run: the findings and at which poll the first alarm of interest came.
struct Run {
  std::vector<Finding<double>> findings;
  long alarm_poll = -1;
};

/// Single-precision rounding of the float32 registers, for reference computations in the tests.
double f32(double v) { return static_cast<double>(static_cast<float>(v)); }

}  // namespace

TEST_CASE("threshold and ewma on a raw channel: ARL thresholds, quiet on noise, alarm on a change") {
  const std::string text = config_text(
      analog("X", 0),
      R"({"type": "threshold", "channel": "X", "mean": 5, "sigma": 0.1, "target_arl": 1e6},
         {"type": "ewma", "channel": "X", "mean": 5, "sigma": 0.1, "lambda": 0.1, "target_arl": 1e5,
          "limits": "asymptotic"})");
  const GatewayConfig c = parsed(text);
  const auto& th = std::get<ThresholdParams>(c.detectors[0].params);
  const auto& ew = std::get<EwmaParams>(c.detectors[1].params);
  // Shewhart: two-sided tail 2 (1 - Phi(h)) = 1 / ARL0.
  CHECK(2.0 * stats::normal_cdf(-th.h) == doctest::Approx(1e-6).epsilon(1e-6));
  CHECK(ew.limits == EwmaLimits::asymptotic);
  CHECK(EwmaDetector<double>::average_run_length(0.1, ew.L) == doctest::Approx(1e5).epsilon(1e-3));

  // kind 0: spike of 8 sigma at poll 1500; kind 1: +1 sigma shift from poll 1500.
  auto run = [&](int kind) {
    Rig rig(c);
    std::mt19937_64 rng(11);
    std::normal_distribution<double> g(0.0, 0.1);
    Run out;
    for (int k = 0; k < 3000; ++k) {
      double x = 5.0 + g(rng);
      if (kind == 0 && k == 1500) x = 5.8;
      if (kind == 1 && k >= 1500) x += 0.1;
      rig.set("X", x);
      rig.poll();
      if (out.alarm_poll < 0 && rig.first_alarm(kind == 0 ? "threshold" : "ewma", 0) >= 0)
        out.alarm_poll = k;
    }
    out.findings = rig.findings();
    return out;
  };
  Rig clean(c);
  {
    std::mt19937_64 rng(11);
    std::normal_distribution<double> g(0.0, 0.1);
    for (int k = 0; k < 3000; ++k) {
      clean.set("X", 5.0 + g(rng));
      clean.poll();
    }
    CHECK(clean.findings().empty());
  }
  CHECK(run(0).alarm_poll == 1500);
  const Run shift = run(1);
  REQUIRE(shift.alarm_poll >= 1500);
  // Delay of a 1-sigma shift against the chart's ARL1 (a few times the mean is generous).
  const double arl1 = EwmaDetector<double>::average_run_length(0.1, ew.L, 1.0);
  CHECK(shift.alarm_poll - 1500 < 4.0 * arl1);
}

TEST_CASE("page_hinkley: lambda from target_arl and the noise sigma, quiet, alarm on a shift") {
  const GatewayConfig c = parsed(config_text(
      analog("X", 0), R"({"type": "page_hinkley", "channel": "X", "delta": 0.05, "sigma": 0.1,
                          "target_arl": 1e5, "warmup_samples": 300})"));
  const auto& p = std::get<PageHinkleyParams>(c.detectors[0].params);
  // With a known mean U, D are sigma times a CUSUM with k = delta/sigma, h = lambda/sigma.
  CHECK(arl::cusum_arl(0.5, p.lambda / 0.1) == doctest::Approx(1e5).epsilon(1e-3));
  for (const bool attack : {false, true}) {
    Rig rig(c);
    std::mt19937_64 rng(5);
    std::normal_distribution<double> g(0.0, 0.1);
    for (int k = 0; k < 2000; ++k) {
      rig.set("X", 2.0 + g(rng) + (attack && k >= 1000 ? 0.1 : 0.0));
      rig.poll();
    }
    if (attack)
      CHECK(rig.first_alarm("page_hinkley", 0) >= 0);
    else
      CHECK(rig.findings().empty());
  }
}

TEST_CASE("staleness: a gap between samples longer than max_age_s is a timing finding") {
  const GatewayConfig c =
      parsed(config_text(analog("X", 0), R"({"type": "staleness", "channel": "X", "max_age_s": 0.5})"));
  Rig rig(c);
  for (int k = 0; k < 200; ++k) {
    rig.set("X", 1.0 + 0.01 * k);
    rig.poll();
  }
  CHECK(rig.findings().empty());
  rig.poll(2'000'000);  // 2 s after the previous sample
  REQUIRE(rig.findings().size() == 1);
  const Finding<double>& f = rig.findings()[0];
  CHECK(std::string(f.detector) == "staleness");
  CHECK(f.state == AlarmState::alarm);
  CHECK(f.kind == FindingKind::timing);
  CHECK(f.cause == Cause::communication);
  CHECK(f.score == doctest::Approx(2.0));
  CHECK(f.threshold == doctest::Approx(0.5));
  rig.poll();
  REQUIRE(rig.findings().size() == 2);
  CHECK(rig.findings()[1].state == AlarmState::cleared);
}

TEST_CASE("kalman detectors: random walk and a first-order lag driven by an input channel") {
  SUBCASE("kalman_threshold on a random walk: quiet, alarm on a jump") {
    const GatewayConfig c = parsed(config_text(
        analog("X", 0), R"({"type": "kalman_threshold", "channel": "X", "process_variance": 1e-4,
                            "measurement_variance": 1e-2, "initial_value": 10, "target_arl": 1e6})"));
    CHECK(std::get<KalmanThresholdParams>(c.detectors[0].params).h ==
          doctest::Approx(ThresholdDetector<double>::threshold_for_arl(1e6)));
    for (const bool attack : {false, true}) {
      Rig rig(c);
      std::mt19937_64 rng(3);
      std::normal_distribution<double> g(0.0, 1.0);
      double x = 10.0;
      long alarm = -1;
      for (int k = 0; k < 3000; ++k) {
        x += 0.01 * g(rng);
        rig.set("X", x + 0.1 * g(rng) + (attack && k >= 2000 ? 1.0 : 0.0));
        rig.poll();
        if (alarm < 0 && rig.first_alarm("threshold", 0) >= 0) alarm = k;
      }
      if (attack)
        CHECK(alarm == 2000);
      else
        CHECK(rig.findings().empty());
    }
  }

  SUBCASE("kalman_ewma on a lag driven by an input: the innovation equals a reference filter") {
    const GatewayConfig c = parsed(config_text(
        analog("U", 0) + "," + analog("Y", 1),
        R"({"type": "kalman_ewma", "channel": "Y", "input": "U", "time_constant_s": 3, "gain": 2,
            "process_variance": 1e-6, "measurement_variance": 1e-4, "initial_value": 0,
            "initial_variance": 1, "lambda": 0.2, "target_arl": 1e5})"));
    const auto& p = std::get<KalmanEwmaParams>(c.detectors[0].params);
    const double a = std::exp(-0.1 / 3.0);
    CHECK(p.a == doctest::Approx(a).epsilon(1e-12));
    CHECK(p.b == doctest::Approx(2.0 * (1.0 - a)).epsilon(1e-12));
    CHECK(p.has_input);
    CHECK(p.input_channel == 0);
    CHECK(EwmaDetector<double>::average_run_length(0.2, p.L) == doctest::Approx(1e5).epsilon(1e-3));

    for (const bool attack : {false, true}) {
      Rig rig(c);
      std::mt19937_64 rng(7);
      std::normal_distribution<double> g(0.0, 1.0);
      // Reference: scalar Kalman filter written out, x' = a x + b u_prev, P' = a^2 P + q.
      double xr = 0.0, pr = 1.0, u_prev = 0.0, y = 0.0;
      bool first = true;
      double max_err = 0.0;
      long alarm = -1;
      for (int k = 0; k < 3000; ++k) {
        const double u = (k / 300) % 2 ? 10.0 : 2.0;  // input steps every 30 s
        if (!(attack && k >= 2080)) y = a * y + 2.0 * (1.0 - a) * u_prev + 1e-3 * g(rng);
        const double z = f32(y + 1e-2 * g(rng));
        rig.set("U", u);
        rig.set("Y", z);
        rig.poll();
        if (alarm < 0 && rig.first_alarm("ewma", 1) >= 0) alarm = k;
        // Reference filter: the input before the first poll is taken as the first poll's input.
        const double u_model = first ? f32(u) : u_prev;
        first = false;
        xr = a * xr + 2.0 * (1.0 - a) * u_model;
        pr = a * a * pr + 1e-6;
        const double s = pr + 1e-4;
        const double innov = z - xr;
        if (!attack && k < 2000) {
          const auto& pipe = std::get<KalmanEwmaPipeline>(rig.gm.monitor().detector(0));
          const auto& rec = pipe.source().last_innovation();
          max_err = std::max(max_err, std::fabs(rec.y(0) - innov) + std::fabs(rec.S(0, 0) - s));
        }
        const double gain = pr / s;
        xr += gain * innov;
        pr = (1.0 - gain) * (1.0 - gain) * pr + gain * gain * 1e-4;
        u_prev = f32(u);
      }
      if (attack) {
        // The PV is frozen from poll 2080 (a replayed value, the plant at rest); the input
        // steps at 2100.
        CHECK(alarm >= 2100);
        CHECK(alarm < 2130);
      } else {
        CHECK(max_err < 1e-9);
        CHECK(rig.findings().empty());
      }
    }
  }

  SUBCASE("kalman_chi_square: threshold from the ARL, alarm on a rise of the noise") {
    const std::string det = R"({"type": "kalman_chi_square", "channel": "X", "process_variance": 1e-4,
        "measurement_variance": 1e-2, "initial_value": 0, "window": 10, "target_arl": 1e5)";
    const GatewayConfig c = parsed(config_text(analog("X", 0), det + "}"));
    const auto& p = std::get<KalmanChiSquareParams>(c.detectors[0].params);
    CHECK(p.window == 10);
    std::string no_window = det;
    no_window.erase(no_window.find(", \"window\": 10"), std::strlen(", \"window\": 10"));
    CHECK(std::get<KalmanChiSquareParams>(parsed(config_text(analog("X", 0), no_window + "}")).detectors[0].params).window == 10);
    CHECK(arl::windowed_chi_square_arl(10, 1, p.h) == doctest::Approx(1e5).epsilon(1e-3));
    const GatewayConfig cc = parsed(config_text(analog("X", 0), det + R"(, "conservative": true})"));
    // Union bound: a full window exceeds h with probability 1 / (2 ARL).
    CHECK(1.0 - stats::chi_square_cdf(std::get<KalmanChiSquareParams>(cc.detectors[0].params).h, 10.0) ==
          doctest::Approx(0.5e-5).epsilon(1e-4));
    CHECK(std::holds_alternative<KalmanChiSquarePipeline<10>>(Rig(c).gm.monitor().detector(0)));
    for (const bool attack : {false, true}) {
      Rig rig(c);
      std::mt19937_64 rng(9);
      std::normal_distribution<double> g(0.0, 1.0);
      double x = 0.0;
      long alarm = -1;
      for (int k = 0; k < 3000; ++k) {
        x += 0.01 * g(rng);
        rig.set("X", x + (attack && k >= 2000 ? 0.3 : 0.1) * g(rng));
        rig.poll();
        if (alarm < 0 && rig.first_alarm("windowed_chi_square", 0) >= 0) alarm = k;
      }
      if (attack) {
        CHECK(alarm >= 2000);
        CHECK(alarm < 2100);
      } else {
        CHECK(rig.findings().empty());
      }
    }
  }

  SUBCASE("kalman_cusum with a first-order lag") {
    const GatewayConfig c = parsed(config_text(
        analog("U", 0) + "," + analog("Y", 1),
        R"({"type": "kalman_cusum", "channel": "Y", "input": "U", "time_constant_s": 0.5,
            "sample_period_s": 1, "process_variance": 1e-6, "measurement_variance": 1e-4,
            "initial_value": 0, "k": 0.5, "target_arl": 1e6})"));
    const auto& p = std::get<KalmanCusumParams>(c.detectors[0].params);
    CHECK(p.a == doctest::Approx(std::exp(-2.0)).epsilon(1e-12));  // sample_period_s overrides
    CHECK(p.b == doctest::Approx(1.0 - std::exp(-2.0)).epsilon(1e-12));
    CHECK(arl::cusum_arl(0.5, p.h) == doctest::Approx(1e6).epsilon(1e-3));
  }
}

TEST_CASE("valve_command_response: clean strokes are quiet, stuck in travel and a switch conflict alarm") {
  const GatewayConfig c = parsed(config_text(
      coil("V_cmd", 0) + "," + coil("V_open", 1) + "," + coil("V_closed", 2),
      R"({"name": "V1", "type": "valve_command_response", "command": "V_cmd",
          "open_switch": "V_open", "closed_switch": "V_closed", "min_response_s": 1,
          "max_response_s": 8, "max_travel_s": 6})"));
  // kind 0: clean; 1: jams half way on the third opening; 2: both switches on at the third opening.
  auto run = [&](int kind) {
    Rig rig(c);
    double pos = 0.0;  // 0 closed .. 1 open, 4 s stroke
    for (int k = 0; k < 1200; ++k) {
      const bool cmd = (k / 200) % 2 == 1;  // open at 20 s, close at 40 s, ...
      const bool jam = kind == 1 && k >= 1000 && k < 1200 && pos >= 0.5;
      if (!jam) pos = std::clamp(pos + (cmd ? 0.025 : -0.025), 0.0, 1.0);
      rig.set("V_cmd", cmd);
      rig.set("V_open", pos >= 1.0 || (kind == 2 && k >= 1000 && cmd));
      rig.set("V_closed", pos <= 0.0 || (kind == 2 && k >= 1000 && cmd));
      rig.poll();
    }
    return rig.findings();
  };
  CHECK(run(0).empty());
  for (const int kind : {1, 2}) {
    const auto fs = run(kind);
    REQUIRE_FALSE(fs.empty());
    const Finding<double>& f = fs[0];
    CHECK(std::string(f.detector) == "valve_command_response");
    CHECK(f.channel == 3);  // the detector's own channel after the three configured ones
    CHECK(f.state == AlarmState::alarm);
    CHECK(f.cause == (kind == 1 ? Cause::process_fault : Cause::sensor_fault));
    // jam: neither switch for more than 6 s after leaving the seat at 100.0 s (k = 1000).
    if (kind == 1) CHECK(f.time.us - (1'600'000'000'000'000 + 1001 * 100'000) > 6'000'000);
  }
}

TEST_CASE("redundancy: two sensors agree within their noise; an offset on one alarms after the persistence") {
  const GatewayConfig c = parsed(config_text(
      analog("LT_a", 0) + "," + analog("LT_b", 1),
      R"({"name": "LT pair", "type": "redundancy", "a": "LT_a", "b": "LT_b", "sigma_a": 0.01,
          "sigma_b": 0.01, "k": 5, "persistence": 3})"));
  const auto& p = std::get<RedundancyParams>(c.detectors[0].params);
  CHECK(p.normalised);
  for (const bool attack : {false, true}) {
    Rig rig(c);
    std::mt19937_64 rng(21);
    std::normal_distribution<double> g(0.0, 0.01);
    long alarm = -1;
    for (int k = 0; k < 3000; ++k) {
      const double level = 2.0 + 0.5 * std::sin(k * 1e-3);
      rig.set("LT_a", level + g(rng));
      rig.set("LT_b", level + g(rng) + (attack && k >= 2000 ? 0.15 : 0.0));
      rig.poll();
      if (alarm < 0 && rig.first_alarm("redundancy", 2) >= 0) alarm = k;
    }
    if (attack) {
      CHECK(alarm == 2002);  // the third pair above k
      // b reads higher than a
      CHECK(std::get<RedundancyPipeline>(rig.gm.monitor().detector(0)).last_decision().direction == -1);
    } else {
      CHECK(rig.findings().empty());
    }
  }
}

TEST_CASE("mass_balance: flows summed over several channels; a falsified level drift alarms") {
  const GatewayConfig c = parsed(config_text(
      analog("L", 0) + "," + analog("F1", 1) + "," + analog("F2", 2) + "," + analog("F3", 3),
      R"({"name": "T1 balance", "type": "mass_balance", "level": "L", "inflows": ["F1", "F2"],
          "outflows": ["F3"], "area_m2": 2, "intervals": 10, "inflow_sigma_m3_per_s": 1.4e-4,
          "outflow_sigma_m3_per_s": 1e-4, "level_sigma_m": 1e-3, "tolerance": 5,
          "persistence": 3, "cause": "process_fault"})"));
  const auto& p = std::get<MassBalanceParams>(c.detectors[0].params);
  CHECK(p.normalised);
  CHECK(p.inflow_channels == std::vector<std::uint16_t>{1, 2});
  CHECK(p.outflow_channels == std::vector<std::uint16_t>{3});
  CHECK(std::holds_alternative<MassBalancePipeline<10>>(Rig(c).gm.monitor().detector(0)));
  for (const bool attack : {false, true}) {
    Rig rig(c);
    std::mt19937_64 rng(31);
    std::normal_distribution<double> g(0.0, 1.0);
    double level = 1.0, drift = 0.0;
    long alarm = -1;
    for (int k = 0; k < 3000; ++k) {
      const double q1 = 0.010 + 0.004 * ((k / 500) % 2), q2 = 0.005, q3 = 0.012;
      level += 0.1 * (q1 + q2 - q3) / 2.0;
      if (attack && k >= 2000) drift += 0.001;  // the reported level runs away at 1 cm/s
      rig.set("L", level + drift + 1e-3 * g(rng));
      rig.set("F1", q1 + 1e-4 * g(rng));
      rig.set("F2", q2 + 1e-4 * g(rng));
      rig.set("F3", q3 + 1e-4 * g(rng));
      rig.poll();
      if (alarm < 0 && rig.first_alarm("mass_balance", 4) >= 0) alarm = k;
    }
    if (attack) {
      REQUIRE(alarm >= 2000);
      CHECK(alarm < 2020);
      CHECK(rig.findings().front().cause == Cause::process_fault);
    } else {
      CHECK(rig.findings().empty());
    }
  }
}

TEST_CASE("analog_tracking: a valve follows its command; a feedback that stops following alarms") {
  const GatewayConfig c = parsed(config_text(
      analog("FV_cmd", 0) + "," + analog("FV_pos", 1),
      R"({"name": "FV101", "type": "analog_tracking", "command": "FV_cmd", "feedback": "FV_pos",
          "max_rate_per_s": 2, "time_constant_s": 1.5, "noise_sigma": 0.3, "target_arl": 1e6})"));
  const auto& p = std::get<AnalogTrackingConfig>(c.detectors[0].params);
  // Default drift: max(0.5, K r Ts / sigma) = 2 * 0.1 / 0.3.
  CHECK(p.k == doctest::Approx(2.0 * 0.1 / 0.3));
  CHECK(arl::cusum_arl(p.k, p.h) == doctest::Approx(1e6).epsilon(1e-3));
  for (const bool attack : {false, true}) {
    Rig rig(c);
    std::mt19937_64 rng(41);
    std::normal_distribution<double> g(0.0, 0.3);
    RateLimitedActuator<double> valve(2.0, 0.0, 100.0, 20.0);
    FirstOrderLag<double> transmitter(1.0, 1.5, 20.0);
    long alarm = -1;
    for (int k = 0; k < 3000; ++k) {
      const double cmd = k < 600 ? 20.0 : (k < 1500 ? 60.0 : 40.0);
      const bool stuck = attack && k >= 1500;  // the valve stops moving at the third command
      const double pos = stuck ? valve.position() : valve.step(cmd, 0.1);
      const double fb = transmitter.step(pos, 0.1);
      rig.set("FV_cmd", cmd);
      rig.set("FV_pos", fb + g(rng));
      rig.poll();
      if (alarm < 0 && rig.first_alarm("analog_tracking", 2) >= 0) alarm = k;
    }
    if (attack) {
      REQUIRE(alarm >= 1500);
      CHECK(alarm < 1550);
      CHECK(rig.findings().front().cause == Cause::process_fault);  // the model was still moving
    } else {
      CHECK(rig.findings().empty());
    }
  }
}

TEST_CASE("response_model: the PV follows its FOPDT model; a frozen PV alarms (short and long dead time)") {
  for (const double dead_time_s : {1.0, 12.0}) {
    CAPTURE(dead_time_s);
    const GatewayConfig c = parsed(config_text(
        analog("dose", 0) + "," + analog("conc", 1),
        R"({"name": "dosing", "type": "response_model", "input": "dose", "process_variable": "conc",
            "gain": 2, "time_constant_s": 20, "dead_time_s": )" +
            std::to_string(dead_time_s) + R"(, "noise_sigma": 0.05, "target_arl": 1e6})"));
    const auto& p = std::get<ResponseModelConfig>(c.detectors[0].params);
    CHECK(p.params.sample_period_s == 0.1);  // the poll period by default
    Rig probe(c);
    if (dead_time_s < 5.0)
      CHECK(std::holds_alternative<ResponseModelPipeline>(probe.gm.monitor().detector(0)));
    else
      CHECK(std::holds_alternative<LongResponseModelPipeline>(probe.gm.monitor().detector(0)));
    for (const bool attack : {false, true}) {
      Rig rig(c);
      std::mt19937_64 rng(51);
      std::normal_distribution<double> g(0.0, 0.05);
      FirstOrderPlusDeadTime<double, 200> plant(2.0, 20.0, dead_time_s, 0.1, 2.0);
      std::vector<double> recording;
      long alarm = -1;
      for (int k = 0; k < 4000; ++k) {
        const double u = k < 1000 ? 1.0 : (k < 2500 ? 3.0 : 1.5);
        recording.push_back(plant.output() + g(rng));
        // Attack: from the input change at 2500 on, the PV register replays the recording of the
        // 50 s before (the plant at rest), which looks normal until the model moves.
        const double pv = attack && k >= 2500 ? recording[static_cast<std::size_t>(k - 500)]
                                              : recording.back();
        rig.set("dose", u);
        rig.set("conc", pv);
        rig.poll();
        plant.step(u);
        if (alarm < 0 && rig.first_alarm("response_model", 2) >= 0) alarm = k;
      }
      if (attack) {
        // The replay only departs from the model after the dead time of the input change.
        const long delay = std::lround(dead_time_s / 0.1);
        CHECK(alarm > 2500 + delay);
        CHECK(alarm < 2500 + delay + 40);
      } else {
        CHECK(rig.findings().empty());
      }
    }
  }
}

TEST_CASE("every detector kind together: one monitor, no heap per poll") {
  const GatewayConfig c = parsed(config_text(
      analog("X", 0) + "," + analog("U", 1) + "," + analog("Y", 2) + "," + analog("F", 3) + "," +
          coil("C", 0) + "," + coil("O", 1) + "," + coil("S", 2),
      R"({"type": "range", "channel": "X", "min": -10, "max": 10},
         {"type": "rate", "channel": "X", "max_rate_per_s": 100},
         {"type": "stuck_at", "channel": "X", "min_variance": 1e-12},
         {"type": "cusum", "channel": "X", "mean": 0, "sigma": 1, "h": 50},
         {"type": "page_hinkley", "channel": "X", "delta": 1, "lambda": 100},
         {"type": "noise_change", "channel": "X", "learning_samples": 32, "false_alarm_probability": 1e-9},
         {"type": "setpoint_envelope", "channel": "U", "min": -100, "max": 100},
         {"type": "threshold", "channel": "X", "mean": 0, "sigma": 1, "h": 50},
         {"type": "ewma", "channel": "X", "mean": 0, "sigma": 1, "lambda": 0.2, "L": 50},
         {"type": "staleness", "channel": "X", "max_age_s": 10},
         {"type": "kalman_cusum", "channel": "X", "process_variance": 1, "measurement_variance": 1, "initial_value": 0, "h": 50},
         {"type": "kalman_threshold", "channel": "Y", "input": "U", "time_constant_s": 1, "process_variance": 1, "measurement_variance": 1, "initial_value": 0, "h": 50},
         {"type": "kalman_ewma", "channel": "X", "process_variance": 1, "measurement_variance": 1, "initial_value": 0, "lambda": 0.2, "L": 50},
         {"type": "kalman_chi_square", "channel": "X", "process_variance": 1, "measurement_variance": 1, "initial_value": 0, "window": 50, "h": 500},
         {"name": "d", "type": "discrete_command_response", "command": "C", "feedback": "O", "max_response_s": 100},
         {"name": "h", "type": "hysteresis_rule", "level": "X", "actuator": "C", "low": -50, "high": 50, "switch_tolerance_s": 100},
         {"name": "v", "type": "valve_command_response", "command": "C", "open_switch": "O", "closed_switch": "S", "max_response_s": 100, "max_travel_s": 100},
         {"name": "r", "type": "redundancy", "a": "X", "b": "Y", "tolerance": 100},
         {"name": "m", "type": "mass_balance", "level": "Y", "inflows": ["F"], "area_m2": 1, "intervals": 300, "tolerance": 1e6},
         {"name": "t", "type": "analog_tracking", "command": "U", "feedback": "Y", "max_rate_per_s": 100, "time_constant_s": 1, "noise_sigma": 1, "h": 1e6},
         {"name": "s", "type": "response_model", "input": "U", "process_variable": "Y", "gain": 1, "time_constant_s": 1, "dead_time_s": 20, "noise_sigma": 1, "h": 1e6})"));
  Rig rig(c);
  CHECK(rig.gm.monitor().size() == 21);
  CHECK(rig.gm.channel_count() == 7 + 7);
  std::mt19937_64 rng(61);
  std::normal_distribution<double> g(0.0, 1.0);
  auto poll = [&] {
    rig.set("X", g(rng));
    rig.set("U", g(rng));
    rig.set("Y", g(rng));
    rig.set("F", g(rng));
    rig.poll();
  };
  for (int k = 0; k < 100; ++k) poll();  // learning phases, first scans
  physguard_test::HeapCounter heap;
  for (int k = 0; k < 400; ++k) poll();
  CHECK(heap.count() == 0);
  CHECK(rig.findings().empty());
  for (std::uint16_t ch = 0; ch < 4; ++ch) CHECK(rig.gm.monitor().counters(ch).samples == 500);
}

TEST_CASE("bad configuration of each detector kind is rejected at its key path") {
  const std::string channels = analog("X", 0) + "," + analog("Y", 1) + "," + analog("U", 2) + "," +
                               analog("L", 3) + "," + coil("C", 0) + "," + coil("O", 1) + "," +
                               coil("S", 2);
  auto errors = [&](const std::string& detector) {
    return parse_gateway_config(config_text(channels, detector)).errors;
  };
  auto rejected_at = [&](const std::string& detector, const std::string& key) {
    const std::string path = "detectors[0]." + key;
    for (const ConfigError& e : errors(detector))
      if (e.path == path) return true;
    return false;
  };
  struct Kind {
    const char* valid;
    std::vector<std::pair<std::pair<const char*, const char*>, const char*>> bad;  // {from, to}, key
  };
  const std::vector<Kind> kinds = {
      {R"({"type": "threshold", "channel": "X", "mean": 0, "sigma": 1, "h": 4})",
       {{{"\"h\": 4", "\"h\": -1"}, "h"},
        {{"\"h\": 4", "\"h\": 4, \"target_arl\": 100"}, "target_arl"},
        {{"\"sigma\": 1", "\"sigma\": \"1\""}, "sigma"},
        {{"\"channel\": \"X\"", "\"channel\": \"nope\""}, "channel"}}},
      {R"({"type": "ewma", "channel": "X", "mean": 0, "sigma": 1, "lambda": 0.1, "L": 3})",
       {{{"\"lambda\": 0.1", "\"lambda\": 0"}, "lambda"},
        {{"\"L\": 3", "\"L\": 3, \"limits\": \"wide\""}, "limits"},
        {{", \"L\": 3", ""}, "L"}}},
      {R"({"type": "staleness", "channel": "X", "max_age_s": 1})",
       {{{"\"max_age_s\": 1", "\"max_age_s\": 0"}, "max_age_s"},
        {{", \"max_age_s\": 1", ""}, "max_age_s"}}},
      {R"({"type": "kalman_threshold", "channel": "X", "process_variance": 1e-4, "measurement_variance": 1e-2, "initial_value": 0, "h": 5})",
       {{{"\"h\": 5", "\"h\": 5, \"a\": 1.5"}, "a"},
        {{"\"h\": 5", "\"h\": 5, \"input\": \"U\""}, "input"},
        {{"\"h\": 5", "\"h\": 5, \"time_constant_s\": 3"}, "input"},
        {{"\"h\": 5", "\"h\": 5, \"time_constant_s\": 3, \"input\": \"nope\""}, "input"}}},
      {R"({"type": "kalman_ewma", "channel": "Y", "input": "U", "time_constant_s": 3, "process_variance": 1e-4, "measurement_variance": 1e-2, "initial_value": 0, "lambda": 0.1, "target_arl": 1000})",
       {{{"\"time_constant_s\": 3", "\"time_constant_s\": -1"}, "time_constant_s"},
        {{"\"input\": \"U\"", "\"input\": \"Y\""}, "input"},
        {{"\"time_constant_s\": 3", "\"time_constant_s\": 3, \"a\": 0.5"}, "time_constant_s"},
        {{"\"target_arl\": 1000", "\"target_arl\": 1"}, "target_arl"}}},
      {R"({"type": "kalman_chi_square", "channel": "X", "process_variance": 1e-4, "measurement_variance": 1e-2, "initial_value": 0, "window": 20, "target_arl": 1000})",
       {{{"\"window\": 20", "\"window\": 7"}, "window"},
        {{"\"target_arl\": 1000", "\"h\": 40, \"conservative\": true"}, "conservative"},
        {{"\"initial_value\": 0", "\"initial_value\": null"}, "initial_value"}}},
      {R"({"type": "kalman_cusum", "channel": "X", "process_variance": 1e-4, "measurement_variance": 1e-2, "initial_value": 0, "h": 5})",
       {{{"\"measurement_variance\": 1e-2", "\"measurement_variance\": 0"}, "measurement_variance"},
        {{"\"h\": 5", "\"h\": 5, \"gain\": 2"}, "gain"}}},
      {R"({"type": "page_hinkley", "channel": "X", "delta": 0.1, "target_arl": 1000, "sigma": 0.2})",
       {{{", \"sigma\": 0.2", ""}, "sigma"},
        {{"\"target_arl\": 1000, \"sigma\": 0.2", "\"lambda\": 1, \"sigma\": 0.2"}, "sigma"},
        {{"\"target_arl\": 1000", "\"target_arl\": 1000, \"lambda\": 2"}, "target_arl"}}},
      {R"({"name": "v", "type": "valve_command_response", "command": "C", "open_switch": "O", "closed_switch": "S", "max_response_s": 8, "max_travel_s": 6})",
       {{{"\"open_switch\": \"O\"", "\"open_switch\": \"X\""}, "open_switch"},
        {{"\"closed_switch\": \"S\"", "\"closed_switch\": \"O\""}, "closed_switch"},
        {{", \"max_travel_s\": 6", ""}, "max_travel_s"},
        {{"\"name\": \"v\", ", ""}, "name"},
        {{"\"max_response_s\": 8", "\"max_response_s\": 8, \"min_response_s\": 9"}, "max_response_s"},
        {{"\"command\": \"C\"", "\"channel\": \"C\""}, "channel"}}},
      {R"({"name": "r", "type": "redundancy", "a": "X", "b": "Y", "tolerance": 0.5})",
       {{{"\"tolerance\": 0.5", "\"tolerance\": 0.5, \"k\": 4"}, "tolerance"},
        {{"\"b\": \"Y\"", "\"b\": \"X\""}, "b"},
        {{"\"a\": \"X\"", "\"a\": \"C\""}, "a"},
        {{"\"tolerance\": 0.5", "\"sigma_a\": 0.1, \"k\": 4"}, "sigma_b"},
        {{"\"tolerance\": 0.5", "\"tolerance\": 0.5, \"persistence\": 0"}, "persistence"}}},
      {R"({"name": "m", "type": "mass_balance", "level": "L", "inflows": ["X", "Y"], "outflows": ["U"], "area_m2": 2, "intervals": 60, "tolerance": 0.01})",
       {{{"\"inflows\": [\"X\", \"Y\"]", "\"inflows\": \"X\""}, "inflows"},
        {{"\"inflows\": [\"X\", \"Y\"]", "\"inflows\": [\"X\", \"nope\"]"}, "inflows[1]"},
        {{"\"outflows\": [\"U\"]", "\"outflows\": [\"L\"]"}, "outflows[0]"},
        {{"\"outflows\": [\"U\"]", "\"outflows\": [\"X\"]"}, "outflows[0]"},
        {{"\"intervals\": 60", "\"intervals\": 7"}, "intervals"},
        {{"\"area_m2\": 2", "\"area_m2\": 0"}, "area_m2"},
        {{"\"tolerance\": 0.01", "\"tolerance\": 0.01, \"cause\": \"leak\""}, "cause"},
        {{"\"tolerance\": 0.01", "\"tolerance\": 5, \"level_sigma_m\": 0"}, "level_sigma_m"}}},
      {R"({"name": "t", "type": "analog_tracking", "command": "U", "feedback": "Y", "max_rate_per_s": 2, "time_constant_s": 1.5, "noise_sigma": 0.3, "h": 8})",
       {{{"\"max_rate_per_s\": 2", "\"max_rate_per_s\": 2, \"min_position\": 100"}, "max_position"},
        {{", \"noise_sigma\": 0.3", ""}, "noise_sigma"},
        {{"\"feedback\": \"Y\"", "\"feedback\": \"C\""}, "feedback"},
        {{"\"h\": 8", "\"h\": 8, \"gain\": 0"}, "gain"}}},
      {R"({"name": "s", "type": "response_model", "input": "U", "process_variable": "Y", "gain": 2, "time_constant_s": 20, "dead_time_s": 5, "noise_sigma": 0.05, "h": 8})",
       {{{"\"dead_time_s\": 5", "\"dead_time_s\": 200"}, "dead_time_s"},
        {{"\"process_variable\": \"Y\"", "\"process_variable\": \"nope\""}, "process_variable"},
        {{"\"h\": 8", "\"h\": 8, \"max_catch_up_samples\": 0"}, "max_catch_up_samples"},
        {{"\"h\": 8", "\"h\": 8, \"sample_period_s\": \"1\""}, "sample_period_s"}}},
  };
  for (const Kind& k : kinds) {
    CAPTURE(k.valid);
    const auto ok = errors(k.valid);
    CHECK(ok.empty());
    // Unknown keys are rejected for every kind.
    std::string typo = k.valid;
    typo.insert(typo.size() - 1, ", \"treshold\": 3");
    CHECK(rejected_at(typo, "treshold"));
    for (const auto& b : k.bad) {
      std::string text = k.valid;
      const auto pos = text.find(b.first.first);
      REQUIRE(pos != std::string::npos);
      text.replace(pos, std::strlen(b.first.first), b.first.second);
      CAPTURE(text);
      CHECK(rejected_at(text, b.second));
    }
  }
  // The messages say what is wrong.
  auto message = [&](const std::string& detector) {
    const auto e = errors(detector);
    return e.empty() ? std::string() : e[0].path + ": " + e[0].message;
  };
  CHECK(message(R"({"type": "kalman_chi_square", "channel": "X", "process_variance": 1, "measurement_variance": 1, "initial_value": 0, "window": 7, "h": 9})") ==
        "detectors[0].window: must be 5, 10, 20 or 50 (the compiled-in window lengths)");
  CHECK(message(R"({"name": "m", "type": "mass_balance", "level": "L", "inflows": ["X", "L"], "area_m2": 1, "tolerance": 1})") ==
        "detectors[0].inflows[1]: channel \"L\" is already used as level");
  CHECK(message(R"({"name": "r", "type": "redundancy", "a": "X", "b": "C", "tolerance": 1})") ==
        "detectors[0].b: channel \"C\" is a coil or discrete input; this needs an analog (register) channel");
  CHECK(message(R"({"name": "s", "type": "response_model", "input": "U", "process_variable": "Y", "gain": 2, "time_constant_s": 20, "dead_time_s": 200, "noise_sigma": 0.05, "h": 8})") ==
        "detectors[0].dead_time_s: is 2000 sample periods; at most 1024 (dead_time_s / sample_period_s)");
}
