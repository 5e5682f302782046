// physguard/eval/csv.hpp - HOST-ONLY (allocates, does file I/O): reading recorded time series
// from CSV files, whole (read_csv) or streamed row by row (CsvReader), and writing them back.
//
// Errors are reported in records (CsvError: file, line, column, message), never by exceptions,
// so this header compiles with -fno-exceptions -fno-rtti.
#pragma once

#include <charconv>
#include <chrono>
#include <cmath>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <limits>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#if defined(__unix__) || defined(__APPLE__)
#include <unistd.h>
#define PHYSGUARD_EVAL_HAVE_ISATTY 1
#endif

#include "../core/time.hpp"

namespace physguard::eval {

/// How the time column is written.
enum class TimeFormat {
  automatic,            ///< decided from the first data row: '/' -> day_month_year_hour,
                        ///< "YYYY-MM-DD..." -> iso8601, otherwise seconds
  iso8601,              ///< 2016-07-04T13:00:00.25Z, 2016-07-04 13:00, 2016-07-04T13:00:00+02:00, 2016-07-04
  day_month_year_hour,  ///< dd/mm/yy HH as BATADAL (also dd/mm/yyyy, and HH:MM[:SS])
  seconds,              ///< plain (fractional) seconds since an epoch of your choice
};

constexpr const char* to_string(TimeFormat f) noexcept {
  switch (f) {
    case TimeFormat::automatic: return "automatic";
    case TimeFormat::iso8601: return "iso8601";
    case TimeFormat::day_month_year_hour: return "day_month_year_hour";
    case TimeFormat::seconds: return "seconds";
  }
  return "unknown";
}

/// Where and why reading failed.  line and column are 1-based; column is the character position
/// of the offending field's first non-blank character (for a missing field: one past the end of
/// the line); 0 when not applicable (e.g. the file cannot be opened).
struct CsvError {
  std::string file;
  std::size_t line = 0;
  std::size_t column = 0;
  std::string message;

  /// "file:line:column: message" (the GCC/Clang diagnostic form editors understand).
  std::string describe() const {
    return file + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + message;
  }
};

struct CsvOptions {
  char delimiter = ',';
  std::string time_column;  ///< name of the time column; empty: the first column
  TimeFormat time_format = TimeFormat::automatic;
  bool allow_missing = true;         ///< empty / NaN cells become NaN; false: they are errors
  bool allow_repeated_time = false;  ///< false: a timestamp equal to the previous one is an error
  bool progress = true;              ///< progress on stderr for long reads (only on a terminal)
};

/// A whole recording in memory, column-major: values[column][row].  `columns` are the value
/// columns (the time column is not among them; its name is `time_column`).  Timestamps are
/// microseconds since the Unix epoch (UTC) for calendar formats, or since 0 for plain seconds.
struct CsvTable {
  std::vector<std::string> columns;
  std::vector<Timestamp> time;
  std::vector<std::vector<double>> values;  ///< values[column][row]; NaN for empty / NaN cells
  std::string time_column;
  TimeFormat time_format = TimeFormat::automatic;  ///< the format the file used

