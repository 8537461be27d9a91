// The real server, in-process on port 0: gRPC Sync through a real stub (the boundary checks a
// client library cannot bypass), gRPC health, and the HTTP endpoints.
#include "server/service/server.h"

#include <arpa/inet.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <optional>
#include <thread>

#include "fleetrate/v1/sampling.grpc.pb.h"
#include "server/store/memory_store.h"
#include "tests/support/http_get.h"

namespace fleetrate::server {
namespace {

using fleetrate::testing::HttpGet;

class ServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    server_ = std::make_unique<Server>(
        options, std::make_shared<const Policies>(*ParsePolicies("")), clock_);
    ASSERT_TRUE(server_->Start().ok());
    channel_ = grpc::CreateChannel("127.0.0.1:" + std::to_string(server_->grpc_port()),
                                   grpc::InsecureChannelCredentials());
    stub_ = v1::SamplingService::NewStub(channel_);
  }

  grpc::Status Sync(const v1::SyncRequest& request, v1::SyncResponse* response) {
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub_->Sync(&context, request, response);
  }

 public:
  static v1::SyncRequest Valid() {
    v1::SyncRequest r;
    r.mutable_client()->set_instance_id("it-1");
    r.mutable_client()->set_service("cart");
    r.set_interval_ms(1000);
    auto* op = r.add_operations();
    op->set_operation("GET /cart");
    op->set_roots_seen(100);
    op->set_roots_sampled(1);
    return r;
  }

  RealClock clock_;
  std::unique_ptr<Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::SamplingService::Stub> stub_;
};

TEST_F(ServerTest, SyncOverGrpcReturnsRatesAndABatchProfile) {
  v1::SyncResponse response;
  grpc::Status s = Sync(Valid(), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.next_sync_interval_ms(), 10000u);
  EXPECT_EQ(response.batch_profile().name(), "balanced");
  EXPECT_DOUBLE_EQ(response.default_rate().probability(), 0.001);  // no estimate yet

  server_->publisher().Recompute(clock_.Now());
  ASSERT_TRUE(Sync(Valid(), &response).ok());
  ASSERT_EQ(response.rates_size(), 1);
  EXPECT_EQ(response.rates(0).operation(), "GET /cart");
  EXPECT_DOUBLE_EQ(response.rates(0).probability(), 1.0 / 100);  // target 1/s over 100 roots/s
}

TEST_F(ServerTest, MalformedSyncRequestsGetInvalidArgumentNamingTheField) {
  struct Case {
    const char* what;
    void (*mutate)(v1::SyncRequest&);
    const char* field;
  };
  const Case cases[] = {
      {"empty service", [](v1::SyncRequest& r) { r.mutable_client()->clear_service(); },
       "client.service"},
      {"negative interval", [](v1::SyncRequest& r) { r.set_interval_ms(-1); }, "interval_ms"},
      {"zero interval with counts", [](v1::SyncRequest& r) { r.set_interval_ms(0); },
       "interval_ms"},
      {"too many operations",
       [](v1::SyncRequest& r) {
         for (int i = 0; i < 2000; ++i)
           r.add_operations()->set_operation("op-" + std::to_string(i));
       },
       "operations: at most 2000"},
      {"over-long operation",
       [](v1::SyncRequest& r) { r.mutable_operations(0)->set_operation(std::string(300, 'x')); },
       "operations[0].operation: at most 256 bytes"},
      {"over-long service",
       [](v1::SyncRequest& r) { r.mutable_client()->set_service(std::string(200, 's')); },
       "client.service: at most 128 bytes"},
  };
  for (const Case& c : cases) {
    v1::SyncRequest request = Valid();
    c.mutate(request);
    v1::SyncResponse response;
    grpc::Status s = Sync(request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << c.what;
    EXPECT_NE(s.error_message().find(c.field), std::string::npos)
        << c.what << ": " << s.error_message();
  }
}

// Limits beyond a request's own fields answer RESOURCE_EXHAUSTED naming the limit, and the
// refused client's counts stay with it (it retries); other clients are unaffected.
TEST_F(ServerTest, LimitsAnswerResourceExhaustedNamingTheLimit) {
  v1::SyncResponse response;
  // A message beyond max_message_bytes (1 MiB) is refused by gRPC before it is parsed.
  v1::SyncRequest huge = Valid();
  huge.mutable_client()->set_library_version(std::string(2 << 20, 'x'));
  EXPECT_EQ(Sync(huge, &response).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);

  // One client in a tight loop: a burst of 5 passes, then it is held to 10 Syncs/s.
  int refused = 0;
  std::string message;
  for (int i = 0; i < 30; ++i) {
    grpc::Status s = Sync(Valid(), &response);
    if (s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED) {
      ++refused;
      message = s.error_message();
    } else {
      ASSERT_TRUE(s.ok()) << s.error_message();
    }
  }
  EXPECT_GT(refused, 0);
  EXPECT_NE(message.find("client.instance_id 'it-1': more than 5 Syncs in a row"),
            std::string::npos)
      << message;
  v1::SyncRequest other = Valid();
  other.mutable_client()->set_instance_id("it-2");
  EXPECT_TRUE(Sync(other, &response).ok());

  // A server that tracks at most 2 clients refuses a third, not the two it has.
  ServerOptions options;
  options.grpc_listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.sync_limits.max_clients = 2;
  Server small(options, std::make_shared<const Policies>(*ParsePolicies("")), clock_);
  ASSERT_TRUE(small.Start().ok());
  auto stub = v1::SamplingService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(small.grpc_port()), grpc::InsecureChannelCredentials()));
  const auto sync_as = [&](const std::string& instance) {
    v1::SyncRequest request = Valid();
    request.mutable_client()->set_instance_id(instance);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    return stub->Sync(&context, request, &response);
  };
  EXPECT_TRUE(sync_as("a").ok());
  EXPECT_TRUE(sync_as("b").ok());
  grpc::Status third = sync_as("c");
  EXPECT_EQ(third.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(third.error_message(),
            "client.instance_id: the server tracks at most 2 live clients; retry later");
  EXPECT_TRUE(sync_as("a").ok());
  small.Shutdown();
}

