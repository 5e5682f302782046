// Analog channel conditioning: every NAMUR NE43 band boundary, non-finite currents, engineering
// conversion, findings; ADC quantiser round trip, saturation and quantisation noise.
#include <doctest/doctest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <set>
#include <string>
#include <type_traits>

#include <physguard/core.hpp>
#include <physguard/signal/analog.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

template <typename T>
T up(T v) {
  return std::nextafter(v, std::numeric_limits<T>::infinity());
}
template <typename T>
T down(T v) {
  return std::nextafter(v, -std::numeric_limits<T>::infinity());
}

template <typename T>
double tol() {
  return std::is_same<T, float>::value ? 1e-5 : 1e-12;
}

}  // namespace

TEST_CASE_TEMPLATE("CurrentLoopInput classifies every NE43 band boundary", T, float, double) {
  const CurrentLoopInput<T> loop(T(0), T(10));
  struct Case {
    T mA;
    LoopFault fault;
    Quality quality;
    Status status;
    Cause cause;
  };
  const T f_lo = T(3.6), m_lo = T(3.8), r_lo = T(4.0), r_hi = T(20.0), m_hi = T(20.5),
          f_hi = T(21.0);
  const Case cases[] = {
      {T(-1), LoopFault::wire_break, Quality::bad, Status::out_of_range, Cause::sensor_fault},
      {T(0), LoopFault::wire_break, Quality::bad, Status::out_of_range, Cause::sensor_fault},
      {f_lo, LoopFault::wire_break, Quality::bad, Status::out_of_range, Cause::sensor_fault},
      {up(f_lo), LoopFault::ambiguous_low, Quality::bad, Status::out_of_range, Cause::sensor_fault},
      {T(3.7), LoopFault::ambiguous_low, Quality::bad, Status::out_of_range, Cause::sensor_fault},
      {down(m_lo), LoopFault::ambiguous_low, Quality::bad, Status::out_of_range,
       Cause::sensor_fault},
      {m_lo, LoopFault::under_range, Quality::uncertain, Status::ok, Cause::unknown},
      {T(3.9), LoopFault::under_range, Quality::uncertain, Status::ok, Cause::unknown},
      {down(r_lo), LoopFault::under_range, Quality::uncertain, Status::ok, Cause::unknown},
      {r_lo, LoopFault::none, Quality::good, Status::ok, Cause::unknown},
      {T(12), LoopFault::none, Quality::good, Status::ok, Cause::unknown},
      {r_hi, LoopFault::none, Quality::good, Status::ok, Cause::unknown},
      {up(r_hi), LoopFault::over_range, Quality::uncertain, Status::ok, Cause::unknown},
      {m_hi, LoopFault::over_range, Quality::uncertain, Status::ok, Cause::unknown},
      {up(m_hi), LoopFault::ambiguous_high, Quality::bad, Status::out_of_range,
       Cause::sensor_fault},
      {down(f_hi), LoopFault::ambiguous_high, Quality::bad, Status::out_of_range,
       Cause::sensor_fault},
      {f_hi, LoopFault::short_circuit, Quality::bad, Status::out_of_range, Cause::sensor_fault},
      {T(30), LoopFault::short_circuit, Quality::bad, Status::out_of_range, Cause::sensor_fault},
  };
  for (const Case& c : cases) {
    CAPTURE(c.mA);
    const auto r = loop.convert(c.mA, Timestamp::from_ms(5));
    CHECK(r.fault == c.fault);
    CHECK(loop.classify(c.mA) == c.fault);
    CHECK(r.sample.quality == c.quality);
    CHECK(r.status == c.status);
    CHECK(r.cause == c.cause);
    CHECK(r.current_mA == c.mA);
    CHECK(r.sample.time == Timestamp::from_ms(5));
    // The value is always the linear conversion of a finite current.
    CHECK(double(r.sample.value) ==
          doctest::Approx((double(c.mA) - 4.0) / 16.0 * 10.0).epsilon(tol<T>()).scale(1.0));
    // screen() lets exactly the good and uncertain readings through.
    CHECK((screen(r.sample) == Status::ok) == (c.status == Status::ok));
  }
}

