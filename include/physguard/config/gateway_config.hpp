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

#include "../core/finding.hpp"
#include "../core/time.hpp"
#include "../detect/arl.hpp"
#include "../detect/cusum.hpp"
#include "../detect/ewma.hpp"
#include "../detect/page_hinkley.hpp"
#include "../detect/threshold.hpp"
#include "../signal/first_order_lag.hpp"
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

/// What a channel reference must point at.
enum class ChannelNeed : std::uint8_t { any = 0, bit, analog };

/// Resolves the channel `name` for the key at `keypath`; reports unknown names and wrong kinds.
inline bool resolve_channel(Reader& r, const std::string& keypath, const std::string& name,
                            const std::vector<ChannelConfig>& channels, std::uint16_t& out,
                            ChannelNeed need = ChannelNeed::any) {
  for (std::size_t i = 0; i < channels.size(); ++i) {
    if (channels[i].name != name) continue;
    out = static_cast<std::uint16_t>(i);
    const bool bit = is_bit_table(channels[i].source.table);
    if (need == ChannelNeed::bit && !bit) {
      r.error(keypath, "channel \"" + name + "\" must be a coil or discrete input");
      return false;
    }
    if (need == ChannelNeed::analog && bit) {
      r.error(keypath, "channel \"" + name +
                           "\" is a coil or discrete input; this needs an analog (register) channel");
      return false;
    }
    return true;
  }
  r.error(keypath, "no channel named \"" + name + "\"");
  return false;
}

/// Looks the channel named by path.key up; reports path.key when missing, unknown or of the wrong
/// kind.
inline bool channel_ref(Reader& r, const json& j, const std::string& path, const char* key,
                        const std::vector<ChannelConfig>& channels, std::uint16_t& out,
                        ChannelNeed need = ChannelNeed::any) {
  std::string name;
  if (!r.string(j, path, key, name, true)) return false;
  return resolve_channel(r, Reader::join(path, key), name, channels, out, need);
}

/// A list of channel names at path.key (optional: absent is an empty list).
inline bool channel_list(Reader& r, const json& j, const std::string& path, const char* key,
                         const std::vector<ChannelConfig>& channels, std::vector<std::uint16_t>& out,
                         ChannelNeed need, std::size_t max_size) {
  const json* v = Reader::find(j, key);
  if (!v) return true;
  const std::string kp = Reader::join(path, key);
  if (!v->is_array()) {
    r.error(kp, std::string("must be an array of channel names, not ") + v->type_name());
    return false;
  }
  if (v->size() > max_size) {
    r.error(kp, "at most " + std::to_string(max_size) + " channels");
    return false;
  }
  bool ok = true;
  for (std::size_t i = 0; i < v->size(); ++i) {
    const json& e = (*v)[i];
    const std::string ep = Reader::index(kp, i);
    if (!e.is_string()) {
      r.error(ep, std::string("must be a channel name (string), not ") + e.type_name());
      ok = false;
      continue;
    }
    std::uint16_t ch = 0;
    if (resolve_channel(r, ep, e.get<std::string>(), channels, ch, need))
      out.push_back(ch);
    else
      ok = false;
  }
  return ok;
}

/// Reports path.key2 when two resolved channel references are the same channel.
inline void distinct_channels(Reader& r, const std::string& path, const char* key1, bool ok1,
                              std::uint16_t c1, const char* key2, bool ok2, std::uint16_t c2) {
  if (ok1 && ok2 && c1 == c2)
    r.error(Reader::join(path, key2), std::string("must name a different channel than ") + key1);
}

/// Longest duration a configuration may give (about 31 years): Duration stays far from overflow.
constexpr double max_config_seconds = 1e9;

/// A time in seconds at path.key.  `positive`: at least one microsecond (a shorter positive value
/// would round to zero); otherwise >= 0.  At most max_config_seconds.
inline bool seconds(Reader& r, const json& j, const std::string& path, const char* key, double& out,
                    bool positive, bool required = false) {
  double s = 0.0;
  if (!r.number(j, path, key, s, required)) return false;
  if (positive ? !(s >= 1e-6) : !(s >= 0.0)) {
    r.error(Reader::join(path, key), positive ? "must be > 0 (at least 1e-6 s)" : "must be >= 0");
    return false;
  }
  if (s > max_config_seconds) {
    r.error(Reader::join(path, key), "must be at most 1e9 s");
    return false;
  }
  out = s;
  return true;
}

/// A persistence count (consecutive exceedances before an alarm) at path.key, default 1.
inline void persistence(Reader& r, const json& j, const std::string& path, int& out) {
  r.integer_as(j, path, "persistence", out, 1, 100000);
}

