// Conversions between the server's types and what replicas keep in Redis
// (proto/fleetrate/store/v1/store.proto). Lossless: a table read back equals the one written,
// so a follower serves exactly what the leader computed.
#pragma once

#include <memory>

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

}  // namespace fleetrate::server
