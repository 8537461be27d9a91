#include "server/service/rate_publisher.h"

#include <gtest/gtest.h>

#include "server/store/memory_store.h"

namespace fleetrate::server {
namespace {

using std::chrono::seconds;

class RatePublisherTest : public ::testing::Test {
 protected:
  RatePublisherTest()
      : metrics_(std::make_shared<prometheus::Registry>()),
        policies_(std::make_shared<const Policies>(
            *ParsePolicies("defaults:\n  target_traces_per_second: 5\n"))),
        publisher_(policies_, store_, metrics_, 100) {}

  void Report(const std::string& instance, uint64_t seen) {
    store_.Report(ClientReport{"cart", instance, seconds(10), {{"GET", seen, 0}}}, seconds(10),
                  clock_.Now());
  }

  ManualClock clock_;
  MemoryStore store_;
  ServerMetrics metrics_;
  std::shared_ptr<const Policies> policies_;
  RatePublisher publisher_;
};

TEST_F(RatePublisherTest, NotReadyUntilTheFirstRecompute) {
  EXPECT_FALSE(publisher_.ready());
  EXPECT_EQ(publisher_.Current(), nullptr);
  publisher_.Recompute(clock_.Now());
  EXPECT_TRUE(publisher_.ready());
  ASSERT_NE(publisher_.Current(), nullptr);
}

TEST_F(RatePublisherTest, PublishesTheEnginesTableAndKeepsOldSnapshotsValid) {
  Report("a", 10000);  // 1000/s
  publisher_.Recompute(clock_.Now());
  std::shared_ptr<const RateTables> first = publisher_.Current();
  ASSERT_NE(first->Find("cart"), nullptr);
  EXPECT_DOUBLE_EQ(first->Find("cart")->operations.at("GET").probability, 5.0 / 1000);
  const uint64_t first_version = first->Find("cart")->version;
  EXPECT_EQ(first_version, 100u);

  Report("a", 100000);  // 10,000/s
  publisher_.Recompute(clock_.Now());
  std::shared_ptr<const RateTables> second = publisher_.Current();
  EXPECT_DOUBLE_EQ(second->Find("cart")->operations.at("GET").probability, 5.0 / 10000);
  EXPECT_GT(second->Find("cart")->version, first_version);
  // The reader that took the first snapshot still sees it, unchanged.
  EXPECT_DOUBLE_EQ(first->Find("cart")->operations.at("GET").probability, 5.0 / 1000);
}

TEST_F(RatePublisherTest, UnchangedDecisionsKeepTheVersion) {
  Report("a", 10000);
  publisher_.Recompute(clock_.Now());
  const uint64_t v1 = publisher_.Current()->Find("cart")->version;
  Report("a", 10100);  // +1 %: inside the tolerance band
  publisher_.Recompute(clock_.Now());
  EXPECT_EQ(publisher_.Current()->Find("cart")->version, v1);
}

TEST_F(RatePublisherTest, SetPoliciesAppliesAtTheNextRecompute) {
  Report("a", 10000);
  publisher_.Recompute(clock_.Now());
  publisher_.SetPolicies(
      std::make_shared<const Policies>(*ParsePolicies("defaults:\n  probability: 1\n")));
  publisher_.Recompute(clock_.Now());
  EXPECT_DOUBLE_EQ(publisher_.Current()->Find("cart")->operations.at("GET").probability, 1.0);
}

}  // namespace
}  // namespace fleetrate::server
