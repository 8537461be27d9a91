#include "server/views/debug_handlers.h"

#include <charconv>
#include <string>
#include <string_view>

#include "fleetrate/threshold.h"
#include "server/common/json_writer.h"
#include "server/common/strings.h"

namespace fleetrate::server {
namespace {

constexpr char kJsonContentType[] = "application/json";

struct ReasonName {
  uint16_t bit;
  const char* name;
};

// The names AdminService.ExplainRate uses; a bit this list does not know is shown as a number.
constexpr ReasonName kReasonNames[] = {
    {kFixed, "fixed"},
    {kClampedToMin, "clamped_to_min"},
    {kClampedToMax, "clamped_to_max"},
    {kRaisedToLowerBound, "raised_to_lower_bound"},
    {kCutByBudget, "cut_by_budget"},
    {kBudgetBelowFloors, "budget_below_floors"},
    {kRiseCapped, "rise_capped"},
    {kHeldByTolerance, "held_by_tolerance"},
    {kNoEstimate, "no_estimate"},
};

// The value of an optional parameter given at most once; nullopt if absent.
absl::StatusOr<std::optional<std::string>> OptionalParam(const HttpRequest& request,
                                                         std::string_view name) {
  absl::StatusOr<std::string> value = SingleQueryValue(request.query, name);
  if (value.ok()) return std::optional<std::string>(*std::move(value));
  if (absl::IsNotFound(value.status())) return std::optional<std::string>();
  return value.status();
}

const char* RuleMode(const Rule& rule) {
  if (rule.probability.has_value()) return "fixed";
  return rule.adaptive() ? "adaptive" : "rate_limited";
}

const Rule& RuleOf(const Policies* policies, int index) {
  static const Rule kUnknown;
  if (policies == nullptr) return kUnknown;
  if (index < 0 || static_cast<size_t>(index) >= policies->rules.size()) return policies->defaults;
  return policies->rules[static_cast<size_t>(index)];
}

void WriteRate(JsonWriter& w, const KeyRate& rate, const Policies* policies) {
  w.Key("probability");
  w.Double(rate.probability);
  w.Key("threshold");
  // p = 0 has no OTel encoding: such a key is never sampled.
  if (rate.threshold < kMaxThreshold) {
    w.String(EncodeThreshold(rate.threshold));
  } else {
    w.Null();
  }
  w.Key("wanted_probability");
  w.Double(rate.wanted_probability);
  w.Key("fleet_seen_per_second");
  w.Double(rate.fleet_seen_per_second);
  w.Key("fleet_sampled_per_second");
  w.Double(rate.fleet_sampled_per_second);
  w.Key("local_cap_per_second");
  w.Double(rate.local_cap_per_second);
  w.Key("lower_bound_per_second");
  w.Double(rate.lower_bound_per_second);
  w.Key("rule");
  w.String(RuleOf(policies, rate.rule).name);
  w.Key("reasons");
  w.BeginArray();
  uint16_t known = 0;
  for (const ReasonName& reason : kReasonNames) {
    known |= reason.bit;
    if (rate.reasons & reason.bit) w.String(reason.name);
  }
  for (unsigned bit = 0; bit < 16; ++bit) {
    const auto mask = static_cast<uint16_t>(1u << bit);
    if ((rate.reasons & mask) && !(known & mask)) w.String(StrCat("reason_bit_", bit));
  }
  w.EndArray();
}

void WriteCapture(JsonWriter& w, const CapturePolicy& capture) {
  w.BeginObject();
  w.Key("errors_per_second");
  w.Double(capture.errors_per_second);
  w.Key("slow_threshold_ms");
  w.Uint(capture.slow_threshold_ms);
  w.Key("slow_per_second");
  w.Double(capture.slow_per_second);
  w.EndObject();
}

void WriteRuleSummary(JsonWriter& w, const Rule& rule) {
  w.BeginObject();
  w.Key("name");
  w.String(rule.name);
  w.Key("priority");
  w.Int(rule.priority);
  w.Key("service");
  w.String(rule.service_glob);
  w.Key("environment");
  w.String(rule.environment_glob);
  w.Key("operation");
  w.String(rule.operation_glob);
  w.Key("mode");
  w.String(RuleMode(rule));
  if (rule.probability.has_value()) {
    w.Key("probability");
    w.Double(*rule.probability);
  } else if (rule.adaptive()) {
    w.Key("target_traces_per_second");
    w.Double(rule.target_traces_per_second);
    w.Key("min_probability");
    w.Double(rule.min_probability);
    w.Key("max_probability");
    w.Double(rule.max_probability);
    w.Key("lower_bound_traces_per_second");
    w.Double(rule.lower_bound_traces_per_second);
    w.Key("weight");
    w.Double(rule.weight);
  }
  w.EndObject();
}

}  // namespace

HttpResponse JsonResponse(std::string body) {
  HttpResponse response;
  response.content_type = kJsonContentType;
  response.body = std::move(body);
  response.body += '\n';
  response.headers.emplace_back("Cache-Control", "no-store");
  return response;
}

HttpResponse DebugRates(const RateTables* tables, const HttpRequest& request) {
  absl::StatusOr<std::optional<std::string>> service = OptionalParam(request, "service");
  if (!service.ok()) return TextResponse(400, StrCat(service.status().message(), "\n"));
  absl::StatusOr<std::optional<std::string>> environment = OptionalParam(request, "environment");
  if (!environment.ok()) return TextResponse(400, StrCat(environment.status().message(), "\n"));
  absl::StatusOr<std::optional<std::string>> limit_text = OptionalParam(request, "limit");
  if (!limit_text.ok()) return TextResponse(400, StrCat(limit_text.status().message(), "\n"));
  size_t limit = kDebugRatesDefaultLimit;
  if (*limit_text) {
    const std::string& text = **limit_text;
    const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), limit);
    if (error != std::errc() || end != text.data() + text.size() || limit < 1 ||
        limit > kDebugRatesMaxLimit) {
      return TextResponse(400, StrCat("query parameter 'limit' must be a whole number in [1, ",
                                      kDebugRatesMaxLimit, "], got '", text, "'\n"));
    }
  }
  if (tables == nullptr) return TextResponse(503, "no rate table yet\n");
  const Policies* policies = tables->policies.get();

  size_t scopes_matched = 0, scopes_shown = 0, operations_matched = 0, operations_shown = 0;
  JsonWriter w;
  w.BeginObject();
  w.Key("scopes");
  w.BeginArray();
  for (const auto& [scope, rates] : tables->scopes) {
    if (*service && scope.service != **service) continue;
    if (*environment && scope.environment != **environment) continue;
    ++scopes_matched;
    operations_matched += rates->operations.size();
    // A scope header is listed while there is room for at least one of its operations, so
    // thousands of scopes cannot bloat the page either.
    if (operations_shown >= limit) continue;
    ++scopes_shown;
    w.BeginObject();
    w.Key("service");
    w.String(scope.service);
    w.Key("environment");
    w.String(scope.environment);
    w.Key("version");
    w.Uint(rates->version);
    w.Key("live_clients");
    w.Uint(rates->live_clients);
    w.Key("batch_profile");
    w.String(rates->batch_profile.name);
    w.Key("capture");
    WriteCapture(w, rates->capture);
    w.Key("default");
    w.BeginObject();
    WriteRate(w, rates->default_rate, policies);
    w.EndObject();
    w.Key("operations_total");
    w.Uint(rates->operations.size());
    w.Key("operations");
    w.BeginArray();
    for (const auto& [operation, rate] : rates->operations) {
      if (operations_shown >= limit) break;
      ++operations_shown;
      w.BeginObject();
      w.Key("operation");
      w.String(operation);
      WriteRate(w, rate, policies);
      w.EndObject();
    }
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("scopes_total");
  w.Uint(scopes_matched);
  w.Key("scopes_shown");
  w.Uint(scopes_shown);
  w.Key("operations_total");
  w.Uint(operations_matched);
  w.Key("operations_shown");
  w.Uint(operations_shown);
  w.Key("limit");
  w.Uint(limit);
  const bool truncated = operations_shown < operations_matched || scopes_shown < scopes_matched;
  w.Key("truncated");
  w.Bool(truncated);
  if (truncated) {
    w.Key("note");
    w.String(StrCat("showing ", operations_shown, " of ", operations_matched, " operations and ",
                    scopes_shown, " of ", scopes_matched,
                    " scopes; narrow with ?service= and ?environment=, or raise ?limit= (at most ",
                    kDebugRatesMaxLimit, ")"));
  }
  w.Key("budget_demand_per_second");
  w.Double(tables->budget_demand_per_second);
  w.Key("budget_allocated_per_second");
  w.Double(tables->budget_allocated_per_second);
  w.Key("policies_source");
  w.String(policies != nullptr ? policies->source_name : "");
  w.EndObject();
  return JsonResponse(w.Take());
}

