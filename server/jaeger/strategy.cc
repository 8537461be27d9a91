#include "server/jaeger/strategy.h"

#include <algorithm>
#include <cmath>
#include <string_view>
#include <unordered_set>
#include <vector>

#include "server/common/json_writer.h"
#include "server/policy/glob.h"
#include "server/rates/rate_engine.h"

namespace fleetrate::server {
namespace {

using jaeger::api_v2::SamplingStrategyResponse;
using jaeger::api_v2::SamplingStrategyType;

const ServiceRates* ScopeForService(const RateTables* tables, const std::string& service) {
  if (tables == nullptr) return nullptr;
  const ServiceRates* best = nullptr;
  for (auto it = tables->scopes.lower_bound(Scope{service, ""});
       it != tables->scopes.end() && it->first.service == service; ++it) {
    if (it->first.environment.empty()) return it->second.get();
    if (best == nullptr || it->second->live_clients > best->live_clients) best = it->second.get();
  }
  return best;
}

// A Jaeger client applies a probability; a rate-limited key becomes the probability that keeps
// its limit on every instance at the observed traffic.
double JaegerProbability(const KeyRate& rate, size_t live_clients) {
  if (!(rate.reasons & kRateLimited)) return rate.probability;
  if (!(rate.fleet_seen_per_second > 0)) return 1.0;
  const double instances = static_cast<double>(std::max<size_t>(1, live_clients));
  return std::min(1.0, rate.local_cap_per_second * instances / rate.fleet_seen_per_second);
}

}  // namespace

SamplingStrategyResponse BuildJaegerStrategy(const RateTables* tables, const Policies& policies,
                                             const std::string& service) {
  const ServiceRates* found = ScopeForService(tables, service);
  const ServiceRates fallback = found ? ServiceRates{} : PolicyOnlyRates(policies, {service, ""});
  const ServiceRates& rates = found ? *found : fallback;
  const KeyRate& fallback_rate = rates.default_rate;

  SamplingStrategyResponse out;
  if (fallback_rate.reasons & kRateLimited) {
    out.set_strategytype(jaeger::api_v2::RATE_LIMITING);
    out.mutable_ratelimitingsampling()->set_maxtracespersecond(
        static_cast<int32_t>(std::lround(fallback_rate.local_cap_per_second)));
    return out;
  }
  out.set_strategytype(jaeger::api_v2::PROBABILISTIC);
  const double default_probability = JaegerProbability(fallback_rate, rates.live_clients);
  out.mutable_probabilisticsampling()->set_samplingrate(default_probability);
  bool any_operation = false;
  for (const auto& [operation, rate] : rates.operations) {
    if (operation == kOverflowOperation) continue;  // already the default
    any_operation = true;
    auto* strategy = out.mutable_operationsampling()->add_peroperationstrategies();
    strategy->set_operation(operation);
    strategy->mutable_probabilisticsampling()->set_samplingrate(
        JaegerProbability(rate, rates.live_clients));
  }
  // Operations a policy rule names literally (as a converted Jaeger strategies file does) are
  // served even before any traffic for them was reported, as Jaeger's static strategies are.
  // A literal rule is served when it is the rule that would match its operation: no earlier
  // rule of this scope names the same operation or has an operation glob that matches it. One
  // pass in rule order, remembering earlier literals in a set, keeps this linear in the rules
  // (asking Policies::MatchIndex per rule rescanned every earlier rule: quadratic).
  const Scope& scope = found ? found->scope : fallback.scope;
  std::unordered_set<std::string_view> earlier_literals;
  std::vector<std::string_view> earlier_globs;
  for (const Rule& rule : policies.rules) {
    if (!GlobMatch(rule.service_glob, scope.service) ||
        !GlobMatch(rule.environment_glob, scope.environment)) {
      continue;
    }
    const std::string& operation = rule.operation_glob;
    if (operation.find_first_of("*?") != std::string::npos) {
      if (operation == "*") break;  // it matches every later literal first
      earlier_globs.push_back(operation);
      continue;
    }
    if (!earlier_literals.insert(operation).second) continue;  // an earlier rule wins
    // A rate limit has no per-operation form in Jaeger; p = 1 without it could flood.
    if (rule.rate_limited() || rates.Find(operation) != nullptr ||
        std::any_of(earlier_globs.begin(), earlier_globs.end(),
                    [&](std::string_view glob) { return GlobMatch(glob, operation); })) {
      continue;
    }
    any_operation = true;
    auto* strategy = out.mutable_operationsampling()->add_peroperationstrategies();
    strategy->set_operation(operation);
    strategy->mutable_probabilisticsampling()->set_samplingrate(
        rule.probability.value_or(rule.initial_probability));
  }
  if (any_operation) {
    auto* per_operation = out.mutable_operationsampling();
    per_operation->set_defaultsamplingprobability(default_probability);
    // Jaeger clients apply the lower bound per instance; ours is fleet-wide. Jaeger clients do
    // not report, so split it across the fleetrate clients of the service when there are any.
    per_operation->set_defaultlowerboundtracespersecond(
        fallback_rate.lower_bound_per_second /
        static_cast<double>(std::max<size_t>(1, rates.live_clients)));
    per_operation->set_defaultupperboundtracespersecond(0);
  }
  return out;
}

std::string JaegerStrategyToJson(const SamplingStrategyResponse& strategy) {
  JsonWriter w;
  w.BeginObject();
  w.Key("strategyType");
  w.String(jaeger::api_v2::SamplingStrategyType_Name(strategy.strategytype()));
  if (strategy.has_probabilisticsampling()) {
    w.Key("probabilisticSampling");
    w.BeginObject();
    w.Key("samplingRate");
    w.Double(strategy.probabilisticsampling().samplingrate());
    w.EndObject();
  }
  if (strategy.has_ratelimitingsampling()) {
    w.Key("rateLimitingSampling");
    w.BeginObject();
    w.Key("maxTracesPerSecond");
    w.Int(strategy.ratelimitingsampling().maxtracespersecond());
    w.EndObject();
  }
  if (strategy.has_operationsampling()) {
    const auto& ops = strategy.operationsampling();
    w.Key("operationSampling");
    w.BeginObject();
    w.Key("defaultSamplingProbability");
    w.Double(ops.defaultsamplingprobability());
    w.Key("defaultLowerBoundTracesPerSecond");
    w.Double(ops.defaultlowerboundtracespersecond());
    w.Key("perOperationStrategies");
    w.BeginArray();
    for (const auto& op : ops.peroperationstrategies()) {
      w.BeginObject();
      w.Key("operation");
      w.String(op.operation());
      w.Key("probabilisticSampling");
      w.BeginObject();
      w.Key("samplingRate");
      w.Double(op.probabilisticsampling().samplingrate());
      w.EndObject();
      w.EndObject();
    }
    w.EndArray();
    w.Key("defaultUpperBoundTracesPerSecond");
    w.Double(ops.defaultupperboundtracespersecond());
    w.EndObject();
  }
  w.EndObject();
  return w.Take();
}

}  // namespace fleetrate::server
