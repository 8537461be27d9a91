#include "server/jaeger/jaeger_service.h"

#include <string_view>

#include "server/common/raw_unary.h"
#include "server/common/utf8.h"
#include "server/http/query.h"
#include "server/jaeger/strategy.h"
#include "server/service/metrics.h"

namespace fleetrate::server {
namespace {

// The longest service name we answer for; the same limit as Sync's client.service.
constexpr size_t kMaxServiceBytes = 128;

// The policies the current table was computed with, so rule indexes agree.
std::shared_ptr<const Policies> PoliciesOf(const RateTables* tables, RatePublisher& publisher) {
  return tables != nullptr && tables->policies ? tables->policies : publisher.policies();
}

}  // namespace

JaegerMetrics::JaegerMetrics(prometheus::Registry& registry, size_t max_services)
    : requests_(prometheus::BuildCounter()
                    .Name("fleetrate_jaeger_requests_total")
                    .Help("Jaeger remote-sampling requests by endpoint (http, grpc) and service; "
                          "services beyond the first 1000 are counted as _other")
                    .Register(registry)),
      max_services_(max_services) {}

void JaegerMetrics::Count(const std::string& endpoint, const std::string& service) {
  std::string label = SanitizeLabelValue(service);  // any UTF-8 gets here, NUL and CR included
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (services_.count(label) == 0) {
      if (services_.size() < max_services_) {
        services_.insert(label);
      } else {
        label = "_other";
      }
    }
  }
  requests_.Add({{"endpoint", endpoint}, {"service", label}}).Increment();
}

HttpHandler JaegerHttpHandler(RatePublisher& publisher, JaegerMetrics& metrics) {
  return [&publisher, &metrics](const HttpRequest& request) {
    absl::StatusOr<std::string> service = SingleQueryValue(request.query, "service");
    if (!service.ok()) {
      return TextResponse(400, std::string(service.status().message()) + "\n");
    }
    if (service->empty() || service->size() > kMaxServiceBytes) {
      return TextResponse(400, "query parameter 'service' must be 1 to 128 bytes\n");
    }
    // The name becomes a metrics label: a label that is not UTF-8 would break every scrape.
    if (FirstInvalidUtf8(*service) != std::string_view::npos) {
      return TextResponse(400, "query parameter 'service' must be valid UTF-8\n");
    }
    metrics.Count("http", *service);
    const auto tables = publisher.Current();
    HttpResponse response;
    response.content_type = "application/json";
    response.body = JaegerStrategyToJson(
        BuildJaegerStrategy(tables.get(), *PoliciesOf(tables.get(), publisher), *service));
    return response;
  };
}

grpc::ServerUnaryReactor* JaegerSamplingManager::GetSamplingStrategy(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  jaeger::api_v2::SamplingStrategyResponse answer;
  return FinishRawCall(context, Handle(*request, &answer), answer, response);
}

grpc::Status JaegerSamplingManager::Handle(const grpc::ByteBuffer& request,
                                           jaeger::api_v2::SamplingStrategyResponse* response) {
  jaeger::api_v2::SamplingStrategyParameters parameters;
  if (auto status = ParseCheckingUtf8(request, &parameters); !status.ok()) return status;
  const std::string& service = parameters.servicename();
  if (service.empty() || service.size() > kMaxServiceBytes) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        "serviceName: must be 1 to 128 bytes, got " + std::to_string(service.size()));
  }
  metrics_.Count("grpc", service);
  const auto tables = publisher_.Current();
  *response = BuildJaegerStrategy(tables.get(), *PoliciesOf(tables.get(), publisher_), service);
  return grpc::Status::OK;
}

}  // namespace fleetrate::server