  /// Index of a value column by its (trimmed) name, -1 when absent.
  int column_index(std::string_view name) const {
    for (std::size_t i = 0; i < columns.size(); ++i)
      if (columns[i] == name) return static_cast<int>(i);
    return -1;
  }
  std::size_t rows() const noexcept { return time.size(); }
  /// The column's values, nullptr when absent.
  const std::vector<double>* column(std::string_view name) const {
    const int i = column_index(name);
    return i < 0 ? nullptr : &values[static_cast<std::size_t>(i)];
  }
  std::vector<double>* column(std::string_view name) {
    const int i = column_index(name);
    return i < 0 ? nullptr : &values[static_cast<std::size_t>(i)];
  }
};

struct CsvResult {
  bool ok = false;
  CsvTable table;
  CsvError error;
};

/// One data row from the streaming reader: values in header() order (the time column excluded).
struct CsvRow {
  std::size_t line = 0;  ///< 1-based line number in the file
  Timestamp time{};
  std::vector<double> values;
};

// --------------------------------------------------------------------------------------------
// Calendar and timestamp parsing (UTC, proleptic Gregorian calendar, integer arithmetic only).

/// Days from 1970-01-01 to year-month-day (month 1..12).
constexpr std::int64_t days_from_civil(std::int64_t year, int month, int day) noexcept {
  // Shift the year to start in March so the leap day is the last day of the "year".
  const std::int64_t y = year - (month <= 2 ? 1 : 0);
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const std::int64_t year_of_era = y - era * 400;                                  // [0, 399]
  const int m = month > 2 ? month - 3 : month + 9;                                 // March = 0
  const std::int64_t day_of_year = (153 * m + 2) / 5 + day - 1;                    // [0, 365]
  const std::int64_t day_of_era =
      year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;       // [0, 146096]
  return era * 146097 + day_of_era - 719468;  // 719468 days from 0000-03-01 to 1970-01-01
}

/// Inverse of days_from_civil.
struct CivilDate {
  std::int64_t year = 1970;
  int month = 1;
  int day = 1;
};
constexpr CivilDate civil_from_days(std::int64_t days) noexcept {
  const std::int64_t z = days + 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const std::int64_t day_of_era = z - era * 146097;
  const std::int64_t year_of_era =
      (day_of_era - day_of_era / 1460 + day_of_era / 36524 - day_of_era / 146096) / 365;
  const std::int64_t day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
  const std::int64_t mp = (5 * day_of_year + 2) / 153;
  CivilDate d;
  d.day = static_cast<int>(day_of_year - (153 * mp + 2) / 5 + 1);
  d.month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  d.year = year_of_era + era * 400 + (d.month <= 2 ? 1 : 0);
  return d;
}

constexpr bool is_leap_year(std::int64_t y) noexcept {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}
constexpr int days_in_month(std::int64_t year, int month) noexcept {
  constexpr int days[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return month == 2 && is_leap_year(year) ? 29 : days[month - 1];
}

namespace detail {

constexpr bool is_digit(char c) noexcept { return c >= '0' && c <= '9'; }

/// Reads exactly `count` digits at text[pos]; advances pos.
inline bool read_digits(std::string_view text, std::size_t& pos, std::size_t count,
                        std::int64_t& out) noexcept {
  if (pos + count > text.size()) return false;
  std::int64_t v = 0;
  for (std::size_t i = 0; i < count; ++i) {
    if (!is_digit(text[pos + i])) return false;
    v = v * 10 + (text[pos + i] - '0');
  }
  pos += count;
  out = v;
  return true;
}

/// Reads 1..max digits.
inline bool read_some_digits(std::string_view text, std::size_t& pos, std::size_t max_count,
                             std::int64_t& out) noexcept {
  std::size_t n = 0;
  std::int64_t v = 0;
  while (pos + n < text.size() && n < max_count && is_digit(text[pos + n])) {
    v = v * 10 + (text[pos + n] - '0');
    ++n;
  }
  if (n == 0) return false;
  pos += n;
  out = v;
  return true;
}

/// ".ffffff" -> microseconds (digits beyond the sixth are truncated).
inline bool read_fraction_us(std::string_view text, std::size_t& pos, std::int64_t& us) noexcept {
  us = 0;
  if (pos >= text.size() || (text[pos] != '.' && text[pos] != ',')) return true;
  ++pos;
  std::size_t n = 0;
  std::int64_t scale = 100000;
  while (pos < text.size() && is_digit(text[pos])) {
    if (n < 6) {
      us += (text[pos] - '0') * scale;
      scale /= 10;
    }
    ++pos;
    ++n;
  }
  return n > 0;
}

inline bool set_why(std::string* why, const char* message) {
  if (why) *why = message;
  return false;
}

inline bool finish_calendar(std::int64_t year, std::int64_t month, std::int64_t day,
                            std::int64_t hour, std::int64_t minute, std::int64_t second,
                            std::int64_t frac_us, std::int64_t offset_min, Timestamp& out,
                            std::string* why) {
  if (month < 1 || month > 12) return set_why(why, "month out of range");
  if (day < 1 || day > days_in_month(year, static_cast<int>(month)))
    return set_why(why, "day out of range");
  if (hour > 23) return set_why(why, "hour out of range");
  if (minute > 59) return set_why(why, "minute out of range");
  if (second > 59) return set_why(why, "second out of range");
  const std::int64_t days = days_from_civil(year, static_cast<int>(month), static_cast<int>(day));
  const std::int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_min * 60;
  out = Timestamp{secs * 1000000 + frac_us};
  return true;
}

inline bool parse_iso8601(std::string_view s, Timestamp& out, std::string* why) {
  std::size_t p = 0;
  std::int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, frac = 0, off = 0;
  if (!read_digits(s, p, 4, year) || p >= s.size() || s[p] != '-')
    return set_why(why, "expected an ISO 8601 date YYYY-MM-DD");
  ++p;
  if (!read_digits(s, p, 2, month) || p >= s.size() || s[p] != '-' || (++p, false) ||
      !read_digits(s, p, 2, day))
    return set_why(why, "expected an ISO 8601 date YYYY-MM-DD");
  if (p < s.size()) {
    if (s[p] != 'T' && s[p] != 't' && s[p] != ' ')
      return set_why(why, "expected 'T' or a space after the date");
    ++p;
    if (!read_digits(s, p, 2, hour) || p >= s.size() || s[p] != ':' || (++p, false) ||
        !read_digits(s, p, 2, minute))
      return set_why(why, "expected a time HH:MM[:SS[.fff]]");
    if (p < s.size() && s[p] == ':') {
      ++p;
      if (!read_digits(s, p, 2, second)) return set_why(why, "expected seconds SS");
      if (!read_fraction_us(s, p, frac)) return set_why(why, "expected digits after the decimal point");
    }
    if (p < s.size()) {
      if (s[p] == 'Z' || s[p] == 'z') {
        ++p;
      } else if (s[p] == '+' || s[p] == '-') {
        const std::int64_t sign = s[p] == '-' ? -1 : 1;
        ++p;
        std::int64_t oh = 0, om = 0;
        if (!read_digits(s, p, 2, oh)) return set_why(why, "expected a UTC offset +HH[:MM]");
        if (p < s.size() && s[p] == ':') ++p;
        if (p < s.size() && !read_digits(s, p, 2, om))
          return set_why(why, "expected a UTC offset +HH[:MM]");
        if (oh > 23 || om > 59) return set_why(why, "UTC offset out of range");
        off = sign * (oh * 60 + om);
      }
    }
  }
  if (p != s.size()) return set_why(why, "unexpected characters after the timestamp");
  return finish_calendar(year, month, day, hour, minute, second, frac, off, out, why);
}

inline bool parse_day_month_year_hour(std::string_view s, Timestamp& out, std::string* why) {
  std::size_t p = 0;
  std::int64_t year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, frac = 0;
  const auto bad = [&] { return set_why(why, "expected dd/mm/yy HH"); };
  if (!read_some_digits(s, p, 2, day) || p >= s.size() || s[p] != '/') return bad();
  ++p;
  if (!read_some_digits(s, p, 2, month) || p >= s.size() || s[p] != '/') return bad();
  ++p;
  const std::size_t year_start = p;
  if (!read_some_digits(s, p, 4, year)) return bad();
  if (p - year_start == 2) {
    year += year < 69 ? 2000 : 1900;  // POSIX %y convention
  } else if (p - year_start != 4) {
    return bad();
  }
  if (p < s.size()) {
    if (s[p] != ' ' && s[p] != 'T') return bad();
    while (p < s.size() && s[p] == ' ') ++p;
    if (p < s.size() && s[p] == 'T') ++p;
    if (!read_some_digits(s, p, 2, hour)) return bad();
    if (p < s.size() && s[p] == ':') {
      ++p;
      if (!read_digits(s, p, 2, minute)) return bad();
      if (p < s.size() && s[p] == ':') {
        ++p;
        if (!read_digits(s, p, 2, second)) return bad();
        if (!read_fraction_us(s, p, frac)) return bad();
      }
    }
  }
  if (p != s.size()) return set_why(why, "unexpected characters after the timestamp");
  return finish_calendar(year, month, day, hour, minute, second, frac, 0, out, why);
}

inline bool parse_seconds(std::string_view s, Timestamp& out, std::string* why) {
  // Exact decimal parsing: integer and fractional parts separately (a double would lose
  // microseconds on Unix times).
  std::size_t p = 0;
  std::int64_t sign = 1;
  if (p < s.size() && (s[p] == '+' || s[p] == '-')) {
    sign = s[p] == '-' ? -1 : 1;
    ++p;
  }
  std::int64_t whole = 0;
  std::size_t digits = 0;
  while (p < s.size() && is_digit(s[p])) {
    if (whole > (std::numeric_limits<std::int64_t>::max() / 1000000 - 9) / 10)
      return set_why(why, "seconds out of range");
    whole = whole * 10 + (s[p] - '0');
    ++p;
    ++digits;
  }
  std::int64_t frac = 0;
  if (p < s.size() && s[p] == '.') {
    ++p;
    std::int64_t scale = 100000;
    while (p < s.size() && is_digit(s[p])) {
      frac += (s[p] - '0') * scale;
      scale /= 10;
      ++p;
      ++digits;
    }
  }
  if (digits == 0 || p != s.size()) return set_why(why, "expected a number of seconds");
  out = Timestamp{sign * (whole * 1000000 + frac)};
  return true;
}

inline bool iequals(std::string_view a, std::string_view b) noexcept {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = static_cast<char>(x - 'A' + 'a');
    if (y >= 'A' && y <= 'Z') y = static_cast<char>(y - 'A' + 'a');
    if (x != y) return false;
  }
  return true;
}

constexpr bool is_blank(char c) noexcept { return c == ' ' || c == '\t' || c == '\r'; }

inline std::string_view trim(std::string_view s) noexcept {
  while (!s.empty() && is_blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_blank(s.back())) s.remove_suffix(1);
  if (s.size() >= 2 && s.front() == '"' && s.back() == '"') s = s.substr(1, s.size() - 2);
  return s;
}

/// One field of a line: its trimmed text and the 1-based column of its first non-blank char.
struct Field {
  std::string_view text;
  std::size_t column = 0;
};

inline void split(std::string_view line, char delimiter, std::vector<Field>& out) {
  out.clear();
  std::size_t start = 0;
  while (true) {
    const std::size_t end = line.find(delimiter, start);
    const std::string_view raw =
        line.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start);
    std::size_t lead = 0;
    while (lead < raw.size() && is_blank(raw[lead])) ++lead;
    out.push_back(Field{trim(raw), start + lead + 1});
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
}

/// Missing-value spellings (case-insensitive): empty, nan, na, n/a, null, none.
inline bool is_missing_token(std::string_view s) noexcept {
  return s.empty() || iequals(s, "nan") || iequals(s, "na") || iequals(s, "n/a") ||
         iequals(s, "null") || iequals(s, "none") || iequals(s, "-nan");
}

inline bool parse_number(std::string_view s, double& out) noexcept {
  if (!s.empty() && s.front() == '+') s.remove_prefix(1);
  if (s.empty()) return false;
  const auto r = std::from_chars(s.data(), s.data() + s.size(), out);
  return r.ec == std::errc() && r.ptr == s.data() + s.size();
}

}  // namespace detail

/// Guesses the format of one timestamp cell: '/' -> day_month_year_hour, "DDDD-" -> iso8601,
/// otherwise seconds.
inline TimeFormat detect_time_format(std::string_view cell) noexcept {
  cell = detail::trim(cell);
  if (cell.find('/') != std::string_view::npos) return TimeFormat::day_month_year_hour;
  if (cell.size() >= 5 && detail::is_digit(cell[0]) && detail::is_digit(cell[1]) &&
      detail::is_digit(cell[2]) && detail::is_digit(cell[3]) && cell[4] == '-')
    return TimeFormat::iso8601;
  return TimeFormat::seconds;
}

/// Parses one timestamp; on failure returns false and says why (when `why` is given).
/// `automatic` detects the format of this very cell.
inline bool parse_time(std::string_view text, TimeFormat format, Timestamp& out,
                       std::string* why = nullptr) {
  text = detail::trim(text);
  if (text.empty()) return detail::set_why(why, "empty timestamp");
  if (format == TimeFormat::automatic) format = detect_time_format(text);
  switch (format) {
    case TimeFormat::iso8601: return detail::parse_iso8601(text, out, why);
    case TimeFormat::day_month_year_hour: return detail::parse_day_month_year_hour(text, out, why);
    case TimeFormat::seconds: return detail::parse_seconds(text, out, why);
    case TimeFormat::automatic: break;
  }
  return detail::set_why(why, "unknown time format");
}

/// Formats a timestamp: iso8601 -> "2016-07-04T13:00:00Z" (".ffffff" when not whole seconds),
/// day_month_year_hour -> "04/07/16 13" (BATADAL; minutes and seconds are dropped), seconds (and
/// automatic) -> "12.5".
inline std::string format_time(Timestamp t, TimeFormat format) {
  char buf[64];
  if (format == TimeFormat::seconds || format == TimeFormat::automatic) {
    const std::int64_t whole = t.us / 1000000;
    std::int64_t frac = t.us % 1000000;
    const bool negative = t.us < 0;
    if (frac < 0) frac = -frac;
    if (frac == 0) {
      std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(whole));
    } else {
      std::snprintf(buf, sizeof buf, "%s%lld.%06lld", negative && whole == 0 ? "-" : "",
                    static_cast<long long>(whole), static_cast<long long>(frac));
      std::size_t n = std::char_traits<char>::length(buf);
      while (n > 0 && buf[n - 1] == '0') buf[--n] = '\0';
    }
    return buf;
  }
  std::int64_t days = t.us / 86400000000LL;
  std::int64_t rem = t.us % 86400000000LL;
  if (rem < 0) {
    rem += 86400000000LL;
    --days;
  }
  const CivilDate d = civil_from_days(days);
  const auto hour = static_cast<int>(rem / 3600000000LL);
  const auto minute = static_cast<int>(rem / 60000000LL % 60);
  const auto second = static_cast<int>(rem / 1000000 % 60);
  const auto micro = static_cast<long>(rem % 1000000);
  if (format == TimeFormat::day_month_year_hour) {
    std::snprintf(buf, sizeof buf, "%02d/%02d/%02d %02d", d.day, d.month,
                  static_cast<int>(((d.year % 100) + 100) % 100), hour);
  } else if (micro == 0) {
    std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02dZ",
                  static_cast<long long>(d.year), d.month, d.day, hour, minute, second);
  } else {
    std::snprintf(buf, sizeof buf, "%04lld-%02d-%02dT%02d:%02d:%02d.%06ldZ",
                  static_cast<long long>(d.year), d.month, d.day, hour, minute, second, micro);
  }
  return buf;
}

