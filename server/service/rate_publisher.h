// RatePublisher: the one writer of the rate table. On the leader (always, with one replica) each
// Recompute reads the fleet estimate from the store, runs the pure rate engine against the
// previous table, serves the result and hands it to the store for the other replicas. On a
// follower it serves the table the leader published instead (explained with this replica's
// policies). A replica with no table at all computes one, so it is ready before it first hears
// from a leader. Sync handlers read the current table through Current().
//
//   RatePublisher publisher(policies, store, metrics, initial_version);
//   publisher.Recompute(clock.Now());           // the recompute thread, every second
//   auto tables = publisher.Current();          // any thread
//
// Recompute is called from one thread at a time; Current, policies and SetPolicies from any.
#pragma once

#include <memory>
#include <mutex>

#include "server/common/clock.h"
#include "server/policy/policy.h"
#include "server/rates/rate_engine.h"
#include "server/rates/rate_table.h"
#include "server/service/metrics.h"
#include "server/store/store.h"

namespace fleetrate::server {

class RatePublisher {
 public:
  // `first_version` seeds table versions; pass something that grows across restarts (the wall
  // clock in milliseconds) so a client never mistakes a new table for the one it holds.
  RatePublisher(std::shared_ptr<const Policies> policies, Store& store, ServerMetrics& metrics,
                uint64_t first_version, EngineOptions options = {});

  void Recompute(Timestamp now);

  [[nodiscard]] std::shared_ptr<const RateTables> Current() const;
  [[nodiscard]] std::shared_ptr<const Policies> policies() const;
  // Both at once, under one lock (the Sync path).
  struct Snapshot {
    std::shared_ptr<const Policies> policies;
    std::shared_ptr<const RateTables> tables;
  };
  [[nodiscard]] Snapshot snapshot() const;
  void SetPolicies(std::shared_ptr<const Policies> policies);
  // True once the first table has been published.
  [[nodiscard]] bool ready() const;

 private:
  // A follower's Recompute: adopt the leader's newest table, if it is new.
  void Follow();
  void Serve(std::shared_ptr<const RateTables> tables);

  Store& store_;
  ServerMetrics& metrics_;
  const EngineOptions options_;
  // Only touched by Recompute:
  uint64_t next_version_;
  uint64_t overflow_seen_ = 0;
  uint64_t followed_sequence_ = 0;  // the leader's publication this replica serves
  Timestamp last_publish_{};

  mutable std::mutex mu_;
  std::shared_ptr<const Policies> policies_;  // guarded by mu_
  std::shared_ptr<const RateTables> tables_;  // guarded by mu_; null before the first Recompute
};

}  // namespace fleetrate::server
