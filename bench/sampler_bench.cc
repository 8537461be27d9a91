// Microbenchmarks of Sampler::ShouldSample, the per-trace hot path.
//
//   cmake --build build --target fleetrate_sampler_bench
//   build/bench/fleetrate_sampler_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <array>
#include <cstdint>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench/bench_support.h"
#include "fleetrate/sampler.h"

namespace fleetrate {
namespace {

using bench::kIds;
using bench::TraceIds;

// A sampler with a table of 200 operations at p = 0.1 and a default of 0.01, shared by the
// threads of a multi-threaded run.
Sampler& SharedSampler() {
  static Sampler* sampler = [] {
    auto* s = new Sampler(0.001);
    std::vector<RateTable::Entry> entries;
    for (int i = 0; i < 200; ++i) {
      entries.push_back(
          {"GET /api/v1/resource-" + std::to_string(i), OperationRate::FromProbability(0.1)});
    }
    s->ApplyTable(std::make_shared<const RateTable>(1, OperationRate::FromProbability(0.01),
                                                    std::move(entries)));
    return s;
  }();
  return *sampler;
}

void RunRoots(benchmark::State& state, Sampler& sampler, const std::string& operation,
              ParentState parent) {
  const auto& ids = TraceIds();
  SamplingParameters params;
  params.operation = operation;
  params.parent = parent;
  size_t i = static_cast<size_t>(state.thread_index()) * 97;
  for (auto _ : state) {
    params.trace_id = ids[i++ & (kIds - 1)];
    benchmark::DoNotOptimize(sampler.ShouldSample(params));
  }
  state.SetItemsProcessed(state.iterations());
}

// A root of an operation the table lists.
void BM_ShouldSample_RootKnownOperation(benchmark::State& state) {
  RunRoots(state, SharedSampler(), "GET /api/v1/resource-17", ParentState::kNone);
}
BENCHMARK(BM_ShouldSample_RootKnownOperation)->Threads(1)->Threads(2)->UseRealTime();

// A root of an operation the table does not list (decided with the default rate). Each thread
// uses its own operation name, so the 2-thread run shows no shared counter line.
void BM_ShouldSample_RootUnlistedOperation(benchmark::State& state) {
  RunRoots(state, SharedSampler(), "POST /unlisted-" + std::to_string(state.thread_index()),
           ParentState::kNone);
}
BENCHMARK(BM_ShouldSample_RootUnlistedOperation)->Threads(1)->Threads(2)->UseRealTime();

// A root beyond the operation cap: counted into "*" without the mutex.
void BM_ShouldSample_RootOverflowOperation(benchmark::State& state) {
  static Sampler* sampler = [] {
    auto* s = new Sampler(0.01, /*max_operations=*/2);
    (void)s->ShouldSample(SamplingParameters{"fills the cap", {}, ParentState::kNone, {}});
    return s;
  }();
  RunRoots(state, *sampler, "GET /over-the-cap", ParentState::kNone);
}
BENCHMARK(BM_ShouldSample_RootOverflowOperation)->Threads(1)->UseRealTime();

// A child span: follows its parent, no lookup.
void BM_ShouldSample_ChildOfSampledParent(benchmark::State& state) {
  RunRoots(state, SharedSampler(), "GET /api/v1/resource-17", ParentState::kRemoteSampled);
}
BENCHMARK(BM_ShouldSample_ChildOfSampledParent)->Threads(1)->UseRealTime();

}  // namespace
}  // namespace fleetrate

BENCHMARK_MAIN();
