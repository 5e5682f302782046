// physguard/config/gateway_monitor.hpp - HOST-ONLY: a DynamicMonitor built from a validated
// GatewayConfig, and the gateway's processing path: a register image (what one Modbus poll read)
// -> decoded, scaled, screened samples -> detectors -> findings to a sink.
//
// No I/O and no JSON here: examples/gateway does the Modbus and MQTT I/O, config/gateway_config.hpp
// parses JSON, benchmarks/bench_gateway.cpp drives this path with a synthetic register image.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../compose/dynamic_monitor.hpp"
#include "../compose/estimator_sources.hpp"
#include "../compose/pipeline.hpp"
#include "../compose/sources.hpp"
#include "../consistency/command_response.hpp"
#include "../consistency/control_logic.hpp"
#include "../consistency/setpoint_envelope.hpp"
#include "../core/finding.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detect/cusum.hpp"
#include "../detect/noise_change.hpp"
#include "../detect/page_hinkley.hpp"
#include "../detect/range_check.hpp"
#include "../detect/rate_check.hpp"
#include "../detect/stuck_at.hpp"
#include "gateway_types.hpp"

namespace physguard {
namespace config {

/// Channel number of findings about the data source itself (connection lost / back).
constexpr std::uint16_t gateway_channel = 0xFFFF;
/// Detector id of findings the gateway makes itself (screen, connection).
constexpr std::uint16_t gateway_detector_id = 0xFFFF;

/// One scan of two bit channels (command, feedback).
struct BitPairScan {
  Timestamp time{};
  Sample<bool> first{};
  Sample<bool> second{};
};
/// One scan of an analog channel and a bit channel (level, actuator state).
struct AnalogBitScan {
  Timestamp time{};
  Sample<double> analog{};
  Sample<bool> bit{};
};

/// Pipeline statistics over the scans above (the checkers take two samples).
struct DiscreteCommandResponseStat {
  static constexpr const char* name = DiscreteCommandResponseChecker<double>::name;
  DiscreteCommandResponseChecker<double> checker;
  CommandResponseDecision<double> update(const BitPairScan& s) noexcept {
    return checker.update(s.first, s.second);
  }
  void reset() noexcept { checker.reset(); }
};
struct HysteresisRuleStat {
  static constexpr const char* name = HysteresisRuleChecker<double>::name;
  HysteresisRuleChecker<double> checker;
  ControlLogicDecision<double> update(const AnalogBitScan& s) noexcept {
    return checker.update(s.analog, s.bit);
  }
  void reset() noexcept { checker.reset(); }
};

// The closed set of pipelines a configuration can name (docs/gateway.md lists them).
using SampleIn = PassThrough<Sample<double>>;
using RangePipeline = Pipeline<SampleIn, RangeCheck<double>>;
using RatePipeline = Pipeline<SampleIn, RateCheck<double>>;
using StuckAt16Pipeline = Pipeline<SampleIn, StuckAtCheck<double, 16>>;
using StuckAt64Pipeline = Pipeline<SampleIn, StuckAtCheck<double, 64>>;
using CusumPipeline = Pipeline<StandardizedSample<double>, CusumDetector<double>>;
using PageHinkleyPipeline = Pipeline<SampleValue<double>, PageHinkleyDetector<double>>;
using KalmanCusumPipeline = Pipeline<KalmanInnovationSource<double, 1, 0>, CusumDetector<double>>;
using Noise16Pipeline = Pipeline<SampleIn, NoiseChangeCheck<double, 16>>;
using Noise64Pipeline = Pipeline<SampleIn, NoiseChangeCheck<double, 64>>;
using SetpointPipeline = Pipeline<SampleIn, SetpointEnvelope<double>>;
using CommandResponsePipeline = Pipeline<PassThrough<BitPairScan>, DiscreteCommandResponseStat>;
using HysteresisRulePipeline = Pipeline<PassThrough<AnalogBitScan>, HysteresisRuleStat>;

template <typename Sink>
using GatewayDynamicMonitor =
    DynamicMonitor<Sink, RangePipeline, RatePipeline, StuckAt16Pipeline, StuckAt64Pipeline,
                   CusumPipeline, PageHinkleyPipeline, KalmanCusumPipeline, Noise16Pipeline,
                   Noise64Pipeline, SetpointPipeline, CommandResponsePipeline,
                   HysteresisRulePipeline>;

/// Values of the four Modbus tables at one poll, indexed by protocol address.  Sized by
/// GatewayMonitor for the highest address the configuration uses; the I/O layer reads into it.
struct RegisterImage {
  std::vector<std::uint16_t> holding, input;
  std::vector<std::uint8_t> coils, discrete;
  /// Per channel: false when the block holding it could not be read this poll.
  std::vector<std::uint8_t> channel_read;

