#include "server/service/admin_service.h"

#include "fleetrate/threshold.h"
#include "server/common/log.h"
#include "server/common/strings.h"
#include "server/rates/rate_engine.h"

namespace fleetrate::server {
namespace {

// Equal-length compare that does not stop at the first difference, so response time does not
// reveal how much of a guessed token was right.
bool ConstantTimeEquals(const std::string& a, const std::string& b) {
  unsigned char diff = a.size() == b.size() ? 0 : 1;
  const std::string& longer = a.size() >= b.size() ? a : b;
  for (size_t i = 0; i < longer.size(); ++i) {
    const unsigned char x = i < a.size() ? static_cast<unsigned char>(a[i]) : 0;
    const unsigned char y = i < b.size() ? static_cast<unsigned char>(b[i]) : 0;
    diff |= static_cast<unsigned char>(x ^ y);
  }
  return diff == 0;
}

struct ReasonName {
  RateReason reason;
  const char* name;
  const char* words;
};

constexpr ReasonName kReasons[] = {
    {kFixed, "fixed", "the rule pins the probability"},
    {kRateLimited, "rate_limited", "each client keeps at most the rule's rate limit per second"},
    {kNoEstimate, "no_estimate", "no traffic estimate yet, so the initial probability applies"},
    {kRaisedToLowerBound, "raised_to_lower_bound",
     "the fleet-wide lower bound needs more than the target"},
    {kClampedToMin, "clamped_to_min", "clamped up to min_probability"},
    {kClampedToMax, "clamped_to_max", "clamped down to max_probability"},
    {kCutByBudget, "cut_by_budget", "the global budget's weighted water-filling gave it less"},
    {kBudgetBelowFloors, "budget_below_floors",
     "lower bounds alone exceed the budget, and lower bounds win"},
    {kRiseCapped, "rise_capped", "the rise was capped at x2 per recompute"},
    {kHeldByTolerance, "held_by_tolerance",
     "the change was within the tolerance band, so the previous value stays"},
};

}  // namespace

v1::ExplainRateResponse ExplainRate(const RateTables* tables, const Policies& policies,
                                    const Scope& scope, const std::string& operation) {
  v1::ExplainRateResponse out;
  const ServiceRates* rates = tables != nullptr ? tables->Find(scope) : nullptr;
  const ServiceRates fallback = rates ? ServiceRates{} : PolicyOnlyRates(policies, scope);
  if (rates == nullptr) rates = &fallback;
  const KeyRate* key = rates->Find(operation);
  out.set_known_key(key != nullptr);
  const KeyRate& rate = key != nullptr ? *key : rates->default_rate;
  const Rule& rule = rate.rule < 0 || static_cast<size_t>(rate.rule) >= policies.rules.size()
                         ? policies.defaults
                         : policies.rules[static_cast<size_t>(rate.rule)];

  out.set_probability(rate.probability);
  out.set_threshold(rate.threshold);
  out.set_threshold_hex(rate.threshold < kMaxThreshold ? EncodeThreshold(rate.threshold) : "");
  out.set_fleet_seen_per_second(rate.fleet_seen_per_second);
  out.set_fleet_sampled_per_second(rate.fleet_sampled_per_second);
  out.set_live_clients(static_cast<uint32_t>(rates->live_clients));
  out.set_rule(rule.name);
  out.set_rule_index(rate.rule);
  out.set_mode(rule.adaptive() ? "adaptive" : rule.rate_limited() ? "rate_limited" : "fixed");
  out.set_target_traces_per_second(rule.adaptive() ? rule.target_traces_per_second : 0);
  out.set_min_probability(rule.min_probability);
  out.set_max_probability(rule.max_probability);
  out.set_lower_bound_traces_per_second(rule.adaptive() ? rule.lower_bound_traces_per_second : 0);
  out.set_wanted_probability(rate.wanted_probability);

  std::string text =
      key != nullptr
          ? StrCat("Key (", scope.service, ", ", scope.environment, ", ", operation, ") matched ",
                   rule.adaptive() ? "adaptive" : "fixed", " rule '", rule.name, "'")
          : StrCat("Operation '", operation, "' has no traffic estimate in (", scope.service, ", ",
                   scope.environment, "), so the service default applies, from rule '", rule.name,
                   "'");
  if (key != nullptr && rule.adaptive()) {
    text +=
        StrCat(": target ", rule.target_traces_per_second, " traces/s over a fleet-wide ",
               rate.fleet_seen_per_second, " roots/s from ", rates->live_clients, " live clients");
  }
  for (const ReasonName& r : kReasons) {
    if (rate.reasons & r.reason) {
      out.add_reasons(r.name);
      text += StrCat("; ", r.words);
    }
  }
  if (rate.wanted_probability != rate.probability) {
    text += StrCat(" (wanted ", rate.wanted_probability, ")");
  }
  text += StrCat(". Result: p = ", rate.probability);
  if (rate.threshold < kMaxThreshold) text += StrCat(", tracestate ot=th:", out.threshold_hex());
  text += ".";
  out.set_explanation(text);
  return out;
}

AdminServiceImpl::AdminServiceImpl(RatePublisher& publisher, std::string admin_token,
                                   std::function<void(const absl::Status&)> on_set)
    : publisher_(publisher), admin_token_(std::move(admin_token)), on_set_(std::move(on_set)) {}

grpc::Status AdminServiceImpl::GetPolicies(grpc::ServerContext*, const v1::GetPoliciesRequest*,
                                           v1::GetPoliciesResponse* response) {
  const auto policies = publisher_.policies();
  response->set_yaml(policies->source_text);
  response->set_source(policies->source_name);
  response->set_rules(static_cast<uint32_t>(policies->rules.size()));
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ValidatePolicies(grpc::ServerContext*,
                                                const v1::ValidatePoliciesRequest* request,
                                                v1::ValidatePoliciesResponse* response) {
  auto policies = ParsePolicies(request->yaml());
  response->set_valid(policies.ok());
  if (policies.ok()) {
    response->set_rules(static_cast<uint32_t>(policies->rules.size()));
  } else {
    response->set_error(std::string(policies.status().message()));
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::SetPolicies(grpc::ServerContext* context,
                                           const v1::SetPoliciesRequest* request,
                                           v1::SetPoliciesResponse* response) {
  if (admin_token_.empty()) {
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        "SetPolicies is disabled: start the server with an admin token "
                        "(--admin-token-file or FLEETRATE_ADMIN_TOKEN)");
  }
  const auto& metadata = context->client_metadata();
  auto it = metadata.find("authorization");
  const std::string presented =
      it == metadata.end() ? "" : std::string(it->second.data(), it->second.size());
  if (!ConstantTimeEquals(presented, "Bearer " + admin_token_)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "authorization: expected 'Bearer <admin token>'");
  }
  auto policies = ParsePolicies(request->yaml());
  if (!policies.ok()) {
    if (on_set_) on_set_(policies.status());
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT,
                        std::string(policies.status().message()));
  }
  policies->source_name = "AdminService";
  response->set_rules(static_cast<uint32_t>(policies->rules.size()));
  FLEETRATE_LOG(kInfo) << "policies set through AdminService: " << policies->rules.size()
                       << " rules";
  publisher_.SetPolicies(std::make_shared<const Policies>(*std::move(policies)));
  if (on_set_) on_set_(absl::OkStatus());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::ExplainRate(grpc::ServerContext*,
                                           const v1::ExplainRateRequest* request,
                                           v1::ExplainRateResponse* response) {
  if (request->service().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "service: required, got empty");
  }
  const auto tables = publisher_.Current();
  // Explain with the policies the table was computed with, so rule indexes agree.
  const auto policies = tables && tables->policies ? tables->policies : publisher_.policies();
  *response = fleetrate::server::ExplainRate(
      tables.get(), *policies, {request->service(), request->environment()}, request->operation());
  return grpc::Status::OK;
}

}  // namespace fleetrate::server
