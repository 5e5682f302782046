// physguard/config/gateway_monitor.hpp - HOST-ONLY: a DynamicMonitor built from a validated
// GatewayConfig, and the gateway's processing path: a register image (what one Modbus poll read)
// -> decoded, scaled, screened samples -> detectors -> findings to a sink.
//
// No I/O and no JSON here: examples/gateway does the Modbus and MQTT I/O, config/gateway_config.hpp
// parses JSON, benchmarks/bench_gateway.cpp drives this path with a synthetic register image.
#pragma once

#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../compose/dynamic_monitor.hpp"
#include "../compose/estimator_sources.hpp"
#include "../compose/pipeline.hpp"
#include "../compose/sources.hpp"
#include "../consistency/analog_tracking.hpp"
#include "../consistency/command_response.hpp"
#include "../consistency/control_logic.hpp"
#include "../consistency/response_model.hpp"
#include "../consistency/setpoint_envelope.hpp"
#include "../core/finding.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detect/cusum.hpp"
#include "../detect/ewma.hpp"
#include "../detect/invariant.hpp"
#include "../detect/multi_input_decision.hpp"
#include "../detect/noise_change.hpp"
#include "../detect/page_hinkley.hpp"
#include "../detect/range_check.hpp"
#include "../detect/rate_check.hpp"
#include "../detect/redundancy.hpp"
#include "../detect/staleness.hpp"
#include "../detect/stuck_at.hpp"
#include "../detect/threshold.hpp"
#include "../detect/windowed_chi_square.hpp"
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
/// One scan of two analog channels (two sensors; command and feedback; input and PV).
struct AnalogPairScan {
  Timestamp time{};
  Sample<double> first{};
  Sample<double> second{};
};
/// One scan of three bit channels (valve: open command, open switch, closed switch).
struct BitTripleScan {
  Timestamp time{};
  Sample<bool> first{};
  Sample<bool> second{};
  Sample<bool> third{};
};
/// One scan of a tank: level [m], total inflow and total outflow [m3/s].
struct MassBalanceScan {
  Timestamp time{};
  std::array<Sample<double>, 3> samples{};
};

/// Pipeline statistics over the scans above (the checkers take several samples).
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
struct ValveCommandResponseStat {
  static constexpr const char* name = ValveCommandResponseChecker<double>::name;
  ValveCommandResponseChecker<double> checker;
  CommandResponseDecision<double> update(const BitTripleScan& s) noexcept {
    return checker.update(s.first, s.second, s.third);
  }
  void reset() noexcept { checker.reset(); }
};
struct RedundancyStat {
  static constexpr const char* name = RedundancyCheck<double>::name;
  RedundancyCheck<double> check;
  MultiInputDecision<double> update(const AnalogPairScan& s) noexcept {
    return check.update(s.first, s.second);
  }
  void reset() noexcept { check.reset(); }
};
struct AnalogTrackingStat {
  static constexpr const char* name = AnalogTrackingChecker<double>::name;
  AnalogTrackingChecker<double> checker;
  MultiInputDecision<double> update(const AnalogPairScan& s) noexcept {
    return checker.update(s.first, s.second);
  }
  void reset() noexcept { checker.reset(); }
};
template <int MaxDelaySamples>
struct ResponseModelStat {
  static constexpr const char* name = ResponseModelChecker<double, MaxDelaySamples>::name;
  ResponseModelChecker<double, MaxDelaySamples> checker;
  MultiInputDecision<double> update(const AnalogPairScan& s) noexcept {
    return checker.update(s.first, s.second);
  }
  void reset() noexcept { checker.reset(); }
};
template <int Intervals>
struct MassBalanceStat {
  static constexpr const char* name = "mass_balance";
  MassBalanceCheck<double, Intervals> check;
  MultiInputDecision<double> update(const MassBalanceScan& s) noexcept {
    return check.update(s.samples);
  }
  void reset() noexcept { check.reset(); }
};

/// A pipeline kept on the heap (allocated once, when the monitor is built), for the large, rare
/// alternatives (long mass-balance windows, long dead times): a std::variant is as large as its
/// largest alternative, so holding them inline would grow every detector of the monitor.  Same
/// interface as the Pipeline it holds; one pointer indirection per input.
template <typename P>
class BoxedPipeline {
 public:
  using pipeline_type = P;
  using input_type = typename P::input_type;
  using Scalar = typename P::Scalar;
  using Out = typename P::Out;
  static constexpr const char* name = P::name;

