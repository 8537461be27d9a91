// Client hot paths (Google Benchmark): a sampling decision by handle and by name, and the
// batcher's producer cost and delivered throughput to a no-op exporter with one and two
// producers, next to a mutex-and-vector batcher measured in the same run. Numbers:
// BENCHMARKS.md.
//
//   cmake --build build --target fleetrate_client_bench
//   build/bench/fleetrate_client_bench --benchmark_min_time=1 --benchmark_repetitions=3
//       --benchmark_report_aggregates_only=true   (one command line)
#include <benchmark/benchmark.h>

#include <array>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "bench/bench_support.h"
#include "fleetrate/batcher.h"
#include "fleetrate/sampler.h"

namespace fleetrate {
namespace {

using bench::kIds;
using bench::TraceIds;

// 200 listed operations at p = 0.1, default 0.01; `buckets` adds the server's default
// per-key lower bound and a local cap to every rate.
Sampler& MakeSampler(bool buckets) {
  static Sampler* plain = nullptr;
  static Sampler* with_buckets = nullptr;
  Sampler*& s = buckets ? with_buckets : plain;
  if (s == nullptr) {
    s = new Sampler(0.001);
    std::vector<RateTable::Entry> entries;
    for (int i = 0; i < 200; ++i) {
      OperationRate rate = OperationRate::FromProbability(0.1);
      if (buckets) {
        rate.lower_bound_per_second = 1.0 / 60;
        rate.local_cap_per_second = 100.0;
      }
      entries.push_back({"GET /api/v1/resource-" + std::to_string(i), rate});
    }
    s->ApplyTable(std::make_shared<const RateTable>(1, OperationRate::FromProbability(0.01),
                                                    std::move(entries)));
    if (buckets) {
      // The steady state after a Sync: the probability alone keeps far more than the lower
      // bound, so TakeCounts makes the bound dormant (the local cap stays armed).
      const auto& ids = TraceIds();
      SamplingParameters params;
      params.operation = "GET /api/v1/resource-17";
      const auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(50);
      for (size_t i = 0; std::chrono::steady_clock::now() < end; ++i) {
        params.trace_id = ids[i & (kIds - 1)];
        benchmark::DoNotOptimize(s->ShouldSample(params));
      }
      benchmark::DoNotOptimize(s->TakeCounts());
    }
  }
  return *s;
}

void BM_Decision_ByHandle(benchmark::State& state) {
  Sampler& sampler = MakeSampler(state.range(0) != 0);
  const OperationHandle handle = sampler.Handle("GET /api/v1/resource-17");
  const auto& ids = TraceIds();
  SamplingParameters params;
  size_t i = static_cast<size_t>(state.thread_index()) * 97;
  for (auto _ : state) {
    params.trace_id = ids[i++ & (kIds - 1)];
    benchmark::DoNotOptimize(sampler.ShouldSample(handle, params));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decision_ByHandle)->ArgName("buckets")->Arg(0)->Arg(1)->UseRealTime();

void BM_Decision_ByName(benchmark::State& state) {
  Sampler& sampler = MakeSampler(state.range(0) != 0);
  const auto& ids = TraceIds();
  SamplingParameters params;
  params.operation = "GET /api/v1/resource-17";
  size_t i = static_cast<size_t>(state.thread_index()) * 97;
  for (auto _ : state) {
    params.trace_id = ids[i++ & (kIds - 1)];
    benchmark::DoNotOptimize(sampler.ShouldSample(params));
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Decision_ByName)->ArgName("buckets")->Arg(0)->Arg(1)->UseRealTime();

class NoopExporter final : public Exporter {
 public:
  ExportResult Export(const SpanBatch& batch,
                      std::chrono::steady_clock::time_point) noexcept override {
    benchmark::DoNotOptimize(batch.size());
    return ExportResult::kSuccess;
  }
};

const AttributeView kAttributes[] = {{"http.method", "GET"}, {"http.status_code", 200}};

SpanView BenchSpan() {
  SpanView span;
  span.name = "GET /api/v1/resource-17";
  span.trace_id[15] = 1;
  span.start_unix_nanos = 1;
  span.end_unix_nanos = 2;
  span.attributes = kAttributes;
  span.attribute_count = 2;
  return span;
}

// Producer cost per Add (time per iteration) and spans delivered to the exporter per second
// (the "delivered" rate counter; Add refusals because the queue was full are "dropped").
Batcher* g_batcher = nullptr;
void BM_Batcher_Add(benchmark::State& state) {
  if (state.thread_index() == 0) {
    BatcherOptions options;
    options.profile = HighThroughputProfile();  // 8192 / 2048
    options.profile.schedule_delay_ms = 10;
    g_batcher = new Batcher(std::make_unique<NoopExporter>(), options);
  }
  const SpanView span = BenchSpan();
  for (auto _ : state) benchmark::DoNotOptimize(g_batcher->Add(span));
  if (state.thread_index() == 0) {
    (void)g_batcher->ForceFlush(std::chrono::seconds(10));
    const BatcherStats s = g_batcher->stats();
    state.counters["delivered"] =
        benchmark::Counter(static_cast<double>(s.exported), benchmark::Counter::kIsRate);
    state.counters["dropped"] = benchmark::Counter(static_cast<double>(s.dropped_queue_full));
    state.counters["batch"] = static_cast<double>(s.exported) / std::max<uint64_t>(1, s.batches);
    delete g_batcher;
    g_batcher = nullptr;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_Batcher_Add)->Threads(1)->Threads(2)->UseRealTime();

// Producer cost of an accepted Add: bursts of 4096 into an empty 8192-span queue (the flush
// between bursts is not timed), so no Add is a cheap refusal.
void BM_Batcher_AddAccepted(benchmark::State& state) {
  BatcherOptions options;
  options.profile = HighThroughputProfile();
  Batcher batcher(std::make_unique<NoopExporter>(), options);
  const SpanView span = BenchSpan();
  uint64_t refused = 0;
  for (auto _ : state) {
    for (int i = 0; i < 4096; ++i) refused += batcher.Add(span) ? 0 : 1;
    state.PauseTiming();
    (void)batcher.ForceFlush(std::chrono::seconds(10));
    state.ResumeTiming();
  }
  state.counters["refused"] = static_cast<double>(refused);
  state.SetItemsProcessed(state.iterations() * 4096);
}
BENCHMARK(BM_Batcher_AddAccepted)->UseRealTime();

// Baseline: a mutex-protected vector of owned spans, swapped out by one export thread.
class MutexVectorBatcher {
 public:
  MutexVectorBatcher() {
    buffer_.reserve(kQueue);
    thread_ = std::thread([this] { Run(); });
  }
  ~MutexVectorBatcher() {
    {
      std::lock_guard<std::mutex> lock(mu_);
      stop_ = true;
      cv_.notify_one();
    }
    thread_.join();
  }
  bool Add(const SpanView& view) {
    std::lock_guard<std::mutex> lock(mu_);
    if (buffer_.size() >= kQueue) {
      ++dropped_;
      return false;
    }
    SpanRecord record;
    record.Assign(view);
    buffer_.push_back(std::move(record));
    if (buffer_.size() >= kBatch) cv_.notify_one();
    return true;
  }
  void Flush() {
    std::unique_lock<std::mutex> lock(mu_);
    cv_.notify_one();
    cv_.wait(lock, [&] { return buffer_.empty() && !exporting_; });
  }
  uint64_t exported() {
    std::lock_guard<std::mutex> lock(mu_);
    return exported_;
  }
  uint64_t dropped() {
    std::lock_guard<std::mutex> lock(mu_);
    return dropped_;
  }

 private:
  static constexpr size_t kQueue = 8192;
  static constexpr size_t kBatch = 2048;
  void Run() {
    std::vector<SpanRecord> batch;
    std::unique_lock<std::mutex> lock(mu_);
    while (!stop_) {
      cv_.wait_for(lock, std::chrono::milliseconds(10));
      batch.swap(buffer_);
      buffer_.reserve(kQueue);
      exporting_ = true;
      lock.unlock();
      benchmark::DoNotOptimize(batch.size());
      const size_t n = batch.size();
      batch.clear();
      lock.lock();
      exporting_ = false;
      exported_ += n;
      cv_.notify_all();
    }
  }
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<SpanRecord> buffer_;
  bool stop_ = false;
  bool exporting_ = false;
  uint64_t exported_ = 0;
  uint64_t dropped_ = 0;
  std::thread thread_;
};

MutexVectorBatcher* g_baseline = nullptr;
void BM_MutexVectorBaseline_Add(benchmark::State& state) {
  if (state.thread_index() == 0) g_baseline = new MutexVectorBatcher();
  const SpanView span = BenchSpan();
  for (auto _ : state) benchmark::DoNotOptimize(g_baseline->Add(span));
  if (state.thread_index() == 0) {
    g_baseline->Flush();
    state.counters["delivered"] = benchmark::Counter(static_cast<double>(g_baseline->exported()),
                                                     benchmark::Counter::kIsRate);
    state.counters["dropped"] = benchmark::Counter(static_cast<double>(g_baseline->dropped()));
    delete g_baseline;
    g_baseline = nullptr;
  }
  state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_MutexVectorBaseline_Add)->Threads(1)->Threads(2)->UseRealTime();

}  // namespace
}  // namespace fleetrate

BENCHMARK_MAIN();
