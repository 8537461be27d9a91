#include "fleetrate/batcher.h"

#include <algorithm>
#include <cstdio>
#include <utility>

#include "token_bucket.h"

namespace fleetrate {
namespace {

BatchProfile MakeProfile(const char* name, uint32_t queue, uint32_t batch, uint32_t delay_ms,
                         uint32_t timeout_ms) {
  BatchProfile profile;
  profile.name = name;
  profile.max_queue_size = queue;
  profile.max_export_batch_size = batch;
  profile.schedule_delay_ms = delay_ms;
  profile.export_timeout_ms = timeout_ms;
  return profile;
}

uint64_t RoundUpPow2(uint64_t n) {
  uint64_t c = 2;
  while (c < n) c *= 2;
  return c;
}

int64_t SteadyNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
             std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

class SteadySamplerClock final : public SamplerClock {
 public:
  int64_t NowNanos() const noexcept override { return SteadyNanos(); }
};
const SteadySamplerClock kSteadyClock;

}  // namespace

BatchProfile BalancedProfile() { return MakeProfile("balanced", 2048, 512, 5000, 30000); }
BatchProfile HighThroughputProfile() {
  return MakeProfile("high_throughput", 8192, 2048, 10000, 60000);
}
BatchProfile LowLatencyProfile() { return MakeProfile("low_latency", 512, 128, 1000, 10000); }

// A ring slot (Vyukov's bounded queue): seq == pos means free for the producer of `pos`;
// seq == pos + 1 means published for the consumer; the consumer frees it with pos + capacity.
struct alignas(64) Batcher::Slot {
  std::atomic<uint64_t> seq{0};
  bool ok = true;  // false: Assign failed (out of memory); counted as an export failure
  SpanRecord record;
};

struct Batcher::CaptureBuckets {
  internal::TokenBucket errors;
  internal::TokenBucket slow;
};

Batcher::Batcher(std::unique_ptr<Exporter> exporter, BatcherOptions options)
    : exporter_(std::move(exporter)),
      capacity_(RoundUpPow2(std::max<uint32_t>(options.max_queue_capacity, 2))),
      mask_(capacity_ - 1),
      clock_(options.clock != nullptr ? options.clock : &kSteadyClock),
      slots_(new Slot[capacity_]),
      max_queue_size_(2048),
      max_export_batch_size_(512),
      schedule_delay_ms_(5000),
      export_timeout_ms_(30000),
      capture_buckets_(std::make_unique<CaptureBuckets>()) {
  for (uint64_t i = 0; i < capacity_; ++i) slots_[i].seq.store(i, std::memory_order_relaxed);
  SetProfile(options.profile);
  SetCapturePolicy(options.capture);
  thread_ = std::thread([this] { Run(); });
}

Batcher::~Batcher() { Shutdown(std::chrono::seconds(5)); }

void Batcher::SetProfile(const BatchProfile& profile) noexcept {
  const auto cap = static_cast<uint32_t>(capacity_);
  uint32_t queue = max_queue_size_.load(std::memory_order_relaxed);
  if (profile.max_queue_size != 0) queue = std::min(profile.max_queue_size, cap);
  uint32_t batch = max_export_batch_size_.load(std::memory_order_relaxed);
  if (profile.max_export_batch_size != 0) batch = profile.max_export_batch_size;
  batch = std::clamp<uint32_t>(batch, 1, queue);  // OTel: batch <= queue
  max_queue_size_.store(queue, std::memory_order_relaxed);
  max_export_batch_size_.store(batch, std::memory_order_relaxed);
  if (profile.schedule_delay_ms != 0) {
    schedule_delay_ms_.store(profile.schedule_delay_ms, std::memory_order_relaxed);
  }
  if (profile.export_timeout_ms != 0) {
    export_timeout_ms_.store(profile.export_timeout_ms, std::memory_order_relaxed);
  }
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (!profile.name.empty()) profile_name_ = profile.name;
    wake_ = true;  // re-evaluate a full batch against the new size
    cv_.notify_one();
  } catch (...) {
  }
}

BatchProfile Batcher::profile() const {
  BatchProfile profile;
  {
    std::lock_guard<std::mutex> lock(mu_);
    profile.name = profile_name_;
  }
  profile.max_queue_size = max_queue_size_.load(std::memory_order_relaxed);
  profile.max_export_batch_size = max_export_batch_size_.load(std::memory_order_relaxed);
  profile.schedule_delay_ms = schedule_delay_ms_.load(std::memory_order_relaxed);
  profile.export_timeout_ms = export_timeout_ms_.load(std::memory_order_relaxed);
  return profile;
}

