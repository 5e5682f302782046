// Physical primitives: first-order lag, dead time, delay line, tank, rate-limited actuator, ARX —
// simulators against closed forms and straightforward loops, models against simulators, bad
// input refused, no heap.
#include <doctest/doctest.h>

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include <physguard/core.hpp>
#include <physguard/signal/arx.hpp>
#include <physguard/signal/delay_line.hpp>
#include <physguard/signal/first_order_lag.hpp>
#include <physguard/signal/first_order_plus_dead_time.hpp>
#include <physguard/signal/process.hpp>
#include <physguard/signal/rate_limited_actuator.hpp>
#include <physguard/signal/tank.hpp>

#include "support/heap_counter.hpp"

using namespace physguard;

namespace {

template <typename T>
double tol() {
  return std::is_same<T, float>::value ? 2e-5 : 1e-12;
}

template <typename T>
bool bit_identical(T a, T b) {
  return std::memcmp(&a, &b, sizeof a) == 0;
}

constexpr double nan_d = std::numeric_limits<double>::quiet_NaN();
constexpr double inf_d = std::numeric_limits<double>::infinity();

}  // namespace

TEST_CASE_TEMPLATE("FirstOrderLag step response matches K (1 - exp(-t/tau)) with variable dt", T,
                   float, double) {
  const double K = 3.0, tau = 2.5;
  FirstOrderLag<T> lag{T(K), T(tau)};
  CHECK(lag.gain() == T(K));
  CHECK(lag.time_constant_s() == T(tau));
  const double dts[] = {0.01, 0.037, 0.2, 0.005, 1.3};
  double t = 0;
  for (int k = 0; k < 200; ++k) {
    const double dt = dts[k % 5];
    t += dt;
    const T y = lag.step(T(1), T(dt));
    CHECK(lag.status() == Status::ok);
    CHECK(y == lag.output());
    CHECK(double(y) == doctest::Approx(K * (1 - std::exp(-t / tau))).epsilon(100 * tol<T>()));
  }
  // Decay from the reached level with zero input.
  const double y0 = double(lag.output());
  lag.step(T(0), T(tau));
  CHECK(double(lag.output()) == doctest::Approx(y0 * std::exp(-1.0)).epsilon(10 * tol<T>()));
  lag.reset(T(-2));
  CHECK(lag.output() == T(-2));
}

TEST_CASE_TEMPLATE("FirstOrderLag refuses bad input and leaves its output bit-identical", T, float,
                   double) {
  FirstOrderLag<T> lag(T(1), T(1), T(0.3));
  lag.step(T(2), T(0.1));
  const T before = lag.output();
  CHECK(lag.step(T(nan_d), T(0.1)) == before);
  CHECK(lag.status() == Status::not_finite);
  CHECK(lag.step(T(inf_d), T(0.1)) == before);
  CHECK(lag.status() == Status::not_finite);
  CHECK(lag.step(T(1), T(-0.1)) == before);
  CHECK(lag.status() == Status::invalid_argument);
  CHECK(lag.step(T(1), T(nan_d)) == before);
  CHECK(lag.status() == Status::invalid_argument);
  CHECK(bit_identical(lag.output(), before));
  lag.step(T(1), T(0));  // dt = 0 is a valid no-op
  CHECK(lag.status() == Status::ok);
  CHECK(bit_identical(lag.output(), before));
}

TEST_CASE_TEMPLATE("FirstOrderLag model reproduces the simulator", T, float, double) {
  FirstOrderLag<T> lag(T(0.8), T(0.6));
  T x = T(0);
  std::mt19937 rng(7);
  std::uniform_real_distribution<double> U(-1, 1), D(0.001, 0.5);
  for (int k = 0; k < 100; ++k) {
    const T u = T(U(rng)), dt = T(D(rng));
    const auto m = lag.model(dt);
    x = m.A(0, 0) * x + m.B(0, 0) * u;
    lag.step(u, dt);
    CHECK(double(x) == doctest::Approx(double(lag.output())).epsilon(10 * tol<T>()).scale(1e-6));
  }
}

