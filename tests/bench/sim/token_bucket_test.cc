#include "bench/sim/token_bucket.h"

#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "bench/sim/random.h"
#include "fleetrate/rate_table.h"
#include "fleetrate/sampler.h"

namespace fleetrate::sim {
namespace {

TEST(TokenBucketTest, StartsFullGrantsItsBurstThenRefillsAtItsRate) {
  double tat = kFullBucket;
  // 2 tokens/s with a burst of 3: tolerance (3 - 1) × 0.5 s.
  EXPECT_EQ(TakeTokens(&tat, 10, 0.5, 1.0, 10), 3u);
  EXPECT_EQ(TakeTokens(&tat, 10, 0.5, 1.0, 1), 0u);
  EXPECT_EQ(TakeTokens(&tat, 11, 0.5, 1.0, 10), 2u);  // one second: two tokens back
  EXPECT_EQ(TakeTokens(&tat, 11, 0.5, 1.0, 0), 0u);
  EXPECT_EQ(TakeTokens(&tat, 100, 0.5, 1.0, 10), 3u);  // never more than the burst
}

class ManualSamplerClock final : public SamplerClock {
 public:
  [[nodiscard]] int64_t NowNanos() const noexcept override { return now_ns; }
  int64_t now_ns = 0;
};

// Kept share of Poisson roots at `rate`/s, all kept by probability, under a local cap of
// `cap`/s: by the client's Sampler deciding each root at its own nanosecond, and by the
// simulator's model deciding each second's roots at once.
struct KeptShares {
  double sampler;
  double model;
};

KeptShares KeptUnderCap(double rate, double cap, int roots) {
  ManualSamplerClock clock;
  SamplerOptions options;
  options.clock = &clock;
  Sampler sampler(options);
  OperationRate capped = OperationRate::FromProbability(1.0);
  capped.local_cap_per_second = cap;
  sampler.ApplyTable(std::make_shared<const RateTable>(
      1, OperationRate::FromProbability(0.0), std::vector<RateTable::Entry>{{"op", capped}}));
  const double interval = 1.0 / cap;
  const double tolerance = (std::max(1.0, std::floor(cap)) - 1.0) * interval;
  Random random(11);
  double t = 1000;  // seconds
  double tat = kFullBucket;
  int sampler_kept = 0;
  uint64_t model_kept = 0;
  uint64_t this_second = 0;
  double second = std::floor(t);
  for (int i = 0; i < roots; ++i) {
    t += -std::log(random.UniformOpen()) / rate;
    clock.now_ns = static_cast<int64_t>(t * 1e9);
    SamplingParameters params;
    params.operation = "op";
    params.trace_id[15] = static_cast<uint8_t>(i);
    if (sampler.ShouldSample(params).decision == Decision::kRecordAndSample) ++sampler_kept;
    if (std::floor(t) != second) {
      model_kept += TakeTokens(&tat, second, interval, tolerance, this_second);
      second = std::floor(t);
      this_second = 0;
    }
    ++this_second;
  }
  model_kept += TakeTokens(&tat, second, interval, tolerance, this_second);
  return {static_cast<double>(sampler_kept) / roots, static_cast<double>(model_kept) / roots};
}

// BENCHMARKS.md "Fleet simulator": a client whose expected keep rate is far below 1/s gets a
// one-token cap at twice that rate, which drops 1 − 1/(1 + rate/cap) = 1/3 of Poisson keeps.
// The simulator's fleetrate numbers rest on its model agreeing with the client here.
TEST(TokenBucketTest, ModelDropsWhatTheClientSamplerDropsAtALowOneTokenCap) {
  const KeptShares shares = KeptUnderCap(/*rate=*/0.01, /*cap=*/0.02, 20000);
  EXPECT_NEAR(shares.sampler, 2.0 / 3, 0.02);
  EXPECT_NEAR(shares.model, shares.sampler, 0.02);
}

TEST(TokenBucketTest, ModelKeepsWhatTheClientSamplerKeepsAtAHighCap) {
  const KeptShares shares = KeptUnderCap(/*rate=*/10, /*cap=*/20, 20000);
  EXPECT_GT(shares.sampler, 0.97);
  EXPECT_NEAR(shares.model, shares.sampler, 0.02);
}

}  // namespace
}  // namespace fleetrate::sim
