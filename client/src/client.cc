#include "fleetrate/client.h"

#include <grpcpp/create_channel.h>
#include <grpcpp/security/credentials.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <limits>
#include <random>
#include <string_view>
#include <utility>

#include "absl/status/status.h"
#include "poller.h"

namespace fleetrate {
namespace {

constexpr size_t kMaxServiceBytes = 128;     // ClientIdentity.service
constexpr size_t kMaxInstanceIdBytes = 128;  // ClientIdentity.instance_id
constexpr size_t kMaxEnvironmentBytes = 64;  // ClientIdentity.environment

absl::Status Invalid(std::string_view field, std::string_view rule) {
  return absl::InvalidArgumentError(std::string("ClientOptions.") + std::string(field) + " " +
                                    std::string(rule));
}

absl::Status Validate(const ClientOptions& o) {
  if (o.service.empty() || o.service.size() > kMaxServiceBytes) {
    return Invalid("service", "must be non-empty and at most 128 bytes");
  }
  if (o.environment.size() > kMaxEnvironmentBytes) {
    return Invalid("environment", "must be at most 64 bytes");
  }
  if (o.instance_id.size() > kMaxInstanceIdBytes) {
    return Invalid("instance_id", "must be at most 128 bytes");
  }
  if (o.server_address.empty()) return Invalid("server_address", "must be non-empty");
  const std::pair<std::string_view, std::chrono::milliseconds> durations[] = {
      {"initial_sync_interval", o.initial_sync_interval},
      {"min_sync_interval", o.min_sync_interval},
      {"max_sync_interval", o.max_sync_interval},
      {"max_backoff", o.max_backoff},
      {"sync_timeout", o.sync_timeout},
  };
  for (const auto& [name, value] : durations) {
    if (value.count() <= 0) return Invalid(name, "must be positive");
  }
  if (o.min_sync_interval > o.max_sync_interval) {
    return Invalid("min_sync_interval", "must be at most max_sync_interval");
  }
  if (!(o.initial_probability >= 0.0 && o.initial_probability <= 1.0)) {  // also NaN
    return Invalid("initial_probability", "must be in [0, 1]");
  }
  if (!(o.initial_lower_bound_per_second >= 0.0)) {
    return Invalid("initial_lower_bound_per_second", "must be >= 0");
  }
  if (o.table_ttl.count() <= 0) return Invalid("table_ttl", "must be positive");
  return absl::OkStatus();
}

// "<hostname>-<pid>-<8 random hex digits>", at most 128 bytes.
std::string DefaultInstanceId() {
  char host[256] = {};
  if (gethostname(host, sizeof(host) - 1) != 0 || host[0] == '\0') {
    std::snprintf(host, sizeof(host), "unknown");
  }
  std::string id(host);
  id.resize(std::min<size_t>(id.size(), 100));
  char suffix[32];
  std::random_device random;
  std::snprintf(suffix, sizeof(suffix), "-%ld-%08x", static_cast<long>(getpid()),
                static_cast<unsigned>(random()));
  return id + suffix;
}

SamplerOptions ToSamplerOptions(const ClientOptions& o) {
  SamplerOptions options;
  options.initial.probability = o.initial_probability;
  options.initial.lower_bound_per_second = o.initial_lower_bound_per_second;
  options.parent_rules = o.parent_rules;
  options.max_operations = o.max_operations;
  return options;
}

}  // namespace

absl::StatusOr<std::unique_ptr<Client>> Client::Create(ClientOptions options,
                                                       std::unique_ptr<Exporter> exporter) {
  if (absl::Status status = Validate(options); !status.ok()) return status;
  if (options.credentials == nullptr) {
    auto credentials = ChannelCredentialsFor(options.tls);
    if (!credentials.ok()) {
      return absl::InvalidArgumentError("ClientOptions." +
                                        std::string(credentials.status().message()));
    }
    options.credentials = *std::move(credentials);
  }
  try {
    if (options.instance_id.empty()) options.instance_id = DefaultInstanceId();
    std::unique_ptr<Client> client(new Client(std::move(options), std::move(exporter)));
    return client;
  } catch (const std::exception& e) {
    return absl::InternalError(std::string("fleetrate::Client::Create: ") + e.what());
  }
}

Client::Client(ClientOptions options, std::unique_ptr<Exporter> exporter)
    : options_(std::move(options)),
      sampler_(std::make_unique<Sampler>(ToSamplerOptions(options_))) {
  if (exporter != nullptr) {
    batcher_ = std::make_unique<Batcher>(std::move(exporter), options_.batcher);
  }
  grpc::ChannelArguments args;
  if (options_.tls.enabled && !options_.tls.server_name.empty()) {
    args.SetSslTargetNameOverride(options_.tls.server_name);
  }
  // gRPC's own reconnect backoff (1 s, x1.6, up to 120 s) follows max_backoff instead, so a
  // channel never waits longer than the client's schedule to try the server again; a connect
  // attempt may last max(max_backoff, 1 s) (gRPC's default is 20 s), at least 1 s so that a TLS
  // handshake over a long path is not cut short.
  const int max_backoff_ms = static_cast<int>(
      std::min<int64_t>(options_.max_backoff.count(), std::numeric_limits<int>::max()));
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, std::min(max_backoff_ms, 1000));
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, max_backoff_ms);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, std::clamp(max_backoff_ms, 1000, 20000));
  std::shared_ptr<grpc::Channel> channel =
      grpc::CreateCustomChannel(options_.server_address, options_.credentials, args);
  poller_ = std::make_unique<internal::Poller>(options_, v1::SamplingService::NewStub(channel),
                                               *sampler_, batcher_.get(), channel);
  poller_->Start();
}

Client::~Client() { Shutdown(); }

void Client::Shutdown(std::chrono::milliseconds timeout) noexcept {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  // The batcher first, so that the final Sync reports what it exported and dropped.
  if (batcher_ != nullptr) (void)batcher_->Shutdown(timeout);
  const auto remaining = std::chrono::duration_cast<std::chrono::milliseconds>(
      deadline - std::chrono::steady_clock::now());
  if (poller_ != nullptr) {
    poller_->Shutdown(std::max(remaining, std::chrono::milliseconds(1)));
  }
}

ClientStats Client::stats() const noexcept {
  ClientStats stats;
  stats.syncs_ok = poller_->syncs_ok();
  stats.syncs_failed = poller_->syncs_failed();
  stats.table_version = sampler_->table_version();
  stats.tables_expired = poller_->tables_expired();
  stats.table_from_cache = poller_->table_from_cache();
  stats.tables_rejected = poller_->tables_rejected();
  try {
    stats.sampler = sampler_->totals();
  } catch (...) {
  }
  if (batcher_ != nullptr) stats.batcher = batcher_->stats();
  return stats;
}

}  // namespace fleetrate