TEST_CASE_TEMPLATE("DelayLine returns the value pushed n samples ago across wrap-around", T, float,
                   double) {
  DelayLine<T, 4> d;
  CHECK(DelayLine<T, 4>::capacity() == 4);
  for (int n = 0; n < 4; ++n) CHECK(d.delayed(n) == T(0));
  for (int k = 1; k <= 11; ++k) {
    d.push(T(k));
    CHECK(d.newest() == T(k));
    for (int n = 0; n < 4; ++n) CHECK(d.delayed(n) == (k - n >= 1 ? T(k - n) : T(0)));
    CHECK(d.oldest() == (k - 3 >= 1 ? T(k - 3) : T(0)));
  }
  d.fill(T(5));
  for (int n = 0; n < 4; ++n) CHECK(d.delayed(n) == T(5));
  d.push(T(9));
  CHECK(d.delayed(0) == T(9));
  CHECK(d.delayed(1) == T(5));
  d.reset();
  CHECK(d.delayed(3) == T(0));
  DelayLine<T, 1> one(T(2));
  one.push(T(3));
  CHECK(one.delayed(0) == T(3));
}

TEST_CASE_TEMPLATE("FOPDT step response starts exactly after the dead time", T, float, double) {
  const double K = 2.0, tau = 1.5, Ts = 0.1, theta = 0.5;
  FirstOrderPlusDeadTime<T, 8> p{T(K), T(tau), T(theta), T(Ts)};
  REQUIRE(p.delay_samples() == 5);
  CHECK(double(p.effective_dead_time_s()) == doctest::Approx(theta).epsilon(1e-6));
  for (int n = 1; n <= 60; ++n) {
    const T y = p.step(T(1));
    if (n <= 5) {
      CHECK(y == T(0));
    } else {
      const double expected = K * (1 - std::exp(-(n * Ts - theta) / tau));
      CHECK(y > T(0));
      CHECK(double(y) == doctest::Approx(expected).epsilon(100 * tol<T>()));
    }
  }
  // Dead time rounding to samples.
  CHECK(FirstOrderPlusDeadTime<T, 8>(T(1), T(1), T(0.54), T(0.1)).delay_samples() == 5);
  CHECK(FirstOrderPlusDeadTime<T, 8>(T(1), T(1), T(0.56), T(0.1)).delay_samples() == 6);
  CHECK(FirstOrderPlusDeadTime<T, 8>(T(1), T(1), T(0), T(0.1)).delay_samples() == 0);
  CHECK(FirstOrderPlusDeadTime<T, 8>(T(1), T(1), T(0.8), T(0.1)).delay_samples() == 8);

  // Without dead time the first step already responds.
  FirstOrderPlusDeadTime<T, 0> nodelay(T(K), T(tau), T(0), T(Ts));
  CHECK(double(nodelay.step(T(1))) ==
        doctest::Approx(K * (1 - std::exp(-Ts / tau))).epsilon(10 * tol<T>()));
}

TEST_CASE_TEMPLATE("FOPDT initial steady state, reset and refused input", T, float, double) {
  FirstOrderPlusDeadTime<T, 4> p(T(2), T(1), T(0.3), T(0.1), T(6));
  for (int k = 0; k < 10; ++k) CHECK(double(p.step(T(3))) == doctest::Approx(6.0).epsilon(tol<T>()));
  p.step(T(5));
  const T before = p.output();
  const auto x_before = p.augmented_state();
  CHECK(p.step(T(nan_d)) == before);
  CHECK(p.status() == Status::not_finite);
  CHECK(bit_identical(p.output(), before));
  CHECK(p.augmented_state() == x_before);  // the delay line did not move
  p.reset(T(1), T(2));
  for (int k = 0; k < 5; ++k) CHECK(double(p.step(T(1))) == doctest::Approx(2.0).epsilon(tol<T>()));
}

