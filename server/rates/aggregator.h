// Aggregator: keeps each client's latest reported rate per (service, operation) and sums them
// into a FleetEstimate. A client's entries expire when it misses 3 sync intervals, so the
// estimate follows the fleet as instances come and go.
//
// Cardinality is bounded: a service keeps at most `max_operations_per_service` operations and
// the server at most `max_keys` keys; the counts of further operations fold into the service's
// "*" key and `overflowed_reports()` counts them. Nothing is dropped.
//
// Not thread-safe: the owning Store serialises calls. Time comes in as arguments.
#pragma once

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

#include "server/common/clock.h"
#include "server/rates/fleet_estimate.h"

namespace fleetrate::server {

struct OperationReport {
  std::string operation;
  uint64_t roots_seen = 0;
  uint64_t roots_sampled = 0;
};

// One client's counts since its previous report.
struct ClientReport {
  std::string service;
  std::string instance_id;
  Duration interval{};  // covered by `operations`; > 0 when operations is non-empty
  std::vector<OperationReport> operations;
};

struct AggregatorLimits {
  size_t max_operations_per_service = 2000;
  size_t max_keys = 100000;
  int missed_intervals_to_expire = 3;
};

class Aggregator {
 public:
  explicit Aggregator(AggregatorLimits limits = {}) : limits_(limits) {}

  // Replaces the client's rates with those of `report`. Operations the client does not mention
  // had no traffic at this client. `sync_interval` is the interval the server asked for; the
  // client expires after missed_intervals_to_expire × max(sync_interval, report.interval).
  void Report(const ClientReport& report, Duration sync_interval, Timestamp now);

  // Drops expired clients and idle keys, then sums the live clients.
  [[nodiscard]] FleetEstimate Estimate(Timestamp now);

  [[nodiscard]] uint64_t overflowed_reports() const noexcept { return overflowed_reports_; }

 private:
  struct Rates {
    double seen_per_second = 0;
    double sampled_per_second = 0;
  };
  struct ClientState {
    Timestamp expires_at;
    std::unordered_map<std::string, Rates> operations;
  };
  struct ServiceState {
    std::unordered_map<std::string, ClientState> clients;         // by instance_id
    std::unordered_map<std::string, Timestamp> known_operations;  // op → expiry of its key
  };

  // The key `operation` is counted under: itself, or "*" when a cap is reached.
  const std::string& KeyFor(ServiceState& service, const std::string& operation,
                            Timestamp expires_at);
  void Prune(Timestamp now);

  AggregatorLimits limits_;
  std::unordered_map<std::string, ServiceState> services_;
  size_t keys_ = 0;  // sum of known_operations sizes
  uint64_t overflowed_reports_ = 0;
};

}  // namespace fleetrate::server