// Over real gRPC, the peer is the caller's address: one host minting instance ids is held to its
// budget (here 1/s, bursts of 10), its known clients keep syncing, and /metrics counts it.
TEST_F(ServerTest, OneHostMintingInstanceIdsIsHeldToItsBudget) {
  ServerOptions options;
  options.grpc_listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.sync_limits.new_clients_per_peer_per_second = 1;
  Server small(options, std::make_shared<const Policies>(*ParsePolicies("")), clock_);
  ASSERT_TRUE(small.Start().ok());
  auto stub = v1::SamplingService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(small.grpc_port()), grpc::InsecureChannelCredentials()));
  const auto sync_as = [&](const std::string& instance) {
    v1::SyncRequest request = Valid();
    request.mutable_client()->set_instance_id(instance);
    grpc::ClientContext context;
    context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
    v1::SyncResponse response;
    return stub->Sync(&context, request, &response);
  };
  for (int i = 0; i < 10; ++i) EXPECT_TRUE(sync_as("minted-" + std::to_string(i)).ok());
  grpc::Status refused = sync_as("minted-10");
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(refused.error_message(),
            "client.instance_id: peer 127.0.0.1 registered more than 10 new clients in a row, or "
            "1 per second sustained; retry later");
  EXPECT_TRUE(sync_as("minted-0").ok());
  const auto metrics = HttpGet(small.http_port(), "/metrics");
  EXPECT_NE(metrics.body.find("fleetrate_sync_refused_total{reason=\"peer_new_clients\"} 1\n"),
            std::string::npos)
      << metrics.body;
  small.Shutdown();
}

// Strings are proto3 `string`s, which protobuf refuses to parse when they are not UTF-8; the
// server reads them as bytes and answers INVALID_ARGUMENT naming the field, like other limits.
TEST_F(ServerTest, InvalidUtf8IsInvalidArgumentNamingTheField) {
  v1::SyncRequest request = Valid();
  request.mutable_client()->set_service("cart\xff\xfe");
  v1::SyncResponse response;
  grpc::Status status = Sync(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(), "client.service: must be valid UTF-8, byte 4 of 6 is not");
  request = Valid();
  request.mutable_operations(0)->set_operation("GET /\xc0\xaf");
  status = Sync(request, &response);
  EXPECT_EQ(status.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(status.error_message(),
            "operations[0].operation: must be valid UTF-8, byte 5 of 7 is not");
  EXPECT_TRUE(Sync(Valid(), &response).ok());  // the server keeps serving
  const auto metrics = HttpGet(server_->http_port(), "/metrics");
  EXPECT_NE(metrics.body.find("fleetrate_sync_requests_total{code=\"INVALID_ARGUMENT\"} 2\n"),
            std::string::npos)
      << metrics.body;
}
TEST_F(ServerTest, GrpcHealthReportsServing) {
  // grpc.health.v1.Health/Check through the generic stub: the request (empty service) encodes
  // to zero bytes; the response HealthCheckResponse{status: SERVING(1)} to 0x08 0x01.
  grpc::GenericStub generic(channel_);
  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(10));
  grpc::Slice empty("");
  grpc::ByteBuffer request(&empty, 1);
  grpc::ByteBuffer response;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<grpc::Status> status;
  generic.UnaryCall(&context, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request,
                    &response, [&](grpc::Status s) {
                      std::lock_guard<std::mutex> lock(mu);
                      status = s;
                      cv.notify_all();
                    });
  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return status.has_value(); }));
  ASSERT_TRUE(status->ok()) << status->error_message();
  std::vector<grpc::Slice> slices;
  ASSERT_TRUE(response.Dump(&slices).ok());
  std::string bytes;
  for (const auto& slice : slices)
    bytes.append(reinterpret_cast<const char*>(slice.begin()), slice.size());
  EXPECT_EQ(bytes, std::string("\x08\x01", 2));
}

