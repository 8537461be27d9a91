#include "server/service/rate_publisher.h"

#include <chrono>

namespace fleetrate::server {

RatePublisher::RatePublisher(std::shared_ptr<const Policies> policies, Store& store,
                             ServerMetrics& metrics, uint64_t first_version, EngineOptions options)
    : store_(store),
      metrics_(metrics),
      options_(options),
      next_version_(first_version),
      policies_(std::move(policies)) {}

void RatePublisher::Recompute(Timestamp now) {
  // Duration is measured on the steady clock directly: it is a metric about this process, not an
  // input to the engine.
  const auto started = std::chrono::steady_clock::now();
  const FleetEstimate estimate = store_.Estimate(now);
  const std::shared_ptr<const Policies> policies = this->policies();
  const std::shared_ptr<const RateTables> previous = Current();
  auto next = std::make_shared<const RateTables>(
      ComputeRates(policies, estimate, previous.get(), next_version_, options_));
  ++next_version_;
  {
    std::lock_guard<std::mutex> lock(mu_);
    tables_ = next;
  }
  metrics_.RecordTable(*next);
  metrics_.live_clients.Set(static_cast<double>(estimate.live_clients));
  metrics_.keys_tracked.Set(static_cast<double>(estimate.keys));
  const uint64_t overflowed = store_.overflowed_reports();
  if (overflowed > overflow_seen_) {
    metrics_.keys_overflowed.Increment(static_cast<double>(overflowed - overflow_seen_));
    overflow_seen_ = overflowed;
  }
  metrics_.recomputes.Increment();
  metrics_.recompute_duration.Observe(
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count());
}

std::shared_ptr<const RateTables> RatePublisher::Current() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tables_;
}

std::shared_ptr<const Policies> RatePublisher::policies() const {
  std::lock_guard<std::mutex> lock(mu_);
  return policies_;
}

void RatePublisher::SetPolicies(std::shared_ptr<const Policies> policies) {
  std::lock_guard<std::mutex> lock(mu_);
  policies_ = std::move(policies);
}

bool RatePublisher::ready() const {
  std::lock_guard<std::mutex> lock(mu_);
  return tables_ != nullptr;
}

}  // namespace fleetrate::server
