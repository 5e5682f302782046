// SteadyKalmanCusumBank (batch/): against one Pipeline<SteadyStateInnovationSource, CusumDetector>
// per channel (float and double, all three batch backends, with and without input, both
// arithmetic settings), against the closed-form steady state of the scalar Riccati equation, and
// against the time-varying bank once its covariance has converged; no heap in step().
#include <doctest/doctest.h>

#include <algorithm>

#include "support/bank_compare.hpp"

namespace {

// Without fused multiply-add the bank performs the scalar objects' operations in their order:
// state, NIS and (scalar_order) CUSUM are bit-identical.  BankArithmetic::fast multiplies by
// 1/sqrt(S) where residual_of divides by sqrt(S) (1-2 ulp per residual); the CUSUM sums add those
// up and are compared in ulp of max(|S|, 1).  With FMA the compiler may fuse differently in vector
// and scalar code (see bank_compare.hpp): looser bounds, identical decisions.
#if defined(__FMA__) || defined(__FP_FAST_FMA) || defined(__FP_FAST_FMAF)
constexpr double kStateUlp = 512.0;
constexpr double kStatUlp = 65536.0;
constexpr double kFastStatUlp = 65536.0;
#else
constexpr double kStateUlp = 0.0;
constexpr double kStatUlp = 0.0;
constexpr double kFastStatUlp = 1024.0;
#endif

}  // namespace

#define PHYSGUARD_STEADY_CONFIGS PHYSGUARD_BANK_CONFIGS

