/* C API test: a C11 program (compiled as C, -Wall -Wextra -Wpedantic -Werror) creates a scalar
 * channel in its own static memory, feeds it a stream with a bias attack, an out-of-range value,
 * a NaN and a timestamp going back, and checks the findings. */
#include <math.h>
#include <stdalign.h>
#include <stdio.h>
#include <string.h>

#include <physguard_c.h>

static int failures = 0;
#define CHECK(cond)                                                    \
  do {                                                                 \
    if (!(cond)) {                                                     \
      fprintf(stderr, "%s:%d: CHECK failed: %s\n", __FILE__, __LINE__, #cond); \
      ++failures;                                                      \
    }                                                                  \
  } while (0)

static alignas(16) unsigned char memory[512];

/* Deterministic noise: 12 uniforms - 6. */
static unsigned int rng = 12345u;
static float noise(void) {
  float s = 0.0f;
  int i;
  for (i = 0; i < 12; ++i) {
    rng = rng * 1664525u + 1013904223u;
    s += (float)(rng >> 8) / 16777216.0f;
  }
  return s - 6.0f;
}

int main(void) {
  physguard_channel_config cfg;
  physguard_channel* ch;
  physguard_finding f[PHYSGUARD_MAX_FINDINGS_PER_FEED];
  int n, i;
  int k, alarm_at = -1, range_at = -1, nan_refused = 0, back_refused = 0, findings = 0;
  unsigned char snapshot[512];

  CHECK(physguard_channel_size() <= sizeof memory);
  CHECK(physguard_channel_alignment() <= 16);

  physguard_channel_default_config(&cfg);
  cfg.q = 1e-6f;
  cfg.r = 1e-4f; /* sigma 1 cm */
  cfg.x0 = 2.0f;
  cfg.p0 = 1e-2f;
  cfg.cusum_k = 0.5f;
  cfg.cusum_h = 8.0f;
  cfg.range_min = 0.0f;
  cfg.range_max = 5.0f;

  /* Invalid requests are refused, not crashed on. */
  CHECK(physguard_channel_init(NULL, sizeof memory, &cfg, 1) == NULL);
  CHECK(physguard_channel_init(memory, 4, &cfg, 1) == NULL);
  CHECK(physguard_channel_init(memory + 1, sizeof memory - 1, &cfg, 1) == NULL);
  cfg.r = -1.0f;
  CHECK(physguard_channel_init(memory, sizeof memory, &cfg, 1) == NULL);
  cfg.r = 1e-4f;
  CHECK(physguard_channel_feed(NULL, 0, 1.0f, PHYSGUARD_QUALITY_GOOD, f) == 0);

  ch = physguard_channel_init(memory, sizeof memory, &cfg, 7);
  CHECK(ch != NULL);
  if (ch == NULL) return 1;

  for (k = 0; k < 1000; ++k) {
    const int64_t t = 1000000 + (int64_t)k * 100000;
    float v = 2.0f + 0.01f * noise();
    if (k >= 500) v += 0.03f; /* 3-sigma bias from scan 500 */
    if (k == 300) v = 9.0f;   /* out of range */
    if (k == 400) v = NAN;
    n = physguard_channel_feed(ch, t, v, PHYSGUARD_QUALITY_GOOD, f);
    CHECK(n >= 0 && n <= PHYSGUARD_MAX_FINDINGS_PER_FEED);
    for (i = 0; i < n; ++i) {
      ++findings;
      CHECK(f[i].channel == 7);
      CHECK(f[i].time_us == t);
      if (f[i].kind == PHYSGUARD_KIND_RESIDUAL && f[i].state == PHYSGUARD_STATE_ALARM &&
          alarm_at < 0)
        alarm_at = k;
      if (f[i].kind == PHYSGUARD_KIND_PLAUSIBILITY && f[i].state == PHYSGUARD_STATE_ALARM) {
        range_at = k;
        CHECK(f[i].cause == PHYSGUARD_CAUSE_SENSOR_FAULT);
        CHECK(strcmp(f[i].detector, "range") == 0);
      }
      if (f[i].kind == PHYSGUARD_KIND_BAD_INPUT) {
        nan_refused += k == 400;
        CHECK(f[i].status == 2); /* not_finite */
        CHECK(f[i].cause == PHYSGUARD_CAUSE_SENSOR_FAULT);
      }
    }
  }
  CHECK(range_at == 300);
  CHECK(nan_refused == 1);
  CHECK(alarm_at >= 500 && alarm_at < 530); /* ARL of a 3-sigma shift with k=0.5, h=8: ~4 */
  CHECK(physguard_channel_state(ch) == PHYSGUARD_STATE_ALARM);
  CHECK(fabsf(physguard_channel_estimate(ch) - 2.0f) < 0.05f);
  CHECK(findings >= 4);

  /* A timestamp going back is refused and changes nothing. */
  memcpy(snapshot, memory, sizeof snapshot);
  if (physguard_channel_feed(ch, 5000, 2.0f, PHYSGUARD_QUALITY_GOOD, f) == 1) {
    back_refused = f[0].kind == PHYSGUARD_KIND_BAD_INPUT && f[0].status == 5; /* time_backwards */
  }
  CHECK(back_refused == 1);
  CHECK(memcmp(snapshot, memory, physguard_channel_size()) == 0);

  /* Two findings from one sample, none lost: out of range, then back in range with an
   * earlier time -- the range check clears (out[0]) and the filter refuses the time (out[1]). */
  {
    const int64_t t = 1000000 + (int64_t)2000 * 100000;
    CHECK(physguard_channel_feed(ch, t, 9.0f, PHYSGUARD_QUALITY_GOOD, f) == 1);
    CHECK(f[0].kind == PHYSGUARD_KIND_PLAUSIBILITY && f[0].state == PHYSGUARD_STATE_ALARM);
    CHECK(physguard_channel_feed(ch, t + 100000, 2.0f, PHYSGUARD_QUALITY_GOOD, f) >= 1);
    CHECK(physguard_channel_feed(ch, t + 200000, 9.0f, PHYSGUARD_QUALITY_GOOD, f) == 1);
    n = physguard_channel_feed(ch, t + 50000, 2.0f, PHYSGUARD_QUALITY_GOOD, f);
    CHECK(n == 2);
    CHECK(f[0].kind == PHYSGUARD_KIND_PLAUSIBILITY && f[0].state == PHYSGUARD_STATE_CLEARED);
    CHECK(f[1].kind == PHYSGUARD_KIND_BAD_INPUT && f[1].status == 5); /* time_backwards */
  }

  if (failures == 0) printf("C API: all checks passed (%d findings)\n", findings);
  return failures == 0 ? 0 : 1;
}
