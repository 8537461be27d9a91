#include "fleetrate/sampler.h"

#include <algorithm>
#include <utility>

#include "operation_hash.h"

namespace fleetrate {

Sampler::Sampler(double initial_probability, size_t max_operations)
    : max_operations_(std::max<size_t>(max_operations, 1)),
      mask_(internal::SlotCountFor(max_operations_) - 1),
      slots_(new std::atomic<OperationRecord*>[mask_ + 1]),
      default_threshold_(ProbabilityToThreshold(initial_probability)) {
  for (size_t i = 0; i <= mask_; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  overflow_ = InsertLocked(kOverflowOperation, internal::HashOperation(kOverflowOperation));
}

Sampler::~Sampler() = default;

SamplingResult Sampler::ShouldSample(const SamplingParameters& params) noexcept {
  switch (params.parent) {
    case ParentState::kRemoteSampled:
    case ParentState::kLocalSampled:
      return {Decision::kRecordAndSample, kMaxThreshold};
    case ParentState::kRemoteNotSampled:
    case ParentState::kLocalNotSampled:
      return {Decision::kDrop, kMaxThreshold};
    case ParentState::kNone:
      break;
  }
  const size_t hash = internal::HashOperation(params.operation);
  OperationRecord* record = Find(params.operation, hash);
  if (record == nullptr) record = FindOrInsert(params.operation, hash);

  uint64_t threshold = record->threshold.load(std::memory_order_relaxed);
  if (threshold == kUseDefault) threshold = default_threshold_.load(std::memory_order_relaxed);
  const bool keep = RandomnessFromTraceId(params.trace_id) >= threshold;
  (keep ? record->roots_kept : record->roots_dropped).fetch_add(1, std::memory_order_relaxed);
  return {keep ? Decision::kRecordAndSample : Decision::kDrop, threshold};
}

Sampler::OperationRecord* Sampler::Find(std::string_view operation, size_t hash) const noexcept {
  for (size_t i = hash & mask_;; i = (i + 1) & mask_) {
    OperationRecord* record = slots_[i].load(std::memory_order_acquire);
    if (record == nullptr) return nullptr;
    if (record->hash == hash && record->name == operation) return record;
  }
}

Sampler::OperationRecord* Sampler::FindOrInsert(std::string_view operation, size_t hash) noexcept {
  if (operation.empty() || operation.size() > kMaxOperationNameBytes ||
      full_.load(std::memory_order_acquire)) {
    overflowed_roots_.fetch_add(1, std::memory_order_relaxed);
    return overflow_;
  }
  try {
    std::lock_guard<std::mutex> lock(mu_);
    if (OperationRecord* record = Find(operation, hash)) return record;  // another thread won
    if (OperationRecord* record = InsertLocked(operation, hash)) return record;
  } catch (...) {
    // Out of memory (or a mutex error): count the root into "*" rather than fail the caller.
  }
  overflowed_roots_.fetch_add(1, std::memory_order_relaxed);
  return overflow_;
}

Sampler::OperationRecord* Sampler::InsertLocked(std::string_view operation, size_t hash) {
  if (records_.size() >= max_operations_) {
    full_.store(true, std::memory_order_release);
    return nullptr;
  }
  auto record = std::make_unique<OperationRecord>(std::string(operation), hash,
                                                  ThresholdForLocked(operation));
  size_t i = hash & mask_;
  while (slots_[i].load(std::memory_order_relaxed) != nullptr) i = (i + 1) & mask_;
  OperationRecord* raw = record.get();
  records_.push_back(std::move(record));
  // Publishes the fully built record: a reader's acquire load of the slot sees name and hash.
  slots_[i].store(raw, std::memory_order_release);
  operation_count_.store(records_.size(), std::memory_order_relaxed);
  if (records_.size() >= max_operations_) full_.store(true, std::memory_order_release);
  return raw;
}

uint64_t Sampler::ThresholdForLocked(std::string_view operation) const noexcept {
  if (table_ == nullptr) return kUseDefault;
  const OperationRate* rate = table_->Find(operation);
  return rate != nullptr ? std::min(rate->threshold, kMaxThreshold) : kUseDefault;
}

void Sampler::ApplyTable(std::shared_ptr<const RateTable> table) {
  if (table == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  table_ = std::move(table);
  default_threshold_.store(std::min(table_->default_rate().threshold, kMaxThreshold),
                           std::memory_order_relaxed);
  for (const auto& record : records_) {
    record->threshold.store(ThresholdForLocked(record->name), std::memory_order_relaxed);
  }
  table_version_.store(table_->version(), std::memory_order_release);
}

std::vector<OperationCounts> Sampler::TakeCounts() {
  std::vector<OperationCounts> counts;
  std::lock_guard<std::mutex> lock(mu_);
  for (const auto& record : records_) {
    const uint64_t kept = record->roots_kept.exchange(0, std::memory_order_relaxed);
    const uint64_t dropped = record->roots_dropped.exchange(0, std::memory_order_relaxed);
    if (kept == 0 && dropped == 0) continue;
    counts.push_back({record->name, kept + dropped, kept});
  }
  return counts;
}

std::shared_ptr<const RateTable> Sampler::table() const {
  std::lock_guard<std::mutex> lock(mu_);
  return table_;
}

}  // namespace fleetrate
