// Sampler: the per-trace sampling decision, in nanoseconds, on any application thread.
//
// Parent-based, like OpenTelemetry's ParentBased sampler: a child follows its parent's
// decision; only a root span consults the rates. For a root, the Sampler looks up the root
// span's name (the operation) in the rates the server sent (or the service default), and keeps
// the trace iff its 56-bit randomness R >= the rejection threshold T (OpenTelemetry consistent
// probability sampling, see threshold.h). Every root is counted per operation, as seen and (if
// kept) as sampled; the Client's poller reports these counts to the server.
//
//   fleetrate::SamplingParameters params;
//   params.operation = "GET /users";
//   params.trace_id = trace_id_bytes;  // W3C, big-endian
//   fleetrate::SamplingResult result = client->sampler().ShouldSample(params);
//   if (result.decision == fleetrate::Decision::kRecordAndSample) {
//     tracestate.Set("ot", "th:" + fleetrate::EncodeThreshold(result.threshold));
//   }
//
// Thread safety: ShouldSample may be called from any number of threads concurrently; for a
// root span it makes one hash lookup by string_view (acquire loads of the index slots, plain
// loads on x86), one or two relaxed loads of the threshold, one compare and one relaxed atomic
// increment (of "kept" or of "dropped", so a count snapshot never splits a decision): no lock,
// no allocation, except the first time an operation is seen (below). ApplyTable and TakeCounts are
// the writer side, called by the Client's poller thread; they are thread-safe too but meant for one
// writer. The Client owns its Sampler; a Sampler can also be built alone (tests, or rates from
// another source).
//
// Design (why no table pointer is swapped on the hot path): the operations this process has
// seen live in a registry that only grows, capped at `max_operations`. Its index is an
// open-addressing array allocated once, at twice the cap, whose slots are published with
// release stores and never change afterwards; each operation's record (counters and current
// threshold) is allocated once and never freed before the Sampler. So nothing a reader touches
// is ever freed while the Sampler lives, and there is no reclamation scheme to get right: no
// grace period (a timing assumption), no hazard pointers or reference counts (a fence or a
// contended atomic per call), no libstdc++ atomic shared_ptr (a spinlock). A new table is
// "compiled" into the registry: ApplyTable stores each seen operation's threshold (or "use the
// default") and the default threshold, each a single atomic word. The cost is that a table
// switch is atomic per operation, not across operations: for a few microseconds one operation
// may decide with the new rate and another with the old one, which no single decision can
// observe. The immutable RateTable itself stays available through table(). Memory: one
// 64-byte-aligned record per operation plus an index of 8 bytes x 2 x max_operations (32 KiB
// for 2000).
//
// The first time an operation is seen, ShouldSample takes a mutex, creates its record (with
// the current table's rate) and publishes it; later calls are lock-free. Beyond
// `max_operations` (which counts the "*" entry; the server's per-service cap is 2000), and for
// empty names or names longer than 256 bytes (the wire limit), roots are counted into the
// "*" entry, decided with the table's "*" rate (or the default), and counted in
// overflowed_roots().
#pragma once

#include <array>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <vector>

#include "fleetrate/rate_table.h"
#include "fleetrate/threshold.h"

namespace fleetrate {

// Shaped like OpenTelemetry's SamplingResult::Decision.
enum class Decision { kDrop, kRecordOnly, kRecordAndSample };

// The parent span's sampling state, as OpenTelemetry's ParentBased sampler distinguishes it.
enum class ParentState {
  kNone,
  kRemoteSampled,
  kRemoteNotSampled,
  kLocalSampled,
  kLocalNotSampled
};

struct SamplingParameters {
  std::string_view operation;          // root span name
  std::array<uint8_t, 16> trace_id{};  // W3C bytes, big-endian
  ParentState parent = ParentState::kNone;
};

struct SamplingResult {
  Decision decision = Decision::kDrop;
  // Rejection threshold used for a probabilistic root decision (so the caller can write
  // ot=th:<EncodeThreshold(threshold)> into tracestate); kMaxThreshold when no probabilistic
  // decision was made (parent-based child, etc.).
  uint64_t threshold = kMaxThreshold;
};

// Root spans of one operation since the previous TakeCounts.
struct OperationCounts {
  std::string operation;
  uint64_t roots_seen = 0;
  uint64_t roots_sampled = 0;
};

class Sampler {
 public:
  // The server's per-service operation cap, "*" included.
  static constexpr size_t kDefaultMaxOperations = 2000;
  // The wire limit of an operation name (fleetrate.v1.OperationCounts.operation).
  static constexpr size_t kMaxOperationNameBytes = 256;
  // Where roots of operations beyond the cap are counted.
  static constexpr std::string_view kOverflowOperation = "*";

