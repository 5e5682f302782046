// fmt formatters and JSON: exact strings (formatting is deterministic) and timestamps against
// dates computed independently (known dates, a day-by-day calendar walk and libc's gmtime_r).
#include <doctest/doctest.h>

#include <cstdint>
#include <ctime>
#include <limits>
#include <random>
#include <string>

#include <physguard/fmt.hpp>

using namespace physguard;

namespace {
std::string iso(std::int64_t seconds, std::int64_t micros = 0) {
  return fmt::format("{}", Timestamp::from_us(seconds * 1000000 + micros));
}
}  // namespace

TEST_CASE("Timestamp: known dates") {
  CHECK(iso(0) == "1970-01-01T00:00:00.000000Z");
  CHECK(iso(1612512000) == "2021-02-05T08:00:00.000000Z");
  CHECK(iso(1612512000 + 5 * 3600) == "2021-02-05T13:00:00.000000Z");
  CHECK(iso(951782400) == "2000-02-29T00:00:00.000000Z");   // leap day of a 400-year leap year
  CHECK(iso(4102444800) == "2100-01-01T00:00:00.000000Z");  // 2100 is not a leap year
  // 2100-01-01 + 58 days is Feb 28 and + 59 days is Mar 1 (no Feb 29 in 2100).
  CHECK(iso(4102444800 + 58 * 86400) == "2100-02-28T00:00:00.000000Z");
  CHECK(iso(4102444800 + 59 * 86400) == "2100-03-01T00:00:00.000000Z");
  CHECK(iso(253402300799, 999999) == "9999-12-31T23:59:59.999999Z");
  CHECK(iso(0, -1) == "1969-12-31T23:59:59.999999Z");
  CHECK(iso(-86400) == "1969-12-31T00:00:00.000000Z");
  CHECK(iso(1234567890, 42) == "2009-02-13T23:31:30.000042Z");
  CHECK(to_iso8601(Timestamp::from_us(1612512000123456)) == "2021-02-05T08:00:00.123456Z");
}

