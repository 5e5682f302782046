// KalmanCusumBank (batch/) against one Pipeline<KalmanInnovationSource, CusumDetector> per
// channel; a NaN lane and a refused scan leave every other channel bit-identical.
#include <doctest/doctest.h>

#include "support/bank_compare.hpp"

// =================================================================================================
// 1. one-state Kalman filter + NIS + CUSUM
// =================================================================================================

TEST_CASE_TEMPLATE("KalmanCusumBank equals one Pipeline<KalmanInnovationSource, CusumDetector> per "
                   "channel",
                   C, PHYSGUARD_BANK_CONFIGS) {
  using T = typename C::T;
  using Bank = batch::KalmanCusumBank<T, typename C::B>;
  const std::size_t N = 2 * batch::lanes<typename C::B>() + 5;  // remainder lanes
  const T dt = T(0.01);
  const int steps = 600;

  for (int run = 0; run < 4; ++run) {
    const int with_input = run & 1;
    const bool fast = run >= 2;
    CAPTURE(with_input);
    CAPTURE(fast);
    // caller-owned arrays (views)
    std::vector<T> a(N), b(N), q(N), r(N), k(N), h(N), x(N), p(N), up(N), lo(N);
    std::vector<std::uint8_t> alarm(N);
    std::vector<std::uint32_t> refused(N);
    batch::KalmanCusumArrays<T> arr;
    arr.a = a.data(); arr.b = b.data(); arr.q = q.data(); arr.r = r.data();
    arr.k = k.data(); arr.h = h.data(); arr.x = x.data(); arr.p = p.data();
    arr.upper = up.data(); arr.lower = lo.data(); arr.alarm = alarm.data();
    arr.refused = refused.data();
    Bank bank(N, arr, EstimatorOptions<T>{},
              fast ? batch::BankArithmetic::fast : batch::BankArithmetic::scalar_order);

    using SrcRW = KalmanInnovationSource<T, 1, 0>;
    using SrcLag = KalmanInnovationSource<T, 1, 1>;
    std::vector<Pipeline<SrcRW, CusumDetector<T>>> rw;
    std::vector<Pipeline<SrcLag, CusumDetector<T>>> lag;
    StreamGen<T> g(1234 + with_input);
    std::vector<double> sigma(N), truth(N);
    for (std::size_t i = 0; i < N; ++i) {
      sigma[i] = 0.05 + 0.2 * g.u();
      truth[i] = 10.0 * g.n();
      typename Bank::Channel ch;
      ch.r = T(sigma[i] * sigma[i]);
      ch.x0 = T(truth[i]);
      ch.p0 = T(1);
      ch.cusum_k = T(0.5);
      ch.cusum_h = T(4 + g.u());
      if (!with_input) {
        const RandomWalk<T> model(T(0.01 + 0.1 * g.u()));
        const auto m = model.model(dt);
        ch.a = m.A(0, 0);
        ch.q = model.process_noise(dt)(0, 0);
        typename SrcRW::Filter kf(m, model.process_noise(dt),
                                  Eigen::Matrix<T, 1, 1>::Constant(ch.r),
                                  Eigen::Matrix<T, 1, 1>::Constant(ch.x0),
                                  Eigen::Matrix<T, 1, 1>::Constant(ch.p0));
        rw.emplace_back(SrcRW(kf), CusumDetector<T>(ch.cusum_k, ch.cusum_h), AlarmConfig<T>{},
                        static_cast<std::uint16_t>(i));
      } else {
        FirstOrderLag<T> model(T(0.5 + g.u()), T(0.05 + g.u()));
        model.set_process_noise_density(T(0.01));
        const auto m = model.model(dt);
        ch.a = m.A(0, 0);
        ch.b = m.B(0, 0);
        ch.q = model.process_noise(dt)(0, 0);
        typename SrcLag::Filter kf(m, model.process_noise(dt),
                                   Eigen::Matrix<T, 1, 1>::Constant(ch.r),
                                   Eigen::Matrix<T, 1, 1>::Constant(ch.x0),
                                   Eigen::Matrix<T, 1, 1>::Constant(ch.p0));
        lag.emplace_back(SrcLag(kf), CusumDetector<T>(ch.cusum_k, ch.cusum_h), AlarmConfig<T>{},
                         static_cast<std::uint16_t>(i));
      }
      bank.configure(i, ch);
    }

    std::vector<T> z(N), u(N);
    std::vector<std::uint8_t> present(N);
    std::vector<Recorded<T>> from_bank, from_scalar;
    UlpTracker ulp, stat_ulp;
    stat_ulp.bound = fast ? kFastStatisticUlpBound : kStatisticUlpBound;
    Tally tally;
    int missing = 0;
    for (int s = 1; s <= steps; ++s) {
      const Timestamp t = Timestamp::from_ms(10 * s);
      for (std::size_t i = 0; i < N; ++i) {
        truth[i] += 0.01 * g.n();
        // a persistent shift on some channels between steps 200 and 400 (alarm, then clear)
        const double shift = (i % 5 == 1 && s > 200 && s < 400) ? 3.0 * sigma[i] : 0.0;
        z[i] = g.corrupt(T(truth[i] + shift + sigma[i] * g.n()));
        u[i] = T(truth[i] * 0.9 + 0.1 * g.n());
        if (g.u() < 0.002) u[i] = std::numeric_limits<T>::quiet_NaN();
        present[i] = (masked_scan(s) && g.u() < 0.1) ? 0 : 1;
        missing += present[i] == 0;
      }
      from_bank.clear();
      from_scalar.clear();
      REQUIRE(bank.step(t, z.data(), with_input ? u.data() : nullptr,
                        masked_scan(s) ? present.data() : nullptr,
                        VectorSink<T>{&from_bank}) == Status::ok);
      for (std::size_t i = 0; i < N; ++i) {
        if (!present[i]) continue;
        Sample<T> smp{t, z[i], Quality::good};
        if (with_input) {
          lag[i].source().set_input(Eigen::Matrix<T, 1, 1>::Constant(u[i]));
          scalar_update<T>(lag[i], smp, i, from_scalar);
        } else {
          scalar_update<T>(rw[i], smp, i, from_scalar);
        }
      }
      require_same_findings(from_bank, from_scalar, stat_ulp);
      tally.add(from_bank, FindingKind::residual);
      for (std::size_t i = 0; i < N; ++i) {
        const auto& kf = with_input ? lag[i].source().filter().covariance()
                                    : rw[i].source().filter().covariance();
        const T xs = with_input ? lag[i].source().filter().state()(0)
                                : rw[i].source().filter().state()(0);
        const auto& cu = with_input ? lag[i].statistic() : rw[i].statistic();
        // the bank wrote into the caller's arrays
        CHECK(ulp.ok(x[i], xs));
        CHECK(ulp.ok(p[i], kf(0, 0)));
        CHECK(stat_ulp.ok(up[i], cu.upper()));
        CHECK(stat_ulp.ok(lo[i], cu.lower()));
        CHECK(bank.in_alarm(i) == (with_input ? lag[i].in_alarm() : rw[i].in_alarm()));
      }
    }
    MESSAGE("worst difference: state " << ulp.worst << " ulp, statistics " << stat_ulp.worst
                                        << " ulp" << std::string(fast ? " (fast arithmetic)" : ""));
    tally.check(bank);
    CHECK(missing > 0);  // ... and missing samples were exercised too
    std::uint64_t counted = 0;
    for (std::size_t i = 0; i < N; ++i) counted += refused[i];
    CHECK(counted == bank.total_refused());
  }
}


