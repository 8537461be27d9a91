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

// A raw callback method (server/common/raw_unary.h), so that a service name that is not UTF-8
// is INVALID_ARGUMENT naming serviceName rather than gRPC's INTERNAL.
class JaegerSamplingManager final
    : public jaeger::api_v2::SamplingManager::WithRawCallbackMethod_GetSamplingStrategy<
          jaeger::api_v2::SamplingManager::Service> {
 public:
  JaegerSamplingManager(RatePublisher& publisher, JaegerMetrics& metrics)
      : publisher_(publisher), metrics_(metrics) {}

  grpc::ServerUnaryReactor* GetSamplingStrategy(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) override;

 private:
  grpc::Status Handle(const grpc::ByteBuffer& request,
                      jaeger::api_v2::SamplingStrategyResponse* response);

  RatePublisher& publisher_;
  JaegerMetrics& metrics_;
};

}  // namespace fleetrate::server
