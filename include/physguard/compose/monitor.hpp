// physguard/compose/monitor.hpp - many detectors bound to channels, findings delivered to a sink.
//
// This header holds the firmware Monitor (compile-time set of pipelines, fixed capacity, no heap).
// The gateway's run-time configured DynamicMonitor is in compose/dynamic_monitor.hpp (host-only).
// docs/architecture.md, section "Monitor", explains the two designs.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <tuple>
#include <type_traits>
#include <utility>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "pipeline.hpp"

namespace physguard {

/// Per-channel bookkeeping of a Monitor: nothing fed to a channel disappears without a count.
struct ChannelCounters {
  std::uint32_t samples = 0;   ///< inputs fed to the channel
  std::uint32_t refused = 0;   ///< inputs refused by at least one detector (bad_input finding made)
  std::uint32_t findings = 0;  ///< findings delivered for the channel
  std::uint32_t unrouted = 0;  ///< inputs no detector on the channel takes (wrong type, none bound)
};

/// What one feed() / acknowledge() did.
struct FeedResult {
  std::uint16_t detectors = 0;  ///< detectors that processed the input
  std::uint16_t findings = 0;   ///< findings delivered to the sink
  bool refused = false;         ///< at least one detector refused the input
  Status status = Status::ok;   ///< invalid_argument: no such channel / detector
};

namespace detail {

template <typename P, typename Input>
constexpr bool accepts_input =
    std::is_same<typename P::input_type, std::remove_cv_t<std::remove_reference_t<Input>>>::value;

template <typename Sink, typename T>
void deliver(Sink& sink, const FindingOut<T>& out, FeedResult& result) {
  if (!out.has) return;
  sink(out.finding);
  ++result.findings;
  if (out.finding.kind == FindingKind::bad_input) result.refused = true;
}

inline void account(ChannelCounters& c, const FeedResult& r) noexcept {
  ++c.samples;
  if (r.detectors == 0) ++c.unrouted;
  if (r.refused) ++c.refused;
  c.findings += r.findings;
}

}  // namespace detail

/// Firmware monitor: a fixed, compile-time set of pipelines (each bound to a channel by its own
/// channel number, see Pipeline::bind / the Pipeline constructor), findings delivered to `Sink`.
///
/// `feed(channel, input)` visits every pipeline whose input_type is the input's type, in a fold
/// over the tuple (no virtual call, no table of function pointers, no heap): for the pipelines
/// bound to `channel` it runs update() and hands any finding to the sink.  Cost per feed: one
/// integer compare per pipeline of that input type plus the matching pipelines' own cost.
/// Detector ids are the pipelines' positions.  A refused sample on one channel touches only that
/// channel's pipelines and is counted in counters(channel).refused; an input that no pipeline
/// takes is counted as unrouted; a channel number >= MaxChannels is counted in unknown_channel().
/// sizeof = sum of the pipelines + the sink + 16 * MaxChannels bytes.
template <typename Sink, std::size_t MaxChannels, typename... Pipelines>
class Monitor {
  static_assert(sizeof...(Pipelines) >= 1, "a Monitor holds at least one pipeline");
  static_assert(MaxChannels >= 1 && MaxChannels <= 65536, "channels are 16-bit numbers");
  static_assert(sizeof...(Pipelines) <= 65535, "detector ids are 16-bit numbers");
  using Tuple = std::tuple<Pipelines...>;

 public:
  using Scalar = typename std::tuple_element_t<0, Tuple>::Scalar;
  static_assert((std::is_same<typename Pipelines::Scalar, Scalar>::value && ...),
                "every pipeline of a Monitor uses the same scalar type");
  static constexpr std::size_t detector_count = sizeof...(Pipelines);
  static constexpr std::size_t channel_capacity = MaxChannels;

  explicit Monitor(Sink sink, Pipelines... pipelines)
      : sink_(std::move(sink)), pipelines_(std::move(pipelines)...) {
    bind_ids(std::index_sequence_for<Pipelines...>{});
  }

  /// Feeds one input (a Sample<T>, an Innovation record, ...) to the detectors of `channel`.
  template <typename Input>
  FeedResult feed(std::uint16_t channel, const Input& input) {
    FeedResult result;
    if (channel >= MaxChannels) {
      ++unknown_channel_;
      result.status = Status::invalid_argument;
      return result;
    }
    feed_all(channel, input, result, std::index_sequence_for<Pipelines...>{});
    detail::account(counters_[channel], result);
    return result;
  }

