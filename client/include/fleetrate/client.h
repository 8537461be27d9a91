// Client: the one object an application creates to sample with fleetrate.
//
// A Client owns a Sampler (the per-trace decision, see sampler.h) and a poller thread that
// calls the fleetrate server's Sync every few seconds: it reports how many root spans each
// operation saw and kept since the previous Sync, and receives the rates the whole fleet's
// traffic calls for. Until the first successful Sync every root is sampled with
// `initial_probability`; when the server is unreachable the Client keeps its last rates and
// retries with jittered exponential backoff. Nothing is ever thrown into, or blocks, an
// application thread.
//
//   fleetrate::ClientOptions options;
//   options.server_address = "fleetrate:8081";
//   options.service = "checkout";
//   absl::StatusOr<std::unique_ptr<fleetrate::Client>> client =
//       fleetrate::Client::Create(std::move(options));
//   if (!client.ok()) { /* options were invalid: client.status() names the field */ }
//   ...
//   fleetrate::SamplingResult result = (*client)->sampler().ShouldSample(params);
//   ...
//   (*client)->Shutdown();  // optional: the destructor calls it
//
// Thread safety: sampler() and stats() may be called from any thread at any time before the
// Client is destroyed; Shutdown from any thread (idempotent). The Client owns the Sampler (the
// reference from sampler() is valid until the Client is destroyed) and joins its poller thread
// in Shutdown.
#pragma once

#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fleetrate/sampler.h"

namespace fleetrate {

namespace internal {
class Poller;
}  // namespace internal

struct ClientOptions {
  std::string server_address = "localhost:8081";  // gRPC target of fleetrate-server
  std::string service;                            // required (OTel service.name), <= 128 bytes
  std::string environment;                        // optional, <= 64 bytes
  std::string instance_id;  // empty: "<hostname>-<pid>-<random hex>"; <= 128 bytes
  std::chrono::milliseconds initial_sync_interval{10'000};  // until the server sends
                                                            // next_sync_interval_ms
  std::chrono::milliseconds min_sync_interval{1'000};  // server's interval clamped to [min, max]
  std::chrono::milliseconds max_sync_interval{600'000};
  std::chrono::milliseconds max_backoff{60'000};  // cap of exponential backoff on errors
  std::chrono::milliseconds sync_timeout{5'000};  // gRPC deadline of one Sync
  // Before the first successful Sync, and for operations the table lacks until then.
  double initial_probability = 0.001;
  std::shared_ptr<grpc::ChannelCredentials> credentials;  // null: insecure
};

struct ClientStats {
  uint64_t syncs_ok = 0;
  uint64_t syncs_failed = 0;
  uint64_t table_version = 0;  // 0 until the first table arrived
};

class Client {
 public:
  // Validates options (service non-empty <= 128 bytes, environment <= 64 bytes, instance_id
  // <= 128 bytes, server_address non-empty, intervals and timeouts positive, min <= max,
  // probability in [0, 1]); INVALID_ARGUMENT naming the field otherwise. Starts the poller
  // thread; the first Sync is sent immediately.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options);

  ~Client();  // calls Shutdown()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  [[nodiscard]] Sampler& sampler() noexcept { return *sampler_; }

  // Stops polling, sends one final Sync with the counts not yet reported (its deadline is
  // min(timeout, sync_timeout)), and joins the poller thread. A Sync in flight may finish
  // until that deadline, then it is cancelled.
  // Returns within about `timeout` even if the server is unreachable. Idempotent; the Sampler
  // keeps working afterwards with the last rates (its counts are no longer reported).
  void Shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5)) noexcept;

  [[nodiscard]] ClientStats stats() const noexcept;

  // The options in effect (instance_id filled in).
  [[nodiscard]] const ClientOptions& options() const noexcept { return options_; }

 private:
  explicit Client(ClientOptions options);

  const ClientOptions options_;
  const std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<internal::Poller> poller_;  // destroyed (joined) before sampler_
};

}  // namespace fleetrate
