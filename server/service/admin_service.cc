#include "server/service/admin_service.h"

#include "fleetrate/threshold.h"
#include "server/common/log.h"
#include "server/common/raw_unary.h"
#include "server/common/strings.h"
#include "server/rates/rate_engine.h"
#include "server/service/metrics.h"
#include "server/views/debug_handlers.h"

namespace fleetrate::server {
namespace {

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

const Rule& RuleOf(const Policies* policies, int index) {
  static const Rule kUnknown;
  if (policies == nullptr) return kUnknown;
  if (index < 0 || static_cast<size_t>(index) >= policies->rules.size()) return policies->defaults;
  return policies->rules[static_cast<size_t>(index)];
}

}  // namespace

v1::GetRatesResponse RatesOf(const RateTables* tables, const v1::GetRatesRequest& request) {
  v1::GetRatesResponse out;
  if (tables == nullptr) return out;
  const size_t limit = request.limit() == 0 ? kDebugRatesDefaultLimit : request.limit();
  const Policies* policies = tables->policies.get();
  uint64_t operations_total = 0, operations_shown = 0;
  uint32_t scopes_total = 0;
  for (const auto& [scope, rates] : tables->scopes) {
    if (!request.service().empty() && scope.service != request.service()) continue;
    if (!request.environment().empty() && scope.environment != request.environment()) continue;
    ++scopes_total;
    operations_total += rates->operations.size();
    v1::ScopeRates* s = out.add_scopes();
    s->set_service(scope.service);
    s->set_environment(scope.environment);
    s->set_version(rates->version);
    s->set_live_clients(static_cast<uint32_t>(rates->live_clients));
    s->set_default_probability(rates->default_rate.probability);
    s->set_operations_total(static_cast<uint32_t>(rates->operations.size()));
    double seen = 0, target = 0, sampled = 0;
    for (const auto& [operation, rate] : rates->operations) {
      const double key_target = ExpectedSampledPerSecond(rate, rates->live_clients);
      seen += rate.fleet_seen_per_second;
      target += key_target;
      sampled += rate.fleet_sampled_per_second;
      if (request.omit_operations() || operations_shown >= limit) continue;
      ++operations_shown;
      v1::OperationRates* o = s->add_operations();
      o->set_operation(operation);
      o->set_fleet_seen_per_second(rate.fleet_seen_per_second);
      o->set_target_traces_per_second(key_target);
      o->set_fleet_sampled_per_second(rate.fleet_sampled_per_second);
      o->set_probability(rate.probability);
      if (rate.threshold < kMaxThreshold) o->set_threshold_hex(EncodeThreshold(rate.threshold));
      o->set_rule(RuleOf(policies, rate.rule).name);
      for (const ReasonName& r : kReasons) {
        if (rate.reasons & r.reason) o->add_reasons(r.name);
      }
    }
    s->set_fleet_seen_per_second(seen);
    s->set_target_traces_per_second(target);
    s->set_fleet_sampled_per_second(sampled);
  }
  out.set_scopes_total(scopes_total);
  out.set_operations_total(operations_total);
  out.set_operations_shown(operations_shown);
  out.set_truncated(!request.omit_operations() && operations_shown < operations_total);
  return out;
}

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
                                   std::function<void(const absl::Status&)> on_set,
                                   AdminServerInfo info)
    : publisher_(publisher),
      admin_token_(std::move(admin_token)),
      on_set_(std::move(on_set)),
      info_(info) {}

grpc::Status AdminServiceImpl::Check(Access access, const grpc::ServerContextBase& context) const {
  switch (access) {
    case Access::kOpen:
      return grpc::Status::OK;
    case Access::kRead:
      return AuthorizeRead(context);
    case Access::kWrite:
      if (admin_token_.empty()) {
        return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                            "SetPolicies is disabled: start the server with an admin token "
                            "(--admin-token-file or FLEETRATE_ADMIN_TOKEN)");
      }
      return Authorize(context);
  }
  return grpc::Status::OK;
}

template <typename Request, typename Response>
grpc::ServerUnaryReactor* AdminServiceImpl::Serve(
    grpc::CallbackServerContext* context, const grpc::ByteBuffer& bytes, grpc::ByteBuffer* out,
    Access access, grpc::Status (AdminServiceImpl::*body)(const Request&, Response*)) {
  Response response;
  grpc::Status status = Check(access, *context);  // before the request is read
  Request request;
  if (status.ok()) status = ParseCheckingUtf8(bytes, &request);
  if (status.ok()) status = (this->*body)(request, &response);
  return FinishRawCall(context, status, response, out);
}

