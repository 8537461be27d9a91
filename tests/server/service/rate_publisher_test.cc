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
    (void)store_.Report(ClientReport{kScope, instance, seconds(10), {{"GET", seen, 0}}},
                        seconds(10), clock_.Now());
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

namespace fleetrate::server {
namespace {

// A replicated store at its interface: who leads, and what the leader published.
class ReplicatedStoreDouble final : public Store {
 public:
  ReportResult Report(const ClientReport& report, Duration sync_interval, Timestamp now) override {
    return memory.Report(report, sync_interval, now);
  }
  FleetEstimate Estimate(Timestamp now) override { return memory.Estimate(now); }
  uint64_t overflowed_reports() const override { return 0; }
  std::string_view name() const noexcept override { return "double"; }
  bool IsLeader() const override { return leader; }
  void Publish(const RateTables& tables, uint64_t sequence) override {
    published.push_back({sequence, std::make_shared<const RateTables>(tables)});
  }
  PublishedTables LatestPublished() const override { return latest; }

  MemoryStore memory;
  bool leader = false;
  std::vector<PublishedTables> published;
  PublishedTables latest;
};

TEST(RatePublisherReplicationTest, AFollowerServesTheLeadersTableAndANewLeaderContinuesAbove) {
  ManualClock clock;
  auto policies = std::make_shared<const Policies>(
      *ParsePolicies("defaults:\n  target_traces_per_second: 5\n"));
  ServerMetrics leader_metrics(std::make_shared<prometheus::Registry>());
  ServerMetrics follower_metrics(std::make_shared<prometheus::Registry>());
  ReplicatedStoreDouble leader_store;
  ReplicatedStoreDouble follower_store;
  leader_store.leader = true;
  RatePublisher leader(policies, leader_store, leader_metrics, 1000);
  RatePublisher follower(policies, follower_store, follower_metrics, 10);

  // Before any leader: the follower computes its own (policy-only) table, so it is ready.
  follower.Recompute(clock.Now());
  EXPECT_TRUE(follower.ready());
  EXPECT_TRUE(follower_store.published.empty());  // a follower never publishes

  (void)leader_store.Report(ClientReport{kScope, "a", seconds(10), {{"GET", 10000, 0}}},
                            seconds(10), clock.Now());
  leader.Recompute(clock.Now());
  ASSERT_EQ(leader_store.published.size(), 1u);
  const PublishedTables published = leader_store.published.back();
  EXPECT_EQ(published.tables->Find(kScope)->version, 1000u);

  follower_store.latest = published;
  follower.Recompute(clock.Now());
  const std::shared_ptr<const RateTables> served = follower.Current();
  ASSERT_NE(served->Find(kScope), nullptr);
  EXPECT_DOUBLE_EQ(served->Find(kScope)->Find("GET")->probability, 5.0 / 1000);
  EXPECT_EQ(served->Find(kScope)->version, 1000u);
  EXPECT_EQ(served->policies, policies);  // explained with the follower's own policies

  // The leader republishes only when a decision changed (or every few seconds).
  leader.Recompute(clock.Now());
  EXPECT_EQ(leader_store.published.size(), 1u);

  // The follower takes over: its versions continue above the leader's, from its table.
  follower_store.leader = true;
  (void)follower_store.Report(ClientReport{kScope, "a", seconds(10), {{"GET", 100000, 0}}},
                              seconds(10), clock.Now());
  follower.Recompute(clock.Now());
  ASSERT_EQ(follower_store.published.size(), 1u);
  EXPECT_GT(follower.Current()->Find(kScope)->version, 1000u);
  EXPECT_DOUBLE_EQ(follower.Current()->Find(kScope)->Find("GET")->probability, 5.0 / 10000);
}

}  // namespace
}  // namespace fleetrate::server
