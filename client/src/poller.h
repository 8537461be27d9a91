// Internal: the Client's poller, one thread running a Boost.Asio io_context that calls
// SamplingService.Sync on a jittered timer, reports the Sampler's counts and applies the rate
// tables the server returns.
//
// Schedule: the first Sync right at Start; after a success the server's next_sync_interval_ms
// (or the previous interval if it sent 0; initial_sync_interval at first) clamped to
// [min_sync_interval, max_sync_interval], +-10 % jitter; after a failure exponential backoff
// from min_sync_interval, doubling, capped at max_backoff, +-10 % jitter. Each Sync is a
// blocking call with deadline sync_timeout, on the poller thread only.
//
// Counts: each attempt takes the Sampler's counts (snapshot-and-reset) and merges them into
// the pending counts; a success clears them, a failure carries them (and the interval they
// cover) into the next attempt, so nothing is lost or sent twice. The batcher's span counts
// are sent as the difference between its cumulative stats and those of the last successful
// Sync; failed_syncs is the number of failed attempts since the last success.
//
// Resilience: the last table is kept while Syncs fail until table_ttl has passed since it
// arrived; then the Sampler returns to the initial strategy (logged, counted). With a
// cache_path, a table younger than table_ttl is read at Start and each new table is written
// (to a new temporary file in the same directory, then renamed). The cache is read only if it
// is a regular file of at most kMaxCacheBytes (opened non-blocking: a FIFO, a directory or a
// device is ignored, never waited on). Every table, from the server or the cache, must pass
// ValidateTable; one that fails is ignored (logged, counted in tables_rejected).
//
// Reconnects: gRPC's own reconnect backoff (1 s, x1.6 per failed connect, up to 120 s) would
// fail every Sync at once until its timer fires, however short max_backoff is. With the
// channel given, an attempt that finds it in TRANSIENT_FAILURE resets that backoff and lets the
// channel connect first, so the client's schedule decides when the server is tried.
//
// Thread safety: Start once; Shutdown and the stats accessors from any thread. All other state
// belongs to the poller thread.
#pragma once

#include <grpcpp/channel.h>

#include <atomic>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "absl/status/status.h"
#include "fleetrate/client.h"
#include "fleetrate/sampler.h"
#include "fleetrate/v1/sampling.grpc.pb.h"

namespace fleetrate::internal {

// The largest cache file read; gRPC's default limit of a received message, so every table
// that arrived in a Sync fits.
inline constexpr int64_t kMaxCacheBytes = int64_t{4} << 20;

// Whether `response` (not a not_modified answer) holds a table the client can apply:
// table_version non-zero; for the default rate and each listed rate, probability finite in
// [0, 1], threshold at most 2^56 and within 1e-4 of the probability it encodes
// (T = (1 - p) * 2^56), local cap, lower bound and burst finite and >= 0; listed operations
// 1 to Sampler::kMaxOperationNameBytes bytes; capture quotas finite and >= 0.
// INVALID_ARGUMENT names the first field that is not.
[[nodiscard]] absl::Status ValidateTable(const v1::SyncResponse& response);

class Poller {
 public:
  // The wire limit of SyncRequest.interval_ms.
  static constexpr std::chrono::milliseconds kMaxReportInterval{3'600'000};

  // `options` must be valid (Client::Create checks) with instance_id set. `sampler` must
  // outlive the Poller.
  // `batcher` may be null; if not, it must outlive the Poller. `channel`, if given, is the one
  // `stub` calls through (see Reconnects above).
  Poller(ClientOptions options, std::unique_ptr<v1::SamplingService::StubInterface> stub,
         Sampler& sampler, Batcher* batcher = nullptr,
         std::shared_ptr<grpc::Channel> channel = nullptr);
  ~Poller();  // Shutdown with the default timeout
  Poller(const Poller&) = delete;
  Poller& operator=(const Poller&) = delete;

  void Start();
  void Shutdown(std::chrono::milliseconds timeout) noexcept;

