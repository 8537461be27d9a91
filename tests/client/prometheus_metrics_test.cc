#include "fleetrate/prometheus_metrics.h"

#include <gtest/gtest.h>
#include <prometheus/text_serializer.h>

#include <string>

#include "tests/client/fake_sampling_server.h"
#include "tests/client/test_support.h"

namespace fleetrate {
namespace {

using fleetrate::testing::Eventually;
using fleetrate::testing::FakeSamplingServer;
using fleetrate::testing::Root;

TEST(ClientMetricsTest, ScrapesTheClientsStatsInPrometheusTextFormat) {
  FakeSamplingServer server;
  server.service().SetResponse(fleetrate::testing::TableResponse(1, {}, 1.0));
  ClientOptions options;
  options.server_address = server.address();
  options.service = "checkout";
  options.initial_probability = 1.0;
  options.initial_sync_interval = std::chrono::milliseconds(50);
  options.min_sync_interval = std::chrono::milliseconds(50);
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  for (int i = 0; i < 7; ++i) (void)(*client)->sampler().ShouldSample(Root("op", i));
  ASSERT_TRUE(Eventually([&] { return (*client)->stats().syncs_ok >= 1; }));

  ClientMetrics metrics(**client);
  const std::string text = prometheus::TextSerializer().Serialize(metrics.Collect());
  EXPECT_NE(text.find("fleetrate_client_roots_total{service=\"checkout\",decision=\"kept\"} 7\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find("fleetrate_client_roots_total{service=\"checkout\",decision=\"dropped\"} 0\n"),
      std::string::npos);
  EXPECT_NE(text.find("# TYPE fleetrate_client_syncs_total counter"), std::string::npos);
  EXPECT_NE(text.find("fleetrate_client_tables_rejected_total{service=\"checkout\"} 0\n"),
            std::string::npos)
      << text;
  EXPECT_NE(
      text.find(
          "fleetrate_client_spans_dropped_total{service=\"checkout\",reason=\"queue_full\"} 0"),
      std::string::npos);
  EXPECT_NE(text.find("# TYPE fleetrate_client_export_duration_seconds summary"),
            std::string::npos);
  EXPECT_NE(text.find("process_resident_memory_bytes "), std::string::npos);

  ClientMetrics without_process(**client, ClientMetricsOptions{false});
  const std::string lean = prometheus::TextSerializer().Serialize(without_process.Collect());
  EXPECT_EQ(lean.find("process_resident_memory_bytes"), std::string::npos);
  (*client)->Shutdown();
}

}  // namespace
}  // namespace fleetrate
