// physguard/eval.hpp - HOST-ONLY research tools: CSV recordings, replay into a Monitor, attack
// injection, metrics and scores.  Allocates and does file I/O; errors are returned in records
// (no exceptions).  Not included by physguard.hpp.
#pragma once

#include "eval/attacks.hpp"
#include "eval/csv.hpp"
#include "eval/metrics.hpp"
#include "eval/replay.hpp"
