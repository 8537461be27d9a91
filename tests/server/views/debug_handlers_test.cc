#include "server/views/debug_handlers.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <string>

#include "fleetrate/threshold.h"

namespace fleetrate::server {
namespace {

HttpRequest Get(const std::string& path, QueryParams query = {}) {
  HttpRequest request;
  request.method = "GET";
  request.path = path;
  request.query = std::move(query);
  return request;
}

std::shared_ptr<const Policies> TestPolicies() {
  absl::StatusOr<Policies> policies = ParsePolicies(
      "budget_traces_per_second: 50\n"
      "defaults:\n  target_traces_per_second: 2\n"
      "rules:\n  - name: health-checks\n    operation: \"*health*\"\n    probability: 0\n");
  EXPECT_TRUE(policies.ok()) << policies.status();
  policies->source_name = "config/test.yaml";
  return std::make_shared<const Policies>(*std::move(policies));
}

KeyRate Rate(double probability, double seen, int rule, uint16_t reasons) {
  KeyRate rate;
  rate.probability = probability;
  rate.threshold = ProbabilityToThreshold(probability);
  rate.fleet_seen_per_second = seen;
  rate.fleet_sampled_per_second = probability * seen;
  rate.rule = rule;
  rate.reasons = reasons;
  return rate;
}

// Two scopes: cart/prod with three operations, search/prod with one.
RateTables TestTables() {
  RateTables tables;
  tables.policies = TestPolicies();
  auto cart = std::make_shared<ServiceRates>();
  cart->scope = {"cart", "prod"};
  cart->version = 42;
  cart->live_clients = 3;
  cart->operations = {{"GET /cart", Rate(0.002, 1000, -1, kClampedToMin)},
                      {"GET /health", Rate(0, 50, 0, kFixed)},
                      {"POST /cart", Rate(0.5, 4, -1, 0)}};
  tables.scopes[cart->scope] = cart;
  auto search = std::make_shared<ServiceRates>();
  search->scope = {"search", "prod"};
  search->operations = {{"GET /q", Rate(0.01, 200, -1, 0)}};
  tables.scopes[search->scope] = search;
  return tables;
}

YAML::Node ParseJson(const HttpResponse& response) {
  EXPECT_EQ(response.status, 200u) << response.body;
  EXPECT_EQ(response.content_type, "application/json");
  return YAML::Load(response.body);
}

TEST(DebugRatesTest, ListsEveryScopeAndOperationWithItsRate) {
  const RateTables tables = TestTables();
  YAML::Node json = ParseJson(DebugRates(&tables, Get("/debug/rates")));
  ASSERT_EQ(json["scopes"].size(), 2u);
  YAML::Node cart = json["scopes"][0];
  EXPECT_EQ(cart["service"].as<std::string>(), "cart");
  EXPECT_EQ(cart["environment"].as<std::string>(), "prod");
  EXPECT_EQ(cart["version"].as<uint64_t>(), 42u);
  EXPECT_EQ(cart["live_clients"].as<int>(), 3);
  ASSERT_EQ(cart["operations"].size(), 3u);
  YAML::Node get = cart["operations"][0];
  EXPECT_EQ(get["operation"].as<std::string>(), "GET /cart");
  EXPECT_DOUBLE_EQ(get["probability"].as<double>(), 0.002);
  EXPECT_EQ(get["threshold"].as<std::string>(), EncodeThreshold(ProbabilityToThreshold(0.002)));
  EXPECT_DOUBLE_EQ(get["fleet_seen_per_second"].as<double>(), 1000);
  EXPECT_DOUBLE_EQ(get["fleet_sampled_per_second"].as<double>(), 2);
  EXPECT_EQ(get["rule"].as<std::string>(), "default");
  ASSERT_EQ(get["reasons"].size(), 1u);
  EXPECT_EQ(get["reasons"][0].as<std::string>(), "clamped_to_min");
  YAML::Node health = cart["operations"][1];
  EXPECT_EQ(health["rule"].as<std::string>(), "health-checks");
  EXPECT_TRUE(health["threshold"].IsNull());  // p = 0 has no OTel threshold
  EXPECT_EQ(health["reasons"][0].as<std::string>(), "fixed");
  EXPECT_EQ(json["operations_total"].as<int>(), 4);
  EXPECT_FALSE(json["truncated"].as<bool>());
  EXPECT_FALSE(json["note"].IsDefined());
  EXPECT_EQ(json["policies_source"].as<std::string>(), "config/test.yaml");
}

TEST(DebugRatesTest, FiltersByServiceAndEnvironment) {
  const RateTables tables = TestTables();
  YAML::Node json = ParseJson(DebugRates(&tables, Get("/debug/rates", {{"service", "search"}})));
  ASSERT_EQ(json["scopes"].size(), 1u);
  EXPECT_EQ(json["scopes"][0]["service"].as<std::string>(), "search");
  EXPECT_EQ(json["operations_total"].as<int>(), 1);
  json = ParseJson(
      DebugRates(&tables, Get("/debug/rates", {{"service", "cart"}, {"environment", "dev"}})));
  EXPECT_EQ(json["scopes"].size(), 0u);
  EXPECT_EQ(json["scopes_total"].as<int>(), 0);
}

TEST(DebugRatesTest, ALimitTruncatesTheListAndSaysSo) {
  const RateTables tables = TestTables();
  YAML::Node json = ParseJson(DebugRates(&tables, Get("/debug/rates", {{"limit", "2"}})));
  ASSERT_EQ(json["scopes"].size(), 1u);  // no room left for search's operations
  EXPECT_EQ(json["scopes"][0]["operations"].size(), 2u);
  EXPECT_EQ(json["scopes"][0]["operations_total"].as<int>(), 3);
  EXPECT_EQ(json["operations_shown"].as<int>(), 2);
  EXPECT_EQ(json["operations_total"].as<int>(), 4);
  EXPECT_EQ(json["scopes_total"].as<int>(), 2);
  EXPECT_TRUE(json["truncated"].as<bool>());
  EXPECT_NE(json["note"].as<std::string>().find("showing 2 of 4 operations"), std::string::npos);
}

TEST(DebugRatesTest, ALargeTableIsBoundedByTheDefaultLimit) {
  RateTables tables;
  tables.policies = TestPolicies();
  auto big = std::make_shared<ServiceRates>();
  big->scope = {"big", "prod"};
  for (int i = 0; i < 20000; ++i) {
    big->operations.emplace_back("op" + std::to_string(100000 + i), Rate(0.1, 1, -1, 0));
  }
  tables.scopes[big->scope] = big;
  const HttpResponse response = DebugRates(&tables, Get("/debug/rates"));
  YAML::Node json = ParseJson(response);
  EXPECT_EQ(json["operations_shown"].as<size_t>(), kDebugRatesDefaultLimit);
  EXPECT_TRUE(json["truncated"].as<bool>());
  EXPECT_LT(response.body.size(), 512u * 1024);
}

TEST(DebugRatesTest, BadParametersAre400AndNoTableIs503) {
  const RateTables tables = TestTables();
  for (const char* limit : {"0", "-1", "abc", "100001", "5x"}) {
    const HttpResponse r = DebugRates(&tables, Get("/debug/rates", {{"limit", limit}}));
    EXPECT_EQ(r.status, 400u) << limit;
    EXPECT_NE(r.body.find("'limit'"), std::string::npos) << r.body;
  }
  EXPECT_EQ(DebugRates(&tables, Get("/debug/rates", {{"service", "a"}, {"service", "b"}})).status,
            400u);
  EXPECT_EQ(DebugRates(nullptr, Get("/debug/rates")).status, 503u);
}

TEST(DebugConfigTest, ShowsTheSourceTheDocumentAndASummary) {
  const std::shared_ptr<const Policies> policies = TestPolicies();
  YAML::Node json = ParseJson(DebugConfig(policies.get(), Get("/debug/config")));
  EXPECT_EQ(json["source_name"].as<std::string>(), "config/test.yaml");
  EXPECT_EQ(json["source_text"].as<std::string>(), policies->source_text);
  YAML::Node summary = json["summary"];
  EXPECT_DOUBLE_EQ(summary["budget_traces_per_second"].as<double>(), 50);
  EXPECT_EQ(summary["defaults"]["mode"].as<std::string>(), "adaptive");
  EXPECT_DOUBLE_EQ(summary["defaults"]["target_traces_per_second"].as<double>(), 2);
  ASSERT_EQ(summary["rules"].size(), 1u);
  EXPECT_EQ(summary["rules"][0]["name"].as<std::string>(), "health-checks");
  EXPECT_EQ(summary["rules"][0]["mode"].as<std::string>(), "fixed");
  EXPECT_EQ(summary["rules"][0]["operation"].as<std::string>(), "*health*");
  EXPECT_DOUBLE_EQ(summary["rules"][0]["probability"].as<double>(), 0);
}

TEST(DebugConfigTest, YamlFormatReturnsTheDocumentAlone) {
  const std::shared_ptr<const Policies> policies = TestPolicies();
  const HttpResponse r = DebugConfig(policies.get(), Get("/debug/config", {{"format", "yaml"}}));
  EXPECT_EQ(r.status, 200u);
  EXPECT_EQ(r.body, policies->source_text);
  EXPECT_EQ(DebugConfig(policies.get(), Get("/debug/config", {{"format", "xml"}})).status, 400u);
  EXPECT_EQ(DebugConfig(nullptr, Get("/debug/config")).status, 503u);
}

TEST(DebugStoreTest, SaysWhyTheStoreIsDegradedAndCountsRefusals) {
  StoreStatus status;
  status.backend = "redis";
  status.connected = true;
  status.degraded = true;
  status.degraded_reason = "refused the last table: fleetrate:table (sequence 9): probability";
  status.last_invalid = "stream entry 1-0 reports[0].service: required, got empty";
  status.table_age_seconds = 1.5;
  status.invalid_reports = 4;
  status.invalid_entries = 3;
  status.invalid_tables = 2;
  status.lease_repairs = 1;
  const YAML::Node json = ParseJson(DebugStore(status));
  EXPECT_TRUE(json["degraded"].as<bool>());
  EXPECT_EQ(json["degraded_reason"].as<std::string>(), status.degraded_reason);
  EXPECT_EQ(json["last_invalid"].as<std::string>(), status.last_invalid);
  EXPECT_EQ(json["table_age_seconds"].as<double>(), 1.5);
  EXPECT_EQ(json["invalid_reports"].as<int>(), 4);
  EXPECT_EQ(json["invalid_entries"].as<int>(), 3);
  EXPECT_EQ(json["invalid_tables"].as<int>(), 2);
  EXPECT_EQ(json["lease_repairs"].as<int>(), 1);
  // Disconnected is degraded whatever else holds.
  StoreStatus down;
  down.connected = false;
  EXPECT_TRUE(ParseJson(DebugStore(down))["degraded"].as<bool>());
  EXPECT_FALSE(ParseJson(DebugStore(StoreStatus{}))["degraded"].as<bool>());
}

}  // namespace
}  // namespace fleetrate::server
