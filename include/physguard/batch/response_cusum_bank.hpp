// physguard/batch/response_cusum_bank.hpp - command -> process-variable response models (first
// order plus dead time) with a CUSUM on the normalised residual, many channels in one fused loop.
#pragma once

#include <cmath>
#include <cstddef>
#include <cstdint>
#include <limits>

#include "../core/config.hpp"
#include "../core/finding.hpp"
#include "../core/numeric.hpp"
#include "../core/status.hpp"
#include "../core/time.hpp"
#include "detail/bank_support.hpp"
#include "simd.hpp"

namespace physguard {
namespace batch {

/// Parameters of one channel of a ResponseCusumBank (input unit, PV unit, seconds).
template <typename T>
struct ResponseCusumChannel {
  T gain = T(1);             ///< K, PV units per input unit
  T time_constant_s = T(1);  ///< tau > 0
  T dead_time_s = T(0);      ///< theta >= 0, rounded to whole sample periods (<= MaxDelaySamples)
  T noise_sigma = T(1);      ///< PV noise standard deviation, > 0
  T bias = T(0);             ///< constant offset PV - model (ResponseModelParams::initial_bias)
  T cusum_k = T(0.5);
  T cusum_h = T(5);
};

/// Bank-wide settings of a ResponseCusumBank.
template <typename T>
struct ResponseCusumSettings {
  T sample_period_s = T(1);       ///< Ts: step() is called once per period
  int max_catch_up_samples = 10;  ///< more periods without an accepted scan: gap, re-align
  bool assume_steady_start = false;
  Cause cause_on_alarm = Cause::suspected_attack;
};

/// Structure-of-arrays storage of a ResponseCusumBank<T, MaxDelaySamples>.
template <typename T>
struct ResponseCusumArrays {
  // parameters
  T* gain = nullptr;
  T* one_minus_a = nullptr;  ///< 1 - exp(-Ts / tau)
  T* sigma = nullptr;
  T* bias = nullptr;
  T* k = nullptr;
  T* h = nullptr;
  std::int32_t* delay = nullptr;  ///< dead time in samples
  // state
  T* y = nullptr;            ///< model output
  T* input = nullptr;        ///< input held since the last accepted scan
  T* since = nullptr;        ///< periods since the last accepted scan (alignment)
  T* upper = nullptr;
  T* lower = nullptr;
  T* ring = nullptr;         ///< past inputs, (MaxDelaySamples + 1) slots x channels
  std::uint8_t* initialised = nullptr;
  std::uint8_t* alarm = nullptr;
  std::uint32_t* refused = nullptr;
};

/// First-order-plus-dead-time response check with CUSUM for many channels: per channel exactly
/// what ResponseModelChecker<T, MaxDelaySamples, CusumDetector<T>> followed by a default
/// AlarmLogic gives (bias tracking off, a constant `bias` allowed), when the bank is stepped once
/// per sample period Ts:
///
///     y_model[k+1] = a y_model[k] + K (1 - a) u[k - d],   r = (pv - y_model - bias) / sigma,
///     CUSUM on r, alarm when max(S+, S-) > h      (kind command_response, "response_model")
///
/// Every step advances each initialised channel's model by one period with the input of its last
/// accepted scan held -- which is what the scalar checker does when it catches up n periods at
/// its next accepted scan, so missing (mask 0) and refused scans give identical results.  The
/// first accepted scan, and one after more than max_catch_up_samples periods, aligns the model
/// (steady state at K u when pv is within 3 sigma of it, else at pv - bias) and tests nothing
/// (status ok / gap).  A NaN in the input or the PV is refused (bad_input finding, refused() + 1).
/// The delay line is one ring of MaxDelaySamples + 1 slots shared by all channels (one common
/// head), each channel reading its own delay from it.
template <typename T, int MaxDelaySamples, typename B = Batch<T>>
class ResponseCusumBank : public detail::BankBase<ResponseCusumBank<T, MaxDelaySamples, B>, T, B,
                                                 ResponseCusumArrays<T>> {
  static_assert(MaxDelaySamples >= 0, "MaxDelaySamples must be >= 0");
  using Base =
      detail::BankBase<ResponseCusumBank<T, MaxDelaySamples, B>, T, B, ResponseCusumArrays<T>>;

 public:
  using Scalar = T;
  using batch_type = B;
  using Arrays = ResponseCusumArrays<T>;
  using Channel = ResponseCusumChannel<T>;
  using Settings = ResponseCusumSettings<T>;
  static constexpr const char* name = "response_model";
  static constexpr int slots = MaxDelaySamples + 1;

  /// The arrays in storage order: visit(pointer, elements per channel).
  template <typename Visit>
  static void for_each_array(Arrays& a, Visit&& visit) {
    T** fields[] = {&a.gain, &a.one_minus_a, &a.sigma, &a.bias, &a.k, &a.h,
                    &a.y, &a.input, &a.since, &a.upper, &a.lower};
    for (T** f : fields) visit(*f, 1);
    visit(a.delay, 1);
    visit(a.ring, static_cast<std::size_t>(slots));
    visit(a.initialised, 1);
    visit(a.alarm, 1);
    visit(a.refused, 1);
  }

  ResponseCusumBank(std::size_t channels, const Arrays& arrays, const Settings& settings,
                    std::size_t first_channel = 0, std::uint16_t detector_id = 0)
      : Base(channels, arrays, first_channel, detector_id), settings_(settings) {
    PHYSGUARD_ASSERT(is_finite(settings.sample_period_s) && settings.sample_period_s > T(0),
                     "sample period must be > 0");
    PHYSGUARD_ASSERT(settings.max_catch_up_samples >= 1, "max catch-up samples must be >= 1");
    for (std::size_t i = 0; i < this->n_; ++i) configure(i, Channel{});
  }

  /// Sets channel i's parameters and resets it (the next accepted scan aligns the model).
  void configure(std::size_t i, const Channel& c) noexcept {
    PHYSGUARD_ASSERT(i < this->n_, "channel index out of range");
    PHYSGUARD_ASSERT(is_finite(c.gain), "gain must be finite");
    PHYSGUARD_ASSERT(is_finite(c.time_constant_s) && c.time_constant_s > T(0),
                     "time constant must be > 0");
    PHYSGUARD_ASSERT(is_finite(c.noise_sigma) && c.noise_sigma > T(0), "noise sigma must be > 0");
    PHYSGUARD_ASSERT(is_finite(c.dead_time_s) && c.dead_time_s >= T(0), "dead time must be >= 0");
    Arrays& a = this->arr_;
    const T ts = settings_.sample_period_s;
    const T samples = std::round(c.dead_time_s / ts);  // as FirstOrderPlusDeadTime
    PHYSGUARD_ASSERT(samples <= T(MaxDelaySamples), "dead time exceeds MaxDelaySamples periods");
    a.gain[i] = c.gain;
    a.one_minus_a[i] = -std::expm1(-ts / c.time_constant_s);
    a.sigma[i] = c.noise_sigma;
    a.bias[i] = c.bias;
    detail::configure_cusum(a, i, c.cusum_k, c.cusum_h);
    a.delay[i] = static_cast<std::int32_t>(samples);
    a.y[i] = T(0);
    a.input[i] = T(0);
    a.since[i] = T(0);
    for (int s = 0; s < slots; ++s) slot(s)[i] = T(0);
    a.initialised[i] = 0;
    a.alarm[i] = 0;
    a.refused[i] = 0;
  }

  /// One scan (one sample period) at time t: input[i] (setpoint / command) and pv[i] (measured
  /// process variable) of channel i; present[i] != 0 when channel i was scanned (null: all).
  template <typename Sink>
  Status step(Timestamp t, const T* input, const T* pv, const std::uint8_t* present, Sink&& sink) {
    Status status;
    if (!this->begin_scan(t, status)) return status;
    head_ = head_ + 1 == slots ? 0 : head_ + 1;
    detail::with_flags(
        [&](auto has_mask) {
          this->scan([&](const Arrays& arr, std::size_t i, auto tag)
                         PHYSGUARD_BATCH_LAMBDA_INLINE {
                           lanes_at<typename decltype(tag)::type, decltype(has_mask)::value>(
                               arr, i, t, input, pv, present, sink);
                         });
        },
        present != nullptr);
    return Status::ok;
  }

  T model_output(std::size_t i) const noexcept { return this->arr_.y[i]; }
  T cusum_upper(std::size_t i) const noexcept { return this->arr_.upper[i]; }
  T cusum_lower(std::size_t i) const noexcept { return this->arr_.lower[i]; }
  bool in_alarm(std::size_t i) const noexcept { return this->arr_.alarm[i] != 0; }
  bool initialised(std::size_t i) const noexcept { return this->arr_.initialised[i] != 0; }
  int delay_samples(std::size_t i) const noexcept { return this->arr_.delay[i]; }
  const Settings& settings() const noexcept { return settings_; }

 private:
  T* slot(int s) const noexcept { return this->arr_.ring + static_cast<std::size_t>(s) * this->n_; }

  template <typename V, bool HasMask, typename Sink>
  PHYSGUARD_BATCH_INLINE void lanes_at(const Arrays& arr, std::size_t i, Timestamp t,
                                       const T* input, const T* pv, const std::uint8_t* present,
                                       Sink& sink) {
    using M = mask_t<V>;
    constexpr std::size_t L = lanes<V>();
    const V zero(T(0));
    const std::size_t n = this->n_;

    // model: one period with the held input (FirstOrderPlusDeadTime::step); the delay line is
    // one ring shared by all channels, each channel reading its own delay
    const V held = load<V>(arr.input + i);
    store(held, arr.ring + static_cast<std::size_t>(head_) * n + i);
    T delayed_lanes[L];
    for (std::size_t j = 0; j < L; ++j) {
      int s = head_ - arr.delay[i + j];
      if (s < 0) s += slots;
      delayed_lanes[j] = arr.ring[static_cast<std::size_t>(s) * n + i + j];
    }
    const V gain = load<V>(arr.gain + i);
    const V y0 = load<V>(arr.y + i);
    const V y = y0 + (gain * load<V>(delayed_lanes) - y0) * load<V>(arr.one_minus_a + i);

    // the scan: residual and CUSUM (ResponseModelChecker with bias tracking off)
    const V u = load<V>(input + i);
    const V p = load<V>(pv + i);
    const V since = load<V>(arr.since + i) + V(T(1));
    const V zn = ((p - y) - load<V>(arr.bias + i)) / load<V>(arr.sigma + i);
    const auto cu = detail::cusum_step(arr, i, zn);
    const V h = cu.limit;
    const V up0 = cu.upper0;
    const V lo0 = cu.lower0;
    const V max_since(static_cast<T>(settings_.max_catch_up_samples));

    // The common case: every lane initialised, scanned, finite (u, and the residual, hence pv),
    // within the catch-up limit and without alarm before or after: a tested scan, no finding.
    const V probe = detail::finite_probe(u, zn);
    if (all(probe + batch::max(cu.score - h, since - max_since) <= zero) &&
        detail::none_zero<L>(arr.initialised + i) && detail::all_zero<L>(arr.alarm + i) &&
        (!HasMask || detail::none_zero<L>(present + i))) {
      store(cu.upper, arr.upper + i);
      store(cu.lower, arr.lower + i);
      store(y, arr.y + i);
      store(u, arr.input + i);
      store(zero, arr.since + i);
      return;
    }

    // The general case.
    const M init = load_flags<V>(arr.initialised + i);
    const M sampled = HasMask ? load_flags<V>(present + i) : true_mask<V>();
    const M in_ok = finite(u) && finite(p);
    const M accepted = sampled && in_ok;
    const M gap = init && since > max_since;
    const M align = accepted && (!init || gap);
    const M tested = accepted && !align && finite(zn);
    const M taken = tested || align;
    store(select(tested, cu.upper, up0), arr.upper + i);
    store(select(tested, cu.lower, lo0), arr.lower + i);
    const M alarm = tested && (cu.score > h);
    // commit: model advanced for initialised channels; accepted scans take the new input
    store(select(init, y, y0), arr.y + i);
    store(select(taken, u, held), arr.input + i);
    store(select(taken, zero, since), arr.since + i);
    if (any(align)) align_lanes(i, align, input, pv);

    // alignment decisions carry alarm = false: an active alarm clears (score 0, status ok or gap)
    this->alarm_logic(
        t, i, sampled, taken, load_flags<V>(arr.alarm + i), alarm, cu.score, h, sink,
        FindingKind::command_response, settings_.cause_on_alarm,
        [&](int l) { return in_ok[l] ? Status::numerical_failure : Status::not_finite; },
        [&](auto& ev) {
          for (std::size_t j = 0; j < L; ++j) {
            if (!align[static_cast<int>(j)]) continue;
            ev.score[j] = T(0);
            if (gap[static_cast<int>(j)]) ev.status[j] = Status::gap;
          }
        });
  }

  /// First accepted scan (or one after a gap): the model starts in steady state at K u when pv is
  /// within 3 sigma of it, else at pv - bias; the delay line is filled with u.
  template <typename M>
  PHYSGUARD_BATCH_COLD void align_lanes(std::size_t i, const M& align, const T* input,
                                        const T* pv) {
    Arrays& a = this->arr_;
    for (std::size_t j = 0; j < static_cast<std::size_t>(M::size()); ++j) {
      if (!align[static_cast<int>(j)]) continue;
      const std::size_t c = i + j;
      const T uc = input[c];
      const T pc = pv[c];
      const T steady = a.gain[c] * uc;
      const T diff = pc - a.bias[c] - steady;
      const bool near = (diff < T(0) ? -diff : diff) <= T(3) * a.sigma[c];
      for (int s = 0; s < slots; ++s) slot(s)[c] = uc;
      a.y[c] = settings_.assume_steady_start || near ? steady : pc - a.bias[c];
      a.initialised[c] = 1;
    }
  }

  Settings settings_;
  int head_ = 0;
};

}  // namespace batch
}  // namespace physguard