HttpResponse DebugConfig(const Policies* policies, const HttpRequest& request) {
  absl::StatusOr<std::optional<std::string>> format = OptionalParam(request, "format");
  if (!format.ok()) return TextResponse(400, StrCat(format.status().message(), "\n"));
  if (*format && **format != "json" && **format != "yaml") {
    return TextResponse(
        400, StrCat("query parameter 'format' must be 'json' or 'yaml', got '", **format, "'\n"));
  }
  if (policies == nullptr) return TextResponse(503, "no policies yet\n");
  if (*format && **format == "yaml") {
    HttpResponse response = TextResponse(200, policies->source_text);
    response.content_type = "application/yaml; charset=utf-8";
    response.headers.emplace_back("Cache-Control", "no-store");
    return response;
  }
  JsonWriter w;
  w.BeginObject();
  w.Key("source_name");
  w.String(policies->source_name);
  w.Key("source_text");
  w.String(policies->source_text);
  w.Key("summary");
  w.BeginObject();
  w.Key("sync_interval_seconds");
  w.Double(policies->sync_interval_seconds);
  w.Key("budget_traces_per_second");
  if (policies->budget_traces_per_second) {
    w.Double(*policies->budget_traces_per_second);
  } else {
    w.Null();
  }
  w.Key("defaults");
  WriteRuleSummary(w, policies->defaults);
  w.Key("rules");
  w.BeginArray();
  for (const Rule& rule : policies->rules) WriteRuleSummary(w, rule);
  w.EndArray();
  w.Key("services");
  w.BeginArray();
  for (const ServiceSettings& settings : policies->services) {
    w.BeginObject();
    w.Key("service");
    w.String(settings.service_glob);
    w.Key("environment");
    w.String(settings.environment_glob);
    w.Key("batch_profile");
    w.String(settings.batch_profile.name);
    w.Key("capture");
    WriteCapture(w, settings.capture);
    w.EndObject();
  }
  w.EndArray();
  w.Key("default_batch_profile");
  w.String(policies->service_defaults.batch_profile.name);
  w.Key("batch_profiles");
  w.BeginArray();
  for (const auto& [name, profile] : policies->batch_profiles) w.String(name);
  w.EndArray();
  w.EndObject();
  w.EndObject();
  return JsonResponse(w.Take());
}