/// `cause` for checkers whose alarm can mean an attack or a process fault.
inline void cause_choice(Reader& r, const json& j, const std::string& path, Cause& out) {
  const int c = r.choice(j, path, "cause", {"suspected_attack", "process_fault"});
  if (c == 0) out = Cause::suspected_attack;
  if (c == 1) out = Cause::process_fault;
}

/// A threshold given directly at path.key, or derived from path.target_arl (mean number of samples
/// between false alarms) by `from_arl` (NaN: no threshold reaches that ARL); exactly one of them.
/// `can_derive` false: the parameters from_arl needs are invalid (already reported), so the ARL is
/// not turned into a threshold.
template <typename FromArl>
void threshold_or_arl(Reader& r, const json& j, const std::string& path, const char* key,
                      double& out, bool can_derive, FromArl from_arl) {
  const bool has_h = Reader::find(j, key) != nullptr;
  const bool has_arl = Reader::find(j, "target_arl") != nullptr;
  if (has_h && has_arl) {
    r.error(Reader::join(path, "target_arl"),
            std::string("give either ") + key + " or target_arl, not both");
    return;
  }
  if (!has_h && !has_arl) {
    r.error(Reader::join(path, key), "is required (or target_arl)");
    return;
  }
  if (has_h) {
    double h = 0.0;
    if (r.number(j, path, key, h)) {
      if (h > 0.0)
        out = h;
      else
        r.error(Reader::join(path, key), "must be > 0");
    }
    return;
  }
  double arl = 0.0;
  if (!r.number(j, path, "target_arl", arl)) return;
  if (!(arl > 1.0)) {
    r.error(Reader::join(path, "target_arl"), "must be > 1");
    return;
  }
  if (!can_derive) return;
  const double h = from_arl(arl);
  if (std::isfinite(h) && h > 0.0)
    out = h;
  else
    r.error(Reader::join(path, "target_arl"), "no threshold reaches this ARL");
}

/// CUSUM: drift `k` (read by the caller) and h given directly, or from target_arl.
inline void cusum_threshold(Reader& r, const json& j, const std::string& path, double k,
                            double& h) {
  threshold_or_arl(r, j, path, "h", h, k >= 0.0,
                   [k](double arl) { return CusumDetector<double>::threshold_for_arl(k, arl); });
}

/// CUSUM drift `k` (optional, >= 0) and its threshold.
inline void cusum_params(Reader& r, const json& j, const std::string& path, double& k, double& h) {
  if (r.number(j, path, "k", k)) r.check(k >= 0.0, path, "k", "must be >= 0");
  cusum_threshold(r, j, path, k, h);
}

/// Threshold test: h given directly, or h = Phi^-1(1 - 1/(2 ARL)).
inline void shewhart_threshold(Reader& r, const json& j, const std::string& path, double& h) {
  threshold_or_arl(r, j, path, "h", h, true,
                   [](double arl) { return ThresholdDetector<double>::threshold_for_arl(arl); });
}

/// EWMA: lambda (required, (0, 1]), L or target_arl (Markov-chain ARL, asymptotic limits), limits.
inline void ewma_params(Reader& r, const json& j, const std::string& path, double& lambda,
                        double& L, EwmaLimits& limits) {
  bool lambda_ok = false;
  if (r.number(j, path, "lambda", lambda, true)) {
    lambda_ok = lambda > 0.0 && lambda <= 1.0;
    r.check(lambda_ok, path, "lambda", "must be in (0, 1]");
  }
  threshold_or_arl(r, j, path, "L", L, lambda_ok, [lambda](double arl) {
    return EwmaDetector<double>::threshold_for_arl(lambda, arl);
  });
  const int l = r.choice(j, path, "limits", {"exact", "asymptotic"});
  if (l >= 0) limits = static_cast<EwmaLimits>(l);
}

/// Normalisation z = (x - mean) / sigma of a raw channel.
inline void standardisation(Reader& r, const json& j, const std::string& path, double& mean,
                            double& sigma) {
  r.number(j, path, "mean", mean, true);
  if (r.number(j, path, "sigma", sigma, true)) r.check(sigma > 0.0, path, "sigma", "must be > 0");
}

inline int window_choice(Reader& r, const json& j, const std::string& path) {
  std::int64_t w = 16;
  if (r.integer(j, path, "window", w, 1, 1 << 20) && w != 16 && w != 64) {
    r.error(Reader::join(path, "window"), "must be 16 or 64 (the compiled-in window sizes)");
    return 16;
  }
  return static_cast<int>(w);
}

