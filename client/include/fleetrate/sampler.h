// Sampler: the per-trace sampling decision, in nanoseconds, on any application thread.
//
// OpenTelemetry consistent probability sampling, parent-based by default. For a root span the
// Sampler looks up the root span's name (the operation) in the rates the server sent (or the
// service default), takes the trace's 56-bit randomness R (the `rv` value of the parent's `ot`
// tracestate entry if present, else the trace id's 7 rightmost bytes) and keeps the trace iff
// R >= the rejection threshold T (see threshold.h). Two token buckets per operation, sized by
// the server, refine that: a lower bound keeps a trace the probability dropped (so rare
// operations are always seen), a local cap drops a trace the probability kept (so a spike
// between two Syncs cannot flood the backend). A trace kept by the lower bound carries no `th`
// (its adjusted count is not known; OpenTelemetry "TraceState: Probability Sampling").
//
// The call is shaped like OpenTelemetry's Sampler::ShouldSample: it returns a decision, what
// to do with the `th` sub-key of the `ot` tracestate entry, and attributes to record, so an
// OpenTelemetry C++ Sampler adapter is one small class (docs/client.md).
//
//   fleetrate::SamplingParameters params;
//   params.operation = "GET /users";
//   params.trace_id = trace_id_bytes;              // W3C, big-endian
//   params.parent = fleetrate::ParentState::kNone;  // or kRemoteSampled, ...
//   params.ot_tracestate = parent_ot_value;        // "rv:...;th:..." or empty
//   fleetrate::SamplingResult result = sampler.ShouldSample(params);
//   std::string ot = fleetrate::UpdateOtTraceState(parent_ot_value, result);  // off the hot path
//
//   // Hot call sites: resolve the operation once, then decide without hashing.
//   static const fleetrate::OperationHandle kGetUsers = sampler.Handle("GET /users");
//   result = sampler.ShouldSample(kGetUsers, params);
//
// Parent cases: by default a child follows its parent (ParentBased with AlwaysOn for sampled
// parents and AlwaysOff for unsampled ones); each of the four cases can be set to sample,
// drop, or decide like a root (SamplerOptions::parent_rules).
//
// Thread safety: ShouldSample and Handle may be called from any number of threads
// concurrently. A root decision makes one hash lookup by string_view (none with a handle), a
// few relaxed loads, one compare and one relaxed atomic increment (of "kept" or "dropped", so
// a count snapshot never splits a decision): no lock, no allocation, except the first time an
// operation is seen (below). The token buckets read the clock only when they can change the
// decision (lower bound: on a probabilistic drop of an operation that has one; local cap: on a
// keep of an operation that has one); each is one CAS on a per-operation word. ApplyTable,
// ApplyInitialStrategy and TakeCounts are the writer side, called by the Client's poller
// thread; they are thread-safe too but meant for one writer. The Client owns its Sampler; a
// Sampler can also be built alone (tests, or rates from another source).
//
// Design (why no table pointer is swapped on the hot path): the operations this process has
// seen live in a registry that only grows, capped at `max_operations`. Its index is an
// open-addressing array allocated once, at twice the cap, whose slots are published with
// release stores and never change afterwards; each operation's record (counters, threshold and
// buckets) is allocated once and never freed before the Sampler. So nothing a reader touches
// is ever freed while the Sampler lives, and there is no reclamation scheme to get right. A
// new table is "compiled" into the registry: ApplyTable stores each seen operation's resolved
// rate, each field a single atomic word. The cost is that a table switch is atomic per field,
// not across operations: for a few microseconds one operation may decide with the new rate and
// another with the old one, which no single decision can observe. Memory: one 128-byte record
// per operation plus an index of 8 bytes x 2 x max_operations (32 KiB for 2000).
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
#include <cstring>
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

// What a parent case does (OpenTelemetry ParentBased delegates).
enum class ParentRule {
  kSample,        // AlwaysOn: keep; the parent's `th` passes through (erased if it had none)
  kDrop,          // AlwaysOff
  kDecideAsRoot,  // consult the rates like a root (the operation is the span's name)
};

// The four parent cases; the defaults are OpenTelemetry's ParentBased defaults.
struct ParentRules {
  ParentRule remote_sampled = ParentRule::kSample;
  ParentRule remote_not_sampled = ParentRule::kDrop;
  ParentRule local_sampled = ParentRule::kSample;
  ParentRule local_not_sampled = ParentRule::kDrop;
};

