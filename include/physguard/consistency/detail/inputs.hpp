// physguard/consistency/detail/inputs.hpp - input screening shared by the consistency checkers.
// Internal: not part of the public API.
#pragma once

#include <cstdint>

#include "../../core/sample.hpp"
#include "../../core/status.hpp"
#include "../../core/time.hpp"
#include "../../detect/decision.hpp"
#include "../../detect/multi_input_decision.hpp"

namespace physguard {
namespace detail {
namespace consistency {

/// Screening of a discrete (bool) sample: only its quality can be wrong.
constexpr Status screen_discrete(const Sample<bool>& s) noexcept {
  if (s.quality == Quality::missing) return Status::missing;
  if (s.quality == Quality::bad) return Status::bad_quality;
  return Status::ok;
}

constexpr Status screen_any(const Sample<bool>& s) noexcept { return screen_discrete(s); }
template <typename T>
constexpr Status screen_any(const Sample<T>& s) noexcept {
  return screen(s);
}

constexpr Timestamp later(Timestamp a, Timestamp b) noexcept { return a < b ? b : a; }

/// Collects the refusal of several inputs of one scan: bit i of refused_inputs for every refused
/// input i, status of the first refused one, cause sensor_fault, kind bad_input.
template <typename Result>
struct InputScreen {
  Result result{};
  bool any = false;

  template <typename S>
  constexpr void check(int index, const S& s) noexcept {
    const Status st = screen_any(s);
    if (st == Status::ok) return;
    if (!any) {
      result.status = st;
      result.kind = FindingKind::bad_input;
      result.cause = Cause::sensor_fault;
    }
    any = true;
    result.refused_inputs |= (std::uint32_t{1} << static_cast<unsigned>(index));
  }
};

/// A refusal because of the time stamp (time_backwards / time_repeated), kind timing.
template <typename Result>
constexpr Result refused_time(Status why, Timestamp t) noexcept {
  Result r{};
  r.time = t;
  r.status = why;
  r.kind = FindingKind::timing;
  r.cause = Cause::unknown;
  return r;
}

/// A refusal of a value (not finite, invalid), kind bad_input.
template <typename Result>
constexpr Result refused_value(Status why, Timestamp t, std::uint32_t inputs = 0) noexcept {
  Result r{};
  r.time = t;
  r.status = why;
  r.kind = FindingKind::bad_input;
  r.cause = Cause::sensor_fault;
  r.refused_inputs = inputs;
  return r;
}

/// Elapsed time in seconds as T.
template <typename T>
constexpr T seconds(Duration d) noexcept {
  return d.template seconds<T>();
}

}  // namespace consistency
}  // namespace detail
}  // namespace physguard