  std::vector<std::uint16_t>& registers(Table t) { return t == Table::input_register ? input : holding; }
  const std::vector<std::uint16_t>& registers(Table t) const {
    return t == Table::input_register ? input : holding;
  }
  std::vector<std::uint8_t>& bits(Table t) { return t == Table::discrete_input ? discrete : coils; }
  const std::vector<std::uint8_t>& bits(Table t) const {
    return t == Table::discrete_input ? discrete : coils;
  }
};

/// A contiguous block to read with one Modbus request.
struct ReadBlock {
  Table table = Table::holding_register;
  std::uint16_t start = 0;
  std::uint16_t count = 0;
  std::vector<std::uint16_t> channels;  ///< channels whose value lies in this block
};

/// Decoded raw value: NaN when the register content is not a number (float32 NaN/inf).
inline double decode_raw(const RegisterImage& img, const ChannelSource& src) noexcept {
  if (is_bit_table(src.table)) return img.bits(src.table)[src.address] ? 1.0 : 0.0;
  const auto& r = img.registers(src.table);
  const std::uint16_t w0 = r[src.address];
  if (register_count(src.format) == 1) {
    return src.format == Format::int16 ? static_cast<double>(static_cast<std::int16_t>(w0))
                                       : static_cast<double>(w0);
  }
  const std::uint16_t w1 = r[static_cast<std::size_t>(src.address) + 1];
  const std::uint32_t u = src.high_word_first ? (std::uint32_t{w0} << 16) | w1
                                              : (std::uint32_t{w1} << 16) | w0;
  switch (src.format) {
    case Format::uint32: return static_cast<double>(u);
    case Format::int32: return static_cast<double>(static_cast<std::int32_t>(u));
    case Format::float32: {
      float f;
      std::memcpy(&f, &u, sizeof f);
      return std::isfinite(f) ? static_cast<double>(f) : std::numeric_limits<double>::quiet_NaN();
    }
    default: return static_cast<double>(u);
  }
}

/// Counters of the gateway's own screen (per channel): nothing is dropped without a count.
struct ScreenCounters {
  std::uint64_t garbage = 0;   ///< polls whose raw value was garbage (not fed to detectors)
  std::uint64_t unread = 0;    ///< polls whose block could not be read (not fed)
};

/// The gateway's processing path over a DynamicMonitor built from a GatewayConfig.
///
/// Channels 0..C-1 are the configured channels; every two-channel detector (command/response,
/// hysteresis rule) gets a channel number of its own, C, C+1, ... in configuration order, so its
/// findings are told apart from those of its input channels.  process() decodes every channel
/// from the register image, screens it (garbage raw values: one bad_input finding per garbage
/// episode, from detector "gateway_screen", and the sample is not fed), feeds the samples, then the
/// two-channel scans whose inputs were both read and sane.  No allocation in process().
template <typename Sink>
class GatewayMonitor {
 public:
  using Monitor = GatewayDynamicMonitor<Sink>;

  explicit GatewayMonitor(const GatewayConfig& cfg, Sink sink = Sink{})
      : cfg_(cfg), monitor_(std::move(sink)) {
    const std::size_t nc = cfg.channels.size();
    monitor_.reserve(cfg.detectors.size(), nc + cfg.detectors.size());
    samples_.resize(nc);
    usable_.assign(nc, 0);
    garbage_active_.assign(nc, 0);
    garbage_run_.assign(nc, 0);
    interrupted_.assign(nc, 0);
    screen_.resize(nc);
    std::uint16_t next_pair_channel = static_cast<std::uint16_t>(nc);
    for (const DetectorConfig& d : cfg.detectors) add(d, next_pair_channel);
    channel_names_.reserve(nc + pairs_.size());
    for (const ChannelConfig& c : cfg.channels) channel_names_.push_back(c.name);
    for (const Pair& p : pairs_) channel_names_.push_back(p.name);
    size_image();
    plan_blocks();
  }

