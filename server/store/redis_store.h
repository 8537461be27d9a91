// RedisStore: several replicas, one fleet view, one leader (--store redis://...).
//
// Every replica
//   - admits a Sync's report with the memory store's rules (AggregatorLimits), counted against
//     its fleet view below, so a flood is refused at the replica before it reaches Redis;
//   - buffers the latest report of each client that Syncs with it and, each flush interval,
//     appends them as one entry to the stream `<prefix>:reports` (one pipelined round trip that
//     also trims entries older than the retention and refreshes the stream's expiry);
//   - reads the whole stream, every replica's entries, into its own Aggregator (within its
//     limits: an entry beyond them is dropped and counted, reports_refused). A report
//     replaces its client's previous one whichever replica received it, so a client that moves
//     between replicas, or an entry read twice, is never counted twice; every replica holds
//     the fleet estimate, so a new leader needs no warm-up;
//   - competes for the lease `<prefix>:leader` (SET NX PX; renewed by its holder with a
//     compare-and-expire script; released with compare-and-delete on shutdown).
// The leader runs the rate engine on that estimate and publishes the table to `<prefix>:table`
// through a script that writes only while it still holds the lease (a stale leader cannot
// overwrite a newer one's table); followers fetch it when `<prefix>:table:sequence` changes and
// serve it.
//
// Faults. Redis unreachable: reports stay buffered (latest per client, bounded, expired ones
// dropped and counted), every replica keeps serving its last table and stays ready, status()
// says disconnected, and the thread reconnects with backoff; a leader that cannot renew its
// lease stops leading when the lease runs out. Redis restarted empty: the stream starts over,
// the lease is contended again, nothing is replayed twice. Entry ids are Redis's own clock,
// so report ages do not depend on the replicas' clocks.
//
// Untrusted contents. Everything read from Redis is validated as strictly as a Sync request
// (stored_format.h): an invalid report or entry is dropped and counted, an invalid table is
// refused and the last good one stays served. A lease held by someone else that cannot expire
// (no PTTL, or one beyond 2 x lease) is deleted with a compare-and-delete script and contended
// normally. A reports key that is not a stream is reported (degraded) and its expiry is never
// refreshed. No new table for `stale_after` (rates stopped moving) is degraded too. Degraded
// replicas stay ready: the last table is still the best answer they have.
//
// Thread-safe. One background thread talks to Redis; Report, Estimate, Publish and the status
// accessors only touch state under a mutex.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <unordered_map>

#include "fleetrate/store/v1/store.pb.h"
#include "server/common/clock.h"
#include "server/common/log_throttle.h"
#include "server/store/redis_client.h"
#include "server/store/store.h"
#include "server/store/stored_format.h"

namespace fleetrate::server {

struct RedisStoreOptions {
  RedisAddress address;
  std::string key_prefix = "fleetrate";
  std::string replica_id;  // empty: hostname-pid
  std::chrono::milliseconds lease{3000};
  std::chrono::milliseconds flush_interval{250};  // also the cadence of reads and lease checks
  std::chrono::milliseconds timeout{500};         // per round trip
  // How long stream entries are kept: at least a client's lifetime (3 sync intervals), so a
  // replica that starts reads every live client's latest report.
  std::chrono::milliseconds retention{60000};
  size_t max_pending_reports = 100000;  // buffered while Redis is unreachable, one per client
  size_t max_entries_per_read = 512;
  AggregatorLimits limits;
  StoredLimits stored_limits;  // what reports and tables read from Redis must meet
  // No table published (leader) or fetched (follower) for this long: degraded. 0: 3 x lease, at
  // least 10 s (a leader republishes every 5 s even when nothing changed).
  std::chrono::milliseconds stale_after{0};
};

// A lease this replica does not hold that no replica could hold that way, from what a round
// read: its holder (GET; an error if the key is not a string) and PTTL (-2 no key, -1 no
// expiry). Such a lease has no expiry, or one beyond 2 x `lease`; the result holds the value
// seen (empty if not a string), which the compare-and-delete script checks again. nullopt: leave
// it alone (ours, absent, or expiring in time).
struct LeaseRepair {
  std::string seen;
  long long max_pttl_ms = 0;
};
[[nodiscard]] std::optional<LeaseRepair> LeaseToRepair(const RedisReply& holder,
                                                       const RedisReply& pttl, bool holds,
                                                       std::chrono::milliseconds lease);

class RedisStore final : public Store {
 public:
  // Starts the background thread; it connects (and keeps retrying) on its own.
  RedisStore(RedisStoreOptions options, const Clock& clock);
  ~RedisStore() override;

