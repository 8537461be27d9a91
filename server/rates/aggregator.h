// Aggregator: keeps each client's latest reported rate per key and the fleet-wide sum per key.
// A client's rates expire when it misses 3 sync intervals, so the estimate follows the fleet as
// instances come and go.
//
// Sums are maintained incrementally (a report replaces the client's previous contribution), so
// Estimate costs O(keys), not O(clients × keys); every `exact_resum_every` estimates they are
// recomputed from the clients' rates to shed floating-point drift.
//
// Cardinality is bounded: a scope (service, environment) keeps at most
// `max_operations_per_service` operations and the server at most `max_keys` keys; the counts of
// further operations fold into the scope's "*" key and `overflowed_reports()` counts them.
// Memory is bounded too: at most `max_clients` live clients and `max_client_key_rates` rates
// (client × operation) in all; a report beyond those is refused (its client keeps its counts and
// retries), as is a client's report beyond its rate (`min_report_spacing`, `report_burst`).
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
  Scope scope;
  std::string instance_id;
  Duration interval{};  // covered by `operations`; > 0 when operations is non-empty
  std::vector<OperationReport> operations;
};

struct AggregatorLimits {
  size_t max_operations_per_service = 2000;
  size_t max_keys = 100000;
  int missed_intervals_to_expire = 3;
  int exact_resum_every = 60;
  size_t max_clients = 200000;
  size_t max_client_key_rates = 5000000;  // ~120 MB of per-client rates
  // Per-client rate limit: one report per `min_report_spacing` sustained, with bursts of
  // `report_burst` (a GCRA bucket per client). 0: none.
  Duration min_report_spacing{};
  int report_burst = 5;
};

enum class ReportResult {
  kAccepted,
  kTooManyClients,  // a new client beyond max_clients
  kTooManyRates,    // the report would take the rates beyond max_client_key_rates
  kTooFrequent,     // beyond the client's rate (min_report_spacing, report_burst)
};

class Aggregator {
 public:
  explicit Aggregator(AggregatorLimits limits = {}) : limits_(limits) {}

  // Replaces the client's rates with those of `report`. Operations the client does not mention
  // had no traffic at this client. `sync_interval` is the interval the server asked for; the
  // client expires after missed_intervals_to_expire × max(sync_interval, report.interval).
  [[nodiscard]] ReportResult Report(const ClientReport& report, Duration sync_interval,
                                    Timestamp now);

  // Drops expired clients and keys idle for their expiry, then returns the fleet's sums; keys
  // with no live reporter yet are included at zero traffic.
  [[nodiscard]] FleetEstimate Estimate(Timestamp now);

  [[nodiscard]] uint64_t overflowed_reports() const noexcept { return overflowed_reports_; }
  [[nodiscard]] size_t keys() const noexcept { return keys_; }
  [[nodiscard]] size_t clients() const noexcept { return clients_; }
  [[nodiscard]] size_t client_key_rates() const noexcept { return rates_; }

 private:
  struct KeyState {
    double seen_per_second = 0;  // running sums over the clients below
    double sampled_per_second = 0;
    uint32_t clients = 0;  // clients whose latest report includes this key
    Timestamp expires_at;  // idle keys age out; a key with clients never does
  };
  struct Contribution {
    KeyState* key;  // stable: unordered_map nodes do not move, and a key with clients stays
    double seen_per_second;
    double sampled_per_second;
  };
  struct ClientState {
    Timestamp expires_at;
    Timestamp report_tat = Timestamp::min();  // the rate limit's theoretical arrival time
    std::vector<Contribution> contributions;
  };
  struct ScopeState {
    std::unordered_map<std::string, ClientState> clients;  // by instance_id
    std::unordered_map<std::string, KeyState> keys;        // by operation
  };

  // The key `operation` is counted under: itself, or "*" when a cap is reached.
  KeyState& KeyFor(ScopeState& scope, const std::string& operation);
  void Withdraw(ClientState& client);
  void Prune(Timestamp now);
  void Resum();

  AggregatorLimits limits_;
  std::unordered_map<Scope, ScopeState, ScopeHash> scopes_;
  size_t keys_ = 0;
  size_t clients_ = 0;
  size_t rates_ = 0;  // contributions of all clients
  uint64_t overflowed_reports_ = 0;
  int estimates_since_resum_ = 0;
};

}  // namespace fleetrate::server