  /// One poll taken at time t (all channels).  Returns the number of findings delivered.
  std::size_t process(Timestamp t, const RegisterImage& img) {
    std::size_t findings = 0;
    const std::size_t nc = cfg_.channels.size();
    for (std::size_t i = 0; i < nc; ++i) {
      const auto ch = static_cast<std::uint16_t>(i);
      usable_[i] = 0;
      if (!img.channel_read.empty() && !img.channel_read[i]) {
        ++screen_[i].unread;
        interrupted_[i] = 1;
        continue;
      }
      const ChannelConfig& c = cfg_.channels[i];
      const double raw = decode_raw(img, c.source);
      const Scaling& s = c.scaling;
      const bool garbage = !std::isfinite(raw) ||
                           (s.has_valid_raw && (raw < s.valid_raw_min || raw > s.valid_raw_max));
      if (garbage) {
        ++screen_[i].garbage;
        ++garbage_run_[i];
        if (!garbage_active_[i]) {
          garbage_active_[i] = 1;
          findings += emit_screen(t, ch, AlarmState::alarm,
                                  std::isfinite(raw) ? Status::out_of_range : Status::not_finite,
                                  std::isfinite(raw) ? raw : std::numeric_limits<double>::quiet_NaN(),
                                  s);
        }
        continue;
      }
      if (garbage_active_[i]) {
        garbage_active_[i] = 0;
        findings += emit_screen(t, ch, AlarmState::cleared, Status::ok,
                                static_cast<double>(garbage_run_[i]), s);
        garbage_run_[i] = 0;
        interrupted_[i] = 1;
      }
      if (interrupted_[i]) {
        interrupted_[i] = 0;
        resynchronise(ch);
      }
      samples_[i].time = t;
      samples_[i].value = s.min + (raw - s.raw_min) * (s.max - s.min) / (s.raw_max - s.raw_min);
      samples_[i].quality = Quality::good;
      usable_[i] = 1;
      findings += monitor_.feed(ch, samples_[i]).findings;
    }
    for (const Pair& p : pairs_) {
      if (!usable_[p.a] || !usable_[p.b]) continue;
      if (p.analog_first) {
        AnalogBitScan scan{t, samples_[p.a], to_bit(samples_[p.b])};
        findings += monitor_.feed(p.channel, scan).findings;
      } else {
        BitPairScan scan{t, to_bit(samples_[p.a]), to_bit(samples_[p.b])};
        findings += monitor_.feed(p.channel, scan).findings;
      }
    }
    return findings;
  }

  /// After an interruption of the data (a lost connection, a PLC restart) the next samples may lie
  /// far from where model-based detectors expect them.  Kalman sources keep their state estimate
  /// but get their initial variance back, so the first innovation after the gap is judged with
  /// the uncertainty a gap deserves instead of raising a residual alarm; plausibility checks and
  /// statistics keep their state (rate checks restart their reference by themselves via max_gap_s).
  /// The same for one channel; process() calls it when a channel's samples resume after garbage
  /// or an unreadable block.
  void resynchronise() {
    for (std::size_t ch = 0; ch < cfg_.channels.size(); ++ch) resynchronise(static_cast<std::uint16_t>(ch));
  }
  void resynchronise(std::uint16_t channel) {
    if (channel >= monitor_.channel_count()) return;
    for (const std::uint16_t id : monitor_.detectors_of(channel)) {
      if (auto* k = std::get_if<KalmanCusumPipeline>(&monitor_.detector(id))) {
        const auto& p = std::get<KalmanCusumParams>(cfg_.detectors[id].params);
        auto& f = k->source().filter();
        f.reset(f.state(), KalmanFilter<double, 1, 1, 0>::StateMatrix::Constant(p.p0));
      }
    }
  }

  /// Name of a finding's channel: a configured channel, a two-channel detector, or "_gateway".
  const std::string& channel_name(std::uint16_t ch) const {
    static const std::string gateway = "_gateway";
    return ch < channel_names_.size() ? channel_names_[ch] : gateway;
  }
  /// Units of a channel ("" for two-channel detectors and the gateway).
  const std::string& channel_units(std::uint16_t ch) const {
    static const std::string none;
    return ch < cfg_.channels.size() ? cfg_.channels[ch].units : none;
  }
  std::size_t channel_count() const noexcept { return channel_names_.size(); }
  /// An empty image of the right size (every table up to the highest address used).
  const RegisterImage& image_template() const noexcept { return image_; }
  /// The Modbus requests one poll needs (at most 125 registers / 2000 bits each).
  const std::vector<ReadBlock>& blocks() const noexcept { return blocks_; }
  const ScreenCounters& screen_counters(std::uint16_t ch) const { return screen_[ch]; }
  Monitor& monitor() noexcept { return monitor_; }
  const Monitor& monitor() const noexcept { return monitor_; }
  Sink& sink() noexcept { return monitor_.sink(); }
  const GatewayConfig& config() const noexcept { return cfg_; }