  explicit BoxedPipeline(P pipeline) : p_(std::make_unique<P>(std::move(pipeline))) {}
  BoxedPipeline(const BoxedPipeline& o) : p_(std::make_unique<P>(*o.p_)) {}
  BoxedPipeline(BoxedPipeline&&) noexcept = default;
  BoxedPipeline& operator=(const BoxedPipeline& o) {
    if (this != &o) p_ = std::make_unique<P>(*o.p_);
    return *this;
  }
  BoxedPipeline& operator=(BoxedPipeline&&) noexcept = default;
  ~BoxedPipeline() = default;

  Out update(const input_type& in) { return p_->update(in); }
  Out acknowledge(Timestamp t) { return p_->acknowledge(t); }
  void bind(std::uint16_t channel, std::uint16_t detector_id = 0) noexcept {
    p_->bind(channel, detector_id);
  }
  std::uint16_t channel() const noexcept { return p_->channel(); }
  std::uint16_t detector_id() const noexcept { return p_->detector_id(); }
  AlarmState state() const noexcept { return p_->state(); }
  bool in_alarm() const noexcept { return p_->in_alarm(); }
  P& get() noexcept { return *p_; }
  const P& get() const noexcept { return *p_; }

 private:
  std::unique_ptr<P> p_;
};

// The closed set of pipelines a configuration can name (docs/gateway.md lists them).
using SampleIn = PassThrough<Sample<double>>;
/// Every kalman_* detector: one state, one measurement, one input (b = 0 without an input channel,
/// so the input then has no effect and the filter is exactly the input-free one).
using KalmanSource = KalmanInnovationSource<double, 1, 1>;
using RangePipeline = Pipeline<SampleIn, RangeCheck<double>>;
using RatePipeline = Pipeline<SampleIn, RateCheck<double>>;
using StuckAt16Pipeline = Pipeline<SampleIn, StuckAtCheck<double, 16>>;
using StuckAt64Pipeline = Pipeline<SampleIn, StuckAtCheck<double, 64>>;
using CusumPipeline = Pipeline<StandardizedSample<double>, CusumDetector<double>>;
using ThresholdPipeline = Pipeline<StandardizedSample<double>, ThresholdDetector<double>>;
using EwmaPipeline = Pipeline<StandardizedSample<double>, EwmaDetector<double>>;
using PageHinkleyPipeline = Pipeline<SampleValue<double>, PageHinkleyDetector<double>>;
using StalenessPipeline = Pipeline<SampleIn, StalenessCheck<double>>;
using KalmanCusumPipeline = Pipeline<KalmanSource, CusumDetector<double>>;
using KalmanThresholdPipeline = Pipeline<KalmanSource, ThresholdDetector<double>>;
using KalmanEwmaPipeline = Pipeline<KalmanSource, EwmaDetector<double>>;
template <int Window>
using KalmanChiSquarePipeline = Pipeline<KalmanSource, WindowedChiSquareDetector<double, Window>>;
using Noise16Pipeline = Pipeline<SampleIn, NoiseChangeCheck<double, 16>>;
using Noise64Pipeline = Pipeline<SampleIn, NoiseChangeCheck<double, 64>>;
using SetpointPipeline = Pipeline<SampleIn, SetpointEnvelope<double>>;
using CommandResponsePipeline = Pipeline<PassThrough<BitPairScan>, DiscreteCommandResponseStat>;
using HysteresisRulePipeline = Pipeline<PassThrough<AnalogBitScan>, HysteresisRuleStat>;
using ValveCommandResponsePipeline = Pipeline<PassThrough<BitTripleScan>, ValveCommandResponseStat>;
using RedundancyPipeline = Pipeline<PassThrough<AnalogPairScan>, RedundancyStat>;
using AnalogTrackingPipeline = Pipeline<PassThrough<AnalogPairScan>, AnalogTrackingStat>;
using ResponseModelPipeline =
    Pipeline<PassThrough<AnalogPairScan>, ResponseModelStat<response_model_inline_delay_samples>>;
