// examples/batadal/table.hpp - the recording as the detector sees it: physguard::eval's CsvTable.
#pragma once

#include <physguard/eval/csv.hpp>

namespace batadal {

using Table = physguard::eval::CsvTable;

}  // namespace batadal
