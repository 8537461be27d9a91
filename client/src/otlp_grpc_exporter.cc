#include "fleetrate/otlp_grpc_exporter.h"

#include <grpcpp/client_context.h>
#include <grpcpp/create_channel.h>

#include <algorithm>
#include <cstdio>

#include "opentelemetry/proto/collector/trace/v1/trace_service.grpc.pb.h"

namespace fleetrate {
namespace {

namespace otlp_collector = ::opentelemetry::proto::collector::trace::v1;
namespace otlp_trace = ::opentelemetry::proto::trace::v1;
namespace otlp_common = ::opentelemetry::proto::common::v1;

void SetString(otlp_common::KeyValue* kv, const std::string& key, const std::string& value) {
  kv->set_key(key);
  kv->mutable_value()->set_string_value(value);
}

void ToOtlp(const SpanRecord& in, otlp_trace::Span* out) {
  out->set_trace_id(in.trace_id.data(), in.trace_id.size());
  out->set_span_id(in.span_id.data(), in.span_id.size());
  if (std::any_of(in.parent_span_id.begin(), in.parent_span_id.end(),
                  [](uint8_t b) { return b != 0; })) {
    out->set_parent_span_id(in.parent_span_id.data(), in.parent_span_id.size());
  }
  out->set_trace_state(in.trace_state);
  out->set_name(in.name);
  out->set_kind(static_cast<otlp_trace::Span::SpanKind>(in.kind));
  out->set_start_time_unix_nano(static_cast<uint64_t>(std::max<int64_t>(0, in.start_unix_nanos)));
  out->set_end_time_unix_nano(static_cast<uint64_t>(std::max<int64_t>(0, in.end_unix_nanos)));
  // W3C trace flags: sampled (0x01) only for sampled traces; captured spans are not sampled.
  out->set_flags(in.sampled ? 1u : 0u);
  for (size_t i = 0; i < in.attribute_count; ++i) {
    const Attribute& a = in.attributes[i];
    otlp_common::KeyValue* kv = out->add_attributes();
    kv->set_key(a.key);
    switch (a.type) {
      case AttributeType::kString:
        kv->mutable_value()->set_string_value(a.string_value);
        break;
      case AttributeType::kBool:
        kv->mutable_value()->set_bool_value(a.bool_value);
        break;
      case AttributeType::kInt:
        kv->mutable_value()->set_int_value(a.int_value);
        break;
      case AttributeType::kDouble:
        kv->mutable_value()->set_double_value(a.double_value);
        break;
    }
  }
  if (in.capture != CaptureReason::kNone) {
    SetString(out->add_attributes(), std::string(kCaptureReasonAttribute),
              std::string(CaptureReasonName(in.capture)));
  }
  out->mutable_status()->set_code(static_cast<otlp_trace::Status::StatusCode>(in.status));
  out->mutable_status()->set_message(in.status_message);
}

}  // namespace

struct OtlpGrpcExporter::Impl {
  OtlpGrpcExporterOptions options;
  std::unique_ptr<otlp_collector::TraceService::Stub> stub;
};

OtlpGrpcExporter::OtlpGrpcExporter(OtlpGrpcExporterOptions options)
    : impl_(std::make_unique<Impl>()) {
  impl_->options = std::move(options);
  auto credentials = impl_->options.credentials != nullptr ? impl_->options.credentials
                                                           : grpc::InsecureChannelCredentials();
  impl_->stub = otlp_collector::TraceService::NewStub(
      grpc::CreateChannel(impl_->options.endpoint, credentials));
}

OtlpGrpcExporter::~OtlpGrpcExporter() = default;

ExportResult OtlpGrpcExporter::Export(const SpanBatch& batch,
                                      std::chrono::steady_clock::time_point deadline) noexcept {
  try {
    otlp_collector::ExportTraceServiceRequest request;
    otlp_trace::ResourceSpans* resource_spans = request.add_resource_spans();
    auto* resource = resource_spans->mutable_resource();
    if (!impl_->options.service_name.empty()) {
      SetString(resource->add_attributes(), "service.name", impl_->options.service_name);
    }
    for (const auto& [key, value] : impl_->options.resource_attributes) {
      SetString(resource->add_attributes(), key, value);
    }
    otlp_trace::ScopeSpans* scope_spans = resource_spans->add_scope_spans();
    scope_spans->mutable_scope()->set_name(impl_->options.scope_name);
    scope_spans->mutable_spans()->Reserve(static_cast<int>(batch.size()));
    for (const SpanRecord& span : batch) ToOtlp(span, scope_spans->add_spans());

    grpc::ClientContext context;
    // gRPC takes system_clock deadlines: convert the remaining steady time.
    context.set_deadline(std::chrono::system_clock::now() +
                         std::max(deadline - std::chrono::steady_clock::now(),
                                  std::chrono::steady_clock::duration::zero()));
    for (const auto& [key, value] : impl_->options.headers) context.AddMetadata(key, value);
    otlp_collector::ExportTraceServiceResponse response;
    const grpc::Status status = impl_->stub->Export(&context, request, &response);
    if (status.ok()) {
      if (response.has_partial_success() && response.partial_success().rejected_spans() > 0) {
        rejected_spans_.fetch_add(
            static_cast<uint64_t>(response.partial_success().rejected_spans()),
            std::memory_order_relaxed);
      }
      return ExportResult::kSuccess;
    }
    if (status.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED) return ExportResult::kTimeout;
    return ExportResult::kFailure;
  } catch (...) {
    return ExportResult::kFailure;
  }
}

}  // namespace fleetrate
