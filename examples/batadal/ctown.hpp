// examples/batadal/ctown.hpp - what the detector knows about the C-Town network, read off the
// EPANET model CTOWN.INP (BATADAL, CC BY 4.0): the PLC rules of its [CONTROLS] section, the pump
// stations of [PUMPS] with the pressure sensors at their suction and discharge, and the tank
// diameters of [TANKS].  Nothing here is fitted: it is the plant's documentation.
#pragma once

#include <array>
#include <string>

namespace batadal {

/// The components a finding can name (tanks, pumps, the valve).
enum Component : int {
  T1 = 0, T2, T3, T4, T5, T6, T7,
  PU1, PU2, PU3, PU4, PU5, PU6, PU7, PU8, PU9, PU10, PU11,
  V2,
  component_count
};

inline const char* component_name(int c) {
  static const char* const names[component_count] = {
      "T1",  "T2",  "T3",  "T4",  "T5",  "T6",  "T7",   "PU1",  "PU2", "PU3",
      "PU4", "PU5", "PU6", "PU7", "PU8", "PU9", "PU10", "PU11", "V2"};
  return c >= 0 && c < component_count ? names[c] : "?";
}

/// Column stem of an actuator: "PU7" -> F_PU7 / S_PU7.
inline std::string flow_column(int actuator) { return std::string("F_") + component_name(actuator); }
inline std::string status_column(int actuator) {
  return std::string("S_") + component_name(actuator);
}
inline std::string level_column(int tank) { return std::string("L_") + component_name(tank); }

/// One two-point rule of [CONTROLS]: `actuator` OPEN IF `tank` BELOW low, CLOSED IF ABOVE high.
struct ControlRule {
  int actuator;
  int tank;
  double low_m;
  double high_m;
};

/// CTOWN.INP [CONTROLS] (and BATADAL rules, table 2: PU3 and PU9 are normally off).
inline constexpr std::array<ControlRule, 10> control_rules{{
    {PU1, T1, 4.0, 6.3},
    {PU2, T1, 1.0, 4.5},
    {V2, T2, 0.5, 5.5},
    {PU4, T3, 3.0, 5.3},
    {PU5, T3, 1.0, 3.5},
    {PU6, T4, 2.0, 3.5},
    {PU7, T4, 3.0, 4.5},
    {PU8, T5, 1.5, 4.0},
    {PU10, T7, 2.5, 4.8},
    {PU11, T7, 1.0, 3.0},
}};
inline constexpr std::array<int, 2> normally_off{{PU3, PU9}};

/// Every actuator with a flow and a status column.
inline constexpr std::array<int, 12> actuators{{PU1, PU2, PU3, PU4, PU5, PU6, PU7, PU8, PU9, PU10,
                                                PU11, V2}};

/// A pumping station (or the valve V2): its actuators, the tank it fills, and the two pressure
/// sensors of the dataset that sit on it ([PUMPS]: PU2 J280->J269, PU5 J300->J256, PU6 J289->J415,
/// PU9 J302->J306, PU10 J307->J317; [VALVES]: V2 J14->J422).
struct Station {
  const char* name;
  std::array<int, 3> actuators;  // -1 = unused slot
  int tank;
  const char* suction;
  const char* discharge;
};

inline constexpr std::array<Station, 6> stations{{
    {"S1", {{PU1, PU2, PU3}}, T1, "P_J280", "P_J269"},
    {"S2", {{PU4, PU5, -1}}, T3, "P_J300", "P_J256"},
    {"S3", {{PU6, PU7, -1}}, T4, "P_J289", "P_J415"},
    {"S4", {{PU8, PU9, -1}}, T5, "P_J302", "P_J306"},
    {"S5", {{PU10, PU11, -1}}, T7, "P_J307", "P_J317"},
    {"V2", {{V2, -1, -1}}, T2, "P_J14", "P_J422"},
}};

/// [TANKS] diameters (m): the level-to-volume factor of each tank's mass balance.
inline constexpr std::array<double, 7> tank_diameter_m{{31.3, 20.78, 13.73, 11.64, 11.89, 8.33,
                                                        7.14}};
inline constexpr double pi = 3.14159265358979323846;
inline double tank_area_m2(int tank) {
  const double d = tank_diameter_m[static_cast<std::size_t>(tank)];
  return pi * d * d / 4.0;
}

}  // namespace batadal
