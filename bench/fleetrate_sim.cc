// fleetrate-sim: the deterministic virtual-time fleet simulator (BENCHMARKS.md "Fleet
// simulator"). Runs every scenario under fleetrate (the real Aggregator and rate engine) and the
// baselines, prints a summary table, and with --out writes timeseries.csv, summary.csv and one
// SVG plot per scenario.
//
//   fleetrate-sim --out sim-out                      # the full run
//   fleetrate-sim --scenarios step --warmup-s 600 --clients 50 --operations 200
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "bench/sim/report.h"
#include "bench/sim/simulator.h"

namespace {

using fleetrate::sim::Algorithm;

constexpr char kUsage[] =
    "usage: fleetrate-sim [--out DIR] [--seed N] [--clients N] [--operations N] [--qps X]\n"
    "                     [--warmup-s N] [--scenarios a,b] [--algorithms a,b] [--threads N]\n"
    "                     [--cap-burst-s X]\n"
    "scenarios: steady,step,spike,diurnal,churn,rare; algorithms: fleetrate,seed,jaeger,fixed\n";

std::vector<std::string> Split(const std::string& text) {
  std::vector<std::string> parts;
  std::stringstream in(text);
  for (std::string part; std::getline(in, part, ',');) {
    if (!part.empty()) parts.push_back(part);
  }
  return parts;
}

struct Flags {
  fleetrate::sim::SimOptions options;
  std::string out;
  std::vector<std::string> scenarios = fleetrate::sim::ScenarioNames();
  std::vector<Algorithm> algorithms = fleetrate::sim::AllAlgorithms();
  int threads = 2;
};

bool ParseFlags(int argc, char** argv, Flags* flags) {
  for (int i = 1; i < argc; ++i) {
    const std::string flag = argv[i];
    if (flag == "--help" || flag == "-h") {
      std::cout << kUsage;
      std::exit(0);
    }
    if (i + 1 >= argc) return false;
    const std::string value = argv[++i];
    char* end = nullptr;
    const double number = std::strtod(value.c_str(), &end);
    const bool numeric = end != value.c_str() && *end == '\0';
    if (flag == "--out") {
      flags->out = value;
    } else if (flag == "--scenarios") {
      flags->scenarios = Split(value);
      for (const std::string& name : flags->scenarios) {
        bool known = false;
        for (const std::string& s : fleetrate::sim::ScenarioNames()) known |= s == name;
        if (!known) return false;
      }
    } else if (flag == "--algorithms") {
      flags->algorithms.clear();
      for (const std::string& name : Split(value)) {
        bool known = false;
        for (Algorithm a : fleetrate::sim::AllAlgorithms()) {
          if (name == fleetrate::sim::AlgorithmName(a)) {
            flags->algorithms.push_back(a);
            known = true;
          }
        }
        if (!known) return false;
      }
    } else if (!numeric) {
      return false;
    } else if (flag == "--seed" && number >= 0) {
      flags->options.seed = static_cast<uint64_t>(number);
    } else if (flag == "--clients" && number >= 2 && number <= 100000) {
      flags->options.clients = static_cast<int>(number);
    } else if (flag == "--operations" && number >= 1 && number <= 100000) {
      flags->options.operations = static_cast<int>(number);
    } else if (flag == "--qps" && number > 0) {
      flags->options.fleet_qps = number;
    } else if (flag == "--warmup-s" && number >= 60 && number <= 86400) {
      flags->options.warmup_seconds = static_cast<int>(number);
    } else if (flag == "--cap-burst-s" && number > 0 && number <= 3600) {
      flags->options.cap_burst_seconds = number;
    } else if (flag == "--threads" && number >= 1 && number <= 64) {
      flags->threads = static_cast<int>(number);
    } else {
      return false;
    }
  }
  return !flags->scenarios.empty() && !flags->algorithms.empty();
}

bool WriteFile(const std::filesystem::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
  out.close();
  if (!out) std::cerr << "fleetrate-sim: cannot write " << path.string() << "\n";
  return static_cast<bool>(out);
}

}  // namespace

