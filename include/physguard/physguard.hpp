// physguard/physguard.hpp - umbrella header.
//
// Firmware-safe (no heap after construction, no I/O, no exceptions or RTTI needed):
//   core.hpp, signal.hpp, estimate.hpp  (and detect.hpp, consistency.hpp, compose.hpp when present)
// Host-only (allocate, do I/O or need {fmt}) - NOT included here:
//   physguard/fmt.hpp, physguard/eval/*
#pragma once

#include "core.hpp"
#include "estimate.hpp"
#include "signal.hpp"