grpc::Status AdminServiceImpl::GetPolicies(grpc::ServerContext* context,
                                           const v1::GetPoliciesRequest*,
                                           v1::GetPoliciesResponse* response) {
  if (grpc::Status s = AuthorizeRead(*context); !s.ok()) return s;
  const auto policies = publisher_.policies();
  response->set_yaml(policies->source_text);
  response->set_source(policies->source_name);
  response->set_rules(static_cast<uint32_t>(policies->rules.size()));
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* AdminServiceImpl::ValidatePolicies(grpc::CallbackServerContext* context,
                                                             const grpc::ByteBuffer* request,
                                                             grpc::ByteBuffer* response) {
  return Serve(context, *request, response, Access::kRead, &AdminServiceImpl::DoValidatePolicies);
}

grpc::Status AdminServiceImpl::DoValidatePolicies(const v1::ValidatePoliciesRequest& request,
                                                  v1::ValidatePoliciesResponse* response) {
  const absl::Status blank = CheckNotBlank(request.yaml());
  auto policies = blank.ok() ? ParsePolicies(request.yaml()) : absl::StatusOr<Policies>(blank);
  response->set_valid(policies.ok());
  if (policies.ok()) {
    response->set_rules(static_cast<uint32_t>(policies->rules.size()));
  } else {
    response->set_error(std::string(policies.status().message()));
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::Authorize(const grpc::ServerContextBase& context) const {
  const auto& metadata = context.client_metadata();
  auto it = metadata.find("authorization");
  const std::string_view presented = it == metadata.end()
                                         ? std::string_view()
                                         : std::string_view(it->second.data(), it->second.size());
  if (!ConstantTimeEquals(presented, "Bearer " + admin_token_)) {
    return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                        "authorization: expected 'Bearer <admin token>'");
  }
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::AuthorizeRead(const grpc::ServerContextBase& context) const {
  return info_.reads_need_token ? Authorize(context) : grpc::Status::OK;
}

grpc::ServerUnaryReactor* AdminServiceImpl::SetPolicies(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return Serve(context, *request, response, Access::kWrite, &AdminServiceImpl::DoSetPolicies);
}

grpc::Status AdminServiceImpl::DoSetPolicies(const v1::SetPoliciesRequest& request,
                                             v1::SetPoliciesResponse* response) {
  const absl::Status blank = CheckNotBlank(request.yaml());
  auto policies = blank.ok() ? ParsePolicies(request.yaml()) : absl::StatusOr<Policies>(blank);
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

grpc::ServerUnaryReactor* AdminServiceImpl::ExplainRate(grpc::CallbackServerContext* context,
                                                        const grpc::ByteBuffer* request,
                                                        grpc::ByteBuffer* response) {
  return Serve(context, *request, response, Access::kRead, &AdminServiceImpl::DoExplainRate);
}

grpc::Status AdminServiceImpl::DoExplainRate(const v1::ExplainRateRequest& request,
                                             v1::ExplainRateResponse* response) {
  if (request.service().empty()) {
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "service: required, got empty");
  }
  const auto tables = publisher_.Current();
  // Explain with the policies the table was computed with, so rule indexes agree.
  const auto policies = tables && tables->policies ? tables->policies : publisher_.policies();
  *response = fleetrate::server::ExplainRate(
      tables.get(), *policies, {request.service(), request.environment()}, request.operation());
  return grpc::Status::OK;
}

grpc::Status AdminServiceImpl::GetStatus(grpc::ServerContext* context, const v1::GetStatusRequest*,
                                         v1::GetStatusResponse* response) {
  if (grpc::Status s = AuthorizeRead(*context); !s.ok()) return s;
  response->set_version(FLEETRATE_VERSION);
  if (info_.clock != nullptr) {
    response->set_uptime_seconds(Seconds(info_.clock->Now() - info_.started));
  }
  if (info_.store != nullptr) {
    const StoreStatus status = info_.store->status();
    v1::StoreInfo* store = response->mutable_store();
    store->set_backend(status.backend);
    store->set_address(status.address);
    store->set_replica_id(status.replica_id);
    store->set_connected(status.connected);
    store->set_leader(status.leader);
    store->set_leader_id(status.leader_id);
    store->set_last_error(status.last_error);
  }
  const auto policies = publisher_.policies();
  response->set_policy_source(policies->source_name);
  response->set_policy_rules(static_cast<uint32_t>(policies->rules.size()));
  const auto tables = publisher_.Current();
  if (tables == nullptr) return grpc::Status::OK;
  size_t live_clients = 0, keys = 0;
  double seen = 0, sampled = 0, target = 0;
  for (const auto& [scope, rates] : tables->scopes) {
    live_clients += rates->live_clients;
    keys += rates->operations.size();
    for (const auto& [operation, rate] : rates->operations) {
      seen += rate.fleet_seen_per_second;
      sampled += rate.fleet_sampled_per_second;
      target += ExpectedSampledPerSecond(rate, rates->live_clients);
    }
  }
  response->set_live_clients(static_cast<uint32_t>(live_clients));
  response->set_keys(keys);
  response->set_scopes(tables->scopes.size());
  response->set_table_version(MaxVersion(*tables));
  response->set_fleet_seen_per_second(seen);
  response->set_fleet_sampled_per_second(sampled);
  response->set_target_traces_per_second(target);
  return grpc::Status::OK;
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetRates(grpc::CallbackServerContext* context,
                                                     const grpc::ByteBuffer* request,
                                                     grpc::ByteBuffer* response) {
  return Serve(context, *request, response, Access::kRead, &AdminServiceImpl::DoGetRates);
}

grpc::Status AdminServiceImpl::DoGetRates(const v1::GetRatesRequest& request,
                                          v1::GetRatesResponse* response) {
  if (request.limit() > kDebugRatesMaxLimit) {
    return grpc::Status(
        grpc::StatusCode::INVALID_ARGUMENT,
        StrCat("limit: must be at most ", kDebugRatesMaxLimit, ", got ", request.limit()));
  }
  const auto tables = publisher_.Current();
  *response = RatesOf(tables.get(), request);
  return grpc::Status::OK;
}

}  // namespace fleetrate::server
