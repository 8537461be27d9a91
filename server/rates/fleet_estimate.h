// What the fleet saw: per scope (service, environment) and operation, the sum over live clients
// of each client's latest reported root-span rates. Produced by the Aggregator, consumed by the
// rate engine. Plain values in sorted vectors, so the engine's output is deterministic.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace fleetrate::server {

// The unit rates are computed for: a service in one environment. Rules may match both.
struct Scope {
  std::string service;
  std::string environment;

  friend bool operator==(const Scope& a, const Scope& b) {
    return a.service == b.service && a.environment == b.environment;
  }
  friend bool operator<(const Scope& a, const Scope& b) {
    return a.service != b.service ? a.service < b.service : a.environment < b.environment;
  }
};

struct ScopeHash {
  size_t operator()(const Scope& s) const noexcept {
    return std::hash<std::string>()(s.service) * 31 + std::hash<std::string>()(s.environment);
  }
};

struct KeyEstimate {
  double seen_per_second = 0;     // root spans that asked for a decision, fleet-wide
  double sampled_per_second = 0;  // root spans kept, fleet-wide
  uint32_t clients = 0;           // live clients reporting this key
};

struct ScopeEstimate {
  Scope scope;
  std::vector<std::pair<std::string, KeyEstimate>> operations;  // sorted by operation
  size_t live_clients = 0;
};

struct FleetEstimate {
  std::vector<ScopeEstimate> scopes;  // sorted by scope
  size_t live_clients = 0;
  size_t keys = 0;
};

// The key that absorbs a scope's operations beyond the per-service or per-server caps.
inline constexpr char kOverflowOperation[] = "*";

}  // namespace fleetrate::server
