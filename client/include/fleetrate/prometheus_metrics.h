// ClientMetrics: the client library's own metrics for applications that already expose
// prometheus-cpp. Optional: target fleetrate::client_metrics, built and installed when
// prometheus-cpp is found (the core fleetrate::client does not depend on it).
//
//   auto metrics = std::make_shared<fleetrate::ClientMetrics>(**client);
//   exposer.RegisterCollectable(metrics);          // prometheus::Exposer of prometheus-cpp-pull
//   ...
//   exposer.RemoveCollectable(metrics);            // before the Client is destroyed
//
// Every scrape reads Client::stats(), so nothing is counted twice and the hot paths pay
// nothing. Series (all with a `service` label): fleetrate_client_roots_total{decision},
// fleetrate_client_lower_bound_kept_total, fleetrate_client_local_cap_dropped_total,
// fleetrate_client_syncs_total{result}, fleetrate_client_tables_expired_total,
// fleetrate_client_tables_rejected_total,
// fleetrate_client_spans_accepted_total, fleetrate_client_spans_exported_total,
// fleetrate_client_spans_dropped_total{reason}, fleetrate_client_spans_captured_total{reason},
// fleetrate_client_queue_depth_spans, fleetrate_client_export_duration_seconds (summary:
// _count batches, _sum seconds), and process_resident_memory_bytes unless turned off.
//
// Thread-safe (Collect may run on the exposer's thread). The Client must outlive the
// collector's registration.
#pragma once

#include <prometheus/collectable.h>
#include <prometheus/metric_family.h>

#include <vector>

#include "fleetrate/client.h"

namespace fleetrate {

struct ClientMetricsOptions {
  // Also export process_resident_memory_bytes (from /proc/self/statm). Turn off if the
  // application already exports the standard process metrics.
  bool process_memory = true;
};

class ClientMetrics final : public prometheus::Collectable {
 public:
  explicit ClientMetrics(const Client& client, ClientMetricsOptions options = {});

  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  const Client& client_;
  const ClientMetricsOptions options_;
};

}  // namespace fleetrate
