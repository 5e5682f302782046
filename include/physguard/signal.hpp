// physguard/signal.hpp - signal models and channel conditioning (firmware-safe).
#pragma once

#include "signal/state_space.hpp"