// --------------------------------------------------------------------------------------------
// Progress on stderr.

/// True when stderr is a terminal (progress output would otherwise pollute logs and pipes).
inline bool stderr_is_terminal() noexcept {
#if defined(PHYSGUARD_EVAL_HAVE_ISATTY)
  return ::isatty(STDERR_FILENO) != 0;
#else
  return false;
#endif
}

/// A one-line "label  42 %" indicator on stderr for long reads and replays.  It prints nothing
/// when disabled (by default: when stderr is not a terminal), nothing during the first half
/// second (short jobs stay silent), and then at most five times a second.
class ProgressMeter {
 public:
  ProgressMeter(std::string label, std::uint64_t total, bool enabled = stderr_is_terminal())
      : label_(std::move(label)), total_(total), enabled_(enabled),
        start_(std::chrono::steady_clock::now()), last_(start_) {}
  ProgressMeter(const ProgressMeter&) = delete;
  ProgressMeter& operator=(const ProgressMeter&) = delete;
  ~ProgressMeter() { finish(); }

  /// `done` out of total units (bytes, rows).
  void update(std::uint64_t done) {
    if (!enabled_ || total_ == 0) return;
    if ((++calls_ & 1023u) != 0 && done < total_) return;  // look at the clock rarely
    const auto now = std::chrono::steady_clock::now();
    if (now - start_ < std::chrono::milliseconds(500) ||
        now - last_ < std::chrono::milliseconds(200))
      return;
    last_ = now;
    const double pct = 100.0 * static_cast<double>(done) / static_cast<double>(total_);
    std::fprintf(stderr, "\r%s %5.1f %%", label_.c_str(), pct > 100.0 ? 100.0 : pct);
    std::fflush(stderr);
    printed_ = true;
  }
  /// Ends the line if anything was printed.
  void finish() {
    if (printed_) {
      std::fprintf(stderr, "\r%s 100.0 %%\n", label_.c_str());
      std::fflush(stderr);
    }
    printed_ = false;
  }
  bool enabled() const noexcept { return enabled_; }

