// physguard/core/status.hpp - status codes returned by every update.
#pragma once

#include <cstdint>

namespace physguard {

/// Outcome of one update.  `ok` and `gap` mean the sample was used; everything else means it was
/// refused and the object's state is exactly as it was before the call.
enum class Status : std::uint8_t {
  ok = 0,
  missing,                 ///< no measurement this step (quality missing, or masked out)
  not_finite,              ///< NaN or infinity in a measurement or input
  out_of_range,            ///< value outside the physically possible range of the channel
  bad_quality,             ///< the source flagged the sample as bad
  time_backwards,          ///< timestamp earlier than the previous accepted one
  time_repeated,           ///< timestamp equal to the previous accepted one
  gap,                     ///< used, but after a gap longer than allowed (state re-initialised or inflated)
  rejected_by_gate,        ///< innovation outside the gate: not fused into the state
  not_positive_definite,   ///< innovation covariance S is not positive definite: nothing fused
  invalid_argument,        ///< a parameter (dt <= 0, negative variance, ...) is invalid
  not_initialised,         ///< the object has not seen enough data to decide yet
  numerical_failure,       ///< a solver did not converge or produced non-finite numbers
};

/// True when the sample was used to update the state.
constexpr bool is_used(Status s) noexcept { return s == Status::ok || s == Status::gap; }

/// Stable, human-readable name of a status ("time_backwards", ...).
constexpr const char* to_string(Status s) noexcept {
  switch (s) {
    case Status::ok: return "ok";
    case Status::missing: return "missing";
    case Status::not_finite: return "not_finite";
    case Status::out_of_range: return "out_of_range";
    case Status::bad_quality: return "bad_quality";
    case Status::time_backwards: return "time_backwards";
    case Status::time_repeated: return "time_repeated";
    case Status::gap: return "gap";
    case Status::rejected_by_gate: return "rejected_by_gate";
    case Status::not_positive_definite: return "not_positive_definite";
    case Status::invalid_argument: return "invalid_argument";
    case Status::not_initialised: return "not_initialised";
    case Status::numerical_failure: return "numerical_failure";
  }
  return "unknown";
}

}  // namespace physguard
