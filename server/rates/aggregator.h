// Aggregator: keeps each client's latest reported rate per key and the fleet-wide sum per key.
// A client's rates expire when it misses 3 sync intervals, so the estimate follows the fleet as
// instances come and go. The interval a client claims counts only within bounds the server sets
// (at least the server's sync interval, at most `max_client_interval`), so no claim keeps an
// entry for hours.
//
// Sums are maintained incrementally (a report replaces the client's previous contribution), so
// Estimate costs O(keys), not O(clients × keys); every `exact_resum_every` estimates they are
// recomputed from the clients' rates to shed floating-point drift.
//
// Cardinality is bounded: a scope (service, environment) keeps at most
// `max_operations_per_service` operations and the server at most `max_keys` keys; the counts of
// further operations fold into the scope's "*" key and `overflowed_reports()` counts them.
// Memory is bounded too: at most `max_clients` live clients and `max_client_key_rates` rates
// (client × operation) in all. Admission at those limits is fair: a report that does not fit
// first evicts the least recently reporting clients that are idle (no report for
// `idle_intervals_to_evict` sync intervals: a live client reports every interval), in O(1) each
// from a list kept in reporting order; only when none is idle is it refused (its client keeps
// its counts and retries). A client's report beyond its rate (`min_report_spacing`,
// `report_burst`) is refused too, and so is a new client from a peer (ClientReport::peer) that
// registered more than `new_clients_per_peer_burst` new clients, then one per
// `new_client_spacing_per_peer` (a bucket per peer, at most `max_peers` of them; peers beyond
// that share one bucket).
//
//   Aggregator aggregator(limits);
//   switch (aggregator.Report(report, sync_interval, now)) { ... }   // a Sync
//   (void)aggregator.Replicate(report, sync_interval, received_at); // another replica's report
//   FleetEstimate fleet = aggregator.Estimate(now);
//
// Not thread-safe: the owning Store serialises calls. Time comes in as arguments.
#pragma once

#include <array>
#include <cstdint>
#include <list>
#include <string>
#include <string_view>
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
  // Who sent it, for admission: the sender's address (one key per host; see PeerKey in the
  // service). Empty: unknown, no per-peer limit (replicated reports, tests, tools).
  std::string peer{};
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
  // A client's claimed interval counts within [server sync interval, max(server sync interval,
  // max_client_interval)]: its lifetime is at most missed_intervals_to_expire × that.
  Duration max_client_interval = std::chrono::minutes(5);
  // At max_clients or max_client_key_rates, clients without a report for this many server sync
  // intervals may be evicted, least recently reporting first, to admit a new report.
  int idle_intervals_to_evict = 2;
  // New clients per peer address: bursts of `new_clients_per_peer_burst`, then one per
  // `new_client_spacing_per_peer`. Spacing 0: no per-peer limit.
  Duration new_client_spacing_per_peer{};
  int new_clients_per_peer_burst = 1000;
  size_t max_peers = 10000;  // peer buckets kept; peers beyond share one bucket
};

enum class ReportResult {
  kAccepted,
  kTooManyClients,             // a new client beyond max_clients
  kTooManyRates,               // the report would take the rates beyond max_client_key_rates
  kTooFrequent,                // beyond the client's rate (min_report_spacing, report_burst)
  kTooManyNewClientsFromPeer,  // a new client beyond its peer's new-client budget
};

// A short name per result, for metrics labels and logs: "accepted", "too_many_clients",
// "too_many_rates", "too_frequent", "peer_new_clients".
[[nodiscard]] std::string_view ReportResultName(ReportResult result) noexcept;

class Aggregator {
 public:
  explicit Aggregator(AggregatorLimits limits = {}) : limits_(limits) {}

  // Replaces the client's rates with those of `report`. Operations the client does not mention
  // had no traffic at this client. `sync_interval` is the interval the server asked for; the
  // client expires after missed_intervals_to_expire × ClampedInterval(...). Enforces every
  // limit, evicting idle clients first where that makes room.
  [[nodiscard]] ReportResult Report(const ClientReport& report, Duration sync_interval,
                                    Timestamp now);
  // A report that another replica admitted (Redis mode's stream), received at `received`: the
  // same, without the per-client rate limit and the per-peer budget (the receiving replica
  // applied them, and replays after a reconnect would trip them). At max_clients or
  // max_client_key_rates it is refused like a Sync, so memory stays bounded.
  [[nodiscard]] ReportResult Replicate(const ClientReport& report, Duration sync_interval,
                                       Timestamp received);

  // The interval a client's lifetime is measured in: its claim bounded by the server.
  [[nodiscard]] Duration ClampedInterval(Duration claimed, Duration sync_interval) const noexcept;

  // Drops expired clients and keys idle for their expiry, then returns the fleet's sums; keys
  // with no live reporter yet are included at zero traffic.
  [[nodiscard]] FleetEstimate Estimate(Timestamp now);

  [[nodiscard]] uint64_t overflowed_reports() const noexcept { return overflowed_reports_; }
  [[nodiscard]] size_t keys() const noexcept { return keys_; }
  [[nodiscard]] size_t clients() const noexcept { return clients_; }
  [[nodiscard]] size_t client_key_rates() const noexcept { return rates_; }
  // Idle clients evicted to admit a report (a full table), since construction.
  [[nodiscard]] uint64_t evicted_clients() const noexcept { return evicted_clients_; }
  // Reports refused with `result` (not kAccepted), since construction.
  [[nodiscard]] uint64_t refused_reports(ReportResult result) const noexcept {
    return refused_[static_cast<size_t>(result)];
  }

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
  struct ScopeState;
  // One client in reporting order (oldest first). Points at map nodes, which never move.
  struct RecentClient {
    ScopeState* scope;
    const std::string* instance_id;
    Timestamp last_report;
  };
  struct ClientState {
    Timestamp expires_at;
    Timestamp report_tat = Timestamp::min();  // the rate limit's theoretical arrival time
    std::vector<Contribution> contributions;
    std::list<RecentClient>::iterator recent;  // its place in recent_
  };
  struct ScopeState {
    std::unordered_map<std::string, ClientState> clients;  // by instance_id
    std::unordered_map<std::string, KeyState> keys;        // by operation
  };
  struct PeerState {
    Timestamp tat = Timestamp::min();  // new-client budget's theoretical arrival time
    std::list<const std::string*>::iterator recent;
  };

  ReportResult Admit(const ClientReport& report, Duration sync_interval, Timestamp now,
                     bool intake);
  // Evicts the least recently reporting client if it is idle at `now` and is not `keep`.
  bool EvictOneIdle(Timestamp now, Duration sync_interval, const ClientState* keep);
  void Erase(ScopeState& scope, std::unordered_map<std::string, ClientState>::iterator it);
  // Spends one of the peer's new-client tokens; false if it has none.
  bool TakePeerToken(const std::string& peer, Timestamp now);

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
  uint64_t evicted_clients_ = 0;
  std::array<uint64_t, 5> refused_{};  // by ReportResult
  int estimates_since_resum_ = 0;
  std::list<RecentClient> recent_;  // every client, by last report, oldest first
  std::unordered_map<std::string, PeerState> peers_;
  std::list<const std::string*> recent_peers_;    // keys of peers_, least recently used first
  Timestamp shared_peer_tat_ = Timestamp::min();  // the bucket of peers beyond max_peers
};

}  // namespace fleetrate::server
