#include "server/views/status_history.h"

#include <algorithm>
#include <set>
#include <utility>

#include "server/service/metrics.h"

namespace fleetrate::server {

StatusHistory::StatusHistory(StatusHistoryOptions options)
    : options_{options.resolution > Duration::zero() ? options.resolution : std::chrono::seconds(5),
               std::max<size_t>(options.points, 1), std::max<size_t>(options.max_services, 1)} {}

StatusPoint StatusHistory::OpenAverage(const Series& series) const {
  const double n = static_cast<double>(series.open_count);
  return {bucket_start_, series.open.seen / n, series.open.target / n, series.open.achieved / n};
}

void StatusHistory::CloseBucket() {
  const Duration window = options_.resolution * static_cast<int64_t>(options_.points);
  for (auto it = series_.begin(); it != series_.end();) {
    Series& series = it->second;
    if (series.open_count > 0) {
      series.points.push_back(OpenAverage(series));
      if (series.points.size() > options_.points) series.points.pop_front();
    }
    series.open = {};
    series.open_count = 0;
    // A scope that left the table is forgotten once its last point is out of the window.
    if (series.points.empty() || bucket_start_ - series.points.back().at >= window) {
      it = series_.erase(it);
    } else {
      ++it;
    }
  }
}

void StatusHistory::Record(const RateTables& tables, Timestamp now) {
  const std::vector<ScopeTraffic> busy = BusiestScopes(tables, options_.max_services);

  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) {
    started_ = true;
    bucket_start_ = now;
  } else if (now - bucket_start_ >= options_.resolution) {
    CloseBucket();
    bucket_start_ = now;
  }
  size_t unfollowed = 0;
  for (const ScopeTraffic& b : busy) unfollowed += series_.count(b.rates->scope) == 0 ? 1 : 0;
  if (series_.size() + unfollowed > options_.max_services) {
    // Make room for the busiest: drop the scopes that are no longer among them.
    std::set<Scope> keep;
    for (const ScopeTraffic& b : busy) keep.insert(b.rates->scope);
    for (auto it = series_.begin(); it != series_.end();) {
      it = keep.count(it->first) != 0 ? std::next(it) : series_.erase(it);
    }
  }
  for (const ScopeTraffic& b : busy) {
    Series& series = series_[b.rates->scope];
    series.open.seen += b.traffic.seen;
    series.open.target += b.traffic.target;
    series.open.achieved += b.traffic.sampled;
    ++series.open_count;
  }
}

std::vector<ServiceHistory> StatusHistory::Snapshot() const {
  std::lock_guard<std::mutex> lock(mu_);
  std::vector<ServiceHistory> out;
  out.reserve(series_.size());
  for (const auto& [scope, series] : series_) {
    ServiceHistory history{scope, {series.points.begin(), series.points.end()}};
    if (series.open_count > 0) history.points.push_back(OpenAverage(series));
    out.push_back(std::move(history));
  }
  return out;
}

}  // namespace fleetrate::server
