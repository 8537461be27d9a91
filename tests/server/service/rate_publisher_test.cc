#include "server/service/rate_publisher.h"

#include <gtest/gtest.h>

#include "server/store/memory_store.h"

namespace fleetrate::server {
namespace {

using std::chrono::seconds;

const Scope kScope{"cart", "prod"};

class RatePublisherTest : public ::testing::Test {
 protected:
  RatePublisherTest()
      : metrics_(std::make_shared<prometheus::Registry>()),
        publisher_(Policy("defaults:\n  target_traces_per_second: 5\n"), store_, metrics_, 100) {}

  static std::shared_ptr<const Policies> Policy(const std::string& yaml) {
    return std::make_shared<const Policies>(*ParsePolicies(yaml));
  }

  void Report(const std::string& instance, uint64_t seen) {
    store_.Report(ClientReport{kScope, instance, seconds(10), {{"GET", seen, 0}}}, seconds(10),
                  clock_.Now());
  }

  double Probability() { return publisher_.Current()->Find(kScope)->Find("GET")->probability; }

  ManualClock clock_;
  MemoryStore store_;
  ServerMetrics metrics_;
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
  EXPECT_DOUBLE_EQ(first->Find(kScope)->Find("GET")->probability, 5.0 / 1000);
  EXPECT_EQ(first->Find(kScope)->version, 100u);

  Report("a", 100000);  // 10,000/s
  publisher_.Recompute(clock_.Now());
  EXPECT_DOUBLE_EQ(Probability(), 5.0 / 10000);
  EXPECT_GT(publisher_.Current()->Find(kScope)->version, 100u);
  // The reader that took the first snapshot still sees it, unchanged.
  EXPECT_DOUBLE_EQ(first->Find(kScope)->Find("GET")->probability, 5.0 / 1000);
}

TEST_F(RatePublisherTest, UnchangedDecisionsKeepTheVersion) {
  Report("a", 10000);
  publisher_.Recompute(clock_.Now());
  const uint64_t v1 = publisher_.Current()->Find(kScope)->version;
  Report("a", 10100);  // +1 %: inside the tolerance band
  publisher_.Recompute(clock_.Now());
  EXPECT_EQ(publisher_.Current()->Find(kScope)->version, v1);
}

TEST_F(RatePublisherTest, SetPoliciesAppliesAtTheNextRecompute) {
  Report("a", 10000);
  publisher_.Recompute(clock_.Now());
  publisher_.SetPolicies(Policy("defaults:\n  probability: 1\n"));
  publisher_.Recompute(clock_.Now());
  EXPECT_DOUBLE_EQ(Probability(), 1.0);
}

}  // namespace
}  // namespace fleetrate::server
