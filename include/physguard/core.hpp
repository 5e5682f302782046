// physguard/core.hpp - everything in core/ (firmware-safe: no heap, no I/O).
#pragma once

#include "core/config.hpp"
#include "core/finding.hpp"
#include "core/numeric.hpp"
#include "core/sample.hpp"
#include "core/statistics.hpp"
#include "core/status.hpp"
#include "core/time.hpp"