  [[nodiscard]] uint64_t syncs_ok() const noexcept {
    return syncs_ok_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t syncs_failed() const noexcept {
    return syncs_failed_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t tables_expired() const noexcept {
    return tables_expired_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] uint64_t tables_rejected() const noexcept {
    return tables_rejected_.load(std::memory_order_relaxed);
  }
  [[nodiscard]] bool table_from_cache() const noexcept {
    return table_from_cache_.load(std::memory_order_relaxed);
  }

 private:
  using Clock = std::chrono::steady_clock;
  struct PendingCounts {
    uint64_t roots_seen = 0;
    uint64_t roots_sampled = 0;
  };

  void Run() noexcept;
  void ScheduleSync(Clock::duration delay);
  void OnTimer() noexcept;
  // One Sync attempt with the pending counts. After Shutdown began only the `final` attempt
  // is sent. Returns the response on success.
  std::optional<v1::SyncResponse> SyncOnce(Clock::time_point deadline, bool final);
  // Applies a response's table, profile and capture policy; `from_cache` skips writing it.
  void ApplyResponse(const v1::SyncResponse& response, bool from_cache);
  // Builds the rate table of `response` with this client's adaptive caps
  // (burst × p × its own rate) and applies it.
  void ApplyRates(const v1::SyncResponse& response);
  // The local cap of `rate` for this client, from its own rate of `operation`; 0: none.
  [[nodiscard]] double LocalCap(const v1::OperationRate& rate, const std::string& operation) const;
  // True when a cap computed now differs from the applied one by more than a quarter.
  [[nodiscard]] bool CapsMoved(const v1::SyncResponse& response) const;
  // Lets a channel waiting out gRPC's reconnect backoff connect now, waiting for it to leave
  // TRANSIENT_FAILURE at most until min(deadline, now + 100 ms).
  void ConnectNow(Clock::time_point deadline);
  // Whether a Sync's table passes ValidateTable; if not, logs (once per version) and counts.
  bool AcceptTable(const v1::SyncResponse& response);
  void LoadCache();
  void RejectCache(const std::string& why);
  void SaveCache(const v1::SyncResponse& response);
  void ExpireTableIfStale();
  Clock::duration Jitter(Clock::duration d);

  const ClientOptions options_;
  const std::unique_ptr<v1::SamplingService::StubInterface> stub_;
  Sampler& sampler_;
  Batcher* const batcher_;
  const std::shared_ptr<grpc::Channel> channel_;  // may be null

  boost::asio::io_context io_{1};
  boost::asio::steady_timer timer_{io_};
  std::optional<boost::asio::executor_work_guard<boost::asio::io_context::executor_type>> work_;
  std::thread thread_;

  std::mutex mu_;
  bool stopping_ = false;                     // guarded by mu_
  grpc::ClientContext* in_flight_ = nullptr;  // guarded by mu_; the running Sync
  bool finished_ = false;                     // guarded by mu_; the final Sync is done
  std::condition_variable finished_cv_;       // signals finished_
  std::mutex shutdown_mu_;                    // serializes Shutdown calls
  bool shut_down_ = false;                    // guarded by shutdown_mu_

  std::atomic<uint64_t> syncs_ok_{0};
  std::atomic<uint64_t> syncs_failed_{0};
  std::atomic<uint64_t> tables_expired_{0};
  std::atomic<uint64_t> tables_rejected_{0};
  std::atomic<bool> table_from_cache_{false};

  // Poller thread only.
  std::map<std::string, PendingCounts> pending_;
  Clock::time_point last_report_;  // end of the interval the last successful Sync covered
  Clock::duration interval_;       // current regular interval (before jitter)
  Clock::duration backoff_{0};     // 0: the last attempt succeeded
  uint64_t consecutive_failures_ = 0;
  std::optional<Clock::time_point> table_received_;  // when the current table arrived
  // The last full response applied, reused to refresh caps on not_modified answers.
  std::optional<v1::SyncResponse> applied_response_;
  std::map<std::string, double> own_rates_;     // roots seen per second, last reported interval
  std::map<std::string, double> applied_caps_;  // adaptive caps in the applied table
  BatcherStats reported_spans_;                 // the batcher's stats at the last successful Sync
  BatcherStats sending_spans_;                  // the stats the Sync in progress reports
  uint64_t rejected_version_ = 0;               // the last table version refused (logged once)
  bool cache_write_failing_ = false;            // the last cache write failed (logged once per run)
  std::mt19937_64 rng_;
};

}  // namespace fleetrate::internal
