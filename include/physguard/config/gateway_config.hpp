// physguard/config/gateway_config.hpp - HOST-ONLY: parses and validates a gateway configuration
// (JSON, nlohmann-json >= 3.9) into a GatewayConfig (config/gateway_types.hpp).
//
//   ParseResult r = physguard::config::parse_gateway_config(text);
//   if (!r.ok()) { for (const auto& e : r.errors) std::cerr << e.path << ": " << e.message << "\n"; }
//
// Every problem is reported with the key path it concerns (`channels[3].scaling.max`) before
// anything runs; all problems are collected, not just the first.  Unknown keys are errors (a typo
// in a threshold's name must not silently leave the default in place).  Works without exceptions:
// the text is parsed with json::parse(text, nullptr, false) and every value's type is checked
// before it is read.  docs/gateway.md is the reference, docs/gateway-config.schema.json the schema.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "../detect/cusum.hpp"
#include "gateway_types.hpp"

namespace physguard {
namespace config {

/// One configuration problem: the key path (JSON-pointer-like, "channels[2].source.address")
/// and what is wrong with it.
struct ConfigError {
  std::string path;
  std::string message;
};

struct ParseResult {
  GatewayConfig config;
  std::vector<ConfigError> errors;
  bool ok() const noexcept { return errors.empty(); }
  /// All errors, one "path: message" per line.
  std::string message() const {
    std::string s;
    for (const ConfigError& e : errors) s += e.path + ": " + e.message + "\n";
    return s;
  }
};

namespace detail {

using json = nlohmann::json;

class Reader {
 public:
  explicit Reader(std::vector<ConfigError>& errors) : errors_(errors) {}

  void error(const std::string& path, const std::string& message) {
    errors_.push_back(ConfigError{path.empty() ? std::string("(root)") : path, message});
  }

  static std::string join(const std::string& path, const char* key) {
    return path.empty() ? std::string(key) : path + "." + key;
  }
  static std::string index(const std::string& path, std::size_t i) {
    return path + "[" + std::to_string(i) + "]";
  }

  /// Object check plus unknown-key check.  Returns false when `j` is not an object.
  bool object(const json& j, const std::string& path, std::initializer_list<const char*> allowed) {
    if (!j.is_object()) {
      error(path, std::string("must be an object, not ") + j.type_name());
      return false;
    }
    for (auto it = j.begin(); it != j.end(); ++it) {
      bool known = false;
      for (const char* a : allowed) known = known || it.key() == a;
      if (!known) error(join(path, it.key().c_str()), "unknown key");
    }
    return true;
  }

  static const json* find(const json& obj, const char* key) {
    const auto it = obj.find(key);
    return it == obj.end() ? nullptr : &*it;
  }

  /// A finite number; `required`: missing is an error.  Range checks by the caller via check().
  bool number(const json& obj, const std::string& path, const char* key, double& out,
              bool required = false) {
    const json* v = find(obj, key);
    if (!v) {
      if (required) error(join(path, key), "is required");
      return false;
    }
    if (!v->is_number()) {
      error(join(path, key), std::string("must be a number, not ") + v->type_name());
      return false;
    }
    const double d = v->get<double>();
    if (!std::isfinite(d)) {
      error(join(path, key), "must be finite");
      return false;
    }
    out = d;
    return true;
  }

  bool integer(const json& obj, const std::string& path, const char* key, std::int64_t& out,
               std::int64_t lo, std::int64_t hi, bool required = false) {
    const json* v = find(obj, key);
    if (!v) {
      if (required) error(join(path, key), "is required");
      return false;
    }
    if (!v->is_number_integer()) {
      error(join(path, key), std::string("must be an integer, not ") + v->type_name());
      return false;
    }
    const std::int64_t x = v->is_number_unsigned()
                               ? static_cast<std::int64_t>(std::min<std::uint64_t>(
                                     v->get<std::uint64_t>(), static_cast<std::uint64_t>(INT64_MAX)))
                               : v->get<std::int64_t>();
    if (x < lo || x > hi) {
      error(join(path, key), "must be in [" + std::to_string(lo) + ", " + std::to_string(hi) +
                                 "], is " + std::to_string(x));
      return false;
    }
    out = x;
    return true;
  }

