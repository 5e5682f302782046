// physguard-plc-sim: the water-treatment plant (examples/water_treatment/plant.hpp) behind a
// Modbus/TCP server (libmodbus), stepped in real time or faster, with attacks injectable into its
// registers.  Listens on 127.0.0.1 only.  Register map: docs/gateway.md ("PLC simulator").
//
//   physguard-plc-sim --port 5020 --duration 60 [--speed 20] [--start-s 134700]
//                     [--inject FROM:TO:KIND]...   (plant seconds; KIND see below)
//
// Injections overlay the registers the gateway reads (the plant itself runs unchanged, including
// its own scripted attacks at their scripted plant times):
//   1 setpoint      HR0 (NaOH setpoint) reads 11100 ppm (the Oldsmar value)
//   2 level_freeze  IR0 / IR6-7 (LT1) hold the value they had when the injection started
//   3 garbage       IR0 reads 0xFFFF and IR6-7 a float32 NaN
//   4 level_offset  LT1 reads 0.5 m high
//   5 feedback_off  DI0 (P1 contactor feedback) reads 0
// A client can also write the code into the control register HR100 (0 ends it).
#include <modbus/modbus.h>
#include <sys/select.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "water_treatment/plant.hpp"

namespace {

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

struct Injection {
  double from_s, to_s;
  int code;
};

int kind_code(const std::string& k) {
  if (k == "setpoint") return 1;
  if (k == "level_freeze") return 2;
  if (k == "garbage") return 3;
  if (k == "level_offset") return 4;
  if (k == "feedback_off") return 5;
  return -1;
}

std::uint16_t clamp_u16(double v) {
  return static_cast<std::uint16_t>(std::clamp(std::lround(v), 0L, 65535L));
}

void put_float(std::uint16_t* regs, int at, float v) {
  std::uint32_t u;
  std::memcpy(&u, &v, sizeof u);
  regs[at] = static_cast<std::uint16_t>(u >> 16);
  regs[at + 1] = static_cast<std::uint16_t>(u & 0xFFFF);
}

void usage() {
  std::fprintf(stderr,
               "usage: physguard-plc-sim --port P --duration WALL_S [--speed X] [--start-s PLANT_S]\n"
               "                         [--seed N] [--inject FROM:TO:KIND]...\n");
}

}  // namespace

