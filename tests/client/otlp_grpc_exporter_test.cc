#include "fleetrate/otlp_grpc_exporter.h"

#include <grpcpp/grpcpp.h>
#include <gtest/gtest.h>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "fleetrate/batcher.h"
#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace fleetrate {
namespace {

namespace collector = ::opentelemetry::proto::collector::trace::v1;
using std::chrono::milliseconds;

// An in-process OTLP/gRPC receiver on 127.0.0.1:<free port>.
class Receiver final : public collector::TraceService::Service {
 public:
  grpc::Status Export(grpc::ServerContext* context, const collector::ExportTraceServiceRequest* req,
                      collector::ExportTraceServiceResponse* response) override {
    std::unique_lock<std::mutex> lock(mu_);
    if (hang_) {
      cv_.wait_for(lock, std::chrono::seconds(20),
                   [&] { return !hang_ || context->IsCancelled(); });
      return grpc::Status(grpc::StatusCode::UNAVAILABLE, "hung");
    }
    requests_.push_back(*req);
    auto metadata = context->client_metadata().find("x-tenant");
    if (metadata != context->client_metadata().end()) {
      tenant_ = std::string(metadata->second.data(), metadata->second.size());
    }
    if (reject_) response->mutable_partial_success()->set_rejected_spans(1);
    cv_.notify_all();
    return grpc::Status::OK;
  }
  std::vector<collector::ExportTraceServiceRequest> requests() {
    std::lock_guard<std::mutex> lock(mu_);
    return requests_;
  }
  void set_hang(bool hang) {
    std::lock_guard<std::mutex> lock(mu_);
    hang_ = hang;
    cv_.notify_all();
  }
  void set_reject(bool reject) {
    std::lock_guard<std::mutex> lock(mu_);
    reject_ = reject;
  }
  std::string tenant() {
    std::lock_guard<std::mutex> lock(mu_);
    return tenant_;
  }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<collector::ExportTraceServiceRequest> requests_;
  bool hang_ = false;
  bool reject_ = false;
  std::string tenant_;
};

class OtlpGrpcExporterTest : public ::testing::Test {
 protected:
  void SetUp() override {
    grpc::ServerBuilder builder;
    builder.AddListeningPort("127.0.0.1:0", grpc::InsecureServerCredentials(), &port_);
    builder.RegisterService(&receiver_);
    server_ = builder.BuildAndStart();
    ASSERT_NE(server_, nullptr);
  }
  void TearDown() override {
    receiver_.set_hang(false);
    server_->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(1));
  }
  OtlpGrpcExporterOptions ExporterOptions() {
    OtlpGrpcExporterOptions options;
    options.endpoint = "127.0.0.1:" + std::to_string(port_);
    options.service_name = "checkout";
    options.resource_attributes = {{"deployment.environment", "test"}};
    options.headers = {{"x-tenant", "blue"}};
    return options;
  }

  Receiver receiver_;
  int port_ = 0;
  std::unique_ptr<grpc::Server> server_;
};