int main(int argc, char** argv) {
  Flags flags;
  if (!ParseFlags(argc, argv, &flags)) {
    std::cerr << "fleetrate-sim: bad flags\n" << kUsage;
    return 2;
  }
  const fleetrate::sim::SimOptions& options = flags.options;
  std::vector<fleetrate::sim::Scenario> scenarios;
  for (const std::string& name : flags.scenarios) {
    scenarios.push_back(fleetrate::sim::MakeScenario(name, options));
  }

  // Every (scenario, algorithm) run is independent and seeded by its names, so the threads only
  // change the wall time, never the results.
  const size_t algorithms = flags.algorithms.size();
  const size_t jobs = scenarios.size() * algorithms;
  std::vector<fleetrate::sim::RunResult> runs(jobs);
  std::atomic<size_t> next{0};
  std::mutex progress_mu;
  size_t done = 0;
  const auto started = std::chrono::steady_clock::now();
  const auto worker = [&] {
    for (size_t job = next++; job < jobs; job = next++) {
      runs[job] = fleetrate::sim::RunScenario(scenarios[job / algorithms],
                                              flags.algorithms[job % algorithms], options);
      std::lock_guard<std::mutex> lock(progress_mu);
      ++done;
      std::fprintf(stderr, "[%zu/%zu] %-8s %-10s %.2f s\n", done, jobs, runs[job].scenario.c_str(),
                   fleetrate::sim::AlgorithmName(runs[job].algorithm), runs[job].wall_seconds);
    }
  };
  std::vector<std::thread> threads;
  for (int i = 0; i < flags.threads; ++i) threads.emplace_back(worker);
  for (std::thread& thread : threads) thread.join();
  const double wall =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();

  std::vector<fleetrate::sim::Summary> summaries;
  for (size_t job = 0; job < jobs; ++job) {
    summaries.push_back(fleetrate::sim::Summarize(scenarios[job / algorithms], runs[job], options));
  }
  std::printf(
      "fleetrate-sim: %d clients, %d operations (Zipf s=%.2f), %.0f roots/s, target %.3g "
      "traces/s per operation, seed %llu, warm-up %d s, %d s per run, fixed p = %.6f, "
      "local-cap burst %.3g s\n\n",
      options.clients, options.operations, options.zipf_exponent, options.fleet_qps,
      options.target_per_key, static_cast<unsigned long long>(options.seed), options.warmup_seconds,
      2 * options.warmup_seconds, fleetrate::sim::FixedProbability(options),
      options.cap_burst_seconds);
  std::printf("%s", fleetrate::sim::SummaryTable(summaries).c_str());
  std::fprintf(stderr, "fleetrate-sim: %zu runs in %.1f s on %d threads\n", jobs, wall,
               flags.threads);

  if (flags.out.empty()) return 0;
  std::error_code error;
  std::filesystem::create_directories(flags.out, error);
  const std::filesystem::path dir(flags.out);
  std::ostringstream series;
  fleetrate::sim::WriteTimeSeriesCsv(series, runs);
  std::ostringstream summary;
  fleetrate::sim::WriteSummaryCsv(summary, summaries);
  bool ok = WriteFile(dir / "timeseries.csv", series.str()) &&
            WriteFile(dir / "summary.csv", summary.str());
  for (size_t s = 0; s < scenarios.size(); ++s) {
    std::vector<const fleetrate::sim::RunResult*> of_scenario;
    for (size_t a = 0; a < algorithms; ++a) of_scenario.push_back(&runs[s * algorithms + a]);
    ok = ok && WriteFile(dir / (scenarios[s].name + ".svg"),
                         fleetrate::sim::PlotSvg(scenarios[s], of_scenario, options));
  }
  return ok ? 0 : 1;
}