  template <typename Int>
  bool integer_as(const json& obj, const std::string& path, const char* key, Int& out,
                  std::int64_t lo, std::int64_t hi, bool required = false) {
    std::int64_t x = 0;
    if (!integer(obj, path, key, x, lo, hi, required)) return false;
    out = static_cast<Int>(x);
    return true;
  }

  bool boolean(const json& obj, const std::string& path, const char* key, bool& out) {
    const json* v = find(obj, key);
    if (!v) return false;
    if (!v->is_boolean()) {
      error(join(path, key), std::string("must be true or false, not ") + v->type_name());
      return false;
    }
    out = v->get<bool>();
    return true;
  }

  bool string(const json& obj, const std::string& path, const char* key, std::string& out,
              bool required = false) {
    const json* v = find(obj, key);
    if (!v) {
      if (required) error(join(path, key), "is required");
      return false;
    }
    if (!v->is_string()) {
      error(join(path, key), std::string("must be a string, not ") + v->type_name());
      return false;
    }
    out = v->get<std::string>();
    return true;
  }

  /// A string that must be one of `choices`; returns its index or -1.
  int choice(const json& obj, const std::string& path, const char* key,
             std::initializer_list<const char*> choices, bool required = false) {
    std::string s;
    if (!string(obj, path, key, s, required)) return -1;
    int i = 0;
    std::string list;
    for (const char* c : choices) {
      if (s == c) return i;
      list += (i ? ", " : "") + std::string(c);
      ++i;
    }
    error(join(path, key), "must be one of " + list + "; is \"" + s + "\"");
    return -1;
  }

  /// Reports `message` at path.key unless `ok`.
  void check(bool ok, const std::string& path, const char* key, const std::string& message) {
    if (!ok) error(join(path, key), message);
  }

