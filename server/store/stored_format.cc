#include "server/store/stored_format.h"

#include <algorithm>
#include <chrono>

namespace fleetrate::server {
namespace {

int64_t Millis(Duration d) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(d).count();
}

void ToStored(std::string_view operation, const KeyRate& in, store::v1::StoredKeyRate* out) {
  out->set_operation(std::string(operation));
  out->set_probability(in.probability);
  out->set_threshold(in.threshold);
  out->set_local_cap_per_second(in.local_cap_per_second);
  out->set_lower_bound_per_second(in.lower_bound_per_second);
  out->set_fleet_seen_per_second(in.fleet_seen_per_second);
  out->set_fleet_sampled_per_second(in.fleet_sampled_per_second);
  out->set_wanted_probability(in.wanted_probability);
  out->set_burst(in.burst);
  out->set_rule(in.rule);
  out->set_reasons(in.reasons);
}

KeyRate FromStored(const store::v1::StoredKeyRate& in) {
  KeyRate out;
  out.probability = in.probability();
  out.threshold = in.threshold();
  out.local_cap_per_second = in.local_cap_per_second();
  out.lower_bound_per_second = in.lower_bound_per_second();
  out.fleet_seen_per_second = in.fleet_seen_per_second();
  out.fleet_sampled_per_second = in.fleet_sampled_per_second();
  out.wanted_probability = in.wanted_probability();
  out.burst = in.burst();
  out.rule = in.rule();
  out.reasons = static_cast<uint16_t>(in.reasons());
  return out;
}

}  // namespace

void ToStored(const ClientReport& report, Duration sync_interval, store::v1::StoredReport* out) {
  out->set_service(report.scope.service);
  out->set_environment(report.scope.environment);
  out->set_instance_id(report.instance_id);
  out->set_interval_ms(Millis(report.interval));
  out->set_sync_interval_ms(Millis(sync_interval));
  out->mutable_operations()->Reserve(static_cast<int>(report.operations.size()));
  for (const OperationReport& op : report.operations) {
    store::v1::StoredOperation* stored = out->add_operations();
    stored->set_operation(op.operation);
    stored->set_roots_seen(op.roots_seen);
    stored->set_roots_sampled(op.roots_sampled);
  }
}

ClientReport FromStored(const store::v1::StoredReport& in, Duration* sync_interval) {
  ClientReport out;
  out.scope = {in.service(), in.environment()};
  out.instance_id = in.instance_id();
  out.interval = std::chrono::milliseconds(in.interval_ms());
  *sync_interval = std::chrono::milliseconds(in.sync_interval_ms());
  out.operations.reserve(static_cast<size_t>(in.operations_size()));
  for (const store::v1::StoredOperation& op : in.operations()) {
    out.operations.push_back({op.operation(), op.roots_seen(), op.roots_sampled()});
  }
  return out;
}

void ToStored(const RateTables& tables, store::v1::StoredTables* out) {
  out->set_budget_demand_per_second(tables.budget_demand_per_second);
  out->set_budget_allocated_per_second(tables.budget_allocated_per_second);
  for (const auto& [scope, rates] : tables.scopes) {
    store::v1::StoredScopeRates* s = out->add_scopes();
    s->set_service(scope.service);
    s->set_environment(scope.environment);
    s->set_version(rates->version);
    for (const auto& [operation, rate] : rates->operations) {
      ToStored(operation, rate, s->add_operations());
    }
    ToStored("", rates->default_rate, s->mutable_default_rate());
    s->set_batch_profile_name(rates->batch_profile.name);
    s->set_max_queue_size(rates->batch_profile.max_queue_size);
    s->set_max_export_batch_size(rates->batch_profile.max_export_batch_size);
    s->set_schedule_delay_ms(rates->batch_profile.schedule_delay_ms);
    s->set_export_timeout_ms(rates->batch_profile.export_timeout_ms);
    s->set_capture_errors_per_second(rates->capture.errors_per_second);
    s->set_capture_slow_threshold_ms(rates->capture.slow_threshold_ms);
    s->set_capture_slow_per_second(rates->capture.slow_per_second);
    s->set_live_clients(rates->live_clients);
  }
}

std::shared_ptr<const RateTables> FromStored(const store::v1::StoredTables& in,
                                             std::shared_ptr<const Policies> policies) {
  auto tables = std::make_shared<RateTables>();
  tables->policies = std::move(policies);
  tables->budget_demand_per_second = in.budget_demand_per_second();
  tables->budget_allocated_per_second = in.budget_allocated_per_second();
  for (const store::v1::StoredScopeRates& s : in.scopes()) {
    auto rates = std::make_shared<ServiceRates>();
    rates->scope = {s.service(), s.environment()};
    rates->version = s.version();
    rates->operations.reserve(static_cast<size_t>(s.operations_size()));
    for (const store::v1::StoredKeyRate& op : s.operations()) {
      rates->operations.emplace_back(op.operation(), FromStored(op));
    }
    // Readers binary-search operations; a table from another writer is not trusted to be sorted.
    std::sort(rates->operations.begin(), rates->operations.end(),
              [](const auto& a, const auto& b) { return a.first < b.first; });
    rates->default_rate = FromStored(s.default_rate());
    rates->batch_profile.name = s.batch_profile_name();
    rates->batch_profile.max_queue_size = s.max_queue_size();
    rates->batch_profile.max_export_batch_size = s.max_export_batch_size();
    rates->batch_profile.schedule_delay_ms = s.schedule_delay_ms();
    rates->batch_profile.export_timeout_ms = s.export_timeout_ms();
    rates->capture.errors_per_second = s.capture_errors_per_second();
    rates->capture.slow_threshold_ms = s.capture_slow_threshold_ms();
    rates->capture.slow_per_second = s.capture_slow_per_second();
    rates->live_clients = static_cast<size_t>(s.live_clients());
    tables->scopes.emplace(rates->scope, std::move(rates));
  }
  return tables;
}

}  // namespace fleetrate::server
