// CvEwmaBank (batch/) against one Pipeline<KalmanInnovationSource<T, 2>, EwmaDetector> per
// channel, exact and asymptotic limits, both arithmetic settings, with and without per-step
// outputs.
#include <doctest/doctest.h>

#include "support/bank_compare.hpp"

// =================================================================================================
// 2. constant-velocity Kalman filter + NIS + EWMA
// =================================================================================================

TEST_CASE_TEMPLATE("CvEwmaBank equals one Pipeline<KalmanInnovationSource<T,2>, EwmaDetector> per "
                   "channel",
                   C, PHYSGUARD_BANK_CONFIGS) {
  using T = typename C::T;
  using Bank = batch::CvEwmaBank<T, typename C::B>;
  using Src = KalmanInnovationSource<T, 2, 0>;
  const std::size_t N = batch::lanes<typename C::B>() + 3;
  const T dt = T(0.01);
  const int steps = 500;

  for (int run = 0; run < 4; ++run) {
    const int exact = run & 1;
    const bool fast = run >= 2;
    CAPTURE(exact);
    CAPTURE(fast);
    const EwmaLimits limits = exact ? EwmaLimits::exact : EwmaLimits::asymptotic;
    // storage carved from one caller-provided block
    std::vector<unsigned char> block(Bank::bytes_needed(N) + 64);
    void* base = block.data() + (64 - reinterpret_cast<std::uintptr_t>(block.data()) % 64) % 64;
    Bank bank(N, Bank::carve(base, N), EstimatorOptions<T>{}, limits,
              fast ? batch::BankArithmetic::fast : batch::BankArithmetic::scalar_order);
    std::vector<Pipeline<Src, EwmaDetector<T>>> ref;
    StreamGen<T> g(99 + exact);
    std::vector<double> sigma(N), pos(N), vel(N);
    for (std::size_t i = 0; i < N; ++i) {
      sigma[i] = 0.05 + 0.1 * g.u();
      pos[i] = 5.0 * g.n();
      vel[i] = g.n();
      const ConstantVelocity<T> cv(T(0.05 + g.u()));
      typename Bank::Channel ch;
      ch.set_model(cv, dt);
      ch.r = T(sigma[i] * sigma[i]);
      ch.x0 = T(pos[i]);
      ch.p00 = T(1);
      ch.p11 = T(4);
      ch.ewma_lambda = T(0.05 + 0.2 * g.u());
      ch.ewma_L = T(2.8 + 0.2 * g.u());
      bank.configure(i, ch);
      Eigen::Matrix<T, 2, 2> P0;
      P0 << ch.p00, ch.p01, ch.p01, ch.p11;
      typename Src::Filter kf(cv.model(dt), cv.process_noise(dt),
                              Eigen::Matrix<T, 1, 1>::Constant(ch.r),
                              Eigen::Matrix<T, 2, 1>(ch.x0, ch.v0), P0);
      ref.emplace_back(Src(kf), EwmaDetector<T>(ch.ewma_lambda, ch.ewma_L, limits),
                       AlarmConfig<T>{}, static_cast<std::uint16_t>(i));
    }
    std::vector<T> z(N);
    std::vector<std::uint8_t> present(N);
    std::vector<Recorded<T>> from_bank, from_scalar;
    UlpTracker ulp, stat_ulp;
    stat_ulp.bound = fast ? kFastStatisticUlpBound : kStatisticUlpBound;
    Tally tally;
    for (int s = 1; s <= steps; ++s) {
      const Timestamp t = Timestamp::from_ms(10 * s);
      for (std::size_t i = 0; i < N; ++i) {
        vel[i] += 0.02 * g.n();
        pos[i] += 0.01 * vel[i];
        const double shift = (i % 4 == 2 && s > 150 && s < 300) ? 2.0 * sigma[i] : 0.0;
        z[i] = g.corrupt(T(pos[i] + shift + sigma[i] * g.n()));
        present[i] = (masked_scan(s) && g.u() < 0.1) ? 0 : 1;
      }
      from_bank.clear();
      from_scalar.clear();
      // every other scan also asks for the per-step outputs (NIS and |Z| of each used channel)
      const bool with_outputs = s % 2 == 0;
      std::vector<T> nis_out(N, T(-1)), score_out(N, T(-1));
      typename Bank::Outputs out;
      if (with_outputs) {
        out.nis = nis_out.data();
        out.score = score_out.data();
      }
      REQUIRE(bank.step(t, z.data(), masked_scan(s) ? present.data() : nullptr,
                        VectorSink<T>{&from_bank}, out) == Status::ok);
      for (std::size_t i = 0; i < N; ++i)
        if (present[i]) scalar_update<T>(ref[i], Sample<T>{t, z[i], Quality::good}, i, from_scalar);
      for (std::size_t i = 0; with_outputs && i < N; ++i) {
        if (!present[i]) {
          CHECK(nis_out[i] == T(0));  // not sampled: 0, not left untouched
          CHECK(score_out[i] == T(0));
        } else if (std::isfinite(static_cast<double>(z[i]))) {
          CHECK(stat_ulp.ok(nis_out[i], ref[i].source().last_innovation().nis));
          CHECK(stat_ulp.ok(score_out[i], std::abs(ref[i].statistic().statistic())));
        }
      }
      require_same_findings(from_bank, from_scalar, stat_ulp);
      tally.add(from_bank, FindingKind::residual);
      for (std::size_t i = 0; i < N; ++i) {
        const auto& kf = ref[i].source().filter();
        CHECK(ulp.ok(bank.position(i), kf.state()(0)));
        CHECK(ulp.ok(bank.velocity(i), kf.state()(1)));
        CHECK(ulp.ok(bank.covariance(i, 0, 0), kf.covariance()(0, 0)));
        CHECK(ulp.ok(bank.covariance(i, 0, 1), kf.covariance()(0, 1)));
        CHECK(ulp.ok(bank.covariance(i, 1, 1), kf.covariance()(1, 1)));
        CHECK(stat_ulp.ok(bank.ewma(i), ref[i].statistic().statistic()));
        CHECK(bank.in_alarm(i) == ref[i].in_alarm());
      }
    }
    MESSAGE("worst difference: state " << ulp.worst << " ulp, statistics " << stat_ulp.worst
                                        << " ulp" << std::string(fast ? " (fast arithmetic)" : ""));
    tally.check(bank);
  }
}