 private:
  std::vector<ConfigError>& errors_;
};

inline void read_alarm(Reader& r, const json& j, const std::string& path, AlarmConfig<double>& a,
                       PipelineOptions& po) {
  if (!r.object(j, path,
                {"warning_fraction", "warning_threshold", "clear_fraction", "k", "n", "on_delay_s",
                 "latch", "hold_off_s", "reset_statistic_on_acknowledge"}))
    return;
  if (r.number(j, path, "warning_fraction", a.warning_fraction))
    r.check(a.warning_fraction >= 0.0 && a.warning_fraction < 1.0, path, "warning_fraction",
            "must be in [0, 1)");
  if (r.number(j, path, "warning_threshold", a.warning_threshold))
    r.check(a.warning_threshold >= 0.0, path, "warning_threshold", "must be >= 0");
  if (r.number(j, path, "clear_fraction", a.clear_fraction))
    r.check(a.clear_fraction > 0.0 && a.clear_fraction <= 1.0, path, "clear_fraction",
            "must be in (0, 1]");
  r.integer_as(j, path, "n", a.n, 1, 64);
  r.integer_as(j, path, "k", a.k, 1, 64);
  r.check(a.k <= a.n, path, "k", "must be <= n (k-of-n)");
  double s = 0.0;
  if (r.number(j, path, "on_delay_s", s)) {
    r.check(s >= 0.0, path, "on_delay_s", "must be >= 0");
    a.on_delay = Duration::from_seconds(s);
  }
  if (r.number(j, path, "hold_off_s", s)) {
    r.check(s >= 0.0, path, "hold_off_s", "must be >= 0");
    a.hold_off = Duration::from_seconds(s);
  }
  r.boolean(j, path, "latch", a.latch);
  r.boolean(j, path, "reset_statistic_on_acknowledge", po.reset_statistic_on_acknowledge);
}

inline void read_source(Reader& r, const json& j, const std::string& path, ChannelSource& s,
                        bool time_register = false) {
  if (time_register) {
    if (!r.object(j, path, {"table", "address", "format", "word_order", "scale_s", "epoch_us"}))
      return;
  } else if (!r.object(j, path, {"table", "address", "format", "word_order"})) {
    return;
  }
  const int t = r.choice(j, path, "table",
                         {"holding_register", "input_register", "coil", "discrete_input"}, true);
  if (t >= 0) s.table = static_cast<Table>(t);
  r.integer_as(j, path, "address", s.address, 0, 65535, true);
  const bool bits = is_bit_table(s.table);
  s.format = bits ? Format::bit : Format::uint16;
  const int f = r.choice(j, path, "format", {"bit", "uint16", "int16", "uint32", "int32", "float32"});
  if (f >= 0) {
    s.format = static_cast<Format>(f);
    if (bits && s.format != Format::bit)
      r.error(Reader::join(path, "format"), "coils and discrete inputs have format \"bit\"");
    if (!bits && s.format == Format::bit)
      r.error(Reader::join(path, "format"), "registers cannot have format \"bit\"");
  }
  if (time_register && s.format != Format::uint32 && s.format != Format::uint16)
    r.error(Reader::join(path, "format"), "the PLC clock must be uint16 or uint32");
  const int wo = r.choice(j, path, "word_order", {"high_first", "low_first"});
  if (wo >= 0) s.high_word_first = wo == 0;
  if (!bits && static_cast<int>(s.address) + register_count(s.format) > 65536)
    r.error(Reader::join(path, "address"), "value extends past register 65535");
}

inline void read_channel(Reader& r, const json& j, const std::string& path, ChannelConfig& c) {
  if (!r.object(j, path, {"name", "units", "source", "scaling", "valid_raw"})) return;
  if (r.string(j, path, "name", c.name, true))
    r.check(!c.name.empty() && c.name.find_first_of("/#+") == std::string::npos, path, "name",
            "must be non-empty and free of MQTT topic characters '/', '#', '+'");
  r.string(j, path, "units", c.units);
  if (const json* s = Reader::find(j, "source")) {
    read_source(r, *s, Reader::join(path, "source"), c.source);
  } else {
    r.error(Reader::join(path, "source"), "is required");
  }
  Scaling& sc = c.scaling;
  if (const json* s = Reader::find(j, "scaling")) {
    const std::string sp = Reader::join(path, "scaling");
    if (r.object(*s, sp, {"raw_min", "raw_max", "min", "max"})) {
      r.number(*s, sp, "raw_min", sc.raw_min, true);
      r.number(*s, sp, "raw_max", sc.raw_max, true);
      r.number(*s, sp, "min", sc.min, true);
      r.number(*s, sp, "max", sc.max, true);
      r.check(sc.raw_max != sc.raw_min, sp, "raw_max", "must differ from raw_min");
      r.check(sc.max != sc.min, sp, "max", "must differ from min");
    }
  }
  if (const json* v = Reader::find(j, "valid_raw")) {
    const std::string vp = Reader::join(path, "valid_raw");
    if (r.object(*v, vp, {"min", "max"})) {
      sc.has_valid_raw = true;
      r.number(*v, vp, "min", sc.valid_raw_min, true);
      r.number(*v, vp, "max", sc.valid_raw_max, true);
      r.check(sc.valid_raw_min <= sc.valid_raw_max, vp, "max", "must be >= valid_raw.min");
    }
  }
}

/// Looks a channel up by name; reports path.key when unknown.
inline bool channel_ref(Reader& r, const json& j, const std::string& path, const char* key,
                        const std::vector<ChannelConfig>& channels, std::uint16_t& out,
                        bool must_be_bit = false) {
  std::string name;
  if (!r.string(j, path, key, name, true)) return false;
  for (std::size_t i = 0; i < channels.size(); ++i) {
    if (channels[i].name == name) {
      out = static_cast<std::uint16_t>(i);
      const bool bit = is_bit_table(channels[i].source.table);
      if (must_be_bit && !bit)
        r.error(Reader::join(path, key), "channel \"" + name + "\" must be a coil or discrete input");
      return true;
    }
  }
  r.error(Reader::join(path, key), "no channel named \"" + name + "\"");
  return false;
}

/// h given directly, or from target_arl (mean number of samples between false alarms); not both.
inline void cusum_threshold(Reader& r, const json& j, const std::string& path, double k,
                            double& h) {
  const bool has_h = Reader::find(j, "h") != nullptr;
  const bool has_arl = Reader::find(j, "target_arl") != nullptr;
  if (has_h && has_arl) {
    r.error(Reader::join(path, "target_arl"), "give either h or target_arl, not both");
    return;
  }
  if (!has_h && !has_arl) {
    r.error(Reader::join(path, "h"), "is required (or target_arl)");
    return;
  }
  if (has_h) {
    if (r.number(j, path, "h", h)) r.check(h > 0.0, path, "h", "must be > 0");
    return;
  }
  double arl = 0.0;
  if (r.number(j, path, "target_arl", arl)) {
    if (!(arl > 1.0)) {
      r.error(Reader::join(path, "target_arl"), "must be > 1");
      return;
    }
    h = CusumDetector<double>::threshold_for_arl(k, arl);
    r.check(std::isfinite(h) && h > 0.0, path, "target_arl", "no threshold reaches this ARL");
  }
}

inline int window_choice(Reader& r, const json& j, const std::string& path) {
  std::int64_t w = 16;
  if (r.integer(j, path, "window", w, 1, 1 << 20) && w != 16 && w != 64) {
    r.error(Reader::join(path, "window"), "must be 16 or 64 (the compiled-in window sizes)");
    return 16;
  }
  return static_cast<int>(w);
}

inline void read_detector(Reader& r, const json& j, const std::string& path, DetectorConfig& d,
                          const std::vector<ChannelConfig>& channels) {
  static const char* const types[] = {"range",          "rate",
                                      "stuck_at",       "cusum",
                                      "page_hinkley",   "kalman_cusum",
                                      "noise_change",   "discrete_command_response",
                                      "setpoint_envelope", "hysteresis_rule"};
  if (!j.is_object()) {
    r.error(path, std::string("must be an object, not ") + j.type_name());
    return;
  }
  std::string type;
  if (!r.string(j, path, "type", type, true)) return;
  int t = -1;
  for (int i = 0; i < 10; ++i)
    if (type == types[i]) t = i;
  if (t < 0) {
    std::string list;
    for (int i = 0; i < 10; ++i) list += (i ? ", " : "") + std::string(types[i]);
    r.error(Reader::join(path, "type"), "unknown detector type \"" + type + "\"; known: " + list);
    return;
  }
  const bool pair = t == 7 || t == 9;
  std::vector<const char*> keys = {"name", "type", "alarm"};
  if (!pair) keys.push_back("channel");
  switch (t) {
    case 0: keys.insert(keys.end(), {"min", "max", "margin_fraction"}); break;
    case 1: keys.insert(keys.end(), {"max_rate_per_s", "max_gap_s"}); break;
    case 2: keys.insert(keys.end(), {"window", "min_variance", "max_identical_samples"}); break;
    case 3: keys.insert(keys.end(), {"mean", "sigma", "k", "h", "target_arl"}); break;
    case 4: keys.insert(keys.end(), {"delta", "lambda", "alpha", "warmup_samples"}); break;
    case 5:
      keys.insert(keys.end(), {"a", "process_variance", "measurement_variance", "initial_value",
                               "initial_variance", "max_gap_s", "gate_probability", "k", "h",
                               "target_arl"});
      break;
    case 6:
      keys.insert(keys.end(), {"window", "baseline_variance", "learning_samples",
                               "false_alarm_probability", "statistic", "adaptation_weight"});
      break;
    case 7: keys.insert(keys.end(), {"command", "feedback", "min_response_s", "max_response_s"}); break;
    case 8:
      keys.insert(keys.end(), {"min", "max", "max_rate_per_s", "max_step", "max_ratio", "baseline",
                               "baseline_time_constant_s"});
      break;
    case 9:
      keys.insert(keys.end(), {"level", "actuator", "low", "high", "sense", "switch_tolerance_s",
                               "level_margin"});
      break;
    default: break;
  }
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : keys) known = known || it.key() == k;
    if (!known)
      r.error(Reader::join(path, it.key().c_str()), "unknown key for a " + type + " detector");
  }
  if (r.string(j, path, "name", d.name))
    r.check(!d.name.empty() && d.name.find_first_of("/#+") == std::string::npos, path, "name",
            "must be non-empty and free of '/', '#', '+'");
  if (!pair) channel_ref(r, j, path, "channel", channels, d.channel);
  if (d.name.empty()) d.name = type + "#" + path;
  if (const json* a = Reader::find(j, "alarm")) read_alarm(r, *a, Reader::join(path, "alarm"), d.alarm, d.options);