TEST_CASE_TEMPLATE("CurrentLoopInput refuses NaN and infinite currents", T, float, double) {
  const CurrentLoopInput<T> loop(T(-50), T(150));
  for (const T v : {std::numeric_limits<T>::quiet_NaN(), std::numeric_limits<T>::infinity(),
                    -std::numeric_limits<T>::infinity()}) {
    const auto r = loop.convert(v);
    CHECK(r.fault == LoopFault::not_finite);
    CHECK(r.sample.quality == Quality::bad);
    CHECK(r.status == Status::not_finite);
    CHECK(r.cause == Cause::sensor_fault);
    CHECK(std::isnan(double(r.sample.value)));
    CHECK(screen(r.sample) != Status::ok);
  }
}

TEST_CASE_TEMPLATE("CurrentLoopInput engineering conversion, inverse and reversed range", T, float,
                   double) {
  const CurrentLoopInput<T> loop(T(-50), T(150));
  CHECK(double(loop.convert(T(4)).sample.value) == doctest::Approx(-50).epsilon(tol<T>()));
  CHECK(double(loop.convert(T(20)).sample.value) == doctest::Approx(150).epsilon(tol<T>()));
  CHECK(double(loop.convert(T(12)).sample.value) == doctest::Approx(50).epsilon(tol<T>()));
  // 3.8 mA is 1.25 % of span below range_low; 20.5 mA 3.125 % above range_high.
  CHECK(double(loop.convert(T(3.8)).sample.value) == doctest::Approx(-52.5).epsilon(1e-5));
  CHECK(double(loop.convert(T(20.5)).sample.value) == doctest::Approx(156.25).epsilon(1e-5));
  for (double v = -50; v <= 150; v += 12.5)
    CHECK(double(loop.to_engineering(loop.to_current_mA(T(v)))) ==
          doctest::Approx(v).epsilon(tol<T>()).scale(1.0));
  const CurrentLoopInput<T> reversed(T(100), T(0));
  CHECK(double(reversed.convert(T(4)).sample.value) == doctest::Approx(100).epsilon(tol<T>()));
  CHECK(double(reversed.convert(T(8)).sample.value) == doctest::Approx(75).epsilon(tol<T>()));
  // Custom bands (a transmitter whose failure current is 3.5 mA / 22 mA).
  LoopBands<T> bands;
  bands.failure_low_mA = T(3.5);
  bands.failure_high_mA = T(22);
  const CurrentLoopInput<T> custom(T(0), T(1), bands);
  CHECK(custom.classify(T(3.55)) == LoopFault::ambiguous_low);
  CHECK(custom.classify(T(21.5)) == LoopFault::ambiguous_high);
  CHECK(custom.classify(T(22)) == LoopFault::short_circuit);
}

TEST_CASE("LoopFault names and findings") {
  std::set<std::string> names;
  for (int i = 0; i <= static_cast<int>(LoopFault::not_finite); ++i) {
    const std::string s = to_string(static_cast<LoopFault>(i));
    CHECK(s != "unknown");
    names.insert(s);
  }
  CHECK(names.size() == 8);
  CHECK(std::string(to_string(LoopFault::wire_break)) == "wire_break");

  const CurrentLoopInput<double> loop(0, 10);
  const auto r = loop.convert(1.0, Timestamp::from_ms(42));
  const Finding<double> f = make_finding(r, loop.bands(), 7);
  CHECK(f.kind == FindingKind::bad_input);
  CHECK(f.cause == Cause::sensor_fault);
  CHECK(f.status == Status::out_of_range);
  CHECK(f.state == AlarmState::alarm);
  CHECK(f.channel == 7);
  CHECK(f.time == Timestamp::from_ms(42));
  CHECK(f.score == 1.0);
  CHECK(f.threshold == 3.6);
  CHECK(std::string(f.detector) == "current_loop");
  const Finding<double> g = make_finding(loop.convert(20.2), loop.bands());
  CHECK(g.state == AlarmState::warning);
  CHECK(g.cause == Cause::unknown);
  CHECK(g.threshold == 20.0);
}