// Why a decision was made; recorded as the attribute "fleetrate.sampling.rule".
enum class DecisionRule : uint8_t {
  kParent,       // followed the parent (ParentRule::kSample / kDrop)
  kProbability,  // R >= T (kept) or R < T (dropped)
  kLowerBound,   // dropped by probability, kept by the lower-bound bucket (no `th`)
  kLocalCap,     // kept by probability, dropped by the local-cap bucket
};

// What the caller does with the `th` sub-key of the `ot` tracestate entry.
enum class ThresholdAction : uint8_t {
  kUnchanged,  // leave the tracestate as the parent sent it
  kSet,        // write th:<EncodeThreshold(threshold)>
  kErase,      // remove th (the adjusted count is unknown)
};

struct SamplingAttribute {
  std::string_view key;
  std::string_view value;  // static storage
};

struct SamplingParameters {
  std::string_view operation;          // the span's name (the root span's name for roots)
  std::array<uint8_t, 16> trace_id{};  // W3C bytes, big-endian
  ParentState parent = ParentState::kNone;
  // The value of the parent context's `ot` tracestate entry (e.g. "rv:1a2b3c4d5e6f70;th:8"),
  // empty if none. Its `rv` overrides the trace id's randomness; its `th` is only raised.
  std::string_view ot_tracestate;
};

struct SamplingResult {
  Decision decision = Decision::kDrop;
  // Rejection threshold of a probabilistic decision (kept iff R >= threshold); kMaxThreshold
  // when no probabilistic decision was made (a followed parent). With ThresholdAction::kSet,
  // the value to write as th.
  uint64_t threshold = kMaxThreshold;
  ThresholdAction tracestate = ThresholdAction::kUnchanged;
  DecisionRule rule = DecisionRule::kParent;

  static constexpr std::string_view kRuleAttribute = "fleetrate.sampling.rule";
  // The attributes OpenTelemetry's SamplingResult would carry: {"fleetrate.sampling.rule",
  // "parent" | "probability" | "lower_bound" | "local_cap"}. No allocation.
  [[nodiscard]] std::array<SamplingAttribute, 1> attributes() const noexcept;
};

[[nodiscard]] std::string_view DecisionRuleName(DecisionRule rule) noexcept;

// The new value of the `ot` tracestate entry after `result`: other sub-keys (rv, vendor
// keys) are kept in order, `th` is set, erased or left as the result says. An empty return
// means the `ot` entry should be removed. Allocates; call it only for recorded spans.
[[nodiscard]] std::string UpdateOtTraceState(std::string_view ot_value,
                                             const SamplingResult& result);

// The value of sub-key `key` ("rv", "th") in an `ot` tracestate value, empty if absent.
[[nodiscard]] std::string_view OtSubKey(std::string_view ot_value, std::string_view key) noexcept;

// Root spans of one operation since the previous TakeCounts.
struct OperationCounts {
  std::string operation;
  uint64_t roots_seen = 0;
  uint64_t roots_sampled = 0;
};

// Totals since construction (monotonic; for metrics).
struct SamplerTotals {
  uint64_t roots_kept = 0;
  uint64_t roots_dropped = 0;
  uint64_t lower_bound_kept = 0;
  uint64_t local_cap_dropped = 0;
};

// Monotonic nanoseconds for the token buckets. The default reads CLOCK_MONOTONIC_COARSE
// (a few ns, millisecond resolution — plenty for buckets of at most thousands per second).
class SamplerClock {
 public:
  virtual ~SamplerClock() = default;
  [[nodiscard]] virtual int64_t NowNanos() const noexcept = 0;
};

// The rates used before the first table and after a table's TTL expired (X-Ray style: a
// small probability plus a per-operation lower bound).
struct InitialStrategy {
  double probability = 0.001;
  double lower_bound_per_second = 1.0;
};

struct SamplerOptions {
  InitialStrategy initial;
  ParentRules parent_rules;
  size_t max_operations = 2000;  // raised to at least 1 (the "*" entry)
  // Not owned; must outlive the Sampler. Null: the coarse monotonic clock.
  const SamplerClock* clock = nullptr;
};

