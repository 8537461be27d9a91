// The Client with a batcher against a fake server: what Sync reports and applies, the table's
// TTL, the on-disk cache, and a server that is down from the start or goes down mid-run.
#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <functional>
#include <future>
#include <limits>
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

// A server that is down but shows each connection attempt: it accepts TCP connections on
// 127.0.0.1:<free port> and closes them at once, which gRPC treats as a failed connect.
class ClosingListener {
 public:
  ClosingListener() {
    fd_ = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    const int one = 1;
    (void)setsockopt(fd_, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof(address);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)) == 0 &&
        listen(fd_, 64) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &length) == 0) {
      port_ = ntohs(address.sin_port);
    }
    thread_ = std::thread([this] {
      while (!stop_.load()) {
        pollfd p{fd_, POLLIN, 0};
        if (poll(&p, 1, 10) <= 0) continue;
        const int connection = accept4(fd_, nullptr, nullptr, SOCK_CLOEXEC);
        if (connection < 0) continue;
        close(connection);
        connections_.fetch_add(1);
      }
    });
  }
  ~ClosingListener() { Stop(); }
  // Stops listening: the port is free for a real server.
  void Stop() {
    stop_.store(true);
    if (thread_.joinable()) thread_.join();
    if (fd_ >= 0) close(fd_);
    fd_ = -1;
  }
  int port() const { return port_; }
  int connections() const { return connections_.load(); }

 private:
  int fd_ = -1;
  int port_ = 0;
  std::atomic<bool> stop_{false};
  std::atomic<int> connections_{0};
  std::thread thread_;
};

// Runs `call` on another thread; if it has not returned within `timeout`, runs `unblock` (which
// must make it return) so that a regression fails the test instead of hanging it.
bool ReturnsWithin(std::chrono::milliseconds timeout, const std::function<void()>& call,
                   const std::function<void()>& unblock) {
  std::future<void> done = std::async(std::launch::async, call);
  if (done.wait_for(timeout) == std::future_status::ready) return true;
  unblock();
  done.wait();
  return false;
}

// Opens the other end of the FIFO at `path` without blocking, so that a side blocked in open()
// gets through (and reads end-of-file, or writes into a pipe nobody reads).
void UnblockFifo(const std::string& path, int flags) {
  const int fd = open(path.c_str(), flags | O_NONBLOCK | O_CLOEXEC);
  if (fd >= 0) {
    std::this_thread::sleep_for(milliseconds(100));
    close(fd);
  }
}

std::string TempPath(const std::string& name) {
  return ::testing::TempDir() + "/fleetrate-" + name + "-" + std::to_string(getpid());
}

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

// The case: gRPC's own reconnect backoff (1 s, x1.6 per failed connect, up to 120 s) used
// to decide when a client noticed the server again, whatever its max_backoff; a server back for
// 9.5 s could be missed. Now each Sync attempt after failures makes the channel connect at once.
TEST(ClientResilienceTest, SyncsWithinMaxBackoffOfTheServerComingUp) {
  ClosingListener down;
  ASSERT_NE(down.port(), 0);
  ClientOptions options = TestOptions("127.0.0.1:" + std::to_string(down.port()));
  options.max_backoff = milliseconds(2000);
  TestClient t(options);
  ASSERT_NE(t.client, nullptr);
  // The client's backoff has reached max_backoff (50 ms doubling: 7 failures), and gRPC has
  // failed to connect at least four times (its own backoff is then >= 5.2 s by default).
  ASSERT_TRUE(Eventually([&] { return t.client->stats().syncs_failed >= 7; }));
  const int seen = std::max(down.connections(), 3);
  // Comes up right after a failed connect, when a backed-off channel waits longest.
  ASSERT_TRUE(Eventually([&] { return down.connections() > seen; }));
  down.Stop();
  FakeSamplingServer server(down.port());
  ASSERT_EQ(server.address(), "127.0.0.1:" + std::to_string(down.port()));
  server.service().SetResponse(TableResponse(5, {}, 1.0));
  const auto up = std::chrono::steady_clock::now();
  // max_backoff + 10 % jitter + a connect, with room for slow (sanitizer) builds.
  EXPECT_TRUE(Eventually([&] { return t.client->stats().syncs_ok >= 1; }, milliseconds(4000)))
      << "no Sync within 4 s of the server coming up";
  std::printf("first Sync %.2f s after the server came up\n",
              std::chrono::duration<double>(std::chrono::steady_clock::now() - up).count());
}

// A FIFO at cache_path used to block Create forever (open() waits for a writer); a directory, a
// device or anything but a regular file is now ignored with a warning.
TEST(ClientResilienceTest, ACacheThatIsNotARegularFileIsIgnoredWithoutBlocking) {
  const std::string fifo = TempPath("cache-fifo");
  const std::string directory = TempPath("cache-dir");
  const std::string device = TempPath("cache-dev");
  std::remove(fifo.c_str());
  std::filesystem::remove_all(directory);
  std::remove(device.c_str());
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  ASSERT_TRUE(std::filesystem::create_directory(directory));
  std::filesystem::create_symlink("/dev/zero", device);
  for (const std::string& path : {fifo, directory, device}) {
    SCOPED_TRACE(path);
    ClientOptions options = TestOptions("127.0.0.1:1");  // no server
    options.cache_path = path;
    std::unique_ptr<Client> client;
    EXPECT_TRUE(ReturnsWithin(
        milliseconds(5000),
        [&] {
          auto created = Client::Create(options);
          if (created.ok()) client = std::move(*created);
        },
        [&] { UnblockFifo(path, O_WRONLY); }))
        << "Client::Create blocked on cache_path";
    ASSERT_NE(client, nullptr);
    EXPECT_EQ(client->stats().table_version, 0u);
    EXPECT_FALSE(client->stats().table_from_cache);
    EXPECT_EQ(client->stats().tables_rejected, 1u);
  }
  std::remove(fifo.c_str());
  std::filesystem::remove_all(directory);
  std::remove(device.c_str());
}

