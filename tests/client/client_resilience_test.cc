// The Client with a batcher against a fake server: what Sync reports and applies, the table's
// TTL, the on-disk cache, and a server that is down from the start or goes down mid-run.
#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include "fleetrate/client.h"
#include "tests/client/fake_sampling_server.h"
#include "tests/client/test_exporters.h"
#include "tests/client/test_support.h"

namespace fleetrate {
namespace {

using fleetrate::testing::Eventually;
using fleetrate::testing::FakeSamplingServer;
using fleetrate::testing::RecordedSync;
using fleetrate::testing::RecordingExporter;
using fleetrate::testing::TableResponse;
using std::chrono::milliseconds;

ClientOptions TestOptions(const std::string& address) {
  ClientOptions options = fleetrate::testing::FastSyncOptions(address);
  options.max_backoff = milliseconds(100);
  options.initial_probability = 1.0;
  options.batcher.profile.schedule_delay_ms = 20;
  return options;
}

SpanView Span(std::string_view name) {
  SpanView span;
  span.name = name;
  return span;
}

struct TestClient {
  TestClient(ClientOptions options) {
    auto exporter = std::make_unique<RecordingExporter>();
    recorder = exporter.get();
    auto created = Client::Create(std::move(options), std::move(exporter));
    EXPECT_TRUE(created.ok()) << created.status();
    if (created.ok()) client = std::move(*created);
  }
  RecordingExporter* recorder;
  std::unique_ptr<Client> client;
};

uint64_t ExportedReported(const std::vector<RecordedSync>& syncs) {
  uint64_t n = 0;
  for (const RecordedSync& s : syncs) {
    if (s.ok) n += s.request.spans().exported();
  }
  return n;
}

TEST(ClientResilienceTest, SyncReportsSpanCountsAndFailedSyncs) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(1, {}, 1.0));
  server.service().FailNext(2);
  TestClient t(TestOptions(server.address()));
  ASSERT_NE(t.client, nullptr);
  ASSERT_TRUE(server.service().WaitFor(
      [](const std::vector<RecordedSync>& syncs) { return !syncs.empty() && syncs.back().ok; }));
  const auto syncs = server.service().syncs();
  EXPECT_EQ(syncs[2].request.failed_syncs(), 2u);  // the two failures before it
  for (int i = 0; i < 30; ++i) ASSERT_TRUE(t.client->batcher()->Add(Span("s")));
  ASSERT_TRUE(t.client->batcher()->ForceFlush(milliseconds(20000)));
  ASSERT_TRUE(server.service().WaitFor(
      [](const std::vector<RecordedSync>& s) { return ExportedReported(s) >= 30; }));
  t.client->Shutdown();
  EXPECT_EQ(ExportedReported(server.service().syncs()), 30u);  // never twice
  EXPECT_EQ(t.client->stats().batcher.exported, 30u);
}

TEST(ClientResilienceTest, AppliesTheServersBatchProfileAndCapturePolicy) {
  FakeSamplingServer server;
  v1::SyncResponse response = TableResponse(3, {}, 0.0);
  response.mutable_batch_profile()->set_name("low_latency");
  response.mutable_batch_profile()->set_max_queue_size(512);
  response.mutable_batch_profile()->set_max_export_batch_size(128);
  response.mutable_batch_profile()->set_schedule_delay_ms(1000);
  response.mutable_batch_profile()->set_export_timeout_ms(10000);
  response.mutable_capture_policy()->set_errors_per_second(5);
  server.service().SetResponse(response);
  TestClient t(TestOptions(server.address()));
  ASSERT_TRUE(Eventually([&] { return t.client->batcher()->profile().name == "low_latency"; }));
  const BatchProfile profile = t.client->batcher()->profile();
  EXPECT_EQ(profile.max_queue_size, 512u);
  EXPECT_EQ(profile.max_export_batch_size, 128u);
  EXPECT_EQ(profile.schedule_delay_ms, 1000u);
  EXPECT_EQ(profile.export_timeout_ms, 10000u);
  EXPECT_EQ(t.client->batcher()->capture_policy().errors_per_second, 5.0);
  EXPECT_TRUE(t.client->sampler().record_unsampled());
  SamplingParameters root;
  root.operation = "op";
  EXPECT_EQ(t.client->sampler().ShouldSample(root).decision, Decision::kRecordOnly);
}

