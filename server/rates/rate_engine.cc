#include "server/rates/rate_engine.h"

#include <algorithm>
#include <cmath>

#include "fleetrate/threshold.h"

namespace fleetrate::server {
namespace {

KeyRate MakeRate(double probability, const Rule& rule) {
  KeyRate rate;
  rate.probability = probability;
  rate.threshold = ProbabilityToThreshold(probability);
  rate.rule = rule.name;
  if (rule.adaptive()) {
    rate.local_cap_per_second = rule.burst * rule.target_traces_per_second;
    rate.lower_bound_per_second = rule.lower_bound_traces_per_second;
  }
  return rate;
}

// The default for operations a service's table does not list: a fixed rule's probability, or
// the adaptive rule's initial probability (there is no traffic to divide by).
KeyRate DefaultRate(const Policies& policies, const std::string& service) {
  // Operation "" stands for "any operation": it matches rules whose operation glob is "*".
  const Rule& rule = policies.Match(service, "");
  KeyRate rate = MakeRate(rule.probability.value_or(rule.initial_probability), rule);
  rate.local_cap_per_second = 0;  // no traffic estimate to size a cap from
  return rate;
}

}  // namespace

bool ServiceRates::SameDecisions(const ServiceRates& other) const {
  if (!(batch_profile == other.batch_profile) || !default_rate.SameDecision(other.default_rate) ||
      operations.size() != other.operations.size()) {
    return false;
  }
  auto a = operations.begin();
  auto b = other.operations.begin();
  for (; a != operations.end(); ++a, ++b) {
    if (a->first != b->first || !a->second.SameDecision(b->second)) return false;
  }
  return true;
}

double TargetProbability(const Rule& rule, double seen_per_second) noexcept {
  if (!rule.adaptive()) return *rule.probability;
  if (!(seen_per_second > 0)) return rule.max_probability;  // idle: nothing to protect
  const double p = rule.target_traces_per_second / seen_per_second;
  return std::clamp(p, rule.min_probability, rule.max_probability);
}

double SmoothProbability(double previous, double wanted, const Rule& rule,
                         const EngineOptions& options) noexcept {
  if (!rule.adaptive() || !(previous > 0)) return wanted;
  if (wanted > previous) wanted = std::min(wanted, previous * options.max_rise_factor);
  const bool at_bound = wanted == rule.min_probability || wanted == rule.max_probability;
  if (!at_bound && std::abs(wanted - previous) <= options.tolerance * previous) return previous;
  return wanted;
}

ServiceRates PolicyOnlyRates(const Policies& policies, const std::string& service) {
  ServiceRates rates;
  rates.default_rate = DefaultRate(policies, service);
  rates.batch_profile = policies.batch_profile;
  return rates;
}

RateTables ComputeRates(const Policies& policies, const FleetEstimate& estimate,
                        const RateTables* previous, uint64_t next_version,
                        const EngineOptions& options) {
  RateTables tables;
  for (const auto& [service, service_estimate] : estimate.services) {
    auto rates = std::make_shared<ServiceRates>(PolicyOnlyRates(policies, service));
    rates->live_clients = service_estimate.live_clients;
    const ServiceRates* before = previous != nullptr ? previous->Find(service) : nullptr;
    for (const auto& [operation, key] : service_estimate.operations) {
      const Rule& rule = policies.Match(service, operation);
      double p = TargetProbability(rule, key.seen_per_second);
      if (before != nullptr) {
        auto it = before->operations.find(operation);
        if (it != before->operations.end())
          p = SmoothProbability(it->second.probability, p, rule, options);
      }
      KeyRate rate = MakeRate(p, rule);
      rate.fleet_seen_per_second = key.seen_per_second;
      rates->operations.emplace(operation, std::move(rate));
      if (key.seen_per_second > 0) {
        auto& shares = rates->client_share[operation];
        for (const auto& [instance, seen] : key.client_seen_per_second) {
          shares.emplace(instance, seen / key.seen_per_second);
        }
      }
    }
    rates->version =
        (before != nullptr && before->SameDecisions(*rates)) ? before->version : next_version;
    tables.services.emplace(service, std::move(rates));
  }
  return tables;
}

}  // namespace fleetrate::server
