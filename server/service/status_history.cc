#include "server/service/status_history.h"

#include <algorithm>
#include <set>
#include <utility>

#include "server/service/metrics.h"

namespace fleetrate::server {

StatusHistory::StatusHistory(StatusHistoryOptions options)
    : options_{options.resolution > Duration::zero() ? options.resolution : std::chrono::seconds(5),
               std::max<size_t>(options.points, 1), std::max<size_t>(options.max_services, 1)} {}

void StatusHistory::CloseBucket() {
  const Duration window = options_.resolution * static_cast<int64_t>(options_.points);
  for (auto it = series_.begin(); it != series_.end();) {
    Series& series = it->second;
    if (series.open_count > 0) {
      const double n = static_cast<double>(series.open_count);
      series.points.push_back(
          {bucket_start_, series.open.seen / n, series.open.target / n, series.open.achieved / n});
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
  struct Busy {
    const Scope* scope;
    ServiceTraffic traffic;
  };
  std::vector<Busy> busy;
  busy.reserve(tables.scopes.size());
  for (const auto& [scope, rates] : tables.scopes) busy.push_back({&scope, TrafficOf(*rates)});
  const size_t followed = std::min(busy.size(), options_.max_services);
  // Busiest first; ties by name so the followed set does not flap between equal scopes.
  std::partial_sort(busy.begin(), busy.begin() + static_cast<ptrdiff_t>(followed), busy.end(),
                    [](const Busy& a, const Busy& b) {
                      if (a.traffic.seen != b.traffic.seen) return a.traffic.seen > b.traffic.seen;
                      return *a.scope < *b.scope;
                    });
  busy.resize(followed);

  std::lock_guard<std::mutex> lock(mu_);
  if (!started_) {
    started_ = true;
    bucket_start_ = now;
  } else if (now - bucket_start_ >= options_.resolution) {
    CloseBucket();
    bucket_start_ = now;
  }
  size_t unfollowed = 0;
  for (const Busy& b : busy) unfollowed += series_.count(*b.scope) == 0 ? 1 : 0;
  if (series_.size() + unfollowed > options_.max_services) {
    // Make room for the busiest: drop the scopes that are no longer among them.
    std::set<Scope> keep;
    for (const Busy& b : busy) keep.insert(*b.scope);
    for (auto it = series_.begin(); it != series_.end();) {
      it = keep.count(it->first) != 0 ? std::next(it) : series_.erase(it);
    }
  }
  for (const Busy& b : busy) {
    Series& series = series_[*b.scope];
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
    if (series.open_count > 0) {
      const double n = static_cast<double>(series.open_count);
      history.points.push_back(
          {bucket_start_, series.open.seen / n, series.open.target / n, series.open.achieved / n});
    }
    out.push_back(std::move(history));
  }
  return out;
}

}  // namespace fleetrate::server
