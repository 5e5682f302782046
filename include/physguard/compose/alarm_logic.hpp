// physguard/compose/alarm_logic.hpp - from per-sample decisions to an operator-facing alarm state.
#pragma once

#include <cstdint>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "../detect/decision.hpp"

namespace physguard {

/// Parameters of AlarmLogic.  Defaults give the plain behaviour: alarm as soon as one decision
/// alarms, clear as soon as one does not, no warning level, no latch, no suppression.
template <typename T>
struct AlarmConfig {
  /// Warning level as a fraction of the decision's threshold: warning when
  /// score > warning_fraction * threshold.  0 disables the warning level.  Must be in [0, 1).
  T warning_fraction = T(0);
  /// Absolute warning level in score units; when > 0 it replaces warning_fraction (use it when the
  /// warning should not follow a threshold that changes from sample to sample).
  T warning_threshold = T(0);
  /// Hysteresis: an active level clears only once score <= clear_fraction * level (and the k-of-n
  /// window no longer holds k exceedances).  In (0, 1]; 1 means no hysteresis band.
  T clear_fraction = T(1);
  /// k-of-n: a level becomes a candidate when at least k of the last n accepted decisions exceeded
  /// it.  1 <= k <= n <= 64 (the window is a 64-bit bitset).
  std::uint8_t k = 1;
  std::uint8_t n = 1;
  /// On-delay (minimum duration): the k-of-n candidate must hold continuously for this long,
  /// measured with Decision::time, before the level becomes active.  0: immediately.
  Duration on_delay{0};
  /// Latching (ISA-18.2): an alarm stays in state alarm until it is acknowledged AND its condition
  /// has cleared, whichever comes last.
  bool latch = false;
  /// Suppression: after an alarm finding is reported, no further state-change finding is reported
  /// for this long (the state machine keeps running; changes are counted in suppressed() and the
  /// final state is reported at the first sample after the hold-off if it differs).
  Duration hold_off{0};
};

/// What AlarmLogic says about one decision.
struct AlarmOutput {
  AlarmState state = AlarmState::normal;  ///< state to put in a finding (see AlarmLogic)
  bool changed = false;                   ///< true: emit a Finding for this decision
  bool in_alarm = false;                  ///< true: the detector must not adapt its baseline
  Status status = Status::ok;             ///< not used (is_used false): a bad_input finding
};

/// Alarm state machine between a statistic's Decision and the Findings an operator sees.
///
/// Per accepted decision (status ok or gap), two levels are tracked, alarm and (optional) warning.
/// A decision *exceeds* the alarm level when Decision::alarm is set, the warning level when it
/// exceeds the alarm level or score > warning level.  For each level:
///   1. the exceedance bit enters a k-of-n window (last n accepted decisions);
///   2. when the window holds >= k exceedances the level is a candidate; a candidate that has held
///      continuously for on_delay seconds (Decision::time) makes the level active;
///   3. an active level clears when the window holds < k exceedances AND the score is at or below
///      clear_fraction * level (hysteresis), so it does not chatter around the threshold.
/// The stable state is alarm if the alarm level is active (or latched and not yet released),
/// else warning if the warning level is active, else normal.
///
/// Findings: `changed` is true exactly when the stable state differs from the last reported one
/// (and no hold-off runs).  The finding's state is the new stable state, except that a return from
/// alarm to normal is reported as AlarmState::cleared.  A decision whose status is not used (NaN,
/// bad quality, ...) or whose time goes backwards yields changed = true with that status (a
/// bad_input finding) and never changes the state.  Status::not_initialised (a detector still
/// warming up) yields no finding and no change; it is counted in not_ready().
///
/// `in_alarm` is true while the state is alarm, while an alarm candidate is pending, or while the
/// alarm window holds any exceedance: the pipeline then tells an adaptive statistic not to learn.
///
/// It knows nothing about the detector (no reset, no callback).  sizeof: 136 bytes (float), 152
/// (double) on 64-bit targets including its AlarmConfig;
/// cost per decision: a few compares, two shifts and two popcounts.
template <typename T>
class AlarmLogic {
 public:
  static constexpr int max_window = 64;

