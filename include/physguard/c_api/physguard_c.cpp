// physguard/c_api/physguard_c.cpp - implementation of the C API (include/physguard_c.h).  The one
// C++ translation unit a C firmware compiles and links; everything else stays header-only.
#include <cstdint>
#include <new>

#include "../../physguard_c.h"
#include "../compose/scalar_channel.hpp"
#include "../detect/range_check.hpp"

namespace {

using physguard::Finding;
using physguard::Quality;
using physguard::Sample;
using physguard::Timestamp;

struct Channel {
  physguard::ScalarChannelConfig<float> config;
  physguard::RangeCheck<float> range;
  physguard::ScalarChannel<float> detector;
  bool range_alarm = false;
  std::uint16_t channel = 0;

  Channel(const physguard::ScalarChannelConfig<float>& cfg, float lo, float hi, std::uint16_t ch)
      : config(cfg), range(lo, hi), detector(cfg, ch), channel(ch) {}
};

void copy_finding(const Finding<float>& f, physguard_finding* out) {
  out->time_us = f.time.us;
  out->channel = f.channel;
  out->kind = static_cast<std::uint8_t>(f.kind);
  out->cause = static_cast<std::uint8_t>(f.cause);
  out->state = static_cast<std::uint8_t>(f.state);
  out->status = static_cast<std::uint8_t>(f.status);
  out->score = f.score;
  out->threshold = f.threshold;
  out->detector = f.detector;
}

bool valid(const physguard_channel_config& c) {
  using physguard::is_finite;
  return is_finite(c.a) && is_finite(c.c) && is_finite(c.q) && c.q >= 0.0f && is_finite(c.r) &&
         c.r > 0.0f && is_finite(c.x0) && is_finite(c.p0) && c.p0 >= 0.0f &&
         is_finite(c.nis_gate) && c.nis_gate > 0.0f && is_finite(c.cusum_k) && c.cusum_k >= 0.0f &&
         is_finite(c.cusum_h) && c.cusum_h > 0.0f && is_finite(c.clear_fraction) &&
         c.clear_fraction > 0.0f && c.clear_fraction <= 1.0f && c.alarm_n >= 1 &&
         c.alarm_n <= 32 && c.alarm_k >= 1 && c.alarm_k <= c.alarm_n && is_finite(c.range_min) &&
         is_finite(c.range_max) && c.range_min < c.range_max;
}

}  // namespace

struct physguard_channel {
  Channel impl;
};

extern "C" {

size_t physguard_channel_size(void) { return sizeof(physguard_channel); }
size_t physguard_channel_alignment(void) { return alignof(physguard_channel); }

void physguard_channel_default_config(physguard_channel_config* config) {
  if (config == nullptr) return;
  const physguard::ScalarChannelConfig<float> d;
  config->a = d.a;
  config->c = d.c;
  config->q = d.q;
  config->r = d.r;
  config->x0 = d.x0;
  config->p0 = d.p0;
  config->nis_gate = d.nis_gate;
  config->cusum_k = d.cusum_k;
  config->cusum_h = d.cusum_h;
  config->clear_fraction = d.clear_fraction;
  config->alarm_k = d.alarm_k;
  config->alarm_n = d.alarm_n;
  config->range_min = -1e30f;
  config->range_max = 1e30f;
}

physguard_channel* physguard_channel_init(void* memory, size_t size,
                                          const physguard_channel_config* config,
                                          uint16_t channel) {
  if (memory == nullptr || config == nullptr || size < sizeof(physguard_channel)) return nullptr;
  if (reinterpret_cast<std::uintptr_t>(memory) % alignof(physguard_channel) != 0) return nullptr;
  if (!valid(*config)) return nullptr;
  physguard::ScalarChannelConfig<float> c;
  c.a = config->a;
  c.c = config->c;
  c.q = config->q;
  c.r = config->r;
  c.x0 = config->x0;
  c.p0 = config->p0;
  c.nis_gate = config->nis_gate;
  c.cusum_k = config->cusum_k;
  c.cusum_h = config->cusum_h;
  c.clear_fraction = config->clear_fraction;
  c.alarm_k = config->alarm_k;
  c.alarm_n = config->alarm_n;
  return ::new (memory)
      physguard_channel{Channel(c, config->range_min, config->range_max, channel)};
}

int physguard_channel_feed(physguard_channel* ch, int64_t time_us, float value, int quality,
                           physguard_finding out[PHYSGUARD_MAX_FINDINGS_PER_FEED]) {
  if (ch == nullptr || out == nullptr) return 0;
  Channel& c = ch->impl;
  Sample<float> s;
  s.time = Timestamp{time_us};
  s.value = value;
  s.quality = (quality >= 0 && quality <= 3) ? static_cast<Quality>(quality) : Quality::bad;
  // Plausibility first: a value outside the physical range is a sensor fault and never reaches
  // the filter (reported once when it starts and once when it ends).
  int n = 0;
  const physguard::Decision<float> rd = c.range.update(s);
  if (rd.status == physguard::Status::ok && (rd.alarm != c.range_alarm)) {
    c.range_alarm = rd.alarm;
    copy_finding(rd.to_finding(c.channel, physguard::RangeCheck<float>::name,
                               rd.alarm ? physguard::AlarmState::alarm
                                        : physguard::AlarmState::cleared),
                 &out[n++]);
    if (rd.alarm) return n;
    // Back in range: the clearing is out[0]; the sample goes on to the filter below.
  } else if (rd.alarm) {
    return 0;  // still out of range: already reported
  }
  const auto r = c.detector.update(c.config, s);
  if (r.out.has) copy_finding(r.out.finding, &out[n++]);
  return n;
}

int physguard_channel_state(const physguard_channel* ch) {
  return ch == nullptr ? 0 : static_cast<int>(ch->impl.detector.state());
}

float physguard_channel_estimate(const physguard_channel* ch) {
  return ch == nullptr ? 0.0f : ch->impl.detector.state_estimate();
}

}  // extern "C"