 private:
  std::string label_;
  std::uint64_t total_;
  bool enabled_;
  bool printed_ = false;
  std::uint32_t calls_ = 0;
  std::chrono::steady_clock::time_point start_, last_;
};

// --------------------------------------------------------------------------------------------
// Streaming reader.

/// Reads a CSV recording row by row (constant memory, for files larger than RAM).
///
/// The first non-empty line is the header; names are trimmed (BATADAL's headers carry leading
/// spaces) and a UTF-8 byte-order mark is dropped.  Every later non-empty line must have as many
/// fields as the header.  The time column (CsvOptions::time_column, default the first) is parsed
/// with the options' format (automatic: detected on the first data row, then kept); timestamps
/// must increase (or, with allow_repeated_time, not decrease).  Value cells are decimal numbers
/// (std::from_chars, locale-independent); empty, "NaN", "NA", "N/A", "null", "none" are missing
/// (NaN) when allow_missing.  A field in double quotes has the quotes removed; quoted delimiters
/// are not supported.  CRLF line ends are accepted.
///
/// next() returns false at the end of the file or on the first error; error() tells which
/// (failed() is true only for an error).  Reading stops at the first error.
class CsvReader {
 public:
  explicit CsvReader(CsvOptions options = {}) : options_(std::move(options)) {}

