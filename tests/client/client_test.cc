#include "fleetrate/client.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <chrono>
#include <functional>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "tests/client/fake_sampling_server.h"
#include "tests/client/test_support.h"

namespace fleetrate {
namespace {

using fleetrate::testing::Eventually;
using fleetrate::testing::FakeSamplingServer;
using fleetrate::testing::Root;
using fleetrate::testing::TableResponse;
using std::chrono::milliseconds;

ClientOptions TestOptions(const std::string& address) {
  ClientOptions options = fleetrate::testing::FastSyncOptions(address);
  options.max_backoff = milliseconds(400);
  options.initial_probability = 0.0;
  return options;
}

TEST(ClientTest, CreateRejectsInvalidOptionsNamingTheField) {
  struct Case {
    std::function<void(ClientOptions&)> mutate;
    std::string field;
  };
  const std::vector<Case> cases = {
      {[](ClientOptions& o) { o.service.clear(); }, "service"},
      {[](ClientOptions& o) { o.service.assign(129, 's'); }, "service"},
      {[](ClientOptions& o) { o.environment.assign(65, 'e'); }, "environment"},
      {[](ClientOptions& o) { o.instance_id.assign(129, 'i'); }, "instance_id"},
      {[](ClientOptions& o) { o.server_address.clear(); }, "server_address"},
      {[](ClientOptions& o) { o.initial_sync_interval = milliseconds(0); },
       "initial_sync_interval"},
      {[](ClientOptions& o) { o.min_sync_interval = milliseconds(-1); }, "min_sync_interval"},
      {[](ClientOptions& o) { o.max_sync_interval = milliseconds(0); }, "max_sync_interval"},
      {[](ClientOptions& o) { o.max_backoff = milliseconds(0); }, "max_backoff"},
      {[](ClientOptions& o) { o.sync_timeout = milliseconds(0); }, "sync_timeout"},
      {[](ClientOptions& o) { o.min_sync_interval = o.max_sync_interval + milliseconds(1); },
       "min_sync_interval"},
      {[](ClientOptions& o) { o.initial_probability = -0.1; }, "initial_probability"},
      {[](ClientOptions& o) { o.initial_probability = 1.5; }, "initial_probability"},
      {[](ClientOptions& o) { o.initial_probability = std::numeric_limits<double>::quiet_NaN(); },
       "initial_probability"},
  };
  for (const Case& c : cases) {
    ClientOptions options = TestOptions("127.0.0.1:1");
    c.mutate(options);
    const absl::StatusOr<std::unique_ptr<Client>> client = Client::Create(std::move(options));
    ASSERT_FALSE(client.ok()) << c.field;
    EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(client.status().message().find(c.field), std::string_view::npos)
        << c.field << ": " << client.status().message();
  }
  // The limits themselves are accepted.
  ClientOptions options = TestOptions("127.0.0.1:1");
  options.service.assign(128, 's');
  options.environment.assign(64, 'e');
  options.initial_probability = 1.0;
  options.min_sync_interval = options.max_sync_interval;
  auto client = Client::Create(std::move(options));
  ASSERT_TRUE(client.ok()) << client.status();
  (*client)->Shutdown(milliseconds(100));
}

TEST(ClientTest, SyncsAndAppliesTheServerTable) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(5, {{"GET /a", 1.0}}, 0.0));
  ClientOptions options = TestOptions(server.address());
  options.initial_probability = 0.5;
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  Sampler& sampler = (*client)->sampler();
  // Before the first Sync the initial probability decides (either answer may be first here).
  ASSERT_TRUE(Eventually([&] { return (*client)->stats().table_version == 5; }));
  EXPECT_GE((*client)->stats().syncs_ok, 1u);
  EXPECT_EQ((*client)->stats().syncs_failed, 0u);
  EXPECT_EQ(sampler.ShouldSample(Root("GET /a", 0)).decision, Decision::kRecordAndSample);
  EXPECT_EQ(sampler.ShouldSample(Root("GET /b", kRandomnessMask)).decision, Decision::kDrop);

  // The default instance id is "<hostname>-<pid>-<hex>".
  const auto syncs = server.service().syncs();
  ASSERT_FALSE(syncs.empty());
  const std::string& id = syncs[0].request.client().instance_id();
  EXPECT_NE(id.find("-" + std::to_string(getpid()) + "-"), std::string::npos) << id;
  EXPECT_EQ((*client)->options().instance_id, id);

  (*client)->Shutdown();
  const auto counts = server.service().AcceptedCounts();
  EXPECT_EQ(counts.at("GET /a"), std::make_pair(uint64_t{1}, uint64_t{1}));
  EXPECT_EQ(counts.at("GET /b"), std::make_pair(uint64_t{1}, uint64_t{0}));
}

TEST(ClientTest, UnreachableServerKeepsSamplingAndShutsDownInTime) {
  ClientOptions options = TestOptions("127.0.0.1:1");  // nothing listens on port 1
  options.initial_probability = 1.0;
  auto client = Client::Create(options);
  ASSERT_TRUE(client.ok()) << client.status();
  ASSERT_TRUE(Eventually([&] { return (*client)->stats().syncs_failed >= 2; }));
  EXPECT_EQ((*client)->stats().syncs_ok, 0u);
  EXPECT_EQ((*client)->stats().table_version, 0u);
  EXPECT_EQ((*client)->sampler().ShouldSample(Root("op", 0)).decision, Decision::kRecordAndSample);

  const auto start = std::chrono::steady_clock::now();
  (*client)->Shutdown(milliseconds(500));
  EXPECT_LT(std::chrono::steady_clock::now() - start, milliseconds(4000));
  // The Sampler still works after Shutdown, with the last rates.
  EXPECT_EQ((*client)->sampler().ShouldSample(Root("op", 0)).decision, Decision::kRecordAndSample);
}

TEST(ClientTest, ShutdownIsIdempotentAndTheDestructorCallsIt) {
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(1, {}, 1.0));
  {
    auto client = Client::Create(TestOptions(server.address()));
    ASSERT_TRUE(client.ok()) << client.status();
    ASSERT_TRUE(Eventually([&] { return (*client)->stats().syncs_ok >= 1; }));
    (void)(*client)->sampler().ShouldSample(Root("x", 0));
    (*client)->Shutdown();
    const size_t syncs = server.service().syncs().size();
    (*client)->Shutdown();
    EXPECT_EQ(server.service().syncs().size(), syncs);
  }
  {
    auto client = Client::Create(TestOptions(server.address()));
    ASSERT_TRUE(client.ok()) << client.status();
    (void)(*client)->sampler().ShouldSample(Root("y", 0));
  }  // the destructor's final Sync reports "y"
  EXPECT_EQ(server.service().AcceptedCounts().at("y").first, 1u);
}

}  // namespace
}  // namespace fleetrate
