// MemoryStore: the single-replica store. An Aggregator behind a mutex.
#pragma once

#include <mutex>

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

 private:
  mutable std::mutex mu_;
  Aggregator aggregator_;  // guarded by mu_
};

}  // namespace fleetrate::server
