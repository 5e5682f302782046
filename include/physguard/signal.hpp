// physguard/signal.hpp - signal models and channel conditioning (firmware-safe).
#pragma once

#include "signal/analog.hpp"
#include "signal/arx.hpp"
#include "signal/delay_line.hpp"
#include "signal/discretise.hpp"
#include "signal/first_order_lag.hpp"
#include "signal/first_order_plus_dead_time.hpp"
#include "signal/nonlinear.hpp"
#include "signal/orifice_tank.hpp"
#include "signal/process.hpp"
#include "signal/random_walk.hpp"
#include "signal/rate_limited_actuator.hpp"
#include "signal/state_space.hpp"
#include "signal/tank.hpp"
