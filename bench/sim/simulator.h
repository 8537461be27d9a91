// fleetrate-sim's core: a deterministic, virtual-time fleet of simulated clients whose traffic
// is sampled by one of four algorithms, second by second.
//
//   SimOptions options;                       // 100 clients, 1,000 Zipf operations, ...
//   Scenario step = MakeScenario("step", options);
//   RunResult run = RunScenario(step, Algorithm::kFleetrate, options);
//   // run.target[t], run.achieved[t]: sampled traces/s wanted and kept in second t
//
// kFleetrate drives the real server path: each client reports the roots it saw and kept since
// its last Sync into the real Aggregator (server/rates/aggregator.h) at its own jittered
// interval, the real ComputeRates recomputes the table every virtual second, and the client
// samples with what it last fetched: the probability, its share of the lower bound and its
// local cap (burst × p × its own rate), as the client library's Sampler and Poller do. The
// baselines (docs: BENCHMARKS.md "Fleet simulator") are written from their published rules:
//   kSeed    each process nudges its own per-operation probability ×1.1 / ×0.9 every 10 s
//            toward target / (fleet size at start), from its own call count;
//   kJaeger  Jaeger's adaptive sampling: the collector sees only kept roots, every 60 s it
//            computes p ← p·target/qps from the 1-minute bucket that ended 2 minutes ago
//            (no change within ±30 %, rises capped at ×2), initial p 0.001, floor 1e-5;
//            clients poll every 60 s and keep ≥ 1/60 traces/s per operation per instance;
//   kFixed   one probability for every operation, chosen so the steady fleet keeps the target.
//
// The same seed gives the same result. Traffic draws come from a stream of their own, so every
// algorithm in a scenario sees the same roots. Clients of a scenario share its traffic evenly
// (a load-balanced service); per-client imbalance is not modelled.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace fleetrate::sim {

enum class Algorithm { kFleetrate, kSeed, kJaeger, kFixed };

[[nodiscard]] const char* AlgorithmName(Algorithm algorithm);
[[nodiscard]] const std::vector<Algorithm>& AllAlgorithms();

struct SimOptions {
  int clients = 100;            // live at the start
  int operations = 1000;        // Zipf-distributed
  double fleet_qps = 20000;     // roots/s of the whole fleet, all operations, at multiplier 1
  double zipf_exponent = 1.0;   // operation k (1-based) gets ∝ 1 / k^s of the traffic
  double target_per_key = 1.0;  // sampled traces/s per operation, fleet-wide (every algorithm)
  int warmup_seconds = 1800;    // before any scenario event; runs last 2 × warm-up
  double sync_interval_seconds = 10;  // fleetrate and the seed sampler
  double jaeger_poll_seconds = 60;
  // The fleetrate client's local-cap bucket holds this many seconds of tokens (at least
  // fleetrate::kMinAdaptiveCapTokens for an adaptive cap). The client library uses 1
  // (client/src/poller.cc, sampler.cc); other values are a what-if.
  double cap_burst_seconds = 1;
  uint64_t seed = 1;
};

// A client-count change at a second of virtual time: joins (> 0) or abrupt leaves (< 0).
struct FleetChange {
  int second = 0;
  int delta = 0;
};

struct Scenario {
  std::string name;
  std::string description;
  int duration_seconds = 0;
  // Multiplier of every Zipf operation's traffic in second t.
  std::function<double(int)> traffic;
  std::vector<FleetChange> fleet_changes;
  int rare_operations = 0;  // extra operations at 1/3600..1/60 roots/s (log-uniform)
  // Seconds after which the time to get back within 10 % of the target is measured.
  std::vector<int> settle_from;
  // Seconds from which the overshoot (peak achieved / target over 60 s) is measured.
  std::vector<int> overshoot_from;
};

// The built-in scenarios, in report order: steady, step, spike, diurnal, churn, rare.
[[nodiscard]] std::vector<std::string> ScenarioNames();
// Throws std::invalid_argument for an unknown name.
[[nodiscard]] Scenario MakeScenario(const std::string& name, const SimOptions& options);

// Per-operation traffic at multiplier 1: Zipf operations first, then rare ones.
struct Traffic {
  std::vector<double> base_qps;
  std::vector<bool> rare;
};
[[nodiscard]] Traffic MakeTraffic(const Scenario& scenario, const SimOptions& options);

// The fixed baseline's probability: the steady fleet keeps exactly its target in total.
[[nodiscard]] double FixedProbability(const SimOptions& options);

struct RunResult {
  std::string scenario;
  Algorithm algorithm = Algorithm::kFleetrate;
  // Per second of virtual time: what an ideal sampler keeps (Σ over operations of
  // min(target, expected qps)) and what the clients kept.
  std::vector<double> target;
  std::vector<double> achieved;
  // Mean over 300-s windows after warm-up and over non-rare operations of
  // |kept − target| / target per operation.
  double key_error = 0;
  // Rare operations: occurrences (op, minute with ≥ 1 root) and those with ≥ 1 kept root; and
  // operations with ≥ 1 root in the run, and those with ≥ 1 kept.
  uint64_t rare_minutes_seen = 0;
  uint64_t rare_minutes_kept = 0;
  uint64_t rare_ops_seen = 0;
  uint64_t rare_ops_kept = 0;
  double wall_seconds = 0;
};

[[nodiscard]] RunResult RunScenario(const Scenario& scenario, Algorithm algorithm,
                                    const SimOptions& options);

}  // namespace fleetrate::sim
