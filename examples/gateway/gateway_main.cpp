// physguard-gateway: polls a Modbus/TCP server (libmodbus), runs the detectors a JSON
// configuration names (physguard/config/), and publishes every Finding as one JSON object on
// stdout (JSON lines) and to an MQTT broker (libmosquitto, QoS 1, topic <prefix>/<site>/<channel>).
//
//   physguard-gateway --config gateway.json --duration 60 [--check-config]
//
// Nothing is lost silently: every finding gets a sequence number ("seq"); while the broker is away
// findings wait in a bounded queue; a finding dropped because the queue is full is counted, and the
// counters are reported on stderr ("summary {...}" at exit) and on <prefix>/<site>/_gateway/status.
// A lost Modbus connection is itself a finding (channel 65535, detector "modbus", kind
// communication), as is its return ("cleared", score = outage in seconds).  docs/gateway.md.
#include <modbus/modbus.h>
#include <mosquitto.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <deque>
#include <fstream>
#include <sstream>
#include <string>
#include <unordered_map>
#include <vector>

#include <nlohmann/json.hpp>
#include <physguard/config/gateway_config.hpp>
#include <physguard/config/gateway_monitor.hpp>
#include <physguard/fmt.hpp>

namespace {

using physguard::AlarmState;
using physguard::Cause;
using physguard::Finding;
using physguard::FindingKind;
using physguard::Status;
using physguard::Timestamp;
namespace cfgns = physguard::config;
using Clock = std::chrono::steady_clock;

volatile std::sig_atomic_t g_stop = 0;
void on_signal(int) { g_stop = 1; }

Timestamp wall_now() {
  return Timestamp{std::chrono::duration_cast<std::chrono::microseconds>(
                       std::chrono::system_clock::now().time_since_epoch())
                       .count()};
}

double seconds_since(Clock::time_point t) {
  return std::chrono::duration<double>(Clock::now() - t).count();
}

/// Collects the findings of one poll; the main loop numbers and ships them.
struct CollectingSink {
  std::vector<Finding<double>>* out = nullptr;
  void operator()(const Finding<double>& f) const { out->push_back(f); }
};

/// MQTT side: a bounded queue of findings awaiting the broker's PUBACK, reconnects with back-off.
/// Single-threaded: mosquitto_loop() is called from the main loop, callbacks run inside it.
class MqttPublisher {
 public:
  explicit MqttPublisher(const cfgns::MqttConfig& c) : cfg_(c) {}
  ~MqttPublisher() { destroy(); }

  /// Queues one message; when full, drops the oldest message not yet handed to the broker.
  void enqueue(std::string topic, std::string payload) {
    if (queue_.size() >= cfg_.queue_capacity) {
      auto it = std::find_if(queue_.begin(), queue_.end(), [](const Msg& m) { return m.mid < 0; });
      if (it == queue_.end()) it = queue_.begin();
      if (it->mid >= 0) by_mid_.erase(it->mid);
      queue_.erase(it);
      ++dropped_;
      if (dropped_ == 1 || dropped_ % 1000 == 0)
        std::fprintf(stderr, "gateway: MQTT queue full (%zu): %llu finding(s) dropped so far\n",
                     cfg_.queue_capacity, static_cast<unsigned long long>(dropped_));
    }
    queue_.push_back(Msg{std::move(topic), std::move(payload), -1});
  }

  /// Connects when due, sends what may be sent, runs the network loop for up to timeout_ms.
  void service(int timeout_ms) {
    if (!m_) {
      if (Clock::now() < next_attempt_) {
        sleep_ms(timeout_ms);
        return;
      }
      connect();
      if (!m_) {
        sleep_ms(timeout_ms);
        return;
      }
    }
    if (connected_) send_pending();
    const int rc = mosquitto_loop(m_, std::max(0, timeout_ms), 1);
    if (rc != MOSQ_ERR_SUCCESS || lost_) lose(rc);
  }

  bool idle() const { return queue_.empty(); }
  std::size_t pending() const { return queue_.size(); }
  std::uint64_t dropped() const { return dropped_; }
  std::uint64_t acked() const { return acked_; }
  std::uint64_t connects() const { return connects_; }
  std::uint64_t disconnects() const { return disconnects_; }
  bool connected() const { return connected_; }

 private:
  struct Msg {
    std::string topic, payload;
    int mid;  ///< -1: not handed to the broker in this connection
  };

