// physguard/compose/host_sinks.hpp - HOST-ONLY sinks (they allocate).  Firmware: do not include;
// use FindingRing / CountingSink from compose/sink.hpp.
#pragma once

#include <cstddef>
#include <vector>

#include "../core/finding.hpp"

namespace physguard {

/// Appends every finding to a std::vector (tests, replay tools, gateways that batch findings).
template <typename T>
struct VectorSink {
  std::vector<Finding<T>> findings;

  void operator()(const Finding<T>& f) { findings.push_back(f); }
  std::size_t size() const noexcept { return findings.size(); }
  void clear() noexcept { findings.clear(); }
};

}  // namespace physguard