TEST_CASE_TEMPLATE("FOPDT augmented model reproduces the simulator", T, float, double) {
  using P = FirstOrderPlusDeadTime<T, 6>;
  static_assert(is_discretisable_process_v<P>, "");
  for (const double theta : {0.0, 0.1, 0.4, 0.6}) {
    P p(T(1.7), T(0.9), T(theta), T(0.1));
    const auto m = p.model();
    CHECK(m.C(0, 0) == T(1));
    CHECK(p.model(T(0)).C == m.C);
    auto x = p.augmented_state();
    std::mt19937 rng(11);
    std::uniform_real_distribution<double> U(-1, 1);
    for (int k = 0; k < 40; ++k) {
      const T u = T(U(rng));
      x = (m.A * x + m.B * u).eval();
      p.step(u);
      const auto xs = p.augmented_state();
      for (int i = 0; i < P::state_dim; ++i)
        CHECK(double(x(i)) == doctest::Approx(double(xs(i))).epsilon(10 * tol<T>()).scale(1e-6));
      CHECK(double((m.C * x)(0)) ==
            doctest::Approx(double(p.output())).epsilon(10 * tol<T>()).scale(1e-6));
    }
  }
  P p(T(1), T(2), T(0.2), T(0.1));
  p.set_process_noise_density(T(0.5));
  const auto Q = p.process_noise();
  CHECK(double(Q(0, 0)) == doctest::Approx(0.5 * 2 / 2 * (1 - std::exp(-2 * 0.1 / 2))).epsilon(10 * tol<T>()));
  CHECK(Q.sum() == Q(0, 0));
}

TEST_CASE_TEMPLATE("RateLimitedActuator: slope, saturation and end stops", T, float, double) {
  RateLimitedActuator<T> valve(T(2), T(0), T(100), T(10));
  CHECK(valve.position() == T(10));
  // Slope: 2 %/s, 0.1 s steps -> 0.2 % per step until the command is reached.
  for (int k = 1; k <= 50; ++k) {
    valve.step(T(30), T(0.1));
    CHECK(valve.rate_limited());
    CHECK_FALSE(valve.saturated());
    CHECK(double(valve.position()) == doctest::Approx(10 + 0.2 * k).epsilon(10 * tol<T>()));
  }
  // Variable dt: the move is rate * dt.
  const double p0 = double(valve.position());
  valve.step(T(30), T(0.35));
  CHECK(double(valve.position()) == doctest::Approx(p0 + 0.7).epsilon(10 * tol<T>()));
  // Arrives and stops exactly at the command.
  for (int k = 0; k < 200; ++k) valve.step(T(30), T(0.1));
  CHECK(valve.position() == T(30));
  CHECK_FALSE(valve.rate_limited());
  // Command beyond the end stop: saturated, stops at 100.
  for (int k = 0; k < 1000; ++k) valve.step(T(150), T(0.1));
  CHECK(valve.saturated());
  CHECK(valve.position() == T(100));
  valve.step(T(-20), T(1));
  CHECK(valve.saturated());
  CHECK(double(valve.position()) == doctest::Approx(98.0).epsilon(tol<T>()));
  valve.step(T(-20), T(100));
  CHECK(valve.position() == T(0));
  // Refused inputs.
  const T before = valve.position();
  valve.step(T(nan_d), T(0.1));
  CHECK(valve.status() == Status::not_finite);
  valve.step(T(50), T(-1));
  CHECK(valve.status() == Status::invalid_argument);
  CHECK(bit_identical(valve.position(), before));
  valve.reset(T(500));
  CHECK(valve.position() == T(100));
}