class Sampler;

namespace internal {

// What a root decision reads and writes of one operation: the first cache line of the
// Sampler's per-operation record, visible here so that a decision by handle is inlined into
// the call site. Written by the Sampler only. (The record, not this base, is cache-line
// aligned, so the record's lookup hash shares this line.)
struct OperationHotState {
  std::atomic<uint64_t> threshold{kMaxThreshold};
  // roots[1] counts kept roots, roots[0] dropped ones. Each decision increments exactly one,
  // so a snapshot never splits a decision; indexing by the decision avoids a branch.
  std::atomic<uint64_t> roots[2] = {{0}, {0}};
  // The active lower bound: the configured one, or 0 while the probability alone keeps at
  // least twice the bound (decided at each TakeCounts), so hot operations skip the clock.
  std::atomic<int64_t> lower_bound_interval_ns{0};
  std::atomic<int64_t> local_cap_interval_ns{0};  // 0: no local cap
};

// RandomnessFromTraceId (threshold.h) as one load and a byte swap.
[[nodiscard]] inline uint64_t TraceIdRandomness(const std::array<uint8_t, 16>& id) noexcept {
  uint64_t v;
  std::memcpy(&v, id.data() + 8, 8);
  return __builtin_bswap64(v) & ((uint64_t{1} << 56) - 1);
}

}  // namespace internal

// A resolved operation for hot call sites: ShouldSample(handle, params) skips the hash
// lookup. Valid as long as the Sampler that made it; trivially copyable.
class OperationHandle {
 public:
  OperationHandle() = default;
  [[nodiscard]] bool valid() const noexcept { return state_ != nullptr; }

 private:
  friend class Sampler;
  explicit OperationHandle(internal::OperationHotState* state) : state_(state) {}
  internal::OperationHotState* state_ = nullptr;
};

class Sampler {
 public:
  // The server's per-service operation cap, "*" included.
  static constexpr size_t kDefaultMaxOperations = 2000;
  // The wire limit of an operation name (fleetrate.v1.OperationCounts.operation).
  static constexpr size_t kMaxOperationNameBytes = 256;
  // Where roots of operations beyond the cap are counted.
  static constexpr std::string_view kOverflowOperation = "*";

  explicit Sampler(SamplerOptions options);
  // Shorthand: initial probability only (no initial lower bound), default parent rules.
  explicit Sampler(double initial_probability, size_t max_operations = kDefaultMaxOperations);
  ~Sampler();
  Sampler(const Sampler&) = delete;
  Sampler& operator=(const Sampler&) = delete;

  [[nodiscard]] SamplingResult ShouldSample(const SamplingParameters& params) noexcept;
  // As above with a resolved operation; params.operation is ignored. An invalid (default)
  // handle decides with the "*" entry. Inline: a root without tracestate and without an armed
  // token bucket is decided at the call site; everything else goes to ShouldSampleSlow.
  [[nodiscard]] SamplingResult ShouldSample(OperationHandle operation,
                                            const SamplingParameters& params) noexcept;
  // Resolves (registers if new) an operation. Never fails: beyond the cap, or for an invalid
  // name, the handle is the "*" entry's.
  [[nodiscard]] OperationHandle Handle(std::string_view operation) noexcept;

  // Makes `table` the current rates: operations it lists use their rate, all others its
  // default rate. A null table is ignored.
  void ApplyTable(std::shared_ptr<const RateTable> table);
  // Back to the initial strategy (no table; table_version() 0), e.g. when the table's TTL
  // expired.
  void ApplyInitialStrategy();

  // Edge capture: when true, roots and children that would be dropped are kRecordOnly
  // instead, so their spans are recorded and the batcher may capture the error or slow ones.
  void set_record_unsampled(bool record) noexcept {
    record_unsampled_.store(record, std::memory_order_relaxed);
  }
  [[nodiscard]] bool record_unsampled() const noexcept {
    return record_unsampled_.load(std::memory_order_relaxed);
  }

  // Snapshot-and-reset of the per-operation counts: the operations with any root since the
  // previous call, each with roots_sampled <= roots_seen. Counts are never lost or doubled
  // between calls, however they interleave with ShouldSample.
  [[nodiscard]] std::vector<OperationCounts> TakeCounts();
  [[nodiscard]] SamplerTotals totals() const;

