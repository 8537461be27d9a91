#include "fleetrate/sampler.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

namespace fleetrate {
namespace {

std::array<uint8_t, 16> RandomTraceId(std::mt19937_64& rng) {
  std::array<uint8_t, 16> id{};
  for (uint8_t& b : id) b = static_cast<uint8_t>(rng());
  return id;
}

// A trace id whose 56-bit randomness is `r`.
std::array<uint8_t, 16> TraceIdWithRandomness(uint64_t r) {
  std::array<uint8_t, 16> id{};
  id[0] = 0x4b;
  for (size_t i = 15; i >= 9; --i, r >>= 8) id[i] = static_cast<uint8_t>(r & 0xff);
  return id;
}

SamplingParameters Root(std::string_view op, const std::array<uint8_t, 16>& id) {
  SamplingParameters params;
  params.operation = op;
  params.trace_id = id;
  return params;
}

std::map<std::string, OperationCounts> CountsByOperation(Sampler& sampler) {
  std::map<std::string, OperationCounts> out;
  for (OperationCounts& c : sampler.TakeCounts()) out[c.operation] = c;
  return out;
}

std::shared_ptr<const RateTable> Table(uint64_t version, double default_p,
                                       std::vector<RateTable::Entry> entries = {}) {
  return std::make_shared<const RateTable>(version, OperationRate::FromProbability(default_p),
                                           std::move(entries));
}

TEST(SamplerTest, ChildrenFollowTheirParent) {
  Sampler sampler(/*initial_probability=*/0.0);  // a root would be dropped
  const auto id = TraceIdWithRandomness(kRandomnessMask);
  SamplingParameters params = Root("op", id);
  params.parent = ParentState::kRemoteSampled;
  EXPECT_EQ(sampler.ShouldSample(params).decision, Decision::kRecordAndSample);
  params.parent = ParentState::kLocalSampled;
  EXPECT_EQ(sampler.ShouldSample(params).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(params).threshold, kMaxThreshold);

  Sampler keep_all(/*initial_probability=*/1.0);  // a root would be kept
  params.parent = ParentState::kRemoteNotSampled;
  EXPECT_EQ(keep_all.ShouldSample(params).decision, Decision::kDrop);
  params.parent = ParentState::kLocalNotSampled;
  EXPECT_EQ(keep_all.ShouldSample(params).decision, Decision::kDrop);
  // Only roots are counted.
  EXPECT_TRUE(sampler.TakeCounts().empty());
  EXPECT_TRUE(keep_all.TakeCounts().empty());
}

TEST(SamplerTest, RootsUseTheInitialProbabilityBeforeTheFirstTable) {
  std::mt19937_64 rng(1);
  Sampler keep_all(1.0);
  Sampler keep_none(0.0);
  for (int i = 0; i < 1000; ++i) {
    const auto id = RandomTraceId(rng);
    const SamplingResult kept = keep_all.ShouldSample(Root("op", id));
    EXPECT_EQ(kept.decision, Decision::kRecordAndSample);
    EXPECT_EQ(kept.threshold, 0u);
    const SamplingResult dropped = keep_none.ShouldSample(Root("op", id));
    EXPECT_EQ(dropped.decision, Decision::kDrop);
    EXPECT_EQ(dropped.threshold, kMaxThreshold);
  }
  EXPECT_EQ(keep_all.table_version(), 0u);
  EXPECT_EQ(keep_all.table(), nullptr);
}

TEST(SamplerTest, KeepsIffRandomnessReachesTheThreshold) {
  Sampler sampler(0.5);  // T = 0x80000000000000
  const uint64_t t = ProbabilityToThreshold(0.5);
  EXPECT_EQ(sampler.ShouldSample(Root("op", TraceIdWithRandomness(t))).decision,
            Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(Root("op", TraceIdWithRandomness(t - 1))).decision,
            Decision::kDrop);
  EXPECT_EQ(sampler.ShouldSample(Root("op", TraceIdWithRandomness(t))).threshold, t);
  EXPECT_EQ(EncodeThreshold(sampler.ShouldSample(Root("op", TraceIdWithRandomness(0))).threshold),
            "8");
}

TEST(SamplerTest, ATraceKeptAtPIsKeptAtEveryHigherP) {
  const std::vector<double> ps = {0.001, 0.01, 0.1, 0.25, 0.5, 0.9, 1.0};
  std::vector<std::unique_ptr<Sampler>> samplers;
  for (double p : ps) samplers.push_back(std::make_unique<Sampler>(p));
  std::mt19937_64 rng(2);
  for (int i = 0; i < 20000; ++i) {
    const auto id = RandomTraceId(rng);
    bool kept_lower = false;
    for (auto& sampler : samplers) {
      const bool kept =
          sampler->ShouldSample(Root("op", id)).decision == Decision::kRecordAndSample;
      if (kept_lower) {
        EXPECT_TRUE(kept) << "trace " << i;
      }
      kept_lower = kept;
    }
  }
}

TEST(SamplerTest, EmpiricalRateMatchesTheProbability) {
  Sampler sampler(0.1);
  std::mt19937_64 rng(12345);
  constexpr int kTraces = 100000;
  int kept = 0;
  for (int i = 0; i < kTraces; ++i) {
    kept +=
        sampler.ShouldSample(Root("op", RandomTraceId(rng))).decision == Decision::kRecordAndSample;
  }
  // Binomial sd = sqrt(0.09 / 1e5) ~ 0.00095: 5 sd.
  EXPECT_NEAR(static_cast<double>(kept) / kTraces, 0.1, 0.005);
  const auto counts = CountsByOperation(sampler);
  EXPECT_EQ(counts.at("op").roots_seen, static_cast<uint64_t>(kTraces));
  EXPECT_EQ(counts.at("op").roots_sampled, static_cast<uint64_t>(kept));
}

TEST(SamplerTest, UsesTheTableRateAndItsDefaultForUnlistedOperations) {
  Sampler sampler(0.5);
  const auto low = TraceIdWithRandomness(1);
  (void)sampler.ShouldSample(Root("listed", low));    // seen before the table: must switch too
  (void)sampler.ShouldSample(Root("unlisted", low));  // idem
  sampler.ApplyTable(
      Table(4, /*default_p=*/0.0, {{"listed", OperationRate::FromProbability(1.0)}}));
  EXPECT_EQ(sampler.table_version(), 4u);
  EXPECT_EQ(sampler.ShouldSample(Root("listed", low)).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(Root("unlisted", low)).decision, Decision::kDrop);
  EXPECT_EQ(sampler.ShouldSample(Root("brand new", low)).decision, Decision::kDrop);

  // A later table that no longer lists "listed" sends it to the default.
  sampler.ApplyTable(
      Table(5, /*default_p=*/1.0, {{"brand new", OperationRate::FromProbability(0.0)}}));
  EXPECT_EQ(sampler.table_version(), 5u);
  EXPECT_EQ(sampler.ShouldSample(Root("listed", low)).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(Root("unlisted", low)).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(Root("brand new", low)).decision, Decision::kDrop);
  ASSERT_NE(sampler.table(), nullptr);
  EXPECT_EQ(sampler.table()->version(), 5u);
}

TEST(SamplerTest, CountsRootsPerOperationAndResetsOnTake) {
  Sampler sampler(0.0);
  sampler.ApplyTable(Table(1, 0.0, {{"a", OperationRate::FromProbability(1.0)}}));
  std::mt19937_64 rng(3);
  for (int i = 0; i < 5; ++i) (void)sampler.ShouldSample(Root("a", RandomTraceId(rng)));
  for (int i = 0; i < 3; ++i) (void)sampler.ShouldSample(Root("b", RandomTraceId(rng)));
  auto counts = CountsByOperation(sampler);
  ASSERT_EQ(counts.size(), 2u);
  EXPECT_EQ(counts["a"].roots_seen, 5u);
  EXPECT_EQ(counts["a"].roots_sampled, 5u);
  EXPECT_EQ(counts["b"].roots_seen, 3u);
  EXPECT_EQ(counts["b"].roots_sampled, 0u);
  // Taken: operations without new roots are omitted.
  EXPECT_TRUE(sampler.TakeCounts().empty());
  (void)sampler.ShouldSample(Root("b", RandomTraceId(rng)));
  counts = CountsByOperation(sampler);
  ASSERT_EQ(counts.size(), 1u);
  EXPECT_EQ(counts["b"].roots_seen, 1u);
}

TEST(SamplerTest, ANewOperationIsRegisteredOnceThenFound) {
  Sampler sampler(1.0);
  EXPECT_EQ(sampler.operation_count(), 1u);  // "*"
  const std::string name = "GET /x";
  (void)sampler.ShouldSample(Root(name, {}));
  EXPECT_EQ(sampler.operation_count(), 2u);
  // Another buffer with the same bytes finds the same record.
  const std::string copy = name;
  for (int i = 0; i < 10; ++i) (void)sampler.ShouldSample(Root(copy, {}));
  EXPECT_EQ(sampler.operation_count(), 2u);
  EXPECT_EQ(CountsByOperation(sampler).at(name).roots_seen, 11u);
  EXPECT_EQ(sampler.overflowed_roots(), 0u);
}

TEST(SamplerTest, OperationsBeyondTheCapAreCountedIntoStar) {
  Sampler sampler(0.0, /*max_operations=*/4);  // "*" + 3
  sampler.ApplyTable(Table(1, 0.0, {{"*", OperationRate::FromProbability(1.0)}}));
  const auto id = TraceIdWithRandomness(0);
  for (const char* op : {"a", "b", "c"}) {
    EXPECT_EQ(sampler.ShouldSample(Root(op, id)).decision, Decision::kDrop) << op;
  }
  EXPECT_EQ(sampler.operation_count(), 4u);
  // Beyond the cap: decided with the "*" rate and counted into "*".
  EXPECT_EQ(sampler.ShouldSample(Root("d", id)).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(Root("e", id)).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(Root("a", id)).decision, Decision::kDrop);  // still known
  EXPECT_EQ(sampler.operation_count(), 4u);
  EXPECT_EQ(sampler.overflowed_roots(), 2u);
  auto counts = CountsByOperation(sampler);
  EXPECT_EQ(counts.size(), 4u);
  EXPECT_EQ(counts.count("d"), 0u);
  EXPECT_EQ(counts.at("*").roots_seen, 2u);
  EXPECT_EQ(counts.at("*").roots_sampled, 2u);
  EXPECT_EQ(counts.at("a").roots_seen, 2u);
}

TEST(SamplerTest, InvalidOperationNamesAreCountedIntoStar) {
  Sampler sampler(1.0);
  (void)sampler.ShouldSample(Root("", {}));
  const std::string too_long(Sampler::kMaxOperationNameBytes + 1, 'x');
  (void)sampler.ShouldSample(Root(too_long, {}));
  const std::string longest(Sampler::kMaxOperationNameBytes, 'x');
  (void)sampler.ShouldSample(Root(longest, {}));
  EXPECT_EQ(sampler.overflowed_roots(), 2u);
  auto counts = CountsByOperation(sampler);
  EXPECT_EQ(counts.at("*").roots_seen, 2u);
  EXPECT_EQ(counts.at(longest).roots_seen, 1u);
}

TEST(SamplerTest, ConcurrentDecisionsWhileTablesSwapLoseNoCounts) {
  Sampler sampler(0.5, /*max_operations=*/40);
  constexpr int kThreads = 3;
  constexpr int kCallsPerThread = 60000;
  std::atomic<bool> done{false};
  std::vector<std::thread> threads;
  std::vector<uint64_t> kept_by_thread(kThreads, 0);
  std::atomic<int> inconsistent{0};
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      std::mt19937_64 rng(100 + t);
      std::vector<std::string> ops;
      for (int i = 0; i < 64; ++i) ops.push_back("op-" + std::to_string(i));  // > cap
      for (int i = 0; i < kCallsPerThread; ++i) {
        const auto id = RandomTraceId(rng);
        const SamplingResult r = sampler.ShouldSample(Root(ops[rng() % ops.size()], id));
        const bool kept = r.decision == Decision::kRecordAndSample;
        if (kept != (RandomnessFromTraceId(id) >= r.threshold)) inconsistent.fetch_add(1);
        kept_by_thread[t] += kept;
      }
    });
  }
  // The writer: swaps tables and takes counts while the readers run.
  uint64_t seen = 0;
  uint64_t sampled = 0;
  uint64_t version = 0;
  std::thread writer([&] {
    while (!done.load()) {
      ++version;
      std::vector<RateTable::Entry> entries;
      for (int i = 0; i < 64; i += 2) {
        entries.push_back(
            {"op-" + std::to_string(i), OperationRate::FromProbability(version % 2 ? 0.0 : 1.0)});
      }
      sampler.ApplyTable(Table(version, 0.25, std::move(entries)));
      for (const OperationCounts& c : sampler.TakeCounts()) {
        EXPECT_LE(c.roots_sampled, c.roots_seen);
        seen += c.roots_seen;
        sampled += c.roots_sampled;
      }
    }
  });
  for (auto& thread : threads) thread.join();
  done = true;
  writer.join();
  for (const OperationCounts& c : sampler.TakeCounts()) {
    seen += c.roots_seen;
    sampled += c.roots_sampled;
  }
  uint64_t kept = 0;
  for (uint64_t k : kept_by_thread) kept += k;
  EXPECT_EQ(seen, uint64_t{kThreads} * kCallsPerThread);
  EXPECT_EQ(sampled, kept);
  EXPECT_EQ(inconsistent.load(), 0);
  EXPECT_EQ(sampler.operation_count(), 40u);
  EXPECT_GT(sampler.overflowed_roots(), 0u);
  EXPECT_GT(version, 1u);
}

}  // namespace
}  // namespace fleetrate
