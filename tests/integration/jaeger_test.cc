// The Jaeger remote-sampling endpoints of the real server, over real HTTP and gRPC.
#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include "jaeger/api_v2/sampling.grpc.pb.h"
#include "server/service/server.h"
#include "tests/support/http_get.h"

namespace fleetrate::server {
namespace {

using fleetrate::testing::HttpGet;

constexpr char kPolicies[] = R"(
rules:
  - service: shop
    operation: checkout
    probability: 1
  - service: shop
    probability: 0.5
  - service: limited
    rate_limit_traces_per_second: 7
)";

constexpr char kShopJson[] =
    R"({"strategyType":"PROBABILISTIC","probabilisticSampling":{"samplingRate":0.5},)"
    R"("operationSampling":{"defaultSamplingProbability":0.5,"defaultLowerBoundTracesPerSecond":0,)"
    R"("perOperationStrategies":[{"operation":"checkout","probabilisticSampling":{"samplingRate":1}}],)"
    R"("defaultUpperBoundTracesPerSecond":0}})";

class JaegerEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ServerOptions options;
    options.grpc_listen = "127.0.0.1:0";
    options.http_listen = "127.0.0.1:0";
    server_ = std::make_unique<Server>(
        options, std::make_shared<const Policies>(*ParsePolicies(kPolicies)), clock_);
    ASSERT_TRUE(server_->Start().ok());
    stub_ = jaeger::api_v2::SamplingManager::NewStub(grpc::CreateChannel(
        "127.0.0.1:" + std::to_string(server_->grpc_port()), grpc::InsecureChannelCredentials()));
  }

  RealClock clock_;
  std::unique_ptr<Server> server_;
  std::unique_ptr<jaeger::api_v2::SamplingManager::Stub> stub_;
};

TEST_F(JaegerEndpointTest, AllThreeHttpPathsServeJaegersJson) {
  for (const char* path : {"/sampling", "/api/sampling", "/"}) {
    auto r = HttpGet(server_->http_port(), std::string(path) + "?service=shop");
    EXPECT_EQ(r.status, 200u) << path << " " << r.error;
    EXPECT_EQ(r.content_type, "application/json") << path;
    EXPECT_EQ(r.body, kShopJson) << path;
  }
  auto limited = HttpGet(server_->http_port(), "/sampling?service=limited");
  EXPECT_EQ(limited.body,
            R"({"strategyType":"RATE_LIMITING","rateLimitingSampling":{"maxTracesPerSecond":7}})");
}

TEST_F(JaegerEndpointTest, MissingOrRepeatedServiceIs400WithAClearMessage) {
  auto missing = HttpGet(server_->http_port(), "/sampling");
  EXPECT_EQ(missing.status, 400u);
  EXPECT_NE(missing.body.find("'service'"), std::string::npos) << missing.body;
  auto twice = HttpGet(server_->http_port(), "/sampling?service=a&service=b");
  EXPECT_EQ(twice.status, 400u);
  EXPECT_NE(twice.body.find("once"), std::string::npos) << twice.body;
  auto empty = HttpGet(server_->http_port(), "/sampling?service=");
  EXPECT_EQ(empty.status, 400u);
  // The name is a metrics label, which must be UTF-8 or Prometheus cannot read /metrics.
  auto not_utf8 = HttpGet(server_->http_port(), "/sampling?service=shop%FF");
  EXPECT_EQ(not_utf8.status, 400u);
  EXPECT_EQ(not_utf8.body, "query parameter 'service' must be valid UTF-8\n");
  auto metrics = HttpGet(server_->http_port(), "/metrics");
  EXPECT_EQ(metrics.body.find("shop\xff"), std::string::npos);
}

TEST_F(JaegerEndpointTest, GrpcGetSamplingStrategyRoundTrip) {
  grpc::ClientContext context;
  jaeger::api_v2::SamplingStrategyParameters request;
  request.set_servicename("shop");
  jaeger::api_v2::SamplingStrategyResponse response;
  grpc::Status s = stub_->GetSamplingStrategy(&context, request, &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  EXPECT_EQ(response.strategytype(), jaeger::api_v2::PROBABILISTIC);
  ASSERT_EQ(response.operationsampling().peroperationstrategies_size(), 1);
  EXPECT_EQ(response.operationsampling().peroperationstrategies(0).operation(), "checkout");
  EXPECT_DOUBLE_EQ(response.operationsampling().defaultsamplingprobability(), 0.5);

  grpc::ClientContext bad_context;
  request.set_servicename("");
  EXPECT_EQ(stub_->GetSamplingStrategy(&bad_context, request, &response).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);

  grpc::ClientContext utf8_context;
  request.set_servicename("shop\xff");
  s = stub_->GetSamplingStrategy(&utf8_context, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "serviceName: must be valid UTF-8, byte 4 of 5 is not");
}

TEST_F(JaegerEndpointTest, RequestsAreCountedPerEndpointAndService) {
  HttpGet(server_->http_port(), "/sampling?service=shop");
  HttpGet(server_->http_port(), "/api/sampling?service=shop");
  grpc::ClientContext context;
  jaeger::api_v2::SamplingStrategyParameters request;
  request.set_servicename("limited");
  jaeger::api_v2::SamplingStrategyResponse response;
  ASSERT_TRUE(stub_->GetSamplingStrategy(&context, request, &response).ok());
  auto metrics = HttpGet(server_->http_port(), "/metrics");
  EXPECT_NE(
      metrics.body.find("fleetrate_jaeger_requests_total{endpoint=\"http\",service=\"shop\"} 2\n"),
      std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find(
                "fleetrate_jaeger_requests_total{endpoint=\"grpc\",service=\"limited\"} 1\n"),
            std::string::npos);
}

// A service name is any UTF-8, NUL and CR included; it becomes a label with those replaced, so
// /metrics stays parseable (prometheus-cpp writes them raw).
TEST_F(JaegerEndpointTest, ControlCharactersInTheServiceNeverReachMetrics) {
  EXPECT_EQ(HttpGet(server_->http_port(), "/sampling?service=shop%0D%00x").status, 200u);
  grpc::ClientContext context;
  jaeger::api_v2::SamplingStrategyParameters request;
  request.set_servicename(std::string("lim\r\0ited", 9));
  jaeger::api_v2::SamplingStrategyResponse response;
  ASSERT_TRUE(stub_->GetSamplingStrategy(&context, request, &response).ok());
  auto metrics = HttpGet(server_->http_port(), "/metrics");
  EXPECT_EQ(metrics.body.find('\0'), std::string::npos);
  EXPECT_EQ(metrics.body.find('\r'), std::string::npos);
  EXPECT_NE(metrics.body.find(
                "fleetrate_jaeger_requests_total{endpoint=\"http\",service=\"shop__x\"} 1\n"),
            std::string::npos)
      << metrics.body;
  EXPECT_NE(metrics.body.find(
                "fleetrate_jaeger_requests_total{endpoint=\"grpc\",service=\"lim__ited\"} 1\n"),
            std::string::npos);
}

}  // namespace
}  // namespace fleetrate::server