TEST(ClientResilienceTest, AfterTheTtlTheInitialStrategyReturns) {
  std::optional<FakeSamplingServer> server(std::in_place);
  server->service().SetResponse(TableResponse(9, {}, 0.0));
  ClientOptions options = TestOptions(server->address());
  options.table_ttl = milliseconds(300);
  TestClient t(options);
  ASSERT_TRUE(Eventually([&] { return t.client->stats().table_version == 9; }));
  server.reset();  // the server goes down mid-run
  ASSERT_TRUE(Eventually([&] { return t.client->stats().tables_expired >= 1; }));
  EXPECT_EQ(t.client->stats().table_version, 0u);
  SamplingParameters root;
  root.operation = "op";
  root.trace_id[15] = 1;
  EXPECT_EQ(t.client->sampler().ShouldSample(root).decision, Decision::kRecordAndSample);  // p=1
  EXPECT_GT(t.client->stats().syncs_failed, 0u);
}

TEST(ClientResilienceTest, ServerGoingDownMidRunKeepsTheTableAndTheBatcherRunning) {
  std::optional<FakeSamplingServer> server(std::in_place);
  server->service().SetResponse(TableResponse(4, {{"op", 1.0}}, 0.0));
  TestClient t(TestOptions(server->address()));
  ASSERT_TRUE(Eventually([&] { return t.client->stats().table_version == 4; }));
  server.reset();
  const uint64_t failed_before = t.client->stats().syncs_failed;
  ASSERT_TRUE(Eventually([&] { return t.client->stats().syncs_failed > failed_before + 1; }));
  EXPECT_EQ(t.client->stats().table_version, 4u);  // within the TTL
  for (int i = 0; i < 10; ++i) ASSERT_TRUE(t.client->batcher()->Add(Span("s")));
  ASSERT_TRUE(t.recorder->WaitForSpans(10));
  const auto start = std::chrono::steady_clock::now();
  t.client->Shutdown(milliseconds(2000));
  EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(15));
}

TEST(ClientResilienceTest, ServerDownFromTheStartSamplesWithTheInitialStrategyAndExports) {
  ClientOptions options = TestOptions("127.0.0.1:1");
  options.initial_probability = 0.0;
  options.initial_lower_bound_per_second = 1.0;
  TestClient t(options);
  SamplingParameters root;
  root.operation = "op";
  const SamplingResult first = t.client->sampler().ShouldSample(root);
  EXPECT_EQ(first.decision, Decision::kRecordAndSample);  // the per-operation lower bound
  EXPECT_EQ(first.rule, DecisionRule::kLowerBound);
  ASSERT_TRUE(t.client->batcher()->Add(Span("s")));
  ASSERT_TRUE(t.recorder->WaitForSpans(1));
  ASSERT_TRUE(Eventually([&] { return t.client->stats().syncs_failed >= 2; }));
  EXPECT_EQ(t.client->stats().syncs_ok, 0u);
}

TEST(ClientResilienceTest, TheDiskCacheServesAColdStart) {
  const std::string path =
      ::testing::TempDir() + "/fleetrate-cache-" + std::to_string(getpid()) + ".bin";
  std::remove(path.c_str());
  {
    FakeSamplingServer server;
    server.service().SetResponse(TableResponse(7, {{"op", 0.25}}, 0.5));
    ClientOptions options = TestOptions(server.address());
    options.cache_path = path;
    TestClient t(options);
    ASSERT_TRUE(Eventually([&] { return t.client->stats().table_version == 7; }));
    t.client->Shutdown();
  }
  ClientOptions options = TestOptions("127.0.0.1:1");  // no server
  options.cache_path = path;
  TestClient cold(options);
  EXPECT_EQ(cold.client->stats().table_version, 7u);  // before any Sync
  EXPECT_TRUE(cold.client->stats().table_from_cache);
  ASSERT_NE(cold.client->sampler().table(), nullptr);
  EXPECT_EQ(cold.client->sampler().table()->Lookup("op").probability, 0.25);

  ClientOptions stale = options;
  stale.table_ttl = milliseconds(1);
  std::this_thread::sleep_for(milliseconds(5));
  TestClient expired(stale);
  EXPECT_EQ(expired.client->stats().table_version, 0u);  // older than the TTL: ignored
  std::remove(path.c_str());
}

}  // namespace
}  // namespace fleetrate
