// examples/firmware/host_main.cpp - the firmware scenario compiled for the host, printing the same
// findings as the qemu build (the `firmware` ctest compares the two outputs).
#include <cstdio>

#include "scenario.hpp"

namespace {
scenario::Detectors detectors;  // static storage, as on the probe
}

int main() {
  auto out = [](const char* s) { std::fputs(s, stdout); };
  scenario::run(detectors, out);
  std::fputs("DONE\n", stdout);
  return 0;
}
