#include "server/service/rate_publisher.h"

#include <algorithm>
#include <chrono>

namespace fleetrate::server {

RatePublisher::RatePublisher(std::shared_ptr<const Policies> policies, Store& store,
                             ServerMetrics& metrics, uint64_t first_version, EngineOptions options)
    : store_(store),
      metrics_(metrics),
      options_(options),
      next_version_(first_version),
      policies_(std::move(policies)) {}

namespace {

// Followers fetch a published table whole: republish only when a decision changed, or now and
// then for the estimates that ride along (debug views and metrics on the followers).
constexpr auto kRepublishEstimatesEvery = std::chrono::seconds(5);

bool SameVersions(const RateTables& a, const RateTables& b) {
  if (a.scopes.size() != b.scopes.size()) return false;
  auto it = b.scopes.begin();
  for (const auto& [scope, rates] : a.scopes) {
    if (!(it->first == scope) || it->second->version != rates->version) return false;
    ++it;
  }
  return true;
}

}  // namespace

void RatePublisher::Serve(std::shared_ptr<const RateTables> tables) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tables_ = tables;
  }
  metrics_.RecordTable(*tables);
}

void RatePublisher::Follow() {
  const PublishedTables published = store_.LatestPublished();
  if (published.tables == nullptr || published.sequence == followed_sequence_) return;
  auto tables = std::make_shared<RateTables>(*published.tables);  // shares the scopes
  tables->policies = policies();
  followed_sequence_ = published.sequence;
  uint64_t live_clients = 0;
  for (const auto& [scope, rates] : tables->scopes) live_clients += rates->live_clients;
  metrics_.live_clients.Set(static_cast<double>(live_clients));
  Serve(std::move(tables));
}

void RatePublisher::Recompute(Timestamp now) {
  // Duration is measured on the steady clock directly: it is a metric about this process, not an
  // input to the engine.
  const auto started = std::chrono::steady_clock::now();
  const std::shared_ptr<const RateTables> previous = Current();
  const bool leader = store_.IsLeader();
  if (!leader && previous != nullptr) {
    Follow();
    metrics_.RecordStore(store_.status());
    return;
  }
  const FleetEstimate estimate = store_.Estimate(now);
  const std::shared_ptr<const Policies> policies = this->policies();
  // A replica that just took over continues above the versions its predecessor published, so
  // no client mistakes a new table for the one it holds.
  if (previous != nullptr) next_version_ = std::max(next_version_, MaxVersion(*previous) + 1);
  auto next = std::make_shared<const RateTables>(
      ComputeRates(policies, estimate, previous.get(), next_version_, options_));
  if (leader && (previous == nullptr || !SameVersions(*previous, *next) ||
                 now - last_publish_ >= kRepublishEstimatesEvery)) {
    store_.Publish(*next, next_version_);
    last_publish_ = now;
  }
  ++next_version_;
  Serve(next);
  metrics_.RecordStore(store_.status());
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

RatePublisher::Snapshot RatePublisher::snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  return {policies_, tables_};
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
