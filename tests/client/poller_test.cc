#include "client/src/poller.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <array>
#include <atomic>
#include <chrono>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/client/fake_sampling_server.h"
#include "tests/client/test_support.h"

namespace fleetrate::internal {
namespace {

using fleetrate::testing::Eventually;
using fleetrate::testing::FakeSamplingServer;
using fleetrate::testing::RecordedSync;
using fleetrate::testing::Root;
using fleetrate::testing::TableResponse;
using std::chrono::milliseconds;

ClientOptions TestOptions(const std::string& address) {
  ClientOptions options = fleetrate::testing::FastSyncOptions(address);
  options.environment = "test";
  options.instance_id = "host-1-abc";
  options.max_backoff = milliseconds(400);
  options.sync_timeout = milliseconds(5000);
  options.initial_probability = 1.0;
  return options;
}

std::unique_ptr<Poller> MakePoller(const ClientOptions& options, Sampler& sampler) {
  auto channel = grpc::CreateChannel(options.server_address, grpc::InsecureChannelCredentials());
  return std::make_unique<Poller>(options, v1::SamplingService::NewStub(channel), sampler);
}

TEST(PollerTest, SendsTheFirstSyncAtStartWithItsIdentity) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(1, {}, 1.0, /*next_ms=*/100000));
  Sampler sampler(1.0);
  const ClientOptions options = TestOptions(server.address());
  auto poller = MakePoller(options, sampler);
  poller->Start();
  ASSERT_TRUE(server.service().WaitForSyncs(1));
  const v1::SyncRequest first = server.service().syncs()[0].request;
  EXPECT_EQ(first.client().service(), "checkout");
  EXPECT_EQ(first.client().environment(), "test");
  EXPECT_EQ(first.client().instance_id(), "host-1-abc");
  EXPECT_FALSE(first.client().library_version().empty());
  EXPECT_EQ(first.table_version(), 0u);
  EXPECT_EQ(first.operations_size(), 0);
  // The Sync right at start registers the client; counts that young would read as a huge rate.
  EXPECT_EQ(first.interval_ms(), 0);
  ASSERT_TRUE(Eventually([&] { return poller->syncs_ok() == 1; }));
  EXPECT_EQ(poller->syncs_failed(), 0u);
}

TEST(PollerTest, ReportsEveryCountExactlyOnce) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(1, {{"a", 0.5}}, 0.25, /*next_ms=*/50));
  Sampler sampler(1.0);
  auto poller = MakePoller(TestOptions(server.address()), sampler);
  poller->Start();

  std::map<std::string, std::pair<uint64_t, uint64_t>> expected;
  std::mt19937_64 rng(7);
  const std::vector<std::string> ops = {"a", "b", "c"};
  // Decisions spread over several Syncs.
  const auto until = std::chrono::steady_clock::now() + milliseconds(400);
  while (std::chrono::steady_clock::now() < until || server.service().syncs().size() < 4) {
    for (int i = 0; i < 100; ++i) {
      const std::string& op = ops[rng() % ops.size()];
      const bool kept = sampler.ShouldSample(Root(op, rng() & kRandomnessMask)).decision ==
                        Decision::kRecordAndSample;
      expected[op].first += 1;
      expected[op].second += kept;
    }
    std::this_thread::sleep_for(milliseconds(2));
  }
  poller->Shutdown(milliseconds(5000));  // the final Sync reports the rest

  EXPECT_EQ(server.service().AcceptedCounts(), expected);
  for (const RecordedSync& sync : server.service().syncs()) {
    for (const v1::OperationCounts& c : sync.request.operations()) {
      EXPECT_GT(c.roots_seen(), 0u);  // zero-count operations are omitted
      EXPECT_LE(c.roots_sampled(), c.roots_seen());
    }
  }
}

TEST(PollerTest, AppliesANewTable) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(1, {{"a", 1.0}}, 0.0));
  Sampler sampler(0.5);
  auto poller = MakePoller(TestOptions(server.address()), sampler);
  poller->Start();
  ASSERT_TRUE(Eventually([&] { return sampler.table_version() == 1; }));
  EXPECT_EQ(sampler.ShouldSample(Root("a", 1)).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(Root("b", kRandomnessMask)).decision, Decision::kDrop);
  ASSERT_NE(sampler.table(), nullptr);
  EXPECT_EQ(sampler.table()->batch_profile().name, "balanced");
  EXPECT_EQ(sampler.table()->batch_profile().max_queue_size, 2048u);

  server.service().SetResponse(TableResponse(2, {{"a", 0.0}}, 1.0));
  ASSERT_TRUE(Eventually([&] { return sampler.table_version() == 2; }));
  EXPECT_EQ(sampler.ShouldSample(Root("a", kRandomnessMask)).decision, Decision::kDrop);
  EXPECT_EQ(sampler.ShouldSample(Root("b", 0)).decision, Decision::kRecordAndSample);
}

