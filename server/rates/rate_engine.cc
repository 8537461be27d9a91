#include "server/rates/rate_engine.h"

#include <algorithm>
#include <cmath>
#include <numeric>

#include "fleetrate/threshold.h"

namespace fleetrate::server {
namespace {

const Rule& RuleAt(const Policies& policies, int index) {
  return index < 0 ? policies.defaults : policies.rules[static_cast<size_t>(index)];
}

// An adaptive key waiting for the budget and smoothing passes.
struct AdaptiveKey {
  KeyRate* rate;
  const Rule* rule;
};

}  // namespace

const KeyRate* ServiceRates::Find(std::string_view operation) const {
  auto it =
      std::lower_bound(operations.begin(), operations.end(), operation,
                       [](const auto& entry, std::string_view op) { return entry.first < op; });
  return it != operations.end() && it->first == operation ? &it->second : nullptr;
}

bool ServiceRates::SameDecisions(const ServiceRates& other) const {
  if (!(batch_profile == other.batch_profile) || !(capture == other.capture) ||
      !default_rate.SameDecision(other.default_rate) ||
      operations.size() != other.operations.size()) {
    return false;
  }
  for (size_t i = 0; i < operations.size(); ++i) {
    if (operations[i].first != other.operations[i].first ||
        !operations[i].second.SameDecision(other.operations[i].second)) {
      return false;
    }
  }
  return true;
}

std::vector<double> WaterFill(const std::vector<BudgetClaim>& claims, double budget) {
  std::vector<double> allocation(claims.size());
  double remaining = budget;
  for (size_t i = 0; i < claims.size(); ++i) {
    allocation[i] = claims[i].floor;
    remaining -= claims[i].floor;
  }
  if (remaining <= 0) return allocation;  // floors alone use the budget up: floors win

  // Fill the demand above each floor, smallest demand-per-weight first: a key that needs less
  // than its weighted share of what is left takes all it needs and gives the rest back.
  std::vector<size_t> order;
  double weights = 0;
  for (size_t i = 0; i < claims.size(); ++i) {
    if (claims[i].demand > claims[i].floor) {
      order.push_back(i);
      weights += claims[i].weight;
    }
  }
  const auto need = [&](size_t i) {
    return (claims[i].demand - claims[i].floor) / claims[i].weight;
  };
  std::sort(order.begin(), order.end(),
            [&](size_t a, size_t b) { return need(a) != need(b) ? need(a) < need(b) : a < b; });
  for (size_t k = 0; k < order.size(); ++k) {
    const size_t i = order[k];
    if (need(i) * weights <= remaining) {
      allocation[i] = claims[i].demand;
      remaining -= claims[i].demand - claims[i].floor;
      weights -= claims[i].weight;
      continue;
    }
    const double level = remaining / weights;  // kept traces/s per unit of weight
    for (size_t j = k; j < order.size(); ++j) {
      allocation[order[j]] += claims[order[j]].weight * level;
    }
    break;
  }
  return allocation;
}

double SmoothProbability(double previous, double wanted, const Rule& rule,
                         const EngineOptions& options, uint16_t* reasons) noexcept {
  if (!rule.adaptive() || !(previous > 0)) return wanted;
  if (wanted > previous * options.max_rise_factor) {
    *reasons |= kRiseCapped;
    // The bounds may have moved since `previous` (a policy edit): never step outside them.
    return std::clamp(previous * options.max_rise_factor, rule.min_probability,
                      rule.max_probability);
  }
  const bool at_bound = wanted == rule.min_probability || wanted == rule.max_probability;
  const bool previous_in_bounds =
      previous >= rule.min_probability && previous <= rule.max_probability;
  if (!at_bound && previous_in_bounds &&
      std::abs(wanted - previous) <= options.tolerance * previous) {
    *reasons |= kHeldByTolerance;
    return previous;
  }
  return wanted;
}

ServiceRates PolicyOnlyRates(const Policies& policies, const Scope& scope) {
  ServiceRates rates;
  rates.scope = scope;
  // Operation "" stands for "any operation": it matches rules whose operation glob is "*".
  const int index = policies.MatchIndex(scope.service, scope.environment, "");
  const Rule& rule = RuleAt(policies, index);
  KeyRate& rate = rates.default_rate;
  rate.rule = index;
  rate.probability =
      rule.rate_limited() ? 1.0 : rule.probability.value_or(rule.initial_probability);
  rate.wanted_probability = rate.probability;
  rate.threshold = ProbabilityToThreshold(rate.probability);
  rate.reasons = rule.adaptive() ? kNoEstimate : kFixed;
  if (rule.rate_limited()) {
    rate.reasons |= kRateLimited;
    rate.local_cap_per_second = *rule.rate_limit_traces_per_second;
  }
  if (rule.adaptive()) rate.lower_bound_per_second = rule.lower_bound_traces_per_second;
  const ServiceSettings& settings = policies.MatchService(scope.service, scope.environment);
  rates.batch_profile = settings.batch_profile;
  rates.capture = settings.capture;
  return rates;
}

RateTables ComputeRates(std::shared_ptr<const Policies> policies_ptr, const FleetEstimate& estimate,
                        const RateTables* previous, uint64_t next_version,
                        const EngineOptions& options) {
  const Policies& policies = *policies_ptr;
  RateTables tables;
  tables.policies = std::move(policies_ptr);

  // Pass 1: each key's rate from its own traffic and rule.
  std::vector<std::shared_ptr<ServiceRates>> built;
  built.reserve(estimate.scopes.size());
  std::vector<AdaptiveKey> adaptive;
  std::vector<BudgetClaim> claims;
  double fixed_usage = 0;
  for (const ScopeEstimate& scope : estimate.scopes) {
    auto rates = std::make_shared<ServiceRates>(PolicyOnlyRates(policies, scope.scope));
    rates->live_clients = scope.live_clients;
    rates->operations.reserve(scope.operations.size());  // AdaptiveKey points into it
    for (const auto& [operation, key] : scope.operations) {
      const int index =
          policies.MatchIndex(scope.scope.service, scope.scope.environment, operation);
      const Rule& rule = RuleAt(policies, index);
      KeyRate rate;
      rate.rule = index;
      rate.fleet_seen_per_second = key.seen_per_second;
      rate.fleet_sampled_per_second = key.sampled_per_second;
      const double q = key.seen_per_second;
      if (rule.rate_limited()) {
        rate.probability = 1;
        rate.reasons = kFixed | kRateLimited;
        rate.local_cap_per_second = *rule.rate_limit_traces_per_second;
        fixed_usage += std::min(q, rate.local_cap_per_second * static_cast<double>(key.clients));
        rates->operations.emplace_back(operation, rate);
        continue;
      }
      if (!rule.adaptive()) {
        rate.probability = *rule.probability;
        rate.reasons = kFixed;
        fixed_usage += rate.probability * q;
        rates->operations.emplace_back(operation, rate);
        continue;
      }
      const double lower_bound = rule.lower_bound_traces_per_second;
      const double want = std::max(rule.target_traces_per_second, lower_bound);
      if (lower_bound > rule.target_traces_per_second) rate.reasons |= kRaisedToLowerBound;
      double p = q > 0 ? want / q : rule.max_probability;
      if (p < rule.min_probability) {
        p = rule.min_probability;
        rate.reasons |= kClampedToMin;
      } else if (p > rule.max_probability) {
        p = rule.max_probability;
        rate.reasons |= kClampedToMax;
      }
      rate.probability = p;
      rate.lower_bound_per_second = lower_bound;
      const double demand = p * q;
      claims.push_back(
          {demand, std::min(demand, std::max(lower_bound, rule.min_probability * q)), rule.weight});
      rates->operations.emplace_back(operation, rate);
      adaptive.push_back({&rates->operations.back().second, &rule});
    }
    built.push_back(std::move(rates));
  }

  // Pass 2: the global budget, shared by the adaptive keys.
  if (policies.budget_traces_per_second) {
    double demand = 0;
    for (const BudgetClaim& c : claims) demand += c.demand;
    const double available = std::max(0.0, *policies.budget_traces_per_second - fixed_usage);
    tables.budget_demand_per_second = demand + fixed_usage;
    tables.budget_allocated_per_second = tables.budget_demand_per_second;
    if (demand > available) {
      double floors = 0;
      for (const BudgetClaim& c : claims) floors += c.floor;
      const std::vector<double> allocation = WaterFill(claims, available);
      double allocated = 0;
      for (size_t i = 0; i < adaptive.size(); ++i) {
        KeyRate& rate = *adaptive[i].rate;
        allocated += allocation[i];
        if (floors > available) rate.reasons |= kBudgetBelowFloors;
        if (allocation[i] < claims[i].demand * (1 - 1e-12) && rate.fleet_seen_per_second > 0) {
          rate.probability = allocation[i] / rate.fleet_seen_per_second;
          rate.reasons |= kCutByBudget;
        }
      }
      tables.budget_allocated_per_second = allocated + fixed_usage;
    }
  }

  // Pass 3: smoothing against the previous table, thresholds, local caps, versions.
  size_t next_adaptive = 0;
  for (auto& rates : built) {
    const ServiceRates* before = previous != nullptr ? previous->Find(rates->scope) : nullptr;
    for (auto& [operation, rate] : rates->operations) {
      rate.wanted_probability = rate.probability;
      if (!(rate.reasons & kFixed)) {
        const Rule& rule = *adaptive[next_adaptive++].rule;
        const KeyRate* prior = before != nullptr ? before->Find(operation) : nullptr;
        if (prior != nullptr) {
          rate.probability =
              SmoothProbability(prior->probability, rate.probability, rule, options, &rate.reasons);
        }
        rate.local_cap_per_second = rule.burst * rate.probability * rate.fleet_seen_per_second;
        rate.burst = rule.burst;
      }
      rate.threshold = ProbabilityToThreshold(rate.probability);
    }
    // Operations folded into "*" by the cardinality caps are unknown to the table, so clients
    // decide them with the default: make the default the rate computed for their traffic.
    if (const KeyRate* overflow = rates->Find(kOverflowOperation)) {
      rates->default_rate.probability = overflow->probability;
      rates->default_rate.threshold = overflow->threshold;
      rates->default_rate.wanted_probability = overflow->wanted_probability;
      rates->default_rate.reasons = overflow->reasons;
    }
    rates->version =
        (before != nullptr && before->SameDecisions(*rates)) ? before->version : next_version;
    Scope scope = rates->scope;
    tables.scopes.emplace(std::move(scope), std::move(rates));
  }
  return tables;
}

}  // namespace fleetrate::server
