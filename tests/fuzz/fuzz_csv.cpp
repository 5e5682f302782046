// libFuzzer target: the CSV reader (eval/csv.hpp) on arbitrary file contents, whole (read_csv) and
// streamed (CsvReader).  Invariants: no crash (ASan/UBSan); a successful read has one value per
// column per row, strictly increasing timestamps (repeats not allowed by the options), and the
// streaming reader yields the same rows as read_csv.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

#include <physguard/eval/csv.hpp>

#include "fuzz_input.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static const std::string path = "/tmp/physguard_fuzz_csv_" + std::to_string(::getpid()) + ".csv";
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr) return 0;
  if (size > 0) std::fwrite(data, 1, size, f);
  std::fclose(f);

  physguard::eval::CsvOptions options;
  options.progress = false;
  const physguard::eval::CsvResult r = physguard::eval::read_csv(path, options);
  physguard::eval::CsvReader reader(options);
  const bool opened = reader.open(path);
  if (r.ok) {
    PHYSGUARD_FUZZ_CHECK(opened);
    const auto& t = r.table;
    PHYSGUARD_FUZZ_CHECK(t.values.size() == t.columns.size());
    for (const auto& col : t.values) PHYSGUARD_FUZZ_CHECK(col.size() == t.rows());
    for (std::size_t i = 1; i < t.rows(); ++i) PHYSGUARD_FUZZ_CHECK(t.time[i - 1] < t.time[i]);
    physguard::eval::CsvRow row;
    std::size_t n = 0;
    while (reader.next(row)) {
      PHYSGUARD_FUZZ_CHECK(n < t.rows());
      PHYSGUARD_FUZZ_CHECK(row.time == t.time[n]);
      PHYSGUARD_FUZZ_CHECK(row.values.size() == t.columns.size());
      for (std::size_t c = 0; c < row.values.size(); ++c) {
        const double a = row.values[c], b = t.values[c][n];
        PHYSGUARD_FUZZ_CHECK((a != a && b != b) || a == b);
      }
      ++n;
    }
    PHYSGUARD_FUZZ_CHECK(n == t.rows());
  }
  return 0;
}
