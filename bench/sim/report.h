// fleetrate-sim's metrics and outputs: the per-run summary, the CSV files and the SVG plot.
//
//   Summary s = Summarize(scenario, run, options);
//   WriteTimeSeriesCsv(out, runs);          // t,scenario,algorithm,target,achieved
//   std::string svg = PlotSvg(scenario, runs_of_scenario, options);
//
// Pure functions of the runs: the same runs give byte-identical text.
#pragma once

#include <ostream>
#include <string>
#include <vector>

#include "bench/sim/simulator.h"

namespace fleetrate::sim {

// The window over which achieved and target are compared (Poisson noise of a 1-s count of
// ~1,000 kept traces alone is ~3 %).
inline constexpr int kErrorWindowSeconds = 10;
// After an event, achieved must stay within this much of the target for kHoldSeconds to count
// as settled.
inline constexpr double kSettleTolerance = 0.10;
inline constexpr int kHoldSeconds = 60;

struct Summary {
  std::string scenario;
  std::string algorithm;
  // Mean over 10-s windows of |achieved − target| / target: whole run, and after warm-up.
  double error_all = 0;
  double error_after_warmup = 0;
  // Σ achieved / Σ target after warm-up: > 1 keeps too much, < 1 too little.
  double volume_ratio = 0;
  // RunResult::key_error: the same error per operation over 300-s windows after warm-up.
  double key_error = 0;
  // Per Scenario::settle_from event: seconds until the trailing 10-s mean is within 10 % of
  // the target and stays there for 60 s (or until the next event); -1: never.
  std::vector<double> settle_seconds;
  // Peak 1-s achieved / target in the 60 s after each Scenario::overshoot_from; -1: none.
  double overshoot = -1;
  // Over the same 60 s: Σ max(0, achieved − target) / target, i.e. the extra traces in seconds
  // of target (a standing surplus counts too: 1.3 × target adds 18 s over 60 s); -1: none.
  double excess_seconds = -1;
  // Rare operations: share of (operation, minute) with a root that kept one, and share of
  // operations seen in the run with ≥ 1 kept; -1 without rare operations.
  double rare_minute_coverage = -1;
  double rare_operation_coverage = -1;
};

[[nodiscard]] Summary Summarize(const Scenario& scenario, const RunResult& run,
                                const SimOptions& options);

// A fixed-width table for a terminal.
[[nodiscard]] std::string SummaryTable(const std::vector<Summary>& summaries);

void WriteTimeSeriesCsv(std::ostream& out, const std::vector<RunResult>& runs);
void WriteSummaryCsv(std::ostream& out, const std::vector<Summary>& summaries);

// Target and each run's achieved traces/s (10-s means, log scale) over time; a self-contained
// SVG document.
[[nodiscard]] std::string PlotSvg(const Scenario& scenario,
                                  const std::vector<const RunResult*>& runs,
                                  const SimOptions& options);

}  // namespace fleetrate::sim