using LongResponseModelPipeline = BoxedPipeline<
    Pipeline<PassThrough<AnalogPairScan>, ResponseModelStat<response_model_max_delay_samples>>>;
template <int Intervals>
using MassBalancePipeline =
    BoxedPipeline<Pipeline<PassThrough<MassBalanceScan>, MassBalanceStat<Intervals>>>;

template <typename Sink>
using GatewayDynamicMonitor = DynamicMonitor<
    Sink, RangePipeline, RatePipeline, StuckAt16Pipeline, StuckAt64Pipeline, CusumPipeline,
    PageHinkleyPipeline, KalmanCusumPipeline, Noise16Pipeline, Noise64Pipeline, SetpointPipeline,
    CommandResponsePipeline, HysteresisRulePipeline, ThresholdPipeline, EwmaPipeline,
    StalenessPipeline, KalmanThresholdPipeline, KalmanEwmaPipeline, KalmanChiSquarePipeline<5>,
    KalmanChiSquarePipeline<10>, KalmanChiSquarePipeline<20>, KalmanChiSquarePipeline<50>,
    ValveCommandResponsePipeline, RedundancyPipeline, AnalogTrackingPipeline,
    ResponseModelPipeline, LongResponseModelPipeline, MassBalancePipeline<1>,
    MassBalancePipeline<10>, MassBalancePipeline<60>, MassBalancePipeline<300>>;

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

namespace detail {
/// True for pipelines whose residual source is the gateway's scalar Kalman filter.
template <typename P, typename = void>
struct uses_kalman_source : std::false_type {};
template <typename P>
struct uses_kalman_source<P, std::void_t<typename P::source_type>>
    : std::is_same<typename P::source_type, KalmanSource> {};
}  // namespace detail