// A table from the server is checked as a cached one is: an impossible one (here a threshold
// that keeps everything with probability 0.5) is not applied, and is counted.
TEST(PollerTest, AnImpossibleTableFromTheServerIsNotApplied) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(1, {{"a", 0.0}}, 0.0));
  Sampler sampler(0.5);
  auto poller = MakePoller(TestOptions(server.address()), sampler);
  poller->Start();
  ASSERT_TRUE(Eventually([&] { return sampler.table_version() == 1; }));
  v1::SyncResponse bad = TableResponse(2, {{"a", 0.5}}, 0.0);
  bad.mutable_rates(0)->set_threshold(0);
  server.service().SetResponse(bad);
  ASSERT_TRUE(Eventually([&] { return poller->tables_rejected() >= 2; }));
  EXPECT_EQ(sampler.table_version(), 1u);  // the last valid table stays
  EXPECT_EQ(sampler.ShouldSample(Root("a", kRandomnessMask)).decision, Decision::kDrop);
  const uint64_t ok_before = poller->syncs_ok();
  ASSERT_TRUE(Eventually([&] { return poller->syncs_ok() > ok_before; }));  // Syncs go on

  server.service().SetResponse(TableResponse(3, {{"a", 1.0}}, 0.0));
  ASSERT_TRUE(Eventually([&] { return sampler.table_version() == 3; }));
  EXPECT_EQ(poller->syncs_failed(), 0u);  // the counts were accepted all along
}

TEST(ValidateTableTest, NamesTheFieldAndTheLimit) {
  EXPECT_TRUE(ValidateTable(TableResponse(1, {{"a", 0.25}, {"b", 1.0}}, 0.0)).ok());
  v1::SyncResponse response = TableResponse(1, {{"a", 0.25}, {"b", 0.5}}, 0.0);
  response.mutable_rates(1)->set_threshold(ProbabilityToThreshold(0.25));
  const absl::Status status = ValidateTable(response);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(status.message().find("rates[1].threshold"), std::string::npos) << status;
  // Rounding is not a different meaning.
  response.mutable_rates(1)->set_threshold(ProbabilityToThreshold(0.5) + 1000);
  EXPECT_TRUE(ValidateTable(response).ok());
}

TEST(PollerTest, NotModifiedKeepsTheTable) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(3, {{"a", 1.0}}, 0.0));
  Sampler sampler(0.5);
  auto poller = MakePoller(TestOptions(server.address()), sampler);
  poller->Start();
  ASSERT_TRUE(Eventually([&] { return sampler.table_version() == 3; }));
  const std::shared_ptr<const RateTable> table = sampler.table();
  ASSERT_TRUE(server.service().WaitForSyncs(4));
  poller->Shutdown(milliseconds(5000));
  EXPECT_EQ(sampler.table(), table);  // the same object: not rebuilt
  const auto syncs = server.service().syncs();
  for (size_t i = 1; i < syncs.size(); ++i) EXPECT_EQ(syncs[i].request.table_version(), 3u);
  EXPECT_EQ(sampler.ShouldSample(Root("a", 0)).decision, Decision::kRecordAndSample);
}

TEST(PollerTest, AdaptiveCapsFollowTheClientsOwnRateAcrossNotModified) {
  // The server sends burst and p; the client's cap is burst × p × its own rate of the
  // operation, recomputed after each Sync — also when the answer is not_modified.
  FakeSamplingServer server;
  v1::SyncResponse response = TableResponse(5, {{"op", 0.5}}, 0.0);
  response.mutable_rates(0)->set_burst(2);
  server.service().SetResponse(response);
  Sampler sampler(0.5);
  std::atomic<bool> stop{false};
  std::atomic<double> per_second{1000};
  std::thread traffic([&] {  // steady roots of "op", paced by elapsed time
    double owed = 0;
    auto last = std::chrono::steady_clock::now();
    uint64_t r = 0;
    while (!stop) {
      std::this_thread::sleep_for(milliseconds(1));
      const auto now = std::chrono::steady_clock::now();
      owed += per_second.load() * std::chrono::duration<double>(now - last).count();
      last = now;
      for (; owed >= 1; owed -= 1) (void)sampler.ShouldSample(Root("op", r++));
    }
  });
  const auto cap = [&] {
    auto table = sampler.table();
    const OperationRate* rate = table ? table->Find("op") : nullptr;
    return rate ? rate->local_cap_per_second : -1.0;
  };
  auto poller = MakePoller(TestOptions(server.address()), sampler);
  poller->Start();
  // 2 × 0.5 × ~1000/s; generous bounds: the machine may be slow, the pacing is by elapsed time.
  EXPECT_TRUE(Eventually([&] { return cap() > 500 && cap() < 2000; })) << cap();
  {
    auto table = sampler.table();
    // One second of tokens at this rate (more than the token floor).
    EXPECT_EQ(table->Find("op")->local_cap_burst, table->Find("op")->local_cap_per_second);
  }
  const size_t syncs_before = server.service().syncs().size();
  per_second = 100;  // the client's own traffic falls ten times: its cap follows
  EXPECT_TRUE(Eventually([&] { return cap() > 50 && cap() < 200; })) << cap();
  stop = true;
  traffic.join();
  poller->Shutdown(milliseconds(5000));
  const auto syncs = server.service().syncs();
  size_t not_modified = 0;  // the fake answers not_modified to a client holding its version
  for (size_t i = syncs_before; i < syncs.size(); ++i) {
    if (syncs[i].request.table_version() == 5) ++not_modified;
  }
  EXPECT_GT(not_modified, 0u) << "the cap moved without a new table from the server";
}