  static void sleep_ms(int ms) {
    if (ms > 0) {
      timespec ts{ms / 1000, (ms % 1000) * 1000000L};
      nanosleep(&ts, nullptr);
    }
  }

  void connect() {
    m_ = mosquitto_new(cfg_.client_id.c_str(), true, this);
    if (!m_) return;
    mosquitto_connect_callback_set(m_, [](mosquitto*, void* self, int rc) {
      auto* p = static_cast<MqttPublisher*>(self);
      if (rc == 0) {
        p->connected_ = true;
        p->backoff_s_ = 0.1;
        ++p->connects_;
        std::fprintf(stderr, "gateway: MQTT connected to %s:%d\n", p->cfg_.host.c_str(), p->cfg_.port);
      } else {
        p->lost_ = true;
      }
    });
    mosquitto_disconnect_callback_set(m_, [](mosquitto*, void* self, int) {
      static_cast<MqttPublisher*>(self)->lost_ = true;
    });
    mosquitto_publish_callback_set(m_, [](mosquitto*, void* self, int mid) {
      static_cast<MqttPublisher*>(self)->on_ack(mid);
    });
    lost_ = false;
    const int rc = mosquitto_connect(m_, cfg_.host.c_str(), cfg_.port, cfg_.keepalive_s);
    if (rc != MOSQ_ERR_SUCCESS) lose(rc);
  }

  void on_ack(int mid) {
    const auto it = by_mid_.find(mid);
    if (it == by_mid_.end()) return;
    by_mid_.erase(it);
    // Acks come back in order for one connection; search from the front.
    for (auto q = queue_.begin(); q != queue_.end(); ++q) {
      if (q->mid == mid) {
        queue_.erase(q);
        ++acked_;
        return;
      }
    }
  }

  void send_pending() {
    for (Msg& m : queue_) {
      if (by_mid_.size() >= 50) break;  // bounded in-flight window
      if (m.mid >= 0) continue;
      int mid = 0;
      const int rc = mosquitto_publish(m_, &mid, m.topic.c_str(), static_cast<int>(m.payload.size()),
                                       m.payload.data(), cfg_.qos, false);
      if (rc != MOSQ_ERR_SUCCESS) {
        lose(rc);
        return;
      }
      m.mid = mid;
      by_mid_[mid] = true;
    }
  }

  /// Connection gone: forget the client (and its internal store), resend everything unacked.
  void lose(int rc) {
    if (connected_ || m_) {
      ++disconnects_;
      if (connected_)
        std::fprintf(stderr, "gateway: MQTT connection lost (%s); %zu finding(s) queued\n",
                     mosquitto_strerror(rc), queue_.size());
    }
    destroy();
    for (Msg& m : queue_) m.mid = -1;
    by_mid_.clear();
    next_attempt_ = Clock::now() + std::chrono::microseconds(static_cast<long>(backoff_s_ * 1e6));
    backoff_s_ = std::min(backoff_s_ * 2.0, 2.0);
  }

  void destroy() {
    if (m_) {
      mosquitto_destroy(m_);
      m_ = nullptr;
    }
    connected_ = false;
    lost_ = false;
  }

  cfgns::MqttConfig cfg_;
  mosquitto* m_ = nullptr;
  bool connected_ = false;
  bool lost_ = false;
  double backoff_s_ = 0.1;
  Clock::time_point next_attempt_ = Clock::now();
  std::deque<Msg> queue_;
  std::unordered_map<int, bool> by_mid_;
  std::uint64_t dropped_ = 0, acked_ = 0, connects_ = 0, disconnects_ = 0;
};

struct Counters {
  std::uint64_t findings = 0, polls = 0, processed = 0, poll_failures = 0, connects = 0,
                stale_polls = 0, clock_backwards = 0, overruns = 0, block_errors = 0;
};

bool connection_error(int err) {
  // Exception responses (illegal address, ...) keep the connection; everything else drops it.
  return !(err > MODBUS_ENOBASE && err < MODBUS_ENOBASE + 12);
}

std::string read_file(const std::string& path, bool& ok) {
  std::ifstream in(path);
  ok = static_cast<bool>(in);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

int main(int argc, char** argv) {
  std::string config_path;
  double duration_s = -1;
  bool check_only = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) config_path = argv[++i];
    else if (a == "--duration" && i + 1 < argc) duration_s = std::atof(argv[++i]);
    else if (a == "--check-config") check_only = true;
    else {
      std::fprintf(stderr, "usage: physguard-gateway --config FILE --duration SECONDS [--check-config]\n");
      return 2;
    }
  }
  if (config_path.empty() || (!check_only && !(duration_s > 0))) {
    std::fprintf(stderr, "usage: physguard-gateway --config FILE --duration SECONDS [--check-config]\n");
    return 2;
  }
  bool ok = false;
  const std::string text = read_file(config_path, ok);
  if (!ok) {
    std::fprintf(stderr, "gateway: cannot read %s\n", config_path.c_str());
    return 2;
  }
  const cfgns::ParseResult parsed = cfgns::parse_gateway_config(text);
  if (!parsed.ok()) {
    for (const cfgns::ConfigError& e : parsed.errors)
      std::fprintf(stderr, "config error: %s: %s\n", e.path.c_str(), e.message.c_str());
    return 2;
  }
  const cfgns::GatewayConfig& cfg = parsed.config;