TEST_CASE_TEMPLATE("SteadyKalmanCusumBank equals one Pipeline<SteadyStateInnovationSource, "
                   "CusumDetector> per channel",
                   C, PHYSGUARD_STEADY_CONFIGS) {
  using T = typename C::T;
  using Bank = batch::SteadyKalmanCusumBank<T, typename C::B>;
  using SrcRW = SteadyStateInnovationSource<T, 1, 0>;
  using SrcLag = SteadyStateInnovationSource<T, 1, 1>;
  using Vec1 = Eigen::Matrix<T, 1, 1>;
  const std::size_t N = 2 * batch::lanes<typename C::B>() + 5;  // remainder lanes
  const T dt = T(0.01);
  const int steps = 600;

  for (int run = 0; run < 4; ++run) {
    const bool with_input = (run & 1) != 0;
    const bool fast = run >= 2;
    CAPTURE(with_input);
    CAPTURE(fast);
    EstimatorOptions<T> options;
    options.reject_outside_gate = true;
    batch::Owning<Bank> bank(N, options,
                             fast ? batch::BankArithmetic::fast : batch::BankArithmetic::scalar_order);
    std::vector<Pipeline<SrcRW, CusumDetector<T>>> rw;
    std::vector<Pipeline<SrcLag, CusumDetector<T>>> lag;
    std::mt19937_64 rng(77 + run);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_real_distribution<double> unif(0.0, 1.0);
    std::vector<double> sigma(N), truth(N);
    for (std::size_t i = 0; i < N; ++i) {
      sigma[i] = 0.05 + 0.2 * unif(rng);
      truth[i] = 10.0 * normal(rng);
      typename Bank::Channel ch;
      ch.cusum_k = T(0.5);
      ch.cusum_h = T(4 + unif(rng));
      const Vec1 R = Vec1::Constant(T(sigma[i] * sigma[i]));
      const Vec1 x0 = Vec1::Constant(T(truth[i]));
      if (!with_input) {
        const RandomWalk<T> model(T(0.01 + 0.1 * unif(rng)));
        const SteadyStateKalmanFilter<T, 1, 1, 0> f(model.model(dt), model.process_noise(dt), R,
                                                    x0, options);
        REQUIRE(f.ok());
        ch.set_filter(f);
        rw.emplace_back(SrcRW(f), CusumDetector<T>(ch.cusum_k, ch.cusum_h), AlarmConfig<T>{},
                        static_cast<std::uint16_t>(i));
      } else {
        FirstOrderLag<T> model(T(0.5 + unif(rng)), T(0.05 + unif(rng)));
        model.set_process_noise_density(T(0.01));
        const SteadyStateKalmanFilter<T, 1, 1, 1> f(model.model(dt), model.process_noise(dt), R,
                                                    x0, options);
        REQUIRE(f.ok());
        ch.set_filter(f);
        lag.emplace_back(SrcLag(f), CusumDetector<T>(ch.cusum_k, ch.cusum_h), AlarmConfig<T>{},
                         static_cast<std::uint16_t>(i));
      }
      bank.configure(i, ch);
    }

    std::vector<T> z(N), u(N), nis_out(N), score_out(N);
    std::vector<std::uint8_t> present(N);
    std::vector<Recorded<T>> from_bank, from_scalar;
    UlpTracker state_ulp, stat_ulp;
    state_ulp.bound = kStateUlp;
    stat_ulp.bound = fast ? kFastStatUlp : kStatUlp;
    Tally tally;
    int gated = 0, missing = 0;
    for (int s = 1; s <= steps; ++s) {
      const Timestamp t = Timestamp::from_ms(10 * s);
      const bool masked = s % 2 == 0;
      for (std::size_t i = 0; i < N; ++i) {
        truth[i] += 0.01 * normal(rng);
        const double shift = (i % 5 == 1 && s > 200 && s < 400) ? 3.0 * sigma[i] : 0.0;
        double v = truth[i] + shift + sigma[i] * normal(rng);
        const double c = unif(rng);
        if (c < 0.004) v = std::numeric_limits<double>::quiet_NaN();
        else if (c < 0.005) v = std::numeric_limits<double>::infinity();
        else if (c < 0.010) v += 40.0;  // outside the NIS gate: used by the CUSUM, not fused
        z[i] = T(v);
        u[i] = T(truth[i] * 0.9 + 0.1 * normal(rng));
        if (unif(rng) < 0.002) u[i] = std::numeric_limits<T>::quiet_NaN();
        present[i] = (masked && unif(rng) < 0.1) ? 0 : 1;
        missing += present[i] == 0;
      }
      from_bank.clear();
      from_scalar.clear();
      typename Bank::Outputs out;
      out.nis = nis_out.data();
      out.score = score_out.data();
      REQUIRE(bank.step(t, z.data(), with_input ? u.data() : nullptr,
                        masked ? present.data() : nullptr, VectorSink<T>{&from_bank},
                        out) == Status::ok);
      for (std::size_t i = 0; i < N; ++i) {
        if (!present[i]) continue;
        const Sample<T> smp{t, z[i], Quality::good};
        FindingOut<T> o;
        if (with_input) {
          lag[i].source().set_input(Vec1::Constant(u[i]));
          o = lag[i].update(smp);
        } else {
          o = rw[i].update(smp);
        }
        if (o) from_scalar.push_back({o.finding, i});
        const auto& rec = with_input ? lag[i].source().last_innovation()
                                     : rw[i].source().last_innovation();
        if (rec.time == t) {  // the sample was used
          CHECK(stat_ulp.ok(nis_out[i], rec.nis));  // NIS: same expression on both sides
          gated += rec.status == Status::rejected_by_gate;
        }
      }
      require_same_findings(from_bank, from_scalar, stat_ulp);
      for (std::size_t n = 0; n < from_bank.size(); ++n)
        CHECK(from_bank[n].f.threshold == from_scalar[n].f.threshold);  // h itself: exact
      tally.add(from_bank, FindingKind::residual);
      for (std::size_t i = 0; i < N; ++i) {
        const T xs = with_input ? lag[i].source().filter().state()(0)
                                : rw[i].source().filter().state()(0);
        const auto& cu = with_input ? lag[i].statistic() : rw[i].statistic();
        CHECK(state_ulp.ok(bank.state(i), xs));
        CHECK(stat_ulp.ok(bank.cusum_upper(i), cu.upper()));
        CHECK(stat_ulp.ok(bank.cusum_lower(i), cu.lower()));
        CHECK(bank.in_alarm(i) == (with_input ? lag[i].in_alarm() : rw[i].in_alarm()));
      }
    }
    MESSAGE("worst difference: state " << state_ulp.worst << " ulp, statistics " << stat_ulp.worst
                                        << " ulp" << std::string(fast ? " (fast arithmetic)" : ""));
    // the stream exercised alarms, refusals, gated outliers and missing samples
    tally.check(bank);
    CHECK(gated > 0);
    CHECK(missing > 0);
  }
}