/// An integer at path.key that must be one of the compiled-in `choices`; `fallback` when absent.
template <std::size_t N>
int compiled_choice(Reader& r, const json& j, const std::string& path, const char* key,
                    const int (&choices)[N], int fallback, const char* what) {
  std::int64_t v = fallback;
  if (!r.integer(j, path, key, v, 1, 1 << 20)) return fallback;
  std::string list;
  for (std::size_t i = 0; i < N; ++i) {
    if (v == choices[i]) return choices[i];
    list += (i == 0 ? "" : (i + 1 == N ? " or " : ", ")) + std::to_string(choices[i]);
  }
  r.error(Reader::join(path, key), "must be " + list + " (the compiled-in " + what + ")");
  return fallback;
}

/// The scalar Kalman model of a kalman_* detector on `channel`: a random walk / AR(1) (`a`), or a
/// first-order lag driven by the `input` channel (`time_constant_s`, `gain`, `sample_period_s`,
/// default: the poll period), with its noise and start values.
inline void read_kalman_model(Reader& r, const json& j, const std::string& path,
                              const std::vector<ChannelConfig>& channels, bool channel_ok,
                              std::uint16_t channel, double poll_period_s, KalmanModelParams& p) {
  const bool has_a = Reader::find(j, "a") != nullptr;
  const bool has_tau = Reader::find(j, "time_constant_s") != nullptr;
  if (has_a && has_tau)
    r.error(Reader::join(path, "time_constant_s"),
            "give either a (a model without input) or time_constant_s (a first-order lag driven "
            "by input), not both");
  if (has_a && r.number(j, path, "a", p.a))
    r.check(p.a >= -1.0 && p.a <= 1.0, path, "a", "must be in [-1, 1] (1: random walk)");
  if (!has_tau) {
    for (const char* k : {"input", "gain", "sample_period_s"})
      if (Reader::find(j, k))
        r.error(Reader::join(path, k), "only with time_constant_s (a first-order lag model)");
  } else if (!has_a) {
    double tau = 1.0, gain = 1.0, ts = poll_period_s;
    bool ok = seconds(r, j, path, "time_constant_s", tau, true, true);
    if (Reader::find(j, "gain")) ok = r.number(j, path, "gain", gain) && ok;
    if (Reader::find(j, "sample_period_s")) ok = seconds(r, j, path, "sample_period_s", ts, true) && ok;
    if (!Reader::find(j, "input")) {
      r.error(Reader::join(path, "input"),
              "is required with time_constant_s (the channel that drives the lag)");
      ok = false;
    } else {
      const bool input_ok = channel_ref(r, j, path, "input", channels, p.input_channel);
      distinct_channels(r, path, "channel", channel_ok, channel, "input", input_ok,
                        p.input_channel);
      ok = ok && input_ok && !(channel_ok && p.input_channel == channel);
    }
    if (ok) {
      const auto m = FirstOrderLag<double>(gain, tau).model(ts);
      p.a = m.A(0, 0);
      p.b = m.B(0, 0);
      p.has_input = true;
    }
  }
  if (r.number(j, path, "process_variance", p.q, true))
    r.check(p.q >= 0.0, path, "process_variance", "must be >= 0");
  if (r.number(j, path, "measurement_variance", p.r, true))
    r.check(p.r > 0.0, path, "measurement_variance", "must be > 0");
  r.number(j, path, "initial_value", p.x0, true);
  if (r.number(j, path, "initial_variance", p.p0))
    r.check(p.p0 > 0.0, path, "initial_variance", "must be > 0");
  seconds(r, j, path, "max_gap_s", p.max_gap_s, false);
  if (r.number(j, path, "gate_probability", p.gate_probability))
    r.check(p.gate_probability > 0.0 && p.gate_probability < 1.0, path, "gate_probability",
            "must be in (0, 1)");
}

/// The detector types a configuration can name (docs/gateway.md, "detectors[]").
enum class DetectorType : std::uint8_t {
  range = 0,
  rate,
  stuck_at,
  cusum,
  page_hinkley,
  kalman_cusum,
  noise_change,
  discrete_command_response,
  setpoint_envelope,
  hysteresis_rule,
  threshold,
  ewma,
  staleness,
  kalman_threshold,
  kalman_ewma,
  kalman_chi_square,
  valve_command_response,
  redundancy,
  mass_balance,
  analog_tracking,
  response_model,
};
constexpr const char* detector_type_names[] = {
    "range",           "rate",
    "stuck_at",        "cusum",
    "page_hinkley",    "kalman_cusum",
    "noise_change",    "discrete_command_response",
    "setpoint_envelope", "hysteresis_rule",
    "threshold",       "ewma",
    "staleness",       "kalman_threshold",
    "kalman_ewma",     "kalman_chi_square",
    "valve_command_response", "redundancy",
    "mass_balance",    "analog_tracking",
    "response_model"};
constexpr int detector_type_count =
    static_cast<int>(sizeof(detector_type_names) / sizeof(detector_type_names[0]));

