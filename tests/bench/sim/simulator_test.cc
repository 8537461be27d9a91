#include "bench/sim/simulator.h"

#include <gtest/gtest.h>

#include <numeric>

#include "bench/sim/report.h"

namespace fleetrate::sim {
namespace {

// A small fleet that runs in well under a second.
SimOptions SmallFleet() {
  SimOptions options;
  options.clients = 20;
  options.operations = 50;
  options.fleet_qps = 2000;
  options.warmup_seconds = 300;
  return options;
}

Summary RunAndSummarize(const std::string& scenario_name, Algorithm algorithm,
                        const SimOptions& options) {
  const Scenario scenario = MakeScenario(scenario_name, options);
  return Summarize(scenario, RunScenario(scenario, algorithm, options), options);
}

TEST(SimulatorTest, ZipfTrafficAddsUpToTheFleetRate) {
  const SimOptions options = SmallFleet();
  const Traffic traffic = MakeTraffic(MakeScenario("steady", options), options);
  ASSERT_EQ(traffic.base_qps.size(), 50u);
  EXPECT_NEAR(std::accumulate(traffic.base_qps.begin(), traffic.base_qps.end(), 0.0), 2000, 1e-6);
  EXPECT_NEAR(traffic.base_qps[0] / traffic.base_qps[9], 10.0, 1e-9);  // 1/k

  const Traffic rare = MakeTraffic(MakeScenario("rare", options), options);
  ASSERT_EQ(rare.base_qps.size(), 60u);
  for (size_t k = 50; k < 60; ++k) {
    EXPECT_TRUE(rare.rare[k]);
    EXPECT_GE(rare.base_qps[k], 1.0 / 3600);
    EXPECT_LE(rare.base_qps[k], 1.0 / 60);
  }
}

TEST(SimulatorTest, FixedProbabilityKeepsTheSteadyTargetInTotal) {
  const SimOptions options = SmallFleet();
  const double p = FixedProbability(options);
  const Traffic traffic = MakeTraffic(MakeScenario("steady", options), options);
  double target = 0;
  for (double q : traffic.base_qps) target += std::min(1.0, q);
  EXPECT_NEAR(p * 2000, target, 1e-9);
}

TEST(SimulatorTest, SameSeedSameRunOtherSeedOtherRun) {
  SimOptions options = SmallFleet();
  const Scenario scenario = MakeScenario("churn", options);
  const RunResult a = RunScenario(scenario, Algorithm::kFleetrate, options);
  const RunResult b = RunScenario(scenario, Algorithm::kFleetrate, options);
  EXPECT_EQ(a.achieved, b.achieved);
  EXPECT_EQ(a.key_error, b.key_error);
  options.seed = 2;
  EXPECT_NE(RunScenario(scenario, Algorithm::kFleetrate, options).achieved, a.achieved);
}

TEST(SimulatorTest, EveryAlgorithmSeesTheSameTarget) {
  const SimOptions options = SmallFleet();
  const Scenario scenario = MakeScenario("step", options);
  const RunResult fleetrate = RunScenario(scenario, Algorithm::kFleetrate, options);
  const RunResult fixed = RunScenario(scenario, Algorithm::kFixed, options);
  ASSERT_EQ(fleetrate.target.size(), 600u);
  EXPECT_EQ(fleetrate.target, fixed.target);
  EXPECT_NE(fleetrate.achieved, fixed.achieved);
}

// The engine path itself (real Aggregator + ComputeRates), with the client's local cap made
// too loose to clip: the fleet keeps its target within a few percent after warm-up.
TEST(SimulatorTest, FleetrateKeepsTheTargetWhenTheLocalCapDoesNotClip) {
  SimOptions options = SmallFleet();
  options.cap_burst_seconds = 3600;
  const Summary s = RunAndSummarize("steady", Algorithm::kFleetrate, options);
  EXPECT_NEAR(s.volume_ratio, 1.0, 0.06);
  EXPECT_LT(s.error_after_warmup, 0.12);
}

// Jaeger's lower bound is per instance: with many instances and little traffic each, the
// fleet keeps about clients/60 traces/s per operation whatever the target.
TEST(SimulatorTest, JaegerPerInstanceLowerBoundGrowsWithTheFleet) {
  SimOptions options = SmallFleet();
  options.clients = 300;
  options.fleet_qps = 20000;
  const Summary s = RunAndSummarize("steady", Algorithm::kJaeger, options);
  EXPECT_GT(s.volume_ratio, 2.0);  // 300/60 = 5 per operation where each instance sees it
}

// fleetrate keeps at least one trace of nearly every rare operation, a fixed 4 % almost none.
TEST(SimulatorTest, RareOperationsAreCoveredByTheLowerBound) {
  const SimOptions options = SmallFleet();
  const Summary fleetrate = RunAndSummarize("rare", Algorithm::kFleetrate, options);
  const Summary fixed = RunAndSummarize("rare", Algorithm::kFixed, options);
  EXPECT_GT(fleetrate.rare_operation_coverage, 0.9);
  EXPECT_GT(fleetrate.rare_minute_coverage, 0.8);
  EXPECT_LT(fixed.rare_minute_coverage, 0.3);
}

TEST(SimulatorTest, UnknownScenarioThrows) {
  EXPECT_THROW((void)MakeScenario("nosuch", SmallFleet()), std::invalid_argument);
  EXPECT_EQ(ScenarioNames().size(), 6u);
  EXPECT_STREQ(AlgorithmName(Algorithm::kJaeger), "jaeger");
}

}  // namespace
}  // namespace fleetrate::sim