  /// Opens the file and reads the header.  false (and error()) on failure.
  bool open(const std::string& path) {
    *this = CsvReader(options_);
    path_ = path;
    error_.file = path;
    in_.open(path, std::ios::in | std::ios::binary);
    if (!in_) return fail(0, 0, "cannot open file");
    in_.seekg(0, std::ios::end);
    const auto size = in_.tellg();
    file_size_ = size > 0 ? static_cast<std::uint64_t>(size) : 0;
    in_.seekg(0, std::ios::beg);
    std::string_view line;
    if (!read_line(line)) return fail(line_no_ > 0 ? line_no_ : 1, 1, "file has no header line");
    if (line.size() >= 3 && line.substr(0, 3) == "\xEF\xBB\xBF") line.remove_prefix(3);
    detail::split(line, options_.delimiter, fields_);
    field_count_ = fields_.size();
    time_field_ = 0;
    if (!options_.time_column.empty()) {
      bool found = false;
      for (std::size_t i = 0; i < fields_.size(); ++i) {
        if (fields_[i].text == options_.time_column) {
          time_field_ = i;
          found = true;
          break;
        }
      }
      if (!found)
        return fail(line_no_, 1, "no column named '" + options_.time_column + "' in the header");
    }
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (fields_[i].text.empty())
        return fail(line_no_, fields_[i].column, "empty column name in the header");
      if (i == time_field_) {
        time_name_ = std::string(fields_[i].text);
      } else {
        header_.emplace_back(fields_[i].text);
      }
    }
    for (std::size_t i = 0; i < header_.size(); ++i)
      for (std::size_t j = 0; j < i; ++j)
        if (header_[i] == header_[j])
          return fail(line_no_, 1, "duplicate column name '" + header_[i] + "'");
    format_ = options_.time_format;
    open_ = true;
    return true;
  }

  /// Value column names (trimmed), the time column excluded.
  const std::vector<std::string>& header() const noexcept { return header_; }
  /// Name of the time column.
  const std::string& time_column() const noexcept { return time_name_; }
  /// The time format in use (after detection on the first data row).
  TimeFormat time_format() const noexcept { return format_; }

  /// Reads the next data row.  false at the end of the file or on an error (see failed()).
  bool next(CsvRow& row) {
    if (!open_ || failed_) return false;
    std::string_view line;
    while (true) {
      if (!read_line(line)) return false;
      if (!detail::trim(line).empty()) break;
    }
    detail::split(line, options_.delimiter, fields_);
    if (fields_.size() < field_count_)
      return fail(line_no_, line.size() + 1,
                  "expected " + std::to_string(field_count_) + " fields, found " +
                      std::to_string(fields_.size()));
    if (fields_.size() > field_count_)
      return fail(line_no_, fields_[field_count_].column,
                  "expected " + std::to_string(field_count_) + " fields, found " +
                      std::to_string(fields_.size()));
    // time
    const detail::Field& tf = fields_[time_field_];
    if (format_ == TimeFormat::automatic) format_ = detect_time_format(tf.text);
    Timestamp t;
    std::string why;
    if (!parse_time(tf.text, format_, t, &why))
      return fail(line_no_, tf.column,
                  "bad timestamp '" + std::string(tf.text) + "' (" + to_string(format_) + "): " + why);
    if (has_last_time_ && (t < last_time_ || (t == last_time_ && !options_.allow_repeated_time)))
      return fail(line_no_, tf.column,
                  "timestamp '" + std::string(tf.text) + "' " +
                      (t == last_time_ ? "repeats" : "goes back from") +
                      " the previous row's (line " + std::to_string(last_time_line_) + ")");
    // values
    row.values.resize(header_.size());
    std::size_t v = 0;
    for (std::size_t i = 0; i < fields_.size(); ++i) {
      if (i == time_field_) continue;
      const detail::Field& f = fields_[i];
      double x = 0.0;
      if (detail::is_missing_token(f.text)) {
        if (!options_.allow_missing)
          return fail(line_no_, f.column, "missing value in column '" + header_[v] + "'");
        x = std::numeric_limits<double>::quiet_NaN();
      } else if (!detail::parse_number(f.text, x)) {
        return fail(line_no_, f.column,
                    "bad number '" + std::string(f.text) + "' in column '" + header_[v] + "'");
      }
      row.values[v++] = x;
    }
    row.time = t;
    row.line = line_no_;
    last_time_ = t;
    last_time_line_ = line_no_;
    has_last_time_ = true;
    ++rows_;
    return true;
  }

  /// The error that stopped reading (message empty when none).
  const CsvError& error() const noexcept { return error_; }
  bool failed() const noexcept { return failed_; }
  /// Line number of the last line read (1-based).
  std::size_t line() const noexcept { return line_no_; }
  std::size_t rows_read() const noexcept { return rows_; }
  std::uint64_t bytes_read() const noexcept { return bytes_; }
  std::uint64_t file_size() const noexcept { return file_size_; }
  const std::string& path() const noexcept { return path_; }

 private:
  CsvReader& operator=(CsvReader&&) = default;

  bool read_line(std::string_view& out) {
    if (!std::getline(in_, buffer_)) return false;
    ++line_no_;
    bytes_ += buffer_.size() + 1;
    std::string_view s(buffer_);
    if (!s.empty() && s.back() == '\r') s.remove_suffix(1);
    out = s;
    return true;
  }
  bool fail(std::size_t line, std::size_t column, std::string message) {
    failed_ = true;
    error_.file = path_;
    error_.line = line;
    error_.column = column;
    error_.message = std::move(message);
    return false;
  }

  CsvOptions options_;
  std::ifstream in_;
  std::string path_;
  std::string buffer_;
  std::vector<detail::Field> fields_;
  std::vector<std::string> header_;
  std::string time_name_;
  std::size_t field_count_ = 0;
  std::size_t time_field_ = 0;
  TimeFormat format_ = TimeFormat::automatic;
  CsvError error_;
  bool failed_ = false;
  bool open_ = false;
  bool has_last_time_ = false;
  Timestamp last_time_{};
  std::size_t last_time_line_ = 0;
  std::size_t line_no_ = 0;
  std::size_t rows_ = 0;
  std::uint64_t bytes_ = 0;
  std::uint64_t file_size_ = 0;
};

