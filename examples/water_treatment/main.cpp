// water_treatment: a week of a simulated water-treatment plant under five attacks, watched by
// physguard detectors on the PLC's raw I/O.  Prints a timeline of findings and a summary table and
// writes an SVG plot of the signals with the alarm bands.
//
//   water_treatment [--days N] [--seed S] [--svg FILE] [--quiet]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <map>
#include <string>
#include <vector>

#include "scenario.hpp"

namespace {

using namespace water;

std::string clock_of(double t_s) {
  const long s = static_cast<long>(t_s);
  char buf[96];
  std::snprintf(buf, sizeof buf, "day %ld %02ld:%02ld:%02ld", s / 86400 + 1, (s % 86400) / 3600,
                (s % 3600) / 60, s % 60);
  return buf;
}

const char* event_name_at(double t) {
  static const auto events = scripted_events();
  for (const auto& e : events)
    if (t >= e.start_s && t < e.end_s + kSettleS) return e.name;
  return "normal operation";
}

void print_timeline(const ScenarioResult& r) {
  std::printf("Timeline of findings (alarm state changes; refused samples grouped)\n");
  std::printf("%-16s %-16s %-24s %-16s %-9s %12s %10s  %-16s %s\n", "time", "channel", "detector",
              "kind", "state", "score", "threshold", "cause", "context");
  std::size_t i = 0;
  const auto& f = r.findings;
  while (i < f.size()) {
    // Group consecutive refused samples of one detector into one line.
    std::size_t j = i + 1;
    if (f[i].kind == physguard::FindingKind::bad_input) {
      while (j < f.size() && f[j].kind == physguard::FindingKind::bad_input &&
             f[j].channel == f[i].channel && f[j].detector_id == f[i].detector_id)
        ++j;
    }
    const double t = seconds_since_start(f[i].time);
    std::printf("%-16s %-16s %-24s %-16s %-9s %12.3f %10.3f  %-16s %s", clock_of(t).c_str(),
                channel_name(f[i].channel), f[i].detector, physguard::to_string(f[i].kind),
                physguard::to_string(f[i].state), f[i].score, f[i].threshold,
                physguard::to_string(f[i].cause), event_name_at(t));
    if (j - i > 1)
      std::printf("  [%s x%zu until %s]", physguard::to_string(f[i].status), j - i,
                  clock_of(seconds_since_start(f[j - 1].time)).c_str());
    else if (f[i].kind == physguard::FindingKind::bad_input)
      std::printf("  [%s]", physguard::to_string(f[i].status));
    std::printf("\n");
    i = j;
  }
}

void print_summary(const ScenarioResult& r) {
  std::printf("\nSummary\n");
  std::printf("%-3s %-20s %-62s %-9s %9s  %s\n", "#", "attack", "what", "detected", "delay", "caught by");
  for (const auto& a : r.attacks) {
    std::string by;
    for (const auto& d : a.detectors) by += (by.empty() ? "" : ", ") + d;
    std::printf("%-3d %-20s %-62s %-9s %8.0fs  %s\n", a.event.id, a.event.name, a.event.what,
                a.detected ? "yes" : "NO", a.delay_s, by.c_str());
  }
  std::string by;
  for (const auto& d : r.fault.detectors) by += (by.empty() ? "" : ", ") + d;
  std::printf("%-3s %-20s %-62s %-9s %8.0fs  %s (reported as sensor_fault, not as an attack)\n",
              "-", r.fault.event.name, r.fault.event.what, r.fault.detected ? "yes" : "NO",
              r.fault.delay_s, by.c_str());
  std::printf("\nFalse alarms in normal hours: %d; refused samples in normal hours: %d; "
              "findings in total: %zu over %.1f simulated days\n",
              r.false_alarms, r.refused_in_normal_hours, r.findings.size(), r.simulated_s / kDay);
}

// ---- SVG ----------------------------------------------------------------------------------------
struct Panel {
  const char* title;
  double lo, hi;
  bool log_scale;
};

class Svg {
 public:
  Svg(double days, int width) : days_(days), width_(width) {}
  double x(double t_s) const { return left_ + (t_s / (days_ * kDay)) * (width_ - left_ - 20); }
  std::string out;
  double left_ = 90;
  double days_;
  int width_;
};

void write_svg(const ScenarioResult& r, double days, const char* path) {
  const int width = 1400;
  const int panel_h = 110, gap = 28, top = 40;
  const Panel panels[] = {{"tank level LT1 [m] (grey: true, blue: reported)", 0.0, 5.5, false},
                          {"pH (grey: true, blue: reported by AIT1)", 6.0, 8.5, false},
                          {"dosing: speed command [%] (orange), flow FT3 [L/h] (blue)", 0.0, 110.0, false},
                          {"NaOH setpoint [ppm] (log scale)", 10.0, 20000.0, true},
                          {"valve V1: command open (orange), open switch (blue)", -0.2, 1.2, false}};
  const int n_panels = 5;
  const int bands_top = top + n_panels * (panel_h + gap);
  const int band_h = 14;
  // Alarm intervals per (channel, detector).
  struct Interval { double a, b; };
  std::map<std::string, std::vector<Interval>> alarms;
  std::map<std::string, double> open;
  for (const auto& f : r.findings) {
    if (f.kind == physguard::FindingKind::bad_input) {
      const std::string key = std::string(channel_name(f.channel)) + " refused input";
      const double t = seconds_since_start(f.time);
      auto& v = alarms[key];
      if (!v.empty() && t - v.back().b < 5) v.back().b = t + 1; else v.push_back({t, t + 1});
      continue;
    }
    const std::string key = std::string(channel_name(f.channel)) + ": " + f.detector;
    const double t = seconds_since_start(f.time);
    if (f.state == physguard::AlarmState::alarm) {
      if (!open.count(key)) open[key] = t;
    } else if (open.count(key)) {
      alarms[key].push_back({open[key], t});
      open.erase(key);
    }
  }
  for (const auto& [k, t] : open) alarms[k].push_back({t, r.simulated_s});
  const int height = bands_top + 30 + static_cast<int>(alarms.size()) * (band_h + 4) + 20;

  Svg svg(days, width);
  std::string& o = svg.out;
  char buf[512];
  std::snprintf(buf, sizeof buf,
                "<svg xmlns='http://www.w3.org/2000/svg' width='%d' height='%d' font-family='sans-serif' font-size='11'>\n"
                "<rect width='100%%' height='100%%' fill='white'/>\n"
                "<text x='10' y='22' font-size='15'>physguard water-treatment demo: %.0f days, five attacks and one sensor fault</text>\n",
                width, height, days);
  o += buf;
  // Attack windows across all panels.
  for (const auto& e : scripted_events()) {
    if (e.start_s >= r.simulated_s) continue;
    const double x0 = svg.x(e.start_s), x1 = std::max(svg.x(e.end_s), x0 + 2.0);
    std::snprintf(buf, sizeof buf,
                  "<rect x='%.1f' y='%d' width='%.1f' height='%d' fill='%s' opacity='0.25'/>\n"
                  "<text x='%.1f' y='%d' fill='#a00'>%s</text>\n",
                  x0, top, x1 - x0, bands_top - top, e.id > 0 ? "#f44" : "#fa0", x0 + 2, top + 10,
                  e.name);
    o += buf;
  }
  auto y_of = [&](int p, double v) {
    const Panel& pn = panels[p];
    double f = pn.log_scale ? (std::log10(std::max(v, pn.lo)) - std::log10(pn.lo)) / (std::log10(pn.hi) - std::log10(pn.lo))
                            : (v - pn.lo) / (pn.hi - pn.lo);
    f = std::min(1.0, std::max(0.0, f));
    return top + p * (panel_h + gap) + panel_h * (1.0 - f);
  };
  auto polyline = [&](int p, const char* colour, double (*get)(const Signals&)) {
    o += "<polyline fill='none' stroke='";
    o += colour;
    o += "' stroke-width='0.8' points='";
    // At most ~2500 points a line: finer than the picture's pixels, a small file.
    const std::size_t stride = r.trace.size() / 2500 + 1;
    for (std::size_t i = 0; i < r.trace.size(); i += stride) {
      const Signals& s = r.trace[i];
      std::snprintf(buf, sizeof buf, "%.1f,%.1f ", svg.x(s.t_s), y_of(p, get(s)));
      o += buf;
    }
    o += "'/>\n";
  };
  for (int p = 0; p < n_panels; ++p) {
    const int y0 = top + p * (panel_h + gap);
    std::snprintf(buf, sizeof buf,
                  "<rect x='%.0f' y='%d' width='%.0f' height='%d' fill='none' stroke='#999'/>\n"
                  "<text x='%.0f' y='%d'>%s</text>\n",
                  svg.left_, y0, width - svg.left_ - 20, panel_h, svg.left_, y0 - 4, panels[p].title);
    o += buf;
  }
  polyline(0, "#bbb", [](const Signals& s) { return s.true_level_m; });
  polyline(0, "#15c", [](const Signals& s) { return s.level_m; });
  polyline(1, "#bbb", [](const Signals& s) { return s.true_ph; });
  polyline(1, "#15c", [](const Signals& s) { return s.ph; });
  polyline(2, "#e80", [](const Signals& s) { return s.dose_speed_percent; });
  polyline(2, "#15c", [](const Signals& s) { return s.dose_flow_l_h; });
  polyline(3, "#e80", [](const Signals& s) { return s.naoh_setpoint_ppm; });
  polyline(4, "#e80", [](const Signals& s) { return s.v1_command_open ? 1.0 : 0.0; });
  polyline(4, "#15c", [](const Signals& s) { return s.v1_open_switch ? 0.95 : 0.05; });
  // Day ticks.
  for (int d = 0; d <= static_cast<int>(days); ++d) {
    std::snprintf(buf, sizeof buf, "<text x='%.1f' y='%d' fill='#555'>day %d</text>\n",
                  svg.x(d * kDay) + 2, bands_top - 8, d + 1);
    o += buf;
  }
  // Alarm bands.
  std::snprintf(buf, sizeof buf, "<text x='10' y='%d' font-size='13'>alarm bands (red: alarm, orange: refused input)</text>\n",
                bands_top + 14);
  o += buf;
  int row = 0;
  for (const auto& [key, iv] : alarms) {
    const double y = bands_top + 24 + row * (band_h + 4);
    const bool refused = key.find("refused") != std::string::npos;
    std::snprintf(buf, sizeof buf, "<text x='10' y='%.0f'>%s</text>\n", y + 11, key.c_str());
    o += buf;
    for (const auto& i : iv) {
      const double a = svg.x(i.a), b = std::max(svg.x(i.b), a + 3.0);
      std::snprintf(buf, sizeof buf, "<rect x='%.1f' y='%.0f' width='%.1f' height='%d' fill='%s'/>\n",
                    a, y, b - a, band_h, refused ? "#fa0" : "#d22");
      o += buf;
    }
    ++row;
  }
  o += "</svg>\n";
  if (FILE* file = std::fopen(path, "w")) {
    std::fwrite(o.data(), 1, o.size(), file);
    std::fclose(file);
    std::printf("\nplot written to %s\n", path);
  } else {
    std::fprintf(stderr, "water_treatment: cannot write %s\n", path);
  }
}

}  // namespace