  std::vector<Finding<double>> batch;
  batch.reserve(1024);
  cfgns::GatewayMonitor<CollectingSink> gm(cfg, CollectingSink{&batch});
  if (check_only) {
    std::printf("configuration ok: %zu channels, %zu detectors, %zu Modbus requests per poll\n",
                cfg.channels.size(), cfg.detectors.size(), gm.blocks().size());
    return 0;
  }
  std::signal(SIGTERM, on_signal);
  std::signal(SIGINT, on_signal);
  std::signal(SIGPIPE, SIG_IGN);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  mosquitto_lib_init();

  Counters n;
  MqttPublisher mqtt(cfg.sinks.mqtt);
  const bool use_mqtt = cfg.sinks.mqtt.enabled;
  const std::string topic_base = cfg.sinks.mqtt.topic_prefix + "/" + cfg.site + "/";
  std::uint64_t seq = 0;

  auto ship = [&](const Finding<double>& f) {
    std::string j = physguard::to_json(f);
    j.pop_back();  // '}'
    j += ",\"seq\":" + std::to_string(seq++);
    j += ",\"site\":" + nlohmann::json(cfg.site).dump();
    j += ",\"channel_name\":" + nlohmann::json(gm.channel_name(f.channel)).dump();
    if (!gm.channel_units(f.channel).empty())
      j += ",\"units\":" + nlohmann::json(gm.channel_units(f.channel)).dump();
    j += '}';
    ++n.findings;
    if (cfg.sinks.stdout_json) std::fprintf(stdout, "%s\n", j.c_str());
    if (use_mqtt) mqtt.enqueue(topic_base + gm.channel_name(f.channel), std::move(j));
  };
  auto gateway_finding = [&](const char* detector, FindingKind kind, AlarmState state, Status status,
                             double score, double threshold) {
    Finding<double> f;
    f.time = wall_now();
    f.channel = cfgns::gateway_channel;
    f.detector_id = cfgns::gateway_detector_id;
    f.detector = detector;
    f.kind = kind;
    f.cause = kind == FindingKind::communication ? Cause::communication : Cause::unknown;
    f.state = state;
    f.status = status;
    f.score = score;
    f.threshold = threshold;
    ship(f);
  };

  // ---- Modbus ----------------------------------------------------------------------------------
  const cfgns::ModbusConfig& mb = cfg.modbus;
  modbus_t* ctx = nullptr;
  bool connected = false;
  bool outage = false;            // a communication alarm is open
  Clock::time_point last_good = Clock::now();
  double backoff_s = mb.reconnect_min_s;
  Clock::time_point next_connect = Clock::now();
  auto drop_connection = [&](const char* why) {
    if (ctx) {
      modbus_close(ctx);
      modbus_free(ctx);
      ctx = nullptr;
    }
    connected = false;
    if (!outage) {
      outage = true;
      std::fprintf(stderr, "gateway: Modbus %s:%d lost (%s)\n", mb.host.c_str(), mb.port, why);
      gateway_finding("modbus", FindingKind::communication, AlarmState::alarm, Status::missing,
                      seconds_since(last_good), mb.response_timeout_s);
    }
    next_connect = Clock::now() + std::chrono::microseconds(static_cast<long>(backoff_s * 1e6));
    backoff_s = std::min(backoff_s * 2.0, mb.reconnect_max_s);
  };
  auto try_connect = [&]() {
    ctx = modbus_new_tcp(mb.host.c_str(), mb.port);
    if (!ctx) return;
    modbus_set_slave(ctx, mb.unit_id);
    const auto to_us = static_cast<std::uint32_t>(mb.response_timeout_s * 1e6);
    modbus_set_response_timeout(ctx, to_us / 1000000u, to_us % 1000000u);
    if (modbus_connect(ctx) == -1) {
      drop_connection(modbus_strerror(errno));
      return;
    }
    connected = true;
    ++n.connects;
    backoff_s = mb.reconnect_min_s;
  };

