// The rate engine: a pure function from (policies, fleet estimate, previous table) to the next
// rate table. No I/O, no clock, no threads — the same inputs give the same table.
//
// For an adaptive key with fleet traffic q, target t and lower bound b (kept traces per second,
// fleet-wide), in one step, because clients report every root they saw:
//   wanted = clamp(max(t, b) / q, min_probability, max_probability)
// With a global budget B, adaptive keys share what fixed keys leave of B by weighted
// water-filling (keys that need less than their share give the rest back); no key is cut below
// its floor max(b, min_probability × q), and floors win when they alone exceed B.
// Against the previous table:
//   - falls apply at once (protect the tracing backend);
//   - rises are capped at `max_rise_factor` × the previous p per recompute;
//   - a change within `tolerance` of the previous p keeps the previous p, so versions do not
//     churn on Poisson noise (a clamp bound is always reached exactly).
// Fixed keys take the rule's probability. A scope's version changes only when a decision a
// client applies changes; it then takes `next_version`.
//
//   RateTables next = ComputeRates(policies, estimate, previous.get(), version++, {});
#pragma once

#include <cstdint>
#include <memory>

#include "server/policy/policy.h"
#include "server/rates/fleet_estimate.h"
#include "server/rates/rate_table.h"

namespace fleetrate::server {

struct EngineOptions {
  double max_rise_factor = 2.0;
  double tolerance = 0.10;
};

// One key's demand on the budget, for WaterFill.
struct BudgetClaim {
  double demand = 0;  // kept traces/s it would take without a budget
  double floor = 0;   // kept traces/s it keeps whatever the budget (<= demand)
  double weight = 1;  // > 0
};

// Weighted water-filling: returns per claim the kept traces/s, floor <= a <= demand, with
// sum(a) = min(budget, sum(demand)) unless sum(floor) > budget (then a = floor). Keys whose
// demand above their floor is below their weighted share get all of it; the rest is split in
// proportion to weight.
[[nodiscard]] std::vector<double> WaterFill(const std::vector<BudgetClaim>& claims, double budget);

// Applies the rise cap and tolerance band of `options` to a move from `previous` to `wanted`;
// sets kRiseCapped or kHeldByTolerance in *reasons.
[[nodiscard]] double SmoothProbability(double previous, double wanted, const Rule& rule,
                                       const EngineOptions& options, uint16_t* reasons) noexcept;

[[nodiscard]] RateTables ComputeRates(std::shared_ptr<const Policies> policies,
                                      const FleetEstimate& estimate, const RateTables* previous,
                                      uint64_t next_version, const EngineOptions& options = {});

// The rates a scope gets before any client of it has reported traffic (version 0).
[[nodiscard]] ServiceRates PolicyOnlyRates(const Policies& policies, const Scope& scope);

}  // namespace fleetrate::server
