#include "server/store/memory_store.h"

namespace fleetrate::server {

ReportResult MemoryStore::Report(const ClientReport& report, Duration sync_interval,
                                 Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  return aggregator_.Report(report, sync_interval, now);
}

FleetEstimate MemoryStore::Estimate(Timestamp now) {
  std::lock_guard<std::mutex> lock(mu_);
  return aggregator_.Estimate(now);
}

uint64_t MemoryStore::overflowed_reports() const {
  std::lock_guard<std::mutex> lock(mu_);
  return aggregator_.overflowed_reports();
}

}  // namespace fleetrate::server
