#include "bench/sim/report.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

namespace fleetrate::sim {
namespace {

// Mean of v over [from, to).
double Mean(const std::vector<double>& v, int from, int to) {
  double sum = 0;
  for (int t = from; t < to; ++t) sum += v[static_cast<size_t>(t)];
  return to > from ? sum / (to - from) : 0;
}

// |achieved − target| / target of the trailing 10-s means ending at second t (inclusive).
double TrailingError(const RunResult& run, int t) {
  const int from = std::max(0, t - kErrorWindowSeconds + 1);
  const double target = Mean(run.target, from, t + 1);
  return target > 0 ? std::abs(Mean(run.achieved, from, t + 1) - target) / target : 0;
}

std::string Fixed(double value, int decimals) {
  char text[64];
  std::snprintf(text, sizeof(text), "%.*f", decimals, value);
  return text;
}

std::string Percent(double value) { return value < 0 ? "-" : Fixed(100 * value, 1) + "%"; }

std::string SettleText(const std::vector<double>& settle) {
  if (settle.empty()) return "-";
  std::string text;
  for (double s : settle) {
    if (!text.empty()) text += "/";
    text += s < 0 ? "never" : Fixed(s, 0);
  }
  return text;
}

const char* Colour(const std::string& algorithm) {
  if (algorithm == "fleetrate") return "#1f77b4";
  if (algorithm == "seed") return "#ff7f0e";
  if (algorithm == "jaeger") return "#2ca02c";
  return "#9467bd";
}

}  // namespace

Summary Summarize(const Scenario& scenario, const RunResult& run, const SimOptions& options) {
  Summary s;
  s.scenario = run.scenario;
  s.algorithm = AlgorithmName(run.algorithm);
  const int duration = static_cast<int>(run.target.size());
  double all = 0;
  double after = 0;
  int windows_all = 0;
  int windows_after = 0;
  double kept_after = 0;
  double target_after = 0;
  for (int from = 0; from + kErrorWindowSeconds <= duration; from += kErrorWindowSeconds) {
    const double target = Mean(run.target, from, from + kErrorWindowSeconds);
    const double achieved = Mean(run.achieved, from, from + kErrorWindowSeconds);
    if (!(target > 0)) continue;
    const double error = std::abs(achieved - target) / target;
    all += error;
    ++windows_all;
    if (from >= options.warmup_seconds) {
      after += error;
      ++windows_after;
      kept_after += achieved;
      target_after += target;
    }
  }
  s.error_all = windows_all > 0 ? all / windows_all : 0;
  s.error_after_warmup = windows_after > 0 ? after / windows_after : 0;
  s.volume_ratio = target_after > 0 ? kept_after / target_after : 0;
  s.key_error = run.key_error;

  for (size_t i = 0; i < scenario.settle_from.size(); ++i) {
    const int event = scenario.settle_from[i];
    const int end = i + 1 < scenario.settle_from.size() ? scenario.settle_from[i + 1] : duration;
    // next_bad[t - event]: the first second >= t whose trailing error is out of tolerance.
    std::vector<int> next_bad(static_cast<size_t>(std::max(0, end - event)) + 1, end);
    for (int t = end - 1; t >= event; --t) {
      next_bad[static_cast<size_t>(t - event)] = TrailingError(run, t) <= kSettleTolerance
                                                     ? next_bad[static_cast<size_t>(t - event + 1)]
                                                     : t;
    }
    double settled = -1;
    for (int t = event; t < end; ++t) {
      if (next_bad[static_cast<size_t>(t - event)] >= std::min(t + kHoldSeconds, end)) {
        settled = t - event;
        break;
      }
    }
    s.settle_seconds.push_back(settled);
  }
  for (int event : scenario.overshoot_from) {
    for (int t = event; t < std::min(duration, event + kHoldSeconds); ++t) {
      const double target = run.target[static_cast<size_t>(t)];
      if (!(target > 0)) continue;
      const double achieved = run.achieved[static_cast<size_t>(t)];
      s.overshoot = std::max(s.overshoot, achieved / target);
      s.excess_seconds =
          std::max(0.0, s.excess_seconds) + std::max(0.0, achieved - target) / target;
    }
  }
  if (scenario.rare_operations > 0) {
    s.rare_minute_coverage = run.rare_minutes_seen > 0
                                 ? static_cast<double>(run.rare_minutes_kept) /
                                       static_cast<double>(run.rare_minutes_seen)
                                 : 0;
    s.rare_operation_coverage = run.rare_ops_seen > 0 ? static_cast<double>(run.rare_ops_kept) /
                                                            static_cast<double>(run.rare_ops_seen)
                                                      : 0;
  }
  return s;
}

std::string SummaryTable(const std::vector<Summary>& summaries) {
  std::ostringstream out;
  char line[256];
  constexpr char kFormat[] = "%-8s %-10s %8s %8s %6s %8s %11s %9s %8s %8s %8s\n";
  std::snprintf(line, sizeof(line), kFormat, "scenario", "algorithm", "err_all", "err_post",
                "volume", "key_err", "settle_s", "overshoot", "excess_s", "rare_min", "rare_ops");
  out << line;
  for (const Summary& s : summaries) {
    std::snprintf(line, sizeof(line), kFormat, s.scenario.c_str(), s.algorithm.c_str(),
                  Percent(s.error_all).c_str(), Percent(s.error_after_warmup).c_str(),
                  Fixed(s.volume_ratio, 2).c_str(), Percent(s.key_error).c_str(),
                  SettleText(s.settle_seconds).c_str(),
                  s.overshoot < 0 ? "-" : (Fixed(s.overshoot, 2) + "x").c_str(),
                  s.excess_seconds < 0 ? "-" : Fixed(s.excess_seconds, 0).c_str(),
                  Percent(s.rare_minute_coverage).c_str(),
                  Percent(s.rare_operation_coverage).c_str());
    out << line;
  }
  return out.str();
}

void WriteTimeSeriesCsv(std::ostream& out, const std::vector<RunResult>& runs) {
  out << "t,scenario,algorithm,target,achieved\n";
  for (const RunResult& run : runs) {
    for (size_t t = 0; t < run.target.size(); ++t) {
      out << t << ',' << run.scenario << ',' << AlgorithmName(run.algorithm) << ','
          << Fixed(run.target[t], 3) << ',' << Fixed(run.achieved[t], 0) << '\n';
    }
  }
}

void WriteSummaryCsv(std::ostream& out, const std::vector<Summary>& summaries) {
  out << "scenario,algorithm,error_all,error_after_warmup,volume_ratio,key_error,settle_seconds,"
         "overshoot,excess_seconds,rare_minute_coverage,rare_operation_coverage\n";
  const auto optional = [](double value, int decimals) {
    return value < 0 ? std::string() : Fixed(value, decimals);
  };
  for (const Summary& s : summaries) {
    out << s.scenario << ',' << s.algorithm << ',' << Fixed(s.error_all, 4) << ','
        << Fixed(s.error_after_warmup, 4) << ',' << Fixed(s.volume_ratio, 4) << ','
        << Fixed(s.key_error, 4) << ',' << SettleText(s.settle_seconds) << ','
        << optional(s.overshoot, 3) << ',' << optional(s.excess_seconds, 1) << ','
        << optional(s.rare_minute_coverage, 4) << ',' << optional(s.rare_operation_coverage, 4)
        << '\n';
  }
}

std::string PlotSvg(const Scenario& scenario, const std::vector<const RunResult*>& runs,
                    const SimOptions& options) {
  constexpr double kWidth = 960, kHeight = 480;
  constexpr double kLeft = 80, kRight = 150, kTop = 40, kBottom = 50;
  const double plot_w = kWidth - kLeft - kRight;
  const double plot_h = kHeight - kTop - kBottom;
  if (runs.empty()) return "";
  const int duration = static_cast<int>(runs.front()->target.size());

  // Series of 10-s means: the target, then each run's achieved.
  std::vector<std::pair<std::string, std::vector<double>>> series;
  const auto means = [&](const std::vector<double>& v) {
    std::vector<double> out;
    for (int from = 0; from + kErrorWindowSeconds <= duration; from += kErrorWindowSeconds) {
      out.push_back(Mean(v, from, from + kErrorWindowSeconds));
    }
    return out;
  };
  series.emplace_back("target", means(runs.front()->target));
  for (const RunResult* run : runs)
    series.emplace_back(AlgorithmName(run->algorithm), means(run->achieved));
  double lo = 1e300, hi = 0;
  for (const auto& [name, values] : series) {
    for (double v : values) {
      if (v > 0) {
        lo = std::min(lo, v);
        hi = std::max(hi, v);
      }
    }
  }
  if (!(hi > 0)) lo = hi = 1;
  const double y_lo = std::floor(std::log10(lo));
  const double y_hi = std::max(y_lo + 1, std::ceil(std::log10(hi)));
  const auto x_of = [&](double seconds) { return kLeft + plot_w * seconds / duration; };
  const auto y_of = [&](double value) {
    const double l = value > 0 ? std::log10(value) : y_lo;
    return kTop + plot_h * (1 - (std::clamp(l, y_lo, y_hi) - y_lo) / (y_hi - y_lo));
  };

  std::ostringstream svg;
  svg << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << kWidth << "\" height=\"" << kHeight
      << "\" viewBox=\"0 0 " << kWidth << ' ' << kHeight
      << "\" font-family=\"sans-serif\" font-size=\"12\">\n";
  svg << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  svg << "<text x=\"" << kLeft << "\" y=\"22\" font-size=\"15\">fleetrate-sim: " << scenario.name
      << " — " << scenario.description << "</text>\n";
  // Grid and y labels at 1, 2, 5 × 10^k.
  for (double decade = y_lo; decade < y_hi; ++decade) {
    for (double m : {1.0, 2.0, 5.0}) {
      const double value = m * std::pow(10.0, decade);
      const double y = y_of(value);
      svg << "<line x1=\"" << kLeft << "\" x2=\"" << kLeft + plot_w << "\" y1=\"" << Fixed(y, 1)
          << "\" y2=\"" << Fixed(y, 1) << "\" stroke=\"" << (m == 1 ? "#bbb" : "#e5e5e5")
          << "\"/>\n";
      svg << "<text x=\"" << kLeft - 6 << "\" y=\"" << Fixed(y + 4, 1) << "\" text-anchor=\"end\">"
          << Fixed(value, value < 1 ? 2 : 0) << "</text>\n";
    }
  }
  // x ticks every 10 minutes.
  for (int minute = 0; minute * 60 <= duration; minute += 10) {
    const double x = x_of(minute * 60);
    svg << "<line x1=\"" << Fixed(x, 1) << "\" x2=\"" << Fixed(x, 1) << "\" y1=\"" << kTop
        << "\" y2=\"" << kTop + plot_h << "\" stroke=\"#eee\"/>\n";
    svg << "<text x=\"" << Fixed(x, 1) << "\" y=\"" << kTop + plot_h + 18
        << "\" text-anchor=\"middle\">" << minute << "</text>\n";
  }
  const double warm = x_of(options.warmup_seconds);
  svg << "<line x1=\"" << Fixed(warm, 1) << "\" x2=\"" << Fixed(warm, 1) << "\" y1=\"" << kTop
      << "\" y2=\"" << kTop + plot_h << "\" stroke=\"#888\" stroke-dasharray=\"2,3\"/>\n";
  svg << "<text x=\"" << Fixed(warm + 4, 1) << "\" y=\"" << kTop + 12
      << "\" fill=\"#666\">warm-up ends</text>\n";
  svg << "<rect x=\"" << kLeft << "\" y=\"" << kTop << "\" width=\"" << plot_w << "\" height=\""
      << plot_h << "\" fill=\"none\" stroke=\"black\"/>\n";
  svg << "<text x=\"" << kLeft + plot_w / 2 << "\" y=\"" << kHeight - 10
      << "\" text-anchor=\"middle\">minutes of virtual time (10-s means)</text>\n";
  svg << "<text transform=\"translate(18," << kTop + plot_h / 2
      << ") rotate(-90)\" text-anchor=\"middle\">sampled traces/s (log scale)</text>\n";

  for (size_t i = 0; i < series.size(); ++i) {
    const auto& [name, values] = series[i];
    const bool target = i == 0;
    svg << "<polyline fill=\"none\" stroke=\"" << (target ? "black" : Colour(name))
        << "\" stroke-width=\"" << (target ? "2" : "1.5") << "\""
        << (target ? " stroke-dasharray=\"6,4\"" : "") << " points=\"";
    for (size_t w = 0; w < values.size(); ++w) {
      if (w > 0) svg << ' ';
      svg << Fixed(x_of((w + 0.5) * kErrorWindowSeconds), 1) << ',' << Fixed(y_of(values[w]), 1);
    }
    svg << "\"/>\n";
    const double ly = kTop + 10 + 20 * static_cast<double>(i);
    const double lx = kLeft + plot_w + 15;
    svg << "<line x1=\"" << lx << "\" x2=\"" << lx + 24 << "\" y1=\"" << ly << "\" y2=\"" << ly
        << "\" stroke=\"" << (target ? "black" : Colour(name)) << "\" stroke-width=\"2\""
        << (target ? " stroke-dasharray=\"6,4\"" : "") << "/>\n";
    svg << "<text x=\"" << lx + 30 << "\" y=\"" << ly + 4 << "\">" << name << "</text>\n";
  }
  svg << "</svg>\n";
  return svg.str();
}

}  // namespace fleetrate::sim