TEST_CASE_TEMPLATE("SteadyKalmanCusumBank: the gain is the closed-form steady state of the scalar "
                   "Riccati equation, and the time-varying bank converges to it",
                   T, float, double) {
  // Random walk x+ = x + w (Var q), z = x + v (Var r): the steady prior variance solves
  // P = P r / (P + r) + q, i.e. P^2 - q P - q r = 0, P = (q + sqrt(q^2 + 4 q r)) / 2,
  // gain K = P / (P + r), innovation variance S = P + r.
  const std::size_t N = 3 * batch::lanes<batch::Batch<T>>() + 1;
  batch::Owning<batch::SteadyKalmanCusumBank<T>> steady(N);
  batch::Owning<batch::KalmanCusumBank<T>> varying(N);
  std::vector<double> q(N), r(N);
  for (std::size_t i = 0; i < N; ++i) {
    q[i] = 1e-4 * double(1 + i);
    r[i] = 0.01 + 0.002 * double(i);
    const double P = (q[i] + std::sqrt(q[i] * q[i] + 4.0 * q[i] * r[i])) / 2.0;
    const double K = P / (P + r[i]);
    LinearStateSpace<T, 1, 0, 1> m;  // A = 1 (identity), C = 1
    m.C.setOnes();
    SteadyStateKalmanFilter<T, 1, 1, 0> f(m, Eigen::Matrix<T, 1, 1>::Constant(T(q[i])),
                                          Eigen::Matrix<T, 1, 1>::Constant(T(r[i])));
    REQUIRE(f.ok());
    typename batch::SteadyKalmanCusumBank<T>::Channel ch;
    ch.set_filter(f);
    const double tol = std::is_same<T, float>::value ? 1e-5 : 1e-12;
    CHECK(double(ch.gain) == doctest::Approx(K).epsilon(tol));
    CHECK(double(ch.s) == doctest::Approx(P + r[i]).epsilon(tol));
    ch.cusum_h = T(1e6);  // no alarms: compare the filters only
    ch.x0 = T(1);         // at the true level: the gate (3.8 sigma of S) lets every sample in
    steady.configure(i, ch);
    typename batch::KalmanCusumBank<T>::Channel cv;
    cv.q = T(q[i]);
    cv.r = T(r[i]);
    cv.p0 = T(1);
    cv.x0 = T(1);
    cv.cusum_h = T(1e6);
    varying.configure(i, cv);
  }
  // Same measurements into both banks: once the time-varying variance has converged (a few
  // hundred steps for these q/r) the two estimates agree to rounding.
  std::mt19937_64 rng(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<T> z(N), nis_s(N), nis_v(N);
  auto ignore = [](const Finding<T>&) {};
  for (int s = 1; s <= 3000; ++s) {
    for (std::size_t i = 0; i < N; ++i) z[i] = T(1.0 + std::sqrt(r[i]) * normal(rng));
    typename batch::SteadyKalmanCusumBank<T>::Outputs o1;
    o1.nis = nis_s.data();
    typename batch::KalmanCusumBank<T>::Outputs o2;
    o2.nis = nis_v.data();
    REQUIRE(steady.step(Timestamp::from_ms(s), z.data(), nullptr, nullptr, ignore, o1) ==
            Status::ok);
    REQUIRE(varying.step(Timestamp::from_ms(s), z.data(), nullptr, nullptr, ignore, o2) ==
            Status::ok);
  }
  const double tol = std::is_same<T, float>::value ? 1e-4 : 1e-9;
  for (std::size_t i = 0; i < N; ++i) {
    CHECK(double(steady.state(i)) == doctest::Approx(double(varying.state(i))).epsilon(tol));
    CHECK(double(nis_s[i]) == doctest::Approx(double(nis_v[i])).epsilon(tol));
  }
}

TEST_CASE("SteadyKalmanCusumBank: refused scans, NaN lanes isolated, no heap in step()") {
  using T = float;
  using Bank = batch::SteadyKalmanCusumBank<T>;
  const std::size_t N = 2 * batch::lanes<batch::Batch<T>>() + 3;
  std::vector<unsigned char> block(Bank::bytes_needed(N) + 64);
  void* base = block.data() + (64 - reinterpret_cast<std::uintptr_t>(block.data()) % 64) % 64;
  Bank bank(N, Bank::carve(base, N));
  typename Bank::Channel ch;
  ch.gain = T(0.3);
  ch.s = T(0.02);
  for (std::size_t i = 0; i < N; ++i) bank.configure(i, ch);
  std::vector<T> z(N, T(0.01));
  std::vector<Finding<T>> found;
  found.reserve(64);
  auto sink = [&](const Finding<T>& f) { found.push_back(f); };

  physguard_test::HeapCounter heap;
  REQUIRE(bank.step(Timestamp::from_ms(10), z.data(), nullptr, nullptr, sink) == Status::ok);
  const T x_before = bank.state(N - 1);
  z[N - 1] = std::numeric_limits<T>::quiet_NaN();  // a remainder lane
  z[1] = std::numeric_limits<T>::infinity();       // a lane of the first batch
  REQUIRE(bank.step(Timestamp::from_ms(20), z.data(), nullptr, nullptr, sink) == Status::ok);
  CHECK(bank.step(Timestamp::from_ms(15), z.data(), nullptr, nullptr, sink) ==
        Status::time_backwards);
  CHECK(heap.count() == 0);

  CHECK(bank.state(N - 1) == x_before);  // refused: untouched
  CHECK(bank.refused(N - 1) == 1);
  CHECK(bank.refused(1) == 1);
  CHECK(bank.total_refused() == 2);
  CHECK(bank.refused_scans() == 1);
  REQUIRE(found.size() == 2);
  for (const auto& f : found) {
    CHECK(f.kind == FindingKind::bad_input);
    CHECK(f.cause == Cause::sensor_fault);
    CHECK(f.status == Status::not_finite);
  }
  // the neighbours of the NaN lanes were fused as usual
  CHECK(bank.state(0) == bank.state(2));
  CHECK(bank.state(0) != T(0));
}

TEST_CASE_TEMPLATE("SteadyCvEwmaBank equals one Pipeline<SteadyStateInnovationSource<T,2>, "
                   "EwmaDetector> per channel",
                   C, PHYSGUARD_STEADY_CONFIGS) {
  using T = typename C::T;
  using Bank = batch::SteadyCvEwmaBank<T, typename C::B>;
  using Src = SteadyStateInnovationSource<T, 2, 0>;
  const std::size_t N = batch::lanes<typename C::B>() + 3;
  const T dt = T(0.01);
  const int steps = 500;

  for (int run = 0; run < 4; ++run) {
    const bool exact = (run & 1) != 0;
    const bool fast = run >= 2;
    CAPTURE(exact);
    CAPTURE(fast);
    const EwmaLimits limits = exact ? EwmaLimits::exact : EwmaLimits::asymptotic;
    EstimatorOptions<T> options;
    options.reject_outside_gate = true;
    batch::Owning<Bank> bank(N, options, limits,
                             fast ? batch::BankArithmetic::fast : batch::BankArithmetic::scalar_order);
    std::vector<Pipeline<Src, EwmaDetector<T>>> ref;
    std::mt19937_64 rng(99 + run);
    std::normal_distribution<double> normal(0.0, 1.0);
    std::uniform_real_distribution<double> unif(0.0, 1.0);
    std::vector<double> sigma(N), pos(N), vel(N);
    for (std::size_t i = 0; i < N; ++i) {
      sigma[i] = 0.05 + 0.1 * unif(rng);
      pos[i] = 5.0 * normal(rng);
      vel[i] = normal(rng);
      const ConstantVelocity<T> cv(T(0.05 + unif(rng)));
      const SteadyStateKalmanFilter<T, 2, 1, 0> f(
          cv.model(dt), cv.process_noise(dt), Eigen::Matrix<T, 1, 1>::Constant(T(sigma[i] * sigma[i])),
          Eigen::Matrix<T, 2, 1>(T(pos[i]), T(0)), options);
      REQUIRE(f.ok());
      typename Bank::Channel ch;
      ch.set_filter(f);
      CHECK(ch.dt_s == dt);
      ch.ewma_lambda = T(0.05 + 0.2 * unif(rng));
      ch.ewma_L = T(2.8 + 0.2 * unif(rng));
      bank.configure(i, ch);
      ref.emplace_back(Src(f), EwmaDetector<T>(ch.ewma_lambda, ch.ewma_L, limits),
                       AlarmConfig<T>{}, static_cast<std::uint16_t>(i));
    }
    std::vector<T> z(N), nis_out(N);
    std::vector<std::uint8_t> present(N);
    std::vector<Recorded<T>> from_bank, from_scalar;
    UlpTracker state_ulp, stat_ulp;
    state_ulp.bound = kStateUlp;
    stat_ulp.bound = fast ? kFastStatUlp : kStatUlp;
    Tally tally;
    int gated = 0;
    for (int s = 1; s <= steps; ++s) {
      const Timestamp t = Timestamp::from_ms(10 * s);
      const bool masked = s % 2 == 0;
      for (std::size_t i = 0; i < N; ++i) {
        vel[i] += 0.02 * normal(rng);
        pos[i] += 0.01 * vel[i];
        const double shift = (i % 4 == 2 && s > 150 && s < 300) ? 2.0 * sigma[i] : 0.0;
        double v = pos[i] + shift + sigma[i] * normal(rng);
        const double c = unif(rng);
        if (c < 0.004) v = std::numeric_limits<double>::quiet_NaN();
        else if (c < 0.005) v = -std::numeric_limits<double>::infinity();
        else if (c < 0.010) v += 40.0;
        z[i] = T(v);
        present[i] = (masked && unif(rng) < 0.1) ? 0 : 1;
      }
      from_bank.clear();
      from_scalar.clear();
      typename Bank::Outputs out;
      out.nis = nis_out.data();
      REQUIRE(bank.step(t, z.data(), masked ? present.data() : nullptr, VectorSink<T>{&from_bank},
                        out) == Status::ok);
      for (std::size_t i = 0; i < N; ++i) {
        if (!present[i]) continue;
        const auto o = ref[i].update(Sample<T>{t, z[i], Quality::good});
        if (o) from_scalar.push_back({o.finding, i});
        const auto& rec = ref[i].source().last_innovation();
        if (rec.time == t) {
          CHECK(stat_ulp.ok(nis_out[i], rec.nis));
          gated += rec.status == Status::rejected_by_gate;
        }
      }
      require_same_findings(from_bank, from_scalar, stat_ulp);
      tally.add(from_bank, FindingKind::residual);
      for (std::size_t i = 0; i < N; ++i) {
        const auto& f = ref[i].source().filter();
        CHECK(state_ulp.ok(bank.position(i), f.state()(0)));
        CHECK(state_ulp.ok(bank.velocity(i), f.state()(1)));
        CHECK(stat_ulp.ok(bank.ewma(i), ref[i].statistic().statistic()));
        CHECK(bank.in_alarm(i) == ref[i].in_alarm());
      }
    }
    MESSAGE("worst difference: state " << state_ulp.worst << " ulp, statistics " << stat_ulp.worst
                                        << " ulp" << std::string(fast ? " (fast arithmetic)" : ""));
    tally.check(bank);
    CHECK(gated > 0);
  }
}
