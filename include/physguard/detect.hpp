// physguard/detect.hpp - residual statistics and plausibility checks (firmware-safe: no heap).
#pragma once

#include "detect/after_alarm.hpp"
#include "detect/arl.hpp"
#include "detect/cusum.hpp"
#include "detect/decision.hpp"
#include "detect/ewma.hpp"
#include "detect/invariant.hpp"
#include "detect/multi_input_decision.hpp"
#include "detect/noise_change.hpp"
#include "detect/page_hinkley.hpp"
#include "detect/range_check.hpp"
#include "detect/rate_check.hpp"
#include "detect/redundancy.hpp"
#include "detect/staleness.hpp"
#include "detect/stuck_at.hpp"
#include "detect/threshold.hpp"
#include "detect/windowed_chi_square.hpp"