/// Reads a whole CSV recording into memory (see CsvReader for the accepted syntax).  Shows a
/// progress indicator on stderr for long reads when stderr is a terminal.
inline CsvResult read_csv(const std::string& path, const CsvOptions& options = {}) {
  CsvResult result;
  CsvReader reader(options);
  if (!reader.open(path)) {
    result.error = reader.error();
    return result;
  }
  CsvTable& t = result.table;
  t.columns = reader.header();
  t.time_column = reader.time_column();
  t.values.assign(t.columns.size(), {});
  ProgressMeter progress("reading " + path, reader.file_size(),
                         options.progress && stderr_is_terminal());
  CsvRow row;
  while (reader.next(row)) {
    t.time.push_back(row.time);
    for (std::size_t c = 0; c < row.values.size(); ++c) t.values[c].push_back(row.values[c]);
    progress.update(reader.bytes_read());
  }
  progress.finish();
  t.time_format = reader.time_format();
  if (reader.failed()) {
    result.error = reader.error();
    return result;
  }
  result.ok = true;
  return result;
}

/// Writes a table back as CSV: header "time_column,columns...", times in `format`, values with
/// up to 17 significant digits (round-trip), NaN as an empty cell.  false and `error` on failure.
inline bool write_csv(const std::string& path, const CsvTable& table,
                      TimeFormat format = TimeFormat::iso8601, CsvError* error = nullptr,
                      char delimiter = ',') {
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) {
    if (error) *error = CsvError{path, 0, 0, "cannot open file for writing"};
    return false;
  }
  std::fputs(table.time_column.empty() ? "time" : table.time_column.c_str(), f);
  for (const std::string& c : table.columns) {
    std::fputc(delimiter, f);
    std::fputs(c.c_str(), f);
  }
  std::fputc('\n', f);
  for (std::size_t r = 0; r < table.rows(); ++r) {
    std::fputs(format_time(table.time[r], format).c_str(), f);
    for (const auto& col : table.values) {
      std::fputc(delimiter, f);
      if (std::isfinite(col[r]) || std::isinf(col[r])) std::fprintf(f, "%.17g", col[r]);
    }
    std::fputc('\n', f);
  }
  const bool ok = std::fclose(f) == 0;
  if (!ok && error) *error = CsvError{path, 0, 0, "write failed"};
  return ok;
}

}  // namespace physguard::eval
