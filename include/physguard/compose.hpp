// physguard/compose.hpp - pipelines, alarm logic, firmware Monitor and sinks (firmware-safe: no
// heap, no I/O, no exceptions or RTTI needed).
//
// Host-only parts are NOT included here: physguard/compose/dynamic_monitor.hpp (run-time
// configured Monitor), physguard/compose/host_sinks.hpp (VectorSink) and physguard/fmt.hpp.
#pragma once

#include "compose/alarm_logic.hpp"
#include "compose/estimator_sources.hpp"
#include "compose/monitor.hpp"
#include "compose/pipeline.hpp"
#include "compose/sink.hpp"
#include "compose/sources.hpp"