/// Types that take several channels (no `channel` key; a channel number of their own).
constexpr bool is_multi_channel(DetectorType t) noexcept {
  return t == DetectorType::discrete_command_response || t == DetectorType::hysteresis_rule ||
         t == DetectorType::valve_command_response || t == DetectorType::redundancy ||
         t == DetectorType::mass_balance || t == DetectorType::analog_tracking ||
         t == DetectorType::response_model;
}

/// The keys a detector of type `t` may have besides name, type, alarm and channel.
inline void detector_keys(DetectorType t, std::vector<const char*>& keys) {
  static const char* const kalman[] = {"a",
                                       "time_constant_s",
                                       "gain",
                                       "input",
                                       "sample_period_s",
                                       "process_variance",
                                       "measurement_variance",
                                       "initial_value",
                                       "initial_variance",
                                       "max_gap_s",
                                       "gate_probability"};
  auto add = [&keys](std::initializer_list<const char*> ks) { keys.insert(keys.end(), ks); };
  switch (t) {
    case DetectorType::range: add({"min", "max", "margin_fraction"}); break;
    case DetectorType::rate: add({"max_rate_per_s", "max_gap_s"}); break;
    case DetectorType::stuck_at: add({"window", "min_variance", "max_identical_samples"}); break;
    case DetectorType::cusum: add({"mean", "sigma", "k", "h", "target_arl"}); break;
    case DetectorType::page_hinkley:
      add({"delta", "lambda", "alpha", "warmup_samples", "target_arl", "sigma"});
      break;
    case DetectorType::noise_change:
      add({"window", "baseline_variance", "learning_samples", "false_alarm_probability",
           "statistic", "adaptation_weight"});
      break;
    case DetectorType::discrete_command_response:
      add({"command", "feedback", "min_response_s", "max_response_s"});
      break;
    case DetectorType::setpoint_envelope:
      add({"min", "max", "max_rate_per_s", "max_step", "max_ratio", "baseline",
           "baseline_time_constant_s"});
      break;
    case DetectorType::hysteresis_rule:
      add({"level", "actuator", "low", "high", "sense", "switch_tolerance_s", "level_margin"});
      break;
    case DetectorType::threshold: add({"mean", "sigma", "h", "target_arl"}); break;
    case DetectorType::ewma: add({"mean", "sigma", "lambda", "L", "target_arl", "limits"}); break;
    case DetectorType::staleness: add({"max_age_s"}); break;
    case DetectorType::kalman_cusum:
    case DetectorType::kalman_threshold:
    case DetectorType::kalman_ewma:
    case DetectorType::kalman_chi_square:
      keys.insert(keys.end(), std::begin(kalman), std::end(kalman));
      if (t == DetectorType::kalman_cusum) add({"k", "h", "target_arl"});
      if (t == DetectorType::kalman_threshold) add({"h", "target_arl"});
      if (t == DetectorType::kalman_ewma) add({"lambda", "L", "target_arl", "limits"});
      if (t == DetectorType::kalman_chi_square) add({"window", "h", "target_arl", "conservative"});
      break;
    case DetectorType::valve_command_response:
      add({"command", "open_switch", "closed_switch", "min_response_s", "max_response_s",
           "max_travel_s"});
      break;
    case DetectorType::redundancy:
      add({"a", "b", "tolerance", "sigma_a", "sigma_b", "k", "persistence"});
      break;
    case DetectorType::mass_balance:
      add({"level", "inflows", "outflows", "area_m2", "intervals", "tolerance",
           "inflow_sigma_m3_per_s", "outflow_sigma_m3_per_s", "level_sigma_m", "persistence",
           "max_gap_s", "cause"});
      break;
    case DetectorType::analog_tracking:
      add({"command", "feedback", "max_rate_per_s", "min_position", "max_position", "gain",
           "time_constant_s", "noise_sigma", "settled_band", "k", "h", "target_arl"});
      break;
    case DetectorType::response_model:
      add({"input", "process_variable", "gain", "time_constant_s", "dead_time_s",
           "sample_period_s", "noise_sigma", "bias_time_constant_s", "initial_bias",
           "assume_steady_start", "max_catch_up_samples", "cause", "k", "h", "target_arl"});
      break;
  }
}