TEST_CASE("Timestamp: every midnight for 800 years agrees with a day-by-day calendar walk") {
  // Independent calendar: advance one day at a time from 1800-01-01 (day -62091 from the epoch).
  int y = 1800, mo = 1, d = 1;
  auto days_in = [](int year, int month) {
    static const int n[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    const bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return month == 2 && leap ? 29 : n[month - 1];
  };
  int mismatches = 0;
  for (std::int64_t day = -62091; day < -62091 + 800 * 366 && y < 2600; ++day) {
    const CivilTime c = to_civil(Timestamp::from_us(day * 86400LL * 1000000LL + 43200LL * 1000000LL));
    if (c.year != y || c.month != mo || c.day != d || c.hour != 12) ++mismatches;
    if (++d > days_in(y, mo)) {
      d = 1;
      if (++mo > 12) {
        mo = 1;
        ++y;
      }
    }
  }
  CHECK(mismatches == 0);
  CHECK(y == 2600);
}

TEST_CASE("Timestamp: random instants agree with gmtime_r") {
  std::mt19937_64 rng(2021);
  std::uniform_int_distribution<std::int64_t> secs(-5000000000LL, 30000000000LL);
  for (int i = 0; i < 20000; ++i) {
    const std::int64_t s = secs(rng);
    const auto us = static_cast<std::int64_t>(rng() % 1000000);
    const std::time_t tt = static_cast<std::time_t>(s);
    std::tm tm{};
    REQUIRE(gmtime_r(&tt, &tm) != nullptr);
    const std::string want =
        fmt::format("{:04d}-{:02d}-{:02d}T{:02d}:{:02d}:{:02d}.{:06d}Z", tm.tm_year + 1900,
                    tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, us);
    REQUIRE(iso(s, us) == want);
  }
}

TEST_CASE("enums, Quality and Duration format through their names") {
  CHECK(fmt::format("{}", Status::time_backwards) == "time_backwards");
  CHECK(fmt::format("[{:>12}]", Status::not_finite) == "[  not_finite]");
  CHECK(fmt::format("{}", FindingKind::command_response) == "command_response");
  CHECK(fmt::format("{}", Cause::suspected_attack) == "suspected_attack");
  CHECK(fmt::format("{}", AlarmState::cleared) == "cleared");
  CHECK(fmt::format("{}", Quality::uncertain) == "uncertain");
  CHECK(fmt::format("{}", Duration::from_ms(1500)) == "1.500000s");
  CHECK(fmt::format("{}", Duration::from_ms(-250)) == "-0.250000s");
  CHECK(fmt::format("{}", Duration::from_us(-2000001)) == "-2.000001s");
}

TEST_CASE_TEMPLATE("Finding and Decision format on one line", T, float, double) {
  Finding<T> f;
  f.time = Timestamp::from_us(1612512000123456);
  f.channel = 3;
  f.detector_id = 1;
  f.detector = "cusum";
  f.kind = FindingKind::residual;
  f.cause = Cause::suspected_attack;
  f.state = AlarmState::alarm;
  f.score = T(5.25);
  f.threshold = T(4.77);
  CHECK(fmt::format("{}", f) ==
        "2021-02-05T08:00:00.123456Z channel=3 detector=cusum#1 kind=residual state=alarm "
        "score=5.25 threshold=4.77 status=ok cause=suspected_attack");

  Decision<T> d;
  d.time = Timestamp::from_seconds(1612512000);
  d.score = T(1.5);
  d.threshold = T(4);
  d.direction = -1;
  CHECK(fmt::format("{}", d) ==
        "2021-02-05T08:00:00.000000Z score=1.5 threshold=4 alarm=false status=ok kind=residual "
        "cause=unknown direction=-1");
}

TEST_CASE_TEMPLATE("to_json: exact object, escaping, non-finite numbers", T, float, double) {
  Finding<T> f;
  f.time = Timestamp::from_us(1612512000123456);
  f.channel = 3;
  f.detector_id = 1;
  f.detector = "cusum";
  f.kind = FindingKind::residual;
  f.cause = Cause::suspected_attack;
  f.state = AlarmState::alarm;
  f.score = T(5.25);
  f.threshold = T(4.77);
  CHECK(to_json(f) ==
        "{\"time\":\"2021-02-05T08:00:00.123456Z\",\"time_us\":1612512000123456,\"channel\":3,"
        "\"detector\":\"cusum\",\"detector_id\":1,\"kind\":\"residual\",\"state\":\"alarm\","
        "\"status\":\"ok\",\"cause\":\"suspected_attack\",\"score\":5.25,\"threshold\":4.77}");

  f.detector = "a\"b\\c\nd\te\x01/\xc3\xa9";
  f.kind = FindingKind::bad_input;
  f.status = Status::not_finite;
  f.state = AlarmState::normal;
  f.score = std::numeric_limits<T>::quiet_NaN();
  f.threshold = -std::numeric_limits<T>::infinity();
  CHECK(to_json(f) ==
        "{\"time\":\"2021-02-05T08:00:00.123456Z\",\"time_us\":1612512000123456,\"channel\":3,"
        "\"detector\":\"a\\\"b\\\\c\\nd\\te\\u0001/\xc3\xa9\",\"detector_id\":1,"
        "\"kind\":\"bad_input\",\"state\":\"normal\",\"status\":\"not_finite\","
        "\"cause\":\"suspected_attack\",\"score\":null,\"threshold\":null}");

  Finding<T> tiny;
  tiny.score = T(1e-7);
  tiny.threshold = T(-3e20);
  const std::string j = to_json(tiny);
  CHECK(j.find("\"score\":1e-07") != std::string::npos);
  CHECK(j.find("\"threshold\":-3e+20") != std::string::npos);
  CHECK(j.find("\"time\":\"1970-01-01T00:00:00.000000Z\"") != std::string::npos);
}
