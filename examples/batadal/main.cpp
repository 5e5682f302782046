// physguard-batadal: attack detection and localisation on the C-Town water network (BATADAL).
//
//   physguard-batadal --normal BATADAL_dataset03.csv --labelled BATADAL_dataset04_labelled.csv
//                     --input any.csv --output out.csv [--svg plot.svg] [--disable part[,part]]
//                     [--safety S --hold H] [--channels]
//
// Fits and calibrates on the clean recording, chooses among a few documented settings on the
// labelled one (never fitting a threshold to the labels), runs on the input and writes
// DATETIME,ATT_FLAG,COMPONENTS per input row.  Prints S_TTD, S_CM and S when the input has labels.
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <string>
#include <vector>

#include <physguard/eval/csv.hpp>
#include <physguard/eval/metrics.hpp>

#include "ctown.hpp"
#include "detector.hpp"
#include "svg.hpp"

namespace {

namespace ev = physguard::eval;

// The documented settings the labelled recording chooses among (docs/batadal.md).
constexpr double safety_choices[] = {1.0, 1.25, 1.5, 2.0};
constexpr int hold_choices[] = {0, 6, 12, 24};

int usage(const char* why) {
  if (why) std::fprintf(stderr, "physguard-batadal: %s\n", why);
  std::fprintf(stderr,
               "usage: physguard-batadal --normal <clean.csv> --labelled <labelled.csv>\n"
               "                         --input <any.csv> --output <out.csv>\n"
               "                         [--svg <plot.svg>] [--disable <part>[,<part>...]]\n"
               "                         [--safety <s> --hold <hours>] [--channels]\n"
               "parts: rules status_flow pump_curve mass_balance pressure noise\n");
  return 2;
}

bool load(const std::string& what, const std::string& path, batadal::Table& t) {
  ev::CsvOptions opt;
  opt.time_column = "DATETIME";
  opt.time_format = ev::TimeFormat::day_month_year_hour;
  ev::CsvResult r = ev::read_csv(path, opt);
  if (!r.ok) {
    std::fprintf(stderr, "physguard-batadal: %s: %s\n", what.c_str(), r.error.describe().c_str());
    return false;
  }
  if (r.table.rows() == 0) {
    std::fprintf(stderr, "physguard-batadal: %s: %s has no data rows\n", what.c_str(), path.c_str());
    return false;
  }
  const std::string missing = batadal::missing_columns(r.table);
  if (!missing.empty()) {
    std::fprintf(stderr, "physguard-batadal: %s: %s lacks columns: %s\n", what.c_str(), path.c_str(),
                 missing.c_str());
    return false;
  }
  t = std::move(r.table);
  return true;
}

bool labels_of(const batadal::Table& t, std::vector<std::uint8_t>& labels) {
  const std::vector<double>* col = t.column("ATT_FLAG");
  if (!col) return false;
  labels = ev::flags_from_column(*col);
  return true;
}

std::vector<std::uint8_t> flags_of(const std::vector<batadal::RowVerdict>& v) {
  std::vector<std::uint8_t> f(v.size());
  for (std::size_t i = 0; i < v.size(); ++i) f[i] = v[i].alarm ? 1 : 0;
  return f;
}

std::string components_of(std::uint32_t bits) {
  std::string s;
  for (int c = 0; c < batadal::component_count; ++c)
    if (bits & (1u << static_cast<unsigned>(c))) {
      if (!s.empty()) s += ' ';
      s += batadal::component_name(c);
    }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  std::string normal, labelled, input, output, svg;
  unsigned disabled = 0;
  double safety = -1.0;
  int hold = -1;
  bool list_channels = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    auto value = [&](std::string& into) {
      if (i + 1 >= argc) return false;
      into = argv[++i];
      return true;
    };
    std::string v;
    if (a == "--normal") {
      if (!value(normal)) return usage("--normal needs a file");
    } else if (a == "--labelled") {
      if (!value(labelled)) return usage("--labelled needs a file");
    } else if (a == "--input") {
      if (!value(input)) return usage("--input needs a file");
    } else if (a == "--output") {
      if (!value(output)) return usage("--output needs a file");
    } else if (a == "--svg") {
      if (!value(svg)) return usage("--svg needs a file");
    } else if (a == "--disable") {
      if (!value(v)) return usage("--disable needs a part name");
      std::size_t start = 0;
      for (;;) {
        const std::size_t comma = v.find(',', start);
        const std::string name = v.substr(start, comma == std::string::npos ? comma : comma - start);
        const int p = batadal::part_from_name(name);
        if (p < 0) return usage(("unknown part '" + name + "'").c_str());
        disabled |= 1u << static_cast<unsigned>(p);
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
    } else if (a == "--safety") {
      if (!value(v)) return usage("--safety needs a number");
      char* end = nullptr;
      safety = std::strtod(v.c_str(), &end);
      if (*end != '\0' || !(safety >= 1.0 && safety <= 10.0))
        return usage("--safety must be a number in [1, 10]");
    } else if (a == "--hold") {
      if (!value(v)) return usage("--hold needs a number of hours");
      char* end = nullptr;
      const long h = std::strtol(v.c_str(), &end, 10);
      if (*end != '\0' || h < 0 || h > 24 * 14) return usage("--hold must be 0..336 hours");
      hold = static_cast<int>(h);
    } else if (a == "--channels") {
      list_channels = true;
    } else if (a == "-h" || a == "--help") {
      usage(nullptr);
      return 0;
    } else {
      return usage(("unknown argument '" + a + "'").c_str());
    }
  }
  if (normal.empty() || labelled.empty() || input.empty() || output.empty())
    return usage("--normal, --labelled, --input and --output are required");
  if ((safety < 0) != (hold < 0)) return usage("give --safety and --hold together (or neither)");

  batadal::Table clean, tune, in;
  if (!load("--normal", normal, clean) || !load("--labelled", labelled, tune) ||
      !load("--input", input, in))
    return 1;

  batadal::Detector det;
  std::string error;
  if (!det.fit(clean, error)) {
    std::fprintf(stderr, "physguard-batadal: fitting on %s: %s\n", normal.c_str(), error.c_str());
    return 1;
  }

  // Choose the settings on the labelled recording (or take the ones given).
  std::vector<batadal::RowVerdict> verdict;
  if (safety < 0) {
    std::vector<std::uint8_t> labels;
    if (!labels_of(tune, labels)) {
      std::fprintf(stderr, "physguard-batadal: --labelled: %s has no ATT_FLAG column\n",
                   labelled.c_str());
      return 1;
    }
    double best = -1.0;
    for (double s : safety_choices)
      for (int h : hold_choices) {
        det.retune(s, h, disabled);
        if (!det.run(tune, verdict, error)) {
          std::fprintf(stderr, "physguard-batadal: --labelled: %s\n", error.c_str());
          return 1;
        }
        const ev::BatadalScore sc = ev::batadal_score(labels, flags_of(verdict), tune.time);
        if (sc.score > best + 1e-12) {
          best = sc.score;
          safety = s;
          hold = h;
        }
      }
    std::printf("settings chosen on %s: safety %.2f, hold %d h (S = %.4f there)\n",
                labelled.c_str(), safety, hold, best);
  }
  det.retune(safety, hold, disabled);

  if (list_channels) {
    // Per channel: calibration, and on the labelled recording the hours it alarms outside attacks
    // and the attacks it finds (with the delay in hours).
    std::vector<std::uint8_t> labels;
    std::vector<std::vector<std::uint8_t>> alarms;
    const bool lab = labels_of(tune, labels) && det.channel_alarms(tune, alarms, error);
    const std::vector<ev::Event> events = lab ? ev::find_events(labels) : std::vector<ev::Event>{};
    std::printf("  %-26s %-12s %9s %9s   on %s: false-alarm hours, delay per attack (h, - = missed)\n",
                "channel", "part", "clean max", "level", labelled.c_str());
    for (std::size_t ch = 0; ch < det.channels().size(); ++ch) {
      const batadal::ChannelInfo& c = det.channels()[ch];
      std::printf("  %-26s %-12s %9.3f %9.3f", c.name.c_str(), batadal::part_name(c.part),
                  c.clean_max, c.level);
      if (lab) {
        std::size_t fa = 0;
        for (std::size_t i = 0; i < labels.size(); ++i) fa += (!labels[i] && alarms[ch][i]) ? 1 : 0;
        std::printf("  %5zu  ", fa);
        for (const ev::Event& e : events) {
          std::size_t d = e.begin;
          while (d < e.end && !alarms[ch][d]) ++d;
          if (d < e.end) std::printf(" %3zu", d - e.begin); else std::printf("   -");
        }
      }
      std::printf("\n");
    }
  }

  if (!det.run(in, verdict, error)) {
    std::fprintf(stderr, "physguard-batadal: --input: %s\n", error.c_str());
    return 1;
  }

  std::ofstream out(output);
  if (!out) {
    std::fprintf(stderr, "physguard-batadal: --output: cannot write %s\n", output.c_str());
    return 1;
  }
  out << "DATETIME,ATT_FLAG,COMPONENTS\n";
  for (std::size_t i = 0; i < in.rows(); ++i)
    out << ev::format_time(in.time[i], ev::TimeFormat::day_month_year_hour) << ','
        << (verdict[i].alarm ? 1 : 0) << ',' << components_of(verdict[i].components) << '\n';
  out.close();
  if (!out) {
    std::fprintf(stderr, "physguard-batadal: --output: error writing %s\n", output.c_str());
    return 1;
  }

  std::size_t flagged = 0;
  for (const auto& v : verdict) flagged += v.alarm ? 1 : 0;
  std::printf("%zu rows, %zu flagged; wrote %s\n", in.rows(), flagged, output.c_str());

  std::vector<std::uint8_t> labels;
  const bool has_labels = labels_of(in, labels);
  if (has_labels) {
    const ev::BatadalScore sc = ev::batadal_score(labels, flags_of(verdict), in.time);
    std::printf("S_TTD %.4f\nS_CM %.4f\nS %.4f\n", sc.s_ttd, sc.s_cm, sc.score);
    std::printf("(TPR %.4f, TNR %.4f, %zu of %zu attacks detected)\n", sc.tpr, sc.tnr,
                sc.detected_events, sc.events);
  }

  if (!svg.empty()) {
    std::vector<batadal::Lane> lanes;
    if (has_labels) lanes.push_back({"ATT_FLAG (label)", labels, "#d62728"});
    lanes.push_back({"detector", flags_of(verdict), "#1f77b4"});
    for (int p = 0; p < batadal::part_count; ++p) {
      if (disabled & (1u << static_cast<unsigned>(p))) continue;
      batadal::Lane l{std::string("part ") + batadal::part_name(p),
                      std::vector<std::uint8_t>(in.rows()), "#2ca02c"};
      for (std::size_t i = 0; i < in.rows(); ++i)
        l.on[i] = (verdict[i].raw_parts >> static_cast<unsigned>(p)) & 1u;
      lanes.push_back(std::move(l));
    }
    for (int c = 0; c < batadal::component_count; ++c) {
      batadal::Lane l{std::string("suspect ") + batadal::component_name(c),
                      std::vector<std::uint8_t>(in.rows()), "#9467bd"};
      bool any = false;
      for (std::size_t i = 0; i < in.rows(); ++i) {
        l.on[i] = (verdict[i].components >> static_cast<unsigned>(c)) & 1u;
        any |= l.on[i] != 0;
      }
      if (any) lanes.push_back(std::move(l));
    }
    const std::string title = "physguard-batadal on " + input + (has_labels ? " (red: attack labels)" : "");
    if (!batadal::write_lanes_svg(svg, title, lanes, in.rows(), 24 * 14, [&](std::size_t r) {
          return ev::format_time(in.time[r], ev::TimeFormat::day_month_year_hour).substr(0, 8);
        })) {
      std::fprintf(stderr, "physguard-batadal: --svg: cannot write %s\n", svg.c_str());
      return 1;
    }
    std::printf("wrote %s\n", svg.c_str());
  }
  return 0;
}