  // Admits the report like the memory store (AggregatorLimits: the per-client Sync rate, the
  // per-peer new-client budget, max_clients and max_client_key_rates, counted against this
  // replica's fleet view, which holds every replica's clients and takes an admitted report at
  // once), then buffers it for the next flush; kTooManyClients too when max_pending_reports
  // clients wait (Redis unreachable for long). A client's buffered report is replaced, so a
  // client costs Redis one report per flush at most.
  [[nodiscard]] ReportResult Report(const ClientReport& report, Duration sync_interval,
                                    Timestamp now) override;
  [[nodiscard]] FleetEstimate Estimate(Timestamp now) override;
  [[nodiscard]] uint64_t overflowed_reports() const override;
  [[nodiscard]] std::string_view name() const noexcept override { return "redis"; }

  [[nodiscard]] bool IsLeader() const override;
  void Publish(const RateTables& tables, uint64_t sequence) override;
  [[nodiscard]] PublishedTables LatestPublished() const override;
  [[nodiscard]] StoreStatus status() const override;
  void Stop() override;

 private:
  struct Pending {
    // The serialized StoredReport (without age_at_flush_ms): ~25 bytes an operation, where the
    // parsed message takes ~120, so a full buffer stays near the fleet view's own size.
    std::string report;
    Timestamp received;
    Duration lifetime;
  };
  using PendingMap = std::unordered_map<std::string, Pending>;  // by client

  void Run();
  // One round: flush, read, lease, fetch, publish. Returns false if Redis failed.
  bool Round();
  // Moves the pending reports into `batch` and appends the commands that write them: an XADD
  // and an expiry refresh that applies only to our stream. Returns the XADD's index in
  // `commands`, 0 when nothing is written.
  size_t Flush(std::vector<std::vector<std::string>>* commands, PendingMap* batch);
  // Puts back a batch whose write failed.
  void Restore(PendingMap batch);
  bool ReadStream(long long redis_now_ms);
  void ApplyEntry(const RedisReply& entry, long long redis_now_ms);
  // One report of a stream entry into the fleet view; counts a refusal. Requires mu_.
  void ApplyReplicated(const ClientReport& report, Duration sync_interval, Timestamp received);
  void UpdateLease(const RedisReply& reply, Timestamp asked_at);
  bool FetchTable(uint64_t sequence);
  void ReleaseLease();
  void NoteFailure(const absl::Status& status);
  // Untrusted contents (see the class comment).
  // After a round: a lease held by someone else with no sane expiry is deleted and contended.
  void RepairLease(const RedisReply& holder, const RedisReply& pttl);
  // Counts and logs (throttled) something read from Redis that was refused.
  void NoteInvalid(uint64_t StoreStatus::*counter, std::string why);
  // Degraded and its reason, from the state under mu_.
  void FillDegraded(StoreStatus* s) const;
  [[nodiscard]] std::chrono::milliseconds stale_after() const;

  const RedisStoreOptions options_;
  const Clock& clock_;
  const std::string reports_key_;
  const std::string leader_key_;
  const std::string table_key_;
  const std::string sequence_key_;
  RedisClient redis_;  // only the background thread (and Stop after joining it) uses it

  // Background-thread state.
  std::string last_id_ = "0";  // the last stream entry applied
  long long redis_now_ms_ = 0;
  bool ever_connected_ = false;
  bool logged_unreachable_ = false;
  uint64_t fetched_sequence_ = 0;
  Timestamp last_invalid_log_{};
  uint64_t invalid_unlogged_ = 0;
  Timestamp last_repair_log_{};
  bool logged_stale_ = false;

  mutable std::mutex mu_;
  std::condition_variable wake_;
  bool stopping_ = false;             // guarded by mu_
  bool round_requested_ = false;      // guarded by mu_
  PendingMap pending_;                // guarded by mu_
  Aggregator aggregator_;             // guarded by mu_
  bool leader_ = false;               // guarded by mu_
  Timestamp lease_valid_until_{};     // guarded by mu_
  std::string to_publish_;            // guarded by mu_; serialized table
  uint64_t to_publish_sequence_ = 0;  // guarded by mu_
  PublishedTables latest_;            // guarded by mu_
  StoreStatus status_;                // guarded by mu_
  std::string reports_error_;         // guarded by mu_; the reports key is not our stream
  std::string reports_write_error_;   // guarded by mu_; the last append to the stream failed
  std::string table_error_;           // guarded by mu_; the last table fetched was refused
  Timestamp last_table_at_{};         // guarded by mu_; last table published or fetched
  LogThrottle eviction_log_{3, std::chrono::minutes(1)};
  std::thread thread_;
};

}  // namespace fleetrate::server