int main(int argc, char** argv) {
  double days = 7.0;
  unsigned long seed = 2021;
  const char* svg = "water_treatment.svg";
  bool quiet = false;
  for (int i = 1; i < argc; ++i) {
    if (!std::strcmp(argv[i], "--days") && i + 1 < argc) days = std::atof(argv[++i]);
    else if (!std::strcmp(argv[i], "--seed") && i + 1 < argc) seed = std::strtoul(argv[++i], nullptr, 10);
    else if (!std::strcmp(argv[i], "--svg") && i + 1 < argc) svg = argv[++i];
    else if (!std::strcmp(argv[i], "--quiet")) quiet = true;
    else {
      std::fprintf(stderr, "usage: water_treatment [--days N] [--seed S] [--svg FILE] [--quiet]\n");
      return 2;
    }
  }
  if (!(days > 0.0 && days <= 7.0)) {
    std::fprintf(stderr, "water_treatment: --days must be in (0, 7]\n");
    return 2;
  }
  std::printf("physguard water-treatment demo: %.1f simulated days at 1 scan/s, seed %lu\n\n", days, seed);
  const ScenarioResult r = run_scenario(days, seed);
  if (!quiet) print_timeline(r);
  print_summary(r);
  write_svg(r, days, svg);
  bool ok = r.false_alarms == 0 && r.refused_in_normal_hours == 0;
  for (const auto& a : r.attacks) ok = ok && a.detected;
  return ok ? 0 : 1;
}
