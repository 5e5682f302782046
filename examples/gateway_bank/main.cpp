// gateway_bank: a gateway watching 10,000 analog channels sampled at 1 kHz, with SIMD channel banks.
//
// Every channel is a slowly wandering process value (random walk) measured with white noise.  Two
// banks watch all channels in one pass each per scan:
//   - KalmanCusumBank: a one-state Kalman filter per channel, CUSUM on its normalised innovation
//     (threshold from a target false-alarm rate: one false alarm per 1e10 samples per channel);
//   - PlausibilityBank: range, rate and stuck-at (frozen value) checks.
// Faults are injected in a few channels; everything else must stay quiet.  The program reports the
// CPU time the banks need per simulated second and the findings, and exits non-zero when an
// injected fault is missed or a clean channel alarms.
//
//   gateway_bank [--channels N] [--seconds S]      (defaults: 10000 channels, 10 s)
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <limits>
#include <random>
#include <vector>

#include <physguard/batch.hpp>
#include <physguard/batch/host_storage.hpp>
#include <physguard/detect/cusum.hpp>

namespace {

using namespace physguard;

double cpu_seconds() {
  timespec ts{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
  return double(ts.tv_sec) + 1e-9 * double(ts.tv_nsec);
}

// Cheap repeatable Gaussian noise: a table of N(0,1) draws indexed by a 64-bit LCG (the banks are
// what we time; the simulation should not dominate the run).
class Noise {
 public:
  explicit Noise(std::uint64_t seed) : state_(seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> g(0.0f, 1.0f);
    for (auto& v : table_) v = g(rng);
  }
  float operator()() {
    state_ = state_ * 6364136223846793005ull + 1442695040888963407ull;
    return table_[(state_ >> 40) & (kSize - 1)];
  }

 private:
  static constexpr std::size_t kSize = 1 << 16;
  std::vector<float> table_ = std::vector<float>(kSize);
  std::uint64_t state_;
};

enum class Fault { none, offset, frozen, spike, nan_burst };

struct Injected {
  std::size_t channel;
  Fault fault;
  double start_s;
  const char* what;
  bool detected = false;
};

}  // namespace

int main(int argc, char** argv) {
  std::size_t channels = 10000;
  double seconds = 10.0;
  for (int a = 1; a + 1 < argc; a += 2) {
    if (std::strcmp(argv[a], "--channels") == 0) channels = std::strtoul(argv[a + 1], nullptr, 10);
    if (std::strcmp(argv[a], "--seconds") == 0) seconds = std::strtod(argv[a + 1], nullptr);
  }
  if (channels < 100 || seconds <= 0.0) {
    std::fprintf(stderr, "need --channels >= 100 and --seconds > 0\n");
    return 2;
  }
  const double rate_hz = 1000.0;
  const float dt = float(1.0 / rate_hz);
  const auto scans = static_cast<std::int64_t>(seconds * rate_hz + 0.5);

  // --- the process: random walk (q = 0.01 unit^2/s) measured with noise sigma = 0.05 ------------
  const float q = 0.01f * dt;
  const float sigma = 0.05f;
  const float r = sigma * sigma;
  // steady-state prior variance of the filter (M^2 - q M - q r = 0): no start-up transient
  const float M = 0.5f * (q + std::sqrt(q * q + 4.0f * q * r));
  const float h = CusumDetector<float>::threshold_for_arl(0.5f, 1e10);

  using KBank = batch::KalmanCusumBank<float>;
  using PBank = batch::PlausibilityBank<float>;
  batch::Owning<KBank> kalman(channels);
  batch::Owning<PBank> plaus(channels, std::size_t{0}, std::uint16_t{1});
  std::vector<double> truth(channels);
  Noise noise(2024);
  for (std::size_t i = 0; i < channels; ++i) {
    truth[i] = 20.0 + 10.0 * double(noise());
    KBank::Channel k;
    k.q = q;
    k.r = r;
    k.x0 = float(truth[i]);
    k.p0 = M * r / (M + r);
    k.cusum_k = 0.5f;
    k.cusum_h = h;
    kalman.configure(i, k);
    PBank::Channel p;
    p.min = -50.0f;
    p.max = 100.0f;
    p.margin_fraction = 0.0f;
    // noise alone moves sqrt(2) sigma / dt per sample: allow 9 of those plus the process
    p.max_rate_per_s = 9.0f * std::sqrt(2.0f) * sigma / dt + 1.0f;
    p.max_identical_samples = 50;
    plaus.configure(i, p);
  }

  // --- injected faults (channels and times scale with the run) ----------------------------------
  std::vector<Injected> faults = {
      {channels / 10 + 7, Fault::offset, 0.3 * seconds, "offset +6 sigma (falsified value)"},
      {channels / 2 + 1, Fault::offset, 0.4 * seconds, "offset -5 sigma (falsified value)"},
      {channels / 3 + 3, Fault::frozen, 0.5 * seconds, "frozen value (stuck register)"},
      {channels / 5 + 9, Fault::spike, 0.7 * seconds, "spike to 150 (wire fault)"},
      {channels - 1, Fault::nan_burst, 0.2 * seconds, "NaN burst (ADC fault)"},
  };
  std::vector<int> fault_of(channels, -1);
  for (std::size_t f = 0; f < faults.size(); ++f) fault_of[faults[f].channel] = int(f);
  std::vector<float> frozen_value(channels, 0.0f);

  std::uint64_t findings = 0, bad_input = 0, false_alarms = 0;
  int printed = 0;
  auto sink = [&](const Finding<float>& f, std::size_t index) {
    ++findings;
    if (f.kind == FindingKind::bad_input) ++bad_input;
    const int fi = fault_of[index];
    if (fi >= 0) {
      if (f.state == AlarmState::alarm || f.kind == FindingKind::bad_input)
        faults[std::size_t(fi)].detected = true;
    } else if (f.state == AlarmState::alarm) {
      ++false_alarms;
    }
    if (printed < 40 && (f.state != AlarmState::normal || fi < 0)) {
      ++printed;
      std::printf("  t=%8.3f s  channel %5zu  %-8s %-13s %-9s score %9.3f / %7.3f  (%s)\n",
                  f.time.seconds(), index, f.detector, to_string(f.kind), to_string(f.state),
                  double(f.score), double(f.threshold), to_string(f.status));
    }
  };

  std::vector<float> z(channels);
  double bank_cpu = 0.0;
  const double total_start = cpu_seconds();
  std::printf("gateway_bank: %zu channels at %.0f Hz for %.1f s simulated (%s backend, %zu lanes)\n",
              channels, rate_hz, seconds, batch::backend_name(), batch::lanes<batch::Batch<float>>());
  std::printf("findings (first %d):\n", 40);
  for (std::int64_t s = 1; s <= scans; ++s) {
    const double t_s = double(s) / rate_hz;
    const float walk = std::sqrt(q);
    for (std::size_t i = 0; i < channels; ++i) {
      truth[i] += double(walk * noise());
      float v = float(truth[i]) + sigma * noise();
      const int fi = fault_of[i];
      if (fi >= 0 && t_s >= faults[std::size_t(fi)].start_s) {
        switch (faults[std::size_t(fi)].fault) {
          case Fault::offset: v += (i == faults[0].channel ? 6.0f : -5.0f) * sigma; break;
          case Fault::frozen:
            if (frozen_value[i] == 0.0f) frozen_value[i] = v;
            v = frozen_value[i];
            break;
          case Fault::spike:
            if (t_s < faults[std::size_t(fi)].start_s + 0.002) v = 150.0f;
            break;
          case Fault::nan_burst:
            if (t_s < faults[std::size_t(fi)].start_s + 0.005)
              v = std::numeric_limits<float>::quiet_NaN();
            break;
          case Fault::none: break;
        }
      }
      z[i] = v;
    }
    const Timestamp t = Timestamp::from_us(s * 1000);
    const double c0 = cpu_seconds();
    kalman.step(t, z.data(), nullptr, nullptr, sink);
    plaus.step(t, z.data(), nullptr, sink);
    bank_cpu += cpu_seconds() - c0;
  }
  const double total_cpu = cpu_seconds() - total_start;

  const double updates = double(channels) * double(scans);
  std::printf("\nCPU time of the two banks: %.3f s for %.1f s simulated = %.1f ms per simulated "
              "second (%.2f ns per channel-update for both banks; %.1f%% of one core)\n",
              bank_cpu, seconds, 1e3 * bank_cpu / seconds, 1e9 * bank_cpu / updates,
              100.0 * bank_cpu / seconds);
  std::printf("CPU time including the simulation: %.3f s\n", total_cpu);
  std::printf("findings: %llu (%llu bad input), alarms on clean channels: %llu\n",
              static_cast<unsigned long long>(findings), static_cast<unsigned long long>(bad_input),
              static_cast<unsigned long long>(false_alarms));
  int missed = 0;
  for (const auto& f : faults) {
    std::printf("  channel %5zu  %-36s from t=%.2f s: %s\n", f.channel, f.what, f.start_s,
                f.detected ? "detected" : "MISSED");
    missed += f.detected ? 0 : 1;
  }
  if (missed > 0 || false_alarms > 0) {
    std::printf("FAIL: %d missed, %llu false alarms\n", missed,
                static_cast<unsigned long long>(false_alarms));
    return 1;
  }
  std::printf("OK\n");
  return 0;
}
