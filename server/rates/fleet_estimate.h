// What the fleet saw: per (service, operation), the sum over live clients of each client's
// latest reported root-span rates. Produced by the Aggregator, consumed by the rate engine.
// Plain values; ordered maps keep the engine's output deterministic.
#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace fleetrate::server {

struct KeyEstimate {
  double seen_per_second = 0;     // root spans that asked for a decision, fleet-wide
  double sampled_per_second = 0;  // root spans kept, fleet-wide
  // instance_id → that client's seen_per_second, to split local caps and lower bounds.
  std::map<std::string, double> client_seen_per_second;
};

struct ServiceEstimate {
  std::map<std::string, KeyEstimate> operations;
  size_t live_clients = 0;
};

struct FleetEstimate {
  std::map<std::string, ServiceEstimate> services;
  size_t live_clients = 0;
  size_t keys = 0;
};

// The key that absorbs a service's operations beyond the per-service or per-server caps.
inline constexpr char kOverflowOperation[] = "*";

}  // namespace fleetrate::server
