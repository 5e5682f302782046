// eval/csv.hpp and eval/replay.hpp: timestamp formats, BATADAL's header, missing cells, malformed
// input with exact file/line/column, a large streamed file, replay into monitors.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include <unistd.h>

#include <physguard/compose.hpp>
#include <physguard/compose/dynamic_monitor.hpp>
#include <physguard/compose/host_sinks.hpp>
#include <physguard/detect/cusum.hpp>
#include <physguard/eval/csv.hpp>
#include <physguard/eval/replay.hpp>

using namespace physguard;
using namespace physguard::eval;

namespace {

std::filesystem::path temp_dir() {
  static const std::filesystem::path dir = [] {
    auto d = std::filesystem::temp_directory_path() /
             ("physguard_test_eval_csv_" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    return d;
  }();
  static const struct Cleanup {  // removes the directory at exit
    ~Cleanup() {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  } cleanup;
  (void)cleanup;
  return dir;
}

std::string write_file(const std::string& name, const std::string& text) {
  const std::string path = (temp_dir() / name).string();
  std::ofstream(path, std::ios::binary) << text;
  return path;
}

// Independent reference: seconds since 1970-01-01 by counting whole years and months.
long long naive_unix_seconds(int year, int month, int day, int h, int m, int s) {
  auto leap = [](int y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; };
  const int mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  long long days = 0;
  for (int y = 1970; y < year; ++y) days += leap(y) ? 366 : 365;
  for (int mo = 1; mo < month; ++mo) days += mdays[mo - 1] + (mo == 2 && leap(year) ? 1 : 0);
  days += day - 1;
  return days * 86400 + h * 3600 + m * 60 + s;
}

Timestamp at(long long seconds, long long micros = 0) { return Timestamp{seconds * 1000000 + micros}; }

}  // namespace

TEST_CASE("calendar conversion agrees with a naive day count and round-trips") {
  for (int year : {1970, 1999, 2000, 2016, 2024, 2100}) {
    for (int month = 1; month <= 12; ++month) {
      const int day = month == 2 ? 28 : 30;
      CHECK(days_from_civil(year, month, day) * 86400 == naive_unix_seconds(year, month, day, 0, 0, 0));
      const CivilDate d = civil_from_days(days_from_civil(year, month, day));
      CHECK(d.year == year);
      CHECK(d.month == month);
      CHECK(d.day == day);
    }
  }
  CHECK(days_from_civil(2016, 7, 4) * 86400 == 1467590400LL);  // known Unix time
}

TEST_CASE("ISO 8601 timestamps: T or space, fractions, Z and offsets, date only") {
  const long long base = naive_unix_seconds(2016, 7, 4, 13, 0, 0);
  Timestamp t;
  CHECK(parse_time("2016-07-04T13:00:00Z", TimeFormat::iso8601, t));
  CHECK(t == at(base));
  CHECK(parse_time("2016-07-04 13:00:00", TimeFormat::iso8601, t));
  CHECK(t == at(base));
  CHECK(parse_time("2016-07-04T13:00", TimeFormat::iso8601, t));
  CHECK(t == at(base));
  CHECK(parse_time("2016-07-04T13:00:01.5Z", TimeFormat::iso8601, t));
  CHECK(t == at(base + 1, 500000));
  CHECK(parse_time("2016-07-04T13:00:01.1234567", TimeFormat::iso8601, t));  // 7th digit cut
  CHECK(t == at(base + 1, 123456));
  CHECK(parse_time("2016-07-04T15:00:00+02:00", TimeFormat::iso8601, t));
  CHECK(t == at(base));
  CHECK(parse_time("2016-07-04T08:30:00-0430", TimeFormat::iso8601, t));
  CHECK(t == at(base));
  CHECK(parse_time("2016-07-04", TimeFormat::iso8601, t));
  CHECK(t == at(naive_unix_seconds(2016, 7, 4, 0, 0, 0)));
  CHECK(parse_time("2016-02-29T00:00:00Z", TimeFormat::automatic, t));  // leap year
  CHECK(t == at(naive_unix_seconds(2016, 2, 29, 0, 0, 0)));

  std::string why;
  CHECK_FALSE(parse_time("2015-02-29T00:00:00Z", TimeFormat::iso8601, t, &why));
  CHECK(why == "day out of range");
  CHECK_FALSE(parse_time("2016-13-01", TimeFormat::iso8601, t, &why));
  CHECK(why == "month out of range");
  CHECK_FALSE(parse_time("2016-07-04T24:00:00", TimeFormat::iso8601, t));
  CHECK_FALSE(parse_time("2016-07-04T13:00:00Q", TimeFormat::iso8601, t));
  CHECK_FALSE(parse_time("2016-7-4", TimeFormat::iso8601, t));
}

TEST_CASE("dd/mm/yy HH (BATADAL) and plain seconds") {
  Timestamp t;
  CHECK(parse_time("04/07/16 00", TimeFormat::day_month_year_hour, t));
  CHECK(t == at(1467590400LL));
  CHECK(parse_time("25/12/16 23", TimeFormat::automatic, t));
  CHECK(t == at(naive_unix_seconds(2016, 12, 25, 23, 0, 0)));
  CHECK(parse_time("06/01/2014 07:30", TimeFormat::day_month_year_hour, t));
  CHECK(t == at(naive_unix_seconds(2014, 1, 6, 7, 30, 0)));
  CHECK_FALSE(parse_time("31/06/16 00", TimeFormat::day_month_year_hour, t));  // June has 30
  CHECK_FALSE(parse_time("04/07/16 25", TimeFormat::day_month_year_hour, t));

  CHECK(parse_time("0", TimeFormat::seconds, t));
  CHECK(t == at(0));
  CHECK(parse_time("12.25", TimeFormat::automatic, t));
  CHECK(t == at(12, 250000));
  CHECK(parse_time("1467590400.000001", TimeFormat::seconds, t));  // exact to the microsecond
  CHECK(t == at(1467590400LL, 1));
  CHECK(parse_time("-1.5", TimeFormat::seconds, t));
  CHECK(t == Timestamp{-1500000});
  CHECK_FALSE(parse_time("1.2.3", TimeFormat::seconds, t));
  CHECK_FALSE(parse_time("abc", TimeFormat::seconds, t));
}

TEST_CASE("format_time round-trips through parse_time in every format") {
  const Timestamp t = at(naive_unix_seconds(2016, 7, 4, 13, 5, 7), 250000);
  Timestamp back;
  CHECK(format_time(t, TimeFormat::iso8601) == "2016-07-04T13:05:07.250000Z");
  CHECK(parse_time(format_time(t, TimeFormat::iso8601), TimeFormat::automatic, back));
  CHECK(back == t);
  CHECK(format_time(t, TimeFormat::day_month_year_hour) == "04/07/16 13");
  CHECK(format_time(t, TimeFormat::seconds) == "1467637507.25");
  CHECK(parse_time(format_time(t, TimeFormat::seconds), TimeFormat::seconds, back));
  CHECK(back == t);
}

TEST_CASE("BATADAL's header (leading spaces, CRLF) and dd/mm/yy HH rows are read") {
  // The real header of BATADAL_dataset04 (column names as published, some with leading spaces
  // in the original release) and its first two rows, with CRLF line ends.
  const std::string text =
      "DATETIME, L_T1, L_T2, L_T3, L_T4, L_T5, L_T6, L_T7, F_PU1, S_PU1,F_PU2,S_PU2,F_PU3,"
      "S_PU3,F_PU4,S_PU4,F_PU5,S_PU5,F_PU6,S_PU6,F_PU7,S_PU7,F_PU8,S_PU8,F_PU9,S_PU9,F_PU10,"
      "S_PU10,F_PU11,S_PU11,F_V2,S_V2,P_J280,P_J269,P_J300,P_J256,P_J289,P_J415,P_J302,P_J306,"
      "P_J307,P_J317,P_J14,P_J422, ATT_FLAG\r\n"
      "04/07/16 00,2.44,5.24,3.19,4.1,2.86,5.5,4.39,93.63,1,93.65,1,0,0,0,0,0,0,0,0,49.84,1,"
      "35.54,1,0,0,29.87,1,0,0,0,0,2.98,36.38,28.26,70,28.22,85.87,21.69,82.72,21.58,71.99,"
      "39.33,29.64,0\r\n"
      "04/07/16 01,2.66,4.53,3.2,4.18,3.29,5.44,4.53,89.41,1,89.43,1,0,0,34.26,1,0,0,0,0,48.38,"
      "1,37.83,1,0,0,0,0,0,0,0,0,2.98,38.6,24.39,87.73,24.45,84.87,29.81,86.62,29.81,59.76,"
      "42.17,26.15,1\r\n";
  const CsvResult r = read_csv(write_file("batadal.csv", text));
  REQUIRE_MESSAGE(r.ok, r.error.describe());
  const CsvTable& t = r.table;
  CHECK(t.time_column == "DATETIME");
  CHECK(t.time_format == TimeFormat::day_month_year_hour);
  CHECK(t.columns.size() == 44);  // 7 levels, 11 pumps + V2 (flow, status), 12 pressures, flag
  CHECK(t.columns.front() == "L_T1");
  CHECK(t.columns.back() == "ATT_FLAG");
  CHECK(t.column_index("L_T1") == 0);
  CHECK(t.column_index(" L_T1") == -1);
  CHECK(t.column_index("P_J422") == 42);
  CHECK(t.column_index("nope") == -1);
  REQUIRE(t.rows() == 2);
  CHECK(t.time[0] == at(1467590400LL));
  CHECK(t.time[1] - t.time[0] == Duration::from_seconds(3600));
  CHECK(t.values[0][0] == 2.44);
  CHECK((*t.column("F_PU1"))[1] == 89.41);
  CHECK((*t.column("ATT_FLAG"))[1] == 1.0);
}

TEST_CASE("empty and NaN cells are NaN; a named time column may be anywhere") {
  const std::string path = write_file("missing.csv",
                                      "a,t,b\n"
                                      "1,2016-07-04T00:00:00Z,\n"
                                      "NaN,2016-07-04T00:00:01Z,  2.5 \n"
                                      "\n"  // blank lines are skipped
                                      "NA,2016-07-04T00:00:02Z,+3e2\n");
  CsvOptions opt;
  opt.time_column = "t";
  const CsvResult r = read_csv(path, opt);
  REQUIRE_MESSAGE(r.ok, r.error.describe());
  CHECK(r.table.columns == std::vector<std::string>{"a", "b"});
  REQUIRE(r.table.rows() == 3);
  CHECK(r.table.values[0][0] == 1.0);
  CHECK(std::isnan(r.table.values[0][1]));
  CHECK(std::isnan(r.table.values[0][2]));
  CHECK(std::isnan(r.table.values[1][0]));
  CHECK(r.table.values[1][1] == 2.5);
  CHECK(r.table.values[1][2] == 300.0);

  opt.allow_missing = false;
  const CsvResult strict = read_csv(path, opt);
  CHECK_FALSE(strict.ok);
  CHECK(strict.error.line == 2);
  CHECK(strict.error.column == 24);  // one past "1,2016-07-04T00:00:00Z,"
  CHECK(strict.error.message == "missing value in column 'b'");

  CsvOptions other;
  other.time_column = "zz";
  const CsvResult none = read_csv(path, other);
  CHECK_FALSE(none.ok);
  CHECK(none.error.line == 1);
}

TEST_CASE("malformed input: errors name file, line and column exactly") {
  struct Case {
    const char* name;
    const char* text;
    std::size_t line, column;
    const char* message;
  };
  const Case cases[] = {
      {"few.csv", "t,x,y\n0,1,2\n1,3\n", 3, 4, "expected 3 fields, found 2"},
      {"many.csv", "t,x,y\n0,1,2\n1,3,4,5\n", 3, 7, "expected 3 fields, found 4"},
      {"number.csv", "t,x,y\n0,1,2\n\n1, 3x ,4\n", 4, 4, "bad number '3x' in column 'x'"},
      {"time.csv", "t,x\n2016-07-04T00:00:00Z,1\n2016-07-4T01:00:00Z,2\n", 3, 1,
       "bad timestamp '2016-07-4T01:00:00Z' (iso8601): expected an ISO 8601 date YYYY-MM-DD"},
      {"back.csv", "t,x\n04/07/16 00,1\n04/07/16 02,1\n04/07/16 01,1\n", 4, 1,
       "timestamp '04/07/16 01' goes back from the previous row's (line 3)"},
      {"repeat.csv", "x,t\n1,5\n2,5\n", 3, 3, "timestamp '5' repeats the previous row's (line 2)"},
  };
  for (const Case& c : cases) {
    CAPTURE(c.name);
    const std::string path = write_file(c.name, c.text);
    CsvOptions opt;
    if (std::string(c.name) == "repeat.csv") opt.time_column = "t";
    const CsvResult r = read_csv(path, opt);
    REQUIRE_FALSE(r.ok);
    CHECK(r.error.file == path);
    CHECK(r.error.line == c.line);
    CHECK(r.error.column == c.column);
    CHECK(r.error.message == c.message);
    CHECK(r.error.describe() == path + ":" + std::to_string(c.line) + ":" +
                                    std::to_string(c.column) + ": " + c.message);
  }
  CsvOptions repeat_ok;
  repeat_ok.time_column = "t";
  repeat_ok.allow_repeated_time = true;
  CHECK(read_csv((temp_dir() / "repeat.csv").string(), repeat_ok).ok);

  const CsvResult missing = read_csv((temp_dir() / "does_not_exist.csv").string());
  CHECK_FALSE(missing.ok);
  CHECK(missing.error.message == "cannot open file");
  const CsvResult empty = read_csv(write_file("empty.csv", ""));
  CHECK_FALSE(empty.ok);
  CHECK(empty.error.message == "file has no header line");
}

TEST_CASE("a large file is streamed row by row with constant memory") {
  const std::string path = (temp_dir() / "large.csv").string();
  const std::size_t rows = 200000;
  {
    std::FILE* f = std::fopen(path.c_str(), "wb");
    REQUIRE(f);
    std::fputs("time_s,a,b\n", f);
    for (std::size_t i = 0; i < rows; ++i)
      std::fprintf(f, "%zu.5,%zu,%.3f\n", i, i % 97, 0.001 * static_cast<double>(i % 1000));
    std::fclose(f);
  }
  CsvReader reader;
  REQUIRE(reader.open(path));
  CHECK(reader.header() == std::vector<std::string>{"a", "b"});
  CsvRow row;
  std::size_t n = 0;
  double sum_a = 0, sum_b = 0, expect_a = 0, expect_b = 0;
  bool times_ok = true;
  while (reader.next(row)) {
    times_ok = times_ok && row.time == Timestamp{static_cast<std::int64_t>(n) * 1000000 + 500000};
    sum_a += row.values[0];
    sum_b += row.values[1];
    expect_a += static_cast<double>(n % 97);
    expect_b += static_cast<double>(n % 1000) / 1000.0;  // the correctly rounded "0.xyz"
    ++n;
  }
  CHECK_FALSE(reader.failed());
  CHECK(reader.error().message.empty());
  CHECK(n == rows);
  CHECK(times_ok);
  CHECK(sum_a == expect_a);
  CHECK(sum_b == expect_b);
  CHECK(reader.bytes_read() == reader.file_size());
  CHECK(reader.time_format() == TimeFormat::seconds);
}

TEST_CASE("write_csv and read_csv round-trip, NaN as empty cells") {
  CsvTable t;
  t.time_column = "time";
  t.columns = {"x", "y"};
  t.time = {at(100), at(101, 250000), at(102)};
  t.values = {{1.0 / 3.0, -2e-9, 5.0}, {std::nan(""), 4.0, 1e300}};
  const std::string path = (temp_dir() / "roundtrip.csv").string();
  REQUIRE(write_csv(path, t, TimeFormat::iso8601));
  const CsvResult r = read_csv(path);
  REQUIRE_MESSAGE(r.ok, r.error.describe());
  CHECK(r.table.time == t.time);
  CHECK(r.table.values[0] == t.values[0]);
  CHECK(std::isnan(r.table.values[1][0]));
  CHECK(r.table.values[1][1] == 4.0);
  CHECK(r.table.values[1][2] == 1e300);
}

namespace {
using Cusum = Pipeline<StandardizedSample<double>, CusumDetector<double>>;

CsvTable replay_table() {
  CsvTable t;
  t.time_column = "t";
  t.columns = {"level", "flow"};
  for (int i = 0; i < 60; ++i) t.time.push_back(at(i));
  // level: small noise, then a 1.5-sigma shift at row 30; flow: zero with one NaN cell
  t.values.assign(2, std::vector<double>(60));
  for (int i = 0; i < 60; ++i) {
    t.values[0][static_cast<std::size_t>(i)] = i < 30 ? 0.1 * ((i % 3) - 1) : 1.5;
    t.values[1][static_cast<std::size_t>(i)] = i == 10 ? std::nan("") : 0.0;
  }
  return t;
}
}  // namespace

TEST_CASE("replay feeds a DynamicMonitor exactly like a hand-written loop") {
  const CsvTable t = replay_table();
  DynamicMonitor<VectorSink<double>, Cusum> monitor;
  monitor.add(0, Cusum(StandardizedSample<double>(0.0, 1.0), CusumDetector<double>(0.5, 4.0)));
  monitor.add(1, Cusum(StandardizedSample<double>(0.0, 1.0), CusumDetector<double>(0.5, 4.0)));
  std::vector<std::size_t> rows_with_findings;
  const ReplayResult r = replay(
      t, {{"level", 0}, {"flow", 1}}, monitor,
      [&](const RowFeed& rf) {
        if (rf.findings > 0) rows_with_findings.push_back(rf.row);
        CHECK(rf.time == t.time[rf.row]);
      });
  REQUIRE(r.ok);
  CHECK(r.rows == 60);
  CHECK(r.samples == 120);
  CHECK(r.missing == 1);
  CHECK(r.refused == 1);  // the NaN cell was fed as a missing sample and refused

  // Reference: the same pipelines fed by hand.
  Cusum level(StandardizedSample<double>(0.0, 1.0), CusumDetector<double>(0.5, 4.0));
  Cusum flow(StandardizedSample<double>(0.0, 1.0), CusumDetector<double>(0.5, 4.0));
  std::vector<Finding<double>> expected;
  std::vector<std::size_t> expected_rows;
  for (std::size_t i = 0; i < t.rows(); ++i) {
    bool any = false;
    if (auto o = level.update(Sample<double>{t.time[i], t.values[0][i]})) {
      expected.push_back(o.finding);
      any = true;
    }
    Sample<double> s{t.time[i], t.values[1][i]};
    if (std::isnan(s.value)) s.quality = Quality::missing;
    if (auto o = flow.update(s)) {
      expected.push_back(o.finding);
      any = true;
    }
    if (any) expected_rows.push_back(i);
  }
  REQUIRE(monitor.sink().size() == expected.size());
  CHECK(r.findings == expected.size());
  for (std::size_t i = 0; i < expected.size(); ++i) {
    CHECK(monitor.sink().findings[i].time == expected[i].time);
    CHECK(monitor.sink().findings[i].state == expected[i].state);
    CHECK(monitor.sink().findings[i].kind == expected[i].kind);
  }
  CHECK(rows_with_findings == expected_rows);
  // The shift at row 30 is found within a few rows (1.5 sigma, k = 0.5, h = 4: ~4-5 samples).
  bool alarm_after_shift = false;
  for (const auto& f : monitor.sink().findings)
    if (f.state == AlarmState::alarm && f.time >= at(30) && f.time <= at(36)) alarm_after_shift = true;
  CHECK(alarm_after_shift);
}

TEST_CASE("replay: skipping missing cells, firmware Monitor, streamed file, unknown column") {
  const CsvTable t = replay_table();
  auto monitor = make_monitor<2>(
      CountingSink{},
      Cusum(StandardizedSample<double>(0.0, 1.0), CusumDetector<double>(0.5, 4.0), {}, 0),
      Cusum(StandardizedSample<double>(0.0, 1.0), CusumDetector<double>(0.5, 4.0), {}, 1));
  ReplayOptions opt;
  opt.feed_missing = false;
  const ReplayResult r = replay(t, {{"level", 0}, {"flow", 1}}, monitor, opt);
  REQUIRE(r.ok);
  CHECK(r.samples == 119);
  CHECK(r.missing == 1);
  CHECK(r.refused == 0);
  CHECK(monitor.counters(1).samples == 59);

  // The same recording streamed from a file gives the same findings.
  const std::string path = (temp_dir() / "replay.csv").string();
  REQUIRE(write_csv(path, t, TimeFormat::seconds));
  DynamicMonitor<VectorSink<double>, Cusum> a, b;
  for (auto* m : {&a, &b}) {
    m->add(0, Cusum(StandardizedSample<double>(0.0, 1.0), CusumDetector<double>(0.5, 4.0)));
    m->add(1, Cusum(StandardizedSample<double>(0.0, 1.0), CusumDetector<double>(0.5, 4.0)));
  }
  const std::vector<ChannelBinding> bind = {{"level", 0}, {"flow", 1}};
  const ReplayResult ra = replay(t, bind, a);
  CsvReader reader;
  REQUIRE(reader.open(path));
  const ReplayResult rb = replay(reader, bind, b, [](const RowFeed&) {});
  REQUIRE(rb.ok);
  CHECK(rb.rows == ra.rows);
  REQUIRE(b.sink().size() == a.sink().size());
  for (std::size_t i = 0; i < a.sink().size(); ++i) {
    CHECK(a.sink().findings[i].time == b.sink().findings[i].time);
    CHECK(a.sink().findings[i].state == b.sink().findings[i].state);
  }

  // Scale / offset per binding: level * 2 - 3 fed to a detector centred on -3.
  DynamicMonitor<VectorSink<double>, Cusum> scaled;
  scaled.add(0, Cusum(StandardizedSample<double>(-3.0, 2.0), CusumDetector<double>(0.5, 4.0)));
  const ReplayResult rs = replay(t, {{"level", 0, 2.0, -3.0}}, scaled);
  REQUIRE(rs.ok);
  REQUIRE(scaled.sink().size() >= 1);
  std::vector<Finding<double>> level_findings;
  for (const auto& f : a.sink().findings)
    if (f.channel == 0) level_findings.push_back(f);
  REQUIRE(scaled.sink().size() == level_findings.size());
  for (std::size_t i = 0; i < level_findings.size(); ++i) {
    CHECK(scaled.sink().findings[i].time == level_findings[i].time);
    CHECK(scaled.sink().findings[i].score == doctest::Approx(level_findings[i].score));
  }

  const ReplayResult bad = replay(t, {{"nope", 0}}, a);
  CHECK_FALSE(bad.ok);
  CHECK(bad.error.message == "no column named 'nope' in the recording");
}
