// Server: wires one fleetrate server together — store, rate publisher, the gRPC services
// (fleetrate.v1.SamplingService, gRPC health, reflection), the HTTP endpoints and the recompute
// thread. main() builds one; tests build one in-process on port 0.
//
//   Server server(options, policies, clock);
//   if (absl::Status s = server.Start(); !s.ok()) ...;
//   ... server.grpc_port() ...
//   server.Shutdown();   // in-flight calls finish first
//
// Start and Shutdown are called from one thread; the accessors from any thread after Start.
#pragma once

#include <grpcpp/grpcpp.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "server/common/clock.h"
#include "server/config/tls.h"
#include "server/http/http_server.h"
#include "server/jaeger/jaeger_service.h"
#include "server/policy/policy.h"
#include "server/policy/policy_watcher.h"
#include "server/service/admin_service.h"
#include "server/service/grpc_self_probe.h"
#include "server/service/metrics.h"
#include "server/service/rate_publisher.h"
#include "server/service/sampling_service.h"
#include "server/store/redis_store.h"
#include "server/store/store.h"
#include "server/views/status_history.h"

namespace fleetrate::server {

struct ServerOptions {
  std::string grpc_listen = "0.0.0.0:8081";
  std::string http_listen = "0.0.0.0:5778";
  std::string store = "memory";  // or redis://[:password@]host[:port][/db]
  RedisStoreOptions redis;       // with a redis:// store: lease, intervals (address from `store`)
  Duration recompute_interval = std::chrono::seconds(1);
  // The policy file to watch for edits; empty: no watching. `policy_is_jaeger`: it is a Jaeger
  // strategies file (--jaeger-strategies), whose text differs from the policies' source_text.
  std::string policy_path;
  bool policy_is_jaeger = false;
  std::chrono::milliseconds policy_watch_interval{500};
  // Bearer token for AdminService.SetPolicies; empty disables SetPolicies.
  std::string admin_token;
  // Reads need the admin token too: AdminService's reads, /debug/* and /ui/data.
  bool protect_reads = false;
  uint64_t first_table_version = 1;
  EngineOptions engine;
  SyncLimits sync_limits;
  size_t max_message_bytes = 1 << 20;  // largest gRPC request accepted
  TlsFiles tls;                        // gRPC over TLS (and mTLS with a client CA)
  AggregatorLimits aggregator_limits;
  // HTTP connections open at once and idle at once (http_server.h); 0: sized from the
  // descriptor limit (RLIMIT_NOFILE) at Start: min(1024, limit / 4) and a quarter of that, so
  // HTTP never takes the descriptors gRPC needs.
  size_t http_max_connections = 0;
  size_t http_max_idle_connections = 0;
  // The gRPC self-probe behind /healthz (grpc_self_probe.h); interval 0 disables it.
  std::chrono::milliseconds grpc_self_probe_interval{5000};
  std::chrono::milliseconds grpc_self_probe_timeout{2000};
  int grpc_self_probe_failures = 3;
  // Where the self-probe connects; empty: the bound gRPC port (a wildcard host on loopback).
  // Tests point it elsewhere.
  std::string grpc_self_probe_address;
};

// The HTTP connection caps for a descriptor limit: {min(1024, max(16, limit / 4)), a quarter
// of that (at least 4)}. An unlimited limit gives {1024, 256}.
struct HttpConnectionCaps {
  size_t max_connections;
  size_t max_idle_connections;
};
[[nodiscard]] HttpConnectionCaps HttpConnectionCapsFor(uint64_t descriptor_limit);

class Server {
 public:
  // `store` null: a MemoryStore. Tests inject their own at this interface.
  Server(ServerOptions options, std::shared_ptr<const Policies> policies, const Clock& clock,
         std::unique_ptr<Store> store = nullptr);
  ~Server();
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Binds both ports and starts serving. Errors name the address that failed.
  absl::Status Start();
  // Stops accepting, lets in-flight calls finish (up to `grace`), stops the threads.
  // Idempotent.
  void Shutdown(Duration grace = std::chrono::seconds(10));

  [[nodiscard]] uint16_t grpc_port() const noexcept { return grpc_port_; }
  [[nodiscard]] uint16_t http_port() const noexcept;
  [[nodiscard]] RatePublisher& publisher() noexcept { return *publisher_; }
  [[nodiscard]] ServerMetrics& metrics() noexcept { return metrics_; }
  // The HTTP caps in force (after sizing); valid after Start.
  [[nodiscard]] HttpConnectionCaps http_caps() const noexcept { return http_caps_; }

 private:
  void RecomputeLoop();
  // One recompute, then the /ui history follows the table just served.
  void Recompute();
  HttpResponse Ready() const;
  HttpResponse Healthy() const;

  const ServerOptions options_;
  const Clock& clock_;
  ServerMetrics metrics_;
  StatusHistory status_history_;
  std::unique_ptr<Store> store_;
  std::unique_ptr<RatePublisher> publisher_;
  std::unique_ptr<SamplingServiceImpl> sampling_service_;
  std::unique_ptr<AdminServiceImpl> admin_service_;
  std::unique_ptr<JaegerMetrics> jaeger_metrics_;
  std::unique_ptr<JaegerAnswers> jaeger_answers_;  // shared by Jaeger's HTTP and gRPC endpoints
  std::unique_ptr<JaegerSamplingManager> jaeger_service_;
  std::unique_ptr<PolicyWatcher> policy_watcher_;
  std::unique_ptr<grpc::Server> grpc_server_;
  std::unique_ptr<HttpServer> http_server_;
  std::unique_ptr<GrpcSelfProbe> grpc_probe_;  // null when disabled
  HttpConnectionCaps http_caps_{0, 0};
  uint16_t grpc_port_ = 0;
  // With TLS: failed handshakes gRPC logged (server/common/grpc_log.h), as a counter that the
  // recompute thread brings up to date; the last total it saw.
  prometheus::Counter* tls_handshake_failures_ = nullptr;
  uint64_t tls_handshake_failures_seen_ = 0;

  std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;              // guarded by mu_
  std::atomic<bool> draining_{false};  // /readyz says 503 from the start of Shutdown
  std::thread recompute_thread_;
};

}  // namespace fleetrate::server