TEST_CASE_TEMPLATE("a NaN lane changes only its own channel; a scan whose time does not advance "
                   "changes nothing",
                   C, PHYSGUARD_BANK_CONFIGS) {
  using T = typename C::T;
  using Bank = batch::KalmanCusumBank<T, typename C::B>;
  const std::size_t N = batch::lanes<typename C::B>() + 3;
  batch::Owning<Bank> clean(N), dirty(N);
  std::vector<T> z(N);
  for (std::size_t i = 0; i < N; ++i) z[i] = T(0.1) * T(i);
  CountingSink sink_clean, sink_dirty;
  REQUIRE(clean.step(Timestamp::from_ms(1), z.data(), nullptr, nullptr, sink_clean) == Status::ok);
  REQUIRE(dirty.step(Timestamp::from_ms(1), z.data(), nullptr, nullptr, sink_dirty) == Status::ok);
  for (const std::size_t bad : {std::size_t{0}, std::size_t{1}, N - 1}) {  // SIMD and tail lanes
    CAPTURE(bad);
    const T before_x = dirty.state(bad), before_p = dirty.variance(bad);
    std::vector<T> zd = z;
    zd[bad] = std::numeric_limits<T>::quiet_NaN();
    const Timestamp t = Timestamp::from_ms(10 + static_cast<std::int64_t>(bad));
    const auto refused_before = dirty.refused(bad);
    FindingRing<T, 8> ring;
    REQUIRE(clean.step(t, z.data(), nullptr, nullptr, sink_clean) == Status::ok);
    REQUIRE(dirty.step(t, zd.data(), nullptr, nullptr, ring) == Status::ok);
    REQUIRE(ring.size() == 1);
    CHECK(ring[0].kind == FindingKind::bad_input);
    CHECK(ring[0].status == Status::not_finite);
    CHECK(ring[0].channel == bad);
    CHECK(dirty.refused(bad) == refused_before + 1);
    // the refused channel is bit-identical to before, every other one to the clean bank
    CHECK(std::memcmp(&before_x, &dirty.arrays().x[bad], sizeof(T)) == 0);
    CHECK(std::memcmp(&before_p, &dirty.arrays().p[bad], sizeof(T)) == 0);
    for (std::size_t i = 0; i < N; ++i) {
      if (i == bad) continue;
      CHECK(std::memcmp(&clean.arrays().x[i], &dirty.arrays().x[i], sizeof(T)) == 0);
      CHECK(std::memcmp(&clean.arrays().p[i], &dirty.arrays().p[i], sizeof(T)) == 0);
    }
    // bring the refused channel back in line for the next round
    clean.configure(bad, typename Bank::Channel{});
    dirty.configure(bad, typename Bank::Channel{});
  }
  // time going back / repeating: whole scan refused, state bit-identical
  std::vector<T> x_before(dirty.arrays().x, dirty.arrays().x + N);
  CHECK(dirty.step(Timestamp::from_ms(5), z.data(), nullptr, nullptr, sink_dirty) ==
        Status::time_backwards);
  CHECK(dirty.step(Timestamp::from_ms(10 + static_cast<std::int64_t>(N) - 1), z.data(), nullptr,
                   nullptr, sink_dirty) == Status::time_repeated);
  CHECK(dirty.refused_scans() == 2);
  CHECK(std::memcmp(x_before.data(), dirty.arrays().x, N * sizeof(T)) == 0);
}
