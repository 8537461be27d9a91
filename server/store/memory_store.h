// MemoryStore: the single-replica store. An Aggregator behind a mutex; its limits are the
// store's admission (AggregatorLimits), and a throttled warning says when a full client table
// starts evicting idle clients.
#pragma once

#include <mutex>

#include "server/common/log_throttle.h"
#include "server/store/store.h"

namespace fleetrate::server {

class MemoryStore final : public Store {
 public:
  explicit MemoryStore(AggregatorLimits limits = {}) : aggregator_(limits) {}

  [[nodiscard]] ReportResult Report(const ClientReport& report, Duration sync_interval,
                                    Timestamp now) override;
  [[nodiscard]] FleetEstimate Estimate(Timestamp now) override;
  [[nodiscard]] uint64_t overflowed_reports() const override;
  [[nodiscard]] std::string_view name() const noexcept override { return "memory"; }
  [[nodiscard]] StoreStatus status() const override;

 private:
  mutable std::mutex mu_;
  Aggregator aggregator_;  // guarded by mu_
  LogThrottle eviction_log_{3, std::chrono::minutes(1)};
};

}  // namespace fleetrate::server
