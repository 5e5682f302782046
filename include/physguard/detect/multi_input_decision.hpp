// physguard/detect/multi_input_decision.hpp - a Decision that also says which input was refused.
#pragma once

#include <cstdint>

#include "decision.hpp"

namespace physguard {

/// The Decision of a check over several samples (redundancy, invariant).  When one or more inputs
/// are refused (missing, bad quality, not finite), `status` is the status of the first refused one
/// and bit i of `refused_inputs` is set for every refused input i, so the caller knows which sensor
/// to blame.  Converts to Decision<T> by slicing when only the common fields matter.
template <typename T>
struct MultiInputDecision : Decision<T> {
  std::uint32_t refused_inputs = 0;  ///< bit i set: input i was refused

  constexpr bool input_refused(int i) const noexcept {
    return ((refused_inputs >> static_cast<unsigned>(i)) & 1u) != 0u;
  }
};

}  // namespace physguard
