// physguard/detect/staleness.hpp - samples that come too late, repeat, or go back in time.
#pragma once

#include <cstdint>

#include "../core/config.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "decision.hpp"

namespace physguard {

/// Staleness check on the timestamps of one channel (core TimeGuard with max_gap = max_age):
///
/// - a gap: a good sample more than `max_age` after the previous accepted one.  Used (it becomes
///   the new reference), Status::gap, alarm, cause = communication (the transport or the source
///   stalled; a denial of service looks the same).
/// - time going back or repeating: refused (Status::time_backwards / time_repeated), reference
///   unchanged, no alarm (per the Decision contract), cause = suspected_attack: a healthy source's
///   clock never runs backwards, and re-sent or replayed telegrams carry old or duplicate stamps.
///   The Finding built from such a decision is a bad_input finding carrying that status.
/// - a channel that stopped delivering: `check_age(now)` from the caller's own clock (a periodic
///   task), alarm when now - last > max_age.  Before the first sample, start(now) sets the time
///   from which the first sample is expected; without it check_age() returns not_initialised.
///
/// Each kind of event is counted (gaps(), backwards(), repeated(), refused_quality()); counters are
/// diagnostics and the only thing a refused sample changes.  Samples of bad or missing quality are
/// refused and do NOT refresh the channel: a source that only sends "bad" goes stale.
///
/// Decision: score = age in seconds (time since the previous accepted sample, or since the last
/// one for check_age), threshold = max_age in seconds, kind = timing.  T is only the scalar of the
/// score (double by default); sizeof ~ 48 bytes.
template <typename T = double>
class StalenessCheck {
 public:
  static constexpr const char* name = "staleness";

  /// `max_age` > 0: the longest allowed time between two accepted samples.
  explicit StalenessCheck(Duration max_age) noexcept : guard_(max_age) {
    PHYSGUARD_ASSERT(max_age.us > 0, "max age must be > 0");
  }

  Decision<T> update(const Sample<T>& s) noexcept {
    const Status st = screen(s);
    if (st != Status::ok) {
      ++refused_quality_;
      Decision<T> d = refused<T>(st, s.time);
      d.kind = FindingKind::timing;
      return d;
    }
    return update(s.time);
  }

  /// The timestamp of a sample whose value is irrelevant here (already screened by the caller).
  Decision<T> update(Timestamp t) noexcept {
    const Status ts = guard_.check(t);
    if (ts == Status::time_backwards || ts == Status::time_repeated) {
      if (ts == Status::time_backwards)
        ++backwards_;
      else
        ++repeated_;
      Decision<T> d = refused<T>(ts, t);
      d.kind = FindingKind::timing;
      d.cause = Cause::suspected_attack;
      return d;
    }
    Decision<T> d;
    d.time = t;
    d.kind = FindingKind::timing;
    d.cause = Cause::communication;
    d.threshold = guard_.max_gap().template seconds<T>();
    d.score = guard_.elapsed(t).template seconds<T>();
    d.status = ts;
    d.alarm = ts == Status::gap;
    d.direction = d.alarm ? std::int8_t{1} : std::int8_t{0};
    if (d.alarm) ++gaps_;
    guard_.accept(t);
    return d;
  }

  /// Age of the channel at `now` (the caller's clock): alarm when now - last > max_age.  Does not
  /// change anything.  now earlier than the last sample: time_backwards; nothing seen and no
  /// start(): not_initialised.
  Decision<T> check_age(Timestamp now) const noexcept {
    if (!guard_.has_last()) {
      Decision<T> d = refused<T>(Status::not_initialised, now);
      d.kind = FindingKind::timing;
      return d;
    }
    if (now < guard_.last()) {
      Decision<T> d = refused<T>(Status::time_backwards, now);
      d.kind = FindingKind::timing;
      return d;
    }
    Decision<T> d;
    d.time = now;
    d.kind = FindingKind::timing;
    d.cause = Cause::communication;
    d.threshold = guard_.max_gap().template seconds<T>();
    d.score = (now - guard_.last()).template seconds<T>();
    d.alarm = (now - guard_.last()) > guard_.max_gap();
    d.direction = d.alarm ? std::int8_t{1} : std::int8_t{0};
    return d;
  }

  /// Expect the first sample within max_age of `now` (arms check_age before any sample arrived).
  void start(Timestamp now) noexcept { guard_.accept(now); }

  /// Forgets the last sample time and zeroes the counters.
  void reset() noexcept {
    guard_.reset();
    gaps_ = backwards_ = repeated_ = refused_quality_ = 0;
  }

  std::uint32_t gaps() const noexcept { return gaps_; }
  std::uint32_t backwards() const noexcept { return backwards_; }
  std::uint32_t repeated() const noexcept { return repeated_; }
  std::uint32_t refused_quality() const noexcept { return refused_quality_; }
  bool has_last() const noexcept { return guard_.has_last(); }
  Timestamp last_time() const noexcept { return guard_.last(); }
  Duration max_age() const noexcept { return guard_.max_gap(); }

 private:
  TimeGuard guard_;
  std::uint32_t gaps_ = 0;
  std::uint32_t backwards_ = 0;
  std::uint32_t repeated_ = 0;
  std::uint32_t refused_quality_ = 0;
};

}  // namespace physguard
