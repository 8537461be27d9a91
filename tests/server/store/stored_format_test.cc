#include "server/store/stored_format.h"

#include <gtest/gtest.h>

#include <memory>

namespace fleetrate::server {
namespace {

TEST(StoredFormatTest, AReportRoundTrips) {
  const ClientReport report{{"cart", "prod"},
                            "cart-7f9c",
                            std::chrono::milliseconds(9500),
                            {{"GET /cart", 12000, 40}, {"POST /cart", 300, 3}}};
  store::v1::StoredReport stored;
  ToStored(report, std::chrono::seconds(10), &stored);
  store::v1::StoredReport wire;
  ASSERT_TRUE(wire.ParseFromString(stored.SerializeAsString()));
  Duration sync_interval{};
  const ClientReport back = FromStored(wire, &sync_interval);
  EXPECT_EQ(back.scope, report.scope);
  EXPECT_EQ(back.instance_id, report.instance_id);
  EXPECT_EQ(back.interval, report.interval);
  EXPECT_EQ(sync_interval, std::chrono::seconds(10));
  ASSERT_EQ(back.operations.size(), 2u);
  EXPECT_EQ(back.operations[1].operation, "POST /cart");
  EXPECT_EQ(back.operations[1].roots_seen, 300u);
  EXPECT_EQ(back.operations[1].roots_sampled, 3u);
}

TEST(StoredFormatTest, ATableRoundTripsExactly) {
  auto rates = std::make_shared<ServiceRates>();
  rates->scope = {"cart", "prod"};
  rates->version = 1795644488147;
  KeyRate get;
  get.probability = 0.0123;
  get.threshold = 0xfcd35a858793dd;
  get.local_cap_per_second = 7.5;
  get.lower_bound_per_second = 1.0 / 60;
  get.fleet_seen_per_second = 812.25;
  get.fleet_sampled_per_second = 9.99;
  get.wanted_probability = 0.0125;
  get.burst = 3;
  get.rule = 2;
  get.reasons = kRiseCapped | kCutByBudget;
  KeyRate health;
  health.reasons = kFixed;
  // Out of order on purpose: a reader must get them sorted.
  rates->operations = {{"GET /health", health}, {"GET /cart", get}};
  rates->default_rate.probability = 0.001;
  rates->batch_profile = {"low_latency", 512, 128, 1000, 10000};
  rates->capture = {2.5, 1000, 0.5};
  rates->live_clients = 12;
  RateTables tables;
  tables.scopes.emplace(rates->scope, rates);
  tables.budget_demand_per_second = 120;
  tables.budget_allocated_per_second = 100;

  store::v1::StoredTables stored;
  ToStored(tables, &stored);
  store::v1::StoredTables wire;
  ASSERT_TRUE(wire.ParseFromString(stored.SerializeAsString()));
  auto policies = std::make_shared<const Policies>();
  const std::shared_ptr<const RateTables> back = FromStored(wire, policies);
  EXPECT_EQ(back->policies, policies);
  EXPECT_EQ(back->budget_demand_per_second, 120);
  EXPECT_EQ(back->budget_allocated_per_second, 100);
  const ServiceRates* s = back->Find({"cart", "prod"});
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->version, rates->version);
  EXPECT_EQ(s->live_clients, 12u);
  EXPECT_EQ(s->batch_profile, rates->batch_profile);
  EXPECT_EQ(s->capture, rates->capture);
  EXPECT_EQ(s->default_rate.probability, 0.001);
  ASSERT_EQ(s->operations.size(), 2u);
  EXPECT_EQ(s->operations[0].first, "GET /cart");
  const KeyRate* back_get = s->Find("GET /cart");
  ASSERT_NE(back_get, nullptr);
  EXPECT_EQ(back_get->probability, get.probability);
  EXPECT_EQ(back_get->threshold, get.threshold);
  EXPECT_EQ(back_get->local_cap_per_second, get.local_cap_per_second);
  EXPECT_EQ(back_get->lower_bound_per_second, get.lower_bound_per_second);
  EXPECT_EQ(back_get->fleet_seen_per_second, get.fleet_seen_per_second);
  EXPECT_EQ(back_get->fleet_sampled_per_second, get.fleet_sampled_per_second);
  EXPECT_EQ(back_get->wanted_probability, get.wanted_probability);
  EXPECT_EQ(back_get->burst, get.burst);
  EXPECT_EQ(back_get->rule, get.rule);
  EXPECT_EQ(back_get->reasons, get.reasons);
  ASSERT_NE(s->Find("GET /health"), nullptr);
  EXPECT_EQ(s->Find("GET /health")->reasons, kFixed);
  EXPECT_EQ(MaxVersion(*back), rates->version);
}

}  // namespace
}  // namespace fleetrate::server
