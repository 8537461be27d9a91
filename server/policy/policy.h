// The policy model: what rate each (service, operation) should get. Loaded from one YAML file
// (schema: docs/policies.md), validated as a whole; a file with any error is rejected with a
// message naming the field, so a bad edit never reaches the rate engine.
//
//   absl::StatusOr<Policies> p = LoadPoliciesFile("config/policies.yaml");
//   const Rule& rule = p->Match("checkout", "GET /cart");
//
// Policies are immutable once loaded; share them as std::shared_ptr<const Policies>.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"

namespace fleetrate::server {

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

// How matching keys are sampled. Exactly one of `probability` (fixed) and
// `target_traces_per_second` (adaptive) is in force; the loader fills the rest from defaults.
struct Rule {
  std::string name;  // for explanations and logs; "default" for the defaults
  std::string service_glob = "*";
  std::string operation_glob = "*";
  std::optional<double> probability;      // fixed rate, in [0, 1]
  double target_traces_per_second = 1.0;  // adaptive: fleet-wide kept roots per second
  double min_probability = 0.00001;
  double max_probability = 1.0;
  double initial_probability = 0.001;               // before the key has a traffic estimate
  double lower_bound_traces_per_second = 1.0 / 60;  // fleet-wide, split by traffic share
  double burst = 2.0;                               // local cap = burst × target × client share

  [[nodiscard]] bool adaptive() const noexcept { return !probability.has_value(); }
};

struct Policies {
  // How often clients should Sync, in seconds.
  double sync_interval_seconds = 10.0;
  BatchProfile batch_profile = *BuiltinBatchProfile("balanced");
  std::vector<Rule> rules;  // in priority order; the first match wins
  Rule defaults;            // matches when no rule does

  // The rule that applies to (service, operation); `defaults` when none matches.
  [[nodiscard]] const Rule& Match(std::string_view service, std::string_view operation) const;
};

// Parses policy YAML. Errors name the field path and the limit, e.g.
// "rules[2].max_probability: must be in [0, 1], got 1.5".
[[nodiscard]] absl::StatusOr<Policies> ParsePolicies(std::string_view yaml);
[[nodiscard]] absl::StatusOr<Policies> LoadPoliciesFile(const std::string& path);

}  // namespace fleetrate::server