 private:
  struct Pair {
    std::uint16_t channel;
    std::uint16_t a, b;
    bool analog_first;
    std::string name;
  };

  static Sample<bool> to_bit(const Sample<double>& s) noexcept {
    return Sample<bool>{s.time, s.value != 0.0, s.quality};
  }

  std::size_t emit_screen(Timestamp t, std::uint16_t ch, AlarmState state, Status status,
                          double score, const Scaling& s) {
    Finding<double> f;
    f.time = t;
    f.channel = ch;
    f.detector_id = gateway_detector_id;
    f.detector = "gateway_screen";
    f.kind = FindingKind::bad_input;
    f.cause = Cause::unknown;
    f.state = state;
    f.status = status;
    f.score = score;
    f.threshold = s.has_valid_raw ? s.valid_raw_max : std::numeric_limits<double>::quiet_NaN();
    monitor_.sink()(f);
    return 1;
  }

  void add(const DetectorConfig& d, std::uint16_t& next_pair_channel) {
    const AlarmConfig<double>& ac = d.alarm;
    const PipelineOptions& po = d.options;
    const std::uint16_t ch = d.channel;
    std::visit(
        [&](const auto& p) {
          using P = std::decay_t<decltype(p)>;
          if constexpr (std::is_same<P, RangeParams>::value) {
            monitor_.add(ch, RangePipeline(SampleIn{}, RangeCheck<double>(p.min, p.max, p.margin_fraction), ac, ch, po));
          } else if constexpr (std::is_same<P, RateParams>::value) {
            monitor_.add(ch, RatePipeline(SampleIn{}, RateCheck<double>(p.max_rate_per_s, Duration::from_seconds(p.max_gap_s)), ac, ch, po));
          } else if constexpr (std::is_same<P, StuckAtParams>::value) {
            if (p.window == 64) {
              monitor_.add(ch, StuckAt64Pipeline(SampleIn{}, StuckAtCheck<double, 64>(p.min_variance, p.max_identical_samples), ac, ch, po));
            } else {
              monitor_.add(ch, StuckAt16Pipeline(SampleIn{}, StuckAtCheck<double, 16>(p.min_variance, p.max_identical_samples), ac, ch, po));
            }
          } else if constexpr (std::is_same<P, CusumParams>::value) {
            monitor_.add(ch, CusumPipeline(StandardizedSample<double>(p.mean, p.sigma), CusumDetector<double>(p.k, p.h), ac, ch, po));
          } else if constexpr (std::is_same<P, PageHinkleyParams>::value) {
            monitor_.add(ch, PageHinkleyPipeline(SampleValue<double>{}, PageHinkleyDetector<double>(p.delta, p.lambda, p.alpha, p.warmup_samples), ac, ch, po));
          } else if constexpr (std::is_same<P, KalmanCusumParams>::value) {
            using Filter = KalmanFilter<double, 1, 1, 0>;
            typename Filter::Model m;
            m.A(0, 0) = p.a;
            m.C(0, 0) = 1.0;
            m.dt_s = cfg_.modbus.poll_period_s;
            typename Filter::Options o;
            o.gate_probability = p.gate_probability;
            const Filter f(m, Filter::StateMatrix::Constant(p.q), Filter::MeasurementCovariance::Constant(p.r),
                           Filter::StateVector::Constant(p.x0), Filter::StateMatrix::Constant(p.p0), o);
            monitor_.add(ch, KalmanCusumPipeline(KalmanInnovationSource<double, 1, 0>(f, InnovationOutput::normalized, Duration::from_seconds(p.max_gap_s)),
                                                 CusumDetector<double>(p.k, p.h), ac, ch, po));
          } else if constexpr (std::is_same<P, NoiseChangeParams>::value) {
            if (p.window == 64) {
              monitor_.add(ch, Noise64Pipeline(SampleIn{}, make_noise<64>(p), ac, ch, po));
            } else {
              monitor_.add(ch, Noise16Pipeline(SampleIn{}, make_noise<16>(p), ac, ch, po));
            }
          } else if constexpr (std::is_same<P, SetpointEnvelopeConfig>::value) {
            monitor_.add(ch, SetpointPipeline(SampleIn{}, SetpointEnvelope<double>(p.params), ac, ch, po));
          } else if constexpr (std::is_same<P, DiscreteCommandResponseParams>::value) {
            const std::uint16_t pc = next_pair_channel++;
            pairs_.push_back(Pair{pc, p.command_channel, p.feedback_channel, false, d.name});
            monitor_.add(pc, CommandResponsePipeline(
                                 PassThrough<BitPairScan>{},
                                 DiscreteCommandResponseStat{DiscreteCommandResponseChecker<double>(
                                     Duration::from_seconds(p.min_response_s), Duration::from_seconds(p.max_response_s))},
                                 ac, pc, po));
          } else if constexpr (std::is_same<P, HysteresisRuleParams>::value) {
            const std::uint16_t pc = next_pair_channel++;
            pairs_.push_back(Pair{pc, p.level_channel, p.actuator_channel, true, d.name});
            monitor_.add(pc, HysteresisRulePipeline(
                                 PassThrough<AnalogBitScan>{},
                                 HysteresisRuleStat{HysteresisRuleChecker<double>(
                                     p.low, p.high, p.sense, Duration::from_seconds(p.switch_tolerance_s), p.level_margin)},
                                 ac, pc, po));
          }
        },
        d.params);
  }