inline void read_detector(Reader& r, const json& j, const std::string& path, DetectorConfig& d,
                          const std::vector<ChannelConfig>& channels, double poll_period_s) {
  if (!j.is_object()) {
    r.error(path, std::string("must be an object, not ") + j.type_name());
    return;
  }
  std::string type;
  if (!r.string(j, path, "type", type, true)) return;
  int ti = -1;
  for (int i = 0; i < detector_type_count; ++i)
    if (type == detector_type_names[i]) ti = i;
  if (ti < 0) {
    std::string list;
    for (int i = 0; i < detector_type_count; ++i)
      list += (i ? ", " : "") + std::string(detector_type_names[i]);
    r.error(Reader::join(path, "type"), "unknown detector type \"" + type + "\"; known: " + list);
    return;
  }
  const auto t = static_cast<DetectorType>(ti);
  const bool multi = is_multi_channel(t);
  std::vector<const char*> keys = {"name", "type", "alarm"};
  if (!multi) keys.push_back("channel");
  detector_keys(t, keys);
  for (auto it = j.begin(); it != j.end(); ++it) {
    bool known = false;
    for (const char* k : keys) known = known || it.key() == k;
    if (!known)
      r.error(Reader::join(path, it.key().c_str()), "unknown key for a " + type + " detector");
  }
  // Multi-channel detectors publish under their name: it is required.
  if (r.string(j, path, "name", d.name, multi))
    r.check(!d.name.empty() && d.name.find_first_of("/#+") == std::string::npos, path, "name",
            "must be non-empty and free of '/', '#', '+'");
  const bool channel_ok = !multi && channel_ref(r, j, path, "channel", channels, d.channel);
  if (d.name.empty()) d.name = type + "#" + path;
  if (const json* a = Reader::find(j, "alarm")) read_alarm(r, *a, Reader::join(path, "alarm"), d.alarm, d.options);

  switch (t) {
    case DetectorType::range: {
      RangeParams p;
      r.number(j, path, "min", p.min, true);
      r.number(j, path, "max", p.max, true);
      r.check(p.min < p.max, path, "max", "must be > min");
      if (r.number(j, path, "margin_fraction", p.margin_fraction))
        r.check(p.margin_fraction >= 0.0, path, "margin_fraction", "must be >= 0");
      d.params = p;
      break;
    }
    case DetectorType::rate: {
      RateParams p;
      if (r.number(j, path, "max_rate_per_s", p.max_rate_per_s, true))
        r.check(p.max_rate_per_s > 0.0, path, "max_rate_per_s", "must be > 0");
      seconds(r, j, path, "max_gap_s", p.max_gap_s, false);
      d.params = p;
      break;
    }
    case DetectorType::stuck_at: {
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
    case DetectorType::cusum: {
      CusumParams p;
      standardisation(r, j, path, p.mean, p.sigma);
      cusum_params(r, j, path, p.k, p.h);
      d.params = p;
      break;
    }
    case DetectorType::page_hinkley: {
      PageHinkleyParams p;
      bool delta_ok = false;
      if (r.number(j, path, "delta", p.delta, true)) {
        delta_ok = p.delta >= 0.0;
        r.check(delta_ok, path, "delta", "must be >= 0");
      }
      double sigma = 1.0;
      bool sigma_ok = false;
      if (Reader::find(j, "target_arl")) {
        if (r.number(j, path, "sigma", sigma, true)) {
          sigma_ok = sigma > 0.0;
          r.check(sigma_ok, path, "sigma", "must be > 0 (the signal's noise, for target_arl)");
        }
      } else if (Reader::find(j, "sigma")) {
        r.error(Reader::join(path, "sigma"), "only with target_arl");
      }
      const double delta = p.delta;
      threshold_or_arl(r, j, path, "lambda", p.lambda, delta_ok && sigma_ok,
                       [delta, sigma](double arl) {
                         return PageHinkleyDetector<double>::threshold_for_arl(delta, arl, sigma);
                       });
      if (r.number(j, path, "alpha", p.alpha))
        r.check(p.alpha >= 0.0 && p.alpha < 1.0, path, "alpha", "must be in [0, 1)");
      r.integer_as(j, path, "warmup_samples", p.warmup_samples, 1, 0xFFFFFFFFll);
      d.params = p;
      break;
    }
    case DetectorType::kalman_cusum: {
      KalmanCusumParams p;
      read_kalman_model(r, j, path, channels, channel_ok, d.channel, poll_period_s, p);
      cusum_params(r, j, path, p.k, p.h);
      d.params = p;
      break;
    }
    case DetectorType::noise_change: {
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
    case DetectorType::discrete_command_response: {
      DiscreteCommandResponseParams p;
      const bool c_ok = channel_ref(r, j, path, "command", channels, p.command_channel, ChannelNeed::bit);
      const bool f_ok = channel_ref(r, j, path, "feedback", channels, p.feedback_channel, ChannelNeed::bit);
      distinct_channels(r, path, "command", c_ok, p.command_channel, "feedback", f_ok, p.feedback_channel);
      seconds(r, j, path, "min_response_s", p.min_response_s, false);
      if (seconds(r, j, path, "max_response_s", p.max_response_s, true, true))
        r.check(Duration::from_seconds(p.max_response_s) > Duration::from_seconds(p.min_response_s),
                path, "max_response_s", "must be > min_response_s");
      d.params = p;
      break;
    }
    case DetectorType::setpoint_envelope: {
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
      seconds(r, j, path, "baseline_time_constant_s", p.baseline_time_constant_s, false);
      d.params = c;
      break;
    }
    case DetectorType::hysteresis_rule: {
      HysteresisRuleParams p;
      channel_ref(r, j, path, "level", channels, p.level_channel);
      channel_ref(r, j, path, "actuator", channels, p.actuator_channel, ChannelNeed::bit);
      r.number(j, path, "low", p.low, true);
      r.number(j, path, "high", p.high, true);
      r.check(p.low < p.high, path, "high", "must be > low");
      if (r.number(j, path, "level_margin", p.level_margin))
        r.check(p.level_margin >= 0.0 && 2.0 * p.level_margin < p.high - p.low, path,
                "level_margin", "must be >= 0 and less than half of high - low");
      seconds(r, j, path, "switch_tolerance_s", p.switch_tolerance_s, true, true);
      const int s = r.choice(j, path, "sense", {"on_below_low", "on_above_high"});
      if (s >= 0) p.sense = static_cast<HysteresisSense>(s);
      d.params = p;
      break;
    }
    case DetectorType::threshold: {
      ThresholdParams p;
      standardisation(r, j, path, p.mean, p.sigma);
      shewhart_threshold(r, j, path, p.h);
      d.params = p;
      break;
    }
    case DetectorType::ewma: {
      EwmaParams p;
      standardisation(r, j, path, p.mean, p.sigma);
      ewma_params(r, j, path, p.lambda, p.L, p.limits);
      d.params = p;
      break;
    }
    case DetectorType::staleness: {
      StalenessParams p;
      seconds(r, j, path, "max_age_s", p.max_age_s, true, true);
      d.params = p;
      break;
    }
    case DetectorType::kalman_threshold: {
      KalmanThresholdParams p;
      read_kalman_model(r, j, path, channels, channel_ok, d.channel, poll_period_s, p);
      shewhart_threshold(r, j, path, p.h);
      d.params = p;
      break;
    }
    case DetectorType::kalman_ewma: {
      KalmanEwmaParams p;
      read_kalman_model(r, j, path, channels, channel_ok, d.channel, poll_period_s, p);
      ewma_params(r, j, path, p.lambda, p.L, p.limits);
      d.params = p;
      break;
    }
    case DetectorType::kalman_chi_square: {
      KalmanChiSquareParams p;
      read_kalman_model(r, j, path, channels, channel_ok, d.channel, poll_period_s, p);
      p.window = compiled_choice(r, j, path, "window", kalman_chi_square_windows, 10, "window lengths");
      bool conservative = false;
      if (r.boolean(j, path, "conservative", conservative) && !Reader::find(j, "target_arl"))
        r.error(Reader::join(path, "conservative"), "only with target_arl");
      const int w = p.window;
      threshold_or_arl(r, j, path, "h", p.h, true, [w, conservative](double arl) {
        return conservative ? arl::windowed_chi_square_conservative_threshold_for_arl(w, 1, arl)
                            : arl::windowed_chi_square_threshold_for_arl(w, 1, arl);
      });
      d.params = p;
      break;
    }
    case DetectorType::valve_command_response: {
      ValveCommandResponseParams p;
      const bool c_ok = channel_ref(r, j, path, "command", channels, p.command_channel, ChannelNeed::bit);
      const bool o_ok = channel_ref(r, j, path, "open_switch", channels, p.open_channel, ChannelNeed::bit);
      const bool s_ok = channel_ref(r, j, path, "closed_switch", channels, p.closed_channel, ChannelNeed::bit);
      distinct_channels(r, path, "command", c_ok, p.command_channel, "open_switch", o_ok, p.open_channel);
      distinct_channels(r, path, "command", c_ok, p.command_channel, "closed_switch", s_ok, p.closed_channel);
      distinct_channels(r, path, "open_switch", o_ok, p.open_channel, "closed_switch", s_ok, p.closed_channel);
      seconds(r, j, path, "min_response_s", p.min_response_s, false);
      if (seconds(r, j, path, "max_response_s", p.max_response_s, true, true))
        r.check(Duration::from_seconds(p.max_response_s) > Duration::from_seconds(p.min_response_s),
                path, "max_response_s", "must be > min_response_s");
      seconds(r, j, path, "max_travel_s", p.max_travel_s, true, true);
      d.params = p;
      break;
    }
    case DetectorType::redundancy: {
      RedundancyParams p;
      const bool a_ok = channel_ref(r, j, path, "a", channels, p.a_channel, ChannelNeed::analog);
      const bool b_ok = channel_ref(r, j, path, "b", channels, p.b_channel, ChannelNeed::analog);
      distinct_channels(r, path, "a", a_ok, p.a_channel, "b", b_ok, p.b_channel);
      const bool has_tol = Reader::find(j, "tolerance") != nullptr;
      const bool has_norm = Reader::find(j, "sigma_a") || Reader::find(j, "sigma_b") ||
                            Reader::find(j, "k");
      if (has_tol && has_norm) {
        r.error(Reader::join(path, "tolerance"),
                "give either tolerance (absolute) or sigma_a, sigma_b and k (normalised), not both");
      } else if (has_tol) {
        if (r.number(j, path, "tolerance", p.tolerance))
          r.check(p.tolerance > 0.0, path, "tolerance", "must be > 0");
      } else if (has_norm) {
        p.normalised = true;
        const bool sa = r.number(j, path, "sigma_a", p.sigma_a, true);
        const bool sb = r.number(j, path, "sigma_b", p.sigma_b, true);
        if (sa) r.check(p.sigma_a >= 0.0, path, "sigma_a", "must be >= 0");
        if (sb) r.check(p.sigma_b >= 0.0, path, "sigma_b", "must be >= 0");
        if (sa && sb && p.sigma_a == 0.0 && p.sigma_b == 0.0)
          r.error(Reader::join(path, "sigma_b"), "sigma_a and sigma_b must not both be 0");
        if (r.number(j, path, "k", p.k, true)) r.check(p.k > 0.0, path, "k", "must be > 0");
      } else {
        r.error(Reader::join(path, "tolerance"),
                "is required (or sigma_a, sigma_b and k for a normalised difference)");
      }
      persistence(r, j, path, p.persistence);
      d.params = p;
      break;
    }
    case DetectorType::mass_balance: {
      MassBalanceParams p;
      const bool l_ok = channel_ref(r, j, path, "level", channels, p.level_channel, ChannelNeed::analog);
      const bool in_ok = channel_list(r, j, path, "inflows", channels, p.inflow_channels, ChannelNeed::analog, 16);
      const bool out_ok = channel_list(r, j, path, "outflows", channels, p.outflow_channels, ChannelNeed::analog, 16);
      if (in_ok && out_ok) {
        if (p.inflow_channels.empty() && p.outflow_channels.empty())
          r.error(Reader::join(path, "inflows"), "inflows and outflows name no channel at all");
        // Every flow channel at most once, and not the level.
        std::vector<std::pair<std::uint16_t, std::string>> seen;
        if (l_ok) seen.emplace_back(p.level_channel, "level");
        auto note = [&](const std::vector<std::uint16_t>& list, const char* key) {
          for (std::size_t i = 0; i < list.size(); ++i) {
            const std::string here = Reader::index(Reader::join(path, key), i);
            for (const auto& s : seen)
              if (s.first == list[i])
                r.error(here, "channel \"" + channels[list[i]].name + "\" is already used as " + s.second);
            seen.emplace_back(list[i], Reader::index(key, i));
          }
        };
        note(p.inflow_channels, "inflows");
        note(p.outflow_channels, "outflows");
      }
      if (r.number(j, path, "area_m2", p.area_m2, true))
        r.check(p.area_m2 > 0.0, path, "area_m2", "must be > 0");
      p.intervals = compiled_choice(r, j, path, "intervals", mass_balance_intervals, 1, "integration lengths");
      const bool has_sigma = Reader::find(j, "inflow_sigma_m3_per_s") ||
                             Reader::find(j, "outflow_sigma_m3_per_s") ||
                             Reader::find(j, "level_sigma_m");
      if (has_sigma) {
        p.normalised = true;
        for (auto kv : {std::make_pair("inflow_sigma_m3_per_s", &p.inflow_sigma_m3_per_s),
                        std::make_pair("outflow_sigma_m3_per_s", &p.outflow_sigma_m3_per_s),
                        std::make_pair("level_sigma_m", &p.level_sigma_m)})
          if (r.number(j, path, kv.first, *kv.second)) r.check(*kv.second >= 0.0, path, kv.first, "must be >= 0");
        if (p.inflow_sigma_m3_per_s <= 0.0 && p.outflow_sigma_m3_per_s <= 0.0 && p.level_sigma_m <= 0.0)
          r.error(Reader::join(path, "level_sigma_m"), "the noise sigmas must not all be 0");
      }
      if (r.number(j, path, "tolerance", p.tolerance, true))
        r.check(p.tolerance > 0.0, path, "tolerance", "must be > 0");
      persistence(r, j, path, p.persistence);
      seconds(r, j, path, "max_gap_s", p.max_gap_s, false);
      cause_choice(r, j, path, p.cause);
      d.params = std::move(p);
      break;
    }
    case DetectorType::analog_tracking: {
      AnalogTrackingConfig c;
      AnalogTrackingParams<double>& p = c.params;
      const bool c_ok = channel_ref(r, j, path, "command", channels, c.command_channel, ChannelNeed::analog);
      const bool f_ok = channel_ref(r, j, path, "feedback", channels, c.feedback_channel, ChannelNeed::analog);
      distinct_channels(r, path, "command", c_ok, c.command_channel, "feedback", f_ok, c.feedback_channel);
      bool model_ok = true;
      if (r.number(j, path, "max_rate_per_s", p.max_rate_per_s, true)) {
        r.check(p.max_rate_per_s > 0.0, path, "max_rate_per_s", "must be > 0");
      }
      model_ok = model_ok && p.max_rate_per_s > 0.0;
      r.number(j, path, "min_position", p.min_position);
      r.number(j, path, "max_position", p.max_position);
      r.check(p.min_position < p.max_position, path, "max_position", "must be > min_position");
      if (r.number(j, path, "gain", p.gain)) r.check(p.gain != 0.0, path, "gain", "must not be 0");
      seconds(r, j, path, "time_constant_s", p.time_constant_s, true, true);
      if (r.number(j, path, "noise_sigma", p.noise_sigma, true))
        r.check(p.noise_sigma > 0.0, path, "noise_sigma", "must be > 0");
      model_ok = model_ok && p.noise_sigma > 0.0;
      if (r.number(j, path, "settled_band", p.settled_band))
        r.check(p.settled_band >= 0.0, path, "settled_band", "must be >= 0 (0: 3 noise_sigma)");
      // Default drift: twice the worst model bias of a stroke between scans (analog_tracking.hpp).
      c.k = 0.5;
      if (model_ok) {
        const double bias = std::fabs(p.gain) * p.max_rate_per_s * poll_period_s / p.noise_sigma;
        if (bias > c.k) c.k = bias;
      }
      cusum_params(r, j, path, c.k, c.h);
      d.params = c;
      break;
    }
    case DetectorType::response_model: {
      ResponseModelConfig c;
      ResponseModelParams<double>& p = c.params;
      const bool i_ok = channel_ref(r, j, path, "input", channels, c.input_channel);
      const bool v_ok = channel_ref(r, j, path, "process_variable", channels, c.pv_channel, ChannelNeed::analog);
      distinct_channels(r, path, "input", i_ok, c.input_channel, "process_variable", v_ok, c.pv_channel);
      r.number(j, path, "gain", p.gain, true);
      seconds(r, j, path, "time_constant_s", p.time_constant_s, true, true);
      p.sample_period_s = poll_period_s;
      const bool ts_ok = !Reader::find(j, "sample_period_s") ||
                         seconds(r, j, path, "sample_period_s", p.sample_period_s, true);
      if (seconds(r, j, path, "dead_time_s", p.dead_time_s, false) && ts_ok) {
        const double samples = std::round(p.dead_time_s / p.sample_period_s);
        if (samples > response_model_max_delay_samples)
          r.error(Reader::join(path, "dead_time_s"),
                  "is " + std::to_string(static_cast<long long>(samples)) +
                      " sample periods; at most " +
                      std::to_string(response_model_max_delay_samples) +
                      " (dead_time_s / sample_period_s)");
      }
      if (r.number(j, path, "noise_sigma", p.noise_sigma, true))
        r.check(p.noise_sigma > 0.0, path, "noise_sigma", "must be > 0");
      seconds(r, j, path, "bias_time_constant_s", p.bias_time_constant_s, false);
      r.number(j, path, "initial_bias", p.initial_bias);
      r.boolean(j, path, "assume_steady_start", p.assume_steady_start);
      r.integer_as(j, path, "max_catch_up_samples", p.max_catch_up_samples, 1, 1000000);
      cause_choice(r, j, path, p.cause_on_alarm);
      cusum_params(r, j, path, c.k, c.h);
      d.params = c;
      break;
    }
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
      detail::read_detector(r, (*dets)[i], Reader::index("detectors", i), c.detectors[i], c.channels,
                            c.modbus.poll_period_s);
    }
    std::size_t pairs = 0;
    for (const DetectorConfig& d : c.detectors) pairs += is_pair_detector(d.params) ? 1 : 0;
    if (c.channels.size() + pairs >= gateway_channel_limit)
      r.error("detectors", "too many channels plus multi-channel detectors (limit 65534)");
    if (c.detectors.size() > 65535) r.error("detectors", "at most 65535 detectors");
    for (std::size_t i = 0; i < c.detectors.size(); ++i)
      for (std::size_t k = 0; k < i; ++k)
        if (is_pair_detector(c.detectors[i].params) && c.detectors[i].name == c.detectors[k].name)
          r.error(Reader::index("detectors", i) + ".name",
                  "multi-channel detectors need a unique name (it is their topic)");
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