/// The gateway's processing path over a DynamicMonitor built from a GatewayConfig.
///
/// Channels 0..C-1 are the configured channels; every multi-channel detector (command/response,
/// valve, hysteresis rule, redundancy, mass balance, analog tracking, response model) gets a
/// channel number of its own, C, C+1, ... in configuration order, so its findings are told apart
/// from those of its input channels.  process() decodes every channel from the register image,
/// screens it (garbage raw values: one bad_input finding per garbage episode, from detector
/// "gateway_screen", and the sample is not fed), feeds the samples, then the multi-channel scans
/// whose inputs were all read and sane.
///
/// A kalman_* detector with an input channel stays on its measured channel; its filter predicts
/// each step with the input value of the previous poll (held over the interval, zero-order hold)
/// and, before the input's first usable poll, with the current one.  While the input channel is
/// unusable its last value is held.  No allocation in process().
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
    std::uint16_t next_group_channel = static_cast<std::uint16_t>(nc);
    for (const DetectorConfig& d : cfg.detectors) add(d, next_group_channel);
    channel_names_.reserve(nc + groups_.size());
    for (const ChannelConfig& c : cfg.channels) channel_names_.push_back(c.name);
    for (const Group& g : groups_) channel_names_.push_back(g.name);
    size_image();
    plan_blocks();
  }

  /// One poll taken at time t (all channels).  Returns the number of findings delivered.
  std::size_t process(Timestamp t, const RegisterImage& img) {
    std::size_t findings = 0;
    // Before an input channel's first usable poll its model takes the current value as held.
    for (InputBinding& b : inputs_) {
      double u = 0.0;
      if (!b.has_value && peek(img, b.input, u)) set_input(b, u);
    }
    const std::size_t nc = cfg_.channels.size();
    for (std::size_t i = 0; i < nc; ++i) {
      findings += decode(t, img, i);
      if (usable_[i]) findings += monitor_.feed(static_cast<std::uint16_t>(i), samples_[i]).findings;
    }
    // The input of this poll holds over the interval to the next one.
    for (InputBinding& b : inputs_)
      if (usable_[b.input]) set_input(b, samples_[b.input].value);
    for (const Group& g : groups_) findings += feed_group(t, g);
    return findings;
  }

  /// After an interruption of the data (a lost connection, a PLC restart) the next samples may lie
  /// far from where model-based detectors expect them.  Kalman sources keep their state estimate
  /// but get their initial variance back, so the first innovation after the gap is judged with
  /// the uncertainty a gap deserves instead of raising a residual alarm; plausibility checks and
  /// statistics keep their state (rate checks restart their reference by themselves via max_gap_s,
  /// response models re-align after max_catch_up_samples).
  /// The same for one channel (its own Kalman detectors and those it drives as input); process()
  /// calls it when a channel's samples resume after garbage or an unreadable block.
  void resynchronise() {
    for (std::size_t ch = 0; ch < cfg_.channels.size(); ++ch) resynchronise(static_cast<std::uint16_t>(ch));
  }
  void resynchronise(std::uint16_t channel) {
    if (channel < monitor_.channel_count())
      for (const std::uint16_t id : monitor_.detectors_of(channel)) reset_kalman(id);
    for (const InputBinding& b : inputs_)
      if (b.input == channel) reset_kalman(b.detector);
  }

  /// Name of a finding's channel: a configured channel, a multi-channel detector, or "_gateway".
  const std::string& channel_name(std::uint16_t ch) const {
    static const std::string gateway = "_gateway";
    return ch < channel_names_.size() ? channel_names_[ch] : gateway;
  }
  /// Units of a channel ("" for multi-channel detectors and the gateway).
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
  /// The scan a multi-channel detector is fed.
  enum class GroupKind : std::uint8_t { bit_pair, analog_bit, analog_pair, bit_triple, mass_balance };
  struct Group {
    std::uint16_t channel;
    GroupKind kind;
    std::vector<std::uint16_t> inputs;  ///< mass balance: level, inflows..., outflows...
    std::size_t inflows;                ///< mass balance: how many of inputs[1..] are inflows
    std::string name;
  };
  /// A Kalman detector driven by an input channel.
  struct InputBinding {
    std::uint16_t detector;
    std::uint16_t input;
    bool has_value;
  };

  static Sample<bool> to_bit(const Sample<double>& s) noexcept {
    return Sample<bool>{s.time, s.value != 0.0, s.quality};
  }

  /// Garbage test of the screen (NaN raw is always garbage).
  static bool is_garbage(double raw, const Scaling& s) noexcept {
    return !std::isfinite(raw) || (s.has_valid_raw && (raw < s.valid_raw_min || raw > s.valid_raw_max));
  }
  static double scaled(double raw, const Scaling& s) noexcept {
    return s.min + (raw - s.raw_min) * (s.max - s.min) / (s.raw_max - s.raw_min);
  }

  /// Channel i's scaled value in this image, when read and sane; no side effect.
  bool peek(const RegisterImage& img, std::size_t i, double& value) const {
    if (!img.channel_read.empty() && !img.channel_read[i]) return false;
    const ChannelConfig& c = cfg_.channels[i];
    const double raw = decode_raw(img, c.source);
    if (is_garbage(raw, c.scaling)) return false;
    value = scaled(raw, c.scaling);
    return true;
  }

  /// Decodes, screens and scales channel i into samples_[i]; usable_[i] says whether to feed it.
  std::size_t decode(Timestamp t, const RegisterImage& img, std::size_t i) {
    const auto ch = static_cast<std::uint16_t>(i);
    usable_[i] = 0;
    if (!img.channel_read.empty() && !img.channel_read[i]) {
      ++screen_[i].unread;
      interrupted_[i] = 1;
      return 0;
    }
    std::size_t findings = 0;
    const ChannelConfig& c = cfg_.channels[i];
    const double raw = decode_raw(img, c.source);
    const Scaling& s = c.scaling;
    if (is_garbage(raw, s)) {
      ++screen_[i].garbage;
      ++garbage_run_[i];
      if (!garbage_active_[i]) {
        garbage_active_[i] = 1;
        findings += emit_screen(t, ch, AlarmState::alarm,
                                std::isfinite(raw) ? Status::out_of_range : Status::not_finite,
                                std::isfinite(raw) ? raw : std::numeric_limits<double>::quiet_NaN(),
                                s);
      }
      return findings;
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
    samples_[i].value = scaled(raw, s);
    samples_[i].quality = Quality::good;
    usable_[i] = 1;
    return findings;
  }

  std::size_t feed_group(Timestamp t, const Group& g) {
    for (const std::uint16_t in : g.inputs)
      if (!usable_[in]) return 0;
    const std::vector<std::uint16_t>& in = g.inputs;
    switch (g.kind) {
      case GroupKind::bit_pair:
        return monitor_.feed(g.channel, BitPairScan{t, to_bit(samples_[in[0]]), to_bit(samples_[in[1]])}).findings;
      case GroupKind::analog_bit:
        return monitor_.feed(g.channel, AnalogBitScan{t, samples_[in[0]], to_bit(samples_[in[1]])}).findings;
      case GroupKind::analog_pair:
        return monitor_.feed(g.channel, AnalogPairScan{t, samples_[in[0]], samples_[in[1]]}).findings;
      case GroupKind::bit_triple:
        return monitor_
            .feed(g.channel, BitTripleScan{t, to_bit(samples_[in[0]]), to_bit(samples_[in[1]]),
                                           to_bit(samples_[in[2]])})
            .findings;
      case GroupKind::mass_balance: {
        MassBalanceScan scan;
        scan.time = t;
        scan.samples[0] = samples_[in[0]];
        double inflow = 0.0, outflow = 0.0;
        for (std::size_t k = 1; k < in.size(); ++k)
          (k <= g.inflows ? inflow : outflow) += samples_[in[k]].value;
        scan.samples[1] = Sample<double>{t, inflow, Quality::good};
        scan.samples[2] = Sample<double>{t, outflow, Quality::good};
        return monitor_.feed(g.channel, scan).findings;
      }
    }
    return 0;
  }

  void set_input(InputBinding& b, double u) {
    std::visit(
        [u](auto& p) {
          using P = std::decay_t<decltype(p)>;
          if constexpr (detail::uses_kalman_source<P>::value) {
            KalmanSource::Filter::InputVector v;
            v(0) = u;
            p.source().set_input(v);
          }
        },
        monitor_.detector(b.detector));
    b.has_value = true;
  }

  void reset_kalman(std::uint16_t id) {
    const KalmanModelParams* m = kalman_model(cfg_.detectors[id].params);
    if (!m) return;
    const double p0 = m->p0;
    std::visit(
        [p0](auto& p) {
          using P = std::decay_t<decltype(p)>;
          if constexpr (detail::uses_kalman_source<P>::value) {
            auto& f = p.source().filter();
            f.reset(f.state(), KalmanSource::Filter::StateMatrix::Constant(p0));
          }
        },
        monitor_.detector(id));
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

  KalmanSource kalman_source(const KalmanModelParams& p, InnovationOutput out) const {
    using Filter = KalmanSource::Filter;
    typename Filter::Model m;
    m.A(0, 0) = p.a;
    m.B(0, 0) = p.b;
    m.C(0, 0) = 1.0;
    m.dt_s = cfg_.modbus.poll_period_s;
    typename Filter::Options o;
    o.gate_probability = p.gate_probability;
    const Filter f(m, Filter::StateMatrix::Constant(p.q), Filter::MeasurementCovariance::Constant(p.r),
                   Filter::StateVector::Constant(p.x0), Filter::StateMatrix::Constant(p.p0), o);
    return KalmanSource(f, out, Duration::from_seconds(p.max_gap_s));
  }

  /// Registers a multi-channel detector's scan; returns its channel number.
  std::uint16_t add_group(const DetectorConfig& d, GroupKind kind, std::vector<std::uint16_t> inputs,
                          std::uint16_t& next_group_channel, std::size_t inflows = 0) {
    const std::uint16_t gc = next_group_channel++;
    groups_.push_back(Group{gc, kind, std::move(inputs), inflows, d.name});
    return gc;
  }

  template <typename P>
  void add_kalman(const DetectorConfig& d, const KalmanModelParams& k, P pipeline) {
    if (k.has_input)
      inputs_.push_back(InputBinding{static_cast<std::uint16_t>(monitor_.size()), k.input_channel, false});
    monitor_.add(d.channel, std::move(pipeline));
  }

  template <int Intervals>
  void add_mass_balance(std::uint16_t gc, const MassBalanceParams& p, const AlarmConfig<double>& ac,
                        const PipelineOptions& po) {
    using Invariant = MassBalanceInvariant<double, Intervals>;
    const Duration gap = Duration::from_seconds(p.max_gap_s);
    const Invariant f = p.normalised ? Invariant(p.area_m2, p.inflow_sigma_m3_per_s,
                                                 p.outflow_sigma_m3_per_s, p.level_sigma_m, gap)
                                     : Invariant(p.area_m2, gap);
    using Inner = typename MassBalancePipeline<Intervals>::pipeline_type;
    monitor_.add(gc, MassBalancePipeline<Intervals>(Inner(
                         PassThrough<MassBalanceScan>{},
                         MassBalanceStat<Intervals>{MassBalanceCheck<double, Intervals>(f, p.tolerance, p.persistence, p.cause)},
                         ac, gc, po)));
  }

  template <int Window>
  void add_chi_square(const DetectorConfig& d, const KalmanChiSquareParams& p) {
    add_kalman(d, p, KalmanChiSquarePipeline<Window>(kalman_source(p, InnovationOutput::nis),
                                                     WindowedChiSquareDetector<double, Window>(p.h),
                                                     d.alarm, d.channel, d.options));
  }

  void add(const DetectorConfig& d, std::uint16_t& next_group_channel) {
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
          } else if constexpr (std::is_same<P, ThresholdParams>::value) {
            monitor_.add(ch, ThresholdPipeline(StandardizedSample<double>(p.mean, p.sigma), ThresholdDetector<double>(p.h), ac, ch, po));
          } else if constexpr (std::is_same<P, EwmaParams>::value) {
            monitor_.add(ch, EwmaPipeline(StandardizedSample<double>(p.mean, p.sigma), EwmaDetector<double>(p.lambda, p.L, p.limits), ac, ch, po));
          } else if constexpr (std::is_same<P, PageHinkleyParams>::value) {
            monitor_.add(ch, PageHinkleyPipeline(SampleValue<double>{}, PageHinkleyDetector<double>(p.delta, p.lambda, p.alpha, p.warmup_samples), ac, ch, po));
          } else if constexpr (std::is_same<P, StalenessParams>::value) {
            monitor_.add(ch, StalenessPipeline(SampleIn{}, StalenessCheck<double>(Duration::from_seconds(p.max_age_s)), ac, ch, po));
          } else if constexpr (std::is_same<P, KalmanCusumParams>::value) {
            add_kalman(d, p, KalmanCusumPipeline(kalman_source(p, InnovationOutput::normalized), CusumDetector<double>(p.k, p.h), ac, ch, po));
          } else if constexpr (std::is_same<P, KalmanThresholdParams>::value) {
            add_kalman(d, p, KalmanThresholdPipeline(kalman_source(p, InnovationOutput::normalized), ThresholdDetector<double>(p.h), ac, ch, po));
          } else if constexpr (std::is_same<P, KalmanEwmaParams>::value) {
            add_kalman(d, p, KalmanEwmaPipeline(kalman_source(p, InnovationOutput::normalized), EwmaDetector<double>(p.lambda, p.L, p.limits), ac, ch, po));
          } else if constexpr (std::is_same<P, KalmanChiSquareParams>::value) {
            switch (p.window) {
              case 5: add_chi_square<5>(d, p); break;
              case 20: add_chi_square<20>(d, p); break;
              case 50: add_chi_square<50>(d, p); break;
              default: add_chi_square<10>(d, p); break;
            }
          } else if constexpr (std::is_same<P, NoiseChangeParams>::value) {
            if (p.window == 64) {
              monitor_.add(ch, Noise64Pipeline(SampleIn{}, make_noise<64>(p), ac, ch, po));
            } else {
              monitor_.add(ch, Noise16Pipeline(SampleIn{}, make_noise<16>(p), ac, ch, po));
            }
          } else if constexpr (std::is_same<P, SetpointEnvelopeConfig>::value) {
            monitor_.add(ch, SetpointPipeline(SampleIn{}, SetpointEnvelope<double>(p.params), ac, ch, po));
          } else if constexpr (std::is_same<P, DiscreteCommandResponseParams>::value) {
            const std::uint16_t gc = add_group(d, GroupKind::bit_pair, {p.command_channel, p.feedback_channel}, next_group_channel);
            monitor_.add(gc, CommandResponsePipeline(
                                 PassThrough<BitPairScan>{},
                                 DiscreteCommandResponseStat{DiscreteCommandResponseChecker<double>(
                                     Duration::from_seconds(p.min_response_s), Duration::from_seconds(p.max_response_s))},
                                 ac, gc, po));
          } else if constexpr (std::is_same<P, HysteresisRuleParams>::value) {
            const std::uint16_t gc = add_group(d, GroupKind::analog_bit, {p.level_channel, p.actuator_channel}, next_group_channel);
            monitor_.add(gc, HysteresisRulePipeline(
                                 PassThrough<AnalogBitScan>{},
                                 HysteresisRuleStat{HysteresisRuleChecker<double>(
                                     p.low, p.high, p.sense, Duration::from_seconds(p.switch_tolerance_s), p.level_margin)},
                                 ac, gc, po));
          } else if constexpr (std::is_same<P, ValveCommandResponseParams>::value) {
            const std::uint16_t gc = add_group(d, GroupKind::bit_triple, {p.command_channel, p.open_channel, p.closed_channel}, next_group_channel);
            monitor_.add(gc, ValveCommandResponsePipeline(
                                 PassThrough<BitTripleScan>{},
                                 ValveCommandResponseStat{ValveCommandResponseChecker<double>(
                                     Duration::from_seconds(p.min_response_s), Duration::from_seconds(p.max_response_s),
                                     Duration::from_seconds(p.max_travel_s))},
                                 ac, gc, po));
          } else if constexpr (std::is_same<P, RedundancyParams>::value) {
            const std::uint16_t gc = add_group(d, GroupKind::analog_pair, {p.a_channel, p.b_channel}, next_group_channel);
            const RedundancyCheck<double> check = p.normalised
                                                      ? RedundancyCheck<double>(p.sigma_a, p.sigma_b, p.k, p.persistence)
                                                      : RedundancyCheck<double>(p.tolerance, p.persistence);
            monitor_.add(gc, RedundancyPipeline(PassThrough<AnalogPairScan>{}, RedundancyStat{check}, ac, gc, po));
          } else if constexpr (std::is_same<P, MassBalanceParams>::value) {
            std::vector<std::uint16_t> inputs{p.level_channel};
            inputs.insert(inputs.end(), p.inflow_channels.begin(), p.inflow_channels.end());
            inputs.insert(inputs.end(), p.outflow_channels.begin(), p.outflow_channels.end());
            const std::uint16_t gc = add_group(d, GroupKind::mass_balance, std::move(inputs), next_group_channel,
                                               p.inflow_channels.size());
            switch (p.intervals) {
              case 10: add_mass_balance<10>(gc, p, ac, po); break;
              case 60: add_mass_balance<60>(gc, p, ac, po); break;
              case 300: add_mass_balance<300>(gc, p, ac, po); break;
              default: add_mass_balance<1>(gc, p, ac, po); break;
            }
          } else if constexpr (std::is_same<P, AnalogTrackingConfig>::value) {
            const std::uint16_t gc = add_group(d, GroupKind::analog_pair, {p.command_channel, p.feedback_channel}, next_group_channel);
            monitor_.add(gc, AnalogTrackingPipeline(
                                 PassThrough<AnalogPairScan>{},
                                 AnalogTrackingStat{AnalogTrackingChecker<double>(p.params, CusumDetector<double>(p.k, p.h))},
                                 ac, gc, po));
          } else if constexpr (std::is_same<P, ResponseModelConfig>::value) {
            const std::uint16_t gc = add_group(d, GroupKind::analog_pair, {p.input_channel, p.pv_channel}, next_group_channel);
            const CusumDetector<double> cusum(p.k, p.h);
            if (std::round(p.params.dead_time_s / p.params.sample_period_s) <= response_model_inline_delay_samples) {
              constexpr int N = response_model_inline_delay_samples;
              monitor_.add(gc, ResponseModelPipeline(PassThrough<AnalogPairScan>{},
                                                     ResponseModelStat<N>{ResponseModelChecker<double, N>(p.params, cusum)},
                                                     ac, gc, po));
            } else {
              constexpr int N = response_model_max_delay_samples;
              using Inner = LongResponseModelPipeline::pipeline_type;
              monitor_.add(gc, LongResponseModelPipeline(Inner(PassThrough<AnalogPairScan>{},
                                                               ResponseModelStat<N>{ResponseModelChecker<double, N>(p.params, cusum)},
                                                               ac, gc, po)));
            }
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
  std::vector<Group> groups_;
  std::vector<InputBinding> inputs_;
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
