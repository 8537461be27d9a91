// The server's Prometheus metrics, registered on one registry that /metrics serves together with
// the process collector (collectables()). Names follow Prometheus conventions (base units,
// _total, _seconds); docs/metrics.md lists every metric with its labels and cardinality bound.
//
//   ServerMetrics metrics(std::make_shared<prometheus::Registry>());
//   http.Handle("/metrics", MetricsHandler(metrics.collectables()));
//   metrics.RecordSync("OK", 0.0004);            // any thread
//   metrics.RecordTable(*publisher.Current());   // the recompute thread, after each recompute
//
// Labelled series that follow the rate table are bounded: per-scope gauges for the
// `max_scope_series` busiest scopes, the probability of the `max_key_series` busiest keys;
// series of scopes and keys that drop out of the top are removed, so a scrape never grows with
// the number of services or operations.
//
// Thread-safe: prometheus-cpp metrics are atomic; RecordTable serializes itself.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <cstddef>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <tuple>
#include <vector>

#include "server/rates/rate_table.h"
#include "server/service/process_metrics.h"
#include "server/store/store.h"

namespace fleetrate::server {

// The longest label value /metrics shows; a longer one is cut at a character boundary.
inline constexpr size_t kMaxLabelValueBytes = 256;

// `value` made safe as a Prometheus label value, for every label that comes from client input
// (service, environment, operation): control characters (U+0000-U+001F, U+007F-U+009F, which
// prometheus-cpp writes raw, except LF) and bytes that are not UTF-8 become '_', and the result
// is cut to kMaxLabelValueBytes. Distinct values may map to one label value; callers that keep
// a series per value key it by the sanitized value.
[[nodiscard]] std::string SanitizeLabelValue(std::string_view value);

struct MetricsLimits {
  size_t max_scope_series = 200;  // scopes with fleetrate_service_* gauges, busiest first
  size_t max_key_series = 50;     // keys with fleetrate_key_probability, busiest first
};

// The kept root traces per second a key's published rate aims for at its current traffic:
// probability × fleet-seen rate; for a key whose fixed rate comes with a per-client cap (a
// rate-limited rule), at most that cap times the scope's live clients.
[[nodiscard]] double ExpectedSampledPerSecond(const KeyRate& rate, size_t live_clients);

// A scope's sums over its operations, per second: roots seen, roots kept (the achieved rate) and
// the target (ExpectedSampledPerSecond of each key).
struct ServiceTraffic {
  double seen = 0;
  double sampled = 0;
  double target = 0;
};
[[nodiscard]] ServiceTraffic TrafficOf(const ServiceRates& rates);

struct ScopeTraffic {
  const ServiceRates* rates;  // points into the RateTables it came from
  ServiceTraffic traffic;
};
// The `limit` scopes of `tables` with the most fleet-seen traffic, busiest first; ties by
// scope, so the chosen set does not flap between equally busy scopes.
[[nodiscard]] std::vector<ScopeTraffic> BusiestScopes(const RateTables& tables, size_t limit);

class ServerMetrics {
 public:
  explicit ServerMetrics(std::shared_ptr<prometheus::Registry> registry, MetricsLimits limits = {});

  [[nodiscard]] const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }
  // What /metrics serves: the registry and the process collector. The pointers stay valid as
  // long as this object lives.
  [[nodiscard]] std::vector<std::weak_ptr<prometheus::Collectable>> collectables() const;

  // Counts one Sync by its gRPC status code name ("OK", "INVALID_ARGUMENT", ...).
  void RecordSync(const std::string& code, double seconds);
  // RecordSync("OK", seconds) without building a label set: the Sync hot path.
  void RecordSyncOk(double seconds);
  // Counts one Sync the store refused, by ReportResultName ("too_many_clients", ...).
  void RecordSyncRefused(std::string_view reason);
  // Counts one policy load after startup (file reload or SetPolicies) by its result.
  void RecordPolicyLoad(bool ok);
  // Updates the gauges that follow the rate table: scopes, budget, per-scope rates and the
  // busiest keys' probabilities. Removes series of scopes and keys that left the top.
  void RecordTable(const RateTables& tables);
  // Updates the fleetrate_store_* series from the store's status (counters by the increase
  // since the previous call). The recompute thread, once per recompute.
  void RecordStore(const StoreStatus& status);

  prometheus::Gauge& live_clients;
  prometheus::Gauge& keys_tracked;
  prometheus::Counter& keys_overflowed;
  prometheus::Histogram& recompute_duration;
  prometheus::Counter& recomputes;

 private:
  struct ScopeSeries {
    prometheus::Gauge* seen = nullptr;
    prometheus::Gauge* sampled = nullptr;
    prometheus::Gauge* target = nullptr;
  };
  using KeyLabels = std::tuple<std::string, std::string, std::string>;

  std::shared_ptr<prometheus::Registry> registry_;
  std::shared_ptr<ProcessCollector> process_;
  const MetricsLimits limits_;
  prometheus::Family<prometheus::Counter>& sync_requests_;
  prometheus::Counter* sync_ok_ = nullptr;  // sync_requests_{code="OK"}, set in the constructor
  prometheus::Family<prometheus::Counter>& policy_loads_;
  prometheus::Gauge& policy_last_load_ok_;
  prometheus::Histogram& sync_duration_;
  prometheus::Gauge& scopes_tracked_;
  prometheus::Gauge& budget_demand_;
  prometheus::Gauge& budget_allocated_;
  prometheus::Family<prometheus::Gauge>& scope_seen_;
  prometheus::Family<prometheus::Gauge>& scope_sampled_;
  prometheus::Family<prometheus::Gauge>& scope_target_;
  prometheus::Family<prometheus::Gauge>& key_probability_;
  prometheus::Gauge& store_up_;
  prometheus::Gauge& store_leader_;
  prometheus::Counter& store_errors_;
  prometheus::Family<prometheus::Counter>& store_reports_;
  prometheus::Family<prometheus::Counter>& store_tables_;
  prometheus::Counter& store_leader_changes_;
  prometheus::Gauge& store_degraded_;
  prometheus::Gauge& store_table_age_;
  prometheus::Family<prometheus::Counter>& store_invalid_;
  prometheus::Counter& store_lease_repairs_;
  prometheus::Family<prometheus::Counter>& sync_refused_;
  prometheus::Counter& clients_evicted_;
  std::mutex store_mu_;
  StoreStatus last_store_;  // guarded by store_mu_

  std::mutex table_mu_;  // serializes RecordTable
  // Keyed by sanitized label values (SanitizeLabelValue).
  std::map<Scope, ScopeSeries> scope_series_;           // guarded by table_mu_
  std::map<KeyLabels, prometheus::Gauge*> key_series_;  // guarded by table_mu_
};

}  // namespace fleetrate::server
