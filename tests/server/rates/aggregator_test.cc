#include "server/rates/aggregator.h"

#include <gtest/gtest.h>

#include <string>

namespace fleetrate::server {
namespace {

using std::chrono::seconds;

ClientReport MakeReport(const std::string& instance, Duration interval,
                        std::vector<OperationReport> ops, const std::string& service = "cart") {
  return ClientReport{service, instance, interval, std::move(ops)};
}

class AggregatorTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  Aggregator aggregator_;
};

TEST_F(AggregatorTest, SumsEachClientsLatestRatePerKey) {
  aggregator_.Report(MakeReport("a", seconds(10), {{"GET /cart", 1000, 10}}), seconds(10),
                     clock_.Now());
  aggregator_.Report(MakeReport("b", seconds(5), {{"GET /cart", 250, 5}, {"POST /cart", 50, 1}}),
                     seconds(10), clock_.Now());
  FleetEstimate e = aggregator_.Estimate(clock_.Now());
  ASSERT_EQ(e.services.count("cart"), 1u);
  const ServiceEstimate& cart = e.services.at("cart");
  EXPECT_EQ(cart.live_clients, 2u);
  EXPECT_EQ(e.keys, 2u);
  const KeyEstimate& get = cart.operations.at("GET /cart");
  EXPECT_DOUBLE_EQ(get.seen_per_second, 100 + 50);
  EXPECT_DOUBLE_EQ(get.sampled_per_second, 1 + 1);
  EXPECT_DOUBLE_EQ(get.client_seen_per_second.at("a"), 100);
  EXPECT_DOUBLE_EQ(get.client_seen_per_second.at("b"), 50);
  EXPECT_DOUBLE_EQ(cart.operations.at("POST /cart").seen_per_second, 10);
}

TEST_F(AggregatorTest, ANewReportReplacesTheClientsPreviousOneNotAddsToIt) {
  aggregator_.Report(MakeReport("a", seconds(10), {{"op", 1000, 0}}), seconds(10), clock_.Now());
  clock_.Advance(seconds(10));
  aggregator_.Report(MakeReport("a", seconds(10), {{"op", 500, 0}}), seconds(10), clock_.Now());
  EXPECT_DOUBLE_EQ(
      aggregator_.Estimate(clock_.Now()).services.at("cart").operations.at("op").seen_per_second,
      50);
}

TEST_F(AggregatorTest, OperationsAClientStopsReportingDropOutOfItsShare) {
  aggregator_.Report(MakeReport("a", seconds(10), {{"op", 1000, 0}}), seconds(10), clock_.Now());
  aggregator_.Report(MakeReport("a", seconds(10), {}), seconds(10), clock_.Now());
  EXPECT_TRUE(aggregator_.Estimate(clock_.Now()).services.at("cart").operations.empty());
}

TEST_F(AggregatorTest, ClientExpiresAfterThreeMissedIntervals) {
  aggregator_.Report(MakeReport("a", seconds(10), {{"op", 100, 0}}), seconds(10), clock_.Now());
  clock_.Advance(seconds(29));
  EXPECT_EQ(aggregator_.Estimate(clock_.Now()).live_clients, 1u);
  clock_.Advance(seconds(2));
  FleetEstimate e = aggregator_.Estimate(clock_.Now());
  EXPECT_EQ(e.live_clients, 0u);
  EXPECT_EQ(e.keys, 0u);
  EXPECT_TRUE(e.services.empty());
}

TEST_F(AggregatorTest, FirstSyncWithoutCountsRegistersTheClient) {
  aggregator_.Report(MakeReport("a", Duration::zero(), {}), seconds(10), clock_.Now());
  EXPECT_EQ(aggregator_.Estimate(clock_.Now()).live_clients, 1u);
}

TEST_F(AggregatorTest, OperationsBeyondTheServiceCapFoldIntoStar) {
  Aggregator capped(AggregatorLimits{3, 100000, 3});
  capped.Report(
      MakeReport("a", seconds(1), {{"op1", 10, 0}, {"op2", 20, 0}, {"op3", 30, 0}, {"op4", 40, 0}}),
      seconds(1), clock_.Now());
  FleetEstimate e = capped.Estimate(clock_.Now());
  const auto& ops = e.services.at("cart").operations;
  EXPECT_EQ(ops.size(), 3u);                          // op1, op2 and "*"
  EXPECT_DOUBLE_EQ(ops.at("*").seen_per_second, 70);  // op3 + op4: nothing is lost
  EXPECT_EQ(capped.overflowed_reports(), 2u);
}

TEST_F(AggregatorTest, KeysBeyondTheServerCapFoldIntoEachServicesStar) {
  Aggregator capped(AggregatorLimits{2000, 2, 3});
  capped.Report(MakeReport("a", seconds(1), {{"x", 10, 0}}, "s1"), seconds(1), clock_.Now());
  capped.Report(MakeReport("b", seconds(1), {{"y", 10, 0}}, "s2"), seconds(1), clock_.Now());
  FleetEstimate e = capped.Estimate(clock_.Now());
  EXPECT_EQ(e.services.at("s1").operations.count("x"), 1u);
  EXPECT_EQ(e.services.at("s2").operations.count("*"), 1u);
  EXPECT_EQ(capped.overflowed_reports(), 1u);
}

}  // namespace
}  // namespace fleetrate::server