  explicit AlarmLogic(const AlarmConfig<T>& config = AlarmConfig<T>{}) noexcept : cfg_(config) {
    PHYSGUARD_ASSERT(config.n >= 1 && config.n <= max_window, "k-of-n: n must be in [1, 64]");
    PHYSGUARD_ASSERT(config.k >= 1 && config.k <= config.n, "k-of-n: k must be in [1, n]");
    PHYSGUARD_ASSERT(is_finite(config.clear_fraction) && config.clear_fraction > T(0) &&
                         config.clear_fraction <= T(1),
                     "clear_fraction must be in (0, 1]");
    PHYSGUARD_ASSERT(is_finite(config.warning_fraction) && config.warning_fraction >= T(0) &&
                         config.warning_fraction < T(1),
                     "warning_fraction must be in [0, 1)");
    PHYSGUARD_ASSERT(is_finite(config.warning_threshold) && config.warning_threshold >= T(0),
                     "warning_threshold must be >= 0");
    PHYSGUARD_ASSERT(config.on_delay.us >= 0 && config.hold_off.us >= 0,
                     "on_delay and hold_off must be >= 0");
    mask_ = config.n >= 64 ? ~std::uint64_t{0} : ((std::uint64_t{1} << config.n) - 1u);
  }

  /// One decision from the statistic or check.
  AlarmOutput update(const Decision<T>& d) noexcept {
    if (d.status == Status::not_initialised) {
      ++not_ready_;
      return hold(Status::not_initialised, false);
    }
    if (!is_used(d.status)) {
      ++refused_;
      return hold(d.status, true);
    }
    if (has_time_ && d.time < last_time_) {
      ++refused_;
      return hold(Status::time_backwards, true);
    }
    has_time_ = true;
    last_time_ = d.time;

    const AlarmState before = stable_;
    const bool exceed_alarm = d.alarm;
    const bool above_alarm_clear =
        exceed_alarm || (d.threshold > T(0) && d.score > cfg_.clear_fraction * d.threshold);
    step(alarm_, exceed_alarm, above_alarm_clear, d.time);

    const T wlevel = warning_level(d.threshold);
    if (wlevel > T(0)) {
      const bool exceed_warning = exceed_alarm || d.score > wlevel;
      const bool above_warning_clear = exceed_warning || d.score > cfg_.clear_fraction * wlevel;
      step(warning_, exceed_warning, above_warning_clear, d.time);
    } else {
      warning_ = Level{};
    }

    if (alarm_.active) {
      if (stable_ != AlarmState::alarm) {
        latched_ = cfg_.latch;
        acknowledged_ = false;
      }
      stable_ = AlarmState::alarm;
    } else if (!(stable_ == AlarmState::alarm && latched_ && !acknowledged_)) {
      latched_ = false;
      stable_ = warning_.active ? AlarmState::warning : AlarmState::normal;
    }
    return finish(before, d.time, d.status);
  }

  /// Operator acknowledgement at time t.  A latched alarm whose condition has already cleared is
  /// released now (the output then reports the change); otherwise it is released when the
  /// condition clears.  Acknowledging when nothing is in alarm changes nothing.
  AlarmOutput acknowledge(Timestamp t) noexcept {
    const AlarmState before = stable_;
    if (stable_ != AlarmState::alarm) return hold(Status::ok, false);
    acknowledged_ = true;
    if (latched_ && !alarm_.active) {
      latched_ = false;
      stable_ = warning_.active ? AlarmState::warning : AlarmState::normal;
    }
    return finish(before, t, Status::ok);
  }

  /// Back to the initial state (normal, empty windows, nothing pending); counters are kept.
  void reset() noexcept {
    alarm_ = Level{};
    warning_ = Level{};
    stable_ = AlarmState::normal;
    reported_ = AlarmState::normal;
    latched_ = false;
    acknowledged_ = false;
    has_time_ = false;
    holding_off_ = false;
  }