int main(int argc, char** argv) {
  int port = 0;
  double duration_s = 0, speed = 1.0, start_s = 0;
  std::uint64_t seed = 2021;
  std::vector<Injection> injections;
  for (int i = 1; i < argc; i += 2) {  // options come in pairs: --name value
    const std::string a = argv[i];
    const char* v = i + 1 < argc ? argv[i + 1] : nullptr;
    if (!v) { usage(); return 2; }
    if (a == "--port") port = std::atoi(v);
    else if (a == "--duration") duration_s = std::atof(v);
    else if (a == "--speed") speed = std::atof(v);
    else if (a == "--start-s") start_s = std::atof(v);
    else if (a == "--seed") seed = std::strtoull(v, nullptr, 10);
    else if (a == "--inject") {
      double f = 0, t = 0;
      char kind[32] = {};
      if (std::sscanf(v, "%lf:%lf:%31s", &f, &t, kind) != 3 || kind_code(kind) < 0 || !(t > f)) {
        std::fprintf(stderr, "plc-sim: bad --inject '%s' (FROM:TO:KIND)\n", v);
        return 2;
      }
      injections.push_back({f, t, kind_code(kind)});
    } else { usage(); return 2; }
  }
  if (port <= 0 || port > 65535 || !(duration_s > 0) || !(speed > 0)) { usage(); return 2; }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);

  // The plant, fast-forwarded to start_s (it has to run through its history: state and the
  // attacker's recording depend on it).
  water::Plant plant(seed);
  water::Signals s{};
  while (plant.time_s() < start_s) s = plant.step();
  if (plant.time_s() == 0) s = plant.step();

  modbus_t* ctx = modbus_new_tcp("127.0.0.1", port);
  modbus_mapping_t* map = modbus_mapping_new(8, 8, 128, 16);
  if (!ctx || !map) { std::fprintf(stderr, "plc-sim: out of memory\n"); return 1; }
  int server = modbus_tcp_listen(ctx, 8);
  if (server < 0) {
    std::fprintf(stderr, "plc-sim: cannot listen on 127.0.0.1:%d: %s\n", port, modbus_strerror(errno));
    return 1;
  }
  std::fprintf(stderr, "plc-sim: listening on 127.0.0.1:%d, plant time %.0f s, speed %g\n", port,
               plant.time_s(), speed);

  double frozen_level = 0;
  int active_code = 0;
  auto publish = [&](const water::Signals& sig) {
    const double t_plant = sig.t_s;
    int code = map->tab_registers[100];
    if (code == 0)
      for (const Injection& in : injections)
        if (t_plant >= in.from_s && t_plant < in.to_s) code = in.code;
    if (code == 2 && active_code != 2) frozen_level = map->tab_input_registers[0] / 1000.0;
    active_code = code;
    double level = sig.level_m;
    if (code == 2) level = frozen_level;
    if (code == 4) level += 0.5;
    std::uint16_t* ir = map->tab_input_registers;
    ir[0] = clamp_u16(level * 1000.0);
    ir[1] = clamp_u16(sig.inflow_m3_s * 1e4);
    ir[2] = clamp_u16(sig.outflow_m3_s * 1e4);
    ir[3] = clamp_u16(sig.dose_flow_l_h * 10.0);
    ir[4] = clamp_u16(sig.ph * 1000.0);
    ir[5] = clamp_u16(sig.ph_current_ma * 1000.0);
    put_float(ir, 6, static_cast<float>(code == 2 ? frozen_level : level));
    const auto t_int = static_cast<std::uint32_t>(std::floor(t_plant));
    ir[8] = static_cast<std::uint16_t>(t_int >> 16);
    ir[9] = static_cast<std::uint16_t>(t_int & 0xFFFF);
    ir[10] = static_cast<std::uint16_t>(static_cast<std::int16_t>(sig.attack));
    ir[11] = static_cast<std::uint16_t>(code);
    if (code == 3) {
      ir[0] = 0xFFFF;
      put_float(ir, 6, std::nanf(""));
    }
    map->tab_registers[0] = clamp_u16(code == 1 ? 11100.0 : sig.naoh_setpoint_ppm);
    map->tab_registers[1] = clamp_u16(sig.dose_speed_percent * 100.0);
    map->tab_bits[0] = sig.p1_command;
    map->tab_bits[1] = sig.dose_run_command;
    map->tab_bits[2] = sig.v1_command_open;
    map->tab_input_bits[0] = code == 5 ? 0 : sig.p1_feedback;
    map->tab_input_bits[1] = sig.v1_open_switch;
    map->tab_input_bits[2] = sig.v1_closed_switch;
  };
  publish(s);

  using clock = std::chrono::steady_clock;
  const auto t0 = clock::now();
  const double plant0 = plant.time_s();
  std::vector<int> clients;
  std::vector<std::uint8_t> query(MODBUS_TCP_MAX_ADU_LENGTH);
  long requests = 0;
  while (!g_stop) {
    const double wall = std::chrono::duration<double>(clock::now() - t0).count();
    if (wall >= duration_s) break;
    // Plant steps due by now (bounded catch-up per iteration so requests are still served).
    for (int n = 0; n < 1000 && plant.time_s() < plant0 + wall * speed; ++n) s = plant.step();
    publish(s);
    const double next_step_wall = (plant.time_s() - plant0) / speed;
    double wait = std::min(next_step_wall, duration_s) - wall;
    if (wait < 0) wait = 0;
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(server, &rd);
    int maxfd = server;
    for (int c : clients) {
      FD_SET(c, &rd);
      maxfd = std::max(maxfd, c);
    }
    timeval tv{static_cast<time_t>(wait), static_cast<suseconds_t>((wait - std::floor(wait)) * 1e6)};
    const int n = select(maxfd + 1, &rd, nullptr, nullptr, &tv);
    if (n < 0) {
      if (errno == EINTR) continue;
      std::perror("plc-sim: select");
      break;
    }
    if (n == 0) continue;
    if (FD_ISSET(server, &rd)) {
      const int c = modbus_tcp_accept(ctx, &server);
      if (c >= 0) clients.push_back(c);
    }
    for (std::size_t i = 0; i < clients.size();) {
      const int c = clients[i];
      if (!FD_ISSET(c, &rd)) { ++i; continue; }
      modbus_set_socket(ctx, c);
      const int rc = modbus_receive(ctx, query.data());
      if (rc > 0) {
        modbus_reply(ctx, query.data(), rc, map);
        ++requests;
        ++i;
      } else if (rc == -1) {
        close(c);
        clients.erase(clients.begin() + static_cast<std::ptrdiff_t>(i));
      } else {
        ++i;  // rc == 0: request for another unit id, ignored
      }
    }
  }
  for (int c : clients) close(c);
  close(server);
  std::fprintf(stderr, "plc-sim: stopped at plant time %.0f s after %ld requests\n", plant.time_s(), requests);
  modbus_mapping_free(map);
  modbus_free(ctx);
  return 0;
}
