// SamplingServiceImpl: fleetrate.v1.SamplingService/Sync. Validates the request at the
// boundary (INVALID_ARGUMENT naming the field and its limit), hands the counts to the store and
// answers with the caller's slice of its service's current rate table.
//
// Thread-safe: gRPC calls Sync from its thread pool.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>

#include "fleetrate/v1/sampling.grpc.pb.h"
#include "server/common/clock.h"
#include "server/service/metrics.h"
#include "server/service/rate_publisher.h"
#include "server/store/store.h"

namespace fleetrate::server {

// Limits of a Sync request. The request's own fields are checked before anything else is done
// with it (INVALID_ARGUMENT); the store enforces the rest (RESOURCE_EXHAUSTED), which the Server
// copies into the store's AggregatorLimits. docs/operations.md lists them all.
struct SyncLimits {
  size_t max_instance_id_bytes = 128;
  size_t max_service_bytes = 128;
  size_t max_environment_bytes = 64;
  size_t max_library_version_bytes = 64;
  size_t max_operation_bytes = 256;
  size_t max_operations = 2000;
  int64_t max_interval_ms = 3'600'000;
  double max_roots_per_second = 1e9;  // per operation and client
  // Enforced by the store:
  size_t max_clients = 200000;            // live clients, all services
  size_t max_client_key_rates = 5000000;  // client × operation rates, all clients
  // Per client: 10 Syncs/s sustained, bursts of 5 (a client syncs every 10 s by default).
  std::chrono::milliseconds min_sync_spacing{100};
  int sync_burst = 5;
};

// Returns OK or INVALID_ARGUMENT with a message naming the field and the limit.
[[nodiscard]] grpc::Status ValidateSyncRequest(const v1::SyncRequest& request,
                                               const SyncLimits& limits);

class SamplingServiceImpl final : public v1::SamplingService::Service {
 public:
  SamplingServiceImpl(Store& store, RatePublisher& publisher, ServerMetrics& metrics,
                      const Clock& clock, SyncLimits limits = {});

  grpc::Status Sync(grpc::ServerContext* context, const v1::SyncRequest* request,
                    v1::SyncResponse* response) override;

 private:
  grpc::Status HandleSync(const v1::SyncRequest& request, v1::SyncResponse* response);

  Store& store_;
  RatePublisher& publisher_;
  ServerMetrics& metrics_;
  const Clock& clock_;
  const SyncLimits limits_;
};

}  // namespace fleetrate::server
