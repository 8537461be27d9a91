// Batcher: ships finished spans to an Exporter in batches, off the application's threads.
//
// A bounded multi-producer ring of preallocated span slots and one export thread (the
// OpenTelemetry batch span processor, without its known failures). Add copies a span into a
// free slot (no per-span heap allocation once slots are warm) and never blocks: when the queue
// is full it returns false and counts the drop. A batch leaves when max_export_batch_size spans
// are queued, when schedule_delay has passed since the previous export, or on ForceFlush; the
// worker is woken only for a full batch, a flush or shutdown (never per span), by a producer
// that changes the worker's predicate under the worker's mutex, so no wake-up is lost. Each
// Export gets a deadline (export_timeout); a batch whose export fails or times out is counted
// as dropped with that reason. Shutdown(timeout) exports everything Add accepted, unless the
// timeout expires first (the rest is counted as dropped at shutdown).
//
// Edge capture: a span of an unsampled trace (SpanView::sampled false; the Sampler returned
// kRecordOnly) is accepted only if it ended in error or lasted at least slow_threshold, within
// the CapturePolicy's per-second quotas; it is then marked with CaptureReason (exporters add
// the attribute "fleetrate.capture.reason"). Other unsampled spans are refused (not a drop).
//
//   auto batcher = std::make_unique<fleetrate::Batcher>(
//       std::make_unique<fleetrate::JsonLinesExporter>(std::cout));
//   (void)batcher->Add(span_view);     // any thread
//   batcher->ForceFlush(std::chrono::seconds(1));
//   batcher->Shutdown(std::chrono::seconds(5));  // or let the destructor do it
//
// The profile (queue size, batch size, delay, export timeout) and the capture policy can be
// changed at any time (the Client applies those the server sends): new sizes apply to the next
// Add and the next batch, a new delay after the next export. The queue size is clamped to
// BatcherOptions::max_queue_capacity, the ring's physical size fixed at construction.
//
// Thread safety: every method may be called from any thread. The Batcher owns the exporter
// and its export thread, which Shutdown joins; the exporter is called from that thread only.
// Accounting (stats()): accepted == exported + dropped_export_failed + dropped_export_timeout
// + dropped_shutdown once the Batcher is shut down.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "fleetrate/exporter.h"
#include "fleetrate/rate_table.h"
#include "fleetrate/sampler.h"
#include "fleetrate/span.h"

namespace fleetrate {

// The server's named profiles (DESIGN.md): queue / batch / delay ms / export timeout ms.
[[nodiscard]] BatchProfile BalancedProfile();        // 2048 / 512 / 5000 / 30000
[[nodiscard]] BatchProfile HighThroughputProfile();  // 8192 / 2048 / 10000 / 60000
[[nodiscard]] BatchProfile LowLatencyProfile();      // 512 / 128 / 1000 / 10000

struct BatcherOptions {
  BatchProfile profile = BalancedProfile();
  // Physical ring size (rounded up to a power of two); profiles cannot exceed it.
  uint32_t max_queue_capacity = 8192;
  CapturePolicy capture;
  // For the capture quotas' token buckets. Not owned; null: the coarse monotonic clock.
  const SamplerClock* clock = nullptr;
};

struct BatcherStats {
  uint64_t accepted = 0;  // Add returned true
  uint64_t exported = 0;
  uint64_t dropped_queue_full = 0;  // Add returned false: queue full (not accepted)
  uint64_t dropped_export_failed = 0;
  uint64_t dropped_export_timeout = 0;
  uint64_t dropped_shutdown = 0;         // accepted, still queued when Shutdown's timeout expired
  uint64_t rejected_after_shutdown = 0;  // Add after Shutdown (not accepted)
  uint64_t captured_errors = 0;          // accepted by edge capture (subset of accepted)
  uint64_t captured_slow = 0;
  uint64_t not_captured = 0;  // unsampled spans refused by edge capture (not accepted)
  uint64_t batches = 0;       // Export calls
  uint64_t export_nanos_total = 0;
  uint64_t export_nanos_last = 0;
  uint64_t queue_depth = 0;  // accepted, not yet exported or dropped
};

class Batcher {
 public:
  // Starts the export thread. `exporter` must not be null.
  explicit Batcher(std::unique_ptr<Exporter> exporter, BatcherOptions options = {});
  ~Batcher();  // Shutdown(5 s) if not yet shut down
  Batcher(const Batcher&) = delete;
  Batcher& operator=(const Batcher&) = delete;

  // Copies `span` into the queue; false if it was not accepted (queue full, shut down, or an
  // unsampled span that edge capture refused). Never blocks, never throws.
  [[nodiscard]] bool Add(const SpanView& span) noexcept;

