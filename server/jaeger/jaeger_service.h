// The endpoints Jaeger clients and OpenTelemetry SDKs with a Jaeger remote sampler poll:
//   HTTP GET /sampling?service=NAME (also /api/sampling and /, as Jaeger v2 answers) and
//   gRPC jaeger.api_v2.SamplingManager/GetSamplingStrategy.
// Both answer from the current rate table (strategy.h) and count requests in
// fleetrate_jaeger_requests_total{endpoint, service}. Jaeger clients report no traffic: they
// get the rates computed from fleetrate clients of the same service, or the policy's default.
//
// Thread-safe.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <mutex>
#include <set>
#include <string>

#include "jaeger/api_v2/sampling.grpc.pb.h"
#include "server/http/http_server.h"
#include "server/service/rate_publisher.h"

namespace fleetrate::server {

// Counts Jaeger requests by endpoint and service. The service label is bounded: after
// `max_services` distinct names, further ones are counted as "_other".
class JaegerMetrics {
 public:
  explicit JaegerMetrics(prometheus::Registry& registry, size_t max_services = 1000);
  void Count(const std::string& endpoint, const std::string& service);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  const size_t max_services_;
  std::mutex mu_;
  std::set<std::string> services_;  // guarded by mu_
};

// Serves /sampling, /api/sampling and / (register the handler on each).
[[nodiscard]] HttpHandler JaegerHttpHandler(RatePublisher& publisher, JaegerMetrics& metrics);

class JaegerSamplingManager final : public jaeger::api_v2::SamplingManager::Service {
 public:
  JaegerSamplingManager(RatePublisher& publisher, JaegerMetrics& metrics)
      : publisher_(publisher), metrics_(metrics) {}

  grpc::Status GetSamplingStrategy(grpc::ServerContext* context,
                                   const jaeger::api_v2::SamplingStrategyParameters* request,
                                   jaeger::api_v2::SamplingStrategyResponse* response) override;

 private:
  RatePublisher& publisher_;
  JaegerMetrics& metrics_;
};

}  // namespace fleetrate::server