  // The current table (null before the first ApplyTable and after ApplyInitialStrategy).
  [[nodiscard]] std::shared_ptr<const RateTable> table() const;
  // Version of the current table; 0 when there is none.
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
  struct OperationRecord;

  [[nodiscard]] SamplingResult ShouldSampleSlow(OperationHandle operation,
                                                const SamplingParameters& params) noexcept;
  [[nodiscard]] SamplingResult Decide(OperationRecord* record,
                                      const SamplingParameters& params) noexcept;
  // The token buckets of a record that has any; returns the final keep.
  [[nodiscard]] bool ApplyBuckets(OperationRecord* record, bool keep,
                                  SamplingResult& result) noexcept;
  [[nodiscard]] SamplingResult DecideChild(const SamplingParameters& params) noexcept;
  [[nodiscard]] OperationRecord* Resolve(std::string_view operation) noexcept;
  [[nodiscard]] OperationRecord* Find(std::string_view operation, size_t hash) const noexcept;
  // The slow path of an operation not in the registry: insert it, or fall back to "*".
  [[nodiscard]] OperationRecord* FindOrInsert(std::string_view operation, size_t hash) noexcept;
  OperationRecord* InsertLocked(std::string_view operation, size_t hash);
  void ResolveRateLocked(OperationRecord& record) const noexcept;
  [[nodiscard]] int64_t NowNanos() const noexcept;

  const size_t max_operations_;
  const size_t mask_;
  const InitialStrategy initial_;
  const ParentRules parent_rules_;
  const SamplerClock* const clock_;
  // The index: slots_[i] is null or a record, set once (release) under mu_, never cleared.
  const std::unique_ptr<std::atomic<OperationRecord*>[]> slots_;
  std::atomic<uint64_t> table_version_{0};
  std::atomic<uint64_t> overflowed_roots_{0};
  std::atomic<uint64_t> lower_bound_kept_{0};
  std::atomic<uint64_t> local_cap_dropped_{0};
  std::atomic<size_t> operation_count_{0};
  std::atomic<bool> record_unsampled_{false};
  // Set (release) when the registry reached max_operations: a miss then goes straight to "*"
  // without the mutex.
  std::atomic<bool> full_{false};
  OperationRecord* overflow_ = nullptr;                    // the "*" record; set in the constructor
  internal::OperationHotState* overflow_state_ = nullptr;  // the same record, for the inline path

  mutable std::mutex mu_;
  std::vector<std::unique_ptr<OperationRecord>> records_;  // guarded by mu_; owns the records
  std::shared_ptr<const RateTable> table_;                 // guarded by mu_
  uint64_t taken_kept_ = 0;                                // guarded by mu_
  uint64_t taken_dropped_ = 0;                             // guarded by mu_
  int64_t last_take_ns_ = 0;                               // guarded by mu_
};

inline SamplingResult Sampler::ShouldSample(OperationHandle operation,
                                            const SamplingParameters& params) noexcept {
  internal::OperationHotState* const state = operation.state_;
  if (params.parent != ParentState::kNone || !params.ot_tracestate.empty() || state == nullptr ||
      state == overflow_state_ ||
      (state->lower_bound_interval_ns.load(std::memory_order_relaxed) |
       state->local_cap_interval_ns.load(std::memory_order_relaxed)) != 0) {
    return ShouldSampleSlow(operation, params);
  }
  // The same decision as the out-of-line path (a test compares them), without the branches
  // that cannot apply here: R from the trace id, no parent threshold, no bucket.
  const uint64_t threshold = state->threshold.load(std::memory_order_relaxed);
  const bool keep = internal::TraceIdRandomness(params.trace_id) >= threshold;
  state->roots[keep ? 1 : 0].fetch_add(1, std::memory_order_relaxed);
  SamplingResult result;
  result.rule = DecisionRule::kProbability;
  result.threshold = threshold;
  const Decision unsampled =
      record_unsampled_.load(std::memory_order_relaxed) ? Decision::kRecordOnly : Decision::kDrop;
  result.decision = keep ? Decision::kRecordAndSample : unsampled;
  result.tracestate = keep ? ThresholdAction::kSet : ThresholdAction::kUnchanged;
  return result;
}

}  // namespace fleetrate
