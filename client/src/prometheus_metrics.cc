#include "fleetrate/prometheus_metrics.h"

#include <unistd.h>

#include <fstream>
#include <string>
#include <utility>

namespace fleetrate {
namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using Labels = std::vector<ClientMetric::Label>;

class Families {
 public:
  explicit Families(std::string service) : service_(std::move(service)) {}

  void Counter(const char* name, const char* help, double value, Labels labels = {}) {
    Add(name, help, MetricType::Counter, std::move(labels)).counter.value = value;
  }
  void Gauge(const char* name, const char* help, double value, Labels labels = {}) {
    Add(name, help, MetricType::Gauge, std::move(labels)).gauge.value = value;
  }
  void Summary(const char* name, const char* help, uint64_t count, double sum) {
    ClientMetric& m = Add(name, help, MetricType::Summary, {});
    m.summary.sample_count = count;
    m.summary.sample_sum = sum;
  }
  [[nodiscard]] std::vector<MetricFamily> Take() { return std::move(families_); }

 private:
  // Samples of one family are added one after another, so only the last family can match.
  ClientMetric& Add(const char* name, const char* help, MetricType type, Labels labels) {
    if (families_.empty() || families_.back().name != name) {
      families_.push_back(MetricFamily{name, help, type, {}});
    }
    labels.insert(labels.begin(), {"service", service_});
    ClientMetric metric;
    metric.label = std::move(labels);
    families_.back().metric.push_back(std::move(metric));
    return families_.back().metric.back();
  }

  const std::string service_;
  std::vector<MetricFamily> families_;
};

// Resident set size from /proc/self/statm (pages); -1 when unavailable.
double ResidentMemoryBytes() {
  std::ifstream statm("/proc/self/statm");
  long total_pages = 0;
  long resident_pages = 0;
  if (!(statm >> total_pages >> resident_pages)) return -1;
  return static_cast<double>(resident_pages) * static_cast<double>(::sysconf(_SC_PAGESIZE));
}

}  // namespace

ClientMetrics::ClientMetrics(const Client& client, ClientMetricsOptions options)
    : client_(client), options_(options) {}

std::vector<MetricFamily> ClientMetrics::Collect() const {
  const ClientStats stats = client_.stats();
  Families f(client_.options().service);
  const char* roots_help = "Root spans decided by the sampler, by decision";
  f.Counter("fleetrate_client_roots_total", roots_help,
            static_cast<double>(stats.sampler.roots_kept), {{"decision", "kept"}});
  f.Counter("fleetrate_client_roots_total", roots_help,
            static_cast<double>(stats.sampler.roots_dropped), {{"decision", "dropped"}});
  f.Counter("fleetrate_client_lower_bound_kept_total",
            "Roots kept by the lower-bound token bucket though the probability dropped them",
            static_cast<double>(stats.sampler.lower_bound_kept));
  f.Counter("fleetrate_client_local_cap_dropped_total",
            "Roots the probability kept but the local cap dropped",
            static_cast<double>(stats.sampler.local_cap_dropped));
  const char* syncs_help = "Sync calls to fleetrate-server, by result";
  f.Counter("fleetrate_client_syncs_total", syncs_help, static_cast<double>(stats.syncs_ok),
            {{"result", "ok"}});
  f.Counter("fleetrate_client_syncs_total", syncs_help, static_cast<double>(stats.syncs_failed),
            {{"result", "failed"}});
  f.Counter("fleetrate_client_tables_expired_total",
            "Times the rate table's TTL passed and the initial strategy returned",
            static_cast<double>(stats.tables_expired));
  f.Counter("fleetrate_client_tables_rejected_total",
            "Rate tables refused as invalid, from the server or the on-disk cache",
            static_cast<double>(stats.tables_rejected));

  const BatcherStats& b = stats.batcher;
  f.Counter("fleetrate_client_spans_accepted_total", "Spans the batcher accepted",
            static_cast<double>(b.accepted));
  f.Counter("fleetrate_client_spans_exported_total", "Spans exported successfully",
            static_cast<double>(b.exported));
  const char* dropped_help = "Spans dropped, by reason";
  const std::pair<const char*, uint64_t> drops[] = {
      {"queue_full", b.dropped_queue_full},
      {"export_failed", b.dropped_export_failed},
      {"export_timeout", b.dropped_export_timeout},
      {"shutdown", b.dropped_shutdown},
  };
  for (const auto& [reason, count] : drops) {
    f.Counter("fleetrate_client_spans_dropped_total", dropped_help, static_cast<double>(count),
              {{"reason", reason}});
  }
  const char* captured_help = "Spans of unsampled traces exported by edge capture, by reason";
  f.Counter("fleetrate_client_spans_captured_total", captured_help,
            static_cast<double>(b.captured_errors), {{"reason", "error"}});
  f.Counter("fleetrate_client_spans_captured_total", captured_help,
            static_cast<double>(b.captured_slow), {{"reason", "slow"}});
  f.Gauge("fleetrate_client_queue_depth_spans", "Spans accepted and not yet exported or dropped",
          static_cast<double>(b.queue_depth));
  f.Summary("fleetrate_client_export_duration_seconds", "Time spent in Export calls", b.batches,
            static_cast<double>(b.export_nanos_total) / 1e9);
  if (options_.process_memory) {
    const double rss = ResidentMemoryBytes();
    if (rss >= 0) {
      std::vector<MetricFamily> families = f.Take();
      MetricFamily process{
          "process_resident_memory_bytes", "Resident memory size in bytes", MetricType::Gauge, {}};
      ClientMetric metric;
      metric.gauge.value = rss;
      process.metric.push_back(metric);
      families.push_back(std::move(process));
      return families;
    }
  }
  return f.Take();
}

}  // namespace fleetrate