  template <int W>
  static NoiseChangeCheck<double, W> make_noise(const NoiseChangeParams& p) {
    if (p.baseline_variance > 0.0)
      return NoiseChangeCheck<double, W>::with_baseline(p.baseline_variance, p.false_alarm_probability, p.statistic);
    return NoiseChangeCheck<double, W>::learning(p.learning_samples, p.false_alarm_probability, p.statistic,
                                                 p.adaptation_weight);
  }

  void size_image() {
    std::size_t need[4] = {0, 0, 0, 0};
    for (const ChannelConfig& c : cfg_.channels) {
      const std::size_t end = static_cast<std::size_t>(c.source.address) +
                              (is_bit_table(c.source.table) ? 1u : static_cast<std::size_t>(register_count(c.source.format)));
      std::size_t& n = need[static_cast<int>(c.source.table)];
      if (end > n) n = end;
    }
    image_.holding.assign(need[0], 0);
    image_.input.assign(need[1], 0);
    image_.coils.assign(need[2], 0);
    image_.discrete.assign(need[3], 0);
    image_.channel_read.assign(cfg_.channels.size(), 1);
  }

  /// Groups channels into blocks per table: sorted by address, a block grows while the next
  /// channel fits within the request limit and the hole before it is at most 16 units.
  void plan_blocks() {
    for (int ti = 0; ti < 4; ++ti) {
      const auto table = static_cast<Table>(ti);
      const std::size_t limit = is_bit_table(table) ? 2000 : 125;
      std::vector<std::uint16_t> idx;
      for (std::size_t i = 0; i < cfg_.channels.size(); ++i)
        if (cfg_.channels[i].source.table == table) idx.push_back(static_cast<std::uint16_t>(i));
      std::sort(idx.begin(), idx.end(), [this](std::uint16_t x, std::uint16_t y) {
        return cfg_.channels[x].source.address < cfg_.channels[y].source.address;
      });
      ReadBlock cur;
      bool open = false;
      for (const std::uint16_t i : idx) {
        const ChannelSource& s = cfg_.channels[i].source;
        const std::size_t len = is_bit_table(table) ? 1u : static_cast<std::size_t>(register_count(s.format));
        const std::size_t end = static_cast<std::size_t>(s.address) + len;
        if (open) {
          const std::size_t cur_end = static_cast<std::size_t>(cur.start) + cur.count;
          const std::size_t new_end = end > cur_end ? end : cur_end;
          if (s.address <= cur_end + 16 && new_end - cur.start <= limit) {
            cur.count = static_cast<std::uint16_t>(new_end - cur.start);
            cur.channels.push_back(i);
            continue;
          }
          blocks_.push_back(cur);
        }
        cur = ReadBlock{table, s.address, static_cast<std::uint16_t>(len), {i}};
        open = true;
      }
      if (open) blocks_.push_back(cur);
    }
  }

  GatewayConfig cfg_;
  Monitor monitor_;
  std::vector<Pair> pairs_;
  std::vector<std::string> channel_names_;
  std::vector<Sample<double>> samples_;
  std::vector<std::uint8_t> usable_;
  std::vector<std::uint8_t> garbage_active_;
  std::vector<std::uint64_t> garbage_run_;
  std::vector<std::uint8_t> interrupted_;
  std::vector<ScreenCounters> screen_;
  RegisterImage image_;
  std::vector<ReadBlock> blocks_;
};

}  // namespace config
}  // namespace physguard