  cfgns::RegisterImage img = gm.image_template();
  std::vector<std::uint8_t> block_failed(gm.blocks().size(), 0);
  std::vector<std::uint16_t> regbuf(MODBUS_MAX_READ_REGISTERS);
  std::vector<std::uint8_t> bitbuf(MODBUS_MAX_READ_BITS);
  bool has_plc_time = false;
  Timestamp last_plc_time{};
  bool clock_alarm = false;

  // Reads one block into the image.  Returns 0 ok, 1 exception response, -1 connection error.
  auto read_block = [&](const cfgns::ReadBlock& b) -> int {
    int rc = -1;
    switch (b.table) {
      case cfgns::Table::holding_register: rc = modbus_read_registers(ctx, b.start, b.count, regbuf.data()); break;
      case cfgns::Table::input_register: rc = modbus_read_input_registers(ctx, b.start, b.count, regbuf.data()); break;
      case cfgns::Table::coil: rc = modbus_read_bits(ctx, b.start, b.count, bitbuf.data()); break;
      case cfgns::Table::discrete_input: rc = modbus_read_input_bits(ctx, b.start, b.count, bitbuf.data()); break;
    }
    if (rc != b.count) return rc == -1 && connection_error(errno) ? -1 : 1;
    if (cfgns::is_bit_table(b.table)) {
      std::copy(bitbuf.begin(), bitbuf.begin() + b.count, img.bits(b.table).begin() + b.start);
    } else {
      std::copy(regbuf.begin(), regbuf.begin() + b.count, img.registers(b.table).begin() + b.start);
    }
    return 0;
  };

  const auto start = Clock::now();
  const auto end = start + std::chrono::microseconds(static_cast<long>(duration_s * 1e6));
  const auto period = std::chrono::microseconds(static_cast<long>(mb.poll_period_s * 1e6));
  auto next_poll = start;
  std::fprintf(stderr, "gateway: site %s, %zu channels, %zu detectors, polling %s:%d every %g s for %g s\n",
               cfg.site.c_str(), cfg.channels.size(), cfg.detectors.size(), mb.host.c_str(), mb.port,
               mb.poll_period_s, duration_s);