  switch (t) {
    case 0: {
      RangeParams p;
      r.number(j, path, "min", p.min, true);
      r.number(j, path, "max", p.max, true);
      r.check(p.min < p.max, path, "max", "must be > min");
      if (r.number(j, path, "margin_fraction", p.margin_fraction))
        r.check(p.margin_fraction >= 0.0, path, "margin_fraction", "must be >= 0");
      d.params = p;
      break;
    }
    case 1: {
      RateParams p;
      if (r.number(j, path, "max_rate_per_s", p.max_rate_per_s, true))
        r.check(p.max_rate_per_s > 0.0, path, "max_rate_per_s", "must be > 0");
      if (r.number(j, path, "max_gap_s", p.max_gap_s))
        r.check(p.max_gap_s >= 0.0, path, "max_gap_s", "must be >= 0");
      d.params = p;
      break;
    }
    case 2: {
      StuckAtParams p;
      p.window = window_choice(r, j, path);
      p.max_identical_samples = p.window;
      if (r.number(j, path, "min_variance", p.min_variance))
        r.check(p.min_variance >= 0.0, path, "min_variance", "must be >= 0");
      std::int64_t m = 0;
      if (r.integer(j, path, "max_identical_samples", m, 0, 1 << 30)) {
        r.check(m == 0 || m >= 2, path, "max_identical_samples", "must be 0 (off) or >= 2");
        p.max_identical_samples = static_cast<int>(m);
      }
      r.check(p.min_variance > 0.0 || p.max_identical_samples > 0, path, "min_variance",
              "both tests are switched off (min_variance 0 and max_identical_samples 0)");
      d.params = p;
      break;
    }
    case 3: {
      CusumParams p;
      r.number(j, path, "mean", p.mean, true);
      if (r.number(j, path, "sigma", p.sigma, true))
        r.check(p.sigma > 0.0, path, "sigma", "must be > 0");
      if (r.number(j, path, "k", p.k)) r.check(p.k >= 0.0, path, "k", "must be >= 0");
      cusum_threshold(r, j, path, p.k, p.h);
      d.params = p;
      break;
    }
    case 4: {
      PageHinkleyParams p;
      if (r.number(j, path, "delta", p.delta, true))
        r.check(p.delta >= 0.0, path, "delta", "must be >= 0");
      if (r.number(j, path, "lambda", p.lambda, true))
        r.check(p.lambda > 0.0, path, "lambda", "must be > 0");
      if (r.number(j, path, "alpha", p.alpha))
        r.check(p.alpha >= 0.0 && p.alpha < 1.0, path, "alpha", "must be in [0, 1)");
      r.integer_as(j, path, "warmup_samples", p.warmup_samples, 1, 0xFFFFFFFFll);
      d.params = p;
      break;
    }
    case 5: {
      KalmanCusumParams p;
      r.number(j, path, "a", p.a);
      if (r.number(j, path, "process_variance", p.q, true))
        r.check(p.q >= 0.0, path, "process_variance", "must be >= 0");
      if (r.number(j, path, "measurement_variance", p.r, true))
        r.check(p.r > 0.0, path, "measurement_variance", "must be > 0");
      r.number(j, path, "initial_value", p.x0, true);
      if (r.number(j, path, "initial_variance", p.p0))
        r.check(p.p0 > 0.0, path, "initial_variance", "must be > 0");
      if (r.number(j, path, "max_gap_s", p.max_gap_s))
        r.check(p.max_gap_s >= 0.0, path, "max_gap_s", "must be >= 0");
      if (r.number(j, path, "gate_probability", p.gate_probability))
        r.check(p.gate_probability > 0.0 && p.gate_probability < 1.0, path, "gate_probability",
                "must be in (0, 1)");
      if (r.number(j, path, "k", p.k)) r.check(p.k >= 0.0, path, "k", "must be >= 0");
      cusum_threshold(r, j, path, p.k, p.h);
      d.params = p;
      break;
    }
    case 6: {
      NoiseChangeParams p;
      p.window = window_choice(r, j, path);
      const bool has_base = r.number(j, path, "baseline_variance", p.baseline_variance);
      std::int64_t learn = 0;
      const bool has_learn = r.integer(j, path, "learning_samples", learn, 1, 1 << 30);
      if (has_base == has_learn) {
        r.error(Reader::join(path, "baseline_variance"),
                "give exactly one of baseline_variance (known noise) or learning_samples");
      } else if (has_base) {
        r.check(p.baseline_variance > 0.0, path, "baseline_variance", "must be > 0");
      } else {
        p.learning_samples = static_cast<int>(learn);
        r.check(learn >= p.window, path, "learning_samples", "must be >= window");
      }
      if (r.number(j, path, "false_alarm_probability", p.false_alarm_probability, true))
        r.check(p.false_alarm_probability > 0.0 && p.false_alarm_probability < 1.0, path,
                "false_alarm_probability", "must be in (0, 1)");
      const int st = r.choice(j, path, "statistic", {"window_variance", "paired_differences"});
      if (st >= 0) p.statistic = static_cast<NoiseStatistic>(st);
      if (r.number(j, path, "adaptation_weight", p.adaptation_weight))
        r.check(p.adaptation_weight >= 0.0 && p.adaptation_weight < 1.0, path,
                "adaptation_weight", "must be in [0, 1)");
      d.params = p;
      break;
    }
    case 7: {
      DiscreteCommandResponseParams p;
      channel_ref(r, j, path, "command", channels, p.command_channel, true);
      channel_ref(r, j, path, "feedback", channels, p.feedback_channel, true);
      if (r.number(j, path, "min_response_s", p.min_response_s))
        r.check(p.min_response_s >= 0.0, path, "min_response_s", "must be >= 0");
      r.number(j, path, "max_response_s", p.max_response_s, true);
      r.check(p.max_response_s > p.min_response_s, path, "max_response_s", "must be > min_response_s");
      d.params = p;
      break;
    }
    case 8: {
      SetpointEnvelopeConfig c;
      SetpointEnvelopeParams<double>& p = c.params;
      r.number(j, path, "min", p.min_setpoint, true);
      r.number(j, path, "max", p.max_setpoint, true);
      r.check(p.min_setpoint < p.max_setpoint, path, "max", "must be > min");
      if (r.number(j, path, "max_rate_per_s", p.max_rate_per_s))
        r.check(p.max_rate_per_s >= 0.0, path, "max_rate_per_s", "must be >= 0");
      if (r.number(j, path, "max_step", p.max_step))
        r.check(p.max_step >= 0.0, path, "max_step", "must be >= 0");
      if (r.number(j, path, "max_ratio", p.max_ratio))
        r.check(p.max_ratio == 0.0 || p.max_ratio > 1.0, path, "max_ratio", "must be 0 (off) or > 1");
      if (r.number(j, path, "baseline", p.baseline))
        r.check(p.baseline >= 0.0, path, "baseline", "must be >= 0");
      if (r.number(j, path, "baseline_time_constant_s", p.baseline_time_constant_s))
        r.check(p.baseline_time_constant_s >= 0.0, path, "baseline_time_constant_s", "must be >= 0");
      d.params = c;
      break;
    }
    case 9: {
      HysteresisRuleParams p;
      channel_ref(r, j, path, "level", channels, p.level_channel);
      channel_ref(r, j, path, "actuator", channels, p.actuator_channel, true);
      r.number(j, path, "low", p.low, true);
      r.number(j, path, "high", p.high, true);
      r.check(p.low < p.high, path, "high", "must be > low");
      if (r.number(j, path, "level_margin", p.level_margin))
        r.check(p.level_margin >= 0.0 && 2.0 * p.level_margin < p.high - p.low, path,
                "level_margin", "must be >= 0 and less than half of high - low");
      if (r.number(j, path, "switch_tolerance_s", p.switch_tolerance_s, true))
        r.check(p.switch_tolerance_s > 0.0, path, "switch_tolerance_s", "must be > 0");
      const int s = r.choice(j, path, "sense", {"on_below_low", "on_above_high"});
      if (s >= 0) p.sense = static_cast<HysteresisSense>(s);
      d.params = p;
      break;
    }
    default: break;
  }
}

}  // namespace detail

