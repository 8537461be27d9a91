// The rate table the server publishes: per scope (service, environment), the probability of each
// operation, the default for operations it does not list, the batch profile and capture policy,
// under a version.
//
// Fleet-wide values (local cap, lower bound, capture rates) are split per client at Sync time:
// caps and bounds by the client's share of the key's traffic, capture evenly. A version changes
// only when what a client would apply changes; traffic estimates ride along without a bump.
//
// Immutable once published; readers hold std::shared_ptr<const RateTables>.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "server/policy/policy.h"
#include "server/rates/fleet_estimate.h"

namespace fleetrate::server {

// Why a key has the probability it has; ExplainRate turns these into words.
enum RateReason : uint16_t {
  kFixed = 1 << 0,               // a rule pins the probability
  kClampedToMin = 1 << 1,        // target/qps fell below min_probability
  kClampedToMax = 1 << 2,        // target/qps exceeded max_probability
  kRaisedToLowerBound = 1 << 3,  // the fleet-wide lower bound needed more than the target
  kCutByBudget = 1 << 4,         // the global budget's water-filling gave it less
  kBudgetBelowFloors = 1 << 5,   // floors alone exceed the budget; floors win
  kRiseCapped = 1 << 6,          // a rise was capped at max_rise_factor per recompute
  kHeldByTolerance = 1 << 7,     // within the tolerance band: the previous value stays
  kNoEstimate = 1 << 8,          // service default: no traffic to divide by
  kRateLimited = 1 << 9,         // p = 1, each client capped at the rule's rate limit
};

struct KeyRate {
  double probability = 0;
  uint64_t threshold = 0;  // OTel rejection threshold of `probability`
  // Fleet-wide burst × expected kept rate (each client applies its own share, computing
  // burst × p × its own rate); for a rate-limited key, the limit of each client. 0 = no cap.
  double local_cap_per_second = 0;
  double lower_bound_per_second = 0;  // fleet-wide lower bound; 0 = none
  double fleet_seen_per_second = 0;   // the estimate this rate was computed from
  double fleet_sampled_per_second = 0;
  double wanted_probability = 0;  // before the rise cap and tolerance band
  double burst = 0;               // adaptive keys: the rule's burst multiple (sent to clients)
  int rule = -1;                  // index into Policies::rules; -1 = defaults
  uint16_t reasons = 0;           // RateReason bits

  // Whether a client would decide differently. An adaptive key's fleet-wide local cap follows
  // traffic every recompute but clients compute theirs from burst × p × their own rate, so only
  // burst (and a rate limit) count, or versions would churn on Poisson noise.
  [[nodiscard]] bool SameDecision(const KeyRate& other) const noexcept {
    const bool limited = (reasons & kRateLimited) != 0;
    return threshold == other.threshold && lower_bound_per_second == other.lower_bound_per_second &&
           burst == other.burst && limited == ((other.reasons & kRateLimited) != 0) &&
           (!limited || local_cap_per_second == other.local_cap_per_second);
  }
};

struct ServiceRates {
  Scope scope;
  uint64_t version = 0;
  std::vector<std::pair<std::string, KeyRate>> operations;  // sorted by operation
  KeyRate default_rate;                                     // operations not listed
  BatchProfile batch_profile;
  CapturePolicy capture;  // fleet-wide
  size_t live_clients = 0;

  [[nodiscard]] const KeyRate* Find(std::string_view operation) const;
  [[nodiscard]] bool SameDecisions(const ServiceRates& other) const;
};

struct RateTables {
  std::map<Scope, std::shared_ptr<const ServiceRates>> scopes;
  // The policies the table was computed with (for explanations).
  std::shared_ptr<const Policies> policies;
  // Global budget accounting of this recompute (0 when no budget is set).
  double budget_demand_per_second = 0;     // what adaptive keys would keep without a budget
  double budget_allocated_per_second = 0;  // what they keep with it (plus fixed keys' usage)

  [[nodiscard]] const ServiceRates* Find(const Scope& scope) const {
    auto it = scopes.find(scope);
    return it == scopes.end() ? nullptr : it->second.get();
  }
};

// The highest scope version in `tables` (0 if none): a new leader continues above it.
[[nodiscard]] inline uint64_t MaxVersion(const RateTables& tables) {
  uint64_t max = 0;
  for (const auto& [scope, rates] : tables.scopes)
    max = rates->version > max ? rates->version : max;
  return max;
}

}  // namespace fleetrate::server