TEST_CASE_TEMPLATE("Tank: mass balance, overflow and empty", T, float, double) {
  const double area = 2.0;
  Tank<T> tank(T(area), T(0), T(5), T(1));
  CHECK(tank.level_m() == T(1));
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> Q(0, 0.1), D(0.01, 1.0);
  double net_volume = 0;
  for (int k = 0; k < 500; ++k) {
    const double qin = Q(rng), qout = Q(rng), dt = D(rng);
    tank.step(T(qin), T(qout), T(dt));
    net_volume += (qin - qout) * dt;
    REQUIRE(tank.limit() == TankLimit::none);
  }
  const double tol_t = std::is_same<T, float>::value ? 1e-4 : 1e-10;
  CHECK(double(tank.level_m()) == doctest::Approx(1 + net_volume / area).epsilon(tol_t));
  CHECK(double(tank.volume_m3()) == doctest::Approx(area + net_volume).epsilon(tol_t));
  // Overflow: clamps at 5 m and says so.
  tank.step(T(10), T(0), T(10));
  CHECK(tank.level_m() == T(5));
  CHECK(tank.limit() == TankLimit::overflow);
  tank.step(T(0), T(0.2), T(10));  // 2 m^3 out -> 1 m lower
  CHECK(tank.limit() == TankLimit::none);
  CHECK(double(tank.level_m()) == doctest::Approx(4.0).epsilon(tol<T>()));
  tank.step(T(0), T(1), T(100));
  CHECK(tank.level_m() == T(0));
  CHECK(tank.limit() == TankLimit::empty);
  CHECK(std::string(to_string(TankLimit::overflow)) == "overflow");
  // Refused input.
  const T before = tank.level_m();
  tank.step(T(nan_d), T(0), T(1));
  CHECK(tank.status() == Status::not_finite);
  tank.step(T(0), T(inf_d), T(1));
  CHECK(tank.status() == Status::not_finite);
  tank.step(T(1), T(0), T(-1));
  CHECK(tank.status() == Status::invalid_argument);
  CHECK(bit_identical(tank.level_m(), before));
  // Unbounded tank by default.
  Tank<T> big(T(1));
  big.step(T(1e3), T(0), T(1e3));
  CHECK(double(big.level_m()) == doctest::Approx(1e6).epsilon(tol<T>()));
  // Model: h + dt/A (qin - qout); noise q dt.
  tank.set_process_noise_density(T(0.01));
  const auto m = tank.model(T(0.5));
  CHECK(double(m.B(0, 0)) == doctest::Approx(0.25).epsilon(tol<T>()));
  CHECK(double(m.B(0, 1)) == doctest::Approx(-0.25).epsilon(tol<T>()));
  CHECK(double(tank.process_noise(T(0.5))(0, 0)) == doctest::Approx(0.005).epsilon(tol<T>()));
}

namespace {

// Straightforward ARX reference: full arrays, y[k] = -sum a_i y[k-i] + sum b_j u[k-d-j+1] + e[k].
template <int Na, int Nb>
std::vector<double> arx_direct(const double (&a)[Na > 0 ? Na : 1], const double (&b)[Nb > 0 ? Nb : 1],
                               int d, const std::vector<double>& u, const std::vector<double>& e) {
  std::vector<double> y(u.size(), 0.0);
  for (std::size_t k = 0; k < u.size(); ++k) {
    double v = e[k];
    for (int i = 1; i <= Na; ++i)
      if (static_cast<int>(k) - i >= 0) v -= a[i - 1] * y[k - static_cast<std::size_t>(i)];
    for (int j = 1; j <= Nb; ++j) {
      const int idx = static_cast<int>(k) - d - j + 1;
      if (idx >= 0) v += b[j - 1] * u[static_cast<std::size_t>(idx)];
    }
    y[k] = v;
  }
  return y;
}

}  // namespace

