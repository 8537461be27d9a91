// Conversions between the server's types and what replicas keep in Redis
// (proto/fleetrate/store/v1/store.proto). Lossless: a table read back equals the one written,
// so a follower serves exactly what the leader computed.
//
// Redis is not trusted: anyone who can write to it can write anything. A replica validates
// every report and table it reads as strictly as a Sync request before applying or serving it:
//
//   if (absl::Status s = ValidateStored(stored_report, limits); !s.ok()) { /* drop, count */ }
//
// The functions are pure and thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>

#include "absl/status/status.h"
#include "fleetrate/store/v1/store.pb.h"
#include "server/policy/policy.h"
#include "server/rates/aggregator.h"
#include "server/rates/rate_table.h"

namespace fleetrate::server {

void ToStored(const ClientReport& report, Duration sync_interval, store::v1::StoredReport* out);
// The inverse of ToStored; `*sync_interval` receives the server-requested interval.
[[nodiscard]] ClientReport FromStored(const store::v1::StoredReport& in, Duration* sync_interval);

void ToStored(const RateTables& tables, store::v1::StoredTables* out);
// The tables of `in`, explained against `policies` (every replica loads the same policy file).
[[nodiscard]] std::shared_ptr<const RateTables> FromStored(
    const store::v1::StoredTables& in, std::shared_ptr<const Policies> policies);

// What a stored report or table must meet. Reports: the Sync's limits (SyncLimits in
// server/service/sampling_service.h; the server copies them here). Tables: what the engine can
// produce from such reports.
struct StoredLimits {
  size_t max_instance_id_bytes = 128;
  size_t max_service_bytes = 128;
  size_t max_environment_bytes = 64;
  size_t max_operation_bytes = 256;
  size_t max_operations = 2000;  // per report
  int64_t max_interval_ms = 3'600'000;
  double max_roots_per_second = 1e9;     // per operation and client
  size_t max_scopes = 100000;            // per table
  size_t max_table_operations = 100000;  // per scope
  size_t max_profile_name_bytes = 256;
};

// OK, or INVALID_ARGUMENT naming the field and the limit: strings valid UTF-8 within their byte
// limits, 0 <= interval_ms <= max (and > 0 with operations), sync_interval_ms and
// age_at_flush_ms within bounds, at most max_operations distinct operations, roots_seen within
// max_roots_per_second of the interval, roots_sampled <= roots_seen.
[[nodiscard]] absl::Status ValidateStored(const store::v1::StoredReport& in,
                                          const StoredLimits& limits);
// OK, or INVALID_ARGUMENT naming the field (scopes[i].operations[j].probability, ...) and the
// limit: names as for reports, no duplicate scope or operation, probability finite in [0, 1],
// threshold = ProbabilityToThreshold(probability) (so <= 2^56), rates finite and >= 0, batch
// profile and capture within the policy file's bounds.
[[nodiscard]] absl::Status ValidateStored(const store::v1::StoredTables& in,
                                          const StoredLimits& limits);

}  // namespace fleetrate::server
