// Jaeger strategies files as fleetrate policies, so a Jaeger user migrates by passing the file
// they already have (`fleetrate-server --jaeger-strategies FILE`).
//
// The file (service_strategies, default_strategy, operation_strategies; types probabilistic
// and ratelimiting) becomes a policy document with Jaeger's semantics:
//   - default_strategy → defaults (no default_strategy: probabilistic 0.001, as Jaeger);
//   - each service → a rule for its operation strategies (or, when it has none, the default's)
//     and a rule for the service itself, whose rate is its default for other operations;
//   - the default's operation strategies → rules for every other service.
// Errors name the Jaeger field and line, e.g. "service_strategies[1].type: must be
// probabilistic or ratelimiting, got 'const' (line 7)".
#pragma once

#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "server/policy/policy.h"

namespace fleetrate::server {

// The fleetrate policy YAML a Jaeger strategies document stands for.
[[nodiscard]] absl::StatusOr<std::string> JaegerStrategiesToPolicyYaml(std::string_view json);

// Converts and parses; the policies' source_text is the generated YAML.
[[nodiscard]] absl::StatusOr<Policies> ParseJaegerStrategies(std::string_view json);
[[nodiscard]] absl::StatusOr<Policies> LoadJaegerStrategiesFile(const std::string& path);

}  // namespace fleetrate::server
