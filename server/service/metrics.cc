#include "server/service/metrics.h"

#include <algorithm>
#include <utility>

#include "server/common/utf8.h"

namespace fleetrate::server {
namespace {

prometheus::Histogram::BucketBoundaries LatencyBuckets() {
  return {0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1};
}

prometheus::Family<prometheus::Gauge>& GaugeFamily(prometheus::Registry& registry,
                                                   const std::string& name,
                                                   const std::string& help) {
  return prometheus::BuildGauge().Name(name).Help(help).Register(registry);
}

prometheus::Gauge& SingleGauge(prometheus::Registry& registry, const std::string& name,
                               const std::string& help) {
  return GaugeFamily(registry, name, help).Add({});
}

prometheus::Family<prometheus::Counter>& CounterFamily(prometheus::Registry& registry,
                                                       const std::string& name,
                                                       const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(registry);
}

prometheus::Counter& SingleCounter(prometheus::Registry& registry, const std::string& name,
                                   const std::string& help) {
  return CounterFamily(registry, name, help).Add({});
}

}  // namespace

std::string SanitizeLabelValue(std::string_view value) {
  std::string out;
  out.reserve(std::min(value.size(), kMaxLabelValueBytes));
  for (size_t i = 0; i < value.size();) {
    const auto byte = static_cast<unsigned char>(value[i]);
    size_t length = 1;
    if (byte >= 0xc2 && byte <= 0xdf) {
      length = 2;
    } else if (byte >= 0xe0 && byte <= 0xef) {
      length = 3;
    } else if (byte >= 0xf0 && byte <= 0xf4) {
      length = 4;
    }
    std::string_view character = value.substr(i, length);
    if (byte >= 0x80 && (length == 1 || FirstInvalidUtf8(character) != std::string_view::npos)) {
      character = "_";  // not UTF-8: replaced byte by byte
      length = 1;
    } else if (byte < 0x20 || byte == 0x7f ||
               (byte == 0xc2 && static_cast<unsigned char>(value[i + 1]) < 0xa0)) {
      character = "_";  // a control character (C0, DEL, C1)
    }
    if (out.size() + character.size() > kMaxLabelValueBytes) break;
    out.append(character);
    i += length;
  }
  return out;
}

double ExpectedSampledPerSecond(const KeyRate& rate, size_t live_clients) {
  const double kept = rate.probability * rate.fleet_seen_per_second;
  // Adaptive keys carry a fleet-wide cap of burst × kept; only a fixed key with a cap is
  // rate-limited, and there the cap is per client.
  if ((rate.reasons & kFixed) != 0 && rate.local_cap_per_second > 0) {
    return std::min(kept, rate.local_cap_per_second * static_cast<double>(live_clients));
  }
  return kept;
}

ServiceTraffic TrafficOf(const ServiceRates& rates) {
  ServiceTraffic traffic;
  for (const auto& [operation, rate] : rates.operations) {
    traffic.seen += rate.fleet_seen_per_second;
    traffic.sampled += rate.fleet_sampled_per_second;
    traffic.target += ExpectedSampledPerSecond(rate, rates.live_clients);
  }
  return traffic;
}

std::vector<ScopeTraffic> BusiestScopes(const RateTables& tables, size_t limit) {
  std::vector<ScopeTraffic> scopes;
  scopes.reserve(tables.scopes.size());
  for (const auto& [scope, rates] : tables.scopes)
    scopes.push_back({rates.get(), TrafficOf(*rates)});
  const size_t count = std::min(scopes.size(), limit);
  std::partial_sort(scopes.begin(), scopes.begin() + static_cast<ptrdiff_t>(count), scopes.end(),
                    [](const ScopeTraffic& a, const ScopeTraffic& b) {
                      if (a.traffic.seen != b.traffic.seen) return a.traffic.seen > b.traffic.seen;
                      return a.rates->scope < b.rates->scope;
                    });
  scopes.resize(count);
  return scopes;
}

ServerMetrics::ServerMetrics(std::shared_ptr<prometheus::Registry> registry, MetricsLimits limits)
    : live_clients(SingleGauge(*registry, "fleetrate_live_clients",
                               "Clients whose latest Sync has not expired")),
      keys_tracked(SingleGauge(*registry, "fleetrate_keys_tracked",
                               "(service, environment, operation) keys with a live traffic "
                               "estimate")),
      keys_overflowed(SingleCounter(*registry, "fleetrate_keys_overflowed_total",
                                    "Reported operations folded into a service's '*' key by the "
                                    "cardinality caps")),
      recompute_duration(prometheus::BuildHistogram()
                             .Name("fleetrate_recompute_duration_seconds")
                             .Help("Time to compute the rate table from the fleet estimate")
                             .Register(*registry)
                             .Add({}, LatencyBuckets())),
      recomputes(
          SingleCounter(*registry, "fleetrate_recomputes_total", "Rate table recomputations")),
      registry_(std::move(registry)),
      process_(std::make_shared<ProcessCollector>()),
      limits_(limits),
      sync_requests_(CounterFamily(*registry_, "fleetrate_sync_requests_total",
                                   "Sync calls by gRPC status code")),
      policy_loads_(
          CounterFamily(*registry_, "fleetrate_policy_loads_total",
                        "Policy loads after startup (file reloads and SetPolicies) by result")),
      policy_last_load_ok_(SingleGauge(*registry_, "fleetrate_policy_last_load_success",
                                       "1 if the last policy load succeeded, 0 if it was "
                                       "rejected (the previous policies stay in force)")),
      sync_duration_(prometheus::BuildHistogram()
                         .Name("fleetrate_sync_duration_seconds")
                         .Help("Time to handle one Sync call")
                         .Register(*registry_)
                         .Add({}, LatencyBuckets())),
      scopes_tracked_(SingleGauge(*registry_, "fleetrate_scopes_tracked",
                                  "(service, environment) scopes in the current rate table")),
      budget_demand_(SingleGauge(*registry_, "fleetrate_budget_demand_traces_per_second",
                                 "Estimate: kept traces/s all keys would take without the global "
                                 "budget; 0 when no budget is set")),
      budget_allocated_(SingleGauge(*registry_, "fleetrate_budget_allocated_traces_per_second",
                                    "Estimate: kept traces/s the global budget allocated; 0 when "
                                    "no budget is set")),
      scope_seen_(GaugeFamily(*registry_, "fleetrate_service_roots_seen_per_second",
                              "Estimate (a gauge, not a counter): root spans per second the "
                              "scope's live clients saw, fleet-wide; busiest scopes only")),
      scope_sampled_(GaugeFamily(*registry_, "fleetrate_service_roots_sampled_per_second",
                                 "Estimate (a gauge, not a counter): root spans per second the "
                                 "scope's live clients kept, fleet-wide; busiest scopes only")),
      scope_target_(GaugeFamily(*registry_, "fleetrate_service_target_traces_per_second",
                                "Kept root traces per second the published rates aim for at the "
                                "current traffic: sum over the scope's keys of probability x "
                                "fleet-seen rate; busiest scopes only")),
      key_probability_(GaugeFamily(*registry_, "fleetrate_key_probability",
                                   "Published sampling probability of the busiest keys by "
                                   "fleet-seen traffic")),
      store_up_(SingleGauge(*registry_, "fleetrate_store_up",
                            "1 if the store answers; 0 while Redis is unreachable (the replica "
                            "serves its last table and keeps client reports)")),
      store_leader_(SingleGauge(*registry_, "fleetrate_store_leader",
                                "1 if this replica computes and publishes the rate table")),
      store_errors_(SingleCounter(*registry_, "fleetrate_store_errors_total",
                                  "Failed round trips to the store (Redis unreachable, refused "
                                  "commands, unreadable entries)")),
      store_reports_(CounterFamily(*registry_, "fleetrate_store_reports_total",
                                   "Client reports by what happened to them: written (by this "
                                   "replica), read (from every replica), dropped (expired or over "
                                   "the bound while the store was unreachable), refused (another "
                                   "replica's report beyond this replica's limits)")),
      store_tables_(CounterFamily(*registry_, "fleetrate_store_tables_total",
                                  "Rate tables published by this replica as leader, or fetched "
                                  "from the leader")),
      store_leader_changes_(SingleCounter(*registry_, "fleetrate_store_leader_changes_total",
                                          "Times this replica gained or lost the leader lease")),
      store_degraded_(SingleGauge(*registry_, "fleetrate_store_degraded",
                                  "1 while the store is degraded: unreachable, holding data this "
                                  "replica refuses, or no new rate table for too long "
                                  "(/debug/store says why)")),
      store_table_age_(SingleGauge(*registry_, "fleetrate_store_table_age_seconds",
                                   "Seconds since this replica last published (leader) or "
                                   "fetched (follower) a rate table; 0 with the memory store")),
      store_invalid_(CounterFamily(*registry_, "fleetrate_store_invalid_total",
                                   "What this replica read from the store and refused, by what: "
                                   "report (dropped), entry (not a report batch), table (not "
                                   "served; the last good one stays)")),
      store_lease_repairs_(SingleCounter(*registry_, "fleetrate_store_lease_repairs_total",
                                         "Leader leases with no expiry, or one beyond 2 x lease, "
                                         "that this replica deleted")),
      sync_refused_(CounterFamily(*registry_, "fleetrate_sync_refused_total",
                                  "Syncs refused with RESOURCE_EXHAUSTED by the store's limits, by "
                                  "reason")),
      clients_evicted_(SingleCounter(*registry_, "fleetrate_clients_evicted_total",
                                     "Idle clients evicted from a full client table to admit a "
                                     "new report")) {
  store_up_.Set(1);
  store_leader_.Set(1);
  for (const char* what : {"written", "read", "dropped", "refused"}) {
    store_reports_.Add({{"result", what}});
  }
  for (const char* reason :
       {"too_many_clients", "too_many_rates", "too_frequent", "peer_new_clients"}) {
    sync_refused_.Add({{"reason", reason}});
  }
  for (const char* what : {"published", "fetched"}) store_tables_.Add({{"result", what}});
  for (const char* what : {"report", "entry", "table"}) store_invalid_.Add({{"what", what}});
  policy_last_load_ok_.Set(1);
  policy_loads_.Add({{"result", "success"}});
  policy_loads_.Add({{"result", "error"}});
  // Present from the start, so rate() over it works before the first Sync.
  sync_ok_ = &sync_requests_.Add({{"code", "OK"}});
  prometheus::BuildGauge()
      .Name("fleetrate_build_info")
      .Help("Always 1; the labels say which build is running")
      .Register(*registry_)
      .Add({{"version", FLEETRATE_VERSION}})
      .Set(1);
}

std::vector<std::weak_ptr<prometheus::Collectable>> ServerMetrics::collectables() const {
  return {registry_, process_};
}

void ServerMetrics::RecordPolicyLoad(bool ok) {
  policy_loads_.Add({{"result", ok ? "success" : "error"}}).Increment();
  policy_last_load_ok_.Set(ok ? 1 : 0);
}

void ServerMetrics::RecordStore(const StoreStatus& status) {
  std::lock_guard<std::mutex> lock(store_mu_);
  const auto add = [](prometheus::Counter& counter, uint64_t now, uint64_t before) {
    if (now > before) counter.Increment(static_cast<double>(now - before));
  };
  store_up_.Set(status.connected ? 1 : 0);
  store_leader_.Set(status.leader ? 1 : 0);
  add(store_errors_, status.errors, last_store_.errors);
  add(store_reports_.Add({{"result", "written"}}), status.reports_written,
      last_store_.reports_written);
  add(store_reports_.Add({{"result", "read"}}), status.reports_read, last_store_.reports_read);
  add(store_reports_.Add({{"result", "dropped"}}), status.reports_dropped,
      last_store_.reports_dropped);
  add(store_tables_.Add({{"result", "published"}}), status.tables_published,
      last_store_.tables_published);
  add(store_tables_.Add({{"result", "fetched"}}), status.tables_fetched,
      last_store_.tables_fetched);
  add(store_leader_changes_, status.leader_changes, last_store_.leader_changes);
  store_degraded_.Set(status.degraded || !status.connected ? 1 : 0);
  store_table_age_.Set(status.table_age_seconds);
  add(store_invalid_.Add({{"what", "report"}}), status.invalid_reports,
      last_store_.invalid_reports);
  add(store_invalid_.Add({{"what", "entry"}}), status.invalid_entries, last_store_.invalid_entries);
  add(store_invalid_.Add({{"what", "table"}}), status.invalid_tables, last_store_.invalid_tables);
  add(store_lease_repairs_, status.lease_repairs, last_store_.lease_repairs);
  add(store_reports_.Add({{"result", "refused"}}), status.reports_refused,
      last_store_.reports_refused);
  add(clients_evicted_, status.clients_evicted, last_store_.clients_evicted);
  last_store_ = status;
}

void ServerMetrics::RecordSyncOk(double seconds) {
  sync_ok_->Increment();
  sync_duration_.Observe(seconds);
}

void ServerMetrics::RecordSyncRefused(std::string_view reason) {
  sync_refused_.Add({{"reason", std::string(reason)}}).Increment();
}

void ServerMetrics::RecordSync(const std::string& code, double seconds) {
  sync_requests_.Add({{"code", code}}).Increment();
  sync_duration_.Observe(seconds);
}

void ServerMetrics::RecordTable(const RateTables& tables) {
  struct KeyTraffic {
    const Scope* scope;
    const std::string* operation;
    double seen;
    double probability;
  };
  std::vector<KeyTraffic> keys;
  for (const auto& [scope, rates] : tables.scopes) {
    for (const auto& [operation, rate] : rates->operations) {
      keys.push_back({&scope, &operation, rate.fleet_seen_per_second, rate.probability});
    }
  }
  const std::vector<ScopeTraffic> scopes = BusiestScopes(tables, limits_.max_scope_series);
  const size_t key_count = std::min(keys.size(), limits_.max_key_series);
  std::partial_sort(keys.begin(), keys.begin() + static_cast<ptrdiff_t>(key_count), keys.end(),
                    [](const KeyTraffic& a, const KeyTraffic& b) {
                      if (a.seen != b.seen) return a.seen > b.seen;
                      if (!(*a.scope == *b.scope)) return *a.scope < *b.scope;
                      return *a.operation < *b.operation;
                    });
  keys.resize(key_count);

  std::lock_guard<std::mutex> lock(table_mu_);
  scopes_tracked_.Set(static_cast<double>(tables.scopes.size()));
  budget_demand_.Set(tables.budget_demand_per_second);
  budget_allocated_.Set(tables.budget_allocated_per_second);

  std::map<Scope, ScopeSeries> next_scopes;  // by label values
  for (const ScopeTraffic& totals : scopes) {
    Scope scope{SanitizeLabelValue(totals.rates->scope.service),
                SanitizeLabelValue(totals.rates->scope.environment)};
    // Scopes that differ only in replaced characters share one series: the busiest sets it.
    if (next_scopes.count(scope) != 0) continue;
    ScopeSeries series;
    auto old = scope_series_.find(scope);
    if (old != scope_series_.end()) {
      series = old->second;
      scope_series_.erase(old);
    } else {
      const prometheus::Labels labels{{"service", scope.service},
                                      {"environment", scope.environment}};
      series = {&scope_seen_.Add(labels), &scope_sampled_.Add(labels), &scope_target_.Add(labels)};
    }
    series.seen->Set(totals.traffic.seen);
    series.sampled->Set(totals.traffic.sampled);
    series.target->Set(totals.traffic.target);
    next_scopes.emplace(std::move(scope), series);
  }
  for (const auto& [scope, stale] : scope_series_) {
    scope_seen_.Remove(stale.seen);
    scope_sampled_.Remove(stale.sampled);
    scope_target_.Remove(stale.target);
  }
  scope_series_ = std::move(next_scopes);

  std::map<KeyLabels, prometheus::Gauge*> next_keys;
  for (const KeyTraffic& key : keys) {
    KeyLabels labels{SanitizeLabelValue(key.scope->service),
                     SanitizeLabelValue(key.scope->environment),
                     SanitizeLabelValue(*key.operation)};
    if (next_keys.count(labels) != 0) continue;  // as for scopes: the busiest key sets it
    prometheus::Gauge* gauge = nullptr;
    auto old = key_series_.find(labels);
    if (old != key_series_.end()) {
      gauge = old->second;
      key_series_.erase(old);
    } else {
      gauge = &key_probability_.Add({{"service", std::get<0>(labels)},
                                     {"environment", std::get<1>(labels)},
                                     {"operation", std::get<2>(labels)}});
    }
    gauge->Set(key.probability);
    next_keys.emplace(std::move(labels), gauge);
  }
  for (const auto& [labels, stale] : key_series_) key_probability_.Remove(stale);
  key_series_ = std::move(next_keys);
}

}  // namespace fleetrate::server
