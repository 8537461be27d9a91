#include "server/rates/rate_engine.h"

#include <gtest/gtest.h>

#include "fleetrate/threshold.h"

namespace fleetrate::server {
namespace {

Policies AdaptivePolicies(double target) {
  Policies p = *ParsePolicies("");
  p.defaults.target_traces_per_second = target;
  return p;
}

FleetEstimate OneKey(const std::string& service, const std::string& op,
                     std::map<std::string, double> clients) {
  FleetEstimate e;
  KeyEstimate& key = e.services[service].operations[op];
  for (const auto& [instance, seen] : clients) {
    key.seen_per_second += seen;
    key.client_seen_per_second[instance] = seen;
  }
  e.services[service].live_clients = clients.size();
  e.live_clients = clients.size();
  e.keys = 1;
  return e;
}

TEST(RateEngineTest, ProbabilityIsTargetOverFleetQpsInOneStep) {
  Policies policies = AdaptivePolicies(10);
  RateTables t =
      ComputeRates(policies, OneKey("cart", "GET", {{"a", 300}, {"b", 700}}), nullptr, 7);
  const ServiceRates* cart = t.Find("cart");
  ASSERT_NE(cart, nullptr);
  EXPECT_EQ(cart->version, 7u);
  const KeyRate& rate = cart->operations.at("GET");
  EXPECT_DOUBLE_EQ(rate.probability, 10.0 / 1000);
  EXPECT_EQ(rate.threshold, ProbabilityToThreshold(0.01));
  EXPECT_DOUBLE_EQ(rate.fleet_seen_per_second, 1000);
  EXPECT_DOUBLE_EQ(rate.local_cap_per_second, 2 * 10);  // burst × target, fleet-wide
  EXPECT_DOUBLE_EQ(cart->client_share.at("GET").at("a"), 0.3);
  EXPECT_DOUBLE_EQ(cart->client_share.at("GET").at("b"), 0.7);
}

TEST(RateEngineTest, ProbabilityIsClampedToTheRuleBounds) {
  Policies policies = AdaptivePolicies(10);
  policies.defaults.min_probability = 0.001;
  EXPECT_DOUBLE_EQ(ComputeRates(policies, OneKey("s", "op", {{"a", 1e7}}), nullptr, 1)
                       .Find("s")
                       ->operations.at("op")
                       .probability,
                   0.001);
  EXPECT_DOUBLE_EQ(ComputeRates(policies, OneKey("s", "op", {{"a", 3}}), nullptr, 1)
                       .Find("s")
                       ->operations.at("op")
                       .probability,
                   1.0);
}

TEST(RateEngineTest, FallsApplyAtOnceRisesAreCapped) {
  Policies policies = AdaptivePolicies(10);
  RateTables before = ComputeRates(policies, OneKey("s", "op", {{"a", 1000}}), nullptr, 1);
  ASSERT_DOUBLE_EQ(before.Find("s")->operations.at("op").probability, 0.01);

  // Traffic ×10: the rate falls to the target at once.
  RateTables fell = ComputeRates(policies, OneKey("s", "op", {{"a", 10000}}), &before, 2);
  EXPECT_DOUBLE_EQ(fell.Find("s")->operations.at("op").probability, 0.001);

  // Traffic ÷100: the wanted rate is 0.1, but it rises at most ×2 per recompute.
  RateTables rose = ComputeRates(policies, OneKey("s", "op", {{"a", 100}}), &fell, 3);
  EXPECT_DOUBLE_EQ(rose.Find("s")->operations.at("op").probability, 0.002);
  RateTables rose2 = ComputeRates(policies, OneKey("s", "op", {{"a", 100}}), &rose, 4);
  EXPECT_DOUBLE_EQ(rose2.Find("s")->operations.at("op").probability, 0.004);
}

TEST(RateEngineTest, NoiseWithinToleranceKeepsRateAndVersion) {
  Policies policies = AdaptivePolicies(10);
  RateTables before = ComputeRates(policies, OneKey("s", "op", {{"a", 1000}}), nullptr, 1);
  RateTables noisy = ComputeRates(policies, OneKey("s", "op", {{"a", 1050}}), &before, 2);
  EXPECT_DOUBLE_EQ(noisy.Find("s")->operations.at("op").probability, 0.01);
  EXPECT_EQ(noisy.Find("s")->version, 1u);
  RateTables moved = ComputeRates(policies, OneKey("s", "op", {{"a", 1500}}), &noisy, 3);
  EXPECT_NEAR(moved.Find("s")->operations.at("op").probability, 10.0 / 1500, 1e-12);
  EXPECT_EQ(moved.Find("s")->version, 3u);
}

TEST(RateEngineTest, ClampBoundIsReachedExactlyEvenWithinTolerance) {
  Policies policies = AdaptivePolicies(10);
  RateTables before = ComputeRates(policies, OneKey("s", "op", {{"a", 10.5}}), nullptr, 1);
  ASSERT_NEAR(before.Find("s")->operations.at("op").probability, 10 / 10.5, 1e-12);
  RateTables after = ComputeRates(policies, OneKey("s", "op", {{"a", 9}}), &before, 2);
  EXPECT_DOUBLE_EQ(after.Find("s")->operations.at("op").probability, 1.0);
}

TEST(RateEngineTest, FixedRuleAndServiceDefault) {
  auto policies = ParsePolicies(R"(
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
  ASSERT_TRUE(policies.ok()) << policies.status();
  FleetEstimate e = OneKey("cart", "/healthz", {{"a", 1000}});
  e.services["dev-cart"].operations["op"].seen_per_second = 5;
  RateTables t = ComputeRates(*policies, e, nullptr, 1);
  const KeyRate& health = t.Find("cart")->operations.at("/healthz");
  EXPECT_DOUBLE_EQ(health.probability, 0);
  EXPECT_EQ(health.threshold, kMaxThreshold);
  EXPECT_EQ(health.rule, "health");
  EXPECT_DOUBLE_EQ(health.lower_bound_per_second, 0);  // fixed rules carry no bound
  EXPECT_DOUBLE_EQ(t.Find("cart")->default_rate.probability, 0.002);
  EXPECT_DOUBLE_EQ(t.Find("dev-cart")->default_rate.probability, 1);
}

TEST(RateEngineTest, DeterministicForTheSameInputs) {
  Policies policies = AdaptivePolicies(3);
  FleetEstimate e = OneKey("s", "a", {{"x", 123}, {"y", 456}});
  e.services["s"].operations["b"].seen_per_second = 77;
  e.services["t"].operations["c"].seen_per_second = 9;
  RateTables one = ComputeRates(policies, e, nullptr, 5);
  RateTables two = ComputeRates(policies, e, nullptr, 5);
  ASSERT_EQ(one.services.size(), two.services.size());
  for (const auto& [name, rates] : one.services) {
    EXPECT_TRUE(rates->SameDecisions(*two.services.at(name)));
    EXPECT_EQ(rates->version, two.services.at(name)->version);
  }
}

TEST(RateEngineTest, PolicyOnlyRatesUseInitialProbability) {
  Policies policies = AdaptivePolicies(1);
  ServiceRates r = PolicyOnlyRates(policies, "new-service");
  EXPECT_EQ(r.version, 0u);
  EXPECT_TRUE(r.operations.empty());
  EXPECT_DOUBLE_EQ(r.default_rate.probability, policies.defaults.initial_probability);
  EXPECT_EQ(r.batch_profile.name, "balanced");
}

}  // namespace
}  // namespace fleetrate::server
