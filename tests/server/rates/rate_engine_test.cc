#include "server/rates/rate_engine.h"

#include <gtest/gtest.h>

#include <numeric>
#include <random>

#include "fleetrate/threshold.h"

namespace fleetrate::server {
namespace {

const Scope kScope{"cart", "prod"};

std::shared_ptr<const Policies> PoliciesFrom(const std::string& yaml) {
  auto p = ParsePolicies(yaml);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::make_shared<const Policies>(p.ok() ? *p : Policies{});
}

std::shared_ptr<const Policies> Adaptive(double target, const std::string& extra = "") {
  return PoliciesFrom("defaults:\n  target_traces_per_second: " + std::to_string(target) +
                      "\n  lower_bound_traces_per_second: 0.01\n" + extra);
}

// An estimate of one scope with the given operations and their fleet QPS.
FleetEstimate Traffic(std::vector<std::pair<std::string, double>> ops, Scope scope = kScope) {
  FleetEstimate e;
  ScopeEstimate s;
  s.scope = std::move(scope);
  s.live_clients = 1;
  std::sort(ops.begin(), ops.end());
  for (auto& [name, q] : ops) s.operations.push_back({name, {q, 0, 1}});
  e.keys = s.operations.size();
  e.scopes.push_back(std::move(s));
  e.live_clients = 1;
  return e;
}

double P(const RateTables& t, const std::string& op, const Scope& scope = kScope) {
  const ServiceRates* s = t.Find(scope);
  const KeyRate* r = s ? s->Find(op) : nullptr;
  return r ? r->probability : -1;
}

const KeyRate& Rate(const RateTables& t, const std::string& op) {
  return *t.Find(kScope)->Find(op);
}

TEST(RateEngineTest, ProbabilityIsTargetOverFleetQpsInOneStep) {
  RateTables t = ComputeRates(Adaptive(10), Traffic({{"GET", 1000}}), nullptr, 7);
  ASSERT_NE(t.Find(kScope), nullptr);
  EXPECT_EQ(t.Find(kScope)->version, 7u);
  const KeyRate& rate = Rate(t, "GET");
  EXPECT_DOUBLE_EQ(rate.probability, 0.01);
  EXPECT_EQ(rate.threshold, ProbabilityToThreshold(0.01));
  EXPECT_DOUBLE_EQ(rate.fleet_seen_per_second, 1000);
  EXPECT_DOUBLE_EQ(rate.local_cap_per_second, 2 * 10);  // burst × expected kept rate
  EXPECT_EQ(rate.rule, -1);
  EXPECT_EQ(rate.reasons, 0);
}

TEST(RateEngineTest, ClampsToTheRuleBoundsAndSaysSo) {
  auto policies = Adaptive(10, "  min_probability: 0.001\n");
  RateTables busy = ComputeRates(policies, Traffic({{"op", 1e7}}), nullptr, 1);
  EXPECT_DOUBLE_EQ(P(busy, "op"), 0.001);
  EXPECT_TRUE(Rate(busy, "op").reasons & kClampedToMin);
  RateTables quiet = ComputeRates(policies, Traffic({{"op", 3}}), nullptr, 1);
  EXPECT_DOUBLE_EQ(P(quiet, "op"), 1.0);
  EXPECT_TRUE(Rate(quiet, "op").reasons & kClampedToMax);
}

TEST(RateEngineTest, LowerBoundRaisesAKeyWhoseTargetIsBelowIt) {
  auto policies = PoliciesFrom(
      "defaults:\n  target_traces_per_second: 0.001\n  lower_bound_traces_per_second: 0.1\n");
  RateTables t = ComputeRates(policies, Traffic({{"op", 100}}), nullptr, 1);
  EXPECT_DOUBLE_EQ(P(t, "op"), 0.1 / 100);
  EXPECT_TRUE(Rate(t, "op").reasons & kRaisedToLowerBound);
}

TEST(RateEngineTest, FallsApplyAtOnceRisesAreCapped) {
  auto policies = Adaptive(10);
  RateTables before = ComputeRates(policies, Traffic({{"op", 1000}}), nullptr, 1);
  RateTables fell = ComputeRates(policies, Traffic({{"op", 10000}}), &before, 2);
  EXPECT_DOUBLE_EQ(P(fell, "op"), 0.001);
  RateTables rose = ComputeRates(policies, Traffic({{"op", 100}}), &fell, 3);
  EXPECT_DOUBLE_EQ(P(rose, "op"), 0.002);
  EXPECT_TRUE(Rate(rose, "op").reasons & kRiseCapped);
  EXPECT_DOUBLE_EQ(Rate(rose, "op").wanted_probability, 0.1);
  RateTables rose2 = ComputeRates(policies, Traffic({{"op", 100}}), &rose, 4);
  EXPECT_DOUBLE_EQ(P(rose2, "op"), 0.004);
}

TEST(RateEngineTest, NoiseWithinToleranceKeepsRateAndVersion) {
  auto policies = Adaptive(10);
  RateTables before = ComputeRates(policies, Traffic({{"op", 1000}}), nullptr, 1);
  RateTables noisy = ComputeRates(policies, Traffic({{"op", 1050}}), &before, 2);
  EXPECT_DOUBLE_EQ(P(noisy, "op"), 0.01);
  EXPECT_TRUE(Rate(noisy, "op").reasons & kHeldByTolerance);
  EXPECT_EQ(noisy.Find(kScope)->version, 1u);
  RateTables moved = ComputeRates(policies, Traffic({{"op", 1500}}), &noisy, 3);
  EXPECT_NEAR(P(moved, "op"), 10.0 / 1500, 1e-12);
  EXPECT_EQ(moved.Find(kScope)->version, 3u);
}

TEST(RateEngineTest, ClampBoundIsReachedExactlyEvenWithinTolerance) {
  auto policies = Adaptive(10);
  RateTables before = ComputeRates(policies, Traffic({{"op", 10.5}}), nullptr, 1);
  RateTables after = ComputeRates(policies, Traffic({{"op", 9}}), &before, 2);
  EXPECT_DOUBLE_EQ(P(after, "op"), 1.0);
}

TEST(RateEngineTest, SmoothingNeverHoldsAValueOutsideNewBounds) {
  RateTables before = ComputeRates(Adaptive(10), Traffic({{"op", 10.5}}), nullptr, 1);
  ASSERT_NEAR(P(before, "op"), 0.952, 0.001);
  // The operator lowers max_probability to 0.9; the wanted 10/11.5 = 0.87 is within 10 % of
  // 0.952, but 0.952 is now out of bounds and must not be held.
  RateTables after =
      ComputeRates(Adaptive(10, "  max_probability: 0.9\n"), Traffic({{"op", 11.5}}), &before, 2);
  EXPECT_NEAR(P(after, "op"), 10 / 11.5, 1e-12);
  EXPECT_EQ(after.Find(kScope)->version, 2u);
}

TEST(RateEngineTest, AnIdleKeyKeepsARateAndRisesGradually) {
  auto policies = Adaptive(10);
  RateTables busy = ComputeRates(policies, Traffic({{"op", 10000}}), nullptr, 1);
  RateTables idle = ComputeRates(policies, Traffic({{"op", 0}}), &busy, 2);
  EXPECT_DOUBLE_EQ(P(idle, "op"), 0.002);  // wants max_probability, capped at ×2
}

TEST(RateEngineTest, FixedRuleAndServiceDefault) {
  auto policies = PoliciesFrom(R"(
defaults:
  initial_probability: 0.002
rules:
  - name: health
    operation: "/health*"
    probability: 0
  - name: dev
    service: dev-*
    probability: 1
)");
  FleetEstimate e = Traffic({{"/healthz", 1000}});
  FleetEstimate dev = Traffic({{"op", 5}}, {"dev-cart", "prod"});
  e.scopes.push_back(dev.scopes[0]);
  RateTables t = ComputeRates(policies, e, nullptr, 1);
  const KeyRate& health = Rate(t, "/healthz");
  EXPECT_DOUBLE_EQ(health.probability, 0);
  EXPECT_EQ(health.threshold, kMaxThreshold);
  EXPECT_EQ(health.rule, 0);
  EXPECT_TRUE(health.reasons & kFixed);
  EXPECT_DOUBLE_EQ(health.lower_bound_per_second, 0);  // fixed rules carry no bound
  EXPECT_DOUBLE_EQ(t.Find(kScope)->default_rate.probability, 0.002);
  EXPECT_TRUE(t.Find(kScope)->default_rate.reasons & kNoEstimate);
  EXPECT_DOUBLE_EQ(t.Find({"dev-cart", "prod"})->default_rate.probability, 1);
}

TEST(RateEngineTest, EnvironmentRulesGiveScopesTheirOwnRates) {
  auto policies = PoliciesFrom(R"(
defaults:
  target_traces_per_second: 1
rules:
  - environment: staging
    probability: 1
)");
  FleetEstimate e = Traffic({{"op", 100}}, {"cart", "production"});
  e.scopes.push_back(Traffic({{"op", 100}}, {"cart", "staging"}).scopes[0]);
  RateTables t = ComputeRates(policies, e, nullptr, 1);
  EXPECT_DOUBLE_EQ(P(t, "op", {"cart", "production"}), 0.01);
  EXPECT_DOUBLE_EQ(P(t, "op", {"cart", "staging"}), 1.0);
}

TEST(RateEngineTest, OverflowKeysRateBecomesTheScopeDefault) {
  RateTables t = ComputeRates(Adaptive(10), Traffic({{"*", 5000}, {"op", 100}}), nullptr, 1);
  EXPECT_DOUBLE_EQ(t.Find(kScope)->default_rate.probability, 10.0 / 5000);
  EXPECT_EQ(t.Find(kScope)->default_rate.threshold, ProbabilityToThreshold(10.0 / 5000));
}

TEST(RateEngineTest, BudgetIsSharedByWeightedWaterFilling) {
  auto policies = PoliciesFrom(R"(
budget_traces_per_second: 30
defaults:
  target_traces_per_second: 20
  lower_bound_traces_per_second: 0
  min_probability: 0
  initial_probability: 0
rules:
  - operation: heavy
    weight: 2
)");
  // small needs 2/s (its whole traffic), a and heavy want 20 each: 42 > 30. small keeps all it
  // needs; 28 is split 1:2 between a and heavy.
  RateTables t =
      ComputeRates(policies, Traffic({{"small", 2}, {"a", 1000}, {"heavy", 1000}}), nullptr, 1);
  EXPECT_DOUBLE_EQ(P(t, "small"), 1.0);
  EXPECT_NEAR(P(t, "a") * 1000, 28.0 / 3, 1e-9);
  EXPECT_NEAR(P(t, "heavy") * 1000, 56.0 / 3, 1e-9);
  EXPECT_TRUE(Rate(t, "a").reasons & kCutByBudget);
  EXPECT_FALSE(Rate(t, "small").reasons & kCutByBudget);
  EXPECT_NEAR(t.budget_allocated_per_second, 30, 1e-9);
  EXPECT_NEAR(t.budget_demand_per_second, 42, 1e-9);
}

TEST(RateEngineTest, FloorsWinOverTheBudget) {
  auto policies = PoliciesFrom(R"(
budget_traces_per_second: 1
defaults:
  target_traces_per_second: 10
  lower_bound_traces_per_second: 2
)");
  RateTables t = ComputeRates(policies, Traffic({{"a", 1000}, {"b", 1000}}), nullptr, 1);
  EXPECT_NEAR(P(t, "a") * 1000, 2, 1e-9);
  EXPECT_TRUE(Rate(t, "a").reasons & kBudgetBelowFloors);
}

TEST(WaterFillTest, SaturatesSmallDemandsAndSplitsTheRestByWeight) {
  auto a = WaterFill({{1, 0, 1}, {100, 0, 1}, {100, 0, 3}}, 41);
  EXPECT_DOUBLE_EQ(a[0], 1);
  EXPECT_DOUBLE_EQ(a[1], 10);
  EXPECT_DOUBLE_EQ(a[2], 30);
  auto enough = WaterFill({{5, 1, 1}, {7, 0, 1}}, 100);
  EXPECT_DOUBLE_EQ(enough[0], 5);
  EXPECT_DOUBLE_EQ(enough[1], 7);
  auto floors = WaterFill({{5, 4, 1}, {7, 4, 1}}, 3);
  EXPECT_DOUBLE_EQ(floors[0], 4);
  EXPECT_DOUBLE_EQ(floors[1], 4);
}

TEST(RateEngineTest, DeterministicForTheSameInputs) {
  auto policies = Adaptive(3, "");
  FleetEstimate e = Traffic({{"a", 123}, {"b", 77}});
  e.scopes.push_back(Traffic({{"c", 9}}, {"t", ""}).scopes[0]);
  RateTables one = ComputeRates(policies, e, nullptr, 5);
  RateTables two = ComputeRates(policies, e, nullptr, 5);
  ASSERT_EQ(one.scopes.size(), two.scopes.size());
  for (const auto& [scope, rates] : one.scopes) {
    EXPECT_TRUE(rates->SameDecisions(*two.scopes.at(scope)));
    EXPECT_EQ(rates->version, two.scopes.at(scope)->version);
  }
}

TEST(RateEngineTest, PolicyOnlyRatesUseInitialProbabilityAndServiceSettings) {
  auto policies = PoliciesFrom(
      "services:\n  - service: new-*\n    batch_profile: low_latency\n"
      "    capture:\n      errors_per_second: 4\n");
  ServiceRates r = PolicyOnlyRates(*policies, {"new-service", "prod"});
  EXPECT_EQ(r.version, 0u);
  EXPECT_TRUE(r.operations.empty());
  EXPECT_DOUBLE_EQ(r.default_rate.probability, policies->defaults.initial_probability);
  EXPECT_EQ(r.batch_profile.name, "low_latency");
  EXPECT_DOUBLE_EQ(r.capture.errors_per_second, 4);
}

// Properties over random traffic mixes (issue: the rate engine must hold these for any input).
void CheckProperties(uint64_t seed) {
  std::mt19937_64 random(seed);
  std::uniform_real_distribution<double> log_qps(-2, 5);  // 0.01 .. 100,000 roots/s
  const double budget = 5 + static_cast<double>(random() % 500);
  const double lower_bound = 0.05;
  auto policies = PoliciesFrom(
      "budget_traces_per_second: " + std::to_string(budget) +
      "\ndefaults:\n  target_traces_per_second: " + std::to_string(1 + random() % 20) +
      "\n  min_probability: 0.0000001\n  lower_bound_traces_per_second: " +
      std::to_string(lower_bound) + "\n  burst: 3\nrules:\n  - operation: \"w*\"\n    weight: 4\n");
  const double tolerance = 0.10;

  std::vector<std::pair<std::string, double>> ops;
  const int n = 1 + static_cast<int>(random() % 200);
  for (int i = 0; i < n; ++i) {
    ops.push_back({(i % 3 == 0 ? "w" : "k") + std::to_string(i), std::pow(10, log_qps(random))});
  }
  const FleetEstimate estimate = Traffic(ops);
  const RateTables t = ComputeRates(policies, estimate, nullptr, 1);

  double expected_sampled = 0;
  double floors = 0;
  for (const auto& [op, q] : ops) {
    const KeyRate& rate = Rate(t, op);
    ASSERT_GE(rate.probability, 0);
    ASSERT_LE(rate.probability, 1);
    expected_sampled += rate.probability * q;
    floors += std::min(q, lower_bound);
    // Every key with traffic gets at least its lower bound (or all of its traffic).
    EXPECT_GE(rate.probability * q, std::min(q, lower_bound) * (1 - 1e-9)) << op << " q=" << q;
    // The local caps of the key's clients add up to burst × the key's expected kept rate.
    EXPECT_NEAR(rate.local_cap_per_second, 3 * rate.probability * q, 1e-9 * (1 + q));
  }
  // The expected sampled rate never exceeds the budget (or the floors, when they alone exceed
  // it) by more than the tolerance.
  EXPECT_LE(expected_sampled, std::max(budget, floors) * (1 + tolerance));

  // More traffic on one key never raises its probability.
  const size_t k = random() % ops.size();
  auto more = ops;
  more[k].second *= 1 + static_cast<double>(random() % 100);
  const RateTables t2 = ComputeRates(policies, Traffic(more), nullptr, 1);
  EXPECT_LE(P(t2, more[k].first), P(t, ops[k].first) * (1 + 1e-12)) << more[k].first;
}

TEST(RateEnginePropertyTest, HoldsForRandomTrafficMixes) {
  for (uint64_t seed = 1; seed <= 300; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    CheckProperties(seed);
    if (::testing::Test::HasFailure()) break;
  }
}

}  // namespace
}  // namespace fleetrate::server