  /// False when a decision at time t would be refused as going backwards (earlier than the last
  /// accepted one): lets a Pipeline refuse such an input before its statistic sees the value.
  bool accepts_time(Timestamp t) const noexcept { return !(has_time_ && t < last_time_); }
  /// Stable state: normal, warning or alarm (never cleared; that is only a finding's state).
  AlarmState state() const noexcept { return stable_; }
  /// The statistic must not adapt its baseline (see class comment).
  bool in_alarm() const noexcept {
    return stable_ == AlarmState::alarm || alarm_.pending || alarm_.window != 0;
  }
  /// The alarm condition itself (after k-of-n, on-delay and hysteresis), regardless of latching.
  bool condition_active() const noexcept { return alarm_.active; }
  bool warning_active() const noexcept { return warning_.active; }
  bool latched() const noexcept { return latched_; }
  bool acknowledged() const noexcept { return acknowledged_; }
  /// Last state reported in a finding.
  AlarmState reported() const noexcept { return reported_; }
  /// Decisions refused (bad input or time going backwards); each produced a bad_input output.
  std::uint32_t refused() const noexcept { return refused_; }
  /// State changes not reported because of the hold-off.
  std::uint32_t suppressed() const noexcept { return suppressed_; }
  /// Decisions with Status::not_initialised (detector warming up).
  std::uint32_t not_ready() const noexcept { return not_ready_; }
  const AlarmConfig<T>& config() const noexcept { return cfg_; }

 private:
  struct Level {
    std::uint64_t window = 0;
    Timestamp since{};
    bool pending = false;
    bool active = false;
  };

  static int popcount(std::uint64_t v) noexcept {
    v = v - ((v >> 1) & 0x5555555555555555ull);
    v = (v & 0x3333333333333333ull) + ((v >> 2) & 0x3333333333333333ull);
    v = (v + (v >> 4)) & 0x0f0f0f0f0f0f0f0full;
    return static_cast<int>((v * 0x0101010101010101ull) >> 56);
  }

  T warning_level(T threshold) const noexcept {
    if (cfg_.warning_threshold > T(0)) return cfg_.warning_threshold;
    if (cfg_.warning_fraction > T(0) && threshold > T(0)) return cfg_.warning_fraction * threshold;
    return T(0);
  }

  void step(Level& level, bool exceed, bool above_clear, Timestamp t) const noexcept {
    level.window = ((level.window << 1) | (exceed ? 1u : 0u)) & mask_;
    const bool candidate = popcount(level.window) >= cfg_.k;
    if (level.active) {
      if (!candidate && !above_clear) {
        level.active = false;
        level.pending = false;
      }
      return;
    }
    if (!candidate) {
      level.pending = false;
      return;
    }
    if (!level.pending) {
      level.pending = true;
      level.since = t;
    }
    if (t - level.since >= cfg_.on_delay) level.active = true;
  }

  AlarmOutput hold(Status status, bool changed) const noexcept {
    AlarmOutput out;
    out.state = stable_;
    out.changed = changed;
    out.in_alarm = in_alarm();
    out.status = status;
    return out;
  }

  AlarmOutput finish(AlarmState before, Timestamp t, Status status) noexcept {
    AlarmOutput out;
    out.status = status;
    out.in_alarm = in_alarm();
    if (holding_off_ && t >= hold_off_until_) holding_off_ = false;
    const AlarmState previously_reported = reported_;
    if (stable_ != reported_ && !holding_off_) {
      out.changed = true;
      reported_ = stable_;
      if (stable_ == AlarmState::alarm && cfg_.hold_off.us > 0) {
        holding_off_ = true;
        hold_off_until_ = t + cfg_.hold_off;
      }
    } else if (stable_ != before) {
      ++suppressed_;
    }
    out.state = (out.changed && stable_ == AlarmState::normal &&
                 previously_reported == AlarmState::alarm)
                    ? AlarmState::cleared
                    : stable_;
    return out;
  }

  AlarmConfig<T> cfg_;
  std::uint64_t mask_ = 1;
  Level alarm_{};
  Level warning_{};
  Timestamp last_time_{};
  Timestamp hold_off_until_{};
  std::uint32_t refused_ = 0;
  std::uint32_t suppressed_ = 0;
  std::uint32_t not_ready_ = 0;
  AlarmState stable_ = AlarmState::normal;
  AlarmState reported_ = AlarmState::normal;
  bool latched_ = false;
  bool acknowledged_ = false;
  bool has_time_ = false;
  bool holding_off_ = false;
};

}  // namespace physguard
