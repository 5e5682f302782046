// physguard/estimate.hpp - the estimators (firmware-safe).
#pragma once

#include "estimate/innovation.hpp"
#include "estimate/kalman_filter.hpp"
#include "estimate/options.hpp"
