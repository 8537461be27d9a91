// The rate engine: a pure function from (policies, fleet estimate, previous table) to the next
// rate table. No I/O, no clock, no threads — the same inputs give the same table.
//
// For an adaptive key with fleet traffic q and target t (kept traces per second, fleet-wide):
//   p = clamp(t / q, min_probability, max_probability)
// in one step, because clients report every root they saw, not only the sampled ones. Then:
//   - falls apply at once (protect the tracing backend);
//   - rises are capped at `max_rise_factor` × the previous p per recompute;
//   - a change within `tolerance` of the previous p keeps the previous p, so versions do not
//     churn on Poisson noise (a clamp bound is always reached exactly).
// Fixed keys take the rule's probability. A service's version changes only when a decision a
// client applies changes; it then takes `next_version`.
//
//   RateTables next = ComputeRates(policies, estimate, previous.get(), version++, {});
#pragma once

#include <cstdint>

#include "server/policy/policy.h"
#include "server/rates/fleet_estimate.h"
#include "server/rates/rate_table.h"

namespace fleetrate::server {

struct EngineOptions {
  double max_rise_factor = 2.0;
  double tolerance = 0.10;
};

// The rate an adaptive or fixed rule gives a key with `seen_per_second` fleet traffic, before
// the rise cap and tolerance band.
[[nodiscard]] double TargetProbability(const Rule& rule, double seen_per_second) noexcept;

// Applies the rise cap and tolerance band of `options` to a move from `previous` to `wanted`.
[[nodiscard]] double SmoothProbability(double previous, double wanted, const Rule& rule,
                                       const EngineOptions& options) noexcept;

[[nodiscard]] RateTables ComputeRates(const Policies& policies, const FleetEstimate& estimate,
                                      const RateTables* previous, uint64_t next_version,
                                      const EngineOptions& options = {});

// The rates a service gets before any client of it has reported traffic.
[[nodiscard]] ServiceRates PolicyOnlyRates(const Policies& policies, const std::string& service);

}  // namespace fleetrate::server
