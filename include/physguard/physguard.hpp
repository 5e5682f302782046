// physguard/physguard.hpp - umbrella header: everything firmware may use.
//
// Firmware-safe (no heap after construction, no I/O, no exceptions or RTTI needed, float and
// double):
//   core.hpp  signal.hpp  estimate.hpp  detect.hpp  consistency.hpp  compose.hpp
// Host-only (allocate, do I/O or need {fmt} / nlohmann-json) - NOT included here:
//   physguard/fmt.hpp                  fmt formatters and JSON for findings
//   physguard/compose/dynamic_monitor.hpp, compose/host_sinks.hpp   run-time configured monitors
//   physguard/config/ (gateway_*.hpp)  gateway configuration (JSON) and processing path
//   physguard/eval.hpp (eval/)         CSV replay, attack injection, metrics, scores
//   physguard/identify.hpp (identify/) model, noise and threshold fitting from recordings
#pragma once

#include "compose.hpp"
#include "consistency.hpp"
#include "core.hpp"
#include "detect.hpp"
#include "estimate.hpp"
#include "signal.hpp"
