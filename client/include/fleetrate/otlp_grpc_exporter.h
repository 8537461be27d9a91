// OtlpGrpcExporter: sends batches as OTLP/gRPC ExportTraceServiceRequest to an OpenTelemetry
// Collector, Jaeger, Tempo or any OTLP receiver (opentelemetry.proto.collector.trace.v1.
// TraceService/Export, usually port 4317).
//
//   fleetrate::OtlpGrpcExporterOptions options;
//   options.endpoint = "otel-collector:4317";
//   options.service_name = "checkout";  // resource attribute service.name
//   auto batcher = std::make_unique<fleetrate::Batcher>(
//       std::make_unique<fleetrate::OtlpGrpcExporter>(std::move(options)));
//
// Each Export is one unary call whose gRPC deadline is the Batcher's deadline: a receiver
// that does not answer in time yields kTimeout (DEADLINE_EXCEEDED), any other error kFailure.
// A partial success counts the rejected spans (rejected_spans()) and is still a success for
// the rest. Spans captured by edge capture get the attribute "fleetrate.capture.reason".
//
// Thread safety: Export is called by one Batcher thread. The exporter owns its gRPC channel.
#pragma once

#include <grpcpp/security/credentials.h>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fleetrate/exporter.h"

namespace fleetrate {

struct OtlpGrpcExporterOptions {
  std::string endpoint = "localhost:4317";                               // gRPC target
  std::shared_ptr<grpc::ChannelCredentials> credentials;                 // null: insecure
  std::string service_name;                                              // resource service.name
  std::vector<std::pair<std::string, std::string>> resource_attributes;  // more resource attrs
  std::vector<std::pair<std::string, std::string>> headers;  // gRPC metadata (lowercase keys)
  std::string scope_name = "fleetrate";                      // InstrumentationScope.name
};

class OtlpGrpcExporter final : public Exporter {
 public:
  explicit OtlpGrpcExporter(OtlpGrpcExporterOptions options);
  ~OtlpGrpcExporter() override;

  [[nodiscard]] ExportResult Export(
      const SpanBatch& batch, std::chrono::steady_clock::time_point deadline) noexcept override;

  // Spans the receiver reported as rejected (OTLP partial success), since construction.
  [[nodiscard]] uint64_t rejected_spans() const noexcept {
    return rejected_spans_.load(std::memory_order_relaxed);
  }

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  std::atomic<uint64_t> rejected_spans_{0};
};

}  // namespace fleetrate
