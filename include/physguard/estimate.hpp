// physguard/estimate.hpp - the estimators (firmware-safe).
#pragma once

#include "estimate/autodiff.hpp"
#include "estimate/extended_kalman_filter.hpp"
#include "estimate/innovation.hpp"
#include "estimate/kalman_filter.hpp"
#include "estimate/options.hpp"
#include "estimate/riccati.hpp"
#include "estimate/steady_state_kalman_filter.hpp"
#include "estimate/timed_filter.hpp"
#include "estimate/unscented_kalman_filter.hpp"