HttpResponse DebugStore(const StoreStatus& status) {
  JsonWriter w;
  w.BeginObject();
  w.Key("backend");
  w.String(status.backend);
  w.Key("address");
  w.String(status.address);
  w.Key("replica_id");
  w.String(status.replica_id);
  w.Key("connected");
  w.Bool(status.connected);
  w.Key("degraded");
  w.Bool(status.degraded || !status.connected);
  w.Key("degraded_reason");
  w.String(status.degraded_reason);
  w.Key("table_age_seconds");
  w.Double(status.table_age_seconds);
  w.Key("leader");
  w.Bool(status.leader);
  w.Key("leader_id");
  w.String(status.leader_id);
  w.Key("last_error");
  w.String(status.last_error);
  w.Key("last_invalid");
  w.String(status.last_invalid);
  for (const auto& [key, count] : {std::pair<const char*, uint64_t>{"errors", status.errors},
                                   {"reports_written", status.reports_written},
                                   {"reports_read", status.reports_read},
                                   {"reports_dropped", status.reports_dropped},
                                   {"tables_published", status.tables_published},
                                   {"tables_fetched", status.tables_fetched},
                                   {"leader_changes", status.leader_changes},
                                   {"invalid_reports", status.invalid_reports},
                                   {"invalid_entries", status.invalid_entries},
                                   {"invalid_tables", status.invalid_tables},
                                   {"lease_repairs", status.lease_repairs}}) {
    w.Key(key);
    w.Uint(count);
  }
  w.EndObject();
  return JsonResponse(w.Take());
}

void RegisterDebugHandlers(HttpServer& http, const RatePublisher& publisher, const Store& store) {
  http.Handle("/debug/store", [&store](const HttpRequest&) { return DebugStore(store.status()); });
  http.Handle("/debug/rates", [&publisher](const HttpRequest& request) {
    const std::shared_ptr<const RateTables> tables = publisher.Current();
    return DebugRates(tables.get(), request);
  });
  http.Handle("/debug/config", [&publisher](const HttpRequest& request) {
    const std::shared_ptr<const Policies> policies = publisher.policies();
    return DebugConfig(policies.get(), request);
  });
}

}  // namespace fleetrate::server
