// physguard/eval/replay.hpp - HOST-ONLY: feeds a Monitor (compose/monitor.hpp or
// compose/dynamic_monitor.hpp) from a recording, row by row, with the rows' timestamps.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "../compose/monitor.hpp"
#include "../core/sample.hpp"
#include "../core/time.hpp"
#include "csv.hpp"

namespace physguard::eval {

/// Binds a value column of the recording to a Monitor channel.  The sample fed is
/// scale * cell + offset (unit conversion), as Sample<Monitor::Scalar>{row time, value, quality}.
struct ChannelBinding {
  std::string column;
  std::uint16_t channel = 0;
  double scale = 1.0;
  double offset = 0.0;
};

struct ReplayOptions {
  /// NaN (empty) cells: true -> fed as Sample{time, NaN, Quality::missing} (the detectors refuse
  /// them and count them: nothing disappears silently); false -> not fed at all (counted in
  /// ReplayResult::missing).
  bool feed_missing = true;
  bool progress = true;  ///< progress on stderr for long replays (only on a terminal)
  std::size_t begin_row = 0;                                         ///< first row replayed
  std::size_t end_row = std::numeric_limits<std::size_t>::max();     ///< one past the last row
};

/// What the monitor did with one row (all bound columns of that row).
struct RowFeed {
  std::size_t row = 0;        ///< row index in the table (for a CsvReader: data-row count - 1)
  Timestamp time{};
  std::uint32_t samples = 0;  ///< samples fed for this row
  std::uint32_t findings = 0; ///< findings the monitor delivered to its sink for this row
  bool refused = false;       ///< at least one detector refused one of the row's samples
};

struct ReplayResult {
  bool ok = false;
  CsvError error;               ///< unknown column, or the CsvReader's error
  std::size_t rows = 0;         ///< rows replayed
  std::size_t samples = 0;      ///< samples fed
  std::size_t missing = 0;      ///< NaN cells (fed as missing, or skipped)
  std::size_t refused = 0;      ///< samples refused by at least one detector
  std::size_t findings = 0;     ///< findings delivered
  std::size_t unrouted = 0;     ///< samples no detector took
  std::size_t bad_channel = 0;  ///< samples fed to a channel the monitor does not know
};

namespace detail {

struct ResolvedBinding {
  std::size_t column;
  std::uint16_t channel;
  double scale;
  double offset;
};

inline bool resolve_bindings(const std::vector<std::string>& columns,
                             const std::vector<ChannelBinding>& bindings,
                             std::vector<ResolvedBinding>& out, CsvError& error) {
  out.clear();
  for (const ChannelBinding& b : bindings) {
    std::size_t found = columns.size();
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == b.column) found = i;
    if (found == columns.size()) {
      error.message = "no column named '" + b.column + "' in the recording";
      return false;
    }
    out.push_back(ResolvedBinding{found, b.channel, b.scale, b.offset});
  }
  return true;
}

template <typename Monitor, typename GetValue>
RowFeed feed_row(Monitor& monitor, const std::vector<ResolvedBinding>& bindings, std::size_t row,
                 Timestamp t, GetValue&& value_of, const ReplayOptions& options,
                 ReplayResult& result) {
  using T = typename Monitor::Scalar;
  RowFeed rf;
  rf.row = row;
  rf.time = t;
  for (const ResolvedBinding& b : bindings) {
    const double cell = value_of(b.column);
    Sample<T> s;
    s.time = t;
    if (std::isnan(cell)) {
      ++result.missing;
      if (!options.feed_missing) continue;
      s.value = std::numeric_limits<T>::quiet_NaN();
      s.quality = Quality::missing;
    } else {
      s.value = static_cast<T>(b.scale * cell + b.offset);
    }
    const FeedResult r = monitor.feed(b.channel, s);
    ++rf.samples;
    ++result.samples;
    if (r.status == Status::invalid_argument) {
      ++result.bad_channel;
      continue;
    }
    if (r.detectors == 0) ++result.unrouted;
    if (r.refused) {
      ++result.refused;
      rf.refused = true;
    }
    rf.findings += r.findings;
    result.findings += r.findings;
  }
  ++result.rows;
  return rf;
}

}  // namespace detail

/// Replays rows [begin_row, end_row) of a table into a Monitor (firmware Monitor or
/// DynamicMonitor: anything with `Scalar` and `FeedResult feed(channel, Sample<Scalar>)`).
/// For each row, each binding's cell is fed in the order of `bindings`; then
/// `on_row(const RowFeed&)` is called (mark the row as flagged when findings > 0, acknowledge
/// alarms, collect statistics...).  Findings themselves go to the monitor's sink.
template <typename Monitor, typename OnRow,
          typename = std::enable_if_t<std::is_invocable<OnRow&, const RowFeed&>::value>>
ReplayResult replay(const CsvTable& table, const std::vector<ChannelBinding>& bindings,
                    Monitor& monitor, OnRow&& on_row, const ReplayOptions& options = {}) {
  ReplayResult result;
  std::vector<detail::ResolvedBinding> resolved;
  if (!detail::resolve_bindings(table.columns, bindings, resolved, result.error)) return result;
  const std::size_t end = options.end_row < table.rows() ? options.end_row : table.rows();
  ProgressMeter progress("replay", end > options.begin_row ? end - options.begin_row : 0,
                         options.progress && stderr_is_terminal());
  for (std::size_t r = options.begin_row; r < end; ++r) {
    const RowFeed rf = detail::feed_row(
        monitor, resolved, r, table.time[r],
        [&](std::size_t c) { return table.values[c][r]; }, options, result);
    on_row(rf);
    progress.update(r - options.begin_row + 1);
  }
  result.ok = true;
  return result;
}

/// As above, without a per-row callback.
template <typename Monitor>
ReplayResult replay(const CsvTable& table, const std::vector<ChannelBinding>& bindings,
                    Monitor& monitor, const ReplayOptions& options = {}) {
  return replay(table, bindings, monitor, [](const RowFeed&) {}, options);
}

/// Streams a file through a Monitor without loading it: `reader` must be open (header read).
/// Stops at the reader's first error (result.ok false, result.error the reader's error).
template <typename Monitor, typename OnRow,
          typename = std::enable_if_t<std::is_invocable<OnRow&, const RowFeed&>::value>>
ReplayResult replay(CsvReader& reader, const std::vector<ChannelBinding>& bindings,
                    Monitor& monitor, OnRow&& on_row, const ReplayOptions& options = {}) {
  ReplayResult result;
  result.error.file = reader.path();
  std::vector<detail::ResolvedBinding> resolved;
  if (!detail::resolve_bindings(reader.header(), bindings, resolved, result.error)) return result;
  ProgressMeter progress("replay " + reader.path(), reader.file_size(),
                         options.progress && stderr_is_terminal());
  CsvRow row;
  std::size_t index = 0;
  while (reader.next(row)) {
    const std::size_t r = index++;
    if (r < options.begin_row) continue;
    if (r >= options.end_row) break;
    const RowFeed rf = detail::feed_row(
        monitor, resolved, r, row.time, [&](std::size_t c) { return row.values[c]; }, options,
        result);
    on_row(rf);
    progress.update(reader.bytes_read());
  }
  if (reader.failed()) {
    result.error = reader.error();
    return result;
  }
  result.ok = true;
  return result;
}

}  // namespace physguard::eval