TEST_F(ServerTest, HttpHealthReadinessAndMetrics) {
  auto healthz = HttpGet(server_->http_port(), "/healthz");
  EXPECT_EQ(healthz.status, 200u) << healthz.error;
  auto readyz = HttpGet(server_->http_port(), "/readyz");
  EXPECT_EQ(readyz.status, 200u) << readyz.error;
  EXPECT_EQ(readyz.body, "ready\n");

  v1::SyncResponse response;
  ASSERT_TRUE(Sync(Valid(), &response).ok());
  v1::SyncRequest bad = Valid();
  bad.set_interval_ms(-1);
  EXPECT_FALSE(Sync(bad, &response).ok());

  auto metrics = HttpGet(server_->http_port(), "/metrics");
  ASSERT_EQ(metrics.status, 200u) << metrics.error;
  EXPECT_NE(metrics.content_type.find("text/plain"), std::string::npos);
  EXPECT_NE(metrics.body.find("fleetrate_sync_requests_total{code=\"OK\"} 1\n"), std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find("fleetrate_sync_requests_total{code=\"INVALID_ARGUMENT\"} 1\n"),
            std::string::npos);
  EXPECT_NE(metrics.body.find("fleetrate_sync_duration_seconds_count 2\n"), std::string::npos);
  EXPECT_NE(metrics.body.find("fleetrate_build_info{version=\""), std::string::npos);
}

TEST_F(ServerTest, StartFailsClearlyWhenThePortIsTaken) {
  ServerOptions options;
  options.grpc_listen = "127.0.0.1:" + std::to_string(server_->grpc_port());
  options.http_listen = "127.0.0.1:0";
  Server second(options, std::make_shared<const Policies>(*ParsePolicies("")), clock_);
  absl::Status s = second.Start();
  ASSERT_FALSE(s.ok());
  EXPECT_NE(std::string(s.message()).find(options.grpc_listen), std::string::npos) << s.message();
}

// A Store whose Report blocks until released: keeps a Sync in flight for as long as the test
// wants, at the Store interface.
class BlockingStore final : public Store {
 public:
  ReportResult Report(const ClientReport& report, Duration sync_interval, Timestamp now) override {
    {
      std::unique_lock<std::mutex> lock(mu_);
      entered_ = true;
      cv_.notify_all();
      cv_.wait(lock, [this] { return released_; });
    }
    return inner_.Report(report, sync_interval, now);
  }
  FleetEstimate Estimate(Timestamp now) override { return inner_.Estimate(now); }
  uint64_t overflowed_reports() const override { return inner_.overflowed_reports(); }
  std::string_view name() const noexcept override { return "blocking"; }

  bool WaitEntered() {
    std::unique_lock<std::mutex> lock(mu_);
    return cv_.wait_for(lock, std::chrono::seconds(10), [this] { return entered_; });
  }
  void Release() {
    std::lock_guard<std::mutex> lock(mu_);
    released_ = true;
    cv_.notify_all();
  }

 private:
  MemoryStore inner_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool entered_ = false;
  bool released_ = false;
};

TEST(ServerShutdownTest, AnInFlightSyncFinishesBeforeShutdownReturns) {
  RealClock clock;
  ServerOptions options;
  options.grpc_listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  auto store = std::make_unique<BlockingStore>();
  BlockingStore* blocking = store.get();
  Server server(options, std::make_shared<const Policies>(*ParsePolicies("")), clock,
                std::move(store));
  ASSERT_TRUE(server.Start().ok());
  auto stub = v1::SamplingService::NewStub(grpc::CreateChannel(
      "127.0.0.1:" + std::to_string(server.grpc_port()), grpc::InsecureChannelCredentials()));

  grpc::ClientContext context;
  context.set_deadline(std::chrono::system_clock::now() + std::chrono::seconds(20));
  v1::SyncRequest request = ServerTest::Valid();
  v1::SyncResponse response;
  std::mutex mu;
  std::condition_variable cv;
  std::optional<grpc::Status> status;
  stub->async()->Sync(&context, &request, &response, [&](grpc::Status s) {
    std::lock_guard<std::mutex> lock(mu);
    status = s;
    cv.notify_all();
  });
  ASSERT_TRUE(blocking->WaitEntered()) << "the Sync never reached the store";

  std::thread shutdown([&] { server.Shutdown(std::chrono::seconds(10)); });
  // While the call is held, readiness already says 503 so load balancers drain this replica.
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  auto ready = HttpGet(server.http_port(), "/readyz");
  EXPECT_EQ(ready.status, 503u) << ready.error;
  blocking->Release();
  shutdown.join();

  std::unique_lock<std::mutex> lock(mu);
  ASSERT_TRUE(cv.wait_for(lock, std::chrono::seconds(10), [&] { return status.has_value(); }));
  EXPECT_TRUE(status->ok()) << "an in-flight call must finish, got: " << status->error_message();
  EXPECT_NE(response.table_version(), 0u);
}

