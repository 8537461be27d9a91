#include "server/jaeger/strategy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <sstream>

#include "server/rates/rate_engine.h"

namespace fleetrate::server {
namespace {

std::string Golden(const std::string& name) {
  std::ifstream in(std::string(FLEETRATE_SOURCE_DIR) + "/tests/server/jaeger/golden/" + name);
  std::stringstream buffer;
  buffer << in.rdbuf();
  return buffer.str();
}

std::shared_ptr<const Policies> PoliciesFrom(const std::string& yaml) {
  auto p = ParsePolicies(yaml);
  EXPECT_TRUE(p.ok()) << p.status();
  return std::make_shared<const Policies>(p.ok() ? *p : Policies{});
}

FleetEstimate Traffic(const Scope& scope, std::vector<std::pair<std::string, double>> ops,
                      size_t clients = 1) {
  FleetEstimate e;
  ScopeEstimate s;
  s.scope = scope;
  s.live_clients = clients;
  std::sort(ops.begin(), ops.end());  // as the aggregator delivers them
  for (auto& [name, q] : ops) s.operations.push_back({name, {q, 0, 1}});
  e.scopes.push_back(std::move(s));
  return e;
}

TEST(JaegerStrategyTest, FixedServiceWithoutOperationsIsSimpleProbabilistic) {
  auto policies = PoliciesFrom("rules:\n  - service: foo\n    probability: 0.8\n");
  EXPECT_EQ(JaegerStrategyToJson(BuildJaegerStrategy(nullptr, *policies, "foo")),
            Golden("probabilistic.json"));
}

TEST(JaegerStrategyTest, RateLimitedServiceIsRateLimiting) {
  auto policies = PoliciesFrom("rules:\n  - service: bar\n    rate_limit_traces_per_second: 42\n");
  EXPECT_EQ(JaegerStrategyToJson(BuildJaegerStrategy(nullptr, *policies, "bar")),
            Golden("rate_limiting.json"));
}

TEST(JaegerStrategyTest, ComputedPerOperationRatesBecomeOperationSampling) {
  // The shape Jaeger documents: default 1, lower bound 1/60, one busy operation at 1e-5.
  auto policies =
      PoliciesFrom("defaults:\n  target_traces_per_second: 1\n  initial_probability: 1\n");
  RateTables tables =
      ComputeRates(policies, Traffic({"lets", ""}, {{"lets-go", 100000}}), nullptr, 1);
  EXPECT_EQ(JaegerStrategyToJson(BuildJaegerStrategy(&tables, *policies, "lets")),
            Golden("per_operation.json"));
}

TEST(JaegerStrategyTest, LowerBoundIsSplitAcrossTheServicesClientsAndStarIsTheDefault) {
  auto policies = PoliciesFrom("defaults:\n  target_traces_per_second: 1\n");
  RateTables tables = ComputeRates(
      policies, Traffic({"shop", ""}, {{"browse", 1000}, {"*", 50000}}, 4), nullptr, 1);
  auto strategy = BuildJaegerStrategy(&tables, *policies, "shop");
  ASSERT_TRUE(strategy.has_operationsampling());
  const auto& ops = strategy.operationsampling();
  EXPECT_DOUBLE_EQ(ops.defaultlowerboundtracespersecond(), (1.0 / 60) / 4);
  ASSERT_EQ(ops.peroperationstrategies_size(), 1);  // "*" is the default, not an operation
  EXPECT_EQ(ops.peroperationstrategies(0).operation(), "browse");
  EXPECT_DOUBLE_EQ(ops.defaultsamplingprobability(), 1.0 / 50000);
}

TEST(JaegerStrategyTest, LiteralRuleOperationsAreServedBeforeAnyTraffic) {
  auto policies = PoliciesFrom(R"(
defaults:
  probability: 0.5
rules:
  - service: shop
    operation: checkout
    probability: 1
  - service: other
    operation: login
    probability: 0.1
  - operation: "GET *"
    probability: 0.2
)");
  auto strategy = BuildJaegerStrategy(nullptr, *policies, "shop");
  ASSERT_EQ(strategy.operationsampling().peroperationstrategies_size(), 1);
  EXPECT_EQ(strategy.operationsampling().peroperationstrategies(0).operation(), "checkout");
  EXPECT_DOUBLE_EQ(
      strategy.operationsampling().peroperationstrategies(0).probabilisticsampling().samplingrate(),
      1);
  EXPECT_DOUBLE_EQ(strategy.probabilisticsampling().samplingrate(), 0.5);
}

TEST(JaegerStrategyTest, PrefersTheScopeWithoutEnvironmentElseTheBusiest) {
  auto policies = PoliciesFrom("defaults:\n  target_traces_per_second: 1\n");
  FleetEstimate e = Traffic({"svc", "staging"}, {{"op", 10}}, 1);
  e.scopes.push_back(Traffic({"svc", "production"}, {{"op", 1000}}, 5).scopes[0]);
  RateTables tables = ComputeRates(policies, e, nullptr, 1);
  auto strategy = BuildJaegerStrategy(&tables, *policies, "svc");
  EXPECT_DOUBLE_EQ(
      strategy.operationsampling().peroperationstrategies(0).probabilisticsampling().samplingrate(),
      1.0 / 1000);
}

}  // namespace
}  // namespace fleetrate::server