// Writing the cache must not block the poller (nor Shutdown) on a FIFO where it writes.
TEST(ClientResilienceTest, WritingTheCacheNeverOpensAFifo) {
  const std::string path = TempPath("cache-write");
  const std::string old_temp = path + ".tmp";  // the fixed name the cache used to go through
  std::remove(path.c_str());
  std::remove(old_temp.c_str());
  ASSERT_EQ(mkfifo(old_temp.c_str(), 0600), 0);
  FakeSamplingServer server;
  server.service().SetResponse(TableResponse(7, {{"op", 0.25}}, 0.5));
  ClientOptions options = TestOptions(server.address());
  options.cache_path = path;
  TestClient t(options);
  ASSERT_NE(t.client, nullptr);
  ASSERT_TRUE(Eventually([&] { return t.client->stats().table_version == 7; }));
  EXPECT_TRUE(
      Eventually([&] { return std::filesystem::is_regular_file(path); }, milliseconds(5000)))
      << "the cache was not written";
  EXPECT_TRUE(ReturnsWithin(
      milliseconds(5000), [&] { t.client->Shutdown(); }, [&] { UnblockFifo(old_temp, O_RDONLY); }))
      << "Shutdown blocked behind a cache write";
  // Nothing but the cache is left behind in its directory.
  for (const auto& entry : std::filesystem::directory_iterator(::testing::TempDir())) {
    const std::string name = entry.path().string();
    if (name.rfind(path, 0) == 0) {
      EXPECT_TRUE(name == path || name == old_temp) << name;
    }
  }
  std::remove(path.c_str());
  std::remove(old_temp.c_str());
}

// A cache that parses is checked like a table from the server: a table that cannot be right is
// ignored, counted, and the initial strategy samples.
TEST(ClientResilienceTest, ACacheWithImpossibleValuesIsIgnored) {
  const std::string path = TempPath("cache-invalid");
  const double nan = std::numeric_limits<double>::quiet_NaN();
  struct Case {
    const char* what;
    std::function<void(v1::SyncResponse&)> spoil;
  };
  const Case cases[] = {
      {"threshold 0 with probability 0.5",
       [](v1::SyncResponse& r) { r.mutable_rates(0)->set_threshold(0); }},
      {"NaN probability", [nan](v1::SyncResponse& r) { r.mutable_rates(0)->set_probability(nan); }},
      {"probability 5",
       [](v1::SyncResponse& r) {
         r.mutable_rates(0)->set_probability(5);
         r.mutable_rates(0)->set_threshold(0);
       }},
      {"threshold above 2^56",
       [](v1::SyncResponse& r) { r.mutable_default_rate()->set_threshold(kMaxThreshold + 1); }},
      {"negative local cap",
       [](v1::SyncResponse& r) { r.mutable_rates(0)->set_local_cap_per_second(-1); }},
      {"infinite lower bound",
       [](v1::SyncResponse& r) {
         r.mutable_rates(0)->set_lower_bound_per_second(std::numeric_limits<double>::infinity());
       }},
      {"NaN burst", [nan](v1::SyncResponse& r) { r.mutable_rates(0)->set_burst(nan); }},
      {"NaN capture quota",
       [nan](v1::SyncResponse& r) { r.mutable_capture_policy()->set_errors_per_second(nan); }},
      {"operation name over 256 bytes",
       [](v1::SyncResponse& r) { r.mutable_rates(0)->set_operation(std::string(257, 'o')); }},
      {"empty operation name", [](v1::SyncResponse& r) { r.mutable_rates(0)->set_operation(""); }},
      {"version 0", [](v1::SyncResponse& r) { r.set_table_version(0); }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    v1::SyncResponse response = TableResponse(7, {{"op", 0.5}}, 0.5);
    c.spoil(response);
    {
      std::ofstream out(path, std::ios::binary | std::ios::trunc);
      ASSERT_TRUE(response.SerializeToOstream(&out));
    }
    ClientOptions options = TestOptions("127.0.0.1:1");  // no server
    options.cache_path = path;
    options.initial_probability = 0.0;
    options.initial_lower_bound_per_second = 0.0;
    TestClient t(options);
    ASSERT_NE(t.client, nullptr);
    EXPECT_EQ(t.client->stats().table_version, 0u);
    EXPECT_FALSE(t.client->stats().table_from_cache);
    EXPECT_EQ(t.client->stats().tables_rejected, 1u);
    SamplingParameters root;
    root.operation = "op";
    root.trace_id[15] = 0xff;
    EXPECT_EQ(t.client->sampler().ShouldSample(root).decision, Decision::kDrop);  // initial: p 0
  }
  std::remove(path.c_str());
}

}  // namespace
}  // namespace fleetrate
