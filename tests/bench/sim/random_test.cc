#include "bench/sim/random.h"

#include <gtest/gtest.h>

#include <cmath>

namespace fleetrate::sim {
namespace {

TEST(RandomTest, SameSeedSameDrawsOtherSeedOtherDraws) {
  Random a(7), b(7), c(8);
  int same = 0;
  for (int i = 0; i < 1000; ++i) {
    const uint64_t x = a.Next();
    EXPECT_EQ(x, b.Next());
    same += x == c.Next() ? 1 : 0;
  }
  EXPECT_EQ(same, 0);
}

TEST(RandomTest, UniformStaysInItsInterval) {
  Random random(1);
  for (int i = 0; i < 100000; ++i) {
    const double u = random.Uniform();
    ASSERT_GE(u, 0.0);
    ASSERT_LT(u, 1.0);
    const double open = random.UniformOpen();
    ASSERT_GT(open, 0.0);
    ASSERT_LE(open, 1.0);
  }
}

// Mean and variance of 40,000 draws within 4 standard errors of the distribution's.
void ExpectMoments(const std::function<double()>& draw, double mean, double variance) {
  constexpr int kDraws = 40000;
  double sum = 0, sum_sq = 0;
  for (int i = 0; i < kDraws; ++i) {
    const double x = draw();
    sum += x;
    sum_sq += x * x;
  }
  const double m = sum / kDraws;
  const double v = sum_sq / kDraws - m * m;
  EXPECT_NEAR(m, mean, 4 * std::sqrt(variance / kDraws) + 1e-9);
  EXPECT_NEAR(v, variance, 0.05 * variance + 1e-9);
}

TEST(RandomTest, PoissonHasItsMeanAndVarianceExactAndApproximated) {
  Random random(3);
  for (double mean : {0.01, 0.7, 4.0, 25.0, 80.0, 5000.0}) {
    SCOPED_TRACE(mean);
    ExpectMoments([&] { return static_cast<double>(random.Poisson(mean)); }, mean, mean);
  }
  EXPECT_EQ(random.Poisson(0), 0u);
  EXPECT_EQ(random.Poisson(-1), 0u);
}

TEST(RandomTest, PoissonFromUniformAboveP0IsAtLeastOne) {
  const double mean = 0.05;
  const double p0 = std::exp(-mean);
  EXPECT_EQ(Random::PoissonFromUniform(mean, p0, p0 * 0.5), 0u);
  EXPECT_GE(Random::PoissonFromUniform(mean, p0, p0 + 1e-12), 1u);
  EXPECT_GE(Random::PoissonFromUniform(mean, p0, 0.999999999), 1u);
}

TEST(RandomTest, BinomialHasItsMeanAndVarianceOnEveryPath) {
  Random random(5);
  struct Case {
    uint64_t n;
    double p;
  };
  // Bernoulli loop, inversion, p > 0.5 by symmetry, normal approximation.
  for (Case c : {Case{10, 0.3}, Case{200, 0.01}, Case{200, 0.97}, Case{100000, 0.2}}) {
    SCOPED_TRACE(c.n);
    const double n = static_cast<double>(c.n);
    ExpectMoments([&] { return static_cast<double>(random.Binomial(c.n, c.p)); }, n * c.p,
                  n * c.p * (1 - c.p));
  }
  EXPECT_EQ(random.Binomial(50, 0.0), 0u);
  EXPECT_EQ(random.Binomial(50, 1.0), 50u);
  EXPECT_EQ(random.Binomial(0, 0.5), 0u);
  for (int i = 0; i < 1000; ++i) ASSERT_LE(random.Binomial(40, 0.999), 40u);
}

}  // namespace
}  // namespace fleetrate::sim
