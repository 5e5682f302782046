// physguard/compose/dynamic_monitor.hpp - HOST-ONLY (allocates while it is configured): a Monitor
// whose detectors and channels are chosen at run time, for gateways with thousands of channels.
// Firmware: use Monitor from compose/monitor.hpp.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <type_traits>
#include <utility>
#include <variant>
#include <vector>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "monitor.hpp"
#include "pipeline.hpp"

namespace physguard {

/// Run-time configured monitor over a closed set of pipeline types.
///
/// Each detector is a `std::variant<Pipelines...>` stored by value in one contiguous vector; each
/// channel has the list of its detectors' ids.  feed(channel, input) walks that list and
/// dispatches with std::visit (a jump table over the alternatives: no virtual call, no RTTI); the
/// alternatives whose input_type differs from the input's are skipped at compile time.  Memory is
/// allocated only by add() (and reserve()); feeding does not allocate.
///
/// A configuration loader (issue 7) maps a detector's name in the configuration to one of the
/// alternatives, builds the pipeline from its parameters and calls add(); add() refuses (returns
/// an empty optional) when the 16-bit detector id space is exhausted.
template <typename Sink, typename... Pipelines>
class DynamicMonitor {
  static_assert(sizeof...(Pipelines) >= 1, "a monitor knows at least one pipeline type");

 public:
  using Detector = std::variant<Pipelines...>;
  using Scalar = typename std::tuple_element_t<0, std::tuple<Pipelines...>>::Scalar;
  static_assert((std::is_same<typename Pipelines::Scalar, Scalar>::value && ...),
                "every pipeline of a monitor uses the same scalar type");
  static constexpr std::size_t max_detectors = 65535;

  explicit DynamicMonitor(Sink sink = Sink{}) : sink_(std::move(sink)) {}

  /// Reserves room for `detectors` detectors and `channels` channels.
  void reserve(std::size_t detectors, std::size_t channels) {
    detectors_.reserve(detectors);
    by_channel_.reserve(channels);
    counters_.reserve(channels);
  }

  /// Adds a detector bound to `channel`; returns its id, or nothing when the monitor is full.
  template <typename P>
  std::optional<std::uint16_t> add(std::uint16_t channel, P pipeline) {
    static_assert((std::is_same<P, Pipelines>::value || ...),
                  "this pipeline type is not one of the monitor's alternatives");
    if (detectors_.size() >= max_detectors) return std::nullopt;
    const auto id = static_cast<std::uint16_t>(detectors_.size());
    pipeline.bind(channel, id);
    detectors_.emplace_back(std::in_place_type<P>, std::move(pipeline));
    if (channel >= by_channel_.size()) {
      by_channel_.resize(static_cast<std::size_t>(channel) + 1);
      counters_.resize(static_cast<std::size_t>(channel) + 1);
    }
    by_channel_[channel].push_back(id);
    return id;
  }

  /// Feeds one input to the detectors of `channel`.
  template <typename Input>
  FeedResult feed(std::uint16_t channel, const Input& input) {
    FeedResult result;
    if (channel >= by_channel_.size()) {
      ++unknown_channel_;
      result.status = Status::invalid_argument;
      return result;
    }
    for (const std::uint16_t id : by_channel_[channel]) {
      std::visit(
          [&](auto& p) {
            using P = std::decay_t<decltype(p)>;
            if constexpr (detail::accepts_input<P, Input>) {
              ++result.detectors;
              detail::deliver(sink_, p.update(input), result);
            }
          },
          detectors_[id]);
    }
    detail::account(counters_[channel], result);
    return result;
  }

  /// Acknowledges one detector at time t.
  FeedResult acknowledge(std::uint16_t detector_id, Timestamp t) {
    FeedResult result;
    if (detector_id >= detectors_.size()) {
      result.status = Status::invalid_argument;
      return result;
    }
    ack(detector_id, t, result);
    return result;
  }

  /// Acknowledges every detector of a channel at time t.
  FeedResult acknowledge_channel(std::uint16_t channel, Timestamp t) {
    FeedResult result;
    if (channel >= by_channel_.size()) {
      result.status = Status::invalid_argument;
      return result;
    }
    for (const std::uint16_t id : by_channel_[channel]) ack(id, t, result);
    return result;
  }

  std::size_t size() const noexcept { return detectors_.size(); }
  /// One more than the highest channel number a detector was bound to.
  std::size_t channel_count() const noexcept { return by_channel_.size(); }
  Detector& detector(std::uint16_t id) noexcept { return detectors_[id]; }
  const Detector& detector(std::uint16_t id) const noexcept { return detectors_[id]; }
  /// Ids of the detectors bound to a channel.
  const std::vector<std::uint16_t>& detectors_of(std::uint16_t channel) const noexcept {
    PHYSGUARD_ASSERT(channel < by_channel_.size(), "channel out of range");
    return by_channel_[channel];
  }
  const ChannelCounters& counters(std::uint16_t channel) const noexcept {
    PHYSGUARD_ASSERT(channel < counters_.size(), "channel out of range");
    return counters_[channel];
  }
  std::uint32_t unknown_channel() const noexcept { return unknown_channel_; }
  Sink& sink() noexcept { return sink_; }
  const Sink& sink() const noexcept { return sink_; }

 private:
  void ack(std::uint16_t id, Timestamp t, FeedResult& result) {
    std::visit(
        [&](auto& p) {
          ++result.detectors;
          const auto out = p.acknowledge(t);
          detail::deliver(sink_, out, result);
          if (out.has) counters_[p.channel()].findings += 1;
        },
        detectors_[id]);
  }

  Sink sink_;
  std::vector<Detector> detectors_;
  std::vector<std::vector<std::uint16_t>> by_channel_;
  std::vector<ChannelCounters> counters_;
  std::uint32_t unknown_channel_ = 0;
};

}  // namespace physguard