  // `initial_probability` decides every root until the first ApplyTable. `max_operations` is
  // raised to at least 1 (the "*" entry).
  explicit Sampler(double initial_probability, size_t max_operations = kDefaultMaxOperations);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  [[nodiscard]] SamplingResult ShouldSample(const SamplingParameters& params) noexcept;

  // Makes `table` the current rates: operations it lists use their rate, all others its
  // default rate. A null table is ignored.
  void ApplyTable(std::shared_ptr<const RateTable> table);

  // Snapshot-and-reset of the per-operation counts: the operations with any root since the
  // previous call, each with roots_sampled <= roots_seen. Counts are never lost or doubled
  // between calls, however they interleave with ShouldSample.
  [[nodiscard]] std::vector<OperationCounts> TakeCounts();

  // The current table (null before the first ApplyTable).
  [[nodiscard]] std::shared_ptr<const RateTable> table() const;
  // Version of the current table; 0 before the first ApplyTable.
  [[nodiscard]] uint64_t table_version() const noexcept {
    return table_version_.load(std::memory_order_acquire);
  }
  // Roots counted into "*" because of the cap or an invalid name, since construction.
  [[nodiscard]] uint64_t overflowed_roots() const noexcept {
    return overflowed_roots_.load(std::memory_order_relaxed);
  }
  // Operations in the registry, "*" included.
  [[nodiscard]] size_t operation_count() const noexcept {
    return operation_count_.load(std::memory_order_relaxed);
  }

 private:
  // "Use the table's default": a threshold value no table can hold (thresholds are <= 2^56).
  static constexpr uint64_t kUseDefault = ~uint64_t{0};

  // One operation's counters and current threshold. Own cache line, so that hot counters of
  // different operations do not share one.
  struct alignas(64) OperationRecord {
    OperationRecord(std::string name_in, size_t hash_in, uint64_t threshold_in)
        : name(std::move(name_in)), hash(hash_in), threshold(threshold_in) {}
    const std::string name;
    const size_t hash;
    std::atomic<uint64_t> threshold;
    // Each decision increments exactly one of the two, so a snapshot never splits a decision
    // (with separate seen/sampled counters a batch could hold a sampled increment whose seen
    // increment went into the previous batch, i.e. sampled > seen).
    std::atomic<uint64_t> roots_kept{0};
    std::atomic<uint64_t> roots_dropped{0};
  };

  [[nodiscard]] OperationRecord* Find(std::string_view operation, size_t hash) const noexcept;
  // The slow path of an operation not in the registry: insert it, or fall back to "*".
  [[nodiscard]] OperationRecord* FindOrInsert(std::string_view operation, size_t hash) noexcept;
  OperationRecord* InsertLocked(std::string_view operation, size_t hash);
  [[nodiscard]] uint64_t ThresholdForLocked(std::string_view operation) const noexcept;

  const size_t max_operations_;
  const size_t mask_;
  // The index: slots_[i] is null or a record, set once (release) under mu_, never cleared.
  const std::unique_ptr<std::atomic<OperationRecord*>[]> slots_;
  std::atomic<uint64_t> default_threshold_;
  std::atomic<uint64_t> table_version_{0};
  std::atomic<uint64_t> overflowed_roots_{0};
  std::atomic<size_t> operation_count_{0};
  // Set (release) when the registry reached max_operations: a miss then goes straight to "*"
  // without the mutex.
  std::atomic<bool> full_{false};
  OperationRecord* overflow_ = nullptr;  // the "*" record; set in the constructor

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<OperationRecord>> records_;  // guarded by mu_; owns the records
  std::shared_ptr<const RateTable> table_;                 // guarded by mu_
};

}  // namespace fleetrate
