// physguard/detect/redundancy.hpp - two sensors of one quantity disagree.
#pragma once

#include <cmath>
#include <cstdint>

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "decision.hpp"
#include "multi_input_decision.hpp"

namespace physguard {

/// Redundancy check: two sensors a and b measure the same quantity (two level transmitters, a
/// flow meter and a pump-curve estimate) and must agree within their noise:
///
///     score = |a - b| / scale,   scale = 1 (absolute tolerance)  or  sqrt(sigma_a^2 + sigma_b^2)
///
/// With independent Gaussian noise of standard deviations sigma_a, sigma_b, (a - b) / scale is
/// N(0, 1) in normal operation, so threshold k gives a per-sample false-alarm probability
/// 2 (1 - Phi(k)) (k = 4: 6.3e-5).  An attacker who falsifies one transmitter (or its register)
/// but not the other breaks the agreement.  `persistence` N >= 1: alarm only after N consecutive
/// pairs above the threshold (so here alarm can be false while score > threshold); a refused pair
/// leaves the count as it is.  This suppresses single spikes and brings the false-alarm probability
/// down to about p^N for independent samples.
///
/// Cause: suspected_attack (both signals are electrically fine but contradict each other); the
/// check cannot say WHICH one is wrong (direction = sign(a - b)).  Calibration drift of one
/// transmitter looks the same; a third source or a model residual tells them apart.
///
/// Bad input: when a or b (or both) is missing, bad or not finite, the pair is refused with the
/// status of the first refused one and MultiInputDecision::refused_inputs says which (bit 0 = a,
/// bit 1 = b), cause = sensor_fault, state unchanged.  The samples are taken to be simultaneous
/// (same scan); time = the later of the two stamps.  sizeof == 3 * sizeof(T) + 8.
template <typename T>
class RedundancyCheck {
 public:
  static constexpr const char* name = "redundancy";
  static constexpr int input_a = 0;
  static constexpr int input_b = 1;

  /// Absolute tolerance > 0 on |a - b| (channel unit).
  explicit RedundancyCheck(T tolerance, int persistence = 1) noexcept
      : scale_(T(1)), threshold_(tolerance), persistence_(persistence) {
    PHYSGUARD_ASSERT(is_finite(tolerance) && tolerance > T(0), "tolerance must be > 0");
    PHYSGUARD_ASSERT(persistence >= 1, "persistence must be >= 1");
  }

  /// Normalised: |a - b| / sqrt(sigma_a^2 + sigma_b^2) > k (noise sigmas in the channel unit).
  RedundancyCheck(T sigma_a, T sigma_b, T k, int persistence = 1) noexcept
      : scale_(std::sqrt(sigma_a * sigma_a + sigma_b * sigma_b)),
        threshold_(k),
        persistence_(persistence) {
    PHYSGUARD_ASSERT(is_finite(sigma_a) && is_finite(sigma_b) && sigma_a >= T(0) &&
                         sigma_b >= T(0) && scale_ > T(0),
                     "noise sigmas must be >= 0 and not both 0");
    PHYSGUARD_ASSERT(is_finite(k) && k > T(0), "k must be > 0");
    PHYSGUARD_ASSERT(persistence >= 1, "persistence must be >= 1");
  }

  MultiInputDecision<T> update(const Sample<T>& a, const Sample<T>& b) noexcept {
    const Timestamp t = a.time < b.time ? b.time : a.time;
    const Status sa = screen(a);
    const Status sb = screen(b);
    MultiInputDecision<T> d;
    d.time = t;
    if (sa != Status::ok || sb != Status::ok) {
      static_cast<Decision<T>&>(d) = refused<T>(sa != Status::ok ? sa : sb, t);
      d.refused_inputs = (sa != Status::ok ? 1u : 0u) | (sb != Status::ok ? 2u : 0u);
      return d;
    }
    const T diff = a.value - b.value;
    d.kind = FindingKind::plausibility;
    d.cause = Cause::suspected_attack;
    d.score = (diff < T(0) ? -diff : diff) / scale_;
    d.threshold = threshold_;
    d.direction = diff > T(0) ? std::int8_t{1} : (diff < T(0) ? std::int8_t{-1} : std::int8_t{0});
    if (d.score > threshold_) {
      if (exceed_run_ < persistence_) ++exceed_run_;
    } else {
      exceed_run_ = 0;
    }
    d.alarm = exceed_run_ >= persistence_;
    last_score_ = d.score;
    return d;
  }

  void reset() noexcept {
    exceed_run_ = 0;
    last_score_ = T(0);
  }

  T statistic() const noexcept { return last_score_; }
  T threshold() const noexcept { return threshold_; }
  /// 1 for an absolute tolerance, sqrt(sigma_a^2 + sigma_b^2) when normalised.
  T scale() const noexcept { return scale_; }
  /// Consecutive pairs above the threshold (saturates at persistence()).
  int exceed_run() const noexcept { return exceed_run_; }
  int persistence() const noexcept { return persistence_; }

 private:
  T scale_;
  T threshold_;
  T last_score_ = T(0);
  int persistence_;
  int exceed_run_ = 0;
};

}  // namespace physguard
