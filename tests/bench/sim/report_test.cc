#include "bench/sim/report.h"

#include <gtest/gtest.h>

#include <sstream>
#include <string>

namespace fleetrate::sim {
namespace {

// 400 s at a target of 100/s; from t = 100 the run keeps 300/s for 20 s, then the target.
RunResult SyntheticRun() {
  RunResult run;
  run.scenario = "synthetic";
  run.algorithm = Algorithm::kFleetrate;
  run.target.assign(400, 100.0);
  run.achieved.assign(400, 100.0);
  for (int t = 100; t < 120; ++t) run.achieved[static_cast<size_t>(t)] = 300;
  return run;
}

Scenario SyntheticScenario() {
  Scenario scenario;
  scenario.name = "synthetic";
  scenario.description = "a made-up run";
  scenario.duration_seconds = 400;
  scenario.settle_from = {100};
  scenario.overshoot_from = {100};
  return scenario;
}

SimOptions Warmup(int seconds) {
  SimOptions options;
  options.warmup_seconds = seconds;
  return options;
}

TEST(SummarizeTest, ErrorsOvershootAndSettleTimeOfAKnownRun) {
  const Summary s = Summarize(SyntheticScenario(), SyntheticRun(), Warmup(200));
  // Two of the forty 10-s windows are 200 % off.
  EXPECT_NEAR(s.error_all, 2 * 2.0 / 40, 1e-12);
  EXPECT_NEAR(s.error_after_warmup, 0.0, 1e-12);
  EXPECT_NEAR(s.volume_ratio, 1.0, 1e-12);
  EXPECT_NEAR(s.overshoot, 3.0, 1e-12);
  EXPECT_NEAR(s.excess_seconds, 20 * 2.0, 1e-9);  // 20 s at twice the target too many
  // The trailing 10-s mean is clean from t = 129 (window 120..129) on.
  ASSERT_EQ(s.settle_seconds.size(), 1u);
  EXPECT_EQ(s.settle_seconds[0], 29);
  EXPECT_LT(s.rare_minute_coverage, 0);  // no rare operations in this scenario
}

TEST(SummarizeTest, NeverSettlingIsReportedAsMinusOne) {
  RunResult run = SyntheticRun();
  for (size_t t = 100; t < 400; ++t) run.achieved[t] = 150;  // 50 % off to the end
  const Summary s = Summarize(SyntheticScenario(), run, Warmup(200));
  ASSERT_EQ(s.settle_seconds.size(), 1u);
  EXPECT_EQ(s.settle_seconds[0], -1);
  EXPECT_NEAR(s.volume_ratio, 1.5, 1e-12);
  EXPECT_NE(SummaryTable({s}).find("never"), std::string::npos);
}

TEST(SummarizeTest, RareCoverageIsTheShareOfMinutesAndOperationsKept) {
  Scenario scenario = SyntheticScenario();
  scenario.rare_operations = 4;
  RunResult run = SyntheticRun();
  run.rare_minutes_seen = 8;
  run.rare_minutes_kept = 6;
  run.rare_ops_seen = 4;
  run.rare_ops_kept = 3;
  const Summary s = Summarize(scenario, run, Warmup(200));
  EXPECT_DOUBLE_EQ(s.rare_minute_coverage, 0.75);
  EXPECT_DOUBLE_EQ(s.rare_operation_coverage, 0.75);
}

TEST(ReportTest, CsvHasAHeaderAndOneRowPerSecond) {
  const std::vector<RunResult> runs = {SyntheticRun()};
  std::ostringstream series;
  WriteTimeSeriesCsv(series, runs);
  const std::string text = series.str();
  EXPECT_EQ(text.rfind("t,scenario,algorithm,target,achieved\n", 0), 0u);
  EXPECT_NE(text.find("\n100,synthetic,fleetrate,100.000,300\n"), std::string::npos);
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 401);

  std::ostringstream summary;
  WriteSummaryCsv(summary, {Summarize(SyntheticScenario(), runs[0], Warmup(200))});
  EXPECT_NE(summary.str().find("\nsynthetic,fleetrate,0.1000,0.0000,1.0000,"), std::string::npos);
}

TEST(ReportTest, SvgHasTheTargetEachRunAndALegend) {
  RunResult other = SyntheticRun();
  other.algorithm = Algorithm::kJaeger;
  const RunResult run = SyntheticRun();
  const std::string svg = PlotSvg(SyntheticScenario(), {&run, &other}, Warmup(200));
  EXPECT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_NE(svg.find("</svg>"), std::string::npos);
  size_t polylines = 0;
  for (size_t at = svg.find("<polyline"); at != std::string::npos;
       at = svg.find("<polyline", at + 1)) {
    ++polylines;
  }
  EXPECT_EQ(polylines, 3u);  // target, fleetrate, jaeger
  EXPECT_NE(svg.find(">target</text>"), std::string::npos);
  EXPECT_NE(svg.find(">jaeger</text>"), std::string::npos);
  EXPECT_NE(svg.find("warm-up ends"), std::string::npos);
}

}  // namespace
}  // namespace fleetrate::sim
