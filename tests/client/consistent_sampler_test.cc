// The Sampler's OpenTelemetry consistent-probability behaviour: threshold examples, rv,
// tracestate updates, parent rules, handles and the per-operation token buckets.
#include <gtest/gtest.h>

#include <array>
#include <chrono>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "fleetrate/sampler.h"
#include "tests/client/test_exporters.h"
#include "tests/client/test_support.h"

namespace fleetrate {
namespace {

using fleetrate::testing::Root;

using testing::ManualClock;

std::shared_ptr<const RateTable> TableWith(OperationRate rate, OperationRate default_rate = {}) {
  return std::make_shared<const RateTable>(1, default_rate,
                                           std::vector<RateTable::Entry>{{"op", rate}});
}

TEST(ConsistentSamplerTest, DecisionsMatchTheSpecThresholdExamples) {
  struct Example {
    double p;
    std::string th;
  };
  // OpenTelemetry "TraceState: Probability Sampling": th:0 keeps all, th:8 half, th:c a
  // quarter; 1 % is th:fd70a4 at 6 digits of precision.
  for (const Example& e : {Example{1.0, "0"}, Example{0.5, "8"}, Example{0.25, "c"}}) {
    Sampler sampler(0.0);
    sampler.ApplyTable(TableWith(OperationRate::FromProbability(e.p)));
    const uint64_t t = *DecodeThreshold(e.th);
    const SamplingResult at = sampler.ShouldSample(Root("op", t));
    EXPECT_EQ(at.decision, Decision::kRecordAndSample) << e.th;
    EXPECT_EQ(at.tracestate, ThresholdAction::kSet);
    EXPECT_EQ(EncodeThreshold(at.threshold), e.th);
    EXPECT_EQ(UpdateOtTraceState("", at), "th:" + e.th);
    if (t > 0) {
      EXPECT_EQ(sampler.ShouldSample(Root("op", t - 1)).decision, Decision::kDrop) << e.th;
    }
    // The kept fraction of a uniform sweep of R is p.
    uint64_t kept = 0;
    constexpr uint64_t kSteps = 4096;
    for (uint64_t i = 0; i < kSteps; ++i) {
      kept += sampler.ShouldSample(Root("op", i * (kMaxThreshold / kSteps))).decision ==
              Decision::kRecordAndSample;
    }
    EXPECT_EQ(kept, static_cast<uint64_t>(e.p * kSteps)) << e.th;
  }
  Sampler one_percent(0.0);
  one_percent.ApplyTable(TableWith(OperationRate::FromProbability(0.01)));
  const SamplingResult r = one_percent.ShouldSample(Root("op", kRandomnessMask));
  EXPECT_EQ(EncodeThreshold(r.threshold).substr(0, 5), "fd70a");
  EXPECT_NEAR(static_cast<double>(r.threshold), static_cast<double>(*DecodeThreshold("fd70a4")),
              static_cast<double>(uint64_t{1} << 32));
}

TEST(ConsistentSamplerTest, RvInTheTraceStateOverridesTheTraceIdRandomness) {
  Sampler sampler(0.5);
  SamplingParameters params = Root("op", 0);  // trace id alone: dropped
  params.ot_tracestate = "rv:ffffffffffffff";
  EXPECT_EQ(sampler.ShouldSample(params).decision, Decision::kRecordAndSample);
  params = Root("op", kRandomnessMask);  // trace id alone: kept
  params.ot_tracestate = "th:8;rv:00000000000001";
  EXPECT_EQ(sampler.ShouldSample(params).decision, Decision::kDrop);
  params.ot_tracestate = "rv:xyz";  // invalid rv: the trace id decides
  EXPECT_EQ(sampler.ShouldSample(params).decision, Decision::kRecordAndSample);
  EXPECT_EQ(OtSubKey("a:1;rv:abc;th:8", "rv"), "abc");
  EXPECT_EQ(OtSubKey("a:1;rvx:abc", "rv"), "");
}

TEST(ConsistentSamplerTest, TraceStateKeepsRvAndOtherKeysAndSetsOrErasesTh) {
  SamplingResult set;
  set.tracestate = ThresholdAction::kSet;
  set.threshold = ProbabilityToThreshold(0.25);
  EXPECT_EQ(UpdateOtTraceState("rv:0123456789abcd;th:8;x:y", set), "th:c;rv:0123456789abcd;x:y");
  SamplingResult erase;
  erase.tracestate = ThresholdAction::kErase;
  EXPECT_EQ(UpdateOtTraceState("th:8;rv:0123456789abcd", erase), "rv:0123456789abcd");
  EXPECT_EQ(UpdateOtTraceState("th:8", erase), "");  // remove the ot entry
  SamplingResult unchanged;
  EXPECT_EQ(UpdateOtTraceState("th:8;rv:0123456789abcd", unchanged), "th:8;rv:0123456789abcd");
}

TEST(ConsistentSamplerTest, ParentBasedByDefaultAndEachCaseConfigurable) {
  SamplerOptions options;
  options.initial.probability = 0.0;
  options.initial.lower_bound_per_second = 0.0;
  Sampler defaults(options);
  SamplingParameters params = Root("child", kRandomnessMask);
  params.parent = ParentState::kRemoteSampled;
  params.ot_tracestate = "th:8";
  SamplingResult r = defaults.ShouldSample(params);
  EXPECT_EQ(r.decision, Decision::kRecordAndSample);
  EXPECT_EQ(r.tracestate, ThresholdAction::kUnchanged);  // the parent's th stays valid
  EXPECT_EQ(r.rule, DecisionRule::kParent);
  params.parent = ParentState::kRemoteNotSampled;
  EXPECT_EQ(defaults.ShouldSample(params).decision, Decision::kDrop);

  options.initial.probability = 1.0;
  options.parent_rules.remote_sampled = ParentRule::kDrop;
  options.parent_rules.remote_not_sampled = ParentRule::kSample;
  options.parent_rules.local_sampled = ParentRule::kDecideAsRoot;
  options.parent_rules.local_not_sampled = ParentRule::kDecideAsRoot;
  Sampler custom(options);
  params.parent = ParentState::kRemoteSampled;
  EXPECT_EQ(custom.ShouldSample(params).decision, Decision::kDrop);
  params.parent = ParentState::kRemoteNotSampled;
  r = custom.ShouldSample(params);
  EXPECT_EQ(r.decision, Decision::kRecordAndSample);
  EXPECT_EQ(r.tracestate, ThresholdAction::kErase);  // adjusted count unknown
  params.parent = ParentState::kLocalNotSampled;
  r = custom.ShouldSample(params);
  EXPECT_EQ(r.decision, Decision::kRecordAndSample);
  EXPECT_EQ(r.rule, DecisionRule::kProbability);
  EXPECT_EQ(r.threshold, ProbabilityToThreshold(0.5));  // th only raised (parent had th:8)
  EXPECT_EQ(custom.TakeCounts().size(), 1u);            // decided-as-root children are counted
}

TEST(ConsistentSamplerTest, TwoSamplersAtDifferentRatesKeepNestedSetsOfTraces) {
  Sampler low(0.0);
  Sampler high(0.0);
  low.ApplyTable(TableWith(OperationRate::FromProbability(0.05)));
  high.ApplyTable(TableWith(OperationRate::FromProbability(0.3)));
  const OperationHandle low_op = low.Handle("op");
  std::mt19937_64 rng(7);
  int kept_low = 0;
  int kept_high = 0;
  for (int i = 0; i < 50000; ++i) {
    SamplingParameters params;
    params.operation = "op";
    for (uint8_t& b : params.trace_id) b = static_cast<uint8_t>(rng());
    const bool l = low.ShouldSample(low_op, params).decision == Decision::kRecordAndSample;
    const bool h = high.ShouldSample(params).decision == Decision::kRecordAndSample;
    if (l) {
      ASSERT_TRUE(h) << "a trace kept at 5 % must be kept at 30 %";
    }
    kept_low += l;
    kept_high += h;
  }
  EXPECT_NEAR(kept_low, 2500, 300);
  EXPECT_NEAR(kept_high, 15000, 600);
}

TEST(ConsistentSamplerTest, HandlesDecideAndCountLikeNames) {
  Sampler sampler(0.0, /*max_operations=*/3);
  sampler.ApplyTable(TableWith(OperationRate::FromProbability(0.5)));
  const OperationHandle op = sampler.Handle("op");
  ASSERT_TRUE(op.valid());
  for (uint64_t r : {uint64_t{0}, kRandomnessMask}) {
    EXPECT_EQ(sampler.ShouldSample(op, Root("ignored", r)).decision,
              sampler.ShouldSample(Root("op", r)).decision);
  }
  const OperationHandle other = sampler.Handle("other");  // fills the cap (with "*")
  const OperationHandle beyond = sampler.Handle("beyond");
  (void)sampler.ShouldSample(other, Root("", 0));
  (void)sampler.ShouldSample(beyond, Root("", 0));
  (void)sampler.ShouldSample(OperationHandle(), Root("", 0));
  EXPECT_EQ(sampler.overflowed_roots(), 2u);
  uint64_t op_seen = 0;
  for (const OperationCounts& c : sampler.TakeCounts()) {
    if (c.operation == "op") op_seen = c.roots_seen;
  }
  EXPECT_EQ(op_seen, 4u);
}

// A decision by handle is inlined at the call site for plain roots (sampler.h); it must give
// exactly what the full path gives by name, field by field, and count the same.
TEST(ConsistentSamplerTest, TheInlineHandlePathDecidesExactlyLikeTheFullPath) {
  Sampler by_handle(0.0);
  Sampler by_name(0.0);
  const OperationHandle op = by_handle.Handle("op");
  std::mt19937_64 rng(11);
  uint64_t kept = 0;
  for (const double p : {0.0, 0.01, 0.37, 1.0}) {
    for (const bool record_unsampled : {false, true}) {
      by_handle.ApplyTable(TableWith(OperationRate::FromProbability(p)));
      by_name.ApplyTable(TableWith(OperationRate::FromProbability(p)));
      by_handle.set_record_unsampled(record_unsampled);
      by_name.set_record_unsampled(record_unsampled);
      for (int i = 0; i < 2000; ++i) {
        const SamplingParameters params = Root("op", rng() & kRandomnessMask);
        const SamplingResult a = by_handle.ShouldSample(op, params);
        const SamplingResult b = by_name.ShouldSample(params);
        ASSERT_EQ(a.decision, b.decision) << p;
        ASSERT_EQ(a.threshold, b.threshold) << p;
        ASSERT_EQ(a.tracestate, b.tracestate) << p;
        ASSERT_EQ(a.rule, b.rule) << p;
        kept += a.decision == Decision::kRecordAndSample;
      }
    }
  }
  EXPECT_GT(kept, 0u);
  const std::vector<OperationCounts> a = by_handle.TakeCounts();
  const std::vector<OperationCounts> b = by_name.TakeCounts();
  ASSERT_EQ(a.size(), 1u);
  ASSERT_EQ(b.size(), 1u);
  EXPECT_EQ(a[0].roots_seen, 16000u);
  EXPECT_EQ(a[0].roots_seen, b[0].roots_seen);
  EXPECT_EQ(a[0].roots_sampled, b[0].roots_sampled);
  EXPECT_EQ(a[0].roots_sampled, kept);
}

// Keeps at 0.01/s under a cap of 0.02/s (the default burst of 2 on a client whose expected keep
// rate is far below 1/s): a one-token bucket drops every keep that follows another within
// 50 s (a third of them); the adaptive cap's bucket (kMinAdaptiveCapTokens) drops next to none, and
// still holds the long-run rate to the cap.
// Kept share of `roots` roots all kept by probability under a cap of 0.02/s in a bucket of
// `burst_tokens` (0: the one-second default, one token), arriving `gap` apart.
template <typename Gap>
double KeptUnderCap(double burst_tokens, int roots, Gap gap) {
  ManualClock clock;
  SamplerOptions options;
  options.clock = &clock;
  Sampler sampler(options);
  OperationRate rate = OperationRate::FromProbability(1.0);
  rate.local_cap_per_second = 0.02;
  rate.local_cap_burst = burst_tokens;
  sampler.ApplyTable(TableWith(rate));
  int kept = 0;
  for (int i = 0; i < roots; ++i) {
    clock.Advance(gap());
    kept +=
        sampler.ShouldSample(Root("op", kRandomnessMask)).decision == Decision::kRecordAndSample;
  }
  return static_cast<double>(kept) / roots;
}

TEST(ConsistentSamplerTest, AnAdaptiveCapsBucketDoesNotClipPoissonKeepsAtItsOwnRate) {
  const auto poisson_share = [](double burst_tokens) {
    std::mt19937_64 rng(5);
    std::exponential_distribution<double> gap_s(0.01);
    return KeptUnderCap(burst_tokens, 4000, [&] {
      return std::chrono::nanoseconds(static_cast<int64_t>(gap_s(rng) * 1e9));
    });
  };
  EXPECT_NEAR(poisson_share(0), 2.0 / 3, 0.03);  // one token: the clipping the floor prevents
  EXPECT_GT(poisson_share(kMinAdaptiveCapTokens), 0.99);
  // A burst of roots all at once: the bucket grants its tokens, then nothing.
  EXPECT_EQ(KeptUnderCap(kMinAdaptiveCapTokens, 1000, [] { return std::chrono::nanoseconds(0); }),
            kMinAdaptiveCapTokens / 1000);
}

TEST(ConsistentSamplerTest, LowerBoundKeepsWhatTheProbabilityDropsWithoutTh) {
  ManualClock clock;
  SamplerOptions options;
  options.clock = &clock;
  Sampler sampler(options);
  OperationRate rate = OperationRate::FromProbability(0.0);
  rate.lower_bound_per_second = 2.0;  // one token per 500 ms
  sampler.ApplyTable(TableWith(rate));
  SamplingResult r = sampler.ShouldSample(Root("op", 0));
  EXPECT_EQ(r.decision, Decision::kRecordAndSample);
  EXPECT_EQ(r.rule, DecisionRule::kLowerBound);
  EXPECT_EQ(r.tracestate, ThresholdAction::kErase);
  EXPECT_EQ(r.attributes()[0].key, "fleetrate.sampling.rule");
  EXPECT_EQ(r.attributes()[0].value, "lower_bound");
  EXPECT_EQ(sampler.ShouldSample(Root("op", 0)).decision, Decision::kDrop);
  clock.Advance(std::chrono::milliseconds(499));
  EXPECT_EQ(sampler.ShouldSample(Root("op", 0)).decision, Decision::kDrop);
  clock.Advance(std::chrono::milliseconds(1));
  EXPECT_EQ(sampler.ShouldSample(Root("op", 0)).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.totals().lower_bound_kept, 2u);
  const auto counts = sampler.TakeCounts();
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts[0].roots_seen, 4u);
  EXPECT_EQ(counts[0].roots_sampled, 2u);
}

TEST(ConsistentSamplerTest, LocalCapBoundsKeepsBetweenSyncs) {
  ManualClock clock;
  SamplerOptions options;
  options.clock = &clock;
  Sampler sampler(options);
  OperationRate rate = OperationRate::FromProbability(1.0);
  rate.local_cap_per_second = 3.0;  // burst of one second: 3
  sampler.ApplyTable(TableWith(rate));
  int kept = 0;
  for (int i = 0; i < 10; ++i) {
    const SamplingResult r = sampler.ShouldSample(Root("op", kRandomnessMask));
    if (r.decision == Decision::kRecordAndSample) {
      ++kept;
    } else {
      EXPECT_EQ(r.rule, DecisionRule::kLocalCap);
    }
  }
  EXPECT_EQ(kept, 3);
  clock.Advance(std::chrono::milliseconds(334));
  EXPECT_EQ(sampler.ShouldSample(Root("op", kRandomnessMask)).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(Root("op", kRandomnessMask)).decision, Decision::kDrop);
  EXPECT_EQ(sampler.totals().local_cap_dropped, 8u);
}

TEST(ConsistentSamplerTest, InitialStrategyIsAProbabilityPlusAPerOperationLowerBound) {
  ManualClock clock;
  SamplerOptions options;  // defaults: 0.001 + 1 trace/s per operation
  options.clock = &clock;
  Sampler sampler(options);
  EXPECT_EQ(sampler.ShouldSample(Root("a", 0)).rule, DecisionRule::kLowerBound);
  EXPECT_EQ(sampler.ShouldSample(Root("b", 0)).rule, DecisionRule::kLowerBound);
  EXPECT_EQ(sampler.ShouldSample(Root("a", 0)).decision, Decision::kDrop);
  EXPECT_EQ(sampler.ShouldSample(Root("a", kRandomnessMask)).rule, DecisionRule::kProbability);

  sampler.ApplyTable(TableWith(OperationRate::FromProbability(0.0)));
  clock.Advance(std::chrono::seconds(5));
  EXPECT_EQ(sampler.ShouldSample(Root("a", 0)).decision, Decision::kDrop);  // no bound now
  sampler.ApplyInitialStrategy();
  EXPECT_EQ(sampler.table_version(), 0u);
  EXPECT_EQ(sampler.table(), nullptr);
  EXPECT_EQ(sampler.ShouldSample(Root("a", 0)).rule, DecisionRule::kLowerBound);
}

TEST(ConsistentSamplerTest, RecordUnsampledTurnsDropsIntoRecordOnly) {
  Sampler sampler(0.0);
  sampler.set_record_unsampled(true);
  EXPECT_EQ(sampler.ShouldSample(Root("op", 0)).decision, Decision::kRecordOnly);
  SamplingParameters child = Root("op", 0);
  child.parent = ParentState::kRemoteNotSampled;
  EXPECT_EQ(sampler.ShouldSample(child).decision, Decision::kRecordOnly);
  sampler.set_record_unsampled(false);
  EXPECT_EQ(sampler.ShouldSample(Root("op", 0)).decision, Decision::kDrop);
}

}  // namespace
}  // namespace fleetrate

namespace fleetrate {
namespace {

TEST(ConsistentSamplerTest, ALowerBoundTheProbabilityAlreadyMeetsIsDormantUntilTrafficFalls) {
  testing::ManualClock clock;
  SamplerOptions options;
  options.clock = &clock;
  Sampler sampler(options);
  OperationRate rate = OperationRate::FromProbability(0.5);
  rate.lower_bound_per_second = 1.0;
  sampler.ApplyTable(TableWith(rate));
  // 10 s with 100 probabilistic keeps: 10/s >= 2 x 1/s, so the bound goes dormant.
  for (int i = 0; i < 100; ++i) (void)sampler.ShouldSample(Root("op", kRandomnessMask));
  clock.Advance(std::chrono::seconds(10));
  (void)sampler.TakeCounts();
  clock.Advance(std::chrono::seconds(5));
  EXPECT_EQ(sampler.ShouldSample(Root("op", 0)).decision, Decision::kDrop);  // not the bound
  // A quiet interval re-arms it.
  clock.Advance(std::chrono::seconds(10));
  (void)sampler.TakeCounts();
  EXPECT_EQ(sampler.ShouldSample(Root("op", 0)).rule, DecisionRule::kLowerBound);
}

}  // namespace
}  // namespace fleetrate
