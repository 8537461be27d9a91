// The policy model: what rate each (service, environment, operation) should get, and what
// batcher and capture settings each service's clients use. Loaded from one YAML file (schema:
// docs/policies.md), validated as a whole; a file with any error is rejected with a message
// naming the field, the limit and the line, so a bad edit never reaches the rate engine.
//
//   absl::StatusOr<Policies> p = LoadPoliciesFile("config/policies.yaml");
//   const Rule& rule = p->Match("checkout", "production", "GET /cart");
//   const ServiceSettings& s = p->MatchService("checkout", "production");
//
// Policies are immutable once loaded; share them as std::shared_ptr<const Policies>.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fleetrate::server {

// Bounds the policy file puts on what a rate table carries from it; a table read back from the
// Redis store is held to the same (server/store/stored_format.cc).
inline constexpr double kMaxBurst = 1000;
inline constexpr uint32_t kMaxQueueSize = 1 << 20;
inline constexpr uint32_t kMaxDurationMs = 3'600'000;

// The batcher settings a service's clients use (OpenTelemetry's batch span processor four).
struct BatchProfile {
  std::string name;
  uint32_t max_queue_size = 2048;
  uint32_t max_export_batch_size = 512;
  uint32_t schedule_delay_ms = 5000;
  uint32_t export_timeout_ms = 30000;

  friend bool operator==(const BatchProfile& a, const BatchProfile& b) {
    return a.name == b.name && a.max_queue_size == b.max_queue_size &&
           a.max_export_batch_size == b.max_export_batch_size &&
           a.schedule_delay_ms == b.schedule_delay_ms && a.export_timeout_ms == b.export_timeout_ms;
  }
};

// balanced, high_throughput or low_latency; nullopt for other names.
[[nodiscard]] std::optional<BatchProfile> BuiltinBatchProfile(std::string_view name);

// Edge capture for a service, fleet-wide: the server splits the rates evenly across the
// service's live clients. All zero: no capture.
struct CapturePolicy {
  double errors_per_second = 0;
  uint32_t slow_threshold_ms = 0;  // 0: slow capture off
  double slow_per_second = 0;

  friend bool operator==(const CapturePolicy& a, const CapturePolicy& b) {
    return a.errors_per_second == b.errors_per_second &&
           a.slow_threshold_ms == b.slow_threshold_ms && a.slow_per_second == b.slow_per_second;
  }
};

// How matching keys are sampled. Exactly one of `probability` (fixed),
// `rate_limit_traces_per_second` (rate-limited) and `target_traces_per_second` (adaptive) is in
// force; the loader fills the rest from defaults.
struct Rule {
  std::string name;    // for explanations and logs; "default" for the defaults
  int priority = 100;  // lower first; ties keep file order
  std::string service_glob = "*";
  std::string environment_glob = "*";
  std::string operation_glob = "*";
  std::optional<double> probability;  // fixed rate, in [0, 1]
  // Rate-limited (Jaeger's "ratelimiting"): every root is a candidate (p = 1) and each client
  // instance keeps at most this many per second. Per instance, as Jaeger defines it.
  std::optional<double> rate_limit_traces_per_second;
  double target_traces_per_second = 1.0;  // adaptive: fleet-wide kept roots per second
  double min_probability = 0.00001;
  double max_probability = 1.0;
  double initial_probability = 0.001;               // before the key has a traffic estimate
  double lower_bound_traces_per_second = 1.0 / 60;  // fleet-wide floor, split by traffic share
  double burst = 2.0;   // local cap = burst × (effective) target × client share
  double weight = 1.0;  // share of the global budget relative to other rules

  [[nodiscard]] bool adaptive() const noexcept {
    return !probability.has_value() && !rate_limit_traces_per_second.has_value();
  }
  [[nodiscard]] bool rate_limited() const noexcept {
    return rate_limit_traces_per_second.has_value();
  }
};

// Per-service client settings, matched by service and environment globs (first match wins).
struct ServiceSettings {
  std::string service_glob = "*";
  std::string environment_glob = "*";
  BatchProfile batch_profile = *BuiltinBatchProfile("balanced");
  CapturePolicy capture;
};

struct Policies {
  // How often clients should Sync, in seconds.
  double sync_interval_seconds = 10.0;
  // Total kept traces per second across all adaptive keys; nullopt: no budget.
  std::optional<double> budget_traces_per_second;
  std::vector<Rule> rules;  // sorted by priority, then file order; the first match wins
  Rule defaults;            // matches when no rule does
  std::vector<ServiceSettings> services;  // first match wins
  ServiceSettings service_defaults;       // when no services entry matches
  // Profiles by name: the built-ins and the file's batch_profiles.
  std::map<std::string, BatchProfile> batch_profiles;
  // The document these were parsed from, and where it came from (a path, "AdminService").
  std::string source_text;
  std::string source_name;

  // The rule that applies to the key; `defaults` when none matches.
  [[nodiscard]] const Rule& Match(std::string_view service, std::string_view environment,
                                  std::string_view operation) const;
  // Index of that rule in `rules`, or -1 for `defaults`.
  [[nodiscard]] int MatchIndex(std::string_view service, std::string_view environment,
                               std::string_view operation) const;
  [[nodiscard]] const ServiceSettings& MatchService(std::string_view service,
                                                    std::string_view environment) const;
};

// Parses policy YAML. Errors name the field path, the limit and the line, e.g.
// "rules[2].max_probability: must be in [0, 1], got 1.5 (line 14)".
[[nodiscard]] absl::StatusOr<Policies> ParsePolicies(std::string_view yaml);

// Turns a document into policies: ParsePolicies, or a converter such as the Jaeger strategies
// file's (server/jaeger/strategies_file.h).
using PolicyParser = std::function<absl::StatusOr<Policies>(std::string_view)>;

// Whether a document has no content: only whitespace, comments and document markers. A file that
// is truncated for an in-place rewrite looks like this, so files and AdminService refuse it
// (CheckNotBlank); the explicit spelling of "all built-in defaults" is `{}`.
// ParsePolicies itself still reads "" as all defaults (for callers that build policies in code).
[[nodiscard]] bool IsBlankDocument(std::string_view text);
[[nodiscard]] absl::Status CheckNotBlank(std::string_view text);

// Reads `path` (server/common/file_read.h: a regular file of at most kMaxPolicyFileBytes; never
// blocks on a FIFO), refuses a blank document, and parses it with `parse`. Errors start with
// the path: "config/policies.yaml: rules[2]...", "'/etc/x' is a directory, not a regular file";
// source_name is the path.
[[nodiscard]] absl::StatusOr<Policies> LoadPoliciesFile(const std::string& path,
                                                        const PolicyParser& parse = ParsePolicies);

// Limits of a policy document.
inline constexpr size_t kMaxPolicyFileBytes = 4 << 20;
inline constexpr size_t kMaxPolicyRules = 10000;
// The deepest nesting yaml-cpp parses (its DepthGuard<500> in the parser refuses more, saying
// "bad file"); ParsePolicies says "YAML syntax: nesting deeper than 499 levels" instead.
inline constexpr int kMaxYamlDepth = 499;

}  // namespace fleetrate::server