TEST_CASE_TEMPLATE("AdcQuantiser round trip, saturation and noise variance", T, float, double) {
  const AdcQuantiser<T> adc(12, T(-10), T(10));
  const double step = 20.0 / 4095.0;
  CHECK(adc.max_code() == 4095u);
  CHECK(adc.bits() == 12);
  CHECK(double(adc.step_size()) == doctest::Approx(step).epsilon(tol<T>()));
  CHECK(double(adc.noise_variance()) == doctest::Approx(step * step / 12).epsilon(10 * tol<T>()));
  // Every code maps to a value and back to itself.
  for (std::uint32_t c = 0; c <= adc.max_code(); ++c) {
    const auto back = adc.to_code(adc.to_value(c));
    REQUIRE(back.code == c);
    CHECK_FALSE(back.saturated);
  }
  CHECK(adc.to_value(0) == T(-10));
  CHECK(adc.to_value(4095) == T(10));
  // Values inside the range round to within half a step; the error has variance step^2 / 12.
  const int n = 200000;
  double sum2 = 0, worst = 0;
  for (int i = 0; i < n; ++i) {
    const double v = -10.0 + 20.0 * (i + 0.5) / n;
    const double err = double(adc.quantise(T(v))) - double(T(v));
    worst = std::max(worst, std::abs(err));
    sum2 += err * err;
  }
  // Half a step, plus the rounding of values near full scale in T (a few ulp of 10).
  CHECK(worst <= step / 2 + 4 * 10 * double(std::numeric_limits<T>::epsilon()));
  CHECK(sum2 / n == doctest::Approx(step * step / 12).epsilon(0.01));
  // Saturation and non-finite values.
  auto c = adc.to_code(T(12));
  CHECK(c.code == 4095u);
  CHECK(c.saturated);
  CHECK(c.status == Status::ok);
  c = adc.to_code(T(-10.5));
  CHECK(c.code == 0u);
  CHECK(c.saturated);
  c = adc.to_code(T(10));
  CHECK(c.code == 4095u);
  CHECK_FALSE(c.saturated);
  c = adc.to_code(std::numeric_limits<T>::quiet_NaN());
  CHECK(c.status == Status::not_finite);
  c = adc.to_code(std::numeric_limits<T>::infinity());
  CHECK(c.status == Status::not_finite);
  // Codes as samples.
  CHECK(adc.to_sample(2048).quality == Quality::good);
  CHECK(adc.to_sample(0).quality == Quality::uncertain);
  CHECK(adc.to_sample(4095).quality == Quality::uncertain);
  CHECK(adc.to_sample(5000).quality == Quality::bad);
  CHECK(adc.to_sample(17, Timestamp::from_us(3)).time == Timestamp::from_us(3));
  // A 1-bit and a 16-bit converter.
  const AdcQuantiser<T> one(1, T(0), T(5));
  CHECK(one.to_code(T(2.4)).code == 0u);
  CHECK(one.to_code(T(2.6)).code == 1u);
  const AdcQuantiser<T> sixteen(16, T(0), T(1));
  CHECK(sixteen.to_code(T(0.5)).code == 32768u);  // 0.5 * 65535 = 32767.5 rounds up
}

TEST_CASE_TEMPLATE("analog conversion does not touch the heap", T, float, double) {
  const CurrentLoopInput<T> loop(T(0), T(100));
  const AdcQuantiser<T> adc(16, T(0), T(24));
  T acc = T(0);
  int bad = 0;
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (std::uint32_t code = 0; code < 65536u; code += 7) {
      const auto r = loop.convert(adc.to_value(code), Timestamp::from_us(code));
      if (r.sample.quality == Quality::bad) ++bad;
      else acc += r.sample.value;
    }
  }
  CHECK(heap.count() == 0);
  CHECK(bad > 0);
  CHECK(is_finite(acc));
}