// A loopback socket that listens but accepts nothing (gRPC after an EMFILE on accept) until
// Serve(), which accepts and closes each connection (an answer, as a TLS server gives one).
class SilentPort {
 public:
  SilentPort() {
    fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in address{};
    address.sin_family = AF_INET;
    address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    EXPECT_EQ(::bind(fd_, reinterpret_cast<sockaddr*>(&address), sizeof(address)), 0);
    EXPECT_EQ(::listen(fd_, 128), 0);
    socklen_t len = sizeof(address);
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&address), &len);
    port_ = ntohs(address.sin_port);
  }
  ~SilentPort() {
    ::shutdown(fd_, SHUT_RDWR);
    if (server_.joinable()) server_.join();
    ::close(fd_);
  }
  void Serve() {
    server_ = std::thread([this] {
      for (;;) {
        const int client = ::accept(fd_, nullptr, nullptr);
        if (client < 0) return;
        ::close(client);
      }
    });
  }
  [[nodiscard]] uint16_t port() const { return port_; }

 private:
  int fd_ = -1;
  uint16_t port_ = 0;
  std::thread server_;
};

// Polls `target` until it answers `status` or 10 s pass; returns the last answer.
fleetrate::testing::HttpResult WaitForStatus(uint16_t port, const std::string& target,
                                             unsigned status) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  for (;;) {
    auto result = HttpGet(port, target);
    if (result.status == status || std::chrono::steady_clock::now() > deadline) return result;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

TEST(ServerHealthTest, HealthzIs503WhileTheGrpcPortDoesNotAnswerAnd200WhenItDoesAgain) {
  SilentPort grpc_port;
  RealClock clock;
  ServerOptions options;
  options.grpc_listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.grpc_self_probe_address = "127.0.0.1:" + std::to_string(grpc_port.port());
  options.grpc_self_probe_interval = std::chrono::milliseconds(20);
  options.grpc_self_probe_timeout = std::chrono::milliseconds(50);
  Server server(options, std::make_shared<const Policies>(*ParsePolicies("")), clock);
  ASSERT_TRUE(server.Start().ok());

  auto unhealthy = WaitForStatus(server.http_port(), "/healthz", 503);
  EXPECT_EQ(unhealthy.status, 503u) << unhealthy.error;
  EXPECT_NE(unhealthy.body.find("gRPC port 127.0.0.1:" + std::to_string(grpc_port.port()) +
                                " failed 3 self-probes in a row"),
            std::string::npos)
      << unhealthy.body;
  EXPECT_EQ(HttpGet(server.http_port(), "/readyz").status, 200u) << "readiness is unaffected";
  EXPECT_NE(
      HttpGet(server.http_port(), "/metrics").body.find("fleetrate_grpc_self_probe_healthy 0"),
      std::string::npos);

  grpc_port.Serve();
  auto healthy = WaitForStatus(server.http_port(), "/healthz", 200);
  EXPECT_EQ(healthy.status, 200u) << healthy.body;
  server.Shutdown();
}

TEST(ServerHealthTest, TheSelfProbeOfTheRealGrpcPortSucceeds) {
  RealClock clock;
  ServerOptions options;
  options.grpc_listen = "127.0.0.1:0";
  options.http_listen = "127.0.0.1:0";
  options.grpc_self_probe_interval = std::chrono::milliseconds(20);
  Server server(options, std::make_shared<const Policies>(*ParsePolicies("")), clock);
  ASSERT_TRUE(server.Start().ok());
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // ~15 probes
  EXPECT_EQ(HttpGet(server.http_port(), "/healthz").status, 200u);
  const std::string metrics = HttpGet(server.http_port(), "/metrics").body;
  EXPECT_NE(metrics.find("fleetrate_grpc_self_probe_healthy 1"), std::string::npos);
  EXPECT_NE(metrics.find("fleetrate_grpc_self_probe_failures_total 0"), std::string::npos);
  server.Shutdown();
}

}  // namespace
}  // namespace fleetrate::server
