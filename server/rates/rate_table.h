// The rate table the server publishes: per service, the probability of each operation, the
// service default for operations it does not list, and the batch profile, under a version.
//
// Fleet-wide values (local cap, lower bound) are split per client at Sync time by the client's
// share of the key's traffic (`client_share`). A version changes only when what a client would
// apply changes; shares move with traffic and ride along without a version bump.
//
// Immutable once published; readers hold std::shared_ptr<const RateTables>.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "server/policy/policy.h"

namespace fleetrate::server {

struct KeyRate {
  double probability = 0;
  uint64_t threshold = 0;             // OTel rejection threshold of `probability`
  double local_cap_per_second = 0;    // fleet-wide burst × target; 0 = no cap
  double lower_bound_per_second = 0;  // fleet-wide lower bound; 0 = none
  double fleet_seen_per_second = 0;   // the estimate this rate was computed from
  std::string rule;                   // the policy rule that decided it

  // What a client applies; the estimate and rule name do not count.
  [[nodiscard]] bool SameDecision(const KeyRate& other) const noexcept {
    return threshold == other.threshold && local_cap_per_second == other.local_cap_per_second &&
           lower_bound_per_second == other.lower_bound_per_second;
  }
};

struct ServiceRates {
  uint64_t version = 0;
  std::map<std::string, KeyRate> operations;
  KeyRate default_rate;  // operations not listed
  BatchProfile batch_profile;
  // operation → instance_id → that client's fraction of the key's fleet traffic.
  std::map<std::string, std::map<std::string, double>> client_share;
  size_t live_clients = 0;

  [[nodiscard]] bool SameDecisions(const ServiceRates& other) const;
};

struct RateTables {
  std::map<std::string, std::shared_ptr<const ServiceRates>> services;

  [[nodiscard]] const ServiceRates* Find(const std::string& service) const {
    auto it = services.find(service);
    return it == services.end() ? nullptr : it->second.get();
  }
};

}  // namespace fleetrate::server
