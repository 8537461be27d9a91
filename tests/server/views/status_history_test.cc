#include "server/views/status_history.h"

#include <gtest/gtest.h>

#include <memory>
#include <string>

namespace fleetrate::server {
namespace {

using std::chrono::seconds;

// One operation per scope: `seen` roots/s at probability `p`, `sampled` reported kept.
std::shared_ptr<ServiceRates> Service(const std::string& name, double seen, double p,
                                      double sampled) {
  auto rates = std::make_shared<ServiceRates>();
  rates->scope = {name, "prod"};
  rates->live_clients = 1;
  KeyRate rate;
  rate.probability = p;
  rate.fleet_seen_per_second = seen;
  rate.fleet_sampled_per_second = sampled;
  rates->operations = {{"GET /", rate}};
  return rates;
}

RateTables Tables(std::initializer_list<std::shared_ptr<ServiceRates>> services) {
  RateTables tables;
  for (const auto& s : services) tables.scopes[s->scope] = s;
  return tables;
}

TEST(StatusHistoryTest, AveragesEachBucketAndShowsTheOpenOne) {
  StatusHistory history({seconds(5), 10, 10});
  ManualClock clock;
  const Timestamp start = clock.Now();
  for (int i = 0; i < 5; ++i) {  // one bucket: seen 100..140, p 0.1
    history.Record(Tables({Service("cart", 100 + 10 * i, 0.1, 9)}), clock.Now());
    clock.Advance(seconds(1));
  }
  history.Record(Tables({Service("cart", 1000, 0.01, 11)}), clock.Now());  // opens bucket 2

  const std::vector<ServiceHistory> snapshot = history.Snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].scope.service, "cart");
  ASSERT_EQ(snapshot[0].points.size(), 2u);
  const StatusPoint& closed = snapshot[0].points[0];
  EXPECT_EQ(closed.at, start);
  EXPECT_DOUBLE_EQ(closed.seen, 120);
  EXPECT_DOUBLE_EQ(closed.target, 12);  // p × seen, averaged
  EXPECT_DOUBLE_EQ(closed.achieved, 9);
  const StatusPoint& open = snapshot[0].points[1];
  EXPECT_EQ(open.at, start + seconds(5));
  EXPECT_DOUBLE_EQ(open.seen, 1000);
  EXPECT_DOUBLE_EQ(open.target, 10);
  EXPECT_DOUBLE_EQ(open.achieved, 11);
}

TEST(StatusHistoryTest, KeepsAtMostPointsBuckets) {
  StatusHistory history({seconds(5), 4, 10});
  ManualClock clock;
  for (int i = 0; i < 20; ++i) {
    history.Record(Tables({Service("cart", i, 1, i)}), clock.Now());
    clock.Advance(seconds(5));
  }
  const std::vector<ServiceHistory> snapshot = history.Snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  // Four closed buckets and the open one, newest last.
  ASSERT_EQ(snapshot[0].points.size(), 5u);
  EXPECT_DOUBLE_EQ(snapshot[0].points.front().seen, 15);
  EXPECT_DOUBLE_EQ(snapshot[0].points.back().seen, 19);
}

TEST(StatusHistoryTest, FollowsOnlyTheBusiestServices) {
  StatusHistory history({seconds(5), 10, 2});
  ManualClock clock;
  history.Record(
      Tables({Service("a", 10, 1, 10), Service("b", 30, 1, 30), Service("c", 20, 1, 20)}),
      clock.Now());
  std::vector<ServiceHistory> snapshot = history.Snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  EXPECT_EQ(snapshot[0].scope.service, "b");
  EXPECT_EQ(snapshot[1].scope.service, "c");

  // "a" becomes the busiest: it takes the place of one no longer among the two busiest.
  clock.Advance(seconds(5));
  history.Record(
      Tables({Service("a", 99, 1, 99), Service("b", 30, 1, 30), Service("c", 20, 1, 20)}),
      clock.Now());
  snapshot = history.Snapshot();
  ASSERT_EQ(snapshot.size(), 2u);
  EXPECT_EQ(snapshot[0].scope.service, "a");
  EXPECT_EQ(snapshot[1].scope.service, "b");
}

TEST(StatusHistoryTest, ForgetsAServiceOnceItsPointsLeaveTheWindow) {
  StatusHistory history({seconds(5), 3, 10});
  ManualClock clock;
  history.Record(Tables({Service("gone", 5, 1, 5), Service("stays", 5, 1, 5)}), clock.Now());
  for (int i = 0; i < 3; ++i) {
    clock.Advance(seconds(5));
    history.Record(Tables({Service("stays", 5, 1, 5)}), clock.Now());
    ASSERT_EQ(history.Snapshot().size(), 2u) << "still inside the window after " << i + 1;
  }
  clock.Advance(seconds(5));
  history.Record(Tables({Service("stays", 5, 1, 5)}), clock.Now());
  const std::vector<ServiceHistory> snapshot = history.Snapshot();
  ASSERT_EQ(snapshot.size(), 1u);
  EXPECT_EQ(snapshot[0].scope.service, "stays");
}

}  // namespace
}  // namespace fleetrate::server
