// RateTable: one immutable version of the sampling rates the server sent for this service.
//
// A table maps operation names (root span names) to an OperationRate and has a default rate
// for the operations it does not list. Lookup takes a std::string_view and neither allocates
// nor locks: the table is an open-addressing hash index over a vector of entries, built once
// in the constructor.
//
//   fleetrate::RateTable table(/*version=*/7, fleetrate::OperationRate::FromProbability(0.01),
//                              {{"GET /users", fleetrate::OperationRate::FromProbability(0.5)}});
//   const fleetrate::OperationRate& rate = table.Lookup(span_name);  // listed or default
//   bool keep = fleetrate::RandomnessFromTraceId(trace_id) >= rate.threshold;
//
// Thread safety: a RateTable is immutable after construction, so any number of threads may
// query one concurrently. The Sampler shares the current table as std::shared_ptr<const
// RateTable>; references returned by Find/Lookup live as long as the table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "fleetrate/threshold.h"

namespace fleetrate {

// How one operation is sampled (mirrors fleetrate.v1.OperationRate).
// The least an adaptive local cap's bucket holds. A cap is burst × the client's expected kept
// rate; where that rate is far below 1/s, a one-token bucket drops every keep that follows
// another within 1/cap seconds — a third of Poisson keeps at the default burst of 2, found by
// the fleet simulator (BENCHMARKS.md). Five tokens drop 0.2 % of them. The price is paid in
// spikes: each client may let five traces of an operation through at once before the cap's
// rate holds, which across a large fleet is many times a small key's target (BENCHMARKS.md).
inline constexpr double kMinAdaptiveCapTokens = 5;

struct OperationRate {
  // Probability in [0, 1] that a root span is kept.
  double probability = 0.0;
  // OpenTelemetry rejection threshold: keep iff R >= threshold. kMaxThreshold keeps nothing.
  uint64_t threshold = kMaxThreshold;
  // Local cap on kept roots per second (a token bucket); 0: none.
  double local_cap_per_second = 0.0;
  // Tokens the local-cap bucket holds. 0: one second of tokens, at least one (a fixed rate
  // limit). The Client sets max(one second, kMinAdaptiveCapTokens) for adaptive caps.
  double local_cap_burst = 0.0;
  // This client's share of the lower bound, traces per second (a token bucket consulted when
  // the probability drops a root); 0 means none.
  double lower_bound_per_second = 0.0;

  // A rate with only a probability; the threshold is derived from it.
  [[nodiscard]] static OperationRate FromProbability(double probability) noexcept {
    OperationRate rate;
    rate.probability = probability;
    rate.threshold = ProbabilityToThreshold(probability);
    return rate;
  }
};

// Settings of the span batcher, as the server sent them (mirrors fleetrate.v1.BatchProfile).
// Empty name and zeros mean "not sent": the batcher keeps its own defaults.
struct BatchProfile {
  std::string name;
  uint32_t max_queue_size = 0;
  uint32_t max_export_batch_size = 0;
  uint32_t schedule_delay_ms = 0;
  uint32_t export_timeout_ms = 0;
};

// Edge capture quota of this client (mirrors fleetrate.v1.CapturePolicy). All zero: no capture.
struct CapturePolicy {
  double errors_per_second = 0.0;  // spans ending in error exported per second; 0: none
  uint32_t slow_threshold_ms = 0;  // a span lasting at least this long is slow; 0: none
  double slow_per_second = 0.0;    // slow spans exported per second
};

class RateTable {
 public:
  struct Entry {
    std::string operation;
    OperationRate rate;
  };

  // Builds the table. If an operation is listed more than once, the first entry wins.
  RateTable(uint64_t version, OperationRate default_rate, std::vector<Entry> entries,
            BatchProfile batch_profile = {}, CapturePolicy capture_policy = {});

  RateTable(const RateTable&) = delete;
  RateTable& operator=(const RateTable&) = delete;
  RateTable(RateTable&&) noexcept = default;
  RateTable& operator=(RateTable&&) noexcept = default;

  // The rate listed for `operation`, or nullptr if the table does not list it.
  [[nodiscard]] const OperationRate* Find(std::string_view operation) const noexcept;

  // The rate listed for `operation`, or default_rate() if the table does not list it.
  [[nodiscard]] const OperationRate& Lookup(std::string_view operation) const noexcept {
    const OperationRate* rate = Find(operation);
    return rate != nullptr ? *rate : default_rate_;
  }

  [[nodiscard]] uint64_t version() const noexcept { return version_; }
  [[nodiscard]] const OperationRate& default_rate() const noexcept { return default_rate_; }
  [[nodiscard]] const BatchProfile& batch_profile() const noexcept { return batch_profile_; }
  [[nodiscard]] const CapturePolicy& capture_policy() const noexcept { return capture_policy_; }
  // The listed operations, duplicates removed, in the order given to the constructor.
  [[nodiscard]] const std::vector<Entry>& entries() const noexcept { return entries_; }
  [[nodiscard]] size_t size() const noexcept { return entries_.size(); }

 private:
  uint64_t version_;
  OperationRate default_rate_;
  BatchProfile batch_profile_;
  CapturePolicy capture_policy_;
  std::vector<Entry> entries_;
  std::vector<size_t> hashes_;  // hashes_[i] is the hash of entries_[i].operation
  // Open addressing with linear probing; a slot holds an index into entries_ + 1, 0 = empty.
  // At most half full, so a probe always ends at an empty slot.
  std::vector<uint32_t> slots_;
  size_t mask_ = 0;
};

}  // namespace fleetrate
