#include "server/jaeger/strategy.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
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

// The literal-rule operations as BuildJaegerStrategy found them before it was made linear: one
// Policies::MatchIndex per rule (quadratic in the rules). The reference for the tests below.
std::vector<std::pair<std::string, double>> ReferenceLiteralOperations(const RateTables* tables,
                                                                       const Policies& policies,
                                                                       const Scope& scope) {
  const ServiceRates* rates = tables != nullptr ? tables->Find(scope) : nullptr;
  std::vector<std::pair<std::string, double>> out;
  for (size_t i = 0; i < policies.rules.size(); ++i) {
    const Rule& rule = policies.rules[i];
    const std::string& operation = rule.operation_glob;
    if (rule.rate_limited() || operation.find_first_of("*?") != std::string::npos ||
        (rates != nullptr && rates->Find(operation) != nullptr) ||
        policies.MatchIndex(scope.service, scope.environment, operation) != static_cast<int>(i)) {
      continue;
    }
    out.emplace_back(operation, rule.probability.value_or(rule.initial_probability));
  }
  return out;
}

// The per-operation strategies after the ones for operations in the table (those come first).
std::vector<std::pair<std::string, double>> ServedLiteralOperations(
    const jaeger::api_v2::SamplingStrategyResponse& strategy, const RateTables* tables,
    const Scope& scope) {
  const ServiceRates* rates = tables != nullptr ? tables->Find(scope) : nullptr;
  int skip = 0;
  if (rates != nullptr) {
    for (const auto& [operation, rate] : rates->operations) skip += operation != "*";
  }
  std::vector<std::pair<std::string, double>> out;
  for (const auto& op : strategy.operationsampling().peroperationstrategies()) {
    if (skip-- > 0) continue;
    out.emplace_back(op.operation(), op.probabilisticsampling().samplingrate());
  }
  return out;
}

TEST(JaegerStrategyTest, LiteralRuleOperationsAgreeWithRuleByRuleMatching) {
  // Earlier literals and globs shadow later rules; other services' rules and rate limits are
  // not served; operations with traffic come from the table.
  auto policies = PoliciesFrom(R"(
defaults:
  probability: 0.5
rules:
  - service: shop
    operation: "GET /api/*"
    probability: 0.3
  - service: shop
    operation: checkout
    probability: 1
  - service: "sh?p"
    operation: checkout
    probability: 0.9
  - service: shop
    operation: "GET /api/cart"
    probability: 0.8
  - service: shop
    operation: limited
    rate_limit_traces_per_second: 5
  - service: shop
    operation: limited
    probability: 0.7
  - service: other
    operation: login
    probability: 0.1
  - service: "*"
    operation: busy
    probability: 0.05
  - service: shop
    environment: prod
    operation: prod-only
    probability: 0.6
  - service: shop
    operation: "*"
    probability: 0.2
  - service: shop
    operation: after-star
    probability: 0.4
  - operation: everywhere
    probability: 0.01
)");
  RateTables tables = ComputeRates(policies, Traffic({"shop", ""}, {{"busy", 100}}), nullptr, 1);
  const RateTables* const with_and_without[] = {nullptr, &tables};
  for (const RateTables* t : with_and_without) {
    for (const char* service : {"shop", "other", "unknown"}) {
      const Scope scope{service, ""};
      const auto served =
          ServedLiteralOperations(BuildJaegerStrategy(t, *policies, service), t, scope);
      EXPECT_EQ(served, ReferenceLiteralOperations(t, *policies, scope))
          << service << (t ? " with traffic" : " without traffic");
    }
  }
  const auto shop =
      ServedLiteralOperations(BuildJaegerStrategy(nullptr, *policies, "shop"), nullptr, {});
  const std::vector<std::pair<std::string, double>> expected = {{"checkout", 1}, {"busy", 0.05}};
  EXPECT_EQ(shop, expected);
}

// 10,000 literal-operation rules for one service (a converted Jaeger strategies file of that
// size). Rule by rule matching took ~2 s per answer; the single pass takes milliseconds.
std::shared_ptr<const Policies> ManyLiteralRules(size_t count) {
  Policies policies = *ParsePolicies("defaults:\n  probability: 0.5\n");
  for (size_t i = 0; i < count; ++i) {
    Rule rule;
    rule.name = "op" + std::to_string(i);
    rule.service_glob = "big";
    rule.operation_glob = "operation-" + std::to_string(i);
    rule.probability = 0.25;
    policies.rules.push_back(std::move(rule));
  }
  return std::make_shared<const Policies>(std::move(policies));
}

TEST(JaegerStrategyTest, TenThousandLiteralRulesBuildInLinearTime) {
  auto policies = ManyLiteralRules(10'000);
  const auto start = std::chrono::steady_clock::now();
  const auto strategy = BuildJaegerStrategy(nullptr, *policies, "big");
  const auto elapsed = std::chrono::steady_clock::now() - start;
  EXPECT_EQ(strategy.operationsampling().peroperationstrategies_size(), 10'000);
  // Generous (sanitizer builds, a busy machine); the quadratic version took seconds.
  EXPECT_LT(elapsed, std::chrono::milliseconds(500));
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
