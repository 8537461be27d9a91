#include "server/views/status_handlers.h"

#include <gtest/gtest.h>
#include <yaml-cpp/yaml.h>

#include <memory>
#include <string>

namespace fleetrate::server {
namespace {

using std::chrono::seconds;

KeyRate Rate(double probability, double seen, double sampled) {
  KeyRate rate;
  rate.probability = probability;
  rate.fleet_seen_per_second = seen;
  rate.fleet_sampled_per_second = sampled;
  return rate;
}

RateTables Tables() {
  RateTables tables;
  auto cart = std::make_shared<ServiceRates>();
  cart->scope = {"cart", "prod"};
  cart->version = 7;
  cart->live_clients = 2;
  cart->operations = {{"GET /cart", Rate(0.01, 1000, 9)}, {"POST /cart", Rate(0.5, 4, 2)}};
  tables.scopes[cart->scope] = cart;
  auto search = std::make_shared<ServiceRates>();
  search->scope = {"<search>", ""};
  search->live_clients = 1;
  search->operations = {{"GET /q", Rate(0.1, 20, 2)}};
  tables.scopes[search->scope] = search;
  return tables;
}

// JSON is a subset of YAML's flow style: yaml-cpp reads it back for the assertions.
YAML::Node Parse(const HttpResponse& response) { return YAML::Load(response.body); }

TEST(StatusHandlersTest, DataListsServicesWithTotalsOperationsAndHistory) {
  const RateTables tables = Tables();
  StatusHistory history;
  ManualClock clock;
  history.Record(tables, clock.Now());
  clock.Advance(seconds(3));

  const HttpResponse response =
      StatusData(&tables, history.Snapshot(), clock.Now(), history.options().resolution);
  EXPECT_EQ(response.status, 200u);
  EXPECT_EQ(response.content_type, "application/json");
  const YAML::Node data = Parse(response);
  EXPECT_EQ(data["resolution_seconds"].as<double>(), 5);
  EXPECT_EQ(data["services_total"].as<int>(), 2);
  const YAML::Node services = data["services"];
  ASSERT_EQ(services.size(), 2u);
  // Sorted by name; names pass through as data, escaped only as JSON requires.
  EXPECT_EQ(services[0]["service"].as<std::string>(), "<search>");
  const YAML::Node cart = services[1];
  EXPECT_EQ(cart["service"].as<std::string>(), "cart");
  EXPECT_EQ(cart["environment"].as<std::string>(), "prod");
  EXPECT_EQ(cart["version"].as<int>(), 7);
  EXPECT_EQ(cart["live_clients"].as<int>(), 2);
  EXPECT_DOUBLE_EQ(cart["seen_per_second"].as<double>(), 1004);
  EXPECT_DOUBLE_EQ(cart["target_per_second"].as<double>(), 12);  // 0.01 × 1000 + 0.5 × 4
  EXPECT_DOUBLE_EQ(cart["achieved_per_second"].as<double>(), 11);
  ASSERT_EQ(cart["operations"].size(), 2u);
  EXPECT_EQ(cart["operations"][0]["operation"].as<std::string>(), "GET /cart");  // busiest
  EXPECT_DOUBLE_EQ(cart["operations"][0]["probability"].as<double>(), 0.01);
  EXPECT_DOUBLE_EQ(cart["operations"][0]["target_per_second"].as<double>(), 10);
  EXPECT_DOUBLE_EQ(cart["operations"][0]["achieved_per_second"].as<double>(), 9);
  const YAML::Node points = cart["history"];
  ASSERT_EQ(points["age_seconds"].size(), 1u);
  EXPECT_DOUBLE_EQ(points["age_seconds"][0].as<double>(), 3);
  EXPECT_DOUBLE_EQ(points["target"][0].as<double>(), 12);
  EXPECT_DOUBLE_EQ(points["achieved"][0].as<double>(), 11);
  EXPECT_DOUBLE_EQ(points["seen"][0].as<double>(), 1004);
}

TEST(StatusHandlersTest, DataListsAtMostTheBusiestOperations) {
  RateTables tables;
  auto big = std::make_shared<ServiceRates>();
  big->scope = {"big", ""};
  for (size_t i = 0; i < kStatusMaxOperations + 10; ++i) {
    big->operations.push_back({"op-" + std::to_string(1000 + i), Rate(1, double(i), double(i))});
  }
  tables.scopes[big->scope] = big;
  const YAML::Node data = Parse(StatusData(&tables, {}, Timestamp{}, seconds(5)));
  const YAML::Node service = data["services"][0];
  EXPECT_EQ(service["operations_total"].as<size_t>(), kStatusMaxOperations + 10);
  ASSERT_EQ(service["operations"].size(), kStatusMaxOperations);
  EXPECT_EQ(service["operations"][0]["operation"].as<std::string>(), "op-1059");
  EXPECT_EQ(service["history"]["age_seconds"].size(), 0u);
}

TEST(StatusHandlersTest, DataIsUnavailableBeforeTheFirstTable) {
  EXPECT_EQ(StatusData(nullptr, {}, Timestamp{}, seconds(5)).status, 503u);
}

TEST(StatusHandlersTest, PageIsSelfContained) {
  const std::string page(StatusPageHtml());
  ASSERT_NE(page.find("<!DOCTYPE html>"), std::string::npos);
  EXPECT_NE(page.find("fetch('ui/data'"), std::string::npos);
  // Inline style and script only: nothing the browser would fetch from elsewhere.
  for (const char* external : {"<link", "<img", " src=", "@import", "url(", "href=\"http"}) {
    EXPECT_EQ(page.find(external), std::string::npos) << external;
  }
  // Client-supplied names are set as text, never parsed as markup.
  EXPECT_EQ(page.find("innerHTML"), std::string::npos);
}

}  // namespace
}  // namespace fleetrate::server
