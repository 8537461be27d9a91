#include "server/store/memory_store.h"

#include "server/store/admission_log.h"

namespace fleetrate::server {

ReportResult MemoryStore::Report(const ClientReport& report, Duration sync_interval,
                                 Timestamp now) {
  uint64_t evicted_before = 0;
  uint64_t evicted_after = 0;
  size_t clients = 0;
  ReportResult result;
  {
    std::lock_guard<std::mutex> lock(mu_);
    evicted_before = aggregator_.evicted_clients();
    result = aggregator_.Report(report, sync_interval, now);
    evicted_after = aggregator_.evicted_clients();
    clients = aggregator_.clients();
  }
  if (evicted_after != evicted_before) {
    LogEviction(eviction_log_, now, evicted_after, clients);
  }
  return result;
}

FleetEstimate MemoryStore::Estimate(Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  return aggregator_.Estimate(now);
}

uint64_t MemoryStore::overflowed_reports() const {
  std::lock_guard<std::mutex> lock(mu_);
  return aggregator_.overflowed_reports();
}

StoreStatus MemoryStore::status() const {
  StoreStatus s = Store::status();
  std::lock_guard<std::mutex> lock(mu_);
  s.clients_evicted = aggregator_.evicted_clients();
  return s;
}

}  // namespace fleetrate::server
