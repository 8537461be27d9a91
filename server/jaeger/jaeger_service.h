// The endpoints Jaeger clients and OpenTelemetry SDKs with a Jaeger remote sampler poll:
//   HTTP GET /sampling?service=NAME (also /api/sampling and /, as Jaeger v2 answers) and
//   gRPC jaeger.api_v2.SamplingManager/GetSamplingStrategy.
// Both answer from the current rate table (strategy.h) through JaegerAnswers, which builds a
// service's answer once per table and keeps it, so a request is a lookup; and both count
// requests in fleetrate_jaeger_requests_total{endpoint, service}. Jaeger clients report no
// traffic: they get the rates computed from fleetrate clients of the same service, or the
// policy's default.
//
//   JaegerAnswers answers(publisher);
//   http.Handle("/sampling", JaegerHttpHandler(answers, metrics));
//   JaegerSamplingManager grpc_service(answers, metrics);
//
// Thread-safe. `answers`, `publisher` and `metrics` must outlive the handlers.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <unordered_map>

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

// The Jaeger answer (proto and JSON) per service for the table the publisher serves. The
// first request for a service after a new table builds it (BuildJaegerStrategy, linear in the
// table's operations and the rules); later ones share it until the table or the policies
// change. The cache is bounded: at most `max_cached_bytes` of answers (JSON counted twice, for
// the proto) and 10,000 services; beyond that, answers are built per request and not kept.
class JaegerAnswers {
 public:
  struct Answer {
    jaeger::api_v2::SamplingStrategyResponse proto;
    std::string json;
  };

  explicit JaegerAnswers(RatePublisher& publisher, size_t max_cached_bytes = 64 << 20);

  // The answer for `service` (any name; unknown ones get the policy's default).
  [[nodiscard]] std::shared_ptr<const Answer> For(const std::string& service);
  // Answers built so far (cache misses); for tests and benchmarks.
  [[nodiscard]] uint64_t builds() const { return builds_.load(std::memory_order_relaxed); }

 private:
  static constexpr size_t kMaxCachedServices = 10'000;

  RatePublisher& publisher_;
  const size_t max_cached_bytes_;
  std::atomic<uint64_t> builds_{0};
  std::mutex mu_;
  // What the cached answers were built from; compared by identity (held, so never reused).
  std::shared_ptr<const RateTables> tables_;                                // guarded by mu_
  std::shared_ptr<const Policies> policies_;                                // guarded by mu_
  std::unordered_map<std::string, std::shared_ptr<const Answer>> answers_;  // guarded by mu_
  size_t cached_bytes_ = 0;                                                 // guarded by mu_
};

// Serves /sampling, /api/sampling and / (register the handler on each).
[[nodiscard]] HttpHandler JaegerHttpHandler(JaegerAnswers& answers, JaegerMetrics& metrics);

// A raw callback method (server/common/raw_unary.h), so that a service name that is not UTF-8
// is INVALID_ARGUMENT naming serviceName rather than gRPC's INTERNAL.
class JaegerSamplingManager final
    : public jaeger::api_v2::SamplingManager::WithRawCallbackMethod_GetSamplingStrategy<
          jaeger::api_v2::SamplingManager::Service> {
 public:
  JaegerSamplingManager(JaegerAnswers& answers, JaegerMetrics& metrics)
      : answers_(answers), metrics_(metrics) {}

  grpc::ServerUnaryReactor* GetSamplingStrategy(grpc::CallbackServerContext* context,
                                                const grpc::ByteBuffer* request,
                                                grpc::ByteBuffer* response) override;

 private:
  grpc::Status Handle(const grpc::ByteBuffer& request,
                      jaeger::api_v2::SamplingStrategyResponse* response);

  JaegerAnswers& answers_;
  JaegerMetrics& metrics_;
};

}  // namespace fleetrate::server
