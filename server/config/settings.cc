#include "server/config/settings.h"

#include <charconv>
#include <vector>

#include "server/common/strings.h"
#include "server/config/admin_token.h"
#include "server/store/redis_client.h"

namespace fleetrate::server {
namespace {

struct Field {
  const char* flag;
  const char* env;
  // Applies a value; `source` names the flag or variable for error messages.
  absl::Status (*apply)(Settings&, std::string_view source, std::string_view value);
};

absl::Status ApplyPath(std::string* out, std::string_view source, std::string_view value) {
  if (value.empty()) return absl::InvalidArgumentError(StrCat(source, ": empty path"));
  *out = std::string(value);
  return absl::OkStatus();
}

absl::Status ApplyListen(std::string* out, std::string_view source, std::string_view value) {
  if (auto parsed = ParseHostPort(source, value); !parsed.ok()) return parsed.status();
  *out = std::string(value);
  return absl::OkStatus();
}

// A whole number in [0, max].
absl::Status ApplyCount(uint64_t* out, uint64_t max, std::string_view source,
                        std::string_view value) {
  uint64_t parsed = 0;
  const auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (value.empty() || ec != std::errc() || end != value.data() + value.size() || parsed > max) {
    return absl::InvalidArgumentError(
        StrCat(source, ": '", value, "' is not a whole number in [0, ", max, "]"));
  }
  *out = parsed;
  return absl::OkStatus();
}

const std::vector<Field>& Fields() {
  static const std::vector<Field> kFields = {
      {"--config", "FLEETRATE_CONFIG",
       [](Settings& s, std::string_view source, std::string_view v) {
         s.config_path_given = !v.empty();
         return ApplyPath(&s.config_path, source, v);
       }},
      {"--jaeger-strategies", "FLEETRATE_JAEGER_STRATEGIES",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyPath(&s.jaeger_strategies_path, source, v);
       }},
      {"--grpc-listen", "FLEETRATE_GRPC_LISTEN",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyListen(&s.grpc_listen, source, v);
       }},
      {"--http-listen", "FLEETRATE_HTTP_LISTEN",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyListen(&s.http_listen, source, v);
       }},
      {"--store", "FLEETRATE_STORE",
       [](Settings& s, std::string_view source, std::string_view v) {
         if (v != "memory") {
           if (v.substr(0, 8) != "redis://") {
             return absl::InvalidArgumentError(
                 StrCat(source, ": '", v,
                        "' is not a store; use 'memory' or redis://[:PASSWORD@]HOST[:PORT][/DB]"));
           }
           if (auto address = ParseRedisUrl(source, v); !address.ok()) return address.status();
         }
         s.store = std::string(v);
         return absl::OkStatus();
       }},
      {"--admin-token-file", "FLEETRATE_ADMIN_TOKEN_FILE",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyPath(&s.admin_token_file, source, v);
       }},
      {"--protect-reads", "FLEETRATE_PROTECT_READS",
       [](Settings& s, std::string_view source, std::string_view v) {
         if (v != "true" && v != "false") {
           return absl::InvalidArgumentError(StrCat(source, ": '", v, "' is not true or false"));
         }
         s.protect_reads = v == "true";
         return absl::OkStatus();
       }},
      {"--tls-cert", "FLEETRATE_TLS_CERT",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyPath(&s.tls.cert_file, source, v);
       }},
      {"--tls-key", "FLEETRATE_TLS_KEY",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyPath(&s.tls.key_file, source, v);
       }},
      {"--tls-client-ca", "FLEETRATE_TLS_CLIENT_CA",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyPath(&s.tls.client_ca_file, source, v);
       }},
      {"--new-clients-per-peer", "FLEETRATE_NEW_CLIENTS_PER_PEER",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyCount(&s.new_clients_per_peer, 1'000'000, source, v);
       }},
      {"--http-max-connections", "FLEETRATE_HTTP_MAX_CONNECTIONS",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyCount(&s.http_max_connections, 1'000'000, source, v);
       }},
      {"--http-max-idle-connections", "FLEETRATE_HTTP_MAX_IDLE_CONNECTIONS",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyCount(&s.http_max_idle_connections, 1'000'000, source, v);
       }},
      {"--grpc-self-probe-interval", "FLEETRATE_GRPC_SELF_PROBE_INTERVAL",
       [](Settings& s, std::string_view source, std::string_view v) {
         return ApplyCount(&s.grpc_self_probe_interval_seconds, 3600, source, v);
       }},
      {"--log-level", "FLEETRATE_LOG_LEVEL",
       [](Settings& s, std::string_view source, std::string_view v) {
         auto level = ParseLogLevel(v);
         if (!level) {
           return absl::InvalidArgumentError(
               StrCat(source, ": '", v, "' is not one of debug, info, warning, error"));
         }
         s.log_level = *level;
         return absl::OkStatus();
       }},
  };
  return kFields;
}

}  // namespace

absl::StatusOr<HostPort> ParseHostPort(std::string_view field, std::string_view text) {
  const auto error = [&](std::string_view why) {
    return absl::InvalidArgumentError(
        StrCat(field, ": '", text, "' ", why, " (expected HOST:PORT, e.g. 0.0.0.0:8081)"));
  };
  const size_t colon = text.rfind(':');
  if (colon == std::string_view::npos) return error("has no port");
  HostPort out;
  std::string_view host = text.substr(0, colon);
  if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
    host = host.substr(1, host.size() - 2);
  } else if (host.find(':') != std::string_view::npos) {
    return error("needs brackets around an IPv6 address");
  }
  out.host = host.empty() ? "0.0.0.0" : std::string(host);
  const std::string_view port = text.substr(colon + 1);
  unsigned value = 0;
  const auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
  if (port.empty() || ec != std::errc() || end != port.data() + port.size() || value > 65535) {
    return error("has a port outside 0-65535");
  }
  out.port = static_cast<uint16_t>(value);
  return out;
}

