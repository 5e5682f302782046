// physguard/identify.hpp - fitting models, noise and thresholds from normal-operation recordings.
//
// CONFIGURATION-TIME CODE: the fits allocate (Eigen dynamic sizes) and are meant for a host or
// start-up, never for the per-sample path; their results configure the firmware-safe models and
// detectors.  No exceptions, no RTTI.  Not included by physguard.hpp.
#pragma once

#include "identify/arx_fit.hpp"
#include "identify/fopdt_fit.hpp"
#include "identify/noise.hpp"
#include "identify/noise_covariance.hpp"
#include "identify/threshold_calibration.hpp"