TEST(PollerTest, FailuresBackOffAndCarryCountsIntoTheNextSync) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(1, {}, 1.0, /*next_ms=*/100000));
  server.service().FailNext(3, grpc::StatusCode::UNAVAILABLE);
  Sampler sampler(1.0);
  for (int i = 0; i < 100; ++i) (void)sampler.ShouldSample(Root("op", 0));
  auto options = TestOptions(server.address());
  options.max_sync_interval = milliseconds(100000);  // no regular Sync after the success
  auto poller = MakePoller(options, sampler);
  poller->Start();
  ASSERT_TRUE(server.service().WaitFor(
      [](const std::vector<RecordedSync>& syncs) { return !syncs.empty() && syncs.back().ok; }));
  const auto syncs = server.service().syncs();
  ASSERT_EQ(syncs.size(), 4u);
  for (const RecordedSync& sync : syncs) {
    if (sync.request.operations_size() == 0) {
      // An attempt sooner than min_sync_interval after the last report (the first one, at
      // start) carries no counts: they wait, pending, for a longer interval.
      EXPECT_EQ(sync.request.interval_ms(), 0);
      continue;
    }
    ASSERT_EQ(sync.request.operations_size(), 1);
    EXPECT_EQ(sync.request.operations(0).roots_seen(), 100u);  // carried, not lost or doubled
  }
  EXPECT_EQ(syncs[0].request.operations_size(), 0);
  ASSERT_EQ(syncs.back().request.operations_size(), 1);
  // Backoff 50, 100, 200 ms, each -10 % at worst: the accepted interval covers all of it.
  EXPECT_GE(syncs[3].request.interval_ms(), 45 + 90 + 180);
  ASSERT_TRUE(Eventually([&] { return poller->syncs_ok() == 1; }));
  EXPECT_EQ(poller->syncs_failed(), 3u);
  EXPECT_EQ(server.service().AcceptedCounts()["op"].first, 100u);
}

TEST(PollerTest, ClampsTheServerIntervalToTheMinimum) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(1, {}, 1.0, /*next_ms=*/1));  // below min (50)
  Sampler sampler(1.0);
  auto poller = MakePoller(TestOptions(server.address()), sampler);
  const auto start = std::chrono::steady_clock::now();
  poller->Start();
  ASSERT_TRUE(server.service().WaitForSyncs(3));
  std::this_thread::sleep_for(milliseconds(300));
  poller->Shutdown(milliseconds(5000));
  const auto elapsed = std::chrono::steady_clock::now() - start;
  // At least 45 ms (50 ms - 10 % jitter) between regular Syncs; a load can only lower the
  // count. Unclamped (1 ms) there would be hundreds. +2: the first and the final Sync.
  const auto max_syncs = static_cast<size_t>(elapsed / milliseconds(45)) + 2;
  EXPECT_LE(server.service().syncs().size(), max_syncs);
}

TEST(PollerTest, ShutdownSendsTheUnreportedCounts) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(1, {}, 1.0, /*next_ms=*/100000));
  Sampler sampler(1.0);
  auto options = TestOptions(server.address());
  options.max_sync_interval = milliseconds(100000);
  auto poller = MakePoller(options, sampler);
  poller->Start();
  ASSERT_TRUE(Eventually([&] { return poller->syncs_ok() == 1; }));
  for (int i = 0; i < 10; ++i) (void)sampler.ShouldSample(Root("late", 0));
  poller->Shutdown(milliseconds(5000));
  const auto syncs = server.service().syncs();
  ASSERT_EQ(syncs.size(), 2u);
  ASSERT_EQ(syncs[1].request.operations_size(), 1);
  EXPECT_EQ(syncs[1].request.operations(0).operation(), "late");
  EXPECT_EQ(syncs[1].request.operations(0).roots_seen(), 10u);
  poller->Shutdown(milliseconds(5000));  // idempotent
  EXPECT_EQ(server.service().syncs().size(), 2u);
}

TEST(PollerTest, ShutdownCancelsAHungSyncWithinItsTimeout) {
  FakeSamplingServer server;
  server.service().SetHang(true);
  Sampler sampler(1.0);
  auto poller = MakePoller(TestOptions(server.address()), sampler);  // sync_timeout 5 s
  poller->Start();
  ASSERT_TRUE(server.service().WaitForHungCall());
  const auto start = std::chrono::steady_clock::now();
  poller->Shutdown(milliseconds(300));
  // Generous bound for a loaded box; a regression waits the 5 s sync_timeout twice.
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(4000));
  EXPECT_EQ(poller->syncs_ok(), 0u);
}

}  // namespace
}  // namespace fleetrate::internal
