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

JaegerAnswers::JaegerAnswers(RatePublisher& publisher, size_t max_cached_bytes)
    : publisher_(publisher), max_cached_bytes_(max_cached_bytes) {}

std::shared_ptr<const JaegerAnswers::Answer> JaegerAnswers::For(const std::string& service) {
  std::shared_ptr<const RateTables> tables;
  std::shared_ptr<const Policies> policies;
  {
    std::lock_guard<std::mutex> lock(mu_);
    // Read under mu_, so that a request holding an older table cannot reset the cache to it.
    tables = publisher_.Current();
    policies = PoliciesOf(tables.get(), publisher_);
    if (tables != tables_ || policies != policies_) {
      answers_.clear();
      cached_bytes_ = 0;
      tables_ = tables;
      policies_ = policies;
    } else if (auto it = answers_.find(service); it != answers_.end()) {
      return it->second;
    }
  }
  // Built outside the lock: other services' requests are not held up by this one.
  auto answer = std::make_shared<Answer>();
  answer->proto = BuildJaegerStrategy(tables.get(), *policies, service);
  answer->json = JaegerStrategyToJson(answer->proto);
  builds_.fetch_add(1, std::memory_order_relaxed);
  const size_t bytes = 2 * answer->json.size() + service.size();
  std::lock_guard<std::mutex> lock(mu_);
  if (tables == tables_ && policies == policies_ && answers_.size() < kMaxCachedServices &&
      cached_bytes_ + bytes <= max_cached_bytes_) {
    const auto [it, inserted] = answers_.emplace(service, answer);
    if (inserted) cached_bytes_ += bytes;
    return it->second;
  }
  return answer;
}

HttpHandler JaegerHttpHandler(JaegerAnswers& answers, JaegerMetrics& metrics) {
  return [&answers, &metrics](const HttpRequest& request) {
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
    HttpResponse response;
    response.content_type = "application/json";
    response.body = answers.For(*service)->json;
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
  *response = answers_.For(service)->proto;
  return grpc::Status::OK;
}

}  // namespace fleetrate::server
