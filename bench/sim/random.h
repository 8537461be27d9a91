// A seeded pseudo-random source for the fleet simulator, with the draws it needs (uniform,
// normal, Poisson, binomial). Written out rather than taken from <random> because the standard
// distributions are implementation-defined: the same seed must give the same CSV with any
// standard library.
//
//   Random random(42);
//   uint64_t seen = random.Poisson(3.5);
//   uint64_t kept = random.Binomial(seen, 0.1);
//
// Exact draws for small means; above kNormalFrom expected events the normal approximation
// (continuity-corrected, clamped) — its error there is far below the simulator's other noise.
// Not thread-safe: one Random per thread of draws.
#pragma once

#include <algorithm>
#include <cmath>
#include <cstdint>

namespace fleetrate::sim {

class Random {
 public:
  // Above this many expected events a Poisson or binomial draw is approximated by a normal.
  static constexpr double kNormalFrom = 30.0;

  explicit Random(uint64_t seed) noexcept {
    // splitmix64 expands the seed into xoshiro256**'s state (its authors' recommendation).
    for (uint64_t& word : state_) {
      seed += 0x9e3779b97f4a7c15ULL;
      uint64_t z = seed;
      z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
      z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
      word = z ^ (z >> 31);
    }
  }

  // xoshiro256** (Blackman and Vigna, 2018).
  uint64_t Next() noexcept {
    const uint64_t result = Rotl(state_[1] * 5, 7) * 9;
    const uint64_t t = state_[1] << 17;
    state_[2] ^= state_[0];
    state_[3] ^= state_[1];
    state_[1] ^= state_[2];
    state_[0] ^= state_[3];
    state_[2] ^= t;
    state_[3] = Rotl(state_[3], 45);
    return result;
  }

  // In [0, 1), 53 random bits.
  double Uniform() noexcept { return static_cast<double>(Next() >> 11) * 0x1.0p-53; }
  // In (0, 1], for logarithms.
  double UniformOpen() noexcept { return 1.0 - Uniform(); }

  double Normal() noexcept {  // Box-Muller, one of the pair
    return std::sqrt(-2.0 * std::log(UniformOpen())) * std::cos(6.283185307179586 * Uniform());
  }

  uint64_t Poisson(double mean) noexcept {
    if (!(mean > 0)) return 0;
    if (mean >= kNormalFrom) return RoundedNormal(mean, std::sqrt(mean), ~uint64_t{0});
    return PoissonFromUniform(mean, std::exp(-mean), Uniform());
  }

  // Inversion of the Poisson CDF at `u`; `p0` = exp(-mean), passed in so a caller drawing many
  // times from one mean computes it once. With u >= p0 the result is >= 1 (a draw conditioned
  // on at least one event).
  static uint64_t PoissonFromUniform(double mean, double p0, double u) noexcept {
    uint64_t k = 0;
    double term = p0;
    double cdf = p0;
    while (u > cdf && k < 10000) {
      ++k;
      term *= mean / static_cast<double>(k);
      cdf += term;
      if (term < 1e-300) break;  // u lies in the rounding slack above the CDF's last step
    }
    return k;
  }

  uint64_t Binomial(uint64_t n, double p) noexcept {
    if (n == 0 || !(p > 0)) return 0;
    if (p >= 1) return n;
    if (n <= 16) {
      uint64_t kept = 0;
      for (uint64_t i = 0; i < n; ++i) kept += Uniform() < p ? 1 : 0;
      return kept;
    }
    if (p > 0.5) return n - Binomial(n, 1 - p);
    const double nd = static_cast<double>(n);
    if (nd * p >= kNormalFrom) return RoundedNormal(nd * p, std::sqrt(nd * p * (1 - p)), n);
    // Inversion from k = 0; about n·p + 1 steps.
    const double u = Uniform();
    const double ratio = p / (1 - p);
    double term = std::exp(nd * std::log1p(-p));
    double cdf = term;
    uint64_t k = 0;
    while (u > cdf && k < n) {
      term *= static_cast<double>(n - k) / static_cast<double>(k + 1) * ratio;
      ++k;
      cdf += term;
      if (term < 1e-300) break;
    }
    return k;
  }

 private:
  static uint64_t Rotl(uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

  uint64_t RoundedNormal(double mean, double sd, uint64_t max) noexcept {
    const double x = std::floor(mean + sd * Normal() + 0.5);
    if (x <= 0) return 0;
    if (x >= static_cast<double>(max)) return max;
    return static_cast<uint64_t>(x);
  }

  uint64_t state_[4];
};

}  // namespace fleetrate::sim
