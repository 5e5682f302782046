// physguard/batch.hpp - structure-of-arrays channel banks (firmware-safe: no heap, no
// exceptions; owning storage for hosts is in batch/host_storage.hpp).
#pragma once

#include "batch/simd.hpp"
#include "batch/kalman_cusum_bank.hpp"
#include "batch/steady_kalman_cusum_bank.hpp"
#include "batch/cv_ewma_bank.hpp"
#include "batch/steady_cv_ewma_bank.hpp"
#include "batch/plausibility_bank.hpp"
#include "batch/response_cusum_bank.hpp"
