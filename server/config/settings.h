// Settings: how fleetrate-server is started. One struct with a default per field, overridden by
// a FLEETRATE_* environment variable, overridden in turn by a command-line flag.
//
//   flag             environment               default
//   --config FILE    FLEETRATE_CONFIG          config/policies.yaml (built-in defaults if absent)
//   --jaeger-strategies FILE  FLEETRATE_JAEGER_STRATEGIES  none (a Jaeger strategies file
//                    as the policies; excludes --config)
//   --grpc-listen    FLEETRATE_GRPC_LISTEN     0.0.0.0:8081
//   --http-listen    FLEETRATE_HTTP_LISTEN     0.0.0.0:5778
//   --store          FLEETRATE_STORE           memory
//   --log-level      FLEETRATE_LOG_LEVEL       info (debug, info, warning, error)
//   --admin-token-file FLEETRATE_ADMIN_TOKEN_FILE  none (AdminService.SetPolicies disabled)
//                    FLEETRATE_ADMIN_TOKEN     the token itself (environment only; checked here,
//                    the file's in main: server/config/admin_token.h)
//   --tls-cert, --tls-key, --tls-client-ca   none (plaintext); the pairs are checked here
//                    (CheckTlsFlags), the files when the server starts (server/config/tls.h)
//   --http-max-connections FLEETRATE_HTTP_MAX_CONNECTIONS  0 (sized from RLIMIT_NOFILE)
//   --http-max-idle-connections FLEETRATE_HTTP_MAX_IDLE_CONNECTIONS  0 (a quarter of the above)
//   --grpc-self-probe-interval FLEETRATE_GRPC_SELF_PROBE_INTERVAL  5 (seconds; 0 disables)
//
//   absl::StatusOr<Settings> s = ParseSettings(argc, argv, std::getenv);
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/common/log.h"
#include "server/config/tls.h"

namespace fleetrate::server {

inline constexpr char kDefaultConfigPath[] = "config/policies.yaml";

struct Settings {
  std::string config_path = kDefaultConfigPath;
  bool config_path_given = false;      // an explicit path must exist; the default may be absent
  std::string jaeger_strategies_path;  // a Jaeger strategies file to use as the policies
  std::string grpc_listen = "0.0.0.0:8081";
  std::string http_listen = "0.0.0.0:5778";
  std::string store = "memory";
  LogLevel log_level = LogLevel::kInfo;
  std::string admin_token_file;
  std::string admin_token;     // from FLEETRATE_ADMIN_TOKEN; never a flag (ps would show it)
  bool protect_reads = false;  // --protect-reads: reads need the admin token too
  TlsFiles tls;                // --tls-cert, --tls-key, --tls-client-ca
  // --new-clients-per-peer: new instance ids one peer address may register per second (bursts
  // of ten seconds' worth); 0: no limit. SyncLimits::new_clients_per_peer_per_second.
  uint64_t new_clients_per_peer = 100;
  // HTTP connection caps; 0: sized from the descriptor limit (server.h).
  uint64_t http_max_connections = 0;
  uint64_t http_max_idle_connections = 0;
  uint64_t grpc_self_probe_interval_seconds = 5;  // 0: no self-probe behind /healthz
  bool help = false;
};

struct HostPort {
  std::string host;
  uint16_t port = 0;
};

// "host:port", "[v6addr]:port" or ":port" (all interfaces). Port 0 picks a free port.
[[nodiscard]] absl::StatusOr<HostPort> ParseHostPort(std::string_view field, std::string_view text);

using GetEnv = std::function<const char*(const char*)>;

// Errors name the flag (or variable) and what it accepts.
[[nodiscard]] absl::StatusOr<Settings> ParseSettings(int argc, const char* const* argv,
                                                     const GetEnv& getenv);

[[nodiscard]] std::string UsageText();

}  // namespace fleetrate::server
