// examples/firmware/host_main.cpp - the firmware scenario compiled for the host, printing the same
// findings as the qemu build (the `firmware` ctest compares the two outputs).
#include <cstdio>

#include <physguard/core/statistics.hpp>

#include "scenario.hpp"

namespace {
scenario::Detectors detectors;  // static storage, as on the probe

// The firmware's gate constants must be what the library would compute (bit for bit, in float).
bool gate_constants_match() {
  using physguard::stats::chi_square_quantile;
  const auto table =
      physguard::NisGateTable<float, 1>::for_probability(scenario::level_gate_probability);
  bool ok = true;
  auto check = [&ok](const char* name, float constant, float computed) {
    if (constant == computed) return;
    std::fprintf(stderr, "scenario.hpp: %s = %.9g but the host computes %.9g\n", name,
                 static_cast<double>(constant), static_cast<double>(computed));
    ok = false;
  };
  check("level_gate", scenario::level_gate, table.gate[0]);
  check("level_inverse_gate", scenario::level_inverse_gate, table.inverse_gate[0]);
  check("nis_alarm_threshold", scenario::nis_alarm_threshold,
        static_cast<float>(chi_square_quantile(scenario::nis_alarm_probability, 1.0)));
  return ok;
}

}  // namespace

int main() {
  if (!gate_constants_match()) return 2;
  auto out = [](const char* s) { std::fputs(s, stdout); };
  scenario::run(detectors, out);
  std::fputs("DONE\n", stdout);
  return 0;
}