  /// Acknowledges detector `detector_id` (its position) at time t.
  FeedResult acknowledge(std::uint16_t detector_id, Timestamp t) {
    FeedResult result;
    if (detector_id >= detector_count) {
      result.status = Status::invalid_argument;
      return result;
    }
    ack_all(
        [detector_id](std::size_t index, std::uint16_t) { return index == detector_id; }, t,
        result, std::index_sequence_for<Pipelines...>{});
    return result;
  }

  /// Acknowledges every detector bound to `channel` at time t.
  FeedResult acknowledge_channel(std::uint16_t channel, Timestamp t) {
    FeedResult result;
    ack_all([channel](std::size_t, std::uint16_t ch) { return ch == channel; }, t, result,
            std::index_sequence_for<Pipelines...>{});
    return result;
  }

  /// The I-th pipeline (detector id I).
  template <std::size_t I>
  std::tuple_element_t<I, Tuple>& detector() noexcept {
    return std::get<I>(pipelines_);
  }
  template <std::size_t I>
  const std::tuple_element_t<I, Tuple>& detector() const noexcept {
    return std::get<I>(pipelines_);
  }

  Sink& sink() noexcept { return sink_; }
  const Sink& sink() const noexcept { return sink_; }
  /// Counters of a channel (channel < MaxChannels).
  const ChannelCounters& counters(std::uint16_t channel) const noexcept {
    PHYSGUARD_ASSERT(channel < MaxChannels, "channel out of range");
    return counters_[channel];
  }
  /// Inputs fed to a channel number >= MaxChannels.
  std::uint32_t unknown_channel() const noexcept { return unknown_channel_; }

 private:
  template <std::size_t... I>
  void bind_ids(std::index_sequence<I...>) noexcept {
    (bind_one(std::get<I>(pipelines_), static_cast<std::uint16_t>(I)), ...);
  }
  template <typename P>
  static void bind_one(P& p, std::uint16_t id) noexcept {
    PHYSGUARD_ASSERT(p.channel() < MaxChannels, "pipeline bound to a channel >= MaxChannels");
    p.bind(p.channel(), id);
  }

  template <typename Input, std::size_t... I>
  void feed_all(std::uint16_t channel, const Input& input, FeedResult& result,
                std::index_sequence<I...>) {
    (feed_one<I>(channel, input, result), ...);
  }
  template <std::size_t I, typename Input>
  void feed_one(std::uint16_t channel, const Input& input, FeedResult& result) {
    using P = std::tuple_element_t<I, Tuple>;
    if constexpr (detail::accepts_input<P, Input>) {
      P& p = std::get<I>(pipelines_);
      if (p.channel() != channel) return;
      ++result.detectors;
      detail::deliver(sink_, p.update(input), result);
    } else {
      (void)channel;
      (void)input;
      (void)result;
    }
  }

  template <typename Select, std::size_t... I>
  void ack_all(Select select, Timestamp t, FeedResult& result, std::index_sequence<I...>) {
    (ack_one<I>(select, t, result), ...);
  }
  template <std::size_t I, typename Select>
  void ack_one(Select& select, Timestamp t, FeedResult& result) {
    auto& p = std::get<I>(pipelines_);
    if (!select(I, p.channel())) return;
    ++result.detectors;
    const auto out = p.acknowledge(t);
    detail::deliver(sink_, out, result);
    if (out.has) counters_[p.channel()].findings += 1;
  }

  Sink sink_;
  Tuple pipelines_;
  std::array<ChannelCounters, MaxChannels> counters_{};
  std::uint32_t unknown_channel_ = 0;
};

/// Builds a firmware Monitor: make_monitor<8>(FindingRing<float, 32>{}, pipeline_a, pipeline_b).
template <std::size_t MaxChannels, typename Sink, typename... Pipelines>
Monitor<Sink, MaxChannels, Pipelines...> make_monitor(Sink sink, Pipelines... pipelines) {
  return Monitor<Sink, MaxChannels, Pipelines...>(std::move(sink), std::move(pipelines)...);
}

}  // namespace physguard
