// Proves the hot paths allocate nothing: this binary replaces the global operator new/delete
// with counting versions (counting only on the thread that armed the counter).
#include <gtest/gtest.h>

#include <cstdlib>
#include <memory>
#include <new>
#include <string>
#include <vector>

#include "fleetrate/batcher.h"
#include "fleetrate/sampler.h"

// Our operator new is malloc and our operator delete is free; GCC cannot see that they match.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {
thread_local bool counting = false;
thread_local size_t allocations = 0;
}  // namespace

void* operator new(std::size_t size) {
  if (counting) ++allocations;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}
void* operator new[](std::size_t size) { return operator new(size); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }

namespace fleetrate {
namespace {

class CountAllocations {
 public:
  CountAllocations() {
    allocations = 0;
    counting = true;
  }
  ~CountAllocations() { counting = false; }
  size_t count() const { return allocations; }
};

TEST(AllocationTest, TheCounterSeesAllocations) {  // the proof below can fail
  CountAllocations counter;
  auto p = std::make_unique<std::string>(100, 'x');
  EXPECT_GE(counter.count(), 1u);
}

TEST(AllocationTest, DecisionsByHandleAndByNameAllocateNothing) {
  SamplerOptions options;  // with the initial lower bound: the bucket path runs too
  Sampler sampler(options);
  std::vector<RateTable::Entry> entries;
  for (int i = 0; i < 100; ++i) {
    OperationRate rate = OperationRate::FromProbability(0.1);
    rate.lower_bound_per_second = 1.0;
    rate.local_cap_per_second = 1000.0;
    entries.push_back({"GET /resource-" + std::to_string(i), rate});
  }
  sampler.ApplyTable(std::make_shared<const RateTable>(1, OperationRate::FromProbability(0.01),
                                                       std::move(entries)));
  const OperationHandle handle = sampler.Handle("GET /resource-17");
  SamplingParameters params;
  params.operation = "GET /resource-42";
  (void)sampler.ShouldSample(params);  // warm-up: registers the operation
  params.ot_tracestate = "rv:0123456789abcd;th:8";

  CountAllocations counter;
  uint64_t kept = 0;
  for (int i = 0; i < 100000; ++i) {
    params.trace_id[15] = static_cast<uint8_t>(i);
    params.trace_id[9] = static_cast<uint8_t>(i >> 8);
    params.parent = i % 7 == 0 ? ParentState::kRemoteSampled : ParentState::kNone;
    kept += sampler.ShouldSample(handle, params).decision == Decision::kRecordAndSample;
    kept += sampler.ShouldSample(params).decision == Decision::kRecordAndSample;
    kept += sampler.ShouldSample(params).attributes()[0].value.size();
  }
  EXPECT_EQ(counter.count(), 0u);
  EXPECT_GT(kept, 0u);
}

class NoopExporter final : public Exporter {
 public:
  ExportResult Export(const SpanBatch&, std::chrono::steady_clock::time_point) noexcept override {
    return ExportResult::kSuccess;
  }
};

TEST(AllocationTest, BatcherAddAllocatesNothingOnceSlotsAreWarm) {
  BatcherOptions options;
  options.max_queue_capacity = 64;
  options.profile.max_queue_size = 64;
  options.profile.max_export_batch_size = 16;
  Batcher batcher(std::make_unique<NoopExporter>(), options);
  const AttributeView attributes[] = {{"http.method", "GET"}, {"http.status_code", 200}};
  SpanView span;
  span.name = "GET /a-span-name-longer-than-the-small-string-buffer";
  span.attributes = attributes;
  span.attribute_count = 2;
  for (int round = 0; round < 4; ++round) {  // warm every slot
    for (int i = 0; i < 64; ++i) (void)batcher.Add(span);
    ASSERT_TRUE(batcher.ForceFlush(std::chrono::seconds(20)));
  }
  CountAllocations counter;
  for (int round = 0; round < 10; ++round) {
    for (int i = 0; i < 64; ++i) (void)batcher.Add(span);
    counting = false;
    ASSERT_TRUE(batcher.ForceFlush(std::chrono::seconds(20)));
    counting = true;
  }
  EXPECT_EQ(counter.count(), 0u);
}

}  // namespace
}  // namespace fleetrate