TEST_CASE_TEMPLATE("ARX one-step residual recovers the equation error; free run matches a direct loop",
                   T, float, double) {
  const double a[2] = {-1.2, 0.5};
  const double b[2] = {0.3, 0.15};
  const int d = 3;
  const int n = 300;
  std::mt19937 rng(5);
  std::normal_distribution<double> N(0, 1);
  std::vector<double> u(n), e(n), zero(n, 0.0);
  for (int k = 0; k < n; ++k) {
    u[static_cast<std::size_t>(k)] = N(rng);
    e[static_cast<std::size_t>(k)] = 0.1 * N(rng);
  }
  const auto y = arx_direct<2, 2>(a, b, d, u, e);
  const auto y_free = arx_direct<2, 2>(a, b, d, u, zero);

  using Arx = ArxModel<T, 2, 2, 4>;
  Arx model({T(a[0]), T(a[1])}, {T(b[0]), T(b[1])}, d);
  Arx sim = model;
  CHECK(model.input_delay_samples() == 3);
  const double t = std::is_same<T, float>::value ? 1e-4 : 1e-11;
  for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k) {
    const T r = model.step(T(y[k]), T(u[k]));
    CHECK(model.status() == Status::ok);
    CHECK(double(r) == doctest::Approx(e[k]).epsilon(t).scale(1.0));
    CHECK(double(sim.simulate(T(u[k]))) == doctest::Approx(y_free[k]).epsilon(t).scale(1.0));
  }
  CHECK(model.past_output(0) == T(y[n - 1]));
  CHECK(model.past_input(2) == T(u[n - 3]));
  // Refused input: history unchanged.
  const T p = model.predict();
  CHECK(std::isnan(double(model.step(T(nan_d), T(0)))));
  CHECK(model.status() == Status::not_finite);
  CHECK(bit_identical(model.predict(), p));
  // Static gain: a long constant input converges to static_gain() * u.
  const double g = (b[0] + b[1]) / (1 + a[0] + a[1]);
  CHECK(double(model.static_gain()) == doctest::Approx(g).epsilon(tol<T>()));
  sim.reset();
  T last = T(0);
  for (int k = 0; k < 400; ++k) last = sim.simulate(T(2));
  CHECK(double(last) == doctest::Approx(2 * g).epsilon(1e-4));
  // Steady-state reset.
  sim.reset(T(2 * g), T(2));
  CHECK(double(sim.simulate(T(2))) == doctest::Approx(2 * g).epsilon(10 * tol<T>()));
}

TEST_CASE_TEMPLATE("AR model residual recovers the innovation", T, float, double) {
  const double a[2] = {-0.9, 0.2};
  const double b[1] = {0.0};
  std::mt19937 rng(9);
  std::normal_distribution<double> N(0, 1);
  const int n = 200;
  std::vector<double> u(n, 0.0), e(n);
  for (auto& v : e) v = N(rng);
  const auto y = arx_direct<2, 0>(a, b, 1, u, e);
  ArModel<T, 2> ar({T(a[0]), T(a[1])});
  const double t = std::is_same<T, float>::value ? 1e-4 : 1e-11;
  for (std::size_t k = 0; k < static_cast<std::size_t>(n); ++k)
    CHECK(double(ar.step(T(y[k]))) == doctest::Approx(e[k]).epsilon(t).scale(1.0));
}

TEST_CASE_TEMPLATE("primitives' per-sample paths do not touch the heap", T, float, double) {
  FirstOrderLag<T> lag(T(1), T(1));
  FirstOrderPlusDeadTime<T, 8> fopdt(T(1), T(2), T(0.5), T(0.1));
  Tank<T> tank(T(1), T(0), T(10), T(5));
  RateLimitedActuator<T> valve(T(1), T(0), T(100), T(0));
  ArxModel<T, 2, 2, 3> arx({T(-0.5), T(0.1)}, {T(1), T(0.5)}, 2);
  DelayLine<T, 16> line;
  T acc = T(0);
  physguard_test::HeapCounter heap;
  {
    NoMallocScope no_malloc;
    for (int k = 0; k < 1000; ++k) {
      const T u = T(k % 7) * T(0.1);
      acc += lag.step(u, T(0.01)) + fopdt.step(u) + tank.step(u, T(0.3), T(0.01)) +
             valve.step(u * T(100), T(0.1)) + arx.step(u, u);
      line.push(u);
      acc += line.delayed(k % 16);
      const auto m1 = lag.model(T(0.01));
      const auto m2 = fopdt.model();
      const auto m3 = tank.model(T(0.01));
      acc += m1.A(0, 0) + m2.A(0, 0) + m3.B(0, 0) + fopdt.process_noise()(0, 0) +
             fopdt.augmented_state()(3);
    }
  }
  CHECK(heap.count() == 0);
  CHECK(is_finite(acc));
}