void Batcher::SetCapturePolicy(const CapturePolicy& policy) noexcept {
  errors_per_second_.store(policy.errors_per_second, std::memory_order_relaxed);
  slow_per_second_.store(policy.slow_per_second, std::memory_order_relaxed);
  error_interval_ns_.store(internal::IntervalNanos(policy.errors_per_second),
                           std::memory_order_relaxed);
  slow_interval_ns_.store(internal::IntervalNanos(policy.slow_per_second),
                          std::memory_order_relaxed);
  slow_threshold_ns_.store(int64_t{policy.slow_threshold_ms} * 1'000'000,
                           std::memory_order_relaxed);
}

CapturePolicy Batcher::capture_policy() const {
  CapturePolicy policy;
  policy.errors_per_second = errors_per_second_.load(std::memory_order_relaxed);
  policy.slow_per_second = slow_per_second_.load(std::memory_order_relaxed);
  policy.slow_threshold_ms =
      static_cast<uint32_t>(slow_threshold_ns_.load(std::memory_order_relaxed) / 1'000'000);
  return policy;
}

CaptureReason Batcher::Capture(const SpanView& span) noexcept {
  // One second of burst (at least one span), like the Sampler's local cap.
  const auto tolerance = [](double per_second, int64_t interval) {
    return static_cast<int64_t>((std::max(1.0, per_second) - 1.0) * static_cast<double>(interval));
  };
  if (span.status == StatusCode::kError) {
    const int64_t interval = error_interval_ns_.load(std::memory_order_relaxed);
    if (interval != 0 &&
        capture_buckets_->errors.TryTake(
            clock_->NowNanos(), interval,
            tolerance(errors_per_second_.load(std::memory_order_relaxed), interval))) {
      return CaptureReason::kError;
    }
  }
  const int64_t slow_threshold = slow_threshold_ns_.load(std::memory_order_relaxed);
  if (slow_threshold != 0 && span.end_unix_nanos - span.start_unix_nanos >= slow_threshold) {
    const int64_t interval = slow_interval_ns_.load(std::memory_order_relaxed);
    if (interval != 0 &&
        capture_buckets_->slow.TryTake(
            clock_->NowNanos(), interval,
            tolerance(slow_per_second_.load(std::memory_order_relaxed), interval))) {
      return CaptureReason::kSlow;
    }
  }
  return CaptureReason::kNone;
}

