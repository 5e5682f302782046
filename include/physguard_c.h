/* physguard_c.h - C API of physguard for firmware written in C.
 *
 * One detector kind: a scalar channel = range check + 1-state Kalman filter + CUSUM on the
 * normalised innovation + k-of-n alarm logic (physguard::ScalarChannel, compose/scalar_channel.hpp).
 * The detector lives in memory the caller provides (static buffer, no heap):
 *
 *     static unsigned char mem[256] __attribute__((aligned(8)));
 *     assert(physguard_channel_size() <= sizeof mem);
 *     physguard_channel* ch = physguard_channel_init(mem, sizeof mem, &config, 7);
 *     physguard_finding f[PHYSGUARD_MAX_FINDINGS_PER_FEED];
 *     int n = physguard_channel_feed(ch, t_us, value, PHYSGUARD_QUALITY_GOOD, f);
 *     for (int i = 0; i < n; ++i) report(&f[i]);
 *
 * The implementation is one C++ translation unit the integrator compiles with the firmware:
 * include/physguard/c_api/physguard_c.cpp (C++17, -fno-exceptions -fno-rtti are fine).
 * Every function is safe to call with NULL pointers (it returns 0 / NULL).
 */
#ifndef PHYSGUARD_C_H
#define PHYSGUARD_C_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Opaque detector handle (points into the caller's memory). */
typedef struct physguard_channel physguard_channel;

enum physguard_quality { PHYSGUARD_QUALITY_GOOD = 0, PHYSGUARD_QUALITY_UNCERTAIN = 1,
                         PHYSGUARD_QUALITY_BAD = 2, PHYSGUARD_QUALITY_MISSING = 3 };

/* Same numbering as physguard::FindingKind, Cause, AlarmState and Status. */
enum physguard_kind { PHYSGUARD_KIND_BAD_INPUT = 0, PHYSGUARD_KIND_RESIDUAL = 1,
                      PHYSGUARD_KIND_PLAUSIBILITY = 2 };
enum physguard_cause { PHYSGUARD_CAUSE_UNKNOWN = 0, PHYSGUARD_CAUSE_SENSOR_FAULT = 1,
                       PHYSGUARD_CAUSE_SUSPECTED_ATTACK = 2 };
enum physguard_state { PHYSGUARD_STATE_NORMAL = 0, PHYSGUARD_STATE_WARNING = 1,
                       PHYSGUARD_STATE_ALARM = 2, PHYSGUARD_STATE_CLEARED = 3 };

/* Configuration (units of the channel).  Model x[k+1] = a x[k] + w (var q), z = c x + v (var r). */
typedef struct physguard_channel_config {
  float a, c, q, r;          /* model and noise variances: q >= 0, r > 0 */
  float x0, p0;              /* initial estimate and its variance */
  float nis_gate;            /* filter gate on the NIS (23.93 = chi-square 1 dof, 1 - 1e-6) */
  float cusum_k, cusum_h;    /* CUSUM drift and threshold, in innovation standard deviations */
  float clear_fraction;      /* alarm clears at score <= clear_fraction * h, in (0, 1] */
  uint8_t alarm_k, alarm_n;  /* k-of-n, 1 <= k <= n <= 32 */
  float range_min, range_max;  /* physically possible range; outside: sensor fault */
} physguard_channel_config;

/* One finding (a change of the alarm state, or a refused sample). */
typedef struct physguard_finding {
  int64_t time_us;
  uint16_t channel;
  uint8_t kind;    /* enum physguard_kind */
  uint8_t cause;   /* enum physguard_cause */
  uint8_t state;   /* enum physguard_state */
  uint8_t status;  /* physguard::Status: 0 ok, 2 not_finite, 4 bad_quality, 5 time_backwards, ... */
  float score, threshold;
  const char* detector; /* static string: "range" or "scalar_channel" */
} physguard_finding;

/* Bytes and alignment the caller's memory must provide. */
size_t physguard_channel_size(void);
size_t physguard_channel_alignment(void);

/* Fills `config` with usable defaults (random walk, unit noise, k = 0.5, h = 5, range +-1e30). */
void physguard_channel_default_config(physguard_channel_config* config);

/* Creates a detector in `memory` (size >= physguard_channel_size(), aligned to
 * physguard_channel_alignment()).  Returns NULL when the memory is too small or misaligned or the
 * configuration is invalid. */
physguard_channel* physguard_channel_init(void* memory, size_t size,
                                          const physguard_channel_config* config, uint16_t channel);

/* One sample can give at most this many findings: the range check clearing, then the filter's. */
#define PHYSGUARD_MAX_FINDINGS_PER_FEED 2

/* Feeds one sample.  Writes its findings, in order, to out[0..n) and returns n (0, 1 or 2); `out`
 * must hold PHYSGUARD_MAX_FINDINGS_PER_FEED entries.  A refused sample (NaN, infinity, bad
 * quality, time going back) gives a finding with kind bad_input and leaves the detector's state
 * unchanged.  Returns 0 when ch or out is NULL. */
int physguard_channel_feed(physguard_channel* ch, int64_t time_us, float value, int quality,
                           physguard_finding out[PHYSGUARD_MAX_FINDINGS_PER_FEED]);

/* Current alarm state (enum physguard_state) and filter estimate. */
int physguard_channel_state(const physguard_channel* ch);
float physguard_channel_estimate(const physguard_channel* ch);

#ifdef __cplusplus
}
#endif

#endif /* PHYSGUARD_C_H */
