// physguard/fmt.hpp - HOST-ONLY: {fmt} formatters for physguard's records and a JSON encoder for
// findings.  Needs {fmt} >= 9 (link physguard::fmt).  Firmware never needs this header.
//
//   fmt::print("{}\n", finding);       // 2021-02-05T08:00:00.000000Z channel=3 detector=cusum#1 ...
//   std::string line = physguard::to_json(finding);   // one JSON object, for MQTT / JSON lines
//
// Timestamps are printed as ISO-8601 UTC with microseconds, assuming they count microseconds since
// the Unix epoch (a gateway's convention; a probe's time since boot prints as a date in 1970).
// Everything is computed with integer arithmetic: no locale, no time zone, no libc time functions.
#pragma once

#include <cstdint>
#include <iterator>
#include <string>

#include <fmt/core.h>
#include <fmt/format.h>

#include "core/finding.hpp"
#include "core/numeric.hpp"
#include "core/sample.hpp"
#include "core/status.hpp"
#include "core/time.hpp"
#include "detect/decision.hpp"

namespace physguard {

/// A Timestamp broken down into UTC calendar fields (proleptic Gregorian calendar).
struct CivilTime {
  std::int64_t year = 1970;
  int month = 1;   ///< 1..12
  int day = 1;     ///< 1..31
  int hour = 0;    ///< 0..23
  int minute = 0;  ///< 0..59
  int second = 0;  ///< 0..59
  int microsecond = 0;
};

namespace detail {

constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)) ? 1 : 0);
}

constexpr bool is_leap_year(std::int64_t y) noexcept {
  return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/// Leap years in 1..y (y >= 0).
constexpr std::int64_t leap_years_through(std::int64_t y) noexcept {
  return y / 4 - y / 100 + y / 400;
}

/// Days from 1970-01-01 to y-01-01, for y >= 1970.
constexpr std::int64_t days_to_year(std::int64_t y) noexcept {
  return 365 * (y - 1970) + leap_years_through(y - 1) - leap_years_through(1969);
}

}  // namespace detail

/// UTC calendar fields of a Timestamp counted from the Unix epoch.
constexpr CivilTime to_civil(Timestamp t) noexcept {
  constexpr std::int64_t us_per_day = 86400LL * 1000000LL;
  const std::int64_t days = detail::floor_div(t.us, us_per_day);
  std::int64_t us_of_day = t.us - days * us_per_day;
  // Every block of 400 Gregorian years has exactly 146097 days: bring the day into
  // [1970, 2370) and add the blocks back at the end.
  const std::int64_t blocks = detail::floor_div(days, 146097);
  const std::int64_t day_in_block = days - blocks * 146097;
  // 366 days per year is a lower bound on the year; step forward at most once or twice.
  std::int64_t year = 1970 + day_in_block / 366;
  while (detail::days_to_year(year + 1) <= day_in_block) ++year;
  int day_of_year = static_cast<int>(day_in_block - detail::days_to_year(year));  // 0-based
  const int month_days[12] = {31, detail::is_leap_year(year) ? 29 : 28, 31, 30, 31, 30,
                              31, 31,                                   30, 31, 30, 31};
  int month = 0;
  while (day_of_year >= month_days[month]) {
    day_of_year -= month_days[month];
    ++month;
  }
  CivilTime c;
  c.year = year + 400 * blocks;
  c.month = month + 1;
  c.day = day_of_year + 1;
  c.hour = static_cast<int>(us_of_day / 3600000000LL);
  us_of_day -= static_cast<std::int64_t>(c.hour) * 3600000000LL;
  c.minute = static_cast<int>(us_of_day / 60000000LL);
  us_of_day -= static_cast<std::int64_t>(c.minute) * 60000000LL;
  c.second = static_cast<int>(us_of_day / 1000000LL);
  c.microsecond = static_cast<int>(us_of_day - static_cast<std::int64_t>(c.second) * 1000000LL);
  return c;
}

/// "YYYY-MM-DDTHH:MM:SS.ffffffZ".
inline std::string to_iso8601(Timestamp t) {
  const CivilTime c = to_civil(t);
  return fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}Z", c.year, c.month, c.day,
                     c.hour, c.minute, c.second, c.microsecond);
}

namespace detail {

/// Appends `s` as a JSON string literal (quotes included), escaping what RFC 8259 requires.
inline void append_json_string(std::string& out, const char* s) {
  out.push_back('"');
  for (const char* p = s ? s : ""; *p != '\0'; ++p) {
    const auto c = static_cast<unsigned char>(*p);
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          fmt::format_to(std::back_inserter(out), "\\u{:04x}", static_cast<unsigned>(c));
        } else {
          out.push_back(static_cast<char>(c));
        }
    }
  }
  out.push_back('"');
}

/// A JSON number (shortest round-trip representation), or null for NaN / infinity.
template <typename T>
void append_json_number(std::string& out, T v) {
  if (is_finite(v)) {
    fmt::format_to(std::back_inserter(out), "{}", v);
  } else {
    out += "null";
  }
}

}  // namespace detail

