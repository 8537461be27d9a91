// fleetrate-server: parses settings, loads the policy file and runs the server until SIGTERM or
// SIGINT. The only place that reads the real clock and wires process-level concerns.
#include <signal.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <memory>
#include <string>
#include <thread>

#include "absl/synchronization/mutex.h"
#include "server/common/clock.h"
#include "server/common/file_read.h"
#include "server/common/grpc_log.h"
#include "server/common/log.h"
#include "server/common/protobuf_log.h"
#include "server/config/admin_token.h"
#include "server/config/settings.h"
#include "server/jaeger/strategies_file.h"
#include "server/policy/policy.h"
#include "server/service/server.h"

namespace fs = std::filesystem;
using namespace fleetrate::server;

namespace {

// A policy file modified less than this long ago is read until it stops changing, so one being
// written as the server starts is loaded whole (errors are the load's to report).
constexpr std::chrono::milliseconds kStartSettle{300};

std::shared_ptr<const Policies> LoadPolicies(const Settings& settings) {
  if (!settings.jaeger_strategies_path.empty()) {
    static_cast<void>(
        WaitForStableFile(settings.jaeger_strategies_path, kMaxPolicyFileBytes, kStartSettle));
    auto policies = LoadJaegerStrategiesFile(settings.jaeger_strategies_path);
    if (!policies.ok()) {
      FLEETRATE_LOG(kError) << "--jaeger-strategies: invalid Jaeger strategies file: "
                            << policies.status().message();
      return nullptr;
    }
    FLEETRATE_LOG(kInfo) << "policies converted from Jaeger strategies file "
                         << settings.jaeger_strategies_path << ": " << policies->rules.size()
                         << " rules";
    return std::make_shared<const Policies>(*std::move(policies));
  }
  std::error_code error;
  if (!settings.config_path_given && !fs::exists(settings.config_path, error)) {
    FLEETRATE_LOG(kWarning) << "no policy file at " << settings.config_path
                            << "; using built-in defaults (adaptive, 1 trace/s per operation)";
    auto defaults = ParsePolicies("");
    defaults->source_name = "built-in defaults";
    return std::make_shared<const Policies>(*defaults);
  }
  static_cast<void>(WaitForStableFile(settings.config_path, kMaxPolicyFileBytes, kStartSettle));
  auto policies = LoadPoliciesFile(settings.config_path);
  if (!policies.ok()) {
    FLEETRATE_LOG(kError) << "--config: invalid policy file: " << policies.status().message();
    return nullptr;
  }
  FLEETRATE_LOG(kInfo) << "policies loaded from " << settings.config_path << ": "
                       << policies->rules.size() << " rules, sync interval "
                       << policies->sync_interval_seconds << " s";
  return std::make_shared<const Policies>(*std::move(policies));
}

// Raises the soft descriptor limit to the hard one, so the HTTP caps sized from it (server.h)
// have room and gRPC is not the first to run out. Logs what the limit is.
void RaiseDescriptorLimit() {
  rlimit limit{};
  if (getrlimit(RLIMIT_NOFILE, &limit) != 0) {
    FLEETRATE_LOG(kWarning) << "cannot read the descriptor limit (RLIMIT_NOFILE)";
    return;
  }
  const rlim_t soft = limit.rlim_cur;
  if (limit.rlim_cur != limit.rlim_max) {
    limit.rlim_cur = limit.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &limit) != 0) limit.rlim_cur = soft;
  }
  const auto text = [](rlim_t value) {
    return value == RLIM_INFINITY ? std::string("unlimited") : std::to_string(value);
  };
  FLEETRATE_LOG(kInfo) << "descriptor limit (RLIMIT_NOFILE): " << text(limit.rlim_cur)
                       << (limit.rlim_cur != soft ? " (raised from " + text(soft) + ")" : "");
}

}  // namespace

int main(int argc, char** argv) {
  auto settings = ParseSettings(argc, argv, [](const char* name) { return std::getenv(name); });
  if (!settings.ok()) {
    std::cerr << "fleetrate-server: " << settings.status().message() << "\n";
    return 2;
  }
  if (settings->help) {
    std::cout << UsageText();
    return 0;
  }
  SetLogLevel(settings->log_level);
  RouteProtobufLogs();  // rate-limited: bad requests make protobuf log once each
  RouteGrpcLogs();      // rate-limited: every failed TLS handshake makes gRPC log a line
  RaiseDescriptorLimit();

  std::shared_ptr<const Policies> policies = LoadPolicies(*settings);
  if (!policies) return 1;

  // Block the stop signals before any thread starts, so every thread inherits the mask and
  // sigwait below is the only place that sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);
  signal(SIGPIPE, SIG_IGN);

  ServerOptions options;
  options.grpc_listen = settings->grpc_listen;
  options.http_listen = settings->http_listen;
  options.store = settings->store;
  if (!settings->jaeger_strategies_path.empty()) {
    options.policy_path = settings->jaeger_strategies_path;
    options.policy_is_jaeger = true;
  } else if (policies->source_name != "built-in defaults") {
    options.policy_path = settings->config_path;
  }
  options.admin_token = settings->admin_token;
  options.tls = settings->tls;
  if (!settings->admin_token_file.empty()) {
    absl::StatusOr<std::string> token = ReadAdminTokenFile(settings->admin_token_file);
    if (!token.ok()) {
      FLEETRATE_LOG(kError) << token.status().message();
      return 2;
    }
    options.admin_token = *std::move(token);
  }
  options.protect_reads = settings->protect_reads;
  options.sync_limits.new_clients_per_peer_per_second =
      static_cast<int>(settings->new_clients_per_peer);
  options.http_max_connections = static_cast<size_t>(settings->http_max_connections);
  options.http_max_idle_connections = static_cast<size_t>(settings->http_max_idle_connections);
  options.grpc_self_probe_interval =
      std::chrono::seconds(settings->grpc_self_probe_interval_seconds);
  if (options.protect_reads && options.admin_token.empty()) {
    FLEETRATE_LOG(kError) << "--protect-reads needs an admin token (--admin-token-file or "
                             "FLEETRATE_ADMIN_TOKEN)";
    return 2;
  }
  // Versions grow across restarts, so a restarted server never claims a client's old version.
  options.first_table_version =
      static_cast<uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                std::chrono::system_clock::now().time_since_epoch())
                                .count());

  // Debian's abseil is built with its Mutex deadlock detection on, which gRPC's mutexes then pay
  // for on every lock (~3 % of a loaded server's CPU in a profile). It is a debugging aid.
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);

  RealClock clock;
  Server server(options, policies, clock);
  if (absl::Status s = server.Start(); !s.ok()) {
    FLEETRATE_LOG(kError) << "cannot start: " << s.message();
    return 1;
  }

  int received = 0;
  while (sigwait(&stop_signals, &received) != 0) {
  }
  FLEETRATE_LOG(kInfo) << "received " << (received == SIGTERM ? "SIGTERM" : "SIGINT")
                       << ", shutting down (in-flight calls finish first; signal again to force)";
  // A second signal during the drain exits at once, as operators expect of Ctrl-C twice.
  std::thread force([&stop_signals] {
    int again = 0;
    while (sigwait(&stop_signals, &again) != 0) {
    }
    FLEETRATE_LOG(kWarning) << "second signal: exiting without waiting for in-flight calls";
    std::_Exit(1);
  });
  force.detach();
  server.Shutdown();
  return 0;
}