  // Exports everything accepted before the call; true if that finished within `timeout`.
  [[nodiscard]] bool ForceFlush(std::chrono::milliseconds timeout) noexcept;

  // Stops accepting, exports everything accepted (each export's deadline is capped by the
  // shutdown deadline), shuts the exporter down and joins the export thread. True if nothing
  // accepted was dropped at shutdown. Idempotent (later calls return the first result).
  bool Shutdown(std::chrono::milliseconds timeout = std::chrono::seconds(5)) noexcept;

  // Live changes; zero fields of `profile` keep the current value.
  void SetProfile(const BatchProfile& profile) noexcept;
  void SetCapturePolicy(const CapturePolicy& policy) noexcept;

  [[nodiscard]] BatchProfile profile() const;
  [[nodiscard]] CapturePolicy capture_policy() const;
  [[nodiscard]] BatcherStats stats() const noexcept;
  [[nodiscard]] uint32_t capacity() const noexcept { return static_cast<uint32_t>(capacity_); }

 private:
  struct Slot;
  using SteadyClock = std::chrono::steady_clock;

  void Run() noexcept;
  // Exports the `n` spans at the head (waiting for slots still being written).
  void ExportHead(uint64_t n, SteadyClock::time_point deadline_cap) noexcept;
  [[nodiscard]] uint64_t Queued() const noexcept;
  [[nodiscard]] CaptureReason Capture(const SpanView& span) noexcept;
  void WakeWorker() noexcept;

  static constexpr uint64_t kClosedBit = uint64_t{1} << 63;

  const std::unique_ptr<Exporter> exporter_;
  const uint64_t capacity_;
  const uint64_t mask_;
  const SamplerClock* const clock_;
  std::unique_ptr<Slot[]> slots_;

  // Producer side: the next position to claim; kClosedBit set at shutdown.
  alignas(64) std::atomic<uint64_t> enqueue_pos_{0};
  // Consumer side: positions below are exported or dropped (written by the worker only).
  alignas(64) std::atomic<uint64_t> dequeue_pos_{0};
  std::atomic<bool> worker_waiting_{false};
  // Set by Shutdown before it wakes the worker, so a worker busy with a backlog stops between
  // batches and caps every later export at the shutdown deadline (steady-clock ticks).
  std::atomic<bool> stop_requested_{false};
  std::atomic<SteadyClock::rep> shutdown_deadline_ticks_{0};

  alignas(64) std::atomic<uint32_t> max_queue_size_;
  std::atomic<uint32_t> max_export_batch_size_;
  std::atomic<uint32_t> schedule_delay_ms_;
  std::atomic<uint32_t> export_timeout_ms_;
  std::atomic<int64_t> error_interval_ns_{0};
  std::atomic<int64_t> slow_interval_ns_{0};
  std::atomic<int64_t> slow_threshold_ns_{0};
  std::atomic<double> errors_per_second_{0.0};
  std::atomic<double> slow_per_second_{0.0};

  alignas(64) std::atomic<uint64_t> dropped_queue_full_{0};
  std::atomic<uint64_t> rejected_after_shutdown_{0};
  std::atomic<uint64_t> not_captured_{0};
  std::atomic<uint64_t> captured_errors_{0};
  std::atomic<uint64_t> captured_slow_{0};
  // Written by the worker only.
  alignas(64) std::atomic<uint64_t> exported_{0};
  std::atomic<uint64_t> dropped_export_failed_{0};
  std::atomic<uint64_t> dropped_export_timeout_{0};
  std::atomic<uint64_t> dropped_shutdown_{0};
  std::atomic<uint64_t> batches_{0};
  std::atomic<uint64_t> export_nanos_total_{0};
  std::atomic<uint64_t> export_nanos_last_{0};

  struct CaptureBuckets;
  std::unique_ptr<CaptureBuckets> capture_buckets_;

  mutable std::mutex mu_;
  std::condition_variable cv_;                 // wakes the worker
  std::condition_variable done_cv_;            // signals flush_done_ and finished_
  bool wake_ = false;                          // guarded by mu_: a full batch is queued
  bool stopping_ = false;                      // guarded by mu_
  bool finished_ = false;                      // guarded by mu_: the worker has exited
  SteadyClock::time_point shutdown_deadline_;  // guarded by mu_
  uint64_t flush_requested_ = 0;               // guarded by mu_
  uint64_t flush_done_ = 0;                    // guarded by mu_
  std::string profile_name_;                   // guarded by mu_

  std::mutex shutdown_mu_;       // serializes Shutdown
  bool shut_down_ = false;       // guarded by shutdown_mu_
  bool shutdown_result_ = true;  // guarded by shutdown_mu_
  std::thread thread_;           // joined by Shutdown
};

}  // namespace fleetrate