absl::StatusOr<Settings> ParseSettings(int argc, const char* const* argv, const GetEnv& getenv) {
  Settings settings;
  for (const Field& field : Fields()) {
    const char* value = getenv(field.env);
    if (value == nullptr) continue;
    if (auto s = field.apply(settings, field.env, value); !s.ok()) return s;
  }
  if (const char* token = getenv("FLEETRATE_ADMIN_TOKEN")) {
    if (auto s = CheckAdminToken("FLEETRATE_ADMIN_TOKEN", token); !s.ok()) return s;
    settings.admin_token = token;
  }
  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      settings.help = true;
      continue;
    }
    std::string_view name = arg;
    std::string_view value;
    bool has_value = false;
    if (const size_t eq = arg.find('='); eq != std::string_view::npos) {
      name = arg.substr(0, eq);
      value = arg.substr(eq + 1);
      has_value = true;
    }
    const Field* match = nullptr;
    for (const Field& field : Fields()) {
      if (name == field.flag) match = &field;
    }
    if (match == nullptr) {
      return absl::InvalidArgumentError(StrCat("unknown argument '", arg, "' (see --help)"));
    }
    if (!has_value) {
      if (i + 1 >= argc) {
        return absl::InvalidArgumentError(StrCat(name, ": missing value"));
      }
      value = argv[++i];
    }
    if (auto s = match->apply(settings, name, value); !s.ok()) return s;
  }
  if (!settings.jaeger_strategies_path.empty() && settings.config_path_given) {
    return absl::InvalidArgumentError(
        "--jaeger-strategies: give either a Jaeger strategies file or --config, not both");
  }
  if (auto s = CheckTlsFlags(settings.tls); !s.ok()) return s;
  return settings;
}

std::string UsageText() {
  return R"(Usage: fleetrate-server [flags]

Sampling as a service for distributed tracing: computes per-operation sampling rates from
the traffic every fleetrate client reports, and serves them over gRPC and HTTP.

Flags (each also settable through the environment variable shown; flags win):
  --config FILE          policy file (FLEETRATE_CONFIG)
                         default config/policies.yaml; built-in defaults if that is absent
  --jaeger-strategies F  use a Jaeger strategies file (JSON) as the policies instead of
                         --config (FLEETRATE_JAEGER_STRATEGIES); watched like --config
  --grpc-listen H:P      gRPC address (FLEETRATE_GRPC_LISTEN), default 0.0.0.0:8081
  --http-listen H:P      HTTP address for /metrics, /healthz, /readyz, Jaeger's /sampling
                         (FLEETRATE_HTTP_LISTEN), default 0.0.0.0:5778
  --store STORE          where fleet counts live (FLEETRATE_STORE): memory (default; one
                         replica) or redis://[:PASSWORD@]HOST[:PORT][/DB] (several replicas
                         share one fleet view, one leader computes the rates; prefer the
                         environment variable when the URL holds a password)
  --protect-reads BOOL   true: AdminService reads, /debug/* and /ui/data need the admin token
                         too (FLEETRATE_PROTECT_READS), default false
  --tls-cert F           PEM certificate chain: serve gRPC over TLS and HTTP as HTTPS
                         (FLEETRATE_TLS_CERT); needs --tls-key; warns at start when it
                         is expired, not yet valid or expires within 14 days
  --tls-key F            its PEM private key (FLEETRATE_TLS_KEY); must match --tls-cert
  --tls-client-ca F      PEM CA: require client certificates it signed, mutual TLS
                         (FLEETRATE_TLS_CLIENT_CA)
  --new-clients-per-peer N  new client instance ids one peer address (an IPv4 address, an
                         IPv6 /64) may register per second, in bursts of ten seconds' worth
                         (FLEETRATE_NEW_CLIENTS_PER_PEER), default 100; 0: no limit (clients
                         behind one proxy address, a load generator)
  --http-max-connections N
                         HTTP connections open at once (FLEETRATE_HTTP_MAX_CONNECTIONS);
                         more are closed at accept. Default 0: min(1024, descriptor limit / 4)
  --http-max-idle-connections N
                         idle HTTP connections kept; beyond, the longest idle is closed
                         (FLEETRATE_HTTP_MAX_IDLE_CONNECTIONS). Default 0: a quarter of the above
  --grpc-self-probe-interval S
                         seconds between probes of the own gRPC port; after 3 failures in a row
                         /healthz answers 503 (FLEETRATE_GRPC_SELF_PROBE_INTERVAL), default 5;
                         0 disables
  --log-level LEVEL      debug, info, warning or error (FLEETRATE_LOG_LEVEL), default info
  --admin-token-file F   file holding the bearer token AdminService.SetPolicies requires
                         (FLEETRATE_ADMIN_TOKEN_FILE; or the token in FLEETRATE_ADMIN_TOKEN);
                         its first line, at least 16 printable characters, no spaces;
                         without one, SetPolicies is disabled

The policy file is watched: a valid edit applies within about 2 s, once two polls saw it
unchanged (never half-written); an invalid one, an empty one (write {} for all defaults), a
directory or a FIFO is logged and counted, and the last good policies stay.
  -h, --help             this text

SIGTERM or SIGINT stops the server cleanly: in-flight calls finish first.
)";
}

}  // namespace fleetrate::server
