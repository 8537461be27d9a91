// Client: the one object an application creates to sample with fleetrate.
//
// A Client owns a Sampler (the per-trace decision, see sampler.h), optionally a Batcher (span
// export, see batcher.h; created when an Exporter is given) and a poller thread that calls
// the fleetrate server's Sync every few seconds: it reports how many root spans each
// operation saw and kept, what the batcher exported and dropped, and how many Syncs failed
// since the previous Sync, and receives the rates the whole fleet's traffic calls for, the
// batch profile and the edge-capture quota. Until the first successful Sync (or a table from
// the on-disk cache) roots are sampled with the initial strategy (`initial_probability` plus
// `initial_lower_bound_per_second` per operation); when the server is unreachable the Client
// keeps its last rates until `table_ttl` has passed since they arrived, then returns to the
// initial strategy, and retries with jittered exponential backoff. Nothing is ever thrown
// into, or blocks, an application thread.
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
// With span export:
//   auto client = fleetrate::Client::Create(options,
//       std::make_unique<fleetrate::OtlpGrpcExporter>(otlp_options));
//   (void)(*client)->batcher()->Add(span_view);
//
// Thread safety: sampler(), batcher() and stats() may be called from any thread at any time
// before the Client is destroyed; Shutdown from any thread (idempotent). The Client owns the
// Sampler and the Batcher (references are valid until the Client is destroyed) and joins the
// poller and export threads in Shutdown.
#pragma once

#include <grpcpp/security/credentials.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "fleetrate/batcher.h"
#include "fleetrate/exporter.h"
#include "fleetrate/sampler.h"
#include "fleetrate/tls.h"

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
  // Cap of exponential backoff on errors; also of gRPC's own reconnect backoff, so the server
  // is tried again within about max_backoff of coming back.
  std::chrono::milliseconds max_backoff{60'000};
  std::chrono::milliseconds sync_timeout{5'000};  // gRPC deadline of one Sync
  // The initial strategy: before the first table, and after the table's TTL expired.
  double initial_probability = 0.001;
  double initial_lower_bound_per_second = 1.0;  // per operation; 0: none
  ParentRules parent_rules;                     // default: OpenTelemetry ParentBased
  size_t max_operations = Sampler::kDefaultMaxOperations;
  // The last table is kept this long after it arrived while Syncs fail; then the initial
  // strategy applies until the server answers again.
  std::chrono::milliseconds table_ttl{3'600'000};
  // Optional on-disk cache of the last table (binary SyncResponse), read at start if younger
  // than table_ttl, written (atomically, by rename) on each new table. Empty: no cache.
  // Read only if it is a regular file of at most 4 MiB holding a table that passes the checks
  // a table from the server passes; anything else (a FIFO, a directory, an impossible table)
  // is ignored with a warning and counted in ClientStats::tables_rejected, never waited on.
  std::string cache_path;
  BatcherOptions batcher;  // used when Create is given an exporter
  // TLS to the server (fleetrate/tls.h); plaintext unless tls.enabled.
  TlsOptions tls;
  // Credentials of your own (takes precedence over `tls`); null: from `tls`.
  std::shared_ptr<grpc::ChannelCredentials> credentials;
};

struct ClientStats {
  uint64_t syncs_ok = 0;
  uint64_t syncs_failed = 0;
  uint64_t table_version = 0;     // 0 until the first table arrived (and after its TTL)
  uint64_t tables_expired = 0;    // times the table's TTL sent the sampler back to initial
  bool table_from_cache = false;  // the current table was read from cache_path
  // Tables refused as impossible (see Client::Create): from the server, or at cache_path
  // (also: not a regular file, larger than 4 MiB, unreadable or unparsable).
  uint64_t tables_rejected = 0;
  SamplerTotals sampler;
  BatcherStats batcher;  // zeros without a batcher
};

class Client {
 public:
  // Validates options (service non-empty <= 128 bytes, environment <= 64 bytes, instance_id
  // <= 128 bytes, server_address non-empty, intervals and timeouts positive, min <= max,
  // probability in [0, 1], lower bound >= 0); INVALID_ARGUMENT naming the field otherwise.
  // With an exporter, creates a Batcher (options.batcher) that owns it. Starts the poller
  // thread; the first Sync is sent immediately.
  static absl::StatusOr<std::unique_ptr<Client>> Create(ClientOptions options,
                                                        std::unique_ptr<Exporter> exporter = {});

  ~Client();  // calls Shutdown()
  Client(const Client&) = delete;
  Client& operator=(const Client&) = delete;

  [[nodiscard]] Sampler& sampler() noexcept { return *sampler_; }
  // Null when Create was given no exporter.
  [[nodiscard]] Batcher* batcher() noexcept { return batcher_.get(); }

  // Shuts the Batcher down first (exports what it accepted, within `timeout`), then stops
  // polling, sends one final Sync with the counts not yet reported (its deadline is
  // min(remaining timeout, sync_timeout)), and joins the poller thread. A Sync in flight may
  // finish until that deadline, then it is cancelled.
  // Returns within about `timeout` even if the server is unreachable. Idempotent; the Sampler
  // keeps working afterwards with the last rates (its counts are no longer reported).
  void Shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5)) noexcept;

  [[nodiscard]] ClientStats stats() const noexcept;

  // The options in effect (instance_id filled in).
  [[nodiscard]] const ClientOptions& options() const noexcept { return options_; }

 private:
  Client(ClientOptions options, std::unique_ptr<Exporter> exporter);

  const ClientOptions options_;
  const std::unique_ptr<Sampler> sampler_;
  std::unique_ptr<Batcher> batcher_;          // null without an exporter
  std::unique_ptr<internal::Poller> poller_;  // destroyed (joined) before batcher_, sampler_
};

}  // namespace fleetrate
