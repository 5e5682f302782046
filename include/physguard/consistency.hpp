// physguard/consistency.hpp - command/response checkers (firmware-safe: no heap, no I/O).
//
//   consistency/command_response.hpp   DiscreteCommandResponseChecker, ValveCommandResponseChecker
//   consistency/analog_tracking.hpp    AnalogTrackingChecker (actuator model + statistic)
//   consistency/setpoint_envelope.hpp  SetpointEnvelope (limits, rate, ratio to baseline)
//   consistency/control_logic.hpp      HysteresisRuleChecker
//   consistency/response_model.hpp     ResponseModelChecker (FOPDT model + statistic)
#pragma once

#include "consistency/analog_tracking.hpp"
#include "consistency/command_response.hpp"
#include "consistency/control_logic.hpp"
#include "consistency/response_model.hpp"
#include "consistency/setpoint_envelope.hpp"
