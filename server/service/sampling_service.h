// SamplingServiceImpl: fleetrate.v1.SamplingService/Sync. Parses and validates the request at
// the boundary (INVALID_ARGUMENT naming the field and its limit), hands the counts to the store
// and answers with the caller's slice of its service's current rate table.
//
// Sync is a raw callback method: the handler gets the request's bytes and parses them as
// fleetrate.wire.v1.SyncRequest, the public message with its strings read as bytes, so that
// invalid UTF-8 is answered like any other bad field instead of gRPC's INTERNAL "failed to
// parse". Thread-safe: gRPC calls Sync from its callback threads; it never blocks on I/O.
//
// Refusals by the store (RESOURCE_EXHAUSTED: a full table, a client or peer over its rate) are
// counted in fleetrate_sync_refused_total{reason} and logged, at most 5 lines a minute.
#pragma once

#include <grpcpp/grpcpp.h>

#include <chrono>
#include <memory>
#include <string>
#include <string_view>

#include "fleetrate/v1/sampling.grpc.pb.h"
#include "fleetrate/wire/v1/sync_request.pb.h"
#include "server/common/clock.h"
#include "server/common/log_throttle.h"
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
  // New instance ids one peer address (PeerKey) may register: this many per second sustained,
  // in bursts of ten seconds' worth (100: 1000 at once, then 100/s). 0: no limit (a load
  // generator on one host, or every client behind one proxy's address).
  int new_clients_per_peer_per_second = 100;
};

// The address a Sync came from, as admission counts it (one budget per host): the IPv4 address
// of gRPC's `context->peer()` ("ipv4:10.1.2.3:5000" → "10.1.2.3"), the /64 of an IPv6 address
// (one host usually holds a whole /64) and "unix" for a Unix socket; anything else as given, at
// most 64 bytes. Empty for an empty peer.
[[nodiscard]] std::string PeerKey(std::string_view grpc_peer);

// Parses a serialized SyncRequest. INVALID_ARGUMENT when the bytes are not one; strings are not
// checked here (ValidateSyncRequest does).
[[nodiscard]] grpc::Status ParseSyncRequest(const grpc::ByteBuffer& bytes,
                                            wire::v1::SyncRequest* request);

// Returns OK or INVALID_ARGUMENT with a message naming the field and the limit. `Request` is
// wire::v1::SyncRequest (what the server parses) or v1::SyncRequest (the same checks).
template <typename Request>
[[nodiscard]] grpc::Status ValidateSyncRequest(const Request& request, const SyncLimits& limits);

// Copies a validated request into `report`, reusing its strings' and vector's capacity.
void CopyToReport(const wire::v1::SyncRequest& request, ClientReport* report);

class SamplingServiceImpl final
    : public v1::SamplingService::WithRawCallbackMethod_Sync<v1::SamplingService::Service> {
 public:
  SamplingServiceImpl(Store& store, RatePublisher& publisher, ServerMetrics& metrics,
                      const Clock& clock, SyncLimits limits = {});

  // gRPC's entry point: Handle, then the response serialized into `response`.
  grpc::ServerUnaryReactor* Sync(grpc::CallbackServerContext* context,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;

  // One Sync from its serialized request, counted in the metrics like a call; what Sync does
  // without a gRPC call around it. `peer` is the sender's PeerKey (empty: unknown, no per-peer
  // limit).
  grpc::Status Handle(const grpc::ByteBuffer& request, v1::SyncResponse* response,
                      std::string_view peer = {});

 private:
  grpc::Status HandleSync(const wire::v1::SyncRequest& request, std::string_view peer,
                          v1::SyncResponse* response);
  // RESOURCE_EXHAUSTED naming the field and the limit the store refused `report` at.
  grpc::Status Refusal(ReportResult result, const ClientReport& report) const;
  // Counts a refusal by the store and logs it (at most a few lines a minute).
  void NoteRefusal(ReportResult result, const ClientReport& report, const grpc::Status& status);

  Store& store_;
  RatePublisher& publisher_;
  ServerMetrics& metrics_;
  const Clock& clock_;
  const SyncLimits limits_;
  LogThrottle refusal_log_{5, std::chrono::minutes(1)};
};

}  // namespace fleetrate::server
