// Store: where client reports go, where the fleet estimate comes from, and — with several
// replicas — how they agree on one rate table. One implementation per backend: MemoryStore (one
// replica, the default) and RedisStore (several replicas sharing one fleet view, one leader
// computing the table). The service layer only talks to this interface.
//
// Implementations are thread-safe: Sync handlers call Report concurrently with the recompute
// thread's Estimate, IsLeader, Publish and LatestPublished.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "server/common/clock.h"
#include "server/rates/aggregator.h"
#include "server/rates/fleet_estimate.h"
#include "server/rates/rate_table.h"

namespace fleetrate::server {

// What /debug/store and the fleetrate_store_* metrics show. Counters are totals since start.
struct StoreStatus {
  std::string backend;  // "memory", "redis"
  std::string address;  // "host:port/db" (never a password); empty for memory
  std::string replica_id;
  bool connected = true;  // the backend answers (always true for memory)
  bool leader = true;     // this replica computes and publishes the table
  std::string leader_id;  // the replica holding the lease, as last seen; empty if none
  std::string last_error;
  uint64_t errors = 0;            // failed round trips to the backend
  uint64_t reports_written = 0;   // client reports this replica wrote to the backend
  uint64_t reports_read = 0;      // client reports (of every replica) applied to the estimate
  uint64_t reports_dropped = 0;   // expired or over the pending bound while disconnected
  uint64_t tables_published = 0;  // by this replica as leader
  uint64_t tables_fetched = 0;    // published by a leader and fetched by this replica
  uint64_t leader_changes = 0;    // times this replica gained or lost the lease
  // Redis is not trusted. Degraded: disconnected, or what Redis holds cannot be used (the
  // reports key is not a stream, the last table fetched was refused), or no new table for
  // longer than the store's bound ("rates stopped moving"); the reason says which. Cleared as
  // soon as the cause goes away; last_error is cleared by the first round that succeeds.
  bool degraded = false;
  std::string degraded_reason;
  std::string last_invalid;      // why the last report, entry or table read from Redis was refused
  double table_age_seconds = 0;  // since the last table published or fetched; 0 for memory
  uint64_t invalid_reports = 0;  // stored reports that failed validation (dropped)
  uint64_t invalid_entries = 0;  // stream entries that are not a report batch (dropped)
  uint64_t invalid_tables = 0;   // fetched tables that failed validation (not served)
  uint64_t lease_repairs = 0;    // leases without a sane expiry this replica deleted
  uint64_t clients_evicted = 0;  // idle clients evicted to admit a report to a full table
  uint64_t reports_refused = 0;  // other replicas' reports the fleet view refused at its limits
};

// A table a leader published, as a follower fetched it. `tables->policies` is null: the
// follower explains it with its own policies (every replica loads the same file).
struct PublishedTables {
  uint64_t sequence = 0;  // changes with every publication
  std::shared_ptr<const RateTables> tables;
};

class Store {
 public:
  virtual ~Store() = default;

  // Takes a client's report, or refuses it when the store is at a limit (AggregatorLimits).
  [[nodiscard]] virtual ReportResult Report(const ClientReport& report, Duration sync_interval,
                                            Timestamp now) = 0;
  [[nodiscard]] virtual FleetEstimate Estimate(Timestamp now) = 0;
  // Reports whose operations were folded into a service's "*" key by the cardinality caps.
  [[nodiscard]] virtual uint64_t overflowed_reports() const = 0;
  // "memory", "redis".
  [[nodiscard]] virtual std::string_view name() const noexcept = 0;

  // Replication. A single-replica store always leads and publishes nowhere.
  [[nodiscard]] virtual bool IsLeader() const { return true; }
  // The leader hands over each table it computed, with the sequence it computed it under.
  virtual void Publish(const RateTables& /*tables*/, uint64_t /*sequence*/) {}
  // The newest table a leader published (tables null if none yet).
  [[nodiscard]] virtual PublishedTables LatestPublished() const { return {}; }
  [[nodiscard]] virtual StoreStatus status() const {
    StoreStatus s;
    s.backend = std::string(name());
    return s;
  }
  // Shutdown: write what is pending, give up leadership. Reports after Stop are not shared.
  virtual void Stop() {}
};

}  // namespace fleetrate::server
