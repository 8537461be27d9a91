// The server's recompute at fleet scale: 1,000 services × 100 operations = 100,000 keys,
// reported by 10,000 clients (10 per service) with 50 operations each (500,000 client-key
// rates). Goal (issue "rate engine"): a recompute well under 100 ms on one core.
//
//   build/bench/fleetrate_rate_engine_bench
//
// Memory per key is measured with mallinfo2 (bytes in use before/after) and reported as
// counters, for the aggregator (which also holds every client's per-key rate) and for one
// published rate table.
#include <benchmark/benchmark.h>
#include <malloc.h>

#include <memory>
#include <random>
#include <string>

#include "server/rates/aggregator.h"
#include "server/rates/rate_engine.h"

namespace fleetrate::server {
namespace {

constexpr int kServices = 1000;
constexpr int kOperationsPerService = 100;
constexpr int kClientsPerService = 10;
constexpr int kOperationsPerClient = 50;

size_t HeapInUse() { return mallinfo2().uordblks; }

std::string OperationName(int op) { return "GET /api/v1/resource/" + std::to_string(op); }

// Fills an aggregator with the fleet above; returns the time of the reports.
Timestamp Populate(Aggregator& aggregator) {
  std::mt19937_64 random(42);
  const Timestamp now = Timestamp(std::chrono::hours(1));
  for (int s = 0; s < kServices; ++s) {
    for (int c = 0; c < kClientsPerService; ++c) {
      ClientReport report;
      report.scope = {"service-" + std::to_string(s), "production"};
      report.instance_id = "host-" + std::to_string(s) + "-" + std::to_string(c);
      report.interval = std::chrono::seconds(10);
      for (int k = 0; k < kOperationsPerClient; ++k) {
        const int op = (c * 10 + k) % kOperationsPerService;  // each op: 5 clients
        const uint64_t seen = 10 + random() % 100000;
        report.operations.push_back({OperationName(op), seen, seen / 100});
      }
      (void)aggregator.Report(report, std::chrono::seconds(10), now);
    }
  }
  return now;
}

std::shared_ptr<const Policies> BenchPolicies() {
  auto p = ParsePolicies(R"(
budget_traces_per_second: 20000
defaults:
  target_traces_per_second: 1
rules:
  - operation: "*health*"
    probability: 0
  - service: "service-1*"
    target_traces_per_second: 5
    weight: 2
)");
  return std::make_shared<const Policies>(*p);
}

AggregatorLimits Limits() {
  AggregatorLimits limits;
  limits.max_keys = 200000;
  return limits;
}

void BM_AggregatorEstimate(benchmark::State& state) {
  Aggregator aggregator(Limits());
  const size_t before = HeapInUse();
  const Timestamp now = Populate(aggregator);
  const size_t after = HeapInUse();
  size_t keys = 0;
  for (auto _ : state) {
    FleetEstimate e = aggregator.Estimate(now);
    keys = e.keys;
    benchmark::DoNotOptimize(e);
  }
  state.counters["keys"] = static_cast<double>(keys);
  state.counters["aggregator_bytes_per_key"] =
      static_cast<double>(after - before) / static_cast<double>(keys);
}
BENCHMARK(BM_AggregatorEstimate)->Unit(benchmark::kMillisecond);

void BM_ComputeRates(benchmark::State& state) {
  Aggregator aggregator(Limits());
  const Timestamp now = Populate(aggregator);
  const FleetEstimate estimate = aggregator.Estimate(now);
  const auto policies = BenchPolicies();
  const size_t before = HeapInUse();
  auto previous = std::make_shared<const RateTables>(ComputeRates(policies, estimate, nullptr, 1));
  const size_t after = HeapInUse();
  uint64_t version = 2;
  for (auto _ : state) {
    RateTables next = ComputeRates(policies, estimate, previous.get(), version++);
    benchmark::DoNotOptimize(next);
  }
  state.counters["keys"] = static_cast<double>(estimate.keys);
  state.counters["table_bytes_per_key"] =
      static_cast<double>(after - before) / static_cast<double>(estimate.keys);
}
BENCHMARK(BM_ComputeRates)->Unit(benchmark::kMillisecond);

// What the recompute thread does every second: estimate, engine, against the previous table.
void BM_Recompute(benchmark::State& state) {
  Aggregator aggregator(Limits());
  const Timestamp now = Populate(aggregator);
  const auto policies = BenchPolicies();
  auto previous = std::make_shared<const RateTables>(
      ComputeRates(policies, aggregator.Estimate(now), nullptr, 1));
  uint64_t version = 2;
  for (auto _ : state) {
    auto next = std::make_shared<const RateTables>(
        ComputeRates(policies, aggregator.Estimate(now), previous.get(), version++));
    previous = std::move(next);
  }
}
BENCHMARK(BM_Recompute)->Unit(benchmark::kMillisecond);

// One client's report of 50 operations: the store's share of a Sync.
void BM_AggregatorReport(benchmark::State& state) {
  Aggregator aggregator(Limits());
  const Timestamp now = Populate(aggregator);
  ClientReport report;
  report.scope = {"service-7", "production"};
  report.instance_id = "host-7-3";
  report.interval = std::chrono::seconds(10);
  for (int k = 0; k < kOperationsPerClient; ++k) {
    report.operations.push_back({OperationName(k), 1000, 10});
  }
  for (auto _ : state) (void)aggregator.Report(report, std::chrono::seconds(10), now);
}
BENCHMARK(BM_AggregatorReport)->Unit(benchmark::kMicrosecond);

}  // namespace
}  // namespace fleetrate::server

BENCHMARK_MAIN();
