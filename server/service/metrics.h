// The server's Prometheus metrics, registered on one registry that /metrics serves.
// Names follow Prometheus conventions (base units, _total, _seconds). The full set of metrics
// and their documentation grows with the observability work; these are the foundation's.
//
// Thread-safe: prometheus-cpp metrics are atomic.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace fleetrate::server {

class ServerMetrics {
 public:
  explicit ServerMetrics(std::shared_ptr<prometheus::Registry> registry);

  [[nodiscard]] const std::shared_ptr<prometheus::Registry>& registry() const { return registry_; }

  // Counts one Sync by its gRPC status code name ("OK", "INVALID_ARGUMENT", ...).
  void RecordSync(const std::string& code, double seconds);
  // Counts one policy load after startup (file reload or SetPolicies) by its result.
  void RecordPolicyLoad(bool ok);

  prometheus::Gauge& live_clients;
  prometheus::Gauge& keys_tracked;
  prometheus::Counter& keys_overflowed;
  prometheus::Histogram& recompute_duration;
  prometheus::Counter& recomputes;

 private:
  std::shared_ptr<prometheus::Registry> registry_;
  prometheus::Family<prometheus::Counter>& sync_requests_;
  prometheus::Family<prometheus::Counter>& policy_loads_;
  prometheus::Gauge& policy_last_load_ok_;
  prometheus::Histogram& sync_duration_;
};

}  // namespace fleetrate::server
