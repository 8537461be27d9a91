// ProcessCollector: the standard Prometheus process metrics of this process, read from procfs
// on every scrape, with the names and types every Prometheus client library uses (client_golang's
// process collector), so stock dashboards and alerts work unchanged:
//
//   process_cpu_seconds_total       counter  user + system CPU time
//   process_resident_memory_bytes   gauge    resident set size
//   process_virtual_memory_bytes    gauge    virtual memory size
//   process_open_fds                gauge    open file descriptors
//   process_max_fds                 gauge    the soft limit on open file descriptors
//   process_start_time_seconds      gauge    start time, seconds since the Unix epoch
//   process_threads                 gauge    OS threads (the name rust-prometheus uses)
//
//   auto process = std::make_shared<ProcessCollector>();
//   http.Handle("/metrics", MetricsHandler({registry, process}));
//
// A file that cannot be read or parsed drops only the metrics that come from it; Collect never
// throws. The directory is injectable so tests can serve a fake procfs.
//
// Thread-safe: Collect only reads files and immutable members.
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "prometheus/collectable.h"
#include "prometheus/metric_family.h"

namespace fleetrate::server {

class ProcessCollector : public prometheus::Collectable {
 public:
  // `proc_self`: the process's procfs directory (stat, limits, fd/). `proc_stat`: the system
  // file with the boot time (`btime`), read once here: the start time does not change.
  explicit ProcessCollector(std::string proc_self = "/proc/self",
                            const std::string& proc_stat = "/proc/stat");

  [[nodiscard]] std::vector<prometheus::MetricFamily> Collect() const override;

  // Seconds since the epoch when the process started; nullopt if procfs could not say.
  [[nodiscard]] std::optional<double> start_time_seconds() const { return start_time_seconds_; }

 private:
  const std::string proc_self_;
  const double ticks_per_second_;
  const double page_bytes_;
  std::optional<double> start_time_seconds_;
};

}  // namespace fleetrate::server