/// One finding as a JSON object on one line:
/// {"time":"2021-02-05T08:00:00.000000Z","time_us":1612512000000000,"channel":3,
///  "detector":"cusum","detector_id":1,"kind":"residual","state":"alarm","status":"ok",
///  "cause":"unknown","score":5.25,"threshold":4.77}
/// Non-finite numbers become null (JSON has no NaN).
template <typename T>
std::string to_json(const Finding<T>& f) {
  std::string out;
  out.reserve(256);
  out += "{\"time\":";
  detail::append_json_string(out, to_iso8601(f.time).c_str());
  fmt::format_to(std::back_inserter(out), ",\"time_us\":{},\"channel\":{},\"detector\":", f.time.us,
                 f.channel);
  detail::append_json_string(out, f.detector);
  fmt::format_to(std::back_inserter(out), ",\"detector_id\":{},\"kind\":", f.detector_id);
  detail::append_json_string(out, to_string(f.kind));
  out += ",\"state\":";
  detail::append_json_string(out, to_string(f.state));
  out += ",\"status\":";
  detail::append_json_string(out, to_string(f.status));
  out += ",\"cause\":";
  detail::append_json_string(out, to_string(f.cause));
  out += ",\"score\":";
  detail::append_json_number(out, f.score);
  out += ",\"threshold\":";
  detail::append_json_number(out, f.threshold);
  out += '}';
  return out;
}

namespace detail {
/// Formats an enum through its to_string(), honouring string format specs ("{:>12}").
template <typename Enum>
struct enum_formatter : fmt::formatter<fmt::string_view> {
  template <typename FormatContext>
  auto format(Enum v, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::formatter<fmt::string_view>::format(fmt::string_view(to_string(v)), ctx);
  }
};

/// Formatter without format spec: only "{}" is accepted.
struct plain_formatter {
  constexpr auto parse(fmt::format_parse_context& ctx) -> decltype(ctx.begin()) {
    return ctx.begin();
  }
};
}  // namespace detail

}  // namespace physguard

template <>
struct fmt::formatter<physguard::Status> : physguard::detail::enum_formatter<physguard::Status> {};
template <>
struct fmt::formatter<physguard::FindingKind>
    : physguard::detail::enum_formatter<physguard::FindingKind> {};
template <>
struct fmt::formatter<physguard::Cause> : physguard::detail::enum_formatter<physguard::Cause> {};
template <>
struct fmt::formatter<physguard::AlarmState>
    : physguard::detail::enum_formatter<physguard::AlarmState> {};
template <>
struct fmt::formatter<physguard::Quality> : physguard::detail::enum_formatter<physguard::Quality> {};

/// Timestamp: ISO-8601 UTC with microseconds.
template <>
struct fmt::formatter<physguard::Timestamp> : physguard::detail::plain_formatter {
  template <typename FormatContext>
  auto format(physguard::Timestamp t, FormatContext& ctx) const -> decltype(ctx.out()) {
    const physguard::CivilTime c = physguard::to_civil(t);
    return fmt::format_to(ctx.out(), "{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}Z", c.year,
                          c.month, c.day, c.hour, c.minute, c.second, c.microsecond);
  }
};

/// Duration: seconds with microsecond resolution, e.g. "1.500000s".
template <>
struct fmt::formatter<physguard::Duration> : physguard::detail::plain_formatter {
  template <typename FormatContext>
  auto format(physguard::Duration d, FormatContext& ctx) const -> decltype(ctx.out()) {
    const std::int64_t whole = d.us / 1000000;
    std::int64_t frac = d.us % 1000000;
    const bool negative = d.us < 0;
    if (frac < 0) frac = -frac;
    return fmt::format_to(ctx.out(), "{}{}.{:06d}s", negative && whole == 0 ? "-" : "", whole,
                          frac);
  }
};

/// Finding: "<time> channel=<n> detector=<name>#<id> kind=<k> state=<s> score=<x>
/// threshold=<h> status=<st> cause=<c>" on one line.
template <typename T>
struct fmt::formatter<physguard::Finding<T>> : physguard::detail::plain_formatter {
  template <typename FormatContext>
  auto format(const physguard::Finding<T>& f, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(),
                          "{} channel={} detector={}#{} kind={} state={} score={} threshold={} "
                          "status={} cause={}",
                          f.time, f.channel, f.detector ? f.detector : "", f.detector_id, f.kind,
                          f.state, f.score, f.threshold, f.status, f.cause);
  }
};

/// Decision: "<time> score=<x> threshold=<h> alarm=<bool> status=<st> kind=<k> cause=<c>
/// direction=<-1|0|1>".
template <typename T>
struct fmt::formatter<physguard::Decision<T>> : physguard::detail::plain_formatter {
  template <typename FormatContext>
  auto format(const physguard::Decision<T>& d, FormatContext& ctx) const -> decltype(ctx.out()) {
    return fmt::format_to(ctx.out(),
                          "{} score={} threshold={} alarm={} status={} kind={} cause={} "
                          "direction={}",
                          d.time, d.score, d.threshold, d.alarm, d.status, d.kind, d.cause,
                          static_cast<int>(d.direction));
  }
};