/// Parses and validates a configuration.  Never throws (works with -fno-exceptions); on any
/// problem `errors` is non-empty and `config` must not be used.
inline ParseResult parse_gateway_config(const std::string& text) {
  using detail::json;
  using detail::Reader;
  ParseResult res;
  Reader r(res.errors);
  const json j = json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) {
    r.error("", "not valid JSON");
    return res;
  }
  if (!r.object(j, "", {"site", "modbus", "alarm_defaults", "channels", "detectors", "sinks"}))
    return res;
  GatewayConfig& c = res.config;
  if (r.string(j, "", "site", c.site))
    r.check(!c.site.empty() && c.site.find_first_of("/#+") == std::string::npos, "", "site",
            "must be non-empty and free of '/', '#', '+'");

  // modbus
  if (const json* m = Reader::find(j, "modbus")) {
    const std::string p = "modbus";
    ModbusConfig& mb = c.modbus;
    if (r.object(*m, p, {"host", "port", "unit_id", "poll_period_s", "response_timeout_s",
                         "reconnect_min_s", "reconnect_max_s", "time_register"})) {
      r.string(*m, p, "host", mb.host);
      r.integer_as(*m, p, "port", mb.port, 1, 65535);
      r.integer_as(*m, p, "unit_id", mb.unit_id, 0, 255);
      if (r.number(*m, p, "poll_period_s", mb.poll_period_s))
        r.check(mb.poll_period_s >= 0.001 && mb.poll_period_s <= 3600.0, p, "poll_period_s",
                "must be in [0.001, 3600]");
      if (r.number(*m, p, "response_timeout_s", mb.response_timeout_s))
        r.check(mb.response_timeout_s > 0.0 && mb.response_timeout_s <= 60.0, p,
                "response_timeout_s", "must be in (0, 60]");
      if (r.number(*m, p, "reconnect_min_s", mb.reconnect_min_s))
        r.check(mb.reconnect_min_s > 0.0, p, "reconnect_min_s", "must be > 0");
      if (r.number(*m, p, "reconnect_max_s", mb.reconnect_max_s))
        r.check(mb.reconnect_max_s >= mb.reconnect_min_s, p, "reconnect_max_s",
                "must be >= reconnect_min_s");
      if (const json* tr = Reader::find(*m, "time_register")) {
        const std::string tp = Reader::join(p, "time_register");
        mb.has_time_register = true;
        read_source(r, *tr, tp, mb.time_source, true);
        if (tr->is_object()) {
          if (r.number(*tr, tp, "scale_s", mb.time_scale_s))
            r.check(mb.time_scale_s > 0.0, tp, "scale_s", "must be > 0");
          r.integer(*tr, tp, "epoch_us", mb.time_epoch_us, 0, INT64_MAX / 2);
          r.check(!is_bit_table(mb.time_source.table), tp, "table", "must be a register table");
        }
      }
    }
  } else {
    r.error("modbus", "is required");
  }

  AlarmConfig<double> alarm_defaults;
  PipelineOptions options_defaults;
  if (const json* a = Reader::find(j, "alarm_defaults"))
    detail::read_alarm(r, *a, "alarm_defaults", alarm_defaults, options_defaults);

  // channels
  const json* chs = Reader::find(j, "channels");
  if (!chs) {
    r.error("channels", "is required");
  } else if (!chs->is_array() || chs->empty()) {
    r.error("channels", "must be a non-empty array");
  } else if (chs->size() > 60000) {
    r.error("channels", "at most 60000 channels");
  } else {
    c.channels.resize(chs->size());
    for (std::size_t i = 0; i < chs->size(); ++i)
      detail::read_channel(r, (*chs)[i], Reader::index("channels", i), c.channels[i]);
    for (std::size_t i = 0; i < c.channels.size(); ++i)
      for (std::size_t k = 0; k < i; ++k)
        if (!c.channels[i].name.empty() && c.channels[i].name == c.channels[k].name)
          r.error(Reader::index("channels", i) + ".name",
                  "duplicate channel name \"" + c.channels[i].name + "\" (also channels[" +
                      std::to_string(k) + "])");
  }

  // detectors
  const json* dets = Reader::find(j, "detectors");
  if (!dets) {
    r.error("detectors", "is required");
  } else if (!dets->is_array()) {
    r.error("detectors", "must be an array");
  } else {
    c.detectors.resize(dets->size());
    for (std::size_t i = 0; i < dets->size(); ++i) {
      c.detectors[i].alarm = alarm_defaults;
      c.detectors[i].options = options_defaults;
      detail::read_detector(r, (*dets)[i], Reader::index("detectors", i), c.detectors[i], c.channels);
    }
    std::size_t pairs = 0;
    for (const DetectorConfig& d : c.detectors) pairs += is_pair_detector(d.params) ? 1 : 0;
    if (c.channels.size() + pairs >= gateway_channel_limit)
      r.error("detectors", "too many channels plus two-channel detectors (limit 65534)");
    if (c.detectors.size() > 65535) r.error("detectors", "at most 65535 detectors");
    for (std::size_t i = 0; i < c.detectors.size(); ++i)
      for (std::size_t k = 0; k < i; ++k)
        if (is_pair_detector(c.detectors[i].params) && c.detectors[i].name == c.detectors[k].name)
          r.error(Reader::index("detectors", i) + ".name",
                  "two-channel detectors need a unique name (it is their topic)");
  }

  // sinks
  if (const json* s = Reader::find(j, "sinks")) {
    if (r.object(*s, "sinks", {"stdout", "mqtt"})) {
      r.boolean(*s, "sinks", "stdout", c.sinks.stdout_json);
      if (const json* m = Reader::find(*s, "mqtt")) {
        const std::string p = "sinks.mqtt";
        MqttConfig& mq = c.sinks.mqtt;
        mq.enabled = true;
        if (r.object(*m, p, {"enabled", "host", "port", "client_id", "topic_prefix", "qos",
                             "keepalive_s", "queue_capacity"})) {
          r.boolean(*m, p, "enabled", mq.enabled);
          r.string(*m, p, "host", mq.host);
          r.integer_as(*m, p, "port", mq.port, 1, 65535);
          if (r.string(*m, p, "client_id", mq.client_id))
            r.check(!mq.client_id.empty() && mq.client_id.size() <= 23, p, "client_id",
                    "must have 1 to 23 characters");
          if (r.string(*m, p, "topic_prefix", mq.topic_prefix))
            r.check(mq.topic_prefix.find_first_of("#+") == std::string::npos, p, "topic_prefix",
                    "must not contain '#' or '+'");
          r.integer_as(*m, p, "qos", mq.qos, 0, 2);
          r.integer_as(*m, p, "keepalive_s", mq.keepalive_s, 5, 3600);
          r.integer_as(*m, p, "queue_capacity", mq.queue_capacity, 1, 10000000);
        }
      }
    }
  }
  return res;
}

}  // namespace config
}  // namespace physguard
