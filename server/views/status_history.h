// StatusHistory: a short, bounded history of each service's traffic for the /ui status page —
// fleet-seen roots/s, the target kept traces/s the published rates aim for, and the achieved
// (reported kept) roots/s, averaged over buckets of `resolution` (default 5 s) and kept for
// `points` buckets (default 120: 10 minutes).
//
//   StatusHistory history;
//   history.Record(*publisher.Current(), clock.Now());   // the recompute thread, after each
//   std::vector<ServiceHistory> series = history.Snapshot();   // any thread (HTTP handlers)
//
// It lives beside the rate engine, not in it: the engine stays a pure function of its inputs.
// Memory is bounded: at most `max_services` (service, environment) scopes are followed, the
// busiest by fleet-seen traffic at each Record; when a new busy scope needs a place, scopes
// that are no longer among the busiest lose theirs. A scope that leaves the table keeps its
// points until they age out of the window.
//
// Thread-safe: Record and Snapshot serialize on one mutex (Record ranks the table outside it).
#pragma once

#include <chrono>
#include <cstddef>
#include <deque>
#include <map>
#include <mutex>
#include <vector>

#include "server/common/clock.h"
#include "server/rates/fleet_estimate.h"
#include "server/rates/rate_table.h"

namespace fleetrate::server {

struct StatusHistoryOptions {
  Duration resolution = std::chrono::seconds(5);  // one point per bucket of this length
  size_t points = 120;                            // buckets kept per scope (10 minutes)
  size_t max_services = 200;                      // scopes followed, busiest first
};

// One bucket's averages, per second.
struct StatusPoint {
  Timestamp at;  // when the bucket began
  double seen = 0;
  double target = 0;
  double achieved = 0;
};

struct ServiceHistory {
  Scope scope;
  std::vector<StatusPoint> points;  // oldest first; the last may be the bucket still open
};

class StatusHistory {
 public:
  explicit StatusHistory(StatusHistoryOptions options = {});

  // Adds `tables`' per-scope totals to the open bucket; closes it first when `now` is
  // `resolution` past its start.
  void Record(const RateTables& tables, Timestamp now);

  // Every followed scope's points, sorted by scope, with the open bucket's average so far.
  [[nodiscard]] std::vector<ServiceHistory> Snapshot() const;

  [[nodiscard]] const StatusHistoryOptions& options() const noexcept { return options_; }

 private:
  struct Series {
    std::deque<StatusPoint> points;  // closed buckets
    StatusPoint open;                // sums of the open bucket
    size_t open_count = 0;           // Records summed into `open`
  };
  void CloseBucket();
  // The open bucket's average so far (`series.open_count` > 0).
  StatusPoint OpenAverage(const Series& series) const;

  const StatusHistoryOptions options_;
  mutable std::mutex mu_;
  bool started_ = false;            // guarded by mu_
  Timestamp bucket_start_{};        // guarded by mu_
  std::map<Scope, Series> series_;  // guarded by mu_
};

}  // namespace fleetrate::server