  while (!g_stop && Clock::now() < end) {
    if (!connected && Clock::now() >= next_connect) try_connect();
    if (connected) {
      ++n.polls;
      bool lost = false;
      Timestamp t = wall_now();
      bool fresh = true;
      if (mb.has_time_register) {
        const int cnt = cfgns::register_count(mb.time_source.format);
        std::uint16_t tr[2] = {0, 0};
        const int rc = mb.time_source.table == cfgns::Table::input_register
                           ? modbus_read_input_registers(ctx, mb.time_source.address, cnt, tr)
                           : modbus_read_registers(ctx, mb.time_source.address, cnt, tr);
        if (rc != cnt) {
          lost = true;
        } else {
          const std::uint32_t count = cnt == 1 ? tr[0]
                                      : mb.time_source.high_word_first ? (std::uint32_t{tr[0]} << 16) | tr[1]
                                                                       : (std::uint32_t{tr[1]} << 16) | tr[0];
          t = Timestamp{mb.time_epoch_us + static_cast<std::int64_t>(static_cast<double>(count) * mb.time_scale_s * 1e6)};
          if (has_plc_time && t <= last_plc_time) {
            fresh = false;
            if (t < last_plc_time) {
              ++n.clock_backwards;
              if (!clock_alarm) {
                clock_alarm = true;
                gateway_finding("plc_clock", FindingKind::timing, AlarmState::alarm, Status::time_backwards,
                                (last_plc_time - t).seconds<double>(), 0.0);
              }
            } else {
              ++n.stale_polls;
            }
          }
        }
      }
      if (!lost && fresh) {
        std::fill(img.channel_read.begin(), img.channel_read.end(), 1);
        for (std::size_t b = 0; b < gm.blocks().size() && !lost; ++b) {
          const int rc = read_block(gm.blocks()[b]);
          if (rc < 0) {
            lost = true;
          } else if (rc > 0) {
            for (std::uint16_t ch : gm.blocks()[b].channels) img.channel_read[ch] = 0;
            if (!block_failed[b]) {
              block_failed[b] = 1;
              ++n.block_errors;
              gateway_finding("modbus_block", FindingKind::communication, AlarmState::alarm,
                              Status::invalid_argument, static_cast<double>(gm.blocks()[b].start), 0.0);
            }
          } else if (block_failed[b]) {
            block_failed[b] = 0;
            gateway_finding("modbus_block", FindingKind::communication, AlarmState::cleared, Status::ok,
                            static_cast<double>(gm.blocks()[b].start), 0.0);
          }
        }
      }
      if (lost) {
        ++n.poll_failures;
        drop_connection(modbus_strerror(errno));
      } else {
        if (outage) {
          outage = false;
          std::fprintf(stderr, "gateway: Modbus %s:%d back\n", mb.host.c_str(), mb.port);
          gateway_finding("modbus", FindingKind::communication, AlarmState::cleared, Status::ok,
                          seconds_since(last_good), mb.response_timeout_s);
          gm.resynchronise();
        }
        last_good = Clock::now();
        if (fresh) {
          if (clock_alarm) {
            clock_alarm = false;
            gateway_finding("plc_clock", FindingKind::timing, AlarmState::cleared, Status::ok, 0.0, 0.0);
            gm.resynchronise();
          }
          has_plc_time = true;
          last_plc_time = t;
          ++n.processed;
          gm.process(t, img);
        }
      }
    }
    for (const Finding<double>& f : batch) ship(f);
    batch.clear();

    // Wait for the next poll while serving MQTT.
    next_poll += period;
    auto now = Clock::now();
    if (next_poll < now) {
      ++n.overruns;
      next_poll = now;
    }
    while (!g_stop && (now = Clock::now()) < next_poll && now < end) {
      const int ms = static_cast<int>(std::chrono::duration_cast<std::chrono::milliseconds>(next_poll - now).count());
      if (use_mqtt) {
        mqtt.service(std::min(ms, 50));
      } else {
        timespec ts{ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, nullptr);
      }
    }
  }
  if (ctx) {
    modbus_close(ctx);
    modbus_free(ctx);
  }

  // Flush MQTT for a bounded time; whatever is still unacknowledged is counted, not hidden.
  auto status_json = [&]() {
    nlohmann::json s;
    s["summary"] = true;
    s["site"] = cfg.site;
    s["findings"] = n.findings;
    s["polls"] = n.polls;
    s["processed_polls"] = n.processed;
    s["stale_polls"] = n.stale_polls;
    s["plc_clock_backwards"] = n.clock_backwards;
    s["poll_failures"] = n.poll_failures;
    s["modbus_connects"] = n.connects;
    s["block_errors"] = n.block_errors;
    s["overruns"] = n.overruns;
    std::uint64_t garbage = 0, unread = 0;
    for (std::size_t c = 0; c < cfg.channels.size(); ++c) {
      garbage += gm.screen_counters(static_cast<std::uint16_t>(c)).garbage;
      unread += gm.screen_counters(static_cast<std::uint16_t>(c)).unread;
    }
    s["garbage_samples"] = garbage;
    s["unread_samples"] = unread;
    s["mqtt_enabled"] = use_mqtt;
    s["mqtt_acked"] = mqtt.acked();
    s["mqtt_dropped"] = mqtt.dropped();
    s["mqtt_pending"] = mqtt.pending();
    s["mqtt_connects"] = mqtt.connects();
    s["mqtt_disconnects"] = mqtt.disconnects();
    return s;
  };
  if (use_mqtt) {
    mqtt.enqueue(topic_base + "_gateway/status", status_json().dump());
    const auto flush_end = Clock::now() + std::chrono::seconds(5);
    while (!mqtt.idle() && Clock::now() < flush_end) mqtt.service(20);
  }
  const nlohmann::json summary = status_json();
  std::fprintf(stderr, "summary %s\n", summary.dump().c_str());
  mosquitto_lib_cleanup();
  return 0;
}
