#include "fleetrate/sampler.h"

#include <time.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <utility>

#include "operation_hash.h"
#include "token_bucket.h"

namespace fleetrate {
namespace {

class CoarseMonotonicClock final : public SamplerClock {
 public:
  int64_t NowNanos() const noexcept override {
    timespec ts{};
    clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
    return static_cast<int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
  }
};

const CoarseMonotonicClock kCoarseClock;

}  // namespace

// One operation's resolved rate, buckets and counters. The first cache line holds what every
// decision reads or writes; the second what the bucket paths and the writer touch.
struct alignas(64) Sampler::OperationRecord : internal::OperationHotState {
  OperationRecord(std::string name_in, size_t hash_in) : hash(hash_in), name(std::move(name_in)) {}
  const size_t hash;
  alignas(64) const std::string name;
  int64_t configured_lower_bound_ns = 0;  // guarded by Sampler::mu_
  std::atomic<uint64_t> lower_bound_kept{0};
  std::atomic<int64_t> local_cap_tolerance_ns{0};
  internal::TokenBucket lower_bound;
  internal::TokenBucket local_cap;
};
static_assert(sizeof(internal::OperationHotState) + sizeof(size_t) <= 64,
              "a lookup's hash shares the cache line of the state a decision touches");

std::string_view DecisionRuleName(DecisionRule rule) noexcept {
  switch (rule) {
    case DecisionRule::kParent:
      return "parent";
    case DecisionRule::kProbability:
      return "probability";
    case DecisionRule::kLowerBound:
      return "lower_bound";
    case DecisionRule::kLocalCap:
      return "local_cap";
  }
  return "unknown";
}

std::array<SamplingAttribute, 1> SamplingResult::attributes() const noexcept {
  return {SamplingAttribute{kRuleAttribute, DecisionRuleName(rule)}};
}

std::string_view OtSubKey(std::string_view ot_value, std::string_view key) noexcept {
  // "key:value;key:value" (OpenTelemetry tracestate handling, `ot` entry).
  size_t pos = 0;
  while (pos < ot_value.size()) {
    size_t end = ot_value.find(';', pos);
    if (end == std::string_view::npos) end = ot_value.size();
    const std::string_view field = ot_value.substr(pos, end - pos);
    if (field.size() > key.size() && field.compare(0, key.size(), key) == 0 &&
        field[key.size()] == ':') {
      return field.substr(key.size() + 1);
    }
    pos = end + 1;
  }
  return {};
}

std::string UpdateOtTraceState(std::string_view ot_value, const SamplingResult& result) {
  if (result.tracestate == ThresholdAction::kUnchanged) return std::string(ot_value);
  std::string out;
  if (result.tracestate == ThresholdAction::kSet && result.threshold < kMaxThreshold) {
    out = "th:" + EncodeThreshold(result.threshold);
  }
  size_t pos = 0;
  while (pos < ot_value.size()) {
    size_t end = ot_value.find(';', pos);
    if (end == std::string_view::npos) end = ot_value.size();
    const std::string_view field = ot_value.substr(pos, end - pos);
    if (!field.empty() && field.substr(0, 3) != "th:") {
      if (!out.empty()) out += ';';
      out.append(field.data(), field.size());
    }
    pos = end + 1;
  }
  return out;
}

Sampler::Sampler(SamplerOptions options)
    : max_operations_(std::max<size_t>(options.max_operations, 1)),
      mask_(internal::SlotCountFor(max_operations_) - 1),
      initial_(options.initial),
      parent_rules_(options.parent_rules),
      clock_(options.clock != nullptr ? options.clock : &kCoarseClock),
      slots_(new std::atomic<OperationRecord*>[mask_ + 1]) {
  last_take_ns_ = clock_->NowNanos();
  for (size_t i = 0; i <= mask_; ++i) slots_[i].store(nullptr, std::memory_order_relaxed);
  std::lock_guard<std::mutex> lock(mu_);
  overflow_ = InsertLocked(kOverflowOperation, internal::HashOperation(kOverflowOperation));
  overflow_state_ = overflow_;
}

namespace {
SamplerOptions ProbabilityOnly(double initial_probability, size_t max_operations) {
  SamplerOptions options;
  options.initial.probability = initial_probability;
  options.initial.lower_bound_per_second = 0.0;
  options.max_operations = max_operations;
  return options;
}
}  // namespace

Sampler::Sampler(double initial_probability, size_t max_operations)
    : Sampler(ProbabilityOnly(initial_probability, max_operations)) {}

Sampler::~Sampler() = default;

int64_t Sampler::NowNanos() const noexcept { return clock_->NowNanos(); }

// The tracestate inputs of a decision, read only when the span carries an `ot` entry: kept out
// of line so the common root path saves no registers and makes no call.
namespace {

[[gnu::noinline]] void ReadOtTraceState(const SamplingParameters& params, uint64_t& randomness,
                                        uint64_t& parent_threshold) noexcept {
  if (const auto rv = DecodeRandomness(OtSubKey(params.ot_tracestate, "rv"))) randomness = *rv;
  if (params.parent != ParentState::kNone) {
    const std::string_view th = OtSubKey(params.ot_tracestate, "th");
    if (!th.empty()) parent_threshold = DecodeThreshold(th).value_or(0);
  }
}

}  // namespace

// Inlined into both ShouldSample overloads: the hot path is straight-line code (the keep/drop
// outcome of a random trace id selects values instead of branching) plus one counter increment.
[[gnu::always_inline]] inline SamplingResult Sampler::Decide(
    OperationRecord* record, const SamplingParameters& params) noexcept {
  uint64_t randomness = internal::TraceIdRandomness(params.trace_id);
  uint64_t parent_threshold = 0;
  if (__builtin_expect(!params.ot_tracestate.empty(), 0)) {
    ReadOtTraceState(params, randomness, parent_threshold);
  }
  SamplingResult result;
  result.rule = DecisionRule::kProbability;
  const uint64_t threshold = record->threshold.load(std::memory_order_relaxed);
  result.threshold = threshold;
  bool keep = randomness >= threshold;
  if (__builtin_expect((record->lower_bound_interval_ns.load(std::memory_order_relaxed) |
                        record->local_cap_interval_ns.load(std::memory_order_relaxed)) != 0,
                       0)) {
    keep = ApplyBuckets(record, keep, result);
  }
  record->roots[keep ? 1 : 0].fetch_add(1, std::memory_order_relaxed);
  const Decision unsampled =
      record_unsampled_.load(std::memory_order_relaxed) ? Decision::kRecordOnly : Decision::kDrop;
  result.decision = keep ? Decision::kRecordAndSample : unsampled;
  // A probabilistic keep writes th. Later stages may only raise T: a consistent parent with a
  // higher T kept R too.
  const bool set_threshold = keep && result.rule == DecisionRule::kProbability;
  result.tracestate = set_threshold ? ThresholdAction::kSet : result.tracestate;
  const bool raise =
      set_threshold && parent_threshold > threshold && parent_threshold < kMaxThreshold;
  result.threshold = raise ? parent_threshold : result.threshold;
  return result;
}

SamplingResult Sampler::ShouldSample(const SamplingParameters& params) noexcept {
  if (params.parent != ParentState::kNone) return DecideChild(params);
  return Decide(Resolve(params.operation), params);
}

SamplingResult Sampler::ShouldSampleSlow(OperationHandle operation,
                                         const SamplingParameters& params) noexcept {
  if (params.parent != ParentState::kNone) return DecideChild(params);
  auto* record = static_cast<OperationRecord*>(operation.state_);
  if (record == nullptr) record = overflow_;
  if (record == overflow_) overflowed_roots_.fetch_add(1, std::memory_order_relaxed);
  return Decide(record, params);
}

OperationHandle Sampler::Handle(std::string_view operation) noexcept {
  const size_t hash = internal::HashOperation(operation);
  OperationRecord* record = Find(operation, hash);
  if (record == nullptr) {
    record = FindOrInsert(operation, hash);
    // FindOrInsert counted a root into "*"; a handle is not a root.
    if (record == overflow_) overflowed_roots_.fetch_sub(1, std::memory_order_relaxed);
  }
  return OperationHandle(record);
}

SamplingResult Sampler::DecideChild(const SamplingParameters& params) noexcept {
  ParentRule rule = ParentRule::kDrop;
  bool parent_sampled = false;
  switch (params.parent) {
    case ParentState::kRemoteSampled:
      rule = parent_rules_.remote_sampled;
      parent_sampled = true;
      break;
    case ParentState::kRemoteNotSampled:
      rule = parent_rules_.remote_not_sampled;
      break;
    case ParentState::kLocalSampled:
      rule = parent_rules_.local_sampled;
      parent_sampled = true;
      break;
    case ParentState::kLocalNotSampled:
    case ParentState::kNone:
      rule = parent_rules_.local_not_sampled;
      break;
  }
  SamplingResult result;
  switch (rule) {
    case ParentRule::kSample:
      result.decision = Decision::kRecordAndSample;
      // A sampled parent's th stays valid; sampling an unsampled parent's trace makes the
      // adjusted count unknown.
      result.tracestate = parent_sampled ? ThresholdAction::kUnchanged : ThresholdAction::kErase;
      return result;
    case ParentRule::kDrop:
      result.decision = record_unsampled_.load(std::memory_order_relaxed) ? Decision::kRecordOnly
                                                                          : Decision::kDrop;
      return result;
    case ParentRule::kDecideAsRoot:
      break;
  }
  return Decide(Resolve(params.operation), params);
}

Sampler::OperationRecord* Sampler::Resolve(std::string_view operation) noexcept {
  const size_t hash = internal::HashOperation(operation);
  OperationRecord* record = Find(operation, hash);
  return record != nullptr ? record : FindOrInsert(operation, hash);
}

bool Sampler::ApplyBuckets(OperationRecord* record, bool keep, SamplingResult& result) noexcept {
  if (keep) {
    const int64_t cap_interval = record->local_cap_interval_ns.load(std::memory_order_relaxed);
    if (cap_interval == 0 ||
        record->local_cap.TryTake(NowNanos(), cap_interval,
                                  record->local_cap_tolerance_ns.load(std::memory_order_relaxed))) {
      return true;
    }
    local_cap_dropped_.fetch_add(1, std::memory_order_relaxed);
    result.rule = DecisionRule::kLocalCap;
    return false;
  }
  const int64_t lower_interval = record->lower_bound_interval_ns.load(std::memory_order_relaxed);
  if (lower_interval != 0 && record->lower_bound.TryTake(NowNanos(), lower_interval, 0)) {
    record->lower_bound_kept.fetch_add(1, std::memory_order_relaxed);
    lower_bound_kept_.fetch_add(1, std::memory_order_relaxed);
    result.tracestate = ThresholdAction::kErase;
    result.rule = DecisionRule::kLowerBound;
    return true;
  }
  return false;
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
  auto record = std::make_unique<OperationRecord>(std::string(operation), hash);
  ResolveRateLocked(*record);
  size_t i = hash & mask_;
  while (slots_[i].load(std::memory_order_relaxed) != nullptr) i = (i + 1) & mask_;
  OperationRecord* raw = record.get();
  records_.push_back(std::move(record));
  // Publishes the fully built record: a reader's acquire load of the slot sees all fields.
  slots_[i].store(raw, std::memory_order_release);
  operation_count_.store(records_.size(), std::memory_order_relaxed);
  if (records_.size() >= max_operations_) full_.store(true, std::memory_order_release);
  return raw;
}

void Sampler::ResolveRateLocked(OperationRecord& record) const noexcept {
  OperationRate rate;
  if (table_ == nullptr) {
    rate = OperationRate::FromProbability(initial_.probability);
    rate.lower_bound_per_second = initial_.lower_bound_per_second;
  } else {
    const OperationRate* listed = table_->Find(record.name);
    rate = listed != nullptr ? *listed : table_->default_rate();
  }
  record.threshold.store(std::min(rate.threshold, kMaxThreshold), std::memory_order_relaxed);
  record.configured_lower_bound_ns = internal::IntervalNanos(rate.lower_bound_per_second);
  record.lower_bound_interval_ns.store(record.configured_lower_bound_ns, std::memory_order_relaxed);
  const int64_t cap_interval = internal::IntervalNanos(rate.local_cap_per_second);
  // Burst: as the rate says, or one second of tokens (at least one).
  const double burst = std::max(
      1.0, std::floor(rate.local_cap_burst > 0 ? rate.local_cap_burst : rate.local_cap_per_second));
  record.local_cap_tolerance_ns.store(
      static_cast<int64_t>((burst - 1.0) * static_cast<double>(cap_interval)),
      std::memory_order_relaxed);
  record.local_cap_interval_ns.store(cap_interval, std::memory_order_relaxed);
}

void Sampler::ApplyTable(std::shared_ptr<const RateTable> table) {
  if (table == nullptr) return;
  std::lock_guard<std::mutex> lock(mu_);
  table_ = std::move(table);
  for (const auto& record : records_) ResolveRateLocked(*record);
  table_version_.store(table_->version(), std::memory_order_release);
}

void Sampler::ApplyInitialStrategy() {
  std::lock_guard<std::mutex> lock(mu_);
  table_.reset();
  for (const auto& record : records_) ResolveRateLocked(*record);
  table_version_.store(0, std::memory_order_release);
}

std::vector<OperationCounts> Sampler::TakeCounts() {
  std::vector<OperationCounts> counts;
  std::lock_guard<std::mutex> lock(mu_);
  const int64_t now = NowNanos();
  const int64_t elapsed = now - last_take_ns_;
  last_take_ns_ = now;
  for (const auto& record : records_) {
    const uint64_t kept = record->roots[1].exchange(0, std::memory_order_relaxed);
    const uint64_t dropped = record->roots[0].exchange(0, std::memory_order_relaxed);
    const uint64_t by_bound = record->lower_bound_kept.exchange(0, std::memory_order_relaxed);
    if (record->configured_lower_bound_ns != 0) {
      // Probabilistic keeps in the interval >= twice the bound: the bound cannot matter, so
      // its bucket (and the clock read) is skipped until the next TakeCounts says otherwise.
      const double probabilistic = static_cast<double>(kept >= by_bound ? kept - by_bound : 0);
      const bool dormant =
          elapsed > 0 && probabilistic * static_cast<double>(record->configured_lower_bound_ns) >=
                             2.0 * static_cast<double>(elapsed);
      record->lower_bound_interval_ns.store(dormant ? 0 : record->configured_lower_bound_ns,
                                            std::memory_order_relaxed);
    }
    if (kept == 0 && dropped == 0) continue;
    taken_kept_ += kept;
    taken_dropped_ += dropped;
    counts.push_back({record->name, kept + dropped, kept});
  }
  return counts;
}

SamplerTotals Sampler::totals() const {
  std::lock_guard<std::mutex> lock(mu_);
  SamplerTotals totals;
  totals.roots_kept = taken_kept_;
  totals.roots_dropped = taken_dropped_;
  for (const auto& record : records_) {
    totals.roots_kept += record->roots[1].load(std::memory_order_relaxed);
    totals.roots_dropped += record->roots[0].load(std::memory_order_relaxed);
  }
  totals.lower_bound_kept = lower_bound_kept_.load(std::memory_order_relaxed);
  totals.local_cap_dropped = local_cap_dropped_.load(std::memory_order_relaxed);
  return totals;
}

std::shared_ptr<const RateTable> Sampler::table() const {
  std::lock_guard<std::mutex> lock(mu_);
  return table_;
}

}  // namespace fleetrate