TEST_F(OtlpGrpcExporterTest, SendsSpansAsOtlpWithResourceScopeAndCaptureMark) {
  BatcherOptions options;
  options.capture.errors_per_second = 10;
  Batcher batcher(std::make_unique<OtlpGrpcExporter>(ExporterOptions()), options);
  const AttributeView attributes[] = {{"http.method", "GET"}, {"http.status_code", 200}};
  SpanView span;
  span.trace_id[0] = 0x4b;
  span.trace_id[15] = 0x01;
  span.span_id[7] = 0x02;
  span.name = "GET /users";
  span.kind = SpanKind::kServer;
  span.start_unix_nanos = 1'700'000'000'000'000'000;
  span.end_unix_nanos = 1'700'000'000'001'000'000;
  span.trace_state = "ot=th:8";
  span.attributes = attributes;
  span.attribute_count = 2;
  ASSERT_TRUE(batcher.Add(span));
  SpanView error;
  error.name = "failing";
  error.sampled = false;
  error.status = StatusCode::kError;
  error.status_message = "boom";
  error.parent_span_id[0] = 0x09;
  ASSERT_TRUE(batcher.Add(error));
  ASSERT_TRUE(batcher.Shutdown(milliseconds(20000)));
  EXPECT_EQ(batcher.stats().exported, 2u);

  const auto requests = receiver_.requests();
  ASSERT_EQ(requests.size(), 1u);
  ASSERT_EQ(requests[0].resource_spans_size(), 1);
  const auto& rs = requests[0].resource_spans(0);
  ASSERT_GE(rs.resource().attributes_size(), 2);
  EXPECT_EQ(rs.resource().attributes(0).key(), "service.name");
  EXPECT_EQ(rs.resource().attributes(0).value().string_value(), "checkout");
  EXPECT_EQ(rs.scope_spans(0).scope().name(), "fleetrate");
  ASSERT_EQ(rs.scope_spans(0).spans_size(), 2);
  const auto& s0 = rs.scope_spans(0).spans(0);
  EXPECT_EQ(s0.name(), "GET /users");
  EXPECT_EQ(s0.trace_id(), std::string(reinterpret_cast<const char*>(span.trace_id.data()), 16));
  EXPECT_EQ(s0.span_id().size(), 8u);
  EXPECT_TRUE(s0.parent_span_id().empty());
  EXPECT_EQ(s0.kind(), ::opentelemetry::proto::trace::v1::Span::SPAN_KIND_SERVER);
  EXPECT_EQ(s0.start_time_unix_nano(), 1'700'000'000'000'000'000u);
  EXPECT_EQ(s0.trace_state(), "ot=th:8");
  EXPECT_EQ(s0.flags(), 1u);
  ASSERT_EQ(s0.attributes_size(), 2);
  EXPECT_EQ(s0.attributes(1).value().int_value(), 200);
  const auto& s1 = rs.scope_spans(0).spans(1);
  EXPECT_EQ(s1.status().code(), ::opentelemetry::proto::trace::v1::Status::STATUS_CODE_ERROR);
  EXPECT_EQ(s1.status().message(), "boom");
  EXPECT_EQ(s1.parent_span_id().size(), 8u);
  EXPECT_EQ(s1.flags(), 0u);
  ASSERT_EQ(s1.attributes_size(), 1);
  EXPECT_EQ(s1.attributes(0).key(), "fleetrate.capture.reason");
  EXPECT_EQ(s1.attributes(0).value().string_value(), "error");
  EXPECT_EQ(receiver_.tenant(), "blue");
}

TEST_F(OtlpGrpcExporterTest, AReceiverThatDoesNotAnswerInTimeIsATimeout) {
  receiver_.set_hang(true);
  BatcherOptions options;
  options.profile.export_timeout_ms = 100;
  options.profile.max_export_batch_size = 1;
  Batcher batcher(std::make_unique<OtlpGrpcExporter>(ExporterOptions()), options);
  SpanView span;
  span.name = "s";
  ASSERT_TRUE(batcher.Add(span));
  EXPECT_TRUE(batcher.ForceFlush(milliseconds(20000)));
  EXPECT_EQ(batcher.stats().dropped_export_timeout, 1u);
  receiver_.set_hang(false);
}

TEST_F(OtlpGrpcExporterTest, PartialSuccessCountsRejectedSpans) {
  receiver_.set_reject(true);
  auto exporter = std::make_unique<OtlpGrpcExporter>(ExporterOptions());
  SpanRecord record;
  record.name = "s";
  const SpanRecord* records[] = {&record};
  EXPECT_EQ(exporter->Export(SpanBatch(records, 1),
                             std::chrono::steady_clock::now() + std::chrono::seconds(20)),
            ExportResult::kSuccess);
  EXPECT_EQ(exporter->rejected_spans(), 1u);
}

TEST(OtlpGrpcExporterNoReceiverTest, AnUnreachableReceiverIsAFailure) {
  OtlpGrpcExporterOptions options;
  options.endpoint = "127.0.0.1:1";
  OtlpGrpcExporter exporter(options);
  SpanRecord record;
  const SpanRecord* records[] = {&record};
  const ExportResult result = exporter.Export(
      SpanBatch(records, 1), std::chrono::steady_clock::now() + std::chrono::seconds(20));
  EXPECT_NE(result, ExportResult::kSuccess);
}

}  // namespace
}  // namespace fleetrate
