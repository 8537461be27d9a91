#include "server/rates/aggregator.h"

#include <gtest/gtest.h>

#include <random>
#include <string>

namespace fleetrate::server {
namespace {

using std::chrono::seconds;

ClientReport MakeReport(const std::string& instance, Duration interval,
                        std::vector<OperationReport> ops, const std::string& service = "cart",
                        const std::string& environment = "prod") {
  return ClientReport{{service, environment}, instance, interval, std::move(ops)};
}

const ScopeEstimate* FindScope(const FleetEstimate& e, const std::string& service,
                               const std::string& environment = "prod") {
  for (const auto& s : e.scopes) {
    if (s.scope.service == service && s.scope.environment == environment) return &s;
  }
  return nullptr;
}

const KeyEstimate* FindKey(const ScopeEstimate* scope, const std::string& op) {
  if (scope == nullptr) return nullptr;
  for (const auto& [name, key] : scope->operations) {
    if (name == op) return &key;
  }
  return nullptr;
}

class AggregatorTest : public ::testing::Test {
 protected:
  ManualClock clock_;
  Aggregator aggregator_;
};

TEST_F(AggregatorTest, SumsEachClientsLatestRatePerKey) {
  (void)aggregator_.Report(MakeReport("a", seconds(10), {{"GET /cart", 1000, 10}}), seconds(10),
                           clock_.Now());
  (void)aggregator_.Report(
      MakeReport("b", seconds(5), {{"GET /cart", 250, 5}, {"POST /cart", 50, 1}}), seconds(10),
      clock_.Now());
  FleetEstimate e = aggregator_.Estimate(clock_.Now());
  const ScopeEstimate* cart = FindScope(e, "cart");
  ASSERT_NE(cart, nullptr);
  EXPECT_EQ(cart->live_clients, 2u);
  EXPECT_EQ(e.keys, 2u);
  const KeyEstimate* get = FindKey(cart, "GET /cart");
  ASSERT_NE(get, nullptr);
  EXPECT_DOUBLE_EQ(get->seen_per_second, 100 + 50);
  EXPECT_DOUBLE_EQ(get->sampled_per_second, 1 + 1);
  EXPECT_EQ(get->clients, 2u);
  EXPECT_DOUBLE_EQ(FindKey(cart, "POST /cart")->seen_per_second, 10);
  // Sorted by operation, for a deterministic engine.
  EXPECT_EQ(cart->operations.front().first, "GET /cart");
}

TEST_F(AggregatorTest, EnvironmentsAreSeparateScopes) {
  (void)aggregator_.Report(MakeReport("a", seconds(1), {{"op", 100, 0}}, "cart", "prod"),
                           seconds(1), clock_.Now());
  (void)aggregator_.Report(MakeReport("b", seconds(1), {{"op", 7, 0}}, "cart", "staging"),
                           seconds(1), clock_.Now());
  FleetEstimate e = aggregator_.Estimate(clock_.Now());
  EXPECT_DOUBLE_EQ(FindKey(FindScope(e, "cart", "prod"), "op")->seen_per_second, 100);
  EXPECT_DOUBLE_EQ(FindKey(FindScope(e, "cart", "staging"), "op")->seen_per_second, 7);
}

TEST_F(AggregatorTest, ANewReportReplacesTheClientsPreviousOneNotAddsToIt) {
  (void)aggregator_.Report(MakeReport("a", seconds(10), {{"op", 1000, 0}}), seconds(10),
                           clock_.Now());
  clock_.Advance(seconds(10));
  (void)aggregator_.Report(MakeReport("a", seconds(10), {{"op", 500, 0}}), seconds(10),
                           clock_.Now());
  FleetEstimate e = aggregator_.Estimate(clock_.Now());
  EXPECT_DOUBLE_EQ(FindKey(FindScope(e, "cart"), "op")->seen_per_second, 50);
}

TEST_F(AggregatorTest, AQuietKeyStaysAtZeroTrafficUntilItAgesOut) {
  (void)aggregator_.Report(MakeReport("a", seconds(10), {{"rare", 1, 1}}), seconds(10),
                           clock_.Now());
  clock_.Advance(seconds(10));
  (void)aggregator_.Report(MakeReport("a", seconds(10), {}), seconds(10), clock_.Now());
  FleetEstimate e = aggregator_.Estimate(clock_.Now());
  const KeyEstimate* rare = FindKey(FindScope(e, "cart"), "rare");
  ASSERT_NE(rare, nullptr) << "a rare operation must not vanish between sightings";
  EXPECT_DOUBLE_EQ(rare->seen_per_second, 0);
  EXPECT_EQ(rare->clients, 0u);
  clock_.Advance(seconds(21));  // 3 intervals after its last sighting
  e = aggregator_.Estimate(clock_.Now());
  EXPECT_EQ(FindKey(FindScope(e, "cart"), "rare"), nullptr);
}

TEST_F(AggregatorTest, ClientExpiresAfterThreeMissedIntervals) {
  (void)aggregator_.Report(MakeReport("a", seconds(10), {{"op", 100, 0}}), seconds(10),
                           clock_.Now());
  clock_.Advance(seconds(29));
  EXPECT_EQ(aggregator_.Estimate(clock_.Now()).live_clients, 1u);
  clock_.Advance(seconds(2));
  FleetEstimate e = aggregator_.Estimate(clock_.Now());
  EXPECT_EQ(e.live_clients, 0u);
  EXPECT_EQ(e.keys, 0u);
  EXPECT_TRUE(e.scopes.empty());
  EXPECT_EQ(aggregator_.keys(), 0u);
}

TEST_F(AggregatorTest, FirstSyncWithoutCountsRegistersTheClient) {
  (void)aggregator_.Report(MakeReport("a", Duration::zero(), {}), seconds(10), clock_.Now());
  FleetEstimate e = aggregator_.Estimate(clock_.Now());
  EXPECT_EQ(e.live_clients, 1u);
  ASSERT_NE(FindScope(e, "cart"), nullptr);
}

// A client that syncs sooner than its minimum interval sends no counts (interval 0): its last
// rates must stand, or the key would read zero every other recompute and its rate flap.
TEST_F(AggregatorTest, ASyncWithoutCountsKeepsTheClientsLastRates) {
  (void)aggregator_.Report(MakeReport("a", seconds(10), {{"op", 1000, 10}}), seconds(10),
                           clock_.Now());
  clock_.Advance(seconds(1));
  (void)aggregator_.Report(MakeReport("a", Duration::zero(), {}), seconds(10), clock_.Now());
  FleetEstimate e = aggregator_.Estimate(clock_.Now());
  EXPECT_DOUBLE_EQ(FindKey(FindScope(e, "cart"), "op")->seen_per_second, 100);
  EXPECT_EQ(FindKey(FindScope(e, "cart"), "op")->clients, 1u);
}

TEST_F(AggregatorTest, OperationsBeyondTheServiceCapFoldIntoStar) {
  Aggregator capped(AggregatorLimits{3, 100000, 3, 60});
  (void)capped.Report(
      MakeReport("a", seconds(1), {{"op1", 10, 0}, {"op2", 20, 0}, {"op3", 30, 0}, {"op4", 40, 0}}),
      seconds(1), clock_.Now());
  FleetEstimate e = capped.Estimate(clock_.Now());
  const ScopeEstimate* cart = FindScope(e, "cart");
  EXPECT_EQ(cart->operations.size(), 3u);                     // op1, op2 and "*"
  EXPECT_DOUBLE_EQ(FindKey(cart, "*")->seen_per_second, 70);  // op3 + op4: nothing is lost
  EXPECT_EQ(capped.overflowed_reports(), 2u);
}

TEST_F(AggregatorTest, KeysBeyondTheServerCapFoldIntoEachScopesStar) {
  Aggregator capped(AggregatorLimits{2000, 2, 3, 60});
  (void)capped.Report(MakeReport("a", seconds(1), {{"x", 10, 0}}, "s1"), seconds(1), clock_.Now());
  (void)capped.Report(MakeReport("b", seconds(1), {{"y", 10, 0}}, "s2"), seconds(1), clock_.Now());
  FleetEstimate e = capped.Estimate(clock_.Now());
  EXPECT_NE(FindKey(FindScope(e, "s1"), "x"), nullptr);
  EXPECT_NE(FindKey(FindScope(e, "s2"), "*"), nullptr);
  EXPECT_EQ(capped.overflowed_reports(), 1u);
}

// The running sums must equal a from-scratch sum after any sequence of reports and expiries.
TEST_F(AggregatorTest, MemoryAndRateLimitsRefuseReportsWithoutTouchingOthers) {
  AggregatorLimits limits;
  limits.max_clients = 2;
  limits.max_client_key_rates = 3;
  limits.min_report_spacing = std::chrono::milliseconds(100);
  limits.report_burst = 2;
  Aggregator capped(limits);
  const auto report = [&](const std::string& instance, std::vector<OperationReport> ops) {
    return capped.Report(MakeReport(instance, seconds(10), std::move(ops)), seconds(10),
                         clock_.Now());
  };
  EXPECT_EQ(report("a", {{"x", 10, 0}}), ReportResult::kAccepted);
  EXPECT_EQ(report("b", {{"x", 10, 0}}), ReportResult::kAccepted);
  EXPECT_EQ(report("c", {{"x", 10, 0}}), ReportResult::kTooManyClients);
  EXPECT_EQ(capped.clients(), 2u);
  // Rates: a's report may replace its own one rate with two (3 in all), not with three.
  EXPECT_EQ(report("a", {{"x", 10, 0}, {"y", 10, 0}}), ReportResult::kAccepted);
  clock_.Advance(seconds(1));
  EXPECT_EQ(report("a", {{"x", 1, 0}, {"y", 1, 0}, {"z", 1, 0}}), ReportResult::kTooManyRates);
  EXPECT_EQ(capped.client_key_rates(), 3u);
  // The rate limit: a burst of 2, then one per 100 ms.
  EXPECT_EQ(report("b", {{"x", 10, 0}}), ReportResult::kAccepted);
  EXPECT_EQ(report("b", {{"x", 10, 0}}), ReportResult::kAccepted);
  EXPECT_EQ(report("b", {{"x", 10, 0}}), ReportResult::kTooFrequent);
  clock_.Advance(std::chrono::milliseconds(100));
  EXPECT_EQ(report("b", {{"x", 10, 0}}), ReportResult::kAccepted);
  EXPECT_EQ(report("b", {{"x", 10, 0}}), ReportResult::kTooFrequent);
  // Nothing refused changed the estimate: a's two rates and b's last one.
  const FleetEstimate e = capped.Estimate(clock_.Now());
  EXPECT_DOUBLE_EQ(FindKey(FindScope(e, "cart"), "x")->seen_per_second, 2.0);
  EXPECT_EQ(FindKey(FindScope(e, "cart"), "z"), nullptr);
  // Expired clients free their places.
  clock_.Advance(seconds(31));
  (void)capped.Estimate(clock_.Now());
  EXPECT_EQ(capped.clients(), 0u);
  EXPECT_EQ(capped.client_key_rates(), 0u);
  EXPECT_EQ(report("c", {{"x", 10, 0}}), ReportResult::kAccepted);
}

// A client claiming the longest interval a Sync may carry (an hour) does not hold its place for
// three hours: its lifetime counts at most max_client_interval (5 minutes) per interval.
TEST_F(AggregatorTest, AClaimedIntervalCountsOnlyUpToTheServersCap) {
  (void)aggregator_.Report(MakeReport("long", std::chrono::milliseconds(3'600'000), {}),
                           seconds(10), clock_.Now());
  EXPECT_EQ(aggregator_.ClampedInterval(std::chrono::milliseconds(3'600'000), seconds(10)),
            std::chrono::minutes(5));
  EXPECT_EQ(aggregator_.ClampedInterval(seconds(1), seconds(10)), seconds(10));
  clock_.Advance(std::chrono::minutes(15) - seconds(1));
  EXPECT_EQ(aggregator_.Estimate(clock_.Now()).live_clients, 1u);
  clock_.Advance(seconds(1));
  EXPECT_EQ(aggregator_.Estimate(clock_.Now()).live_clients, 0u);
}

// 200,000 clients sent once in 15 s must not lock new clients out for their lifetime: once they
// have missed their interval, a newcomer takes the place of the least recently reporting one.
TEST_F(AggregatorTest, AFullTableEvictsTheOldestIdleClientForANewcomer) {
  AggregatorLimits limits;
  limits.max_clients = 3;
  Aggregator capped(limits);
  const auto report = [&](const std::string& instance) {
    return capped.Report(MakeReport(instance, seconds(10), {{"op", 10, 0}}), seconds(10),
                         clock_.Now());
  };
  EXPECT_EQ(report("a"), ReportResult::kAccepted);
  clock_.Advance(seconds(1));
  EXPECT_EQ(report("b"), ReportResult::kAccepted);
  EXPECT_EQ(report("c"), ReportResult::kAccepted);
  clock_.Advance(seconds(20));  // a idle for 21 s, b and c for 20 s: two intervals
  EXPECT_EQ(report("b"), ReportResult::kAccepted);  // b is live again
  EXPECT_EQ(report("d"), ReportResult::kAccepted);  // evicts a, the oldest
  EXPECT_EQ(capped.evicted_clients(), 1u);
  EXPECT_EQ(capped.clients(), 3u);
  EXPECT_EQ(report("e"), ReportResult::kAccepted);  // evicts c, not b
  EXPECT_EQ(capped.evicted_clients(), 2u);
  // b, d and e are live: the table is full and the next newcomer is refused.
  EXPECT_EQ(report("f"), ReportResult::kTooManyClients);
  EXPECT_EQ(capped.refused_reports(ReportResult::kTooManyClients), 1u);
  const FleetEstimate e = capped.Estimate(clock_.Now());
  EXPECT_EQ(e.live_clients, 3u);
  EXPECT_DOUBLE_EQ(FindKey(FindScope(e, "cart"), "op")->seen_per_second, 3.0);  // b, d, e
  // An evicted client comes back as a newcomer, on the same terms.
  EXPECT_EQ(report("a"), ReportResult::kTooManyClients);
}

TEST_F(AggregatorTest, AFullTableOfLiveClientsRefusesAndCountsTheRefusal) {
  AggregatorLimits limits;
  limits.max_clients = 2;
  Aggregator capped(limits);
  const auto report = [&](const std::string& instance) {
    return capped.Report(MakeReport(instance, seconds(10), {{"op", 10, 0}}), seconds(10),
                         clock_.Now());
  };
  EXPECT_EQ(report("a"), ReportResult::kAccepted);
  EXPECT_EQ(report("b"), ReportResult::kAccepted);
  clock_.Advance(seconds(19));  // not yet idle for two intervals
  EXPECT_EQ(report("c"), ReportResult::kTooManyClients);
  EXPECT_EQ(report("d"), ReportResult::kTooManyClients);
  EXPECT_EQ(capped.refused_reports(ReportResult::kTooManyClients), 2u);
  EXPECT_EQ(capped.evicted_clients(), 0u);
  EXPECT_EQ(capped.clients(), 2u);
}

// The same against the rates cap (2,500 clients × 2,000 operations fill the default 5 M).
TEST_F(AggregatorTest, TheRatesCapEvictsIdleClientsThenRefuses) {
  AggregatorLimits limits;
  limits.max_client_key_rates = 4;
  Aggregator capped(limits);
  const auto report = [&](const std::string& instance) {
    return capped.Report(MakeReport(instance, seconds(10), {{"x", 10, 0}, {"y", 10, 0}}),
                         seconds(10), clock_.Now());
  };
  EXPECT_EQ(report("a"), ReportResult::kAccepted);
  EXPECT_EQ(report("b"), ReportResult::kAccepted);
  EXPECT_EQ(report("c"), ReportResult::kTooManyRates);  // a and b are live
  EXPECT_EQ(capped.refused_reports(ReportResult::kTooManyRates), 1u);
  clock_.Advance(seconds(20));
  EXPECT_EQ(report("b"), ReportResult::kAccepted);
  EXPECT_EQ(report("c"), ReportResult::kAccepted);  // evicts idle a
  EXPECT_EQ(capped.evicted_clients(), 1u);
  EXPECT_EQ(capped.client_key_rates(), 4u);
  EXPECT_EQ(report("d"), ReportResult::kTooManyRates);  // b and c are live
  EXPECT_EQ(capped.refused_reports(ReportResult::kTooManyRates), 2u);
  EXPECT_EQ(capped.client_key_rates(), 4u);
}

// One peer may register new identities only at its budget's pace; other peers, and the peer's
// clients already known, are unaffected.
TEST_F(AggregatorTest, APeerMintingIdentitiesBeyondItsBudgetIsRefused) {
  AggregatorLimits limits;
  limits.new_client_spacing_per_peer = seconds(1);
  limits.new_clients_per_peer_burst = 2;
  limits.max_peers = 2;
  Aggregator capped(limits);
  const auto report = [&](const std::string& instance, const std::string& peer) {
    ClientReport r = MakeReport(instance, seconds(10), {{"op", 10, 0}});
    r.peer = peer;
    return capped.Report(r, seconds(10), clock_.Now());
  };
  EXPECT_EQ(report("x1", "10.0.0.1"), ReportResult::kAccepted);
  EXPECT_EQ(report("x2", "10.0.0.1"), ReportResult::kAccepted);
  EXPECT_EQ(report("x3", "10.0.0.1"), ReportResult::kTooManyNewClientsFromPeer);
  EXPECT_EQ(report("y1", "10.0.0.2"), ReportResult::kAccepted);
  clock_.Advance(seconds(1));
  EXPECT_EQ(report("x1", "10.0.0.1"), ReportResult::kAccepted);  // known: no token needed
  EXPECT_EQ(report("x3", "10.0.0.1"), ReportResult::kAccepted);  // one token back
  EXPECT_EQ(report("x4", "10.0.0.1"), ReportResult::kTooManyNewClientsFromPeer);
  EXPECT_EQ(capped.refused_reports(ReportResult::kTooManyNewClientsFromPeer), 2u);
  // At max_peers, a peer whose bucket is full again (10.0.0.2) is forgotten for a newcomer;
  // while both kept buckets are draining, further peers share one bucket: bounded memory.
  EXPECT_EQ(report("z1", "10.0.0.3"), ReportResult::kAccepted);
  EXPECT_EQ(report("z2", "10.0.0.4"), ReportResult::kAccepted);
  EXPECT_EQ(report("z3", "10.0.0.5"), ReportResult::kAccepted);
  EXPECT_EQ(report("z4", "10.0.0.6"), ReportResult::kTooManyNewClientsFromPeer);
  // Replicated reports (another replica admitted them) and reports without a peer spend nothing.
  ClientReport replicated = MakeReport("r1", seconds(10), {{"op", 10, 0}});
  replicated.peer = "10.0.0.1";
  EXPECT_EQ(capped.Replicate(replicated, seconds(10), clock_.Now()), ReportResult::kAccepted);
  EXPECT_EQ(report("n1", ""), ReportResult::kAccepted);
}

TEST_F(AggregatorTest, IncrementalSumsMatchAnExactResum) {
  std::mt19937_64 random(7);
  Aggregator incremental(AggregatorLimits{2000, 100000, 3, 1'000'000});  // never resums
  Aggregator exact(AggregatorLimits{2000, 100000, 3, 1});                // resums every time
  for (int step = 0; step < 2000; ++step) {
    const std::string instance = "c" + std::to_string(random() % 20);
    std::vector<OperationReport> ops;
    for (int k = 0; k < 5; ++k) {
      ops.push_back({"op" + std::to_string(random() % 30), random() % 100000, 0});
    }
    // Deduplicate names, as the service's validation guarantees.
    std::sort(ops.begin(), ops.end(), [](auto& a, auto& b) { return a.operation < b.operation; });
    ops.erase(std::unique(ops.begin(), ops.end(),
                          [](auto& a, auto& b) { return a.operation == b.operation; }),
              ops.end());
    const auto report = MakeReport(instance, std::chrono::milliseconds(1 + random() % 20000), ops);
    (void)incremental.Report(report, seconds(10), clock_.Now());
    (void)exact.Report(report, seconds(10), clock_.Now());
    clock_.Advance(std::chrono::milliseconds(random() % 500));
  }
  FleetEstimate a = incremental.Estimate(clock_.Now());
  FleetEstimate b = exact.Estimate(clock_.Now());
  ASSERT_EQ(a.keys, b.keys);
  const ScopeEstimate* sa = FindScope(a, "cart");
  const ScopeEstimate* sb = FindScope(b, "cart");
  ASSERT_EQ(sa->operations.size(), sb->operations.size());
  for (size_t i = 0; i < sa->operations.size(); ++i) {
    EXPECT_NEAR(sa->operations[i].second.seen_per_second, sb->operations[i].second.seen_per_second,
                1e-6 * (1 + sb->operations[i].second.seen_per_second));
  }
}

}  // namespace
}  // namespace fleetrate::server