bool Batcher::Add(const SpanView& span) noexcept {
  CaptureReason capture = CaptureReason::kNone;
  if (!span.sampled) {
    capture = Capture(span);
    if (capture == CaptureReason::kNone) {
      not_captured_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
  }
  const uint64_t limit = max_queue_size_.load(std::memory_order_relaxed);
  uint64_t pos = enqueue_pos_.load(std::memory_order_relaxed);
  Slot* slot = nullptr;
  for (;;) {
    if ((pos & kClosedBit) != 0) {
      rejected_after_shutdown_.fetch_add(1, std::memory_order_relaxed);
      return false;
    }
    if (pos - dequeue_pos_.load(std::memory_order_acquire) >= limit) break;  // full
    slot = &slots_[pos & mask_];
    const uint64_t seq = slot->seq.load(std::memory_order_acquire);
    if (seq == pos) {
      // seq_cst: pairs with the worker's store of worker_waiting_ (no lost wake-up).
      if (enqueue_pos_.compare_exchange_weak(pos, pos + 1, std::memory_order_seq_cst,
                                             std::memory_order_relaxed)) {
        break;
      }
      slot = nullptr;
    } else if (seq < pos) {
      slot = nullptr;  // the slot is still being exported: full
      break;
    } else {
      slot = nullptr;
      pos = enqueue_pos_.load(std::memory_order_relaxed);
    }
  }
  if (slot == nullptr) {
    dropped_queue_full_.fetch_add(1, std::memory_order_relaxed);
    return false;
  }
  try {
    slot->record.Assign(span);
    slot->record.capture = capture;
    slot->ok = true;
  } catch (...) {
    slot->ok = false;
  }
  slot->seq.store(pos + 1, std::memory_order_release);
  if (capture == CaptureReason::kError) captured_errors_.fetch_add(1, std::memory_order_relaxed);
  if (capture == CaptureReason::kSlow) captured_slow_.fetch_add(1, std::memory_order_relaxed);
  // Wake the worker only when a full batch is queued and it sleeps; one producer wins.
  if (pos + 1 - dequeue_pos_.load(std::memory_order_relaxed) >=
          max_export_batch_size_.load(std::memory_order_relaxed) &&
      worker_waiting_.load(std::memory_order_seq_cst) &&
      worker_waiting_.exchange(false, std::memory_order_seq_cst)) {
    WakeWorker();
  }
  return true;
}

void Batcher::WakeWorker() noexcept {
  try {
    // The predicate changes under the worker's mutex, so the worker either sees it before it
    // sleeps or is already waiting when notified (opentelemetry-cpp #4373). The notify comes
    // after the unlock: a worker woken while the producer still held the mutex would block
    // on it at once and need a second kernel wake-up.
    {
      std::lock_guard<std::mutex> lock(mu_);
      wake_ = true;
    }
    cv_.notify_one();
  } catch (...) {
    // The worker still wakes at the schedule delay.
  }
}

uint64_t Batcher::Queued() const noexcept {
  return (enqueue_pos_.load(std::memory_order_seq_cst) & ~kClosedBit) -
         dequeue_pos_.load(std::memory_order_relaxed);
}

void Batcher::Run() noexcept {
  SteadyClock::time_point next_timed =
      SteadyClock::now() +
      std::chrono::milliseconds(schedule_delay_ms_.load(std::memory_order_relaxed));
  for (;;) {
    bool stop = false;
    bool timed = false;
    uint64_t flush_generation = 0;
    SteadyClock::time_point deadline_cap = SteadyClock::time_point::max();
    {
      std::unique_lock<std::mutex> lock(mu_);
      for (;;) {
        wake_ = false;
        if (stopping_ || flush_requested_ > flush_done_) break;
        if (Queued() >= max_export_batch_size_.load(std::memory_order_relaxed)) break;
        if (SteadyClock::now() >= next_timed) {
          timed = true;
          break;
        }
        worker_waiting_.store(true, std::memory_order_seq_cst);
        // Re-check after announcing the wait: a producer that claimed a slot before the store
        // is seen here; one after it sees worker_waiting_ and wakes us.
        if (Queued() >= max_export_batch_size_.load(std::memory_order_relaxed)) {
          worker_waiting_.store(false, std::memory_order_relaxed);
          break;
        }
        cv_.wait_until(lock, next_timed,
                       [&] { return wake_ || stopping_ || flush_requested_ > flush_done_; });
        worker_waiting_.store(false, std::memory_order_relaxed);
      }
      stop = stopping_;
      flush_generation = flush_requested_;
      if (stop) deadline_cap = shutdown_deadline_;
    }

    const uint64_t batch = std::max<uint32_t>(1, max_export_batch_size_.load());
    if (stop || flush_generation > 0 || timed) {
      // Export everything accepted so far (a flush or shutdown includes spans whose producers
      // are still copying: their slots are claimed, so they are waited for).
      const uint64_t target = enqueue_pos_.load(std::memory_order_seq_cst) & ~kClosedBit;
      uint64_t head = dequeue_pos_.load(std::memory_order_relaxed);
      while (head < target) {
        if (stop && SteadyClock::now() >= deadline_cap) break;
        const uint64_t n = std::min(batch, target - head);
        ExportHead(n, deadline_cap);
        head += n;
      }
    } else {
      // A backlog of full batches; Shutdown may arrive meanwhile: its branch takes over.
      while (!stop_requested_.load(std::memory_order_acquire) && Queued() >= batch) {
        ExportHead(batch, deadline_cap);
      }
    }
    next_timed = SteadyClock::now() +
                 std::chrono::milliseconds(schedule_delay_ms_.load(std::memory_order_relaxed));

    std::lock_guard<std::mutex> lock(mu_);
    if (flush_generation > flush_done_) {
      flush_done_ = flush_generation;
      done_cv_.notify_all();
    }
    if (stop) {
      // Whatever is left (the deadline passed) is dropped at shutdown.
      const uint64_t target = enqueue_pos_.load(std::memory_order_seq_cst) & ~kClosedBit;
      const uint64_t head = dequeue_pos_.load(std::memory_order_relaxed);
      dropped_shutdown_.fetch_add(target - head, std::memory_order_relaxed);
      finished_ = true;
      done_cv_.notify_all();
      return;
    }
  }
}

void Batcher::ExportHead(uint64_t n, SteadyClock::time_point deadline_cap) noexcept {
  // The worker's scratch array of pointers into the ring, allocated once.
  static thread_local std::vector<const SpanRecord*> batch;
  const uint64_t head = dequeue_pos_.load(std::memory_order_relaxed);
  try {
    if (batch.capacity() < capacity_) batch.reserve(capacity_);
  } catch (...) {
  }
  batch.clear();
  uint64_t failed = 0;
  for (uint64_t i = 0; i < n; ++i) {
    Slot& slot = slots_[(head + i) & mask_];
    // A claimed slot is published within a bounded copy: wait for it.
    while (slot.seq.load(std::memory_order_acquire) != head + i + 1) std::this_thread::yield();
    if (slot.ok) {
      batch.push_back(&slot.record);
    } else {
      ++failed;
    }
  }
  if (!batch.empty()) {
    const SteadyClock::time_point start = SteadyClock::now();
    SteadyClock::time_point deadline = std::min(
        deadline_cap,
        start + std::chrono::milliseconds(export_timeout_ms_.load(std::memory_order_relaxed)));
    if (stop_requested_.load(std::memory_order_acquire)) {
      deadline = std::min(deadline, SteadyClock::time_point(SteadyClock::duration(
                                        shutdown_deadline_ticks_.load(std::memory_order_relaxed))));
    }
    ExportResult result = exporter_->Export(SpanBatch(batch.data(), batch.size()), deadline);
    const SteadyClock::time_point end = SteadyClock::now();
    if (result == ExportResult::kSuccess && end > deadline) result = ExportResult::kTimeout;
    const auto nanos = static_cast<uint64_t>(
        std::chrono::duration_cast<std::chrono::nanoseconds>(end - start).count());
    batches_.fetch_add(1, std::memory_order_relaxed);
    export_nanos_total_.fetch_add(nanos, std::memory_order_relaxed);
    export_nanos_last_.store(nanos, std::memory_order_relaxed);
    switch (result) {
      case ExportResult::kSuccess:
        exported_.fetch_add(batch.size(), std::memory_order_relaxed);
        break;
      case ExportResult::kFailure:
        dropped_export_failed_.fetch_add(batch.size(), std::memory_order_relaxed);
        break;
      case ExportResult::kTimeout:
        dropped_export_timeout_.fetch_add(batch.size(), std::memory_order_relaxed);
        break;
    }
  }
  dropped_export_failed_.fetch_add(failed, std::memory_order_relaxed);
  for (uint64_t i = 0; i < n; ++i) {
    slots_[(head + i) & mask_].seq.store(head + i + capacity_, std::memory_order_release);
  }
  dequeue_pos_.store(head + n, std::memory_order_release);
}

bool Batcher::ForceFlush(std::chrono::milliseconds timeout) noexcept {
  try {
    const SteadyClock::time_point deadline = SteadyClock::now() + timeout;
    std::unique_lock<std::mutex> lock(mu_);
    if (finished_ || stopping_) return false;
    const uint64_t generation = ++flush_requested_;
    cv_.notify_one();
    return done_cv_.wait_until(lock, deadline, [&] {
      return flush_done_ >= generation || finished_;
    }) && flush_done_ >= generation;
  } catch (...) {
    return false;
  }
}

bool Batcher::Shutdown(std::chrono::milliseconds timeout) noexcept {
  try {
    std::lock_guard<std::mutex> shutdown_lock(shutdown_mu_);
    if (shut_down_) return shutdown_result_;
    shut_down_ = true;
    const SteadyClock::time_point deadline = SteadyClock::now() + timeout;
    // Closing the ring first: no Add can be accepted after the worker's final drain.
    enqueue_pos_.fetch_or(kClosedBit, std::memory_order_seq_cst);
    shutdown_deadline_ticks_.store(deadline.time_since_epoch().count(), std::memory_order_relaxed);
    stop_requested_.store(true, std::memory_order_release);
    {
      std::lock_guard<std::mutex> lock(mu_);
      stopping_ = true;
      shutdown_deadline_ = deadline;
      cv_.notify_one();
    }
    if (thread_.joinable()) thread_.join();
    exporter_->Shutdown(deadline);
    shutdown_result_ = dropped_shutdown_.load(std::memory_order_relaxed) == 0;
    return shutdown_result_;
  } catch (...) {
    std::fprintf(stderr, "fleetrate: Batcher::Shutdown failed\n");
    return false;
  }
}

BatcherStats Batcher::stats() const noexcept {
  BatcherStats s;
  // Worker-side counters first, so accepted >= exported + dropped in any snapshot.
  s.exported = exported_.load(std::memory_order_relaxed);
  s.dropped_export_failed = dropped_export_failed_.load(std::memory_order_relaxed);
  s.dropped_export_timeout = dropped_export_timeout_.load(std::memory_order_relaxed);
  s.dropped_shutdown = dropped_shutdown_.load(std::memory_order_relaxed);
  s.batches = batches_.load(std::memory_order_relaxed);
  s.export_nanos_total = export_nanos_total_.load(std::memory_order_relaxed);
  s.export_nanos_last = export_nanos_last_.load(std::memory_order_relaxed);
  const uint64_t dequeued = dequeue_pos_.load(std::memory_order_acquire);
  s.accepted = enqueue_pos_.load(std::memory_order_acquire) & ~kClosedBit;
  s.queue_depth = s.accepted >= dequeued ? s.accepted - dequeued : 0;
  s.dropped_queue_full = dropped_queue_full_.load(std::memory_order_relaxed);
  s.rejected_after_shutdown = rejected_after_shutdown_.load(std::memory_order_relaxed);
  s.captured_errors = captured_errors_.load(std::memory_order_relaxed);
  s.captured_slow = captured_slow_.load(std::memory_order_relaxed);
  s.not_captured = not_captured_.load(std::memory_order_relaxed);
  return s;
}

}  // namespace fleetrate
