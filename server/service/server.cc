#include "server/service/server.h"

#include <grpcpp/ext/proto_server_reflection_plugin.h>
#include <grpcpp/health_check_service_interface.h>
#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <fstream>
#include <iterator>
#include <optional>

#include "server/common/file_read.h"
#include "server/common/grpc_log.h"
#include "server/common/log.h"
#include "server/common/log_throttle.h"
#include "server/common/strings.h"
#include "server/config/settings.h"
#include "server/http/metrics_handler.h"
#include "server/jaeger/strategies_file.h"
#include "server/store/memory_store.h"
#include "server/store/redis_store.h"
#include "server/views/debug_handlers.h"
#include "server/views/status_handlers.h"

namespace fleetrate::server {

namespace {

// The aggregator's limits with the Sync limits the store enforces.
AggregatorLimits StoreLimits(const ServerOptions& options) {
  AggregatorLimits limits = options.aggregator_limits;
  limits.max_clients = options.sync_limits.max_clients;
  limits.max_client_key_rates = options.sync_limits.max_client_key_rates;
  limits.min_report_spacing = options.sync_limits.min_sync_spacing;
  limits.report_burst = options.sync_limits.sync_burst;
  if (const int per_second = options.sync_limits.new_clients_per_peer_per_second; per_second > 0) {
    limits.new_client_spacing_per_peer =
        std::chrono::duration_cast<Duration>(std::chrono::seconds(1)) / per_second;
    limits.new_clients_per_peer_burst = 10 * per_second;
  }
  return limits;
}

// The store --store names (validated by ParseSettings; a bad URL here falls back to memory
// with an error log rather than a crash).
std::unique_ptr<Store> MakeStore(const ServerOptions& options, const Clock& clock) {
  if (options.store.rfind("redis://", 0) == 0) {
    absl::StatusOr<RedisAddress> address = ParseRedisUrl("--store", options.store);
    if (address.ok()) {
      RedisStoreOptions redis = options.redis;
      redis.address = *address;
      redis.limits = StoreLimits(options);
      // What other replicas wrote is held to the limits of the Syncs they accepted.
      redis.stored_limits.max_instance_id_bytes = options.sync_limits.max_instance_id_bytes;
      redis.stored_limits.max_service_bytes = options.sync_limits.max_service_bytes;
      redis.stored_limits.max_environment_bytes = options.sync_limits.max_environment_bytes;
      redis.stored_limits.max_operation_bytes = options.sync_limits.max_operation_bytes;
      redis.stored_limits.max_operations = options.sync_limits.max_operations;
      redis.stored_limits.max_interval_ms = options.sync_limits.max_interval_ms;
      redis.stored_limits.max_roots_per_second = options.sync_limits.max_roots_per_second;
      return std::make_unique<RedisStore>(std::move(redis), clock);
    }
    FLEETRATE_LOG(kError) << address.status().message() << "; using the memory store";
  }
  return std::make_unique<MemoryStore>(StoreLimits(options));
}

// Logs closed connections at most once per 10 s, with how many: an attacker can trigger them as
// fast as they connect.
class ThrottledConnectionLog {
 public:
  ThrottledConnectionLog(std::string what, const Clock& clock)
      : what_(std::move(what)), clock_(clock) {}

  void Add() {
    uint64_t held_back = 0;
    if (!throttle_.Allow(clock_.Now(), &held_back)) return;
    FLEETRATE_LOG(kWarning) << "HTTP: closed " << held_back + 1 << " " << what_
                            << " (logged at most every 10 s)";
  }

