// Store: where client reports go and where the fleet estimate comes from. One implementation per
// backend: MemoryStore (one replica, the default) and, later, Redis (several replicas sharing
// one fleet view). The service layer only talks to this interface.
//
// Implementations are thread-safe: Sync handlers call Report concurrently with the recompute
// thread's Estimate.
#pragma once

#include <cstdint>
#include <string_view>

#include "server/common/clock.h"
#include "server/rates/aggregator.h"
#include "server/rates/fleet_estimate.h"

namespace fleetrate::server {

class Store {
 public:
  virtual ~Store() = default;

  virtual void Report(const ClientReport& report, Duration sync_interval, Timestamp now) = 0;
  [[nodiscard]] virtual FleetEstimate Estimate(Timestamp now) = 0;
  // Reports whose operations were folded into a service's "*" key by the cardinality caps.
  [[nodiscard]] virtual uint64_t overflowed_reports() const = 0;
  // "memory", "redis".
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;
};

}  // namespace fleetrate::server
