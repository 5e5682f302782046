// ResponseCusumBank (batch/) against ResponseModelChecker + AlarmLogic per channel.
#include <doctest/doctest.h>

#include "support/bank_compare.hpp"

// =================================================================================================
// 3. first-order-plus-dead-time response model + CUSUM
// =================================================================================================

TEST_CASE_TEMPLATE("ResponseCusumBank equals ResponseModelChecker + AlarmLogic per channel", C,
                   PHYSGUARD_BANK_CONFIGS) {
  using T = typename C::T;
  constexpr int D = 6;
  using Bank = batch::ResponseCusumBank<T, D, typename C::B>;
  using Checker = ResponseModelChecker<T, D>;
  const std::size_t N = batch::lanes<typename C::B>() + 2;
  const T ts = T(0.1);
  const int steps = 500;
  typename Bank::Settings settings;
  settings.sample_period_s = ts;
  settings.max_catch_up_samples = 3;
  batch::Owning<Bank> bank(N, settings);
  std::vector<Checker> ref;
  std::vector<AlarmLogic<T>> logic(N);
  StreamGen<T> g(4242);
  std::vector<FirstOrderPlusDeadTime<T, D>> plant;
  std::vector<double> sigma(N), cmd(N);
  for (std::size_t i = 0; i < N; ++i) {
    typename Bank::Channel ch;
    ch.gain = T(0.5 + g.u());
    ch.time_constant_s = T(0.3 + g.u());
    ch.dead_time_s = T(0.1 * static_cast<double>(i % (D + 1)));
    ch.noise_sigma = T(0.02 + 0.05 * g.u());
    ch.bias = T(i % 2 ? 0.0 : 0.01);
    ch.cusum_k = T(0.5);
    ch.cusum_h = T(5);
    bank.configure(i, ch);
    ResponseModelParams<T> p;
    p.gain = ch.gain;
    p.time_constant_s = ch.time_constant_s;
    p.dead_time_s = ch.dead_time_s;
    p.sample_period_s = ts;
    p.noise_sigma = ch.noise_sigma;
    p.initial_bias = ch.bias;
    p.max_catch_up_samples = settings.max_catch_up_samples;
    ref.emplace_back(p, CusumDetector<T>(ch.cusum_k, ch.cusum_h));
    plant.emplace_back(ch.gain, ch.time_constant_s, ch.dead_time_s, ts);
    sigma[i] = double(ch.noise_sigma);
    cmd[i] = 2.0 * g.u();
    CHECK(bank.delay_samples(i) == ref.back().model().delay_samples());
  }
  std::vector<T> u(N), pv(N);
  std::vector<std::uint8_t> present(N);
  std::vector<Recorded<T>> from_bank, from_scalar;
  UlpTracker ulp;
  Tally tally;
  for (int s = 1; s <= steps; ++s) {
    const Timestamp t = Timestamp::from_ms(100 * s);
    for (std::size_t i = 0; i < N; ++i) {
      if (g.u() < 0.03) cmd[i] = 2.0 * g.u();
      u[i] = T(cmd[i]);
      const double y = double(plant[i].step(u[i]));
      // a PV offset (falsified PV) on some channels between scans 200 and 300
      const double attack = (i % 3 == 1 && s > 200 && s < 300) ? 6.0 * sigma[i] : 0.0;
      pv[i] = g.corrupt(T(y + (i % 2 ? 0.0 : 0.01) + attack + sigma[i] * g.n()));
      // mostly present; channel 0 loses 5 scans in a row once (gap, re-alignment)
      present[i] = (g.u() < 0.05 || (i == 0 && s > 320 && s <= 325)) ? 0 : 1;
    }
    from_bank.clear();
    from_scalar.clear();
    REQUIRE(bank.step(t, u.data(), pv.data(), present.data(), VectorSink<T>{&from_bank}) ==
            Status::ok);
    for (std::size_t i = 0; i < N; ++i) {
      if (!present[i]) continue;
      const auto d = ref[i].update(t, u[i], pv[i]);
      const AlarmOutput o = logic[i].update(d);
      if (!o.changed) continue;
      Finding<T> f = d.to_finding(static_cast<std::uint16_t>(i), Checker::name, o.state);
      f.status = o.status;
      f.kind = is_used(o.status) ? d.kind : FindingKind::bad_input;
      from_scalar.push_back({f, i});
    }
    require_same_findings(from_bank, from_scalar, ulp);
    tally.add(from_bank, FindingKind::command_response);
    for (std::size_t i = 0; i < N; ++i) {
      CHECK(ulp.ok(bank.cusum_upper(i), ref[i].statistic().upper()));
      CHECK(ulp.ok(bank.cusum_lower(i), ref[i].statistic().lower()));
      CHECK(bank.in_alarm(i) == logic[i].in_alarm());
      // the scalar model lags behind by the scans it has not caught up yet; compare right after
      // an accepted scan
      if (present[i] && std::isfinite(double(pv[i])) && std::isfinite(double(u[i])))
        CHECK(ulp.ok(bank.model_output(i), ref[i].model_output()));
    }
  }
  MESSAGE("worst difference: " << ulp.worst << " ulp (bound " << kUlpBound << "), gaps "
                                << tally.gaps);
  tally.check(bank);
}