 private:
  const std::string what_;
  const Clock& clock_;
  LogThrottle throttle_{1, std::chrono::seconds(10)};
};

}  // namespace

HttpConnectionCaps HttpConnectionCapsFor(uint64_t descriptor_limit) {
  const size_t max_connections =
      static_cast<size_t>(std::min<uint64_t>(1024, std::max<uint64_t>(16, descriptor_limit / 4)));
  return {max_connections, std::max<size_t>(4, max_connections / 4)};
}

Server::Server(ServerOptions options, std::shared_ptr<const Policies> policies, const Clock& clock,
               std::unique_ptr<Store> store)
    : options_(std::move(options)),
      clock_(clock),
      metrics_(std::make_shared<prometheus::Registry>()),
      store_(store ? std::move(store) : MakeStore(options_, clock)),
      publisher_(std::make_unique<RatePublisher>(std::move(policies), *store_, metrics_,
                                                 options_.first_table_version, options_.engine)),
      sampling_service_(std::make_unique<SamplingServiceImpl>(*store_, *publisher_, metrics_,
                                                              clock_, options_.sync_limits)),
      admin_service_(std::make_unique<AdminServiceImpl>(
          *publisher_, options_.admin_token,
          [this](const absl::Status& s) { metrics_.RecordPolicyLoad(s.ok()); },
          AdminServerInfo{store_.get(), &clock_, clock_.Now(), options_.protect_reads})) {}

Server::~Server() { Shutdown(); }

uint16_t Server::http_port() const noexcept { return http_server_ ? http_server_->port() : 0; }

HttpResponse Server::Healthy() const {
  // Liveness: a gRPC port that stopped serving does not come back by itself; a restart fixes it.
  if (grpc_probe_ != nullptr && !grpc_probe_->healthy()) {
    return TextResponse(503, "unhealthy: " + grpc_probe_->unhealthy_reason() + "\n");
  }
  return TextResponse(200, "ok\n");
}

HttpResponse Server::Ready() const {
  // Load balancers stop sending new clients while in-flight calls drain.
  if (draining_) return TextResponse(503, "not ready: shutting down\n");
  if (!publisher_->ready()) return TextResponse(503, "not ready: no rate table yet\n");
  return TextResponse(200, "ready\n");
}

absl::Status Server::Start() {
  auto http_address = ParseHostPort("http_listen", options_.http_listen);
  if (!http_address.ok()) return http_address.status();
  auto grpc_address = ParseHostPort("grpc_listen", options_.grpc_listen);
  if (!grpc_address.ok()) return grpc_address.status();
  std::optional<HostPort> probe_target;
  if (!options_.grpc_self_probe_address.empty()) {
    auto target = ParseHostPort("grpc_self_probe_address", options_.grpc_self_probe_address);
    if (!target.ok()) return target.status();
    probe_target = *target;
  }

  // The first table exists before any client can ask: /readyz is true as soon as we listen.
  Recompute();

  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  // gRPC sets SO_REUSEPORT by default: a second server on a taken port would start and silently
  // split the clients. Refuse instead.
  builder.AddChannelArgument(GRPC_ARG_ALLOW_REUSEPORT, 0);
  // A Sync at its limits (2000 operations of 256 bytes) is ~600 KB; larger messages are refused
  // by gRPC with RESOURCE_EXHAUSTED before they are parsed.
  builder.SetMaxReceiveMessageSize(static_cast<int>(options_.max_message_bytes));
  // gRPC 1.51 has no cap on incoming connections; bound how long idle ones (and ones that never
  // finish the handshake) hold a descriptor. Clients reconnect transparently after GOAWAY.
  builder.AddChannelArgument(GRPC_ARG_MAX_CONNECTION_IDLE_MS, 5 * 60 * 1000);
  builder.AddChannelArgument(GRPC_ARG_SERVER_HANDSHAKE_TIMEOUT_MS, 20 * 1000);
  int selected_port = 0;
  // Read once: gRPC and HTTPS use the same certificate and client CA.
  absl::StatusOr<TlsPems> pems = ReadTlsFiles(options_.tls);
  if (!pems.ok()) return pems.status();
  builder.AddListeningPort(options_.grpc_listen, ServerCredentialsFor(*pems), &selected_port);
  builder.RegisterService(sampling_service_.get());
  builder.RegisterService(admin_service_.get());
  jaeger_metrics_ = std::make_unique<JaegerMetrics>(*metrics_.registry());
  jaeger_answers_ = std::make_unique<JaegerAnswers>(*publisher_);
  jaeger_service_ = std::make_unique<JaegerSamplingManager>(*jaeger_answers_, *jaeger_metrics_);
  builder.RegisterService(jaeger_service_.get());
  grpc_server_ = builder.BuildAndStart();
  if (!grpc_server_ || selected_port == 0) {
    grpc_server_.reset();
    return absl::UnavailableError(
        StrCat("cannot listen for gRPC on ", options_.grpc_listen,
               pems->enabled() ? " (address in use or not available, or gRPC refused the TLS files)"
                               : " (address in use or not available)"));
  }
  grpc_port_ = static_cast<uint16_t>(selected_port);

  HttpServerOptions http_options;
  http_options.host = http_address->host;
  http_options.port = http_address->port;
  rlimit nofile{};
  const uint64_t descriptor_limit =
      getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur != RLIM_INFINITY ? nofile.rlim_cur
                                                                                 : UINT64_MAX;
  http_caps_ = HttpConnectionCapsFor(descriptor_limit);
  if (options_.http_max_connections > 0) http_caps_.max_connections = options_.http_max_connections;
  http_caps_.max_idle_connections = options_.http_max_idle_connections > 0
                                        ? options_.http_max_idle_connections
                                        : std::max<size_t>(1, http_caps_.max_connections / 4);
  http_options.max_connections = http_caps_.max_connections;
  http_options.max_idle_connections = http_caps_.max_idle_connections;
  auto& http_closed = prometheus::BuildCounter()
                          .Name("fleetrate_http_connections_closed_total")
                          .Help(
                              "HTTP connections the server closed to stay within its caps, by "
                              "reason: max_connections (refused at accept), max_idle_connections "
                              "(the longest idle one)")
                          .Register(*metrics_.registry());
  auto refused_log = std::make_shared<ThrottledConnectionLog>(
      "connections at accept: --http-max-connections were open", clock_);
  auto idle_log = std::make_shared<ThrottledConnectionLog>(
      "idle connections: more than --http-max-idle-connections were idle", clock_);
  http_options.on_connection_refused = [&counter = http_closed.Add({{"reason", "max_connections"}}),
                                        refused_log] {
    counter.Increment();
    refused_log->Add();
  };
  http_options.on_idle_connection_closed =
      [&counter = http_closed.Add({{"reason", "max_idle_connections"}}), idle_log] {
        counter.Increment();
        idle_log->Add();
      };
  http_options.on_handler_error = [](const HttpRequest& request, std::string_view what) {
    FLEETRATE_LOG(kError) << "HTTP handler for " << request.path << " failed: " << what;
  };
  if (pems->enabled()) {
    http_options.tls = *pems;
    tls_handshake_failures_ =
        &prometheus::BuildCounter()
             .Name("fleetrate_tls_handshake_failures_total")
             .Help(
                 "TLS handshakes on the gRPC port that failed (plaintext clients, untrusted or "
                 "missing client certificates); gRPC's log line for each is rate-limited")
             .Register(*metrics_.registry())
             .Add({});
    tls_handshake_failures_seen_ = GrpcHandshakeFailures();
  }
  if (options_.protect_reads) {
    // What AdminService's reads show, over HTTP. Jaeger's /sampling, /metrics and the probes
    // stay open: SDKs, scrapers and kubelets do not carry the admin token.
    http_options.bearer_token = options_.admin_token;
    http_options.bearer_protected_prefixes = {"/debug/", "/ui/data"};
  }
  http_server_ = std::make_unique<HttpServer>(http_options);
  // The probes answer on the I/O thread, never queued behind slow handlers (/sampling,
  // /metrics) on the workers: a kubelet gives up after a few seconds.
  http_server_->HandleOnIoThread("/healthz", [this](const HttpRequest&) { return Healthy(); });
  http_server_->HandleOnIoThread("/readyz", [this](const HttpRequest&) { return Ready(); });
  // Jaeger remote sampling: the agent's /sampling, and Jaeger v2's /api/sampling and /.
  for (const char* path : {"/sampling", "/api/sampling", "/"}) {
    http_server_->Handle(path, JaegerHttpHandler(*jaeger_answers_, *jaeger_metrics_));
  }
  http_server_->Handle("/metrics", MetricsHandler(metrics_.collectables()));
  RegisterDebugHandlers(*http_server_, *publisher_, *store_);
  RegisterStatusHandlers(*http_server_, *publisher_, status_history_, clock_);
  if (absl::Status s = http_server_->Start(); !s.ok()) {
    grpc_server_->Shutdown();
    grpc_server_.reset();
    return s;
  }

  FLEETRATE_LOG(kInfo) << "HTTP caps: " << http_caps_.max_connections << " connections, "
                       << http_caps_.max_idle_connections << " idle (descriptor limit "
                       << (descriptor_limit == UINT64_MAX ? std::string("unlimited")
                                                          : std::to_string(descriptor_limit))
                       << ")";
  recompute_thread_ = std::thread([this] { RecomputeLoop(); });
  if (options_.grpc_self_probe_interval.count() > 0) {
    GrpcSelfProbeOptions probe;
    probe.host = ProbeHost(grpc_address->host);
    probe.port = grpc_port_;
    if (probe_target.has_value()) {
      probe.host = probe_target->host;
      probe.port = probe_target->port;
    }
    probe.interval = options_.grpc_self_probe_interval;
    probe.timeout = options_.grpc_self_probe_timeout;
    probe.failures_to_unhealthy = options_.grpc_self_probe_failures;
    probe.tls = pems->enabled();
    grpc_probe_ = std::make_unique<GrpcSelfProbe>(std::move(probe), *metrics_.registry());
    grpc_probe_->Start();
  }
  if (!options_.policy_path.empty()) {
    std::string in_force = publisher_->policies()->source_text;
    PolicyWatcher::Parser parser = ParsePolicies;
    if (options_.policy_is_jaeger) {
      // The policies hold the converted YAML; the watcher compares against the file's JSON.
      absl::StatusOr<FileSnapshot> file =
          ReadRegularFile(options_.policy_path, kMaxPolicyFileBytes);
      in_force = file.ok() ? std::move(file->content) : std::string();
      parser = ParseJaegerStrategies;
    }
    policy_watcher_ = std::make_unique<PolicyWatcher>(
        options_.policy_path, std::move(in_force),
        [this](std::shared_ptr<const Policies> p) { publisher_->SetPolicies(std::move(p)); },
        [this](const absl::Status& s) { metrics_.RecordPolicyLoad(s.ok()); }, std::move(parser));
    policy_watcher_->Start(options_.policy_watch_interval);
  }
  FLEETRATE_LOG(kInfo) << "fleetrate-server " << FLEETRATE_VERSION
                       << " listening grpc=" << grpc_address->host << ":" << grpc_port_
                       << " http=" << http_options.host << ":" << http_server_->port()
                       << " store=" << store_->name()
                       << (options_.tls.enabled()
                               ? (options_.tls.client_ca_file.empty() ? " tls=on" : " tls=mutual")
                               : "");
  return absl::OkStatus();
}

void Server::Recompute() {
  if (tls_handshake_failures_ != nullptr) {
    const uint64_t total = GrpcHandshakeFailures();
    if (total > tls_handshake_failures_seen_) {
      tls_handshake_failures_->Increment(static_cast<double>(total - tls_handshake_failures_seen_));
      tls_handshake_failures_seen_ = total;
    }
  }
  const Timestamp now = clock_.Now();
  publisher_->Recompute(now);
  if (const std::shared_ptr<const RateTables> tables = publisher_->Current()) {
    status_history_.Record(*tables, now);
  }
}

void Server::RecomputeLoop() {
  std::unique_lock<std::mutex> lock(mu_);
  while (!stopping_) {
    // The cadence is wall time; the engine's notion of "now" comes from the injected clock.
    wake_.wait_for(lock, options_.recompute_interval, [this] { return stopping_; });
    if (stopping_) break;
    lock.unlock();
    try {
      Recompute();
    } catch (const std::exception& e) {
      // Keep serving the last good table; the next recompute tries again.
      FLEETRATE_LOG(kError) << "rate recompute failed, serving the last table: " << e.what();
    }
    lock.lock();
  }
}

void Server::Shutdown(Duration grace) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_) return;
    stopping_ = true;
  }
  draining_ = true;
  wake_.notify_all();
  // Before the drain, so that a gRPC port closing on purpose is not reported as a failure.
  if (grpc_probe_) grpc_probe_->Stop();
  if (grpc_server_) {
    if (auto* health = grpc_server_->GetHealthCheckService()) health->Shutdown();
    grpc_server_->Shutdown(std::chrono::system_clock::now() + grace);
    grpc_server_->Wait();
  }
  if (policy_watcher_) policy_watcher_->Stop();
  if (http_server_) http_server_->Stop();
  if (recompute_thread_.joinable()) recompute_thread_.join();
  // After the drain: every accepted report is written, and another replica may lead at once.
  store_->Stop();
  if (grpc_server_) FLEETRATE_LOG(kInfo) << "fleetrate-server stopped";
}

}  // namespace fleetrate::server
