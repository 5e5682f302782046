// physguard/compose/sources.hpp - residual sources: map a pipeline's input to a statistic's input.
#pragma once

#include "../core/config.hpp"
#include "../core/numeric.hpp"
#include "../core/sample.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"

namespace physguard {

/// What a residual source hands to the statistic: the value, its time and whether it may be used.
/// When `status` is not used (is_used() false) the statistic is not called and the pipeline
/// reports a bad_input finding.
template <typename V>
struct SourceResult {
  Timestamp time{};
  Status status = Status::ok;
  V value{};
};

// A residual source is any type with
//   using input_type = ...;   // what the pipeline is fed (Sample<T>, Innovation<T,Nz>, ...)
//   using value_type = ...;   // what the statistic's update() takes
//   SourceResult<value_type> update(const input_type&);                // required
//   SourceResult<value_type> update(const input_type&, bool adapt);    // optional: told whether
//                                                                      // it may adapt (not in alarm)

/// The sample's value after the first-line screen (missing, bad quality, not finite are refused).
/// For statistics on a raw signal (Page-Hinkley with a learned baseline).
template <typename T>
struct SampleValue {
  using input_type = Sample<T>;
  using value_type = T;

  SourceResult<T> update(const Sample<T>& s) const noexcept {
    SourceResult<T> r;
    r.time = s.time;
    r.status = screen(s);
    if (r.status == Status::ok) r.value = s.value;
    return r;
  }
};

/// z = (x - mean) / sigma of a screened sample: a normalised residual against a known operating
/// point, for CUSUM, EWMA or the threshold test on a raw channel.  sigma > 0, in x's units.
template <typename T>
class StandardizedSample {
 public:
  using input_type = Sample<T>;
  using value_type = T;

  StandardizedSample(T mean, T sigma) noexcept : mean_(mean), inv_sigma_(T(1) / sigma) {
    PHYSGUARD_ASSERT(is_finite(mean), "mean must be finite");
    PHYSGUARD_ASSERT(is_finite(sigma) && sigma > T(0), "sigma must be > 0");
  }

  SourceResult<T> update(const Sample<T>& s) const noexcept {
    SourceResult<T> r;
    r.time = s.time;
    r.status = screen(s);
    if (r.status == Status::ok) r.value = (s.value - mean_) * inv_sigma_;
    return r;
  }

  T mean() const noexcept { return mean_; }
  T sigma() const noexcept { return T(1) / inv_sigma_; }

 private:
  T mean_;
  T inv_sigma_;
};

/// Hands the input through unchanged (time from `input.time`): for checks that take the whole
/// record themselves (plausibility checks on Sample<T>, command/feedback pairs).  The check does
/// its own screening, so the status is always ok here.
template <typename In>
struct PassThrough {
  using input_type = In;
  using value_type = In;

  SourceResult<In> update(const In& in) const noexcept {
    SourceResult<In> r;
    r.time = in.time;
    r.value = in;
    return r;
  }
};

}  // namespace physguard
