// Fuzz target: a policy document, as YAML (the policy file, SetPolicies) and as a Jaeger
// strategies file (JSON), then the rate engine on what a valid one says.
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string_view>

#include "server/jaeger/strategies_file.h"
#include "server/policy/policy.h"
#include "server/rates/rate_engine.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace fleetrate::server;  // NOLINT: a fuzz target's one function
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  for (auto parsed : {ParsePolicies(text), ParseJaegerStrategies(text)}) {
    if (!parsed.ok()) continue;
    auto policies = std::make_shared<const Policies>(*std::move(parsed));
    FleetEstimate estimate;
    ScopeEstimate scope;
    scope.scope = {"checkout", "prod"};
    scope.live_clients = 3;
    scope.operations = {{"GET /cart", {120, 3, 3}}, {"GET /health", {50, 0, 3}}};
    estimate.scopes.push_back(scope);
    estimate.live_clients = 3;
    estimate.keys = 2;
    (void)ComputeRates(policies, estimate, nullptr, 1);
  }
  return 0;
}
